package service

import (
	"context"
	"fmt"

	"github.com/keyward/keyward"
)

func userMap(u *keyward.User) map[string]any {
	if u == nil {
		return nil
	}
	return map[string]any{"external_id": u.ExternalID, "email": u.Email, "name": u.Name, "roles": u.Roles, "status": u.Status}
}

func (s *Service) memberEnv(ctx context.Context, tx keyward.Tx, accountID string) *keyward.MemberEnv {
	return &keyward.MemberEnv{RoleExists: func(name string) (bool, error) {
		_, err := tx.GetRole(ctx, accountID, name)
		if isNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}}
}

// CreateUser creates a member of the actor's account.
func (s *Service) CreateUser(ctx context.Context, a *keyward.Actor, in *keyward.UserFields) (*keyward.User, error) {
	if err := require(a, keyward.PermMembersWrite); err != nil {
		return nil, err
	}
	now := s.now()
	u := &keyward.User{ID: s.ids.New(keyward.PrefixUser), AccountID: a.AccountID, CreatedAt: now, UpdatedAt: now, Version: 1}
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		if err := keyward.ApplyUser(u, in, s.memberEnv(ctx, tx, a.AccountID), true); err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, a.AccountID, keyward.ActionUserCreated, keyward.TargetUser, u.ID, keyward.Diff(nil, userMap(u)))
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func loadUser(ctx context.Context, tx keyward.Tx, a *keyward.Actor, id string) (*keyward.User, error) {
	notFound := keyward.NotFound("user", id)
	if !keyward.ValidID(keyward.PrefixUser, id) {
		return nil, notFound
	}
	u, err := tx.GetUser(ctx, id)
	if isNotFound(err) || (err == nil && u.AccountID != a.AccountID) {
		return nil, notFound
	}
	return u, err
}

// GetUser returns a user of the actor's account.
func (s *Service) GetUser(ctx context.Context, a *keyward.Actor, id string) (*keyward.User, error) {
	if err := require(a, keyward.PermMembersRead); err != nil {
		return nil, err
	}
	var u *keyward.User
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		u, err = loadUser(ctx, tx, a, id)
		return err
	})
	return u, err
}

// ListUsers returns one page of the actor's account's users.
func (s *Service) ListUsers(ctx context.Context, a *keyward.Actor, f keyward.UserFilter) ([]*keyward.User, bool, error) {
	if err := require(a, keyward.PermMembersRead); err != nil {
		return nil, false, err
	}
	f.AccountID = a.AccountID
	var (
		out  []*keyward.User
		more bool
	)
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		out, more, err = tx.ListUsers(ctx, &f)
		return err
	})
	return out, more, err
}

// UpdateUser applies a PATCH to a user. A change of roles or status takes
// effect on the user's keys at their next verification.
func (s *Service) UpdateUser(ctx context.Context, a *keyward.Actor, id string, in *keyward.UserFields, ifMatch string) (*keyward.User, error) {
	if err := require(a, keyward.PermMembersWrite); err != nil {
		return nil, err
	}
	var out *keyward.User
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadUser(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.ETag()); err != nil {
			return err
		}
		next := *cur
		if err := keyward.ApplyUser(&next, in, s.memberEnv(ctx, tx, a.AccountID), false); err != nil {
			return err
		}
		changes := keyward.Diff(userMap(cur), userMap(&next))
		if changes == nil {
			out = cur
			return nil
		}
		next.Version, next.UpdatedAt = cur.Version+1, s.now()
		if err := tx.UpdateUser(ctx, &next); err != nil {
			return err
		}
		out = &next
		return s.audit(ctx, tx, a, a.AccountID, keyward.ActionUserUpdated, keyward.TargetUser, id, changes)
	})
	return out, err
}

// DeleteUser deletes a user and revokes every key the user owns, with one
// audit event per key (orq), in one transaction. It returns the revoked key ids.
func (s *Service) DeleteUser(ctx context.Context, a *keyward.Actor, id, ifMatch string) ([]string, error) {
	if err := require(a, keyward.PermMembersWrite); err != nil {
		return nil, err
	}
	var revoked []string
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadUser(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.ETag()); err != nil {
			return err
		}
		keys, err := tx.KeysOwnedBy(ctx, a.AccountID, keyward.Owner{Type: keyward.OwnerUser, ID: id})
		if err != nil {
			return err
		}
		if revoked, err = s.revokeKeys(ctx, tx, a, keys, "owner user "+id+" deleted"); err != nil {
			return err
		}
		if err := tx.DeleteUser(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, a.AccountID, keyward.ActionUserDeleted, keyward.TargetUser, id, keyward.Diff(userMap(cur), nil))
	})
	return revoked, err
}

func serviceAccountMap(sa *keyward.ServiceAccount) map[string]any {
	if sa == nil {
		return nil
	}
	return map[string]any{"name": sa.Name, "description": sa.Description, "status": sa.Status}
}

// CreateServiceAccount creates a service account in the actor's account.
func (s *Service) CreateServiceAccount(ctx context.Context, a *keyward.Actor, in *keyward.ServiceAccountFields) (*keyward.ServiceAccount, error) {
	if err := require(a, keyward.PermMembersWrite); err != nil {
		return nil, err
	}
	now := s.now()
	sa := &keyward.ServiceAccount{ID: s.ids.New(keyward.PrefixService), AccountID: a.AccountID, CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := keyward.ApplyServiceAccount(sa, in, true); err != nil {
		return nil, err
	}
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		if err := tx.CreateServiceAccount(ctx, sa); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, a.AccountID, keyward.ActionServiceAccountCreated, keyward.TargetServiceAccount, sa.ID, keyward.Diff(nil, serviceAccountMap(sa)))
	})
	if err != nil {
		return nil, err
	}
	return sa, nil
}

func loadServiceAccount(ctx context.Context, tx keyward.Tx, a *keyward.Actor, id string) (*keyward.ServiceAccount, error) {
	notFound := keyward.NotFound("service account", id)
	if !keyward.ValidID(keyward.PrefixService, id) {
		return nil, notFound
	}
	sa, err := tx.GetServiceAccount(ctx, id)
	if isNotFound(err) || (err == nil && sa.AccountID != a.AccountID) {
		return nil, notFound
	}
	return sa, err
}

// GetServiceAccount returns a service account of the actor's account.
func (s *Service) GetServiceAccount(ctx context.Context, a *keyward.Actor, id string) (*keyward.ServiceAccount, error) {
	if err := require(a, keyward.PermMembersRead); err != nil {
		return nil, err
	}
	var sa *keyward.ServiceAccount
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		sa, err = loadServiceAccount(ctx, tx, a, id)
		return err
	})
	return sa, err
}

// ListServiceAccounts returns one page of the actor's account's service accounts.
func (s *Service) ListServiceAccounts(ctx context.Context, a *keyward.Actor, f keyward.ServiceAccountFilter) ([]*keyward.ServiceAccount, bool, error) {
	if err := require(a, keyward.PermMembersRead); err != nil {
		return nil, false, err
	}
	f.AccountID = a.AccountID
	var (
		out  []*keyward.ServiceAccount
		more bool
	)
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		out, more, err = tx.ListServiceAccounts(ctx, &f)
		return err
	})
	return out, more, err
}

// UpdateServiceAccount applies a PATCH to a service account.
func (s *Service) UpdateServiceAccount(ctx context.Context, a *keyward.Actor, id string, in *keyward.ServiceAccountFields, ifMatch string) (*keyward.ServiceAccount, error) {
	if err := require(a, keyward.PermMembersWrite); err != nil {
		return nil, err
	}
	var out *keyward.ServiceAccount
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadServiceAccount(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.ETag()); err != nil {
			return err
		}
		next := *cur
		if err := keyward.ApplyServiceAccount(&next, in, false); err != nil {
			return err
		}
		changes := keyward.Diff(serviceAccountMap(cur), serviceAccountMap(&next))
		if changes == nil {
			out = cur
			return nil
		}
		next.Version, next.UpdatedAt = cur.Version+1, s.now()
		if err := tx.UpdateServiceAccount(ctx, &next); err != nil {
			return err
		}
		out = &next
		return s.audit(ctx, tx, a, a.AccountID, keyward.ActionServiceAccountUpdated, keyward.TargetServiceAccount, id, changes)
	})
	return out, err
}

// DeleteServiceAccount deletes a service account and revokes its keys,
// one audit event each.
func (s *Service) DeleteServiceAccount(ctx context.Context, a *keyward.Actor, id, ifMatch string) ([]string, error) {
	if err := require(a, keyward.PermMembersWrite); err != nil {
		return nil, err
	}
	var revoked []string
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadServiceAccount(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.ETag()); err != nil {
			return err
		}
		keys, err := tx.KeysOwnedBy(ctx, a.AccountID, keyward.Owner{Type: keyward.OwnerServiceAccount, ID: id})
		if err != nil {
			return err
		}
		if revoked, err = s.revokeKeys(ctx, tx, a, keys, "owner service account "+id+" deleted"); err != nil {
			return err
		}
		if err := tx.DeleteServiceAccount(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, a.AccountID, keyward.ActionServiceAccountDeleted, keyward.TargetServiceAccount, id, keyward.Diff(serviceAccountMap(cur), nil))
	})
	return revoked, err
}

func roleMap(r *keyward.Role) map[string]any {
	if r == nil {
		return nil
	}
	return map[string]any{"description": r.Description, "scopes": r.Scopes}
}

// CreateRole creates a role in the actor's account.
func (s *Service) CreateRole(ctx context.Context, a *keyward.Actor, in *keyward.RoleFields) (*keyward.Role, error) {
	if err := require(a, keyward.PermMembersWrite); err != nil {
		return nil, err
	}
	now := s.now()
	r := &keyward.Role{AccountID: a.AccountID, CreatedAt: now, UpdatedAt: now, Version: 1}
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		res, err := tx.ListResources(ctx, a.AccountID)
		if err != nil {
			return err
		}
		if err := keyward.ApplyRole(r, in, keyward.NewCatalog(res), true); err != nil {
			return err
		}
		if err := tx.CreateRole(ctx, r); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, a.AccountID, keyward.ActionRoleCreated, keyward.TargetRole, r.Name, keyward.Diff(nil, roleMap(r)))
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func loadRole(ctx context.Context, tx keyward.Tx, a *keyward.Actor, name string) (*keyward.Role, error) {
	if !keyward.ValidRoleName(name) {
		return nil, keyward.NotFound("role", name)
	}
	return tx.GetRole(ctx, a.AccountID, name)
}

// GetRole returns a role of the actor's account.
func (s *Service) GetRole(ctx context.Context, a *keyward.Actor, name string) (*keyward.Role, error) {
	if err := require(a, keyward.PermMembersRead); err != nil {
		return nil, err
	}
	var r *keyward.Role
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		r, err = loadRole(ctx, tx, a, name)
		return err
	})
	return r, err
}

// ListRoles returns every role of the actor's account, by name.
func (s *Service) ListRoles(ctx context.Context, a *keyward.Actor) ([]*keyward.Role, error) {
	if err := require(a, keyward.PermMembersRead); err != nil {
		return nil, err
	}
	var out []*keyward.Role
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		out, err = tx.ListRoles(ctx, a.AccountID)
		return err
	})
	return out, err
}

// UpdateRole applies a PATCH to a role. New scopes take effect on every key
// and user holding the role at the next verification.
func (s *Service) UpdateRole(ctx context.Context, a *keyward.Actor, name string, in *keyward.RoleFields, ifMatch string) (*keyward.Role, error) {
	if err := require(a, keyward.PermMembersWrite); err != nil {
		return nil, err
	}
	var out *keyward.Role
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadRole(ctx, tx, a, name)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.ETag()); err != nil {
			return err
		}
		res, err := tx.ListResources(ctx, a.AccountID)
		if err != nil {
			return err
		}
		next := *cur
		if err := keyward.ApplyRole(&next, in, keyward.NewCatalog(res), false); err != nil {
			return err
		}
		changes := keyward.Diff(roleMap(cur), roleMap(&next))
		if changes == nil {
			out = cur
			return nil
		}
		next.Version, next.UpdatedAt = cur.Version+1, s.now()
		if err := tx.UpdateRole(ctx, &next); err != nil {
			return err
		}
		out = &next
		return s.audit(ctx, tx, a, a.AccountID, keyward.ActionRoleUpdated, keyward.TargetRole, name, changes)
	})
	return out, err
}

// maxInUseNames bounds the ids a role_in_use error names.
const maxInUseNames = 20

// DeleteRole deletes a role no user and no key (that is not revoked)
// holds; otherwise it is a 409 naming them.
func (s *Service) DeleteRole(ctx context.Context, a *keyward.Actor, name, ifMatch string) error {
	if err := require(a, keyward.PermMembersWrite); err != nil {
		return err
	}
	return s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadRole(ctx, tx, a, name)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.ETag()); err != nil {
			return err
		}
		keys, err := tx.KeysWithRole(ctx, a.AccountID, name, maxInUseNames+1)
		if err != nil {
			return err
		}
		users, _, err := tx.ListUsers(ctx, &keyward.UserFilter{Page: keyward.Page{Limit: maxInUseNames + 1}, AccountID: a.AccountID, Role: name})
		if err != nil {
			return err
		}
		if len(keys) > 0 || len(users) > 0 {
			userIDs := make([]string, 0, len(users))
			for _, u := range users {
				userIDs = append(userIDs, u.ID)
			}
			return &keyward.Error{
				Code:    keyward.ECodeResourceInUse,
				Message: fmt.Sprintf("role %q is held by %s and %s: take it off them first", name, count(len(userIDs), "user"), count(len(keys), "key")),
				Details: map[string]any{"user_ids": cap20(userIDs), "key_ids": cap20(keys)},
			}
		}
		if err := tx.DeleteRole(ctx, a.AccountID, name); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, a.AccountID, keyward.ActionRoleDeleted, keyward.TargetRole, name, keyward.Diff(roleMap(cur), nil))
	})
}

func cap20(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids[:min(len(ids), maxInUseNames)]
}

func count(n int, what string) string {
	switch {
	case n > maxInUseNames:
		return fmt.Sprintf("more than %d %ss", maxInUseNames, what)
	case n == 1:
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

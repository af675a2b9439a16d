package service

import (
	"context"
	"fmt"
	"time"

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
		return exists(err)
	}}
}

// userKind is what the shared operations need to know of users.
var userKind = &objectKind[keyward.User]{
	name: "user", target: keyward.TargetUser, read: keyward.PermMembersRead, write: keyward.PermMembersWrite,
	validID: func(id string) bool { return keyward.ValidID(keyward.PrefixUser, id) },
	id:      func(u *keyward.User) string { return u.ID },
	etag:    (*keyward.User).ETag,
	next:    func(u *keyward.User, now time.Time) { u.Version, u.UpdatedAt = u.Version+1, now },
	fields:  userMap,
	get:     keyward.Tx.GetUser, create: keyward.Tx.CreateUser, update: keyward.Tx.UpdateUser, delete: keyward.Tx.DeleteUser,
	created: keyward.ActionUserCreated, updated: keyward.ActionUserUpdated, deleted: keyward.ActionUserDeleted,
}

// CreateUser creates a member of the actor's account.
func (s *Service) CreateUser(ctx context.Context, a *keyward.Actor, in *keyward.UserFields) (*keyward.User, error) {
	now := s.now()
	u := &keyward.User{ID: s.ids.New(keyward.PrefixUser), AccountID: a.AccountID, CreatedAt: now, UpdatedAt: now, Version: 1}
	return userKind.add(ctx, s, a, u, func(tx keyward.Tx) error {
		return keyward.ApplyUser(u, in, s.memberEnv(ctx, tx, a.AccountID), true)
	})
}

// GetUser returns a user of the actor's account.
func (s *Service) GetUser(ctx context.Context, a *keyward.Actor, id string) (*keyward.User, error) {
	return userKind.getOne(ctx, s, a, id)
}

// ListUsers returns one page of the actor's account's users.
func (s *Service) ListUsers(ctx context.Context, a *keyward.Actor, f keyward.UserFilter) ([]*keyward.User, bool, error) {
	f.AccountID = a.AccountID
	return listAs(ctx, s, a, keyward.PermMembersRead, func(tx keyward.Tx) ([]*keyward.User, bool, error) { return tx.ListUsers(ctx, &f) })
}

// UpdateUser applies a PATCH to a user. A change of roles or status takes
// effect on the user's keys at their next verification.
func (s *Service) UpdateUser(ctx context.Context, a *keyward.Actor, id string, in *keyward.UserFields, ifMatch string) (*keyward.User, error) {
	return userKind.patch(ctx, s, a, id, ifMatch, func(tx keyward.Tx, next *keyward.User) error {
		return keyward.ApplyUser(next, in, s.memberEnv(ctx, tx, a.AccountID), false)
	})
}

// DeleteUser deletes a user and revokes every key the user owns, with one
// audit event per key (orq), in one transaction. It returns the revoked key ids.
func (s *Service) DeleteUser(ctx context.Context, a *keyward.Actor, id, ifMatch string) ([]string, error) {
	var revoked []string
	err := userKind.remove(ctx, s, a, id, ifMatch, func(tx keyward.Tx, _ *keyward.User) (err error) {
		revoked, err = s.revokeOwnedKeys(ctx, tx, a, keyward.Owner{Type: keyward.OwnerUser, ID: id}, "owner user "+id+" deleted")
		return err
	})
	return revoked, err
}

// revokeOwnedKeys revokes the keys of the actor's account that o owns,
// because o is being deleted.
func (s *Service) revokeOwnedKeys(ctx context.Context, tx keyward.Tx, a *keyward.Actor, o keyward.Owner, reason string) ([]string, error) {
	keys, err := tx.KeysOwnedBy(ctx, a.AccountID, o)
	if err != nil {
		return nil, err
	}
	return s.revokeKeys(ctx, tx, a, keys, reason)
}

func serviceAccountMap(sa *keyward.ServiceAccount) map[string]any {
	if sa == nil {
		return nil
	}
	return map[string]any{"name": sa.Name, "description": sa.Description, "status": sa.Status}
}

// serviceAccountKind is what the shared operations need to know of
// service accounts.
var serviceAccountKind = &objectKind[keyward.ServiceAccount]{
	name: "service account", target: keyward.TargetServiceAccount, read: keyward.PermMembersRead, write: keyward.PermMembersWrite,
	validID: func(id string) bool { return keyward.ValidID(keyward.PrefixService, id) },
	id:      func(sa *keyward.ServiceAccount) string { return sa.ID },
	etag:    (*keyward.ServiceAccount).ETag,
	next:    func(sa *keyward.ServiceAccount, now time.Time) { sa.Version, sa.UpdatedAt = sa.Version+1, now },
	fields:  serviceAccountMap,
	get:     keyward.Tx.GetServiceAccount, create: keyward.Tx.CreateServiceAccount,
	update: keyward.Tx.UpdateServiceAccount, delete: keyward.Tx.DeleteServiceAccount,
	created: keyward.ActionServiceAccountCreated, updated: keyward.ActionServiceAccountUpdated, deleted: keyward.ActionServiceAccountDeleted,
}

// CreateServiceAccount creates a service account in the actor's account.
func (s *Service) CreateServiceAccount(ctx context.Context, a *keyward.Actor, in *keyward.ServiceAccountFields) (*keyward.ServiceAccount, error) {
	now := s.now()
	sa := &keyward.ServiceAccount{ID: s.ids.New(keyward.PrefixService), AccountID: a.AccountID, CreatedAt: now, UpdatedAt: now, Version: 1}
	return serviceAccountKind.add(ctx, s, a, sa, func(keyward.Tx) error { return keyward.ApplyServiceAccount(sa, in, true) })
}

// GetServiceAccount returns a service account of the actor's account.
func (s *Service) GetServiceAccount(ctx context.Context, a *keyward.Actor, id string) (*keyward.ServiceAccount, error) {
	return serviceAccountKind.getOne(ctx, s, a, id)
}

// ListServiceAccounts returns one page of the actor's account's service accounts.
func (s *Service) ListServiceAccounts(ctx context.Context, a *keyward.Actor, f keyward.ServiceAccountFilter) ([]*keyward.ServiceAccount, bool, error) {
	f.AccountID = a.AccountID
	return listAs(ctx, s, a, keyward.PermMembersRead, func(tx keyward.Tx) ([]*keyward.ServiceAccount, bool, error) {
		return tx.ListServiceAccounts(ctx, &f)
	})
}

// UpdateServiceAccount applies a PATCH to a service account.
func (s *Service) UpdateServiceAccount(ctx context.Context, a *keyward.Actor, id string, in *keyward.ServiceAccountFields, ifMatch string) (*keyward.ServiceAccount, error) {
	return serviceAccountKind.patch(ctx, s, a, id, ifMatch, func(_ keyward.Tx, next *keyward.ServiceAccount) error {
		return keyward.ApplyServiceAccount(next, in, false)
	})
}

// DeleteServiceAccount deletes a service account and revokes its keys,
// one audit event each.
func (s *Service) DeleteServiceAccount(ctx context.Context, a *keyward.Actor, id, ifMatch string) ([]string, error) {
	var revoked []string
	err := serviceAccountKind.remove(ctx, s, a, id, ifMatch, func(tx keyward.Tx, _ *keyward.ServiceAccount) (err error) {
		revoked, err = s.revokeOwnedKeys(ctx, tx, a, keyward.Owner{Type: keyward.OwnerServiceAccount, ID: id}, "owner service account "+id+" deleted")
		return err
	})
	return revoked, err
}

func roleMap(r *keyward.Role) map[string]any {
	if r == nil {
		return nil
	}
	return map[string]any{"description": r.Description, "scopes": r.Scopes}
}

// roleKind is what the shared operations need to know of roles, whose
// name is their id.
var roleKind = &objectKind[keyward.Role]{
	name: "role", target: keyward.TargetRole, read: keyward.PermMembersRead, write: keyward.PermMembersWrite,
	validID: keyward.ValidRoleName,
	id:      func(r *keyward.Role) string { return r.Name },
	etag:    (*keyward.Role).ETag,
	next:    func(r *keyward.Role, now time.Time) { r.Version, r.UpdatedAt = r.Version+1, now },
	fields:  roleMap,
	get:     keyward.Tx.GetRole, create: keyward.Tx.CreateRole, update: keyward.Tx.UpdateRole, delete: keyward.Tx.DeleteRole,
	created: keyward.ActionRoleCreated, updated: keyward.ActionRoleUpdated, deleted: keyward.ActionRoleDeleted,
}

// CreateRole creates a role in the actor's account.
func (s *Service) CreateRole(ctx context.Context, a *keyward.Actor, in *keyward.RoleFields) (*keyward.Role, error) {
	now := s.now()
	r := &keyward.Role{AccountID: a.AccountID, CreatedAt: now, UpdatedAt: now, Version: 1}
	return roleKind.add(ctx, s, a, r, func(tx keyward.Tx) error { return s.applyRole(ctx, tx, a, r, in, true) })
}

// GetRole returns a role of the actor's account.
func (s *Service) GetRole(ctx context.Context, a *keyward.Actor, name string) (*keyward.Role, error) {
	return roleKind.getOne(ctx, s, a, name)
}

// ListRoles returns every role of the actor's account, by name.
func (s *Service) ListRoles(ctx context.Context, a *keyward.Actor) ([]*keyward.Role, error) {
	return readAs(ctx, s, a, keyward.PermMembersRead, func(tx keyward.Tx) ([]*keyward.Role, error) { return tx.ListRoles(ctx, a.AccountID) })
}

// UpdateRole applies a PATCH to a role. New scopes take effect on every key
// and user holding the role at the next verification.
func (s *Service) UpdateRole(ctx context.Context, a *keyward.Actor, name string, in *keyward.RoleFields, ifMatch string) (*keyward.Role, error) {
	return roleKind.patch(ctx, s, a, name, ifMatch, func(tx keyward.Tx, next *keyward.Role) error {
		return s.applyRole(ctx, tx, a, next, in, false)
	})
}

// applyRole applies a create or PATCH to r, checking its scopes against
// the account's catalog as it is in tx.
func (s *Service) applyRole(ctx context.Context, tx keyward.Tx, a *keyward.Actor, r *keyward.Role, in *keyward.RoleFields, creating bool) error {
	res, err := tx.ListResources(ctx, a.AccountID)
	if err != nil {
		return err
	}
	return keyward.ApplyRole(r, in, keyward.NewCatalog(res), creating)
}

// maxInUseNames bounds the ids a role_in_use error names.
const maxInUseNames = 20

// DeleteRole deletes a role no user and no key (that is not revoked)
// holds; otherwise it is a 409 naming them.
func (s *Service) DeleteRole(ctx context.Context, a *keyward.Actor, name, ifMatch string) error {
	return roleKind.remove(ctx, s, a, name, ifMatch, func(tx keyward.Tx, _ *keyward.Role) error {
		keys, err := tx.KeysWithRole(ctx, a.AccountID, name, maxInUseNames+1)
		if err != nil {
			return err
		}
		users, _, err := tx.ListUsers(ctx, &keyward.UserFilter{Page: keyward.Page{Limit: maxInUseNames + 1}, AccountID: a.AccountID, Role: name})
		if err != nil {
			return err
		}
		if len(keys) == 0 && len(users) == 0 {
			return nil
		}
		userIDs := make([]string, 0, len(users))
		for _, u := range users {
			userIDs = append(userIDs, u.ID)
		}
		return &keyward.Error{
			Code:    keyward.ECodeResourceInUse,
			Message: fmt.Sprintf("role %q is held by %s and %s: take it off them first", name, count(len(userIDs), "user"), count(len(keys), "key")),
			Details: map[string]any{"user_ids": cap20(userIDs), "key_ids": cap20(keys)},
		}
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

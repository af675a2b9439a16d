package service

import (
	"context"
	"fmt"

	"github.com/keyward/keyward"
)

// Catalog is an account's permission catalog with the fixed vocabularies
// around it (docs/permissions.md).
type Catalog struct {
	Resources             []*keyward.Resource
	Roles                 []*keyward.Role
	AccessLevels          []keyward.Access
	PermissionModes       []keyward.PermissionMode
	ManagementPermissions []keyward.ManagementPermission
}

// GetCatalog returns the actor's account's catalog.
func (s *Service) GetCatalog(ctx context.Context, a *keyward.Actor) (*Catalog, error) {
	if err := require(a, keyward.PermCatalogRead); err != nil {
		return nil, err
	}
	var (
		res   []*keyward.Resource
		roles []*keyward.Role
	)
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		if res, err = tx.ListResources(ctx, a.AccountID); err != nil {
			return err
		}
		roles, err = tx.ListRoles(ctx, a.AccountID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if res == nil {
		res = []*keyward.Resource{}
	}
	return &Catalog{
		Resources:             res,
		Roles:                 roles,
		AccessLevels:          keyward.AccessLevels(),
		PermissionModes:       []keyward.PermissionMode{keyward.ModeAll, keyward.ModeReadOnly, keyward.ModeRestricted},
		ManagementPermissions: keyward.ManagementPermissions(),
	}, nil
}

// PutResource creates or replaces a catalog resource. A change that would
// invalidate grants existing keys hold (no longer readable or writable at a
// level they hold, now protected, no longer allowed on single-project keys)
// is a 409 resource_in_use naming the keys. created reports a new resource.
func (s *Service) PutResource(ctx context.Context, a *keyward.Actor, id string, in *keyward.ResourceFields) (r *keyward.Resource, created bool, err error) {
	if err := require(a, keyward.PermCatalogWrite); err != nil {
		return nil, false, err
	}
	r, err = keyward.NewResource(id, in)
	if err != nil {
		return nil, false, err
	}
	err = s.store.Write(ctx, func(tx keyward.Tx) error {
		all, err := tx.ListResources(ctx, a.AccountID)
		if err != nil {
			return err
		}
		cur := keyward.NewCatalog(all)[id]
		now := s.now()
		r.CreatedAt, r.UpdatedAt = now, now
		if cur != nil {
			r.CreatedAt = cur.CreatedAt
			if resourceFields(cur) == resourceFields(r) {
				r = cur
				return nil // unchanged: nothing written
			}
			if err := s.checkResourceChange(ctx, tx, a.AccountID, r); err != nil {
				return err
			}
		}
		created = cur == nil
		if err := tx.PutResource(ctx, a.AccountID, r); err != nil {
			return err
		}
		action := keyward.ActionResourceUpdated
		if created {
			action = keyward.ActionResourceCreated
		}
		return s.audit(ctx, tx, a, a.AccountID, action, keyward.TargetCatalogResource, id,
			keyward.Diff(resourceMap(cur), resourceMap(r)))
	})
	if err != nil {
		return nil, false, err
	}
	return r, created, nil
}

func resourceFields(r *keyward.Resource) string {
	return fmt.Sprint(r.DisplayName, "\x00", r.Group, "\x00", r.Description, "\x00", r.Readable, r.Writable, r.Protected, r.ProjectScopes)
}

func resourceMap(r *keyward.Resource) map[string]any {
	if r == nil {
		return nil
	}
	return map[string]any{
		"display_name": r.DisplayName, "group": r.Group, "description": r.Description, "readable": r.Readable,
		"writable": r.Writable, "project_scopes": r.ProjectScopes, "protected": r.Protected,
	}
}

// maxInUseIDs bounds the key ids a resource_in_use error names.
const maxInUseIDs = 20

// holders returns the ids of the account's keys that are not revoked and
// whose explicit scopes on the resource fail keep. Revoked keys never
// block a catalog change: they grant nothing.
func holders(ctx context.Context, tx keyward.Tx, accountID, resource string, keep func(k *keyward.Key, scopes []keyward.Scope) bool) ([]string, error) {
	ids, err := tx.KeysUsingResource(ctx, accountID, resource, 1<<30)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		k, err := tx.GetKey(ctx, accountID, id)
		if err != nil {
			return nil, err
		}
		if k.Status == keyward.StatusRevoked {
			continue
		}
		var mine []keyward.Scope
		for _, sc := range k.Scopes {
			if sc.Resource == resource {
				mine = append(mine, sc)
			}
		}
		if !keep(k, mine) {
			out = append(out, id)
		}
	}
	return out, nil
}

// checkResourceChange refuses a resource change that would break a grant an
// existing key holds.
func (s *Service) checkResourceChange(ctx context.Context, tx keyward.Tx, accountID string, next *keyward.Resource) error {
	cat := keyward.Catalog{next.ID: next}
	keep := func(scopes []keyward.Scope, single bool) bool {
		return len(keyward.CheckScopes("scopes", scopes, cat, single)) == 0
	}
	broken, err := holders(ctx, tx, accountID, next.ID, func(k *keyward.Key, scopes []keyward.Scope) bool {
		return keep(scopes, k.ProjectID != nil)
	})
	if err != nil {
		return err
	}
	roles, err := roleHolders(ctx, tx, accountID, next.ID, func(scopes []keyward.Scope) bool { return keep(scopes, false) })
	if err != nil || len(broken)+len(roles) == 0 {
		return err
	}
	return inUse(next.ID, "the change would invalidate grants that keys or roles hold; change them first", broken, roles)
}

// roleHolders returns the names of the account's roles whose scopes on the
// resource fail keep.
func roleHolders(ctx context.Context, tx keyward.Tx, accountID, resource string, keep func([]keyward.Scope) bool) ([]string, error) {
	roles, err := tx.ListRoles(ctx, accountID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range roles {
		var mine []keyward.Scope
		for _, sc := range r.Scopes {
			if sc.Resource == resource {
				mine = append(mine, sc)
			}
		}
		if len(mine) > 0 && !keep(mine) {
			out = append(out, r.Name)
		}
	}
	return out, nil
}

func inUse(resource, why string, ids, roles []string) error {
	total := len(ids)
	if len(ids) > maxInUseIDs {
		ids = ids[:maxInUseIDs]
	}
	if ids == nil {
		ids = []string{}
	}
	if roles == nil {
		roles = []string{}
	}
	return &keyward.Error{
		Code:    keyward.ECodeResourceInUse,
		Message: fmt.Sprintf("catalog resource %q is granted to %d key(s) and %d role(s): %s", resource, total, len(roles), why),
		Details: map[string]any{"key_ids": ids, "key_count": total, "role_names": roles},
	}
}

// DeleteResource removes a catalog resource that no key holds; otherwise it
// is a 409 resource_in_use naming the keys.
func (s *Service) DeleteResource(ctx context.Context, a *keyward.Actor, id string) error {
	if err := require(a, keyward.PermCatalogWrite); err != nil {
		return err
	}
	return s.store.Write(ctx, func(tx keyward.Tx) error {
		all, err := tx.ListResources(ctx, a.AccountID)
		if err != nil {
			return err
		}
		cur := keyward.NewCatalog(all)[id]
		if cur == nil {
			return keyward.NotFound("catalog resource", id)
		}
		ids, err := holders(ctx, tx, a.AccountID, id, func(*keyward.Key, []keyward.Scope) bool { return false })
		if err != nil {
			return err
		}
		roles, err := roleHolders(ctx, tx, a.AccountID, id, func([]keyward.Scope) bool { return false })
		if err != nil {
			return err
		}
		if len(ids)+len(roles) > 0 {
			return inUse(id, "remove it from their scopes, or revoke the keys, first", ids, roles)
		}
		if err := tx.DeleteResource(ctx, a.AccountID, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, a.AccountID, keyward.ActionResourceDeleted, keyward.TargetCatalogResource, id,
			keyward.Diff(resourceMap(cur), nil))
	})
}

package service

import (
	"context"
	"slices"

	"github.com/keyward/keyward"
)

// What the compatibility dialects (package compat) need beyond the native
// API's calls. The vendors' key objects state a key's permissions in their
// own vocabulary — discue as explicit scopes, PulseCRM as flat permission
// names, Vectara as an api_policy — so a dialect must read what the
// account's catalog and roles grant to show a key; and a key manager
// holding keys:read (not catalog:read or members:read) must be able to.

// ScopeExpansion is what turns a key's permission mode and roles into
// explicit scopes: the account's catalog (indexed, and in catalog order),
// the scopes of its roles, and the permission mode its new keys get.
type ScopeExpansion struct {
	Catalog               keyward.Catalog
	Resources             []*keyward.Resource // catalog order, as GET /v1/catalog lists them
	RoleScopes            map[string][]keyward.Scope
	DefaultPermissionMode keyward.PermissionMode
}

// ScopeExpansion returns the acting account's scope expansion. It needs
// keys:read or keys:write (either lets the caller see keys, whose
// permissions it explains); it fails with permission_denied naming
// keys:read otherwise.
func (s *Service) ScopeExpansion(ctx context.Context, a *keyward.Actor) (*ScopeExpansion, error) {
	if a.Key != nil && !slices.Contains(a.Key.Permissions, keyward.PermKeysWrite) {
		if err := require(a, keyward.PermKeysRead); err != nil {
			return nil, err
		}
	}
	x := &ScopeExpansion{RoleScopes: map[string][]keyward.Scope{}}
	err := s.store.Read(ctx, func(tx keyward.Tx) error {
		acct, err := tx.GetAccount(ctx, a.AccountID)
		if err != nil {
			return err
		}
		res, err := tx.ListResources(ctx, a.AccountID)
		if err != nil {
			return err
		}
		roles, err := tx.ListRoles(ctx, a.AccountID)
		if err != nil {
			return err
		}
		x.DefaultPermissionMode = acct.DefaultPermissionMode
		x.Catalog, x.Resources = keyward.NewCatalog(res), res
		for _, r := range roles {
			x.RoleScopes[r.Name] = keyward.CloneScopes(r.Scopes)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return x, nil
}

// EffectiveKeyScopes returns, in the order given, what each API key of the
// actor's account may do now: the scopes verification would compute under
// the account's current catalog and roles, bounded by a user owner's roles
// (a key whose owner is gone gets none). It needs keys:read, or keys:write
// (whose holder is shown the keys it creates and changes); a key that is
// not an API key of the actor's account is a not_found.
func (s *Service) EffectiveKeyScopes(ctx context.Context, a *keyward.Actor, keys []*keyward.Key) ([][]keyward.Scope, error) {
	if err := require(a, keyward.PermKeysRead); err != nil && require(a, keyward.PermKeysWrite) != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.Kind != keyward.KindAPI || k.AccountID != a.AccountID {
			return nil, keyward.NotFound("key", k.ID)
		}
	}
	out := make([][]keyward.Scope, len(keys))
	err := s.store.Read(ctx, func(tx keyward.Tx) error {
		for i, k := range keys {
			pw, err := s.power(ctx, tx, k)
			if err != nil {
				return err
			}
			out[i] = keyward.CloneScopes(pw.scopes)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// VerifiedOwner returns the service account that owns the key a
// verification of the actor found (res), for a dialect whose verification
// answer names the owner (Unkey's identity). The caller presented the
// key's token, so keys:verify suffices, as does members:read. A result of
// another account, or of a key not owned by a service account, is a
// not_found.
func (s *Service) VerifiedOwner(ctx context.Context, a *keyward.Actor, res *keyward.VerifyResult) (*keyward.ServiceAccount, error) {
	if err := require(a, keyward.PermKeysVerify); err != nil && require(a, keyward.PermMembersRead) != nil {
		return nil, err
	}
	if res.Owner.Type != keyward.OwnerServiceAccount || res.AccountID != a.AccountID {
		return nil, keyward.NotFound("service account", res.Owner.ID)
	}
	var sa *keyward.ServiceAccount
	err := s.store.Read(ctx, func(tx keyward.Tx) error {
		var err error
		sa, err = tx.GetServiceAccount(ctx, a.AccountID, res.Owner.ID)
		return err
	})
	return sa, err
}

// KeyOfToken returns the API key of the actor's account that tok is a
// secret of (its current one, or a replaced one still in its grace
// period), whatever its status: a key manager holding a token asks which
// key it is (Unkey's keys.whoami). It needs keys:read. Any other token is
// a not_found. Nothing is recorded: asking is not a use of the key.
func (s *Service) KeyOfToken(ctx context.Context, a *keyward.Actor, tok keyward.Token) (*keyward.Key, error) {
	if err := require(a, keyward.PermKeysRead); err != nil {
		return nil, err
	}
	gone := keyward.Errorf(keyward.ECodeNotFound, "no key of this account has that token")
	if !tok.Shape().Lookable() {
		return nil, gone
	}
	now := s.now()
	var k *keyward.Key
	err := s.store.Read(ctx, func(tx keyward.Tx) error {
		m, err := tx.FindKeyByHash(ctx, tok.Hash())
		switch {
		case isNotFound(err):
			return gone
		case err != nil:
			return err
		case m.Key.Kind != keyward.KindAPI || m.Key.AccountID != a.AccountID || (m.ValidUntil != nil && !now.Before(*m.ValidUntil)):
			return gone
		}
		// The key with its usage (FindKeyByHash reads none).
		k, err = tx.GetKey(ctx, a.AccountID, m.Key.ID)
		return err
	})
	return k, err
}

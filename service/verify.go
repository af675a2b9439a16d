package service

import (
	"context"

	"github.com/keyward/keyward"
)

// Verify checks an API key (SPEC §7). A malformed request (permission
// query, IP, cost) is a 422; every well-formed request gets a result.
// Management keys, keys of other accounts (unless the actor is an operator
// key spanning accounts), malformed and forged tokens are all NOT_FOUND.
func (s *Service) Verify(ctx context.Context, a *keyward.Actor, req *keyward.VerifyRequest) (*keyward.VerifyResult, error) {
	if err := require(a, keyward.PermKeysVerify); err != nil {
		return nil, err
	}
	p, err := req.Prepare()
	if err != nil {
		return nil, err
	}
	if !lookable(p.Token) {
		// Malformed and forged tokens never reach the database.
		return &keyward.VerifyResult{Code: keyward.VerifyNotFound}, nil
	}
	now := s.now()
	var res *keyward.VerifyResult
	err = s.store.Read(ctx, func(tx keyward.Tx) error {
		m, err := s.lookup(ctx, tx, p.Token)
		if err != nil {
			return err
		}
		if m == nil || m.Key.Kind != keyward.KindAPI || (!a.AllAccounts && m.Key.AccountID != a.AccountID) {
			res = &keyward.VerifyResult{Code: keyward.VerifyNotFound}
			return nil
		}
		scopes, err := s.effectiveScopes(ctx, tx, m.Key)
		if err != nil {
			return err
		}
		code := keyward.Check(p, &keyward.CheckInput{
			Match:       m,
			Now:         now,
			OwnerActive: true,
			Grants:      keyward.NewGrants(scopes),
		})
		res = &keyward.VerifyResult{Valid: code == keyward.VerifyValid, Code: code, Key: m.Key, Scopes: scopes}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if res.Valid {
		s.usage.touch(res.Key.ID, now)
	}
	return res, nil
}

// effectiveScopes returns what an API key may do under its account's
// current catalog.
func (s *Service) effectiveScopes(ctx context.Context, tx keyward.Tx, k *keyward.Key) ([]keyward.Scope, error) {
	res, err := tx.ListResources(ctx, k.AccountID)
	if err != nil {
		return nil, err
	}
	return keyward.EffectiveScopes(k, keyward.NewCatalog(res), nil), nil
}

// Whoami returns the key a token belongs to and what it may do. It is
// called with the key itself (API or management); an unknown or inactive
// key is 401, a client address outside the key's allowlist 403.
func (s *Service) Whoami(ctx context.Context, tok keyward.Token, clientIP string) (*keyward.Key, []keyward.Scope, error) {
	if tok.IsZero() {
		return nil, nil, keyward.Errorf(keyward.ECodeUnauthenticated, "send the key as Authorization: Bearer <key> or X-API-Key: <key>")
	}
	if !lookable(tok) {
		return nil, nil, keyward.Errorf(keyward.ECodeUnauthenticated, "the credential is not a valid, active key")
	}
	now := s.now()
	var (
		k      *keyward.Key
		scopes []keyward.Scope
	)
	err := s.store.Read(ctx, func(tx keyward.Tx) error {
		m, err := s.lookup(ctx, tx, tok)
		if err != nil {
			return err
		}
		if m == nil || !usable(m, now) {
			return keyward.Errorf(keyward.ECodeUnauthenticated, "the credential is not a valid, active key")
		}
		k = m.Key
		if k.Kind == keyward.KindAPI {
			scopes, err = s.effectiveScopes(ctx, tx, k)
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if !ipAllowed(k.IPAllowlist, clientIP) {
		return nil, nil, keyward.Errorf(keyward.ECodePermissionDenied, "this key may not be used from %s", clientIP)
	}
	s.usage.touch(k.ID, now)
	return k, scopes, nil
}

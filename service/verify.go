package service

import (
	"context"
	"time"

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
		// Malformed and forged tokens never reach the cache or the database.
		return &keyward.VerifyResult{Code: keyward.VerifyNotFound}, nil
	}
	now := s.now()
	m, pw, err := s.lookupForVerify(ctx, p.Token.Hash(), now)
	if err != nil {
		return nil, err
	}
	if m == nil || m.Key.Kind != keyward.KindAPI || (!a.AllAccounts && m.Key.AccountID != a.AccountID) {
		return &keyward.VerifyResult{Code: keyward.VerifyNotFound}, nil
	}
	code := keyward.Check(p, &keyward.CheckInput{
		Match:       m,
		Now:         now,
		OwnerActive: pw.ownerActive,
		Grants:      keyward.NewGrants(pw.scopes),
	})
	res := &keyward.VerifyResult{Valid: code == keyward.VerifyValid, Code: code, Key: m.Key, Scopes: pw.scopes}
	if res.Valid {
		s.usage.touch(res.Key.ID, now)
	}
	return res, nil
}

// outageProbe is how long a verification waits for the database while the
// invalidation feed is down: a healthy database answers in milliseconds,
// and a verification must not hang through a partition.
const outageProbe = time.Second

// withinGrace reports whether, during an outage, cached answers may still
// stand in: the feed proved it was delivering every change less than the
// grace ago.
func (s *Service) withinGrace(now time.Time) bool {
	return s.grace > 0 && now.Sub(s.store.FeedConfirmedAt()) < s.grace
}

// lookupForVerify finds the key of a token hash and what it may do: from the
// cache while the invalidation feed is healthy, else from the database. When
// the database cannot be reached it answers from the cache for at most the
// outage grace after the feed last proved healthy, then fails with
// unavailable. A nil match means no key has this token.
func (s *Service) lookupForVerify(ctx context.Context, h keyward.TokenHash, now time.Time) (*keyward.KeyMatch, *keyPower, error) {
	healthy := s.store.FeedHealthy()
	if healthy {
		if e, miss := s.cache.get(h, now); e != nil {
			return e.match, e.power, nil
		} else if miss {
			return nil, nil, nil
		}
	}
	gen := s.cache.generation()
	var (
		m  *keyward.KeyMatch
		pw *keyPower
	)
	readCtx := ctx
	if !healthy {
		var cancel context.CancelFunc
		readCtx, cancel = context.WithTimeout(ctx, outageProbe)
		defer cancel()
	}
	err := s.store.Read(readCtx, func(tx keyward.Tx) error {
		found, err := tx.FindKeyByHash(ctx, h)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if found.Key.Kind == keyward.KindAPI {
			if pw, err = s.power(ctx, tx, found.Key); err != nil {
				return err
			}
		} else {
			pw = &keyPower{}
		}
		m = found
		return nil
	})
	if err != nil && readCtx != ctx && ctx.Err() == nil && readCtx.Err() != nil {
		err = &keyward.Error{Code: keyward.ECodeUnavailable, Message: "the database did not answer in time", Err: err}
	}
	switch {
	case keyward.ErrorCode(err) == keyward.ECodeUnavailable:
		if e, ok := s.cache.getAny(h); ok && s.withinGrace(now) {
			return e.match, e.power, nil
		}
		return nil, nil, err
	case err != nil:
		return nil, nil, err
	case !healthy:
		// Read without the feed: correct now, but nothing tells this node
		// when it goes stale, so it is not cached.
	case m == nil:
		s.cache.putMiss(h, gen, now)
	default:
		s.cache.put(h, m, pw, gen, now)
	}
	return m, pw, nil
}

// keyPower is what an API key may do now, and whether its owner is active.
type keyPower struct {
	scopes      []keyward.Scope
	ownerActive bool
}

// power computes a key's effective scopes under its account's current
// catalog and roles; a user-owned key is bounded by the scopes of the
// user's current roles (SPEC §3), so a change to the user's roles changes
// what the key can do at its next verification.
func (s *Service) power(ctx context.Context, tx keyward.Tx, k *keyward.Key) (*keyPower, error) {
	res, err := tx.ListResources(ctx, k.AccountID)
	if err != nil {
		return nil, err
	}
	cat := keyward.NewCatalog(res)
	var roles map[string][]keyward.Scope
	scopesOf := func(names []string) ([]keyward.Scope, error) {
		if len(names) == 0 {
			return nil, nil
		}
		if roles == nil {
			list, err := tx.ListRoles(ctx, k.AccountID)
			if err != nil {
				return nil, err
			}
			roles = make(map[string][]keyward.Scope, len(list))
			for _, r := range list {
				roles[r.Name] = r.Scopes
			}
		}
		var out []keyward.Scope
		for _, n := range names {
			out = append(out, roles[n]...)
		}
		return out, nil
	}
	roleScopes, err := scopesOf(k.Roles)
	if err != nil {
		return nil, err
	}
	pw := &keyPower{scopes: keyward.EffectiveScopes(k, cat, roleScopes), ownerActive: true}
	switch k.Owner.Type {
	case keyward.OwnerUser:
		u, err := tx.GetUser(ctx, k.Owner.ID)
		if isNotFound(err) || (err == nil && u.AccountID != k.AccountID) {
			pw.ownerActive, pw.scopes = false, []keyward.Scope{}
			return pw, nil
		}
		if err != nil {
			return nil, err
		}
		pw.ownerActive = u.Status == keyward.MemberActive
		owner, err := scopesOf(u.Roles)
		if err != nil {
			return nil, err
		}
		// The owner's grants, filtered by the catalog and the key's project
		// exactly as a restricted key's would be.
		bound := keyward.EffectiveScopes(&keyward.Key{PermissionMode: keyward.ModeRestricted, ProjectID: k.ProjectID}, cat, owner)
		pw.scopes = keyward.IntersectScopes(pw.scopes, bound)
	case keyward.OwnerServiceAccount:
		sa, err := tx.GetServiceAccount(ctx, k.Owner.ID)
		if isNotFound(err) || (err == nil && sa.AccountID != k.AccountID) {
			pw.ownerActive = false
			return pw, nil
		}
		if err != nil {
			return nil, err
		}
		pw.ownerActive = sa.Status == keyward.MemberActive
	}
	return pw, nil
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
		if k.Kind != keyward.KindAPI {
			return nil
		}
		pw, err := s.power(ctx, tx, k)
		if err != nil {
			return err
		}
		if !pw.ownerActive {
			return keyward.Errorf(keyward.ECodeUnauthenticated, "the key's owner is disabled")
		}
		scopes = pw.scopes
		return nil
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

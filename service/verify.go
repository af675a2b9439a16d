package service

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// Verify checks an API key (docs/api.md). A malformed request (missing key,
// permission query, IP, cost) is a 422; every well-formed request gets a
// result. Management keys, keys of other accounts (unless the actor is an
// operator key spanning accounts), malformed and forged tokens are all
// NOT_FOUND.
func (s *Service) Verify(ctx context.Context, a *keyward.Actor, req *keyward.VerifyRequest) (keyward.VerifyResult, error) {
	if err := require(a, keyward.PermKeysVerify); err != nil {
		return keyward.VerifyResult{}, err
	}
	p, err := req.Prepare()
	if err != nil {
		return keyward.VerifyResult{}, err
	}
	return s.observed(ctx, a, req.Key.Value.Reveal(), p, time.Now())
}

// VerifyToken is the hot path of verification: the token as the request
// carried it (a string, so nothing is copied) and the prepared checks
// (parse a permission query once with keyward.ParseQuery and reuse it). On
// a cache hit it touches no database, takes no lock shared by all requests
// and allocates nothing; keys with rate limits or credits add their
// (per-key) accounting. It fails with permission_denied when the actor
// lacks keys:verify.
//
// A verification waits for the database (a cache miss, a credit lease) at
// most VerifyBudget in total, then fails with unavailable; a context that
// ends sooner bounds it sooner.
func (s *Service) VerifyToken(ctx context.Context, a *keyward.Actor, token string, p *keyward.PreparedVerify) (keyward.VerifyResult, error) {
	start := time.Now()
	if err := require(a, keyward.PermKeysVerify); err != nil {
		return keyward.VerifyResult{}, err
	}
	return s.observed(ctx, a, token, p, start)
}

// observed is verify told to the observer: the one path of Verify and
// VerifyToken once the actor's permission is checked.
func (s *Service) observed(ctx context.Context, a *keyward.Actor, token string, p *keyward.PreparedVerify, start time.Time) (keyward.VerifyResult, error) {
	res, err := s.verify(ctx, a, token, p, start)
	if err == nil {
		s.observer.Verified(res.Code, time.Since(start))
	}
	return res, err
}

func (s *Service) verify(ctx context.Context, a *keyward.Actor, token string, p *keyward.PreparedVerify, now time.Time) (keyward.VerifyResult, error) {
	notFound := keyward.VerifyResult{Code: keyward.VerifyNotFound}
	if !keyward.ShapeOf(token).Lookable() {
		// Malformed and forged tokens never reach the cache or the database.
		return notFound, nil
	}
	budget := now.Add(VerifyBudget)
	e, cached, err := s.entryFor(ctx, keyward.HashString(token), now, budget)
	if err != nil {
		return keyward.VerifyResult{}, err
	}
	if e == nil || e.kind != keyward.KindAPI || (!a.AllAccounts && e.account != a.AccountID) {
		return notFound, nil
	}
	ms := now.UnixMilli()
	res := keyward.VerifyResult{
		Code: e.check.Check(p, ms), KeyID: e.keyID, AccountID: e.account, Name: e.name, Owner: e.owner,
		ProjectID: e.check.ProjectID, PermissionMode: e.mode, Scopes: e.scopes, Roles: e.roles,
		ExpiresAt: e.expiresAt, HasExpiry: !e.expiresAt.IsZero(), Metadata: e.metadata,
	}
	if res.Code == keyward.VerifyValid && e.rateLimit != nil {
		ok, st := s.limiter.take(ctx, e.keyID, e.rl, *e.rateLimit, now)
		res.HasRateLimit, res.RateLimit = true, st
		if !ok {
			res.Code = keyward.VerifyRateLimited
		}
	}
	if e.credits != nil {
		res.HasCredits = true
		if res.Code == keyward.VerifyValid && p.Cost > 0 {
			ok, left, err := s.spendCredits(ctx, e.keyID, e.cr, p.Cost, now, budget)
			if err == errKeyGone {
				return notFound, nil // deleted since it was found
			}
			if err != nil {
				return keyward.VerifyResult{}, err
			}
			res.CreditsRemaining = left
			if !ok {
				res.Code = keyward.VerifyUsageExceeded
			}
		} else {
			res.CreditsRemaining = s.creditsKnown(e)
		}
	}
	res.Valid = res.Code == keyward.VerifyValid
	s.used(e, cached, res.Code, ms)
	return res, nil
}

// creditsKnown returns the credits remaining as this node knows them
// (without spending): the pool the entry was read with, plus this node's
// lease when the lease belongs to that pool (same epoch and period) and the
// key has not changed since.
func (s *Service) creditsKnown(e *entry) int64 {
	e.cr.mu.Lock()
	defer e.cr.mu.Unlock()
	st, pool := e.cr, e.credits.Pool()
	if !st.read || st.stale || st.pool.Epoch != pool.Epoch || !st.pool.PeriodStart.Equal(pool.PeriodStart) {
		return pool.Remaining
	}
	return st.pool.Remaining + st.left
}

// used counts one verification of a key by outcome (a valid one is a use
// too): in its cache entry, with an atomic add on state only this key's
// verifications touch, or (for an entry read while the cache could not be
// trusted) in the write-behind's own map.
func (s *Service) used(e *entry, cached bool, code keyward.VerifyCode, ms int64) {
	i := code.UsageIndex()
	if i < 0 {
		return
	}
	if !cached {
		s.usage.record(e, time.UnixMilli(ms), code)
		return
	}
	e.counts[i].Add(1)
	if i == 0 && e.lastUse.Load() < ms {
		e.lastUse.Store(ms)
	}
}

// VerifyBudget is how long a verification waits for the database in
// total (a cache miss, a credit lease renewal), whatever else bounds its
// request: a healthy database answers in milliseconds, and the service
// behind keyward must get an answer (503 unavailable) rather than hang
// through a partition.
const VerifyBudget = time.Second

// outageProbe is how long an authentication waits for the database while
// the invalidation feed is down (the database is probably gone too).
const outageProbe = time.Second

// withinGrace reports whether, during an outage, cached answers may still
// stand in: the feed proved it was delivering every change less than the
// grace ago.
func (s *Service) withinGrace(now time.Time) bool {
	return s.grace > 0 && now.Sub(s.store.FeedConfirmedAt()) < s.grace
}

// entryFor returns the cache entry of a token hash, or nil if no key has
// it: from the cache while the invalidation feed is healthy, else from the
// database. When the database cannot be reached it answers from the cache
// for at most the outage grace after the feed last proved healthy, then
// fails with unavailable. cached reports an entry that lives in the cache
// (usage counts there).
//
// A non-zero budget bounds the wait for the database (keyward.WithBudget);
// while the feed is down the wait is bounded by outageProbe too.
func (s *Service) entryFor(ctx context.Context, h keyward.TokenHash, now, budget time.Time) (e *entry, cached bool, err error) {
	ms := now.UnixMilli()
	healthy := s.store.FeedHealthy()
	if healthy {
		if e, miss := s.cache.get(h, ms); e != nil {
			return e, true, nil
		} else if miss {
			return nil, false, nil
		}
	}
	gen := s.cache.generation(h)
	if !healthy && (budget.IsZero() || now.Add(outageProbe).Before(budget)) {
		budget = now.Add(outageProbe)
	}
	if !budget.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = keyward.WithBudgetUntil(ctx, budget)
		defer cancel()
	}
	var (
		m  *keyward.KeyMatch
		pw *keyPower
	)
	err = s.store.Read(ctx, func(tx keyward.Tx) error {
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
			pw = &keyPower{ownerActive: true}
		}
		m = found
		return nil
	})
	switch {
	case keyward.ErrorCode(err) == keyward.ECodeUnavailable:
		if e := s.cache.getAny(h); e != nil && s.withinGrace(now) {
			return e, true, nil
		}
		return nil, false, err
	case err != nil:
		return nil, false, err
	case m == nil:
		if healthy {
			s.cache.putMiss(h, gen, ms)
		}
		return nil, false, nil
	}
	e = s.newEntry(h, m, pw, ms)
	if !healthy {
		// Read without the feed: correct now, but nothing tells this node
		// when it goes stale, so it is not cached.
		return e, false, nil
	}
	// An entry an invalidation overtook is not cached; its use is then
	// counted by the write-behind directly, not in the entry, where no
	// pass would collect it.
	return e, s.cache.put(e, gen), nil
}

// newEntry compiles what verification needs of a key found by a secret.
func (s *Service) newEntry(h keyward.TokenHash, m *keyward.KeyMatch, pw *keyPower, ms int64) *entry {
	k := m.Key
	e := &entry{
		hash: h, keyID: k.ID, account: s.intern(k.AccountID), owner: k.Owner, kind: k.Kind, fetched: ms,
		name: k.Name, mode: k.PermissionMode, scopes: pw.scopes, roles: k.Roles,
		rateLimit: k.RateLimit, credits: k.Credits,
	}
	e.owner.ID = s.intern(e.owner.ID)
	if e.roles == nil {
		e.roles = []string{}
	}
	if k.ExpiresAt != nil {
		e.expiresAt = *k.ExpiresAt
	}
	e.metadata = json.RawMessage("{}")
	if len(k.Metadata) > 0 {
		if b, err := json.Marshal(k.Metadata); err == nil {
			e.metadata = b
		}
	}
	e.check = *keyward.CompileKey(m, pw.ownerActive, pw.grants)
	if k.Kind == keyward.KindManagement {
		e.match = m
	}
	if k.RateLimit != nil {
		e.rl = s.limiter.state(k.ID)
	}
	if k.Credits != nil {
		e.cr = s.credits.state(k.ID, k.AccountID)
	}
	return e
}

// keyPower is what an API key may do now, and whether its owner is active.
type keyPower struct {
	scopes      []keyward.Scope
	grants      keyward.Checker
	ownerActive bool
}

// power computes a key's effective scopes under its account's current
// catalog and roles; a user-owned key is bounded by the scopes of the
// user's current roles, so a change to the user's roles changes
// what the key can do at its next verification. Keys in mode all or
// read_only not bounded by a user share one copy per account.
func (s *Service) power(ctx context.Context, tx keyward.Tx, k *keyward.Key) (*keyPower, error) {
	ac, err := s.accountCatalog(ctx, tx, k.AccountID)
	if err != nil {
		return nil, err
	}
	cat := ac.cat
	// scopesOf returns the scopes of the roles, as the account has them now.
	scopesOf := func(names []string) []keyward.Scope {
		var out []keyward.Scope
		for _, n := range names {
			out = append(out, ac.roles[n]...)
		}
		return out
	}
	pw := &keyPower{ownerActive: true}
	if k.PermissionMode != keyward.ModeRestricted && k.Owner.Type != keyward.OwnerUser {
		sp := s.cache.sharedPowerOf(sharedKey{account: k.AccountID, mode: k.PermissionMode, single: k.ProjectID != nil},
			func() []keyward.Scope { return keyward.EffectiveScopes(k, cat, nil) })
		pw.scopes, pw.grants = sp.scopes, sp.grants
	} else {
		pw.scopes = keyward.EffectiveScopes(k, cat, scopesOf(k.Roles))
	}
	switch k.Owner.Type {
	case keyward.OwnerUser:
		u, err := tx.GetUser(ctx, k.AccountID, k.Owner.ID)
		if isNotFound(err) {
			pw.ownerActive, pw.scopes, pw.grants = false, []keyward.Scope{}, keyward.NewGrants(nil)
			return pw, nil
		}
		if err != nil {
			return nil, err
		}
		pw.ownerActive = u.Status == keyward.MemberActive
		// The owner's grants, filtered by the catalog and the key's project
		// exactly as a restricted key's would be.
		bound := keyward.EffectiveScopes(&keyward.Key{PermissionMode: keyward.ModeRestricted, ProjectID: k.ProjectID}, cat, scopesOf(u.Roles))
		pw.scopes = keyward.IntersectScopes(pw.scopes, bound)
	case keyward.OwnerServiceAccount:
		sa, err := tx.GetServiceAccount(ctx, k.AccountID, k.Owner.ID)
		if isNotFound(err) {
			pw.ownerActive = false
		} else if err != nil {
			return nil, err
		} else {
			pw.ownerActive = sa.Status == keyward.MemberActive
		}
	}
	if pw.grants == nil {
		pw.grants = keyward.NewGrants(pw.scopes)
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
	if !tok.Shape().Lookable() {
		return nil, nil, keyward.Errorf(keyward.ECodeUnauthenticated, "the credential is not a valid, active key")
	}
	now := s.now()
	var (
		k      *keyward.Key
		scopes []keyward.Scope
	)
	err := s.store.Read(ctx, func(tx keyward.Tx) error {
		m, err := tx.FindKeyByHash(ctx, tok.Hash())
		if isNotFound(err) || (err == nil && !keyward.CompileKey(m, true, nil).Usable(now.UnixMilli())) {
			return keyward.Errorf(keyward.ECodeUnauthenticated, "the credential is not a valid, active key")
		}
		if err != nil {
			return err
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
	s.usage.record(&entry{keyID: k.ID, account: k.AccountID, owner: k.Owner, kind: k.Kind}, now, "")
	return k, slices.Clone(scopes), nil
}

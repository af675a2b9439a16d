// Package service is keyward's one place for rules above storage: who may
// call what (authentication, account selection, management permissions),
// the key rules of package keyward applied inside store transactions, the
// audit event written with every change, and the write-behind of usage. The
// HTTP API, the CLI's admin commands and every compatibility dialect call
// it, so no path can skip a rule.
package service

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

// Options configure a Service. Store is required; the rest have defaults.
type Options struct {
	Store  keyward.Store
	Clock  keyward.Clock
	Logger *slog.Logger
	// Random is the source of token secrets (crypto/rand by default).
	Random io.Reader
	// UsageFlushInterval is how often last-use times are written behind
	// (default 2s).
	UsageFlushInterval time.Duration
	// UsageFlushBatch is how many rows (bucket counts, or keys' last use)
	// the write-behind writes per transaction (default 10,000): a flush of
	// more is several transactions, each committed on its own, so a flush
	// too large for its time budget still makes progress.
	UsageFlushBatch int
	// UsageRetention is how long usage buckets are kept, per granularity
	// (zero fields: keyward.DefaultUsageRetention's).
	UsageRetention keyward.UsageRetention
	// MasterKey, if set, enables recoverable keys.
	MasterKey *keyward.MasterKey
	// CacheSize bounds the verification cache (entries; default 100,000).
	CacheSize int
	// CacheTTL is the longest an entry is trusted without a read, a safety
	// net behind exact invalidation (default 5 minutes).
	CacheTTL time.Duration
	// OutageGrace is how long after the invalidation feed was last seen
	// healthy cached verifications keep answering while the database
	// cannot be reached (default 10 seconds; negative turns it off).
	OutageGrace time.Duration
	// RateBackend, if set, makes rate limits hold across nodes (Redis).
	RateBackend RateBackend
	// Observer is told of every verification (metrics); nil for none.
	Observer Observer
}

// Observer is told of every verification, on the hot path: it must not
// block or allocate.
type Observer interface {
	Verified(code keyward.VerifyCode, took time.Duration)
}

type noObserver struct{}

func (noObserver) Verified(keyward.VerifyCode, time.Duration) {}

// Service implements keyward's operations. It is safe for concurrent use.
//
// Locks and waits. The rule is that no lock is held while waiting for the
// database or for the writer (SQLite's single connection, taken inside
// Store.Write): a goroutine that holds a lock only works in memory. Every
// wait for the database or the writer is bounded by the request's context
// (its one budget, keyward.WithBudget), and a wait for another goroutine's
// database work (a key's credit lease renewal, creditState.renew) is too.
// The store delivers invalidations after the commit, once it has released
// the writer, to subscribers that take only the locks below.
//
// The locks, in the only order in which two are ever held together:
//
//	creditBook.mu → creditState.mu       (marking leases stale; listing idle ones)
//	verifyCache.sharedMu, shard.mu        (never together: invalidate takes one, then the other)
//	limiter.mu, rateState.mu, accountCache.mu, catalogCache.mu, usage.mu,
//	hub.mu, internMu                      (leaves: nothing else is taken while held)
//
// creditState.renew is not a mutex but a one-slot semaphore taken with the
// request's context, never while any lock above is held.
type Service struct {
	store    keyward.Store
	clock    keyward.Clock
	ids      *keyward.IDs
	log      *slog.Logger
	random   io.Reader
	usage    *usage
	master   *keyward.MasterKey
	cache    *verifyCache
	accounts *accountCache
	catalogs *catalogCache
	grace    time.Duration
	limiter  *limiter
	named    namedCells
	credits  *creditBook
	observer Observer

	internMu sync.Mutex
	interned map[string]string

	hub hub
}

// New returns a Service and starts its write-behind loop; Close stops it.
func New(o Options) *Service {
	if o.Clock == nil {
		o.Clock = keyward.SystemClock
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Random == nil {
		o.Random = rand.Reader
	}
	if o.UsageFlushBatch <= 0 {
		o.UsageFlushBatch = 10_000
	}
	if o.UsageFlushInterval <= 0 {
		o.UsageFlushInterval = 2 * time.Second
	}
	def := keyward.DefaultUsageRetention
	for _, r := range []struct {
		v *time.Duration
		d time.Duration
	}{{&o.UsageRetention.Minutes, def.Minutes}, {&o.UsageRetention.Hours, def.Hours}, {&o.UsageRetention.Days, def.Days}} {
		if *r.v <= 0 {
			*r.v = r.d
		}
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 100_000
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 5 * time.Minute
	}
	if o.OutageGrace == 0 {
		o.OutageGrace = 10 * time.Second
	}
	if o.Observer == nil {
		o.Observer = noObserver{}
	}
	s := &Service{store: o.Store, clock: o.Clock, ids: keyward.NewIDs(o.Clock), log: o.Logger, random: o.Random, master: o.MasterKey,
		cache: newVerifyCache(o.CacheSize, o.CacheTTL), accounts: newAccountCache(), catalogs: newCatalogCache(), grace: o.OutageGrace,
		limiter: newLimiter(o.RateBackend, o.Logger), credits: newCreditBook(), observer: o.Observer,
		interned: map[string]string{}}
	o.Store.Subscribe(s.cache.invalidate)
	o.Store.Subscribe(s.accounts.invalidate)
	o.Store.Subscribe(s.catalogs.invalidate)
	o.Store.Subscribe(s.credits.invalidate)
	o.Store.Subscribe(s.hub.publish)
	every := o.UsageFlushInterval
	s.usage = newUsage(o.Store, o.Logger, o.Clock, every, o.UsageFlushBatch, o.UsageRetention, func(batch tallies) {
		s.cache.takeUsage(batch)
		// Leases of keys idle for a few intervals go back to the pool,
		// for the other nodes.
		ctx, cancel := context.WithTimeout(context.Background(), 5*every)
		s.returnIdleLeases(ctx, s.clock().Add(-3*every))
		cancel()
	}, func(ctx context.Context) {
		if err := s.PurgeIdempotency(ctx); err != nil {
			s.log.Warn("purging expired idempotency records failed", "err", err)
		}
	})
	return s
}

// Close gives back leased credits, flushes pending usage and stops the
// write-behind loop. It does not close the store.
func (s *Service) Close(ctx context.Context) error {
	s.returnIdleLeases(ctx, time.Now().Add(time.Hour))
	return s.usage.close(ctx)
}

// intern returns one shared copy of a string that many cache entries hold
// (account and owner ids).
func (s *Service) intern(v string) string {
	s.internMu.Lock()
	defer s.internMu.Unlock()
	if have, ok := s.interned[v]; ok {
		return have
	}
	if len(s.interned) > 100_000 {
		s.interned = map[string]string{}
	}
	s.interned[v] = v
	return v
}

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }

func (s *Service) now() time.Time { return keyward.Timestamp(s.clock()) }

// Credential is what a management request presents to Authenticate.
type Credential struct {
	// Token is the management key (Authorization: Bearer or X-API-Key).
	Token keyward.Token
	// AccountID is the X-Account-Id header, "" when absent.
	AccountID string
	// ClientIP is the client's address, checked against the key's IP
	// allowlist.
	ClientIP string
	// Hash, when Token is zero, is the hash of the management key instead:
	// a dashboard session keeps the hash of the key it was signed in with,
	// never the key (AuthenticateHash).
	Hash keyward.TokenHash
	// AnyAccount marks a route that does not act inside one account (the
	// accounts routes, verification across accounts): there an operator
	// key without AccountID is accepted even when the account default no
	// longer exists (the actor's AccountID is then empty).
	AnyAccount bool
}

// Authenticate resolves the credential of a management request and the
// account it acts on (docs/api.md). An unknown, malformed, disabled, revoked,
// expired or rotated-out credential is 401; an API key is 403 (API keys
// cannot manage keys); an account-bound key naming another account in
// X-Account-Id is 403; an operator key naming an unknown account is 404; a
// client address outside the key's allowlist is 403.
func (s *Service) Authenticate(ctx context.Context, c Credential) (*keyward.Actor, error) {
	return s.authenticate(ctx, c, true)
}

// AuthenticateHash is Authenticate for a credential known by its hash
// (c.Hash; c.Token is ignored): a dashboard session, which keeps the hash
// of the management key it was signed in with and never the key. Every
// check of Authenticate applies (the key is usable, a management key, the
// client address in its allowlist, the account its own or, for an
// operator key, one that exists), with the same errors, so disabling,
// revoking, expiring or rotating out the key ends its sessions at their
// next request.
func (s *Service) AuthenticateHash(ctx context.Context, c Credential) (*keyward.Actor, error) {
	return s.authenticateHash(ctx, c.Hash, c, true)
}

// StillAuthenticates reports whether a credential that authenticated a
// long-lived request (the invalidation stream) still would: Authenticate
// without counting a use of the key, so re-checking a stream each second
// does not show as requests in the key's last_used_at and verifications.
func (s *Service) StillAuthenticates(ctx context.Context, c Credential) bool {
	c.AnyAccount = true
	_, err := s.authenticate(ctx, c, false)
	return err == nil
}

func (s *Service) authenticate(ctx context.Context, c Credential, count bool) (*keyward.Actor, error) {
	tok := c.Token
	if tok.IsZero() {
		return nil, keyward.Errorf(keyward.ECodeUnauthenticated, "a management key is required: send Authorization: Bearer <key> or X-API-Key: <key>")
	}
	if !tok.Shape().Lookable() {
		return nil, errBadCredential()
	}
	return s.authenticateHash(ctx, tok.Hash(), c, count)
}

func (s *Service) authenticateHash(ctx context.Context, h keyward.TokenHash, c Credential, count bool) (*keyward.Actor, error) {
	accountHeader, clientIP, needAccount := c.AccountID, c.ClientIP, !c.AnyAccount
	now := s.now()
	// The same cache as verification: a revoked or changed management key
	// is invalidated like an API key, and the outage grace applies.
	e, cached, err := s.entryFor(ctx, h, now, time.Time{})
	if err != nil {
		return nil, err
	}
	if e == nil || !e.check.Usable(now.UnixMilli()) {
		return nil, errBadCredential()
	}
	if e.kind != keyward.KindManagement {
		return nil, keyward.Errorf(keyward.ECodeAPIKeyForbidden, "API keys cannot manage keys: use a management key")
	}
	k := e.match.Key
	if !ipAllowed(k.IPAllowlist, clientIP) {
		return nil, keyward.Errorf(keyward.ECodePermissionDenied, "this management key may not be used from %s", clientIP)
	}
	a := &keyward.Actor{Key: k, AllAccounts: k.Operator && accountHeader == ""}
	switch {
	case k.Operator && accountHeader != "":
		if !keyward.ValidID(keyward.PrefixAccount, accountHeader) {
			return nil, keyward.NotFound("account", accountHeader)
		}
		ok, err := s.accountExists(ctx, accountHeader, now)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, keyward.NotFound("account", accountHeader)
		}
		a.AccountID = accountHeader
	case k.Operator:
		id, err := s.defaultAccount(ctx, now)
		if err != nil {
			return nil, err
		}
		if id == "" && needAccount {
			return nil, keyward.Errorf(keyward.ECodeNotFound, "there is no default account: send X-Account-Id")
		}
		a.AccountID = id
	case accountHeader != "" && accountHeader != k.AccountID:
		return nil, keyward.Errorf(keyward.ECodeAccountMismatch, "X-Account-Id names an account this management key is not bound to")
	default:
		// A bound key exists only while its account does (deletion
		// cascades and invalidates): no lookup needed.
		a.AccountID = k.AccountID
	}
	if count {
		s.used(e, cached, keyward.VerifyValid, now.UnixMilli())
	}
	return a, nil
}

// errBadCredential returns the one answer for every unusable management
// credential, so a caller learns nothing about which check failed.
func errBadCredential() error {
	return keyward.Errorf(keyward.ECodeUnauthenticated, "the credential is not a valid, active management key")
}

func ipAllowed(allowlist []string, clientIP string) bool {
	if allowlist == nil {
		return true
	}
	a, err := netip.ParseAddr(clientIP)
	return keyward.IPAllowed(allowlist, a.Unmap(), err == nil)
}

// Require fails with 403 permission_denied, as every service call that
// needs perm does, when the actor's management key lacks it: for a page
// that must not offer what the call behind it would refuse.
func Require(a *keyward.Actor, perm string) error { return require(a, perm) }

// require fails with 403 permission_denied naming the permission the actor's
// management key lacks. The system actor holds every permission.
func require(a *keyward.Actor, perm string) error {
	if a.Key == nil || slices.Contains(a.Key.Permissions, perm) {
		return nil
	}
	return &keyward.Error{
		Code:    keyward.ECodePermissionDenied,
		Message: "this management key lacks the permission " + perm,
		Details: map[string]any{"missing_permission": perm},
	}
}

// audit appends an event for a change made by a inside tx.
func (s *Service) audit(ctx context.Context, tx keyward.Tx, a *keyward.Actor, accountID, action, targetType, targetID string, changes map[string]keyward.Change) error {
	if changes == nil {
		changes = map[string]keyward.Change{}
	}
	dialect := a.Dialect
	if dialect == "" {
		dialect = "native"
	}
	return tx.AppendAuditEvent(ctx, &keyward.AuditEvent{
		ID:         s.ids.New(keyward.PrefixAuditEvent),
		AccountID:  accountID,
		Time:       s.now(),
		ActorType:  a.ActorType(),
		ActorID:    a.ActorID(),
		Action:     action,
		TargetType: targetType,
		TargetID:   targetID,
		Changes:    changes,
		RequestID:  a.RequestID,
		ClientIP:   a.ClientIP,
		UserAgent:  a.UserAgent,
		Dialect:    dialect,
	})
}

// checkIfMatch fails with 412 unless ifMatch is empty or matches etag.
func checkIfMatch(ifMatch, etag string) error {
	if ifMatch != "" && !keyward.MatchETag(ifMatch, etag) {
		return keyward.Errorf(keyward.ECodePreconditionFail, "If-Match does not match the current etag %q", etag)
	}
	return nil
}

// isNotFound reports whether err is a not_found error.
func isNotFound(err error) bool {
	var e *keyward.Error
	return errors.As(err, &e) && e.Code == keyward.ECodeNotFound
}

// exists turns the error of a store getter into whether the object
// exists: not_found is false, not a failure.
func exists(err error) (bool, error) {
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// Stats are counters and gauges of the service for metrics.
type Stats struct {
	CacheEntries, CacheMisses                              int
	CacheLookups, CacheHits, CacheMissHits, CacheEvictions int64
	WriteBehindQueue, WriteBehindErrors                    int64
	UsageWaiting, UsageDropped                             int64
	RateBackendConfigured, RateBackendFallback             bool
	RateBackendErrors                                      int64
	FeedHealthy                                            bool
}

// Stats returns the service's current statistics.
func (s *Service) Stats() Stats {
	c := s.cache.stats()
	return Stats{
		CacheEntries: c.Entries, CacheMisses: c.Misses, CacheLookups: c.Lookups, CacheHits: c.Hits,
		CacheMissHits: c.MissHits, CacheEvictions: c.Evictions,
		WriteBehindQueue: s.usage.queued.Load(), WriteBehindErrors: s.usage.flushErrors.Load(),
		UsageWaiting: s.usage.waiting.Load(), UsageDropped: s.usage.dropped.Load(),
		RateBackendConfigured: s.limiter.backend != nil, RateBackendFallback: s.limiter.fallback.Load(),
		RateBackendErrors: s.limiter.backendErrors.Load(), FeedHealthy: s.store.FeedHealthy(),
	}
}

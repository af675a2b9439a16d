package verifier

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// Defaults and bounds of the remote verifier (see the package doc).
const (
	// DefaultCacheSize is the number of answers kept when
	// RemoteOptions.CacheSize is 0.
	DefaultCacheSize = 10_000
	// DefaultMaxAge bounds how long an answer of a known key is used when
	// RemoteOptions.MaxAge is 0.
	DefaultMaxAge = 10 * time.Second
	// DefaultNotFoundMaxAge bounds how long a NOT_FOUND is used when
	// RemoteOptions.NotFoundMaxAge is 0.
	DefaultNotFoundMaxAge = 2 * time.Second
	// MaxNotFoundAge is the longest a NOT_FOUND is ever used.
	MaxNotFoundAge = 5 * time.Second
	// StreamStaleAfter is how long after the last heartbeat the cache
	// stops being used, and the stream is reopened.
	StreamStaleAfter = 3 * time.Second
)

// Reconnection backoff of the invalidation stream.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// RemoteOptions configure NewRemote. The zero value gives the defaults.
type RemoteOptions struct {
	// CacheSize bounds the number of cached answers (least recently used
	// go first). 0 means DefaultCacheSize; negative turns the cache off:
	// every verification asks the server and no stream is opened.
	CacheSize int
	// MaxAge bounds how long an answer of a known key is used (the safety
	// net behind invalidation, and the bound on an old secret outliving
	// its rotation grace, see the package doc). 0 means DefaultMaxAge;
	// negative caches no answer of a known key.
	MaxAge time.Duration
	// NotFoundMaxAge bounds how long a NOT_FOUND is used: 0 means
	// DefaultNotFoundMaxAge, more than MaxNotFoundAge is MaxNotFoundAge,
	// negative caches no NOT_FOUND.
	NotFoundMaxAge time.Duration
	// Logger receives the stream's connection problems (never a token);
	// nil discards them.
	Logger *slog.Logger
	// OnInvalidate, if set, is called from the stream's goroutine after an
	// invalidation has been applied to the cache (InvalidateAll for a
	// hello or a lost stream), for logs, metrics and tests. It must not
	// block for long: the stream waits for it.
	OnInvalidate func(keyward.Invalidation)
}

// Remote verifies keys against a keyward server and caches the answers
// that can be reused, invalidated by the server's invalidation stream (see
// the package doc). It is safe for concurrent use; Close stops the stream.
type Remote struct {
	c            *client.Client
	log          *slog.Logger
	maxAge       time.Duration
	notFoundAge  time.Duration
	onInvalidate func(keyward.Invalidation)
	start        time.Time // base of the monotonic times below

	shards []rshard // nil: no cache
	mask   uint64
	seed   maphash.Seed
	// seq numbers invalidations; an entry remembers the seq when its
	// request was sent, and is fresh while no flush and no invalidation of
	// anything it depends on has a later number.
	seq      atomic.Uint64
	flushSeq atomic.Uint64
	gens     *[genKinds][genSlots]atomic.Uint64

	up       atomic.Bool  // the stream said hello and has not ended
	healthy  atomic.Bool  // the last hello or heartbeat said feed_healthy
	lastBeat atomic.Int64 // monotonic ns of the last hello or heartbeat

	hits, misses, stored, invalidations, flushes, connects atomic.Int64

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

var _ Verifier = (*Remote)(nil)

// NewRemote returns a verifier that asks the keyward server c talks to.
// c's credential must be a management key with keys:verify: which keys
// verify is decided by it (an account-bound key verifies its account's;
// others are NOT_FOUND). Unless the cache is off, NewRemote opens the
// invalidation stream in the background; until it is up every verification
// goes to the server. c must not have an http.Client Timeout, which would
// cut the stream. NewRemote panics if c is nil.
func NewRemote(c *client.Client, o RemoteOptions) *Remote {
	if c == nil {
		panic("verifier.NewRemote: nil client")
	}
	r := &Remote{c: c, log: o.Logger, maxAge: o.MaxAge, notFoundAge: o.NotFoundMaxAge, onInvalidate: o.OnInvalidate,
		start: time.Now(), seed: maphash.MakeSeed(), done: make(chan struct{})}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.maxAge == 0 {
		r.maxAge = DefaultMaxAge
	}
	switch {
	case r.notFoundAge == 0:
		r.notFoundAge = DefaultNotFoundMaxAge
	case r.notFoundAge > MaxNotFoundAge:
		r.notFoundAge = MaxNotFoundAge
	}
	size := o.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	if size < 0 {
		close(r.done)
		return r
	}
	r.gens = new([genKinds][genSlots]atomic.Uint64)
	n := 1
	for n < rShards && size/(2*n) >= 64 {
		n *= 2
	}
	r.shards = make([]rshard, n)
	r.mask = uint64(n - 1)
	for i := range r.shards {
		r.shards[i].init((size + n - 1) / n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.watch(ctx)
	return r
}

// Close stops the invalidation stream and forgets the cache; Verify keeps
// working afterwards, asking the server every time. It returns nil.
func (r *Remote) Close() error {
	r.closeOnce.Do(func() {
		if r.cancel != nil {
			r.cancel()
		}
		<-r.done
		r.up.Store(false)
		if r.shards != nil {
			r.flush()
		}
	})
	return nil
}

// RemoteStats are counters and states of a Remote.
type RemoteStats struct {
	// Hits and Misses count verifications answered from the cache and by
	// the server (malformed tokens, answered locally, are neither).
	Hits, Misses int64
	// Stored counts answers put in the cache; Entries is how many are in
	// it now (some may be stale, waiting to be dropped).
	Stored  int64
	Entries int
	// Invalidations counts invalidate events applied, Flushes the times
	// the whole cache was dropped, Connects the streams opened.
	Invalidations, Flushes, Connects int64
	// Connected reports whether the stream is open (hello received);
	// Trusted whether the cache is used now.
	Connected, Trusted bool
}

// Stats returns the verifier's counters and states.
func (r *Remote) Stats() RemoteStats {
	st := RemoteStats{
		Hits: r.hits.Load(), Misses: r.misses.Load(), Stored: r.stored.Load(),
		Invalidations: r.invalidations.Load(), Flushes: r.flushes.Load(), Connects: r.connects.Load(),
		Connected: r.up.Load(), Trusted: r.trusted(time.Now()),
	}
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		st.Entries += len(s.m)
		s.mu.Unlock()
	}
	return st
}

// Verify checks token (see Verifier): from the cache when it holds a fresh
// answer and may be trusted, else with POST /v1/keys/verify. A malformed
// token or a bad checksum is NOT_FOUND without a request. The error is a
// *keyward.Error: validation_failed for malformed opts; unavailable or
// timeout when the server cannot be reached in time; unauthenticated,
// permission_denied or api_key_forbidden when the client's credential may
// not verify keys (it wraps the *client.Error, for the status and request
// id). A token in another format than keyward's may be an imported key:
// it is asked like any other.
func (r *Remote) Verify(ctx context.Context, token string, opts *Options) (keyward.VerifyResult, error) {
	p, err := opts.prepare()
	if err != nil {
		return keyward.VerifyResult{}, err
	}
	if !keyward.ShapeOf(token).Lookable() {
		return keyward.VerifyResult{Code: keyward.VerifyNotFound}, nil
	}
	if r.shards == nil {
		return r.ask(ctx, token, &p)
	}
	k := rkey{hash: keyward.HashString(token), project: p.ProjectID, ip: p.IP}
	if p.Query != nil {
		k.query, k.hasQuery = p.Query.String(), true
	}
	now := time.Now()
	if r.trusted(now) {
		if res, ok := r.lookup(&k, now.UnixNano()); ok {
			r.hits.Add(1)
			return res, nil
		}
	}
	r.misses.Add(1)
	seq := r.seq.Load()
	res, err := r.ask(ctx, token, &p)
	if err != nil {
		return res, err
	}
	now = time.Now()
	if until, ok := r.lifetime(&res, now); ok && r.trusted(now) {
		r.store(k, res, seq, until, now.UnixNano())
	}
	return res, nil
}

// ask verifies with the server.
func (r *Remote) ask(ctx context.Context, token string, p *keyward.PreparedVerify) (keyward.VerifyResult, error) {
	req := keyward.VerifyRequest{Key: keyward.Some(keyward.TokenFromString(token)), Cost: &p.Cost}
	if p.Query != nil {
		q := p.Query.String()
		req.Permissions = &q
	}
	if p.ProjectID != "" {
		req.ProjectID = &p.ProjectID
	}
	if p.HasIP {
		ip := p.IP.String()
		req.IP = &ip
	}
	cr, err := r.c.VerifyKey(ctx, &req)
	if err != nil {
		return keyward.VerifyResult{}, remoteError(err)
	}
	return fromClient(cr), nil
}

// remoteError returns the *keyward.Error of a failed call, wrapping the
// *client.Error so callers can reach the status and request id.
func remoteError(err error) error {
	var ce *client.Error
	if errors.As(err, &ce) && ce.Err != nil {
		e := *ce.Err
		e.Err = ce
		return &e
	}
	return asError(err)
}

// fromClient converts the server's answer. An answer that says valid with
// a code other than VALID is taken as not valid.
func fromClient(cr *client.VerifyResult) keyward.VerifyResult {
	res := keyward.VerifyResult{Valid: cr.Valid && cr.Code == keyward.VerifyValid, Code: cr.Code}
	if cr.Code == keyward.VerifyNotFound {
		return res
	}
	res.KeyID, res.AccountID, res.Name, res.Owner = cr.KeyID, cr.AccountID, cr.Name, cr.Owner
	if cr.ProjectID != nil {
		res.ProjectID = *cr.ProjectID
	}
	res.PermissionMode, res.Scopes, res.Roles = cr.PermissionMode, cr.Scopes, cr.Roles
	if res.Scopes == nil {
		res.Scopes = []keyward.Scope{}
	}
	if res.Roles == nil {
		res.Roles = []string{}
	}
	if cr.ExpiresAt != nil {
		res.ExpiresAt, res.HasExpiry = *cr.ExpiresAt, true
	}
	res.Metadata = json.RawMessage("{}")
	if len(cr.Metadata) > 0 {
		if b, err := json.Marshal(cr.Metadata); err == nil {
			res.Metadata = b
		}
	}
	if cr.CreditsRemaining != nil {
		res.HasCredits, res.CreditsRemaining = true, *cr.CreditsRemaining
	}
	if cr.RateLimit != nil {
		res.HasRateLimit = true
		res.RateLimit = keyward.RateLimitState{Limit: cr.RateLimit.Limit, Remaining: cr.RateLimit.Remaining, ResetAt: cr.RateLimit.ResetAt}
	}
	return res
}

// lifetime reports whether an answer may be cached, and until when (Unix
// ns): never when it carries a counter (rate limit, credits); a NOT_FOUND
// for NotFoundMaxAge; the codes that do not change with time for MaxAge;
// any other answer for MaxAge but not past the key's expiry.
func (r *Remote) lifetime(res *keyward.VerifyResult, now time.Time) (int64, bool) {
	if res.HasCredits || res.HasRateLimit {
		return 0, false
	}
	ns := now.UnixNano()
	switch res.Code {
	case keyward.VerifyNotFound:
		return ns + int64(r.notFoundAge), r.notFoundAge > 0
	case keyward.VerifyRevoked, keyward.VerifyDisabled, keyward.VerifyExpired, keyward.VerifyRotated:
		return ns + int64(r.maxAge), r.maxAge > 0
	}
	until := ns + int64(r.maxAge)
	if res.HasExpiry {
		if exp := res.ExpiresAt.UnixNano(); exp < until {
			until = exp
		}
	}
	return until, r.maxAge > 0 && until > ns
}

// trusted reports whether the cache may answer now: the stream is up, the
// server's own feed is healthy, and a heartbeat arrived less than
// StreamStaleAfter ago.
func (r *Remote) trusted(now time.Time) bool {
	return r.up.Load() && r.healthy.Load() && now.Sub(r.start)-time.Duration(r.lastBeat.Load()) < StreamStaleAfter
}

// mono returns the monotonic time since the verifier started.
func (r *Remote) mono() int64 { return int64(time.Since(r.start)) }

// Reasons a stream is ended by the verifier.
var (
	// errStale ends a stream that stayed silent too long.
	errStale = errors.New("no event from the invalidation stream for " + StreamStaleAfter.String())
	// errSelfChanged ends a stream whose credential changed: the server
	// may no longer accept it, and must be asked again.
	errSelfChanged = errors.New("the verifier's management key or its owner changed")
	// errSelfExpired ends a stream whose credential expired.
	errSelfExpired = errors.New("the verifier's management key expired")
	// errNotManagementKey: whoami says the credential is not one.
	errNotManagementKey = errors.New("the verifier's credential is not a management key")
)

// watch keeps the invalidation stream open until ctx ends, reconnecting
// with jittered exponential backoff.
func (r *Remote) watch(ctx context.Context) {
	defer close(r.done)
	backoff := minBackoff
	for {
		helloed, err := r.session(ctx)
		wasUp := r.up.Swap(false)
		if wasUp {
			r.flush()
		}
		if ctx.Err() != nil {
			return
		}
		if helloed {
			backoff = minBackoff
		}
		if wasUp {
			r.log.Warn("keyward invalidation stream lost: verifying every key with the server until it is back", "err", err)
		} else {
			r.log.Info("keyward invalidation stream unavailable", "err", err, "retry_in", backoff)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// session reads one stream until it ends; helloed reports whether it got
// as far as hello. A watchdog closes a stream (or a connection attempt)
// silent for StreamStaleAfter.
//
// The stream also watches the verifier's own credential, which the cache
// stands in for: a cached answer is one the server would give this
// credential. After hello (so that any later change of the credential
// arrives as an event) GET /v1/whoami says which key it is; an
// invalidation of that key or of its owner, or its expiry, ends the
// stream, and with it the use of the cache, until a new stream opens,
// which a revoked or expired credential cannot.
func (r *Remote) session(ctx context.Context) (helloed bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var expired atomic.Bool
	defer func() {
		if expired.Load() && ctx.Err() == nil {
			err = errSelfExpired
		}
	}()
	var last atomic.Int64
	last.Store(r.mono())
	stale := make(chan struct{})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(StreamStaleAfter / 6)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if time.Duration(r.mono()-last.Load()) >= StreamStaleAfter {
					close(stale)
					cancel()
					return
				}
			}
		}
	}()
	defer func() {
		select {
		case <-stale:
			if ctx.Err() == nil {
				err = errStale
			}
		default:
		}
	}()
	st, err := r.c.WatchInvalidations(sctx)
	if err != nil {
		return false, err
	}
	defer st.Close()
	var selfKey, selfOwner string // the credential's key id and owner id
	for {
		ev, err := st.Next()
		if err != nil {
			return helloed, err
		}
		now := r.mono()
		last.Store(now)
		switch ev.Type {
		case client.EventHello:
			if helloed {
				continue
			}
			// Whatever changed before this stream is unknown.
			r.flush()
			w, err := r.c.Whoami(sctx)
			if err != nil {
				return false, remoteError(err)
			}
			mk := w.ManagementKey
			if mk == nil {
				return false, errNotManagementKey
			}
			selfKey, selfOwner = mk.ID, mk.Owner.ID
			if mk.ExpiresAt != nil {
				t := time.AfterFunc(time.Until(*mk.ExpiresAt), func() {
					expired.Store(true)
					cancel()
				})
				defer t.Stop()
			}
			now = r.mono()
			last.Store(now)
			r.healthy.Store(ev.FeedHealthy)
			r.lastBeat.Store(now)
			r.up.Store(true)
			r.connects.Add(1)
			helloed = true
			r.notify(keyward.Invalidation{Kind: keyward.InvalidateAll})
		case client.EventHeartbeat:
			if !helloed {
				continue
			}
			if r.healthy.Swap(ev.FeedHealthy) != ev.FeedHealthy {
				// Answers from while the server was missing changes may
				// be stale; answers from before it may have become so.
				r.flush()
				r.notify(keyward.Invalidation{Kind: keyward.InvalidateAll})
			}
			r.lastBeat.Store(now)
		case client.EventInvalidate:
			r.apply(ev.Invalidation)
			inv := ev.Invalidation
			if inv.ID != "" && (inv.Kind == keyward.InvalidateKey && inv.ID == selfKey ||
				inv.Kind == keyward.InvalidateOwner && inv.ID == selfOwner) {
				return helloed, errSelfChanged
			}
		}
	}
}

func (r *Remote) notify(inv keyward.Invalidation) {
	if r.onInvalidate != nil {
		r.onInvalidate(inv)
	}
}

// apply drops what an invalidation names, by giving what it names a new
// generation.
func (r *Remote) apply(inv keyward.Invalidation) {
	r.invalidations.Add(1)
	switch inv.Kind {
	case keyward.InvalidateKey:
		r.bump(genKey, r.slotOf(inv.ID))
	case keyward.InvalidateAccount:
		r.bump(genAccount, r.slotOf(inv.ID))
	case keyward.InvalidateOwner:
		r.bump(genOwner, r.slotOf(inv.ID))
	case keyward.InvalidateHash:
		var h keyward.TokenHash
		if n, err := hex.Decode(h[:], []byte(inv.ID)); err == nil && n == len(h) {
			r.bump(genHash, r.hashSlot(&h))
		} else {
			r.flush()
		}
	default:
		r.flush()
	}
	r.notify(inv)
}

// bump gives a slot the next invalidation number. Only the stream's
// goroutine calls it (and flush), so the numbers only grow.
func (r *Remote) bump(kind int, slot uint32) {
	r.gens[kind][slot].Store(r.seq.Add(1))
}

// flush makes every cached answer stale, and drops them.
func (r *Remote) flush() {
	r.flushSeq.Store(r.seq.Add(1))
	r.flushes.Add(1)
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		s.clear()
		s.mu.Unlock()
	}
}

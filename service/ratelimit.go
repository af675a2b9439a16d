package service

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// RateBackend enforces rate limits across nodes (package redis): it applies
// one request to the limit of key at its own clock and answers as
// keyward.RateLimit.Take does. An error means the backend cannot be
// reached: keyward then limits on this node alone.
type RateBackend interface {
	Take(ctx context.Context, keyID string, rl keyward.RateLimit) (allowed bool, remaining int64, resetAt time.Time, err error)
}

// rateState is the GCRA state of one key on this node: the theoretical
// arrival time, and the emission interval (window/limit, ms) it was
// measured in. A change of the key's limit rescales tat, so that what was
// used of the window stays used (see rescale).
type rateState struct {
	tat      atomic.Int64
	interval atomic.Int64
	mu       sync.Mutex // serialises rescales, which are rare
}

// rescale brings the state to the key's current limit. GCRA's tat is
// "now + what was used × interval": kept as it is under a new interval it
// would count the verifications already made at the old price (a limit
// raised from 2 to 5 an hour after 2 verifications would refuse the
// third). Rescaling keeps the count of verifications made in the window
// and prices it at the new interval, so a raised limit allows more at
// once, a lowered one fewer, and a shorter window frees the key sooner.
func (st *rateState) rescale(interval, now int64) {
	if st.interval.Load() == interval {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	old := st.interval.Load()
	if old == interval {
		return
	}
	if old > 0 {
		for {
			t := st.tat.Load()
			if t <= now {
				break
			}
			used := float64(t-now) / float64(old)
			if st.tat.CompareAndSwap(t, now+int64(math.Ceil(used*float64(interval)))) {
				break
			}
		}
	}
	st.interval.Store(interval)
}

// limiter holds per-key rate-limit state. On one node it is exact: the
// state is updated lock-free with compare-and-swap. With a backend
// (Redis) the backend decides, exactly across nodes; when it fails, this
// node's state decides, which the metrics and the log report.
type limiter struct {
	backend RateBackend
	log     *slog.Logger
	mu      sync.Mutex
	states  map[string]*rateState

	fallback      atomic.Bool  // the backend failed last time
	retryAt       atomic.Int64 // Unix ms: while in fallback, when to ask the backend again
	backendErrors atomic.Int64 // failed backend calls
}

func newLimiter(b RateBackend, log *slog.Logger) *limiter {
	return &limiter{backend: b, log: log, states: map[string]*rateState{}}
}

// state returns the state of a key, kept across cache evictions.
func (l *limiter) state(keyID string) *rateState {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.states[keyID]
	if st == nil {
		st = &rateState{}
		l.states[keyID] = st
	}
	return st
}

// backendRetry is how long the limiter keeps to this node's state after
// the backend failed, before it asks the backend again: a verification
// must not wait out Redis's timeouts while Redis is down.
const backendRetry = time.Second

// take applies one verification to the key's limit at now.
func (l *limiter) take(ctx context.Context, keyID string, st *rateState, rl keyward.RateLimit, now time.Time) (bool, keyward.RateLimitState) {
	ms := now.UnixMilli()
	if l.backend != nil && (!l.fallback.Load() || ms >= l.retryAt.Load()) {
		ok, remaining, reset, err := l.backend.Take(ctx, keyID, rl)
		if err == nil {
			if l.fallback.Swap(false) {
				l.log.Info("rate-limit backend is back: limits hold across nodes again")
			}
			return ok, keyward.RateLimitState{Limit: rl.Limit, Window: rl.Window, Remaining: remaining, ResetAt: reset}
		}
		l.backendErrors.Add(1)
		l.retryAt.Store(ms + backendRetry.Milliseconds())
		if !l.fallback.Swap(true) {
			l.log.Warn("rate-limit backend unreachable: limiting on this node only until it is back", "err", err)
		}
	}
	st.rescale(rl.Interval(), ms)
	for {
		old := st.tat.Load()
		ok, next, remaining, reset := rl.Take(old, ms)
		if !ok || st.tat.CompareAndSwap(old, next) {
			return ok, keyward.RateLimitState{Limit: rl.Limit, Window: rl.Window, Remaining: remaining, ResetAt: time.UnixMilli(reset).UTC()}
		}
	}
}

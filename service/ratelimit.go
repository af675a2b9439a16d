package service

import (
	"context"
	"log/slog"
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

// rateState is the GCRA state of one key on this node.
type rateState struct{ tat atomic.Int64 }

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

// take applies one verification to the key's limit at now.
func (l *limiter) take(ctx context.Context, keyID string, st *rateState, rl keyward.RateLimit, now time.Time) (bool, keyward.RateLimitState) {
	if l.backend != nil {
		ok, remaining, reset, err := l.backend.Take(ctx, keyID, rl)
		if err == nil {
			if l.fallback.Swap(false) {
				l.log.Info("rate-limit backend is back: limits hold across nodes again")
			}
			return ok, keyward.RateLimitState{Limit: rl.Limit, Remaining: remaining, ResetAt: reset}
		}
		l.backendErrors.Add(1)
		if !l.fallback.Swap(true) {
			l.log.Warn("rate-limit backend unreachable: limiting on this node only until it is back", "err", err)
		}
	}
	ms := now.UnixMilli()
	for {
		old := st.tat.Load()
		ok, next, remaining, reset := rl.Take(old, ms)
		if !ok || st.tat.CompareAndSwap(old, next) {
			return ok, keyward.RateLimitState{Limit: rl.Limit, Remaining: remaining, ResetAt: time.UnixMilli(reset).UTC()}
		}
	}
}

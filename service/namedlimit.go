package service

import (
	"context"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward"
)

// Named rate limits: a limit a service applies to anything it names by a
// namespace and an identifier (a user, an IP address, a route), with the
// limit sent on each request (Unkey's ratelimit.limit). They run on the
// same GCRA cells as keys' limits (rateState), kept per account on this
// node: exact on one node, counted per node behind a load balancer.

// Bounds of a named limit.
const (
	MaxLimitNameLen = 255
	// MaxLimitWindowMs is the longest window: a day.
	MaxLimitWindowMs = 24 * 3600 * 1000
	// maxNamedCells bounds the cells a node keeps; when full, cells whose
	// limit is wholly available again are dropped first, then others.
	maxNamedCells = 100_000
)

// NamedLimit is one request against a named limit: Cost units of
// Identifier in Namespace, at most Limit per WindowMs milliseconds. A
// cost of 0 asks whether one more would pass, without taking.
type NamedLimit struct {
	Namespace  string
	Identifier string
	Limit      int64
	WindowMs   int64
	Cost       int64
}

// NamedLimitResult is the answer: whether the request is allowed, and the
// limit's state after it.
type NamedLimitResult struct {
	Allowed   bool
	Limit     int64
	Remaining int64
	ResetAt   time.Time
}

// namedCells holds the GCRA cells of named limits.
type namedCells struct {
	mu    sync.Mutex
	cells map[string]*rateState
}

func (n *namedCells) cell(name string, now int64) *rateState {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cells == nil {
		n.cells = map[string]*rateState{}
	}
	st := n.cells[name]
	if st != nil {
		return st
	}
	if len(n.cells) >= maxNamedCells {
		// Cells wholly available again hold nothing worth keeping. If
		// every cell is in use, a tenth go (lenient: their identifiers
		// start afresh), so that the scan is paid once per many new cells.
		for k, c := range n.cells {
			if c.tat.Load() <= now {
				delete(n.cells, k)
			}
		}
		for k := range n.cells {
			if len(n.cells) <= maxNamedCells*9/10 {
				break
			}
			delete(n.cells, k)
		}
	}
	st = &rateState{}
	n.cells[name] = st
	return st
}

// Limit applies a request to a named limit of the actor's account. It
// needs keys:verify (the permission of a service checking its callers).
func (s *Service) Limit(ctx context.Context, a *keyward.Actor, in NamedLimit) (NamedLimitResult, error) {
	if err := require(a, keyward.PermKeysVerify); err != nil {
		return NamedLimitResult{}, err
	}
	v := []keyward.FieldError{}
	for _, f := range []struct{ name, value string }{{"namespace", in.Namespace}, {"identifier", in.Identifier}} {
		if f.value == "" || len(f.value) > MaxLimitNameLen || !utf8.ValidString(f.value) {
			v = append(v, keyward.FieldError{Field: f.name, Message: "must be 1 to 255 bytes of UTF-8"})
		}
	}
	if in.Limit < 1 || in.Limit > keyward.MaxRateLimit {
		v = append(v, keyward.FieldError{Field: "limit", Message: "must be from 1 to 1000000000"})
	}
	if in.WindowMs < 1000 || in.WindowMs > MaxLimitWindowMs {
		v = append(v, keyward.FieldError{Field: "duration", Message: "must be from 1000 to 86400000 milliseconds"})
	}
	if in.Cost < 0 || in.Cost > in.Limit {
		v = append(v, keyward.FieldError{Field: "cost", Message: "must be from 0 to the limit"})
	}
	if len(v) > 0 {
		return NamedLimitResult{}, keyward.Invalid(v...)
	}
	now := s.now().UnixMilli()
	st := s.named.cell(a.AccountID+"\x00"+in.Namespace+"\x00"+in.Identifier, now)
	interval := max(in.WindowMs/in.Limit, 1)
	st.rescale(interval, now)
	for {
		old := st.tat.Load()
		tat := max(old, now)
		next := tat + in.Cost*interval
		// A cost of 0 asks whether one more would pass.
		if max(next, tat+interval)-now > in.WindowMs {
			return NamedLimitResult{Limit: in.Limit, Remaining: max((in.WindowMs-(tat-now))/interval, 0),
				ResetAt: time.UnixMilli(tat).UTC()}, nil
		}
		res := NamedLimitResult{Allowed: true, Limit: in.Limit, Remaining: (in.WindowMs - (next - now)) / interval,
			ResetAt: time.UnixMilli(next).UTC()}
		if in.Cost == 0 || st.tat.CompareAndSwap(old, next) {
			return res, nil
		}
	}
}

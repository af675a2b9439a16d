package service

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/keyward/keyward"
)

// hub fans the invalidations this node learns of out to watchers (remote
// verifiers' streams). Delivery never blocks the store: a watcher that
// falls behind loses events and is told so (Lost), which its stream turns
// into "forget everything".
type hub struct {
	mu       sync.Mutex
	next     int
	watchers map[int]*Watcher
}

// Watcher receives invalidations until its context ends.
type Watcher struct {
	// C delivers invalidations, in the order this node learned of them.
	C    chan keyward.Invalidation
	lost atomic.Bool
}

// Lost reports (and clears) whether events were dropped since the last
// call because the watcher fell behind: it must then forget everything.
func (w *Watcher) Lost() bool { return w.lost.Swap(false) }

func (h *hub) publish(inv keyward.Invalidation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range h.watchers {
		select {
		case w.C <- inv:
		default:
			w.lost.Store(true)
		}
	}
}

// Watch registers a watcher of every invalidation this node learns of (its
// own changes and, for a shared database, other nodes'), until ctx ends.
func (s *Service) Watch(ctx context.Context) *Watcher {
	w := &Watcher{C: make(chan keyward.Invalidation, 4096)}
	h := &s.hub
	h.mu.Lock()
	id := h.next
	h.next++
	if h.watchers == nil {
		h.watchers = map[int]*Watcher{}
	}
	h.watchers[id] = w
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		delete(h.watchers, id)
		h.mu.Unlock()
	}()
	return w
}

// FeedHealthy reports whether this node receives every change committed
// anywhere (always true on SQLite).
func (s *Service) FeedHealthy() bool { return s.store.FeedHealthy() }

package service

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// usage writes behind what verifications leave: last-use times and
// verification counts, coalesced per key, in one transaction per interval,
// so verification never waits on a database write. Cached keys count in
// their cache entries (atomics, no shared lock); the rare verification
// answered without a cache entry counts in a small locked map. A crash
// loses at most one interval; Close flushes what is pending.
type usage struct {
	store keyward.Store
	log   *slog.Logger
	// collect adds the usage counted in cache entries since its last call.
	collect func(map[string]keyward.KeyUsage)
	// housekeeping runs every housekeepingEvery, on the same goroutine.
	housekeeping func(ctx context.Context)

	mu      sync.Mutex
	pending map[string]keyward.KeyUsage

	queued      atomic.Int64 // keys in the last batch (write-behind queue depth)
	flushErrors atomic.Int64

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// housekeepingEvery is how often the write-behind loop also purges expired
// idempotency records.
const housekeepingEvery = 10 * time.Minute

func newUsage(store keyward.Store, log *slog.Logger, every time.Duration, collect func(map[string]keyward.KeyUsage), housekeeping func(context.Context)) *usage {
	u := &usage{store: store, log: log, collect: collect, housekeeping: housekeeping,
		pending: map[string]keyward.KeyUsage{}, stop: make(chan struct{}), done: make(chan struct{})}
	go u.loop(every)
	return u
}

// record counts one use of a key that has no cache entry.
func (u *usage) record(id string, at time.Time, verifications int64) {
	u.mu.Lock()
	addUsage(u.pending, id, verifications, at.UnixMilli())
	u.mu.Unlock()
}

func (u *usage) loop(every time.Duration) {
	defer close(u.done)
	t := time.NewTicker(every)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), every*5)
			u.flush(ctx)
			if u.housekeeping != nil && time.Since(last) >= housekeepingEvery {
				last = time.Now()
				u.housekeeping(ctx)
			}
			cancel()
		case <-u.stop:
			return
		}
	}
}

// flush writes the usage gathered since the last flush; on failure it is
// kept for the next round.
func (u *usage) flush(ctx context.Context) error {
	u.mu.Lock()
	batch := u.pending
	u.pending = map[string]keyward.KeyUsage{}
	u.mu.Unlock()
	if u.collect != nil {
		u.collect(batch)
	}
	u.queued.Store(int64(len(batch)))
	if len(batch) == 0 {
		return nil
	}
	err := u.store.Write(ctx, func(tx keyward.Tx) error { return tx.TouchKeys(ctx, batch) })
	if err != nil {
		u.flushErrors.Add(1)
		u.log.Warn("write-behind of key usage failed; retrying next interval", "keys", len(batch), "err", err)
		u.mu.Lock()
		for id, us := range batch {
			addUsage(u.pending, id, us.Verifications, us.LastUsed.UnixMilli())
		}
		u.mu.Unlock()
	}
	return err
}

func (u *usage) close(ctx context.Context) error {
	u.stopOnce.Do(func() { close(u.stop) })
	<-u.done
	return u.flush(ctx)
}

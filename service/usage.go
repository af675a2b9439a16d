package service

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

// usage collects last-use times in memory and writes them behind in one
// transaction per interval, coalesced per key, so verification never waits
// on a database write. A crash loses at most one interval of last-use
// times; Close flushes what is pending.
type usage struct {
	// housekeeping runs every housekeepingEvery, on the same goroutine.
	housekeeping func(ctx context.Context)
	store        keyward.Store
	log          *slog.Logger
	mu           sync.Mutex
	pending      map[string]time.Time
	stop         chan struct{}
	done         chan struct{}
	stopOnce     sync.Once
}

func newUsage(store keyward.Store, log *slog.Logger, every time.Duration, housekeeping func(context.Context)) *usage {
	u := &usage{housekeeping: housekeeping, store: store, log: log, pending: map[string]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	go u.loop(every)
	return u
}

func (u *usage) touch(id string, at time.Time) {
	u.mu.Lock()
	if prev, ok := u.pending[id]; !ok || at.After(prev) {
		u.pending[id] = at
	}
	u.mu.Unlock()
}

// housekeepingEvery is how often the write-behind loop also purges
// expired idempotency records.
const housekeepingEvery = 10 * time.Minute

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

// flush writes the pending times; on failure they are put back for the
// next round (newer times win).
func (u *usage) flush(ctx context.Context) error {
	u.mu.Lock()
	batch := u.pending
	u.pending = map[string]time.Time{}
	u.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := u.store.Write(ctx, func(tx keyward.Tx) error { return tx.TouchKeys(ctx, batch) })
	if err != nil {
		u.log.Warn("write-behind of last-use times failed; retrying next interval", "keys", len(batch), "err", err)
		for id, at := range batch {
			u.touch(id, at)
		}
	}
	return err
}

func (u *usage) close(ctx context.Context) error {
	u.stopOnce.Do(func() { close(u.stop) })
	<-u.done
	return u.flush(ctx)
}

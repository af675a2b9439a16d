package service

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// usage writes behind what verifications leave: last-use times and
// verification counts on the keys, and the usage buckets (every
// verification by key, outcome and minute), coalesced per key, once per
// interval, so verification never waits on a database write. Cached keys
// count in their cache entries (atomics, no shared lock); the rare
// verification answered without a cache entry counts in a small locked
// map. A crash loses at most one interval; Close flushes what is pending.
//
// Counts are put in the minute bucket of the flush that collects them,
// so a verification lands at most one interval after its minute. What
// the database refuses waits for the next flush: last-use times per key
// (bounded by the number of keys), bucket counts up to maxWaitingCounts
// rows, beyond which new counts are dropped (and counted as dropped).
// A flush writes in transactions of batch rows, each committed on its own:
// one too large for the flush's time budget (a million keys used in a
// few minutes) would otherwise fail whole, every time, growing until
// counts were dropped with the database healthy.
type usage struct {
	store keyward.Store
	log   *slog.Logger
	clock keyward.Clock
	batch int
	// collect adds the usage counted in cache entries since its last call.
	collect func(tallies)
	// housekeeping runs every housekeepingEvery, on the same goroutine.
	housekeeping func(ctx context.Context)
	retention    keyward.UsageRetention
	lastPurge    time.Time

	mu      sync.Mutex
	pending tallies

	// What a failed flush keeps for the next (the loop's goroutine only).
	waitingTouch  map[string]keyward.KeyUsage
	waitingCounts map[countKey]*keyward.UsageCount

	queued      atomic.Int64 // keys in the last batch (write-behind queue depth)
	waiting     atomic.Int64 // bucket counts waiting for the database
	dropped     atomic.Int64 // bucket counts dropped beyond maxWaitingCounts
	flushErrors atomic.Int64

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// maxWaitingCounts bounds the bucket rows (key, outcome, minute) kept in
// memory while the database refuses them: about 200 bytes each, 50 MB.
const maxWaitingCounts = 250_000

// minFlushBudget is the least time a flush of the loop may take (five
// intervals otherwise): the first write of a minute rolls the closed
// minutes up into their hours and days in one transaction, a few seconds
// when a hundred thousand keys were used in a minute.
const minFlushBudget = 30 * time.Second

// housekeepingEvery is how often the write-behind loop also purges expired
// idempotency records; usage buckets past their retention are purged every
// usagePurgeEvery.
const (
	housekeepingEvery = 10 * time.Minute
	usagePurgeEvery   = time.Minute
)

// tally is the usage of one key counted since the last write-behind.
type tally struct {
	account string
	owner   keyward.Owner
	project string
	lastUse int64 // Unix ms, 0 for none
	counts  [keyward.NumUsageOutcomes]int64
	// api marks an API key: only theirs go to the usage buckets (a
	// management key's uses are authentications, kept on the key only).
	api bool
}

// tallies are the tallies of keys by id.
type tallies map[string]*tally

// of returns the tally of e's key, creating it.
func (t tallies) of(e *entry) *tally {
	ty := t[e.keyID]
	if ty == nil {
		ty = &tally{account: e.account, owner: e.owner, project: e.check.ProjectID, api: e.kind == keyward.KindAPI}
		t[e.keyID] = ty
	}
	return ty
}

// take moves the counts of e into its tally, resetting them.
func (t tallies) take(e *entry) {
	var ty *tally
	for i := range e.counts {
		if e.counts[i].Load() == 0 {
			continue
		}
		if n := e.counts[i].Swap(0); n > 0 {
			if ty == nil {
				ty = t.of(e)
			}
			ty.counts[i] += int64(n)
		}
	}
	if ty != nil {
		ty.lastUse = max(ty.lastUse, e.lastUse.Load())
	}
}

// merge adds o into t.
func (t tallies) merge(o tallies) {
	for id, b := range o {
		a := t[id]
		if a == nil {
			t[id] = b
			continue
		}
		a.lastUse = max(a.lastUse, b.lastUse)
		for i, n := range b.counts {
			a.counts[i] += n
		}
		if a.account == "" {
			a.account, a.owner, a.project, a.api = b.account, b.owner, b.project, b.api
		}
	}
}

type countKey struct {
	keyID   string
	outcome int
	minute  int64
}

func newUsage(store keyward.Store, log *slog.Logger, clock keyward.Clock, every time.Duration, batch int, retention keyward.UsageRetention,
	collect func(tallies), housekeeping func(context.Context)) *usage {
	u := &usage{store: store, log: log, clock: clock, batch: batch, collect: collect, housekeeping: housekeeping, retention: retention,
		pending: tallies{}, waitingTouch: map[string]keyward.KeyUsage{}, waitingCounts: map[countKey]*keyward.UsageCount{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go u.loop(every)
	return u
}

// record counts one verification of a key that has no cache entry (e is
// not cached), or, with code "", only a use (an authentication).
func (u *usage) record(e *entry, at time.Time, code keyward.VerifyCode) {
	u.mu.Lock()
	ty := u.pending.of(e)
	if code == "" || code == keyward.VerifyValid {
		ty.lastUse = max(ty.lastUse, at.UnixMilli())
	}
	if i := code.UsageIndex(); i >= 0 {
		ty.counts[i]++
	}
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
			ctx, cancel := context.WithTimeout(context.Background(), max(every*5, minFlushBudget))
			u.flush(ctx)
			if u.housekeeping != nil && time.Since(last) >= housekeepingEvery {
				last = time.Now()
				u.housekeeping(ctx)
			}
			u.purge(ctx)
			cancel()
		case <-u.stop:
			return
		}
	}
}

// purge deletes, once a minute, the buckets that started longer ago than
// their granularity's retention.
func (u *usage) purge(ctx context.Context) {
	now := u.clock()
	if now.Sub(u.lastPurge) < usagePurgeEvery {
		return
	}
	u.lastPurge = now
	for _, g := range keyward.Granularities() {
		if r := u.retention.Of(g); r > 0 {
			if err := u.store.PurgeUsage(ctx, g, now.Add(-r)); err != nil {
				u.log.Warn("purging usage buckets past their retention failed", "granularity", g, "err", err)
				return
			}
		}
	}
}

// flush writes the usage gathered since the last flush; what fails is
// kept for the next round.
func (u *usage) flush(ctx context.Context) error {
	u.mu.Lock()
	batch := u.pending
	u.pending = tallies{}
	u.mu.Unlock()
	if u.collect != nil {
		u.collect(batch)
	}
	minute := keyward.GranularityMinute.Start(u.clock())
	touch := u.waitingTouch
	for id, ty := range batch {
		if ty.lastUse == 0 && ty.counts[0] == 0 {
			continue
		}
		addUsage(touch, id, ty.counts[0], ty.lastUse)
	}
	counts := u.waitingCounts
	for id, ty := range batch {
		if !ty.api {
			continue
		}
		for i, n := range ty.counts {
			if n == 0 {
				continue
			}
			k := countKey{id, i, minute.UnixMilli()}
			if c := counts[k]; c != nil {
				c.Count += n
				continue
			}
			if len(counts) >= maxWaitingCounts {
				u.dropped.Add(n)
				continue
			}
			counts[k] = &keyward.UsageCount{AccountID: ty.account, KeyID: id, Owner: ty.owner, ProjectID: ty.project,
				Outcome: keyward.UsageOutcomes[i], Minute: minute, Count: n}
		}
	}
	u.queued.Store(int64(len(touch)))
	var errTouch, errCounts error
	u.waitingTouch, errTouch = u.writeTouch(ctx, touch)
	u.waitingCounts, errCounts = u.writeCounts(ctx, counts)
	u.waiting.Store(int64(len(u.waitingCounts)))
	if errTouch != nil || errCounts != nil {
		u.flushErrors.Add(1)
		u.log.Warn("write-behind of key usage failed; retrying next interval", "keys", len(touch), "buckets", len(counts),
			"err", firstErr(errTouch, errCounts))
		return firstErr(errTouch, errCounts)
	}
	return nil
}

// writeTouch writes the keys' last use and verification counts in
// transactions of u.batch keys, and returns what is left to write: the
// keys of the transaction that failed and of those not tried after it.
func (u *usage) writeTouch(ctx context.Context, touch map[string]keyward.KeyUsage) (map[string]keyward.KeyUsage, error) {
	for len(touch) > 0 {
		chunk := make(map[string]keyward.KeyUsage, min(len(touch), u.batch))
		for id, ku := range touch {
			if len(chunk) == u.batch {
				break
			}
			chunk[id] = ku
			delete(touch, id)
		}
		if err := u.store.Write(ctx, func(tx keyward.Tx) error { return tx.TouchKeys(ctx, chunk) }); err != nil {
			maps.Copy(touch, chunk)
			return touch, err
		}
	}
	return map[string]keyward.KeyUsage{}, nil
}

// writeCounts writes the bucket counts in calls of u.batch rows (each a
// transaction of the store), and returns what is left to write: the rows
// of the call that failed and of those not tried after it.
func (u *usage) writeCounts(ctx context.Context, counts map[countKey]*keyward.UsageCount) (map[countKey]*keyward.UsageCount, error) {
	keys := make([]countKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	rows := make([]keyward.UsageCount, 0, min(len(counts), u.batch))
	for len(keys) > 0 {
		n := min(len(keys), u.batch)
		rows = rows[:0]
		for _, k := range keys[:n] {
			rows = append(rows, *counts[k])
		}
		if err := u.store.AddUsage(ctx, rows); err != nil {
			return counts, err
		}
		for _, k := range keys[:n] {
			delete(counts, k)
		}
		keys = keys[n:]
	}
	return map[countKey]*keyward.UsageCount{}, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (u *usage) close(ctx context.Context) error {
	u.stopOnce.Do(func() { close(u.stop) })
	<-u.done
	return u.flush(ctx)
}

func addUsage(into map[string]keyward.KeyUsage, id string, n, lastMs int64) {
	u := into[id]
	u.Verifications += n
	if lastMs > 0 {
		if at := time.UnixMilli(lastMs).UTC(); at.After(u.LastUsed) {
			u.LastUsed = at
		}
	}
	into[id] = u
}

package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// The invalidation feed between processes that open one file. SQLite has
// no LISTEN/NOTIFY, so each write transaction appends its invalidations to
// the table invalidations (migration 4), tagged with its handle's origin,
// and every handle polls the table on a connection of its own and hands
// the other origins' rows to its store's subscribers.
const (
	// feedPoll is how often a handle looks for other processes' changes:
	// the bound on how long one of them can still answer from a stale
	// cache entry. An idle poll is one indexed read (see
	// docs/operations.md for what it costs).
	feedPoll = 100 * time.Millisecond
	// feedStaleAfter: a handle that has not polled successfully for this
	// long reports the feed unhealthy, and caches stop trusting entries.
	feedStaleAfter = time.Second
	// feedRetention is how long rows stay: a handle whose polls stopped
	// for longer may have lost rows, which it notices (a gap in seq) and
	// answers by emptying its caches.
	feedRetention = time.Minute
	// feedPruneEvery bounds how often one handle prunes (in a write
	// transaction that publishes).
	feedPruneEvery = time.Second
	// feedBatch is the rows one query of a poll reads.
	feedBatch = 500
)

var invalidateAll = keyward.Invalidation{Kind: keyward.InvalidateAll}

// feed is one handle's side of the invalidation feed.
type feed struct {
	origin string
	db     *sql.DB // one connection, read-only, for polls
	max    *sql.Stmt
	rows   *sql.Stmt
	log    *slog.Logger

	// ok is what FeedHealthy reports: it is asked on every verification,
	// so it is one atomic load, not a clock read. A successful poll sets
	// it and re-arms stale, which clears it feedStaleAfter later: from a
	// timer of its own, so a poll that hangs cannot keep it set.
	ok    atomic.Bool
	stale *time.Timer
	// lastOK is the time of the last successful poll, in nanoseconds
	// after epoch (monotonic).
	epoch     time.Time
	lastOK    atomic.Int64
	lastPrune atomic.Int64 // Unix ms of this handle's last prune

	// Owned by the poll goroutine.
	deliver func([]keyward.Invalidation)
	seq     int64 // the last row seen
	failing bool

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// openFeed opens the feed's connection on the file named by dsn (read
// only) and starts from the newest row: a new handle's caches are empty.
func openFeed(ctx context.Context, dsn string, log *slog.Logger) (_ *feed, err error) {
	origin := make([]byte, 8)
	if _, err := rand.Read(origin); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := openPool(dsn, 1, "")
	if err != nil {
		return nil, err
	}
	f := &feed{origin: hex.EncodeToString(origin), db: db, log: log, epoch: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{})}
	defer func() {
		if err != nil {
			f.closeStatements()
			db.Close()
		}
	}()
	if f.max, err = db.PrepareContext(ctx, `SELECT coalesce(max(seq), 0) FROM invalidations`); err != nil {
		return nil, err
	}
	if f.rows, err = db.PrepareContext(ctx, `SELECT seq, origin, body FROM invalidations WHERE seq > ? ORDER BY seq LIMIT `+strconv.Itoa(feedBatch)); err != nil {
		return nil, err
	}
	if err := f.max.QueryRowContext(ctx).Scan(&f.seq); err != nil {
		return nil, err
	}
	f.confirm()
	return f, nil
}

// confirm records a successful poll: the feed is healthy for another
// feedStaleAfter.
func (f *feed) confirm() {
	if f.stale == nil {
		f.stale = time.AfterFunc(feedStaleAfter, func() { f.ok.Store(false) })
	} else {
		f.stale.Reset(feedStaleAfter)
	}
	f.lastOK.Store(int64(time.Since(f.epoch)))
	f.ok.Store(true)
}

// start runs the poll loop, handing other handles' invalidations to deliver.
func (f *feed) start(deliver func([]keyward.Invalidation)) {
	f.deliver = deliver
	go f.run()
}

// close stops the poll loop (if it runs) and closes the connection.
func (f *feed) close() error {
	f.stopOnce.Do(func() { close(f.stop) })
	if f.deliver != nil {
		<-f.done
	}
	if f.stale != nil {
		f.stale.Stop()
	}
	f.closeStatements()
	return f.db.Close()
}

func (f *feed) closeStatements() {
	for _, st := range []*sql.Stmt{f.max, f.rows} {
		if st != nil {
			st.Close()
		}
	}
}

// healthy reports whether the last successful poll is recent enough
// (within feedStaleAfter) that every change another handle committed
// before it has been delivered.
func (f *feed) healthy() bool { return f.ok.Load() }

// confirmedAt returns the time of the last successful poll.
func (f *feed) confirmedAt() time.Time {
	return f.epoch.Add(time.Duration(f.lastOK.Load()))
}

// publish appends inv to the feed inside the write transaction tx, and
// now and then prunes rows older than feedRetention (never the newest row,
// so the sequence shows a poller that it missed some).
func (f *feed) publish(ctx context.Context, tx *sql.Tx, inv keyward.Invalidation) error {
	now := time.Now().UnixMilli()
	res, err := tx.ExecContext(ctx, `INSERT INTO invalidations (origin, body, created_at) VALUES (?, ?, ?)`, f.origin, inv.String(), now)
	if err != nil {
		return err
	}
	last := f.lastPrune.Load()
	if now-last < feedPruneEvery.Milliseconds() || !f.lastPrune.CompareAndSwap(last, now) {
		return nil
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM invalidations WHERE created_at < ? AND seq < ?`, now-feedRetention.Milliseconds(), seq)
	return err
}

func (f *feed) run() {
	defer close(f.done)
	t := time.NewTicker(feedPoll)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		err := f.poll()
		switch {
		case err != nil && !f.failing:
			f.failing = true
			f.log.Warn("invalidation feed: cannot read other processes' changes; verifications bypass the cache until it can", "err", err)
		case err == nil && f.failing:
			f.failing = false
			f.log.Info("invalidation feed: reading other processes' changes again")
		}
	}
}

// poll delivers the rows other handles committed since the last poll. It
// runs without a deadline, which would cost a timer and a goroutine per
// query on every idle poll: a poll that waits (for the busy timeout at
// most) makes the feed unhealthy after feedStaleAfter all the same.
func (f *feed) poll() error {
	ctx := context.Background()
	var newest int64
	if err := f.max.QueryRowContext(ctx).Scan(&newest); err != nil {
		return err
	}
	var invs []keyward.Invalidation
	switch {
	case newest == f.seq:
		// Idle: nothing committed since the last poll.
	case newest < f.seq:
		// The sequence went back: the table was recreated or the file
		// restored under this process. What changed is unknown.
		f.log.Warn("invalidation feed started over (database restored?): emptying the verification cache")
		invs = append(invs, invalidateAll)
		f.seq = newest
	default:
		for f.seq < newest {
			n, gap, err := f.read(ctx, &invs)
			if err != nil {
				return err
			}
			if gap && (len(invs) == 0 || invs[0] != invalidateAll) {
				f.log.Warn("invalidation feed: rows were pruned before this process read them (it did not poll for over a minute): emptying the verification cache")
				invs = append([]keyward.Invalidation{invalidateAll}, invs...)
			}
			if n < feedBatch {
				break
			}
		}
	}
	if len(invs) > 0 {
		f.deliver(invs)
	}
	f.confirm()
	return nil
}

// read reads one batch of rows after f.seq, appends the invalidations of
// other origins to invs and advances f.seq. gap reports rows missing from
// the sequence (pruned before this handle saw them).
func (f *feed) read(ctx context.Context, invs *[]keyward.Invalidation) (n int, gap bool, err error) {
	rows, err := f.rows.QueryContext(ctx, f.seq)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			seq          int64
			origin, body string
		)
		if err := rows.Scan(&seq, &origin, &body); err != nil {
			return n, gap, err
		}
		n++
		// One writer at a time commits, in seq order, and AUTOINCREMENT
		// never reuses a seq: a missing one was pruned.
		if seq != f.seq+1 {
			gap = true
		}
		f.seq = seq
		if origin == f.origin {
			continue // delivered at commit
		}
		inv, err := keyward.ParseInvalidation(body)
		if err != nil {
			inv = invalidateAll // unknown to this version: be safe
		}
		*invs = append(*invs, inv)
	}
	if err := rows.Err(); err != nil {
		return n, gap, err
	}
	if n == 0 {
		return 0, false, errors.New("invalidation feed: rows announced but none read")
	}
	return n, gap, nil
}

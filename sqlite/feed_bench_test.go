package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlstore"
)

// BenchmarkFeedPollIdle measures what every handle pays every feedPoll
// (100 ms) when nothing changed: one read of the newest seq on the feed's
// own connection (docs/operations.md).
func BenchmarkFeedPollIdle(b *testing.B) {
	db := benchDB(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := db.feed.poll(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFeedPollOne measures a poll that delivers one invalidation of
// another handle (the write that published it is outside the timing).
func BenchmarkFeedPollOne(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), FileName)
	w, err := Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	db, err := Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	inv := keyward.Invalidation{Kind: keyward.InvalidateKey, ID: "key_01ARZ3NDEKTSV4RRFFQ69G5FAV", Account: "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		if err := w.Write(ctx, func(tx keyward.Tx) error { return tx.(*sqlstore.Tx).Invalidate(ctx, inv) }); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := db.feed.poll(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFeedHealthy measures what the feed adds to every verification:
// the service asks FeedHealthy before it trusts its cache.
func BenchmarkFeedHealthy(b *testing.B) {
	db := benchDB(b)
	b.ReportAllocs()
	for b.Loop() {
		if !db.FeedHealthy() {
			b.Fatal("unhealthy")
		}
	}
}

// benchDB opens a new database for a benchmark, closed when it ends.
func benchDB(b *testing.B) *DB {
	b.Helper()
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), FileName))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

package service_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlite"
)

// usDownStore is a real SQLite store whose writes fail while down is set,
// as when the database cannot be reached; reads still work.
type usDownStore struct {
	keyward.Store
	down atomic.Bool
}

var errUsDown = &keyward.Error{Code: keyward.ECodeUnavailable, Message: "the database is unavailable (test)"}

func (s *usDownStore) Write(ctx context.Context, fn func(keyward.Tx) error) error {
	if s.down.Load() {
		return errUsDown
	}
	return s.Store.Write(ctx, fn)
}

func (s *usDownStore) AddUsage(ctx context.Context, c []keyward.UsageCount) error {
	if s.down.Load() {
		return errUsDown
	}
	return s.Store.AddUsage(ctx, c)
}

// usOpen opens a SQLite store in a temporary directory.
func usOpen(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// usService starts a service with o, bootstrapped, and returns it with its
// operator; the caller closes it.
func usService(t *testing.T, o service.Options) (*service.Service, *keyward.Actor) {
	t.Helper()
	svc := service.New(o)
	_, opTok, err := svc.Bootstrap(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	op, err := svc.Authenticate(t.Context(), service.Credential{Token: opTok, ClientIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return svc, op
}

// usKeyTotal returns the verifications of k in the day buckets around now.
func usKeyTotal(t *testing.T, db keyward.UsageStore, k *keyward.Key) int64 {
	t.Helper()
	q := keyward.UsageQuery{AccountID: k.AccountID, KeyID: k.ID, Granularity: keyward.GranularityDay,
		From: time.Now().Add(-48 * time.Hour), To: time.Now().Add(48 * time.Hour)}
	rows, err := db.UsageSeries(t.Context(), &q)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, r := range rows {
		n += r.Count
	}
	return n
}

// TestUsageWaitsForTheDatabase: while the database refuses writes,
// verifications go on (never blocked, never failed), counts wait in
// memory, and once it is back every one of them is written; Close writes
// what the last interval counted.
func TestUsageWaitsForTheDatabase(t *testing.T) {
	ctx := t.Context()
	db := usOpen(t)
	st := &usDownStore{Store: db}
	svc, op := usService(t, service.Options{Store: st, UsageFlushInterval: 50 * time.Millisecond})
	closed := false
	t.Cleanup(func() {
		if !closed {
			svc.Close(context.Background())
		}
	})
	k, tok, err := svc.CreateKey(ctx, op, keyward.KindAPI, &keyward.KeyFields{Name: keyward.Some("us outage")})
	if err != nil {
		t.Fatal(err)
	}
	p, err := (&keyward.VerifyRequest{Key: keyward.Some(tok)}).Prepare()
	if err != nil {
		t.Fatal(err)
	}
	verify := func(n int) {
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range n / 4 {
					start := time.Now()
					res, err := svc.VerifyToken(ctx, op, tok.Reveal(), p)
					if err != nil || res.Code != keyward.VerifyValid {
						t.Errorf("verification during the outage: %v %v", res.Code, err)
						return
					}
					if d := time.Since(start); d > 100*time.Millisecond {
						t.Errorf("a verification took %v during the outage: usage writes must not block it", d)
					}
				}
			}()
		}
		wg.Wait()
	}
	verify(4) // cached from here on
	st.down.Store(true)
	verify(400)
	time.Sleep(300 * time.Millisecond)
	if s := svc.Stats(); s.UsageWaiting == 0 || s.WriteBehindErrors == 0 || s.UsageDropped != 0 {
		t.Fatalf("while the database refuses writes: %d bucket counts waiting, %d flush errors, %d dropped; want some waiting, errors, none dropped",
			s.UsageWaiting, s.WriteBehindErrors, s.UsageDropped)
	}
	st.down.Store(false)
	total := func() int64 { return usKeyTotal(t, db, k) }
	for deadline := time.Now().Add(2 * time.Second); total() != 404; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after the database came back: %d verifications in the buckets, want 404", total())
		}
	}
	if s := svc.Stats(); s.UsageWaiting != 0 {
		t.Fatalf("%d bucket counts still waiting after the database came back", s.UsageWaiting)
	}
	verify(8)
	closed = true
	if err := svc.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := total(); n != 412 {
		t.Fatalf("after Close: %d verifications in the buckets, want 412 (Close writes the last interval)", n)
	}
	var got *keyward.Key
	if err := db.Read(ctx, func(tx keyward.Tx) (err error) { got, err = tx.GetKey(ctx, k.AccountID, k.ID); return err }); err != nil {
		t.Fatal(err)
	}
	if got.Verifications != 412 {
		t.Fatalf("the key's verifications: %d, want 412", got.Verifications)
	}
}

// usBatchStore is a real SQLite store that records the size of each
// AddUsage call and fails the call numbered failCall, as when a flush's
// time budget runs out after its first transactions committed.
type usBatchStore struct {
	keyward.Store
	calls, largest, failCall atomic.Int64
}

func (s *usBatchStore) AddUsage(ctx context.Context, c []keyward.UsageCount) error {
	n := s.calls.Add(1)
	for {
		l := s.largest.Load()
		if int64(len(c)) <= l || s.largest.CompareAndSwap(l, int64(len(c))) {
			break
		}
	}
	if n == s.failCall.Load() {
		return &keyward.Error{Code: keyward.ECodeTimeout, Message: "the flush's budget ran out (test)"}
	}
	return s.Store.AddUsage(ctx, c)
}

// TestUsageFlushesInBatches: the write-behind writes bucket counts in
// transactions of UsageFlushBatch rows, keeps what committed when a later
// one fails, and writes the rest once, so every count lands exactly once.
// Before, a flush was one transaction: too large for its budget (a
// million keys used within minutes), it failed whole every interval until
// counts were dropped, with the database healthy.
func TestUsageFlushesInBatches(t *testing.T) {
	ctx := t.Context()
	db := usOpen(t)
	st := &usBatchStore{Store: db}
	st.failCall.Store(-1)
	svc, op := usService(t, service.Options{Store: st, UsageFlushInterval: time.Hour, UsageFlushBatch: 7})
	t.Cleanup(func() { svc.Close(context.Background()) })
	var keys []*keyward.Key
	for range 30 {
		k, tok, err := svc.CreateKey(ctx, op, keyward.KindAPI, &keyward.KeyFields{Name: keyward.Some("batch")})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		p, err := (&keyward.VerifyRequest{Key: keyward.Some(tok)}).Prepare()
		if err != nil {
			t.Fatal(err)
		}
		if res, err := svc.VerifyToken(ctx, op, tok.Reveal(), p); err != nil || res.Code != keyward.VerifyValid {
			t.Fatalf("verify: %v %v", res.Code, err)
		}
	}
	// 30 bucket rows: calls of 7, 7, 7, 7, 2; the second fails.
	st.failCall.Store(st.calls.Load() + 2)
	if err := svc.FlushUsage(ctx); err == nil {
		t.Fatal("the flush whose second transaction failed reported no error")
	}
	if s := svc.Stats(); s.UsageWaiting != 30-7 {
		t.Errorf("after a flush whose second transaction failed: %d bucket counts waiting, want %d (the first committed)", s.UsageWaiting, 30-7)
	}
	if err := svc.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if s := svc.Stats(); s.UsageWaiting != 0 || s.UsageDropped != 0 {
		t.Errorf("after the next flush: %d waiting, %d dropped", s.UsageWaiting, s.UsageDropped)
	}
	if l := st.largest.Load(); l > 7 {
		t.Errorf("an AddUsage call of %d rows, want at most UsageFlushBatch (7)", l)
	}
	for _, k := range keys {
		if n := usKeyTotal(t, db, k); n != 1 {
			t.Errorf("key %s: %d verifications in the buckets, want 1", k.ID, n)
		}
	}
}

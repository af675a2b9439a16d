package service_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlite"
)

// writeCounter is a real SQLite store that counts its write transactions.
type writeCounter struct {
	keyward.Store
	writes atomic.Int64
}

func (w *writeCounter) Write(ctx context.Context, fn func(keyward.Tx) error) error {
	w.writes.Add(1)
	return w.Store.Write(ctx, fn)
}

// TestExhaustedCreditsBurstReadsOnce: a burst of verifications of a key
// whose credits are spent waits for one renewal of its lease, not one
// each: the ones queued behind a renewal that found the pool empty answer
// USAGE_EXCEEDED from it. One write transaction per queued verification
// (the old behaviour) made a burst of 200 on PostgreSQL outlast the
// verification budget (503).
func TestExhaustedCreditsBurstReadsOnce(t *testing.T) {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st := &writeCounter{Store: db}
	e := newEnvWith(t, service.Options{Store: st})
	_, tok := e.apiKey(e.op, &keyward.KeyFields{Credits: keyward.Some(keyward.Credits{Remaining: 3})})
	for range 3 {
		if res := e.verify(tok, keyward.VerifyRequest{}); res.Code != keyward.VerifyValid {
			t.Fatalf("spending the key's credits: %s", res.Code)
		}
	}

	const burst = 100
	before := st.writes.Load()
	var wg sync.WaitGroup
	codes := make([]keyward.VerifyCode, burst)
	start := make(chan struct{})
	for i := range burst {
		wg.Go(func() {
			<-start
			req := keyward.VerifyRequest{Key: keyward.Some(tok)}
			res, err := e.svc.Verify(e.ctx, e.op, &req)
			if err != nil {
				t.Errorf("Verify: %v", err)
				return
			}
			codes[i] = res.Code
		})
	}
	close(start)
	wg.Wait()
	for i, c := range codes {
		if c != keyward.VerifyUsageExceeded && !t.Failed() {
			t.Fatalf("verification %d of a spent key: %s, want USAGE_EXCEEDED", i, c)
		}
	}
	// Verifications that arrive after a renewal ended read again (another
	// node may have given credits back), so a few renewals are expected;
	// one per verification is not.
	if n := st.writes.Load() - before; n > burst/4 {
		t.Errorf("%d concurrent verifications of a spent key made %d write transactions, want at most %d", burst, n, burst/4)
	}
}

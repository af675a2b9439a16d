package sqlite_test

// Tests of the invalidation feed between handles (processes) that open one
// SQLite file (issue 9, point 11): a change committed through one handle
// reaches the verification cache of every other within a second.

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlstore"
)

// ftBound is how soon another handle must see a change (the bound;
// the feed polls every 100 ms).
const ftBound = time.Second

// ftSide is one handle on the shared file with its own service, as a
// second process (a keyward server, an embedding program) would have.
type ftSide struct {
	db  *sqlite.DB
	svc *service.Service
}

func ftOpen(t *testing.T, path string) *ftSide {
	t.Helper()
	db := dtOpenAt(t, path)
	svc := service.New(service.Options{Store: db})
	t.Cleanup(func() { svc.Close(context.Background()) })
	return &ftSide{db: db, svc: svc}
}

// ftPair opens two handles on one new file; the first bootstraps it and
// returns the operator actor.
func ftPair(t *testing.T) (a, b *ftSide, op *keyward.Actor) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	a, b = ftOpen(t, path), ftOpen(t, path)
	_, tok, err := a.svc.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if op, err = a.svc.Authenticate(ctx, service.Credential{Token: tok}); err != nil {
		t.Fatal(err)
	}
	return a, b, op
}

func (s *ftSide) code(t *testing.T, account string, tok keyward.Token) keyward.VerifyCode {
	t.Helper()
	res, err := s.svc.VerifyToken(context.Background(), &keyward.Actor{AccountID: account}, tok.Reveal(), &keyward.PreparedVerify{})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return res.Code
}

// waitCode polls s until tok verifies as want and returns how long it
// took; it fails the test after ftBound.
func (s *ftSide) waitCode(t *testing.T, account string, tok keyward.Token, want keyward.VerifyCode) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := s.code(t, account, tok)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > ftBound {
			t.Fatalf("the other handle still answers %s %v after the change, want %s within %v", got, time.Since(start).Round(time.Millisecond), want, ftBound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A change made through one handle reaches the cache of the other within
// a second, whichever handle makes it; before the fix the other answered
// from its cache for as long as the entry lived (5 minutes).
func TestSQLiteFeedAcrossHandles(t *testing.T) {
	ctx := context.Background()
	a, b, op := ftPair(t)
	acct := op.AccountID
	for _, c := range []struct {
		name   string
		by     func() *ftSide
		change func(t *testing.T, s *ftSide, k *keyward.Key)
		want   keyward.VerifyCode
	}{
		{"revoke through the first", func() *ftSide { return a }, func(t *testing.T, s *ftSide, k *keyward.Key) {
			if _, err := s.svc.UpdateKey(ctx, op, keyward.KindAPI, k.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)}, ""); err != nil {
				t.Fatal(err)
			}
		}, keyward.VerifyRevoked},
		{"disable through the second", func() *ftSide { return b }, func(t *testing.T, s *ftSide, k *keyward.Key) {
			if _, err := s.svc.UpdateKey(ctx, op, keyward.KindAPI, k.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusDisabled)}, ""); err != nil {
				t.Fatal(err)
			}
		}, keyward.VerifyDisabled},
		{"delete", func() *ftSide { return a }, func(t *testing.T, s *ftSide, k *keyward.Key) {
			if err := s.svc.DeleteKey(ctx, op, keyward.KindAPI, k.ID, ""); err != nil {
				t.Fatal(err)
			}
		}, keyward.VerifyNotFound},
		{"rotate without grace", func() *ftSide { return a }, func(t *testing.T, s *ftSide, k *keyward.Key) {
			if _, _, err := s.svc.RotateKey(ctx, op, keyward.KindAPI, k.ID, 0, keyward.Field[time.Time]{}, ""); err != nil {
				t.Fatal(err)
			}
		}, keyward.VerifyRotated},
	} {
		t.Run(c.name, func(t *testing.T) {
			by := c.by()
			other := a
			if by == a {
				other = b
			}
			k, tok, err := a.svc.CreateKey(ctx, op, keyward.KindAPI, &keyward.KeyFields{Name: keyward.Some(c.name)})
			if err != nil {
				t.Fatal(err)
			}
			// Both handles cache it.
			for _, s := range []*ftSide{a, b} {
				if got := s.code(t, acct, tok); got != keyward.VerifyValid {
					t.Fatalf("new key verifies %s", got)
				}
			}
			c.change(t, by, k)
			if got := by.code(t, acct, tok); got != c.want {
				t.Fatalf("the handle that made the change answers %s, want %s", got, c.want)
			}
			took := other.waitCode(t, acct, tok, c.want)
			t.Logf("the other handle saw it after %v", took.Round(time.Millisecond))
		})
	}

	// A token nobody had is cached as unknown; when a key takes it (an
	// import by hash through the other handle), the miss goes.
	t.Run("a cached miss", func(t *testing.T) {
		tok, err := keyward.NewToken("kw", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.code(t, acct, tok); got != keyward.VerifyNotFound {
			t.Fatalf("unknown token verifies %s", got)
		}
		if _, err := a.svc.ImportKeys(ctx, op, []keyward.ImportItem{{Hash: tok.Hash().String(), KeyFields: keyward.KeyFields{Name: keyward.Some("imported")}}}); err != nil {
			t.Fatal(err)
		}
		b.waitCode(t, acct, tok, keyward.VerifyValid)
	})
}

// ftRecorder collects what a store delivers to its subscribers.
type ftRecorder struct {
	mu   sync.Mutex
	invs []keyward.Invalidation
}

func ftRecord(s keyward.Store) *ftRecorder {
	r := &ftRecorder{}
	s.Subscribe(func(inv keyward.Invalidation) {
		r.mu.Lock()
		r.invs = append(r.invs, inv)
		r.mu.Unlock()
	})
	return r
}

// wait waits (up to ftBound) until an invalidation matching ok arrived.
func (r *ftRecorder) wait(t *testing.T, what string, ok func(keyward.Invalidation) bool) {
	t.Helper()
	deadline := time.Now().Add(ftBound)
	for {
		r.mu.Lock()
		for _, inv := range r.invs {
			if ok(inv) {
				r.mu.Unlock()
				return
			}
		}
		got := append([]keyward.Invalidation(nil), r.invs...)
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %s delivered within %v; delivered: %v", what, ftBound, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *ftRecorder) all() []keyward.Invalidation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]keyward.Invalidation(nil), r.invs...)
}

func ftIsAll(inv keyward.Invalidation) bool { return inv.Kind == keyward.InvalidateAll }

// A handle delivers the other handles' invalidations once and its own
// never a second time (they were delivered at commit).
func TestSQLiteFeedOrigins(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	a, b := dtOpenAt(t, path), dtOpenAt(t, path)
	ra, rb := ftRecord(a), ftRecord(b)
	inv := keyward.Invalidation{Kind: keyward.InvalidateKey, ID: "key_01ARZ3NDEKTSV4RRFFQ69G5FAV", Account: "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"}
	if err := a.Write(ctx, func(tx keyward.Tx) error { return tx.(*sqlstore.Tx).Invalidate(ctx, inv) }); err != nil {
		t.Fatal(err)
	}
	rb.wait(t, "key invalidation on the other handle", func(got keyward.Invalidation) bool { return got == inv })
	time.Sleep(300 * time.Millisecond) // several polls
	if got := ra.all(); len(got) != 1 || got[0] != inv {
		t.Errorf("the writing handle received %v, want its own invalidation once (at commit)", got)
	}
	if got := rb.all(); len(got) != 1 {
		t.Errorf("the other handle received %v, want the invalidation once", got)
	}
	if !a.FeedHealthy() || !b.FeedHealthy() {
		t.Errorf("feed healthy: %v, %v", a.FeedHealthy(), b.FeedHealthy())
	}
}

// Old rows are pruned by writers, never the newest; a handle that missed
// pruned rows (it sees a gap in the sequence) flushes everything.
func TestSQLiteFeedPruneAndGap(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	a, b := dtOpenAt(t, path), dtOpenAt(t, path)
	rb := ftRecord(b)
	old := time.Now().Add(-time.Hour).UnixMilli()
	if _, err := a.WriteDB().ExecContext(ctx, `INSERT INTO invalidations (origin, body, created_at) VALUES ('elsewhere', 'k:key_1', ?), ('elsewhere', 'k:key_2', ?)`, old, old); err != nil {
		t.Fatal(err)
	}
	rb.wait(t, "the second old row", func(inv keyward.Invalidation) bool { return inv.ID == "key_2" })
	if got := rb.all(); len(got) != 2 || got[0].ID != "key_1" {
		t.Fatalf("delivered %v, want key_1 then key_2", got)
	}
	inv := keyward.Invalidation{Kind: keyward.InvalidateAccount, ID: "acc_1"}
	if err := a.Write(ctx, func(tx keyward.Tx) error { return tx.(*sqlstore.Tx).Invalidate(ctx, inv) }); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := a.WriteDB().QueryRowContext(ctx, `SELECT count(*) FROM invalidations WHERE created_at < ?`, time.Now().Add(-time.Minute).UnixMilli()).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows older than a minute after a write (%v), want them pruned", n, err)
	}
	rb.wait(t, "account invalidation", func(got keyward.Invalidation) bool { return got == inv })
	if got := rb.all(); len(got) != 3 {
		t.Fatalf("delivered %v, want exactly three invalidations", got)
	}

	// A row the other handle never saw: written and pruned in one
	// transaction, followed by another.
	tx, err := a.WriteDB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, q := range []string{
		`INSERT INTO invalidations (origin, body, created_at) VALUES ('elsewhere', 'k:key_missed', 0)`,
		`DELETE FROM invalidations WHERE body = 'k:key_missed'`,
		`INSERT INTO invalidations (origin, body, created_at) VALUES ('elsewhere', 'k:key_after', 0)`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rb.wait(t, "flush after a gap", ftIsAll)
	rb.wait(t, "the row after the gap", func(inv keyward.Invalidation) bool { return inv.ID == "key_after" })
}

// A handle whose polls fail reports the feed unhealthy (its caches then
// trust nothing) within a second, and healthy again once they succeed; a
// feed that starts over (the table was recreated, as after a restore)
// flushes everything.
func TestSQLiteFeedHealth(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	a, b := dtOpenAt(t, path), dtOpenAt(t, path)
	rb := ftRecord(b)
	if err := a.Write(ctx, func(tx keyward.Tx) error {
		return tx.(*sqlstore.Tx).Invalidate(ctx, keyward.Invalidation{Kind: keyward.InvalidateAccount, ID: "acc_1"})
	}); err != nil {
		t.Fatal(err)
	}
	rb.wait(t, "account invalidation", func(inv keyward.Invalidation) bool { return inv.ID == "acc_1" })
	if !b.FeedHealthy() {
		t.Fatal("feed unhealthy before anything went wrong")
	}
	confirmed := b.FeedConfirmedAt()
	if time.Since(confirmed) > 500*time.Millisecond {
		t.Errorf("feed last confirmed %v ago, want within a poll", time.Since(confirmed))
	}
	schema := ftTableSQL(t, a)
	if _, err := a.WriteDB().ExecContext(ctx, `DROP TABLE invalidations`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * ftBound)
	for b.FeedHealthy() {
		if time.Now().After(deadline) {
			t.Fatal("the feed still reports healthy 2s after its polls began to fail")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b.FeedConfirmedAt().After(time.Now().Add(-time.Second)) {
		t.Errorf("unhealthy feed confirmed at %v", b.FeedConfirmedAt())
	}
	for _, q := range schema {
		if _, err := a.WriteDB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	rb.wait(t, "flush after the feed started over", ftIsAll)
	deadline = time.Now().Add(2 * ftBound)
	for !b.FeedHealthy() {
		if time.Now().After(deadline) {
			t.Fatal("the feed did not recover")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And it carries changes again.
	inv := keyward.Invalidation{Kind: keyward.InvalidateOwner, ID: "usr_1", Account: "acc_1"}
	if err := a.Write(ctx, func(tx keyward.Tx) error { return tx.(*sqlstore.Tx).Invalidate(ctx, inv) }); err != nil {
		t.Fatal(err)
	}
	rb.wait(t, "owner invalidation after recovery", func(got keyward.Invalidation) bool { return got == inv })
}

// ftTableSQL returns the statements that create the feed's table and its
// indexes.
func ftTableSQL(t *testing.T, db *sqlite.DB) []string {
	t.Helper()
	out := keywardtest.Column[string](t, db.WriteDB(), `SELECT sql FROM sqlite_master WHERE tbl_name = 'invalidations' AND sql IS NOT NULL ORDER BY type = 'index'`)
	if len(out) == 0 {
		t.Fatal("no invalidations table")
	}
	return out
}

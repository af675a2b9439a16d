package postgres_test

// PostgreSQL outage (issue 4 item 5) at the store and service levels. The
// real server is shared by every package's tests, so an outage is a TCP
// proxy (pgtest.Proxy) between keyward and PostgreSQL that drops every
// connection and refuses new ones (Cut), then listens again (Restore).

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlstore"
)

// otOpen opens a store on url, closed when the test ends.
func otOpen(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: 4, MinConns: 1, ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// otWaitFor polls cond every 10 ms until it holds and returns how long that
// took; it fails the test if it does not hold within timeout.
func otWaitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// otInvalidations records every invalidation a store delivers, with its time.
type otInvalidations struct {
	mu  sync.Mutex
	got []otInvalidation
}

type otInvalidation struct {
	at  time.Time
	inv keyward.Invalidation
}

func otSubscribe(s keyward.Store) *otInvalidations {
	r := &otInvalidations{}
	s.Subscribe(func(inv keyward.Invalidation) {
		r.mu.Lock()
		r.got = append(r.got, otInvalidation{time.Now(), inv})
		r.mu.Unlock()
	})
	return r
}

// allSince returns the time of the first InvalidateAll delivered at or
// after t, if any.
func (r *otInvalidations) allSince(t time.Time) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.got {
		if g.inv.Kind == keyward.InvalidateAll && !g.at.Before(t) {
			return g.at, true
		}
	}
	return time.Time{}, false
}

// otStoreOps are the store operations checked during an outage.
func otStoreOps(db keyward.Store) []struct {
	name string
	run  func(ctx context.Context) error
} {
	return []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"Ping", db.Ping},
		{"Read", func(ctx context.Context) error {
			return db.Read(ctx, func(tx keyward.Tx) error {
				_, _, err := tx.ListAccounts(ctx, &keyward.AccountFilter{Page: keyward.Page{Limit: 1}})
				return err
			})
		}},
		{"Write", func(ctx context.Context) error {
			return db.Write(ctx, func(tx keyward.Tx) error {
				if _, _, err := tx.ListAccounts(ctx, &keyward.AccountFilter{Page: keyward.Page{Limit: 1}}); err != nil {
					return err
				}
				return tx.(*sqlstore.Tx).Invalidate(ctx, keyward.Invalidation{Kind: keyward.InvalidateKey, ID: "key_outage_test"})
			})
		}},
	}
}

// TestOutageStore cuts the database under a store: Ping, Read and Write
// fail with unavailable (each several times: first on pooled connections
// the cut dropped, then on refused new ones), the feed turns unhealthy and
// stays so while the database is away; when it returns the feed reconnects
// by itself, flushes subscribers (InvalidateAll) and reports healthy, and
// every operation works again.
func TestOutageStore(t *testing.T) {
	px, url := pgtest.ProxyURL(t, pgtest.URL(t))
	db := otOpen(t, url)
	invs := otSubscribe(db)
	otWaitFor(t, 10*time.Second, "feed healthy after Open", db.FeedHealthy)
	for _, op := range otStoreOps(db) {
		if err := op.run(context.Background()); err != nil {
			t.Fatalf("%s before the cut: %v", op.name, err)
		}
	}

	cut := time.Now()
	dropped := px.Cut()
	t.Logf("cut: %d connections dropped, new ones refused", dropped)

	for round := 1; round <= 3; round++ {
		for _, op := range otStoreOps(db) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			start := time.Now()
			err := op.run(ctx)
			cancel()
			if code := keyward.ErrorCode(err); code != keyward.ECodeUnavailable {
				t.Errorf("%s during the outage (round %d): error %v (code %q), want code %q", op.name, round, err, code, keyward.ECodeUnavailable)
			} else {
				t.Logf("%s during the outage (round %d): unavailable after %v", op.name, round, time.Since(start).Round(time.Millisecond))
			}
		}
	}

	otWaitFor(t, 3500*time.Millisecond-time.Since(cut), "FeedHealthy false after the cut", func() bool { return !db.FeedHealthy() })
	t.Logf("feed unhealthy %v after the cut", time.Since(cut).Round(time.Millisecond))
	// While the database is away the feed must not claim health (its
	// listener cannot be listening).
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if db.FeedHealthy() {
			t.Fatalf("FeedHealthy true %v after the cut, with the database unreachable", time.Since(cut))
		}
	}

	restored := time.Now()
	px.Restore()
	otWaitFor(t, 10*time.Second, "InvalidateAll delivered after the database returned", func() bool {
		_, ok := invs.allSince(restored)
		return ok
	})
	flushed, _ := invs.allSince(restored)
	otWaitFor(t, 5*time.Second, "FeedHealthy true after the flush", db.FeedHealthy)
	t.Logf("database back: InvalidateAll delivered %v after the restore, feed healthy %v after the restore",
		flushed.Sub(restored).Round(time.Millisecond), time.Since(restored).Round(time.Millisecond))

	var pingErr error
	d := otWaitFor(t, 5*time.Second, "Ping succeeds after the database returned", func() bool {
		pingErr = db.Ping(context.Background())
		return pingErr == nil
	})
	t.Logf("Ping succeeds %v after the feed recovered (%v after the restore)", d.Round(time.Millisecond), time.Since(restored).Round(time.Millisecond))
	for _, op := range otStoreOps(db) {
		if err := op.run(context.Background()); err != nil {
			t.Errorf("%s after the database returned: %v", op.name, err)
		}
	}
}

// otNode is one keyward service (a node) on a store.
type otNode struct {
	t   *testing.T
	db  *postgres.DB
	svc *service.Service
	op  *keyward.Actor
}

func otNewNode(t *testing.T, url string, grace time.Duration, bootstrap bool) (*otNode, keyward.Token) {
	t.Helper()
	db := otOpen(t, url)
	svc := service.New(service.Options{Store: db, OutageGrace: grace})
	t.Cleanup(func() { svc.Close(context.Background()) })
	var tok keyward.Token
	if bootstrap {
		_, op, err := svc.Bootstrap(context.Background())
		if err != nil {
			t.Fatalf("bootstrap: %v", err)
		}
		tok = op
	}
	return &otNode{t: t, db: db, svc: svc}, tok
}

func (n *otNode) login(tok keyward.Token) {
	n.t.Helper()
	a, err := n.svc.Authenticate(context.Background(), service.Credential{Token: tok, ClientIP: "127.0.0.1"})
	if err != nil {
		n.t.Fatalf("authenticate: %v", err)
	}
	n.op = a
}

func (n *otNode) createKey(name string) (*keyward.Key, keyward.Token, error) {
	return n.svc.CreateKey(context.Background(), n.op, keyward.KindAPI, &keyward.KeyFields{Name: keyward.Some(name)})
}

func (n *otNode) mustCreateKey(name string) (*keyward.Key, keyward.Token) {
	n.t.Helper()
	k, tok, err := n.createKey(name)
	if err != nil {
		n.t.Fatalf("create key %s: %v", name, err)
	}
	return k, tok
}

func (n *otNode) verify(tok keyward.Token) (*keyward.VerifyResult, error) {
	res, err := n.svc.Verify(context.Background(), n.op, &keyward.VerifyRequest{Key: keyward.Some(tok)})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// otOutcome is what a verification answered: a verification code, or the
// error code when it failed.
func otOutcome(res *keyward.VerifyResult, err error) string {
	if err != nil {
		return "error:" + string(keyward.ErrorCode(err))
	}
	return string(res.Code)
}

// TestOutageServiceVerifyGrace checks the outage rules of verification in
// the service, on two nodes sharing one schema: A reaches PostgreSQL
// through the proxy, B directly. Before the cut A caches keys K and V as
// VALID; during the cut B revokes K. A answers VALID for both until the
// grace (measured from when its feed was last healthy) and unavailable
// after it, never REVOKED nor VALID late; a token A never saw is
// unavailable; a bad checksum is NOT_FOUND without a lookup; writes, reads
// and readiness fail with unavailable. When the database
// returns A recovers without restart: K is REVOKED (the cache was
// flushed), keys created meanwhile work, writes work.
func TestOutageServiceVerifyGrace(t *testing.T) {
	const grace = 2 * time.Second
	const margin = 500 * time.Millisecond
	url := pgtest.URL(t)
	px, proxied := pgtest.ProxyURL(t, url)
	a, opTok := otNewNode(t, proxied, grace, true)
	b, _ := otNewNode(t, url, 0, false)
	a.login(opTok)
	b.login(opTok)
	otWaitFor(t, 10*time.Second, "A's feed healthy", a.db.FeedHealthy)

	kKey, kTok := a.mustCreateKey("K")
	_, vTok := a.mustCreateKey("V")
	_, uTok := a.mustCreateKey("U, never verified on A before the cut")
	badChecksum := keywardtest.BadChecksum(vTok)
	for _, tok := range []keyward.Token{kTok, vTok} {
		if res, err := a.verify(tok); err != nil || !res.Valid {
			t.Fatalf("verify on A before the cut: %s, want VALID", otOutcome(res, err))
		}
	}
	// The last verification with a healthy feed: A's grace starts between
	// here and the cut.
	lastHealthy := time.Now()
	if res, err := a.verify(vTok); err != nil || !res.Valid {
		t.Fatalf("verify on A before the cut: %s, want VALID", otOutcome(res, err))
	}
	cut := time.Now()
	px.Cut()

	// Everything that needs the database fails with unavailable.
	ctx := context.Background()
	checks := []struct {
		name string
		err  func() error
	}{
		{"Ready", func() error { return a.svc.Ready(ctx) }},
		{"CreateKey", func() error { _, _, err := a.createKey("during the outage"); return err }},
		{"GetKey", func() error { _, err := a.svc.GetKey(ctx, a.op, keyward.KindAPI, kKey.ID); return err }},
		{"Verify of a token never seen", func() error { _, err := a.verify(uTok); return err }},
	}
	for _, c := range checks {
		if err := c.err(); keyward.ErrorCode(err) != keyward.ECodeUnavailable {
			t.Errorf("%s on A during the outage: %v, want code %q", c.name, err, keyward.ECodeUnavailable)
		}
	}
	if res, err := a.verify(badChecksum); err != nil || res.Code != keyward.VerifyNotFound {
		t.Errorf("verify of a bad checksum on A during the outage: %s, want NOT_FOUND (rejected before any lookup)", otOutcome(res, err))
	}

	// B, which still reaches the database, revokes K.
	if _, err := b.svc.UpdateKey(ctx, b.op, keyward.KindAPI, kKey.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)}, ""); err != nil {
		t.Fatalf("revoke K through B: %v", err)
	}
	if res, err := b.verify(kTok); err != nil || res.Code != keyward.VerifyRevoked {
		t.Fatalf("verify K on B after the revocation: %s, want REVOKED", otOutcome(res, err))
	}
	revoked := time.Now()

	// Probe A every 20 ms until well past the grace.
	type probe struct {
		start, end time.Time
		key        string
		outcome    string
	}
	var probes []probe
	for time.Since(cut) < grace+3*margin {
		for _, k := range []struct {
			name string
			tok  keyward.Token
		}{{"K", kTok}, {"V", vTok}} {
			start := time.Now()
			res, err := a.verify(k.tok)
			probes = append(probes, probe{start, time.Now(), k.name, otOutcome(res, err)})
		}
		time.Sleep(20 * time.Millisecond)
	}
	var lastValid time.Duration
	var inGrace, after, staleK int
	for _, p := range probes {
		switch {
		case p.end.Before(lastHealthy.Add(grace - margin)):
			inGrace++
			if p.outcome != string(keyward.VerifyValid) {
				t.Errorf("verify %s on A %v after the cut (within the grace of %v): %s, want VALID from the cache",
					p.key, p.start.Sub(cut).Round(time.Millisecond), grace, p.outcome)
			}
			if p.key == "K" && p.start.After(revoked) && p.outcome == string(keyward.VerifyValid) {
				staleK++
			}
		case p.start.After(cut.Add(grace + margin)):
			after++
			if p.outcome != "error:"+string(keyward.ECodeUnavailable) {
				t.Errorf("verify %s on A %v after the cut (past the grace of %v): %s, want unavailable",
					p.key, p.start.Sub(cut).Round(time.Millisecond), grace, p.outcome)
			}
		}
		if p.outcome == string(keyward.VerifyValid) {
			lastValid = p.end.Sub(cut)
		}
		if p.outcome == string(keyward.VerifyRevoked) {
			t.Errorf("verify %s on A during the outage answered REVOKED: A cannot know that without the database", p.key)
		}
	}
	if inGrace == 0 || after == 0 {
		t.Fatalf("probes: %d within the grace, %d after it; want some of each", inGrace, after)
	}
	t.Logf("outage with grace %v: last VALID answer %v after the cut; K (revoked through B %v after the cut) still VALID on A in %d probes (documented staleness, bounded by the grace); %d probes past the grace all unavailable",
		grace, lastValid.Round(time.Millisecond), revoked.Sub(cut).Round(time.Millisecond), staleK, after)

	// Changes B makes meanwhile.
	_, wTok := b.mustCreateKey("W, created during the outage")

	restored := time.Now()
	px.Restore()
	var readyErr error
	d := otWaitFor(t, 10*time.Second, "A ready after the database returned", func() bool {
		readyErr = a.svc.Ready(ctx)
		return readyErr == nil
	})
	t.Logf("A ready %v after the restore", d.Round(time.Millisecond))
	// Until its feed is back A reads the database; either way K must be
	// REVOKED from now on, never VALID.
	for time.Since(restored) < 6*time.Second {
		res, err := a.verify(kTok)
		if err == nil && res.Valid {
			t.Fatalf("verify K on A %v after the database returned: VALID, want REVOKED", time.Since(restored))
		}
		if err == nil && res.Code == keyward.VerifyRevoked && a.db.FeedHealthy() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("A's feed healthy %v after the restore", time.Since(restored).Round(time.Millisecond))
	for _, c := range []struct {
		name string
		tok  keyward.Token
		want keyward.VerifyCode
	}{{"K", kTok, keyward.VerifyRevoked}, {"V", vTok, keyward.VerifyValid}, {"U", uTok, keyward.VerifyValid}, {"W", wTok, keyward.VerifyValid}} {
		for i := 0; i < 2; i++ { // a read, then the cache
			if res, err := a.verify(c.tok); err != nil || res.Code != c.want {
				t.Errorf("verify %s on A after recovery (#%d): %s, want %s", c.name, i+1, otOutcome(res, err), c.want)
			}
		}
	}
	_, nTok, err := a.createKey("after the outage")
	if err != nil {
		t.Fatalf("create a key on A after recovery: %v", err)
	}
	for _, n := range []*otNode{a, b} {
		if res, err := n.verify(nTok); err != nil || !res.Valid {
			t.Errorf("verify the key created on A after recovery: %s, want VALID", otOutcome(res, err))
		}
	}
}

// TestOutagePartition is the other way a database goes away: a network
// partition, where connections stay open but nothing comes back and new
// ones hang (pgtest.Proxy.Freeze). Node A must still answer: VALID from
// its cache for a key it verified before, no later than the documented
// bound (the grace after the feed was last seen healthy, which a partition
// can delay by the 3-second feed check), then unavailable; management
// operations and readiness must fail with unavailable within a bounded
// time rather than hang. After the partition heals A recovers.
func TestOutagePartition(t *testing.T) {
	const grace = 2 * time.Second
	const feedCheck = 3 * time.Second // postgres.feedStaleAfter
	const margin = 500 * time.Millisecond
	const answerWithin = 4 * time.Second // a verification must answer within this
	const opsWithin = 15 * time.Second   // connect timeout (2s) + statement timeout (10s) + slack
	px, proxied := pgtest.ProxyURL(t, pgtest.URL(t))
	a, opTok := otNewNode(t, proxied, grace, true)
	a.login(opTok)
	otWaitFor(t, 10*time.Second, "A's feed healthy", a.db.FeedHealthy)
	vKey, vTok := a.mustCreateKey("V")
	if res, err := a.verify(vTok); err != nil || !res.Valid {
		t.Fatalf("verify V on A before the partition: %s, want VALID", otOutcome(res, err))
	}

	frozen := time.Now()
	px.Freeze()
	// Thawed by the end of the test whatever happens, so blocked calls end.
	t.Cleanup(px.Thaw)

	// Management operations and readiness, concurrently with the probes.
	ctx := context.Background()
	type opResult struct {
		name string
		err  error
		took time.Duration
	}
	ops := []struct {
		name string
		run  func() error
	}{
		{"Ready", func() error { return a.svc.Ready(ctx) }},
		{"CreateKey", func() error { _, _, err := a.createKey("during the partition"); return err }},
		{"GetKey", func() error { _, err := a.svc.GetKey(ctx, a.op, keyward.KindAPI, vKey.ID); return err }},
	}
	opResults := make(chan opResult, len(ops))
	for _, op := range ops {
		go func() {
			start := time.Now()
			err := op.run()
			opResults <- opResult{op.name, err, time.Since(start)}
		}()
	}

	type probe struct {
		start   time.Duration // since the partition began
		took    time.Duration
		outcome string
	}
	var probes []probe
	hung := false
	for time.Since(frozen) < grace+feedCheck+3*margin {
		start := time.Now()
		done := make(chan string, 1)
		go func() { done <- otOutcome(a.verify(vTok)) }()
		select {
		case out := <-done:
			probes = append(probes, probe{start.Sub(frozen), time.Since(start), out})
		case <-time.After(answerWithin):
			t.Errorf("verify V on A %v into the partition: no answer within %v (a verification must answer VALID from the cache or fail with unavailable, not hang)",
				start.Sub(frozen).Round(time.Millisecond), answerWithin)
			hung = true
		}
		if hung {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var lastValid time.Duration
	for _, p := range probes {
		switch {
		case p.outcome == string(keyward.VerifyValid):
			lastValid = p.start + p.took
			if p.start > grace+feedCheck+margin {
				t.Errorf("verify V on A %v into the partition: VALID, past the documented bound (grace %v + feed check %v)", p.start.Round(time.Millisecond), grace, feedCheck)
			}
		case p.outcome != "error:"+string(keyward.ECodeUnavailable):
			t.Errorf("verify V on A %v into the partition: %s, want VALID (within the grace) or unavailable", p.start.Round(time.Millisecond), p.outcome)
		}
	}
	if t.Failed() {
		for _, p := range probes {
			t.Logf("probe at %v: %s after %v", p.start.Round(time.Millisecond), p.outcome, p.took.Round(time.Millisecond))
		}
	}
	if len(probes) > 0 {
		t.Logf("partition: %d verifications answered, the last VALID %v into it, the slowest took %v", len(probes), lastValid.Round(time.Millisecond),
			otSlowest(probes, func(p probe) time.Duration { return p.took }).Round(time.Millisecond))
	}

	deadline := time.After(time.Until(frozen.Add(opsWithin)))
	for range ops {
		select {
		case r := <-opResults:
			if keyward.ErrorCode(r.err) != keyward.ECodeUnavailable {
				t.Errorf("%s on A during the partition: %v after %v, want code %q", r.name, r.err, r.took.Round(time.Millisecond), keyward.ECodeUnavailable)
			} else {
				t.Logf("%s on A during the partition: unavailable after %v", r.name, r.took.Round(time.Millisecond))
			}
		case <-deadline:
			t.Errorf("a management operation or readiness check on A has not answered %v into the partition (it hangs instead of failing with unavailable)", opsWithin)
			deadline = nil // report once; the others are not waited for
		}
		if deadline == nil {
			break
		}
	}

	thawed := time.Now()
	px.Thaw()
	var readyErr error
	d := otWaitFor(t, 15*time.Second, "A ready after the partition healed", func() bool {
		readyErr = a.svc.Ready(ctx)
		return readyErr == nil
	})
	otWaitFor(t, 10*time.Second, "A's feed healthy after the partition healed", a.db.FeedHealthy)
	t.Logf("partition healed: A ready %v and its feed healthy %v after it", d.Round(time.Millisecond), time.Since(thawed).Round(time.Millisecond))
	if res, err := a.verify(vTok); err != nil || !res.Valid {
		t.Errorf("verify V on A after the partition: %s, want VALID", otOutcome(res, err))
	}
	if _, _, err := a.createKey("after the partition"); err != nil {
		t.Errorf("create a key on A after the partition: %v", err)
	}
}

func otSlowest[T any](xs []T, f func(T) time.Duration) time.Duration {
	var m time.Duration
	for _, x := range xs {
		m = max(m, f(x))
	}
	return m
}

package main

// PostgreSQL outage with the real binary (issue 4 item 5). Stopping the
// shared PostgreSQL server would break the other packages' tests, so node A
// reaches it through a TCP proxy (pgtest.Proxy): Cut drops every connection
// and refuses new ones, Restore listens again on the same port. Node B
// reaches PostgreSQL directly and makes changes while A is cut off.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/postgres/pgtest"
)

// otGrace is node A's --outage-grace: short, so the tests stay short.
const otGrace = 3 * time.Second

// otMargin separates the assertions from the grace boundary on both sides.
const otMargin = time.Second

// otNodes starts node A on the proxy and, if withB, node B directly on the
// same schema. A bootstraps; the operator key works on both.
func otNodes(t *testing.T, withB bool) (px *pgtest.Proxy, a, b *btProc, op string) {
	t.Helper()
	url := pgtest.URL(t)
	px, proxied := pgtest.ProxyURL(t, url)
	a = btServe(t, btOpts{Args: btServeArgs(t.TempDir(), "--database", proxied,
		"--outage-grace", otGrace.String(), "--db-connect-timeout", "2s")})
	a.waitLine(15*time.Second, func(l string) bool { return strings.Contains(l, "invalidation feed up") })
	op = a.operatorToken()
	if withB {
		b = btServe(t, btOpts{Args: btServeArgs(t.TempDir(), "--database", url)})
	}
	return px, a, b, op
}

// otCreateKey creates an API key through p and returns its id and secret.
func otCreateKey(p *btProc, op, name string) (string, string) {
	p.t.Helper()
	k := p.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": name})
	id, _ := k["id"].(string)
	secret, _ := k["secret"].(string)
	if id == "" || secret == "" {
		p.t.Fatalf("POST /v1/keys answered no id or secret: %v", k)
	}
	return id, secret
}

// otCall is one request made during a test, as answered.
type otCall struct {
	kind       string // verify, write, read, readyz, healthz, probe-K…
	start, end time.Time
	status     int
	code       string // the verification code (200 on verify) or the problem's code
	retryAfter string
	body       string
	err        error
}

func (c otCall) String() string {
	if c.err != nil {
		return fmt.Sprintf("%s: transport error %v", c.kind, c.err)
	}
	return fmt.Sprintf("%s: %d %s", c.kind, c.status, c.code)
}

// otRecorder collects calls from many goroutines.
type otRecorder struct {
	mu    sync.Mutex
	calls []otCall
}

func (r *otRecorder) add(c otCall) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

func (r *otRecorder) all() []otCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]otCall(nil), r.calls...)
}

// otDo sends one request through p and records it as kind.
func otDo(r *otRecorder, p *btProc, kind, method, path, token string, body any) otCall {
	c := otCall{kind: kind, start: time.Now()}
	res, err := p.do(method, path, token, body)
	c.end = time.Now()
	if err != nil {
		c.err = err
	} else {
		c.status, c.body, c.retryAfter = res.Status, string(res.Body), res.Header.Get("Retry-After")
		var m struct {
			Code string `json:"code"`
		}
		json.Unmarshal(res.Body, &m)
		c.code = m.Code
	}
	if r != nil {
		r.add(c)
	}
	return c
}

// otVerify verifies secret through p.
func otVerify(r *otRecorder, p *btProc, kind, op, secret string) otCall {
	return otDo(r, p, kind, "POST", "/v1/keys/verify", op, map[string]any{"key": secret})
}

// otLoad runs load against p until the returned stop function is called:
// one goroutine per secret verifying it, two creating keys, one listing
// keys, one polling /readyz and /healthz. stop returns every call made; it
// also runs when the test ends.
func otLoad(t *testing.T, p *btProc, op string, secrets []string) (stop func() []otCall) {
	rec := &otRecorder{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	loop := func(pause time.Duration, f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				f(i)
				time.Sleep(pause) // pacing, so 2 CPUs are not saturated
			}
		}()
	}
	for _, s := range secrets {
		loop(5*time.Millisecond, func(int) { otVerify(rec, p, "verify", op, s) })
	}
	for w := 0; w < 2; w++ {
		loop(20*time.Millisecond, func(i int) {
			otDo(rec, p, "write", "POST", "/v1/keys", op, map[string]any{"name": fmt.Sprintf("load %d", i)})
		})
	}
	loop(20*time.Millisecond, func(int) { otDo(rec, p, "read", "GET", "/v1/keys?limit=1", op, nil) })
	loop(50*time.Millisecond, func(int) {
		otDo(rec, p, "readyz", "GET", "/readyz", "", nil)
		otDo(rec, p, "healthz", "GET", "/healthz", "", nil)
	})
	var once sync.Once
	stop = func() []otCall {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
		return rec.all()
	}
	t.Cleanup(func() { stop() })
	return stop
}

// otCheckStatuses fails for transport errors, for statuses a kind must never
// answer (500 above all) and for a 503 that is not a proper unavailable
// problem with Retry-After.
func otCheckStatuses(t *testing.T, calls []otCall) {
	t.Helper()
	allowed := map[string][]int{
		"verify": {200, 503}, "write": {201, 503}, "read": {200, 503}, "readyz": {200, 503}, "healthz": {200},
	}
	bad := 0
	for _, c := range calls {
		ok := c.err == nil && slices.Contains(allowed[c.kind], c.status)
		if !ok || (c.status == http.StatusServiceUnavailable && (c.code != "unavailable" || otRetryAfter(c.retryAfter) < 1)) {
			if bad++; bad <= 10 {
				t.Errorf("%s at %s: %v, Retry-After %q, body %s", c.kind, c.start.Format("15:04:05.000"), c, c.retryAfter, c.body)
			}
		}
	}
	if bad > 10 {
		t.Errorf("… %d such calls in all", bad)
	}
}

func otRetryAfter(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}

// otWindow checks every call of kind made entirely within [from, to): each
// must satisfy want. It fails if there was none, and returns how many there
// were and how many were right.
func otWindow(t *testing.T, calls []otCall, kind, what string, from, to time.Time, want func(otCall) bool) (n, right int) {
	t.Helper()
	bad := 0
	for _, c := range calls {
		if c.kind != kind || c.start.Before(from) || !c.end.Before(to) {
			continue
		}
		n++
		if !want(c) {
			if bad++; bad <= 5 {
				t.Errorf("%s %s: %v, body %s", kind, what, c, c.body)
			}
		}
	}
	if bad > 5 {
		t.Errorf("%s %s: %d of %d calls wrong", kind, what, bad, n)
	}
	if n == 0 {
		t.Errorf("%s %s: no call in that window (the load did not run?)", kind, what)
	}
	return n, n - bad
}

func otIs(status int, code string) func(otCall) bool {
	return func(c otCall) bool { return c.err == nil && c.status == status && c.code == code }
}

// otWaitReady polls GET /readyz on p until it answers 200 and returns when.
func otWaitReady(t *testing.T, p *btProc, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c := otDo(nil, p, "readyz", "GET", "/readyz", "", nil)
		if c.err == nil && c.status == http.StatusOK {
			return c.end
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /readyz on node A: %v, still not 200 %v after the database returned", c, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// otFirst returns the start of the first call of kind started after t that matches.
func otFirst(calls []otCall, kind string, after time.Time, match func(otCall) bool) (time.Time, bool) {
	var first time.Time
	for _, c := range calls {
		if c.kind == kind && c.start.After(after) && match(c) && (first.IsZero() || c.start.Before(first)) {
			first = c.start
		}
	}
	return first, !first.IsZero()
}

// TestOutageEndToEnd cuts node A's database under load, then restores it
// (issue 4 item 5). During the cut: management writes and reads answer
// 503 unavailable with Retry-After, never 500; /readyz 503 and /healthz
// 200; keys A verified VALID just before the cut keep answering VALID for
// the grace and 503 after it; a token A never saw is 503, a bad checksum
// NOT_FOUND. Key K, cached VALID on A, is revoked through node B during the
// cut: A may answer VALID for it within the grace (the documented bound on
// staleness), never after. When the database returns A recovers without a
// restart: ready again, writes succeed, K is REVOKED, new keys work.
func TestOutageEndToEnd(t *testing.T) {
	px, a, b, op := otNodes(t, true)
	kID, kSecret := otCreateKey(a, op, "K")
	var secrets []string
	for i := 0; i < 3; i++ {
		_, s := otCreateKey(a, op, fmt.Sprintf("V%d", i))
		secrets = append(secrets, s)
	}
	for _, s := range append([]string{kSecret}, secrets...) {
		if v := a.verify(op, s); v["code"] != "VALID" {
			t.Fatalf("verify on A before the cut: %v, want VALID", v)
		}
	}

	stop := otLoad(t, a, op, secrets)
	time.Sleep(time.Second) // load with the database up
	lastHealthy := time.Now()
	if v := a.verify(op, kSecret); v["code"] != "VALID" {
		stop()
		t.Fatalf("verify K on A just before the cut: %v, want VALID", v)
	}
	cut := time.Now()
	dropped := px.Cut()
	cutDone := time.Now()

	// Node B still reaches PostgreSQL: it revokes K and creates U.
	b.must(http.StatusOK, "PATCH", "/v1/keys/"+kID, op, map[string]any{"status": "revoked"})
	if v := b.verify(op, kSecret); v["code"] != "REVOKED" {
		t.Errorf("verify K on B after revoking it: %v, want REVOKED", v)
	}
	revoked := time.Now()
	_, uSecret := otCreateKey(b, op, "U, created while A is cut off")

	probes := &otRecorder{}
	time.Sleep(time.Until(cut.Add(500 * time.Millisecond)))
	otVerify(probes, a, "K", op, kSecret)
	otVerify(probes, a, "never seen", op, uSecret)
	otVerify(probes, a, "bad checksum", op, keywardtest.BadChecksum(keyward.TokenFromString(secrets[0])).Reveal())
	for time.Since(cut) < otGrace+2*otMargin {
		otVerify(probes, a, "K", op, kSecret)
		time.Sleep(100 * time.Millisecond)
	}

	restored := time.Now()
	px.Restore()
	ready := otWaitReady(t, a, 15*time.Second)
	// K must never be VALID again on A: REVOKED once A reads the database.
	var kRevokedAt time.Time
	for deadline := time.Now().Add(10 * time.Second); kRevokedAt.IsZero(); {
		c := otVerify(probes, a, "K after restore", op, kSecret)
		switch {
		case c.err == nil && c.status == 200 && c.code == "REVOKED":
			kRevokedAt = c.end
		case time.Now().After(deadline):
			t.Errorf("verify K on A: %v, still not REVOKED 10s after the database returned", c)
			kRevokedAt = time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Writes succeed again (the first may still meet a connection that died).
	var newSecret string
	for deadline := time.Now().Add(10 * time.Second); newSecret == ""; {
		res, err := a.do("POST", "/v1/keys", op, map[string]any{"name": "after the outage"})
		if err == nil && res.Status == http.StatusCreated {
			var k struct {
				Secret string `json:"secret"`
			}
			json.Unmarshal(res.Body, &k)
			newSecret = k.Secret
			break
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("POST /v1/keys on A: %v %v, still failing 10s after the database returned", err, res)
		}
		time.Sleep(50 * time.Millisecond)
	}
	writable := time.Now()
	time.Sleep(2 * time.Second) // the load runs on the recovered node
	calls := stop()

	for _, c := range []struct{ name, secret string }{{"the key created after the outage", newSecret}, {"U", uSecret}} {
		for _, n := range []*btProc{a, b} {
			if v := n.verify(op, c.secret); v["code"] != "VALID" {
				t.Errorf("verify %s on %s after recovery: %v, want VALID", c.name, n.Addr, v)
			}
		}
	}
	for _, s := range secrets {
		if v := a.verify(op, s); v["code"] != "VALID" {
			t.Errorf("verify a load key on A after recovery: %v, want VALID", v)
		}
	}
	if v := a.verify(op, kSecret); v["code"] != "REVOKED" {
		t.Errorf("verify K on A after recovery: %v, want REVOKED", v)
	}

	// The load: nothing but the allowed answers, every 503 a proper one.
	otCheckStatuses(t, calls)
	unavailable := otIs(http.StatusServiceUnavailable, "unavailable")
	otWindow(t, calls, "verify", "before the cut", time.Time{}, cut, otIs(http.StatusOK, "VALID"))
	otWindow(t, calls, "write", "before the cut", time.Time{}, cut, otIs(http.StatusCreated, ""))
	otWindow(t, calls, "readyz", "before the cut", time.Time{}, cut, otIs(http.StatusOK, ""))
	nw, nwOK := otWindow(t, calls, "write", "during the outage", cutDone, restored, unavailable)
	nr, nrOK := otWindow(t, calls, "read", "during the outage", cutDone, restored, unavailable)
	ny, nyOK := otWindow(t, calls, "readyz", "during the outage", cutDone, restored, unavailable)
	otWindow(t, calls, "healthz", "at any time", time.Time{}, time.Now(), otIs(http.StatusOK, ""))
	nvIn, nvInOK := otWindow(t, calls, "verify", "of a cached key within the grace", cutDone, lastHealthy.Add(otGrace-otMargin), otIs(http.StatusOK, "VALID"))
	nvOut, nvOutOK := otWindow(t, calls, "verify", "of a cached key past the grace", cut.Add(otGrace+otMargin), restored, unavailable)
	otWindow(t, calls, "write", "once A is writable again", writable, time.Now(), otIs(http.StatusCreated, ""))
	otWindow(t, calls, "read", "once A is writable again", writable, time.Now(), otIs(http.StatusOK, ""))
	otWindow(t, calls, "verify", "once A is writable again", writable, time.Now(), otIs(http.StatusOK, "VALID"))

	// The probes of A while it is cut off.
	pr := probes.all()
	var kStale, kIn, kInBad, kOut, kOutBad int
	var kLastValid time.Duration
	for _, c := range pr {
		switch {
		case c.kind == "never seen":
			if !unavailable(c) {
				t.Errorf("verify of a token A never saw, during the outage: %v, want 503 unavailable; body %s", c, c.body)
			}
		case c.kind == "bad checksum":
			if !otIs(http.StatusOK, "NOT_FOUND")(c) {
				t.Errorf("verify of a bad checksum during the outage: %v, want 200 NOT_FOUND (no lookup needed); body %s", c, c.body)
			}
		case c.kind == "K" && c.end.Before(lastHealthy.Add(otGrace-otMargin)):
			// Revoked through B, but A cannot know: VALID from the cache
			// within the grace is the documented staleness.
			if kIn++; !otIs(http.StatusOK, "VALID")(c) {
				if kInBad++; kInBad <= 3 {
					t.Errorf("verify K on A %v after the cut (within the grace): %v, want VALID from the cache; body %s",
						c.start.Sub(cut).Round(time.Millisecond), c, c.body)
				}
			}
		case c.kind == "K" && c.start.After(cut.Add(otGrace+otMargin)):
			if kOut++; !unavailable(c) {
				if kOutBad++; kOutBad <= 3 {
					t.Errorf("verify K on A %v after the cut (past the grace of %v): %v, want 503 unavailable; body %s",
						c.start.Sub(cut).Round(time.Millisecond), otGrace, c, c.body)
				}
			}
		case c.kind == "K after restore" && c.code == "VALID":
			t.Errorf("verify K on A %v after the database returned: VALID, but B revoked it", c.start.Sub(restored).Round(time.Millisecond))
		}
		if c.kind == "K" && c.code == "VALID" {
			kLastValid = c.end.Sub(cut)
			if c.start.After(revoked) {
				kStale++
			}
		}
	}
	if kInBad > 0 || kOutBad > 0 {
		t.Errorf("probes of K on A: %d of %d within the grace not VALID, %d of %d past it not 503", kInBad, kIn, kOutBad, kOut)
	}
	if kIn == 0 || kOut == 0 {
		t.Errorf("probes of K on A: %d within the grace, %d past it; want some of each", kIn, kOut)
	}

	first503, _ := otFirst(calls, "write", cut, unavailable)
	firstVerify503, _ := otFirst(calls, "verify", cut, unavailable)
	t.Logf("cut at +0 (%d connections dropped); first 503 write at %v; during the outage %d/%d writes, %d/%d reads, %d/%d /readyz answered 503",
		dropped, first503.Sub(cut).Round(time.Millisecond), nwOK, nw, nrOK, nr, nyOK, ny)
	t.Logf("grace %v: %d/%d verifications of cached keys VALID within it; first 503 verification at %v; %d/%d verifications past it 503",
		otGrace, nvInOK, nvIn, firstVerify503.Sub(cut).Round(time.Millisecond), nvOutOK, nvOut)
	t.Logf("K revoked through B at %v: A answered VALID for it %d times after that, the last at %v (bound: the grace, %v)",
		revoked.Sub(cut).Round(time.Millisecond), kStale, kLastValid.Round(time.Millisecond), otGrace)
	t.Logf("restored at %v: /readyz 200 after %v, K REVOKED on A after %v, writes succeed after %v",
		restored.Sub(cut).Round(time.Millisecond), ready.Sub(restored).Round(time.Millisecond),
		kRevokedAt.Sub(restored).Round(time.Millisecond), writable.Sub(restored).Round(time.Millisecond))
}

// TestOutageShorterThanGrace cuts the database for less than the grace
// under load: writes answer 503 while it is away and succeed after, and
// verifications of cached keys never fail.
func TestOutageShorterThanGrace(t *testing.T) {
	px, a, _, op := otNodes(t, false)
	var secrets []string
	for i := 0; i < 3; i++ {
		_, s := otCreateKey(a, op, fmt.Sprintf("V%d", i))
		if v := a.verify(op, s); v["code"] != "VALID" {
			t.Fatalf("verify on A before the cut: %v, want VALID", v)
		}
		secrets = append(secrets, s)
	}
	stop := otLoad(t, a, op, secrets)
	time.Sleep(time.Second)
	cut := time.Now()
	px.Cut()
	cutDone := time.Now()
	const outage = time.Second // well within otGrace
	time.Sleep(outage)
	restored := time.Now()
	px.Restore()
	ready := otWaitReady(t, a, 15*time.Second)
	time.Sleep(3 * time.Second) // past the grace, measured from the cut
	calls := stop()

	otCheckStatuses(t, calls)
	otWindow(t, calls, "write", "before the cut", time.Time{}, cut, otIs(http.StatusCreated, ""))
	nw, nwOK := otWindow(t, calls, "write", "during the outage", cutDone, restored, otIs(http.StatusServiceUnavailable, "unavailable"))
	otWindow(t, calls, "readyz", "during the outage", cutDone, restored, otIs(http.StatusServiceUnavailable, "unavailable"))
	nv, nvOK := otWindow(t, calls, "verify", "at any time", time.Time{}, time.Now(), otIs(http.StatusOK, "VALID"))
	otWindow(t, calls, "write", "once A is ready again", ready.Add(otMargin), time.Now(), otIs(http.StatusCreated, ""))
	t.Logf("cut for %v (grace %v): %d/%d verifications VALID; %d/%d writes during the cut answered 503; /readyz 200 %v after the restore",
		restored.Sub(cut).Round(time.Millisecond), otGrace, nvOK, nv, nwOK, nw, ready.Sub(restored).Round(time.Millisecond))
}

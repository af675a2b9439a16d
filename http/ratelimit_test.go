package http_test

// Rate limits (issue 5, item 3) through the native API: a key with
// rate_limit {limit, window} allows exactly limit verifications at once,
// then answers RATE_LIMITED (remaining 0, reset_at) and refills at one per
// window/limit (GCRA); the limit is exact under concurrency on one node; it
// is checked after INSUFFICIENT_PERMISSIONS and before credits; a PATCH of
// the limit applies at once; and the rules of keyrules.go applyRateLimit.
// The shared helpers of the issue 5 tests (u5NewEnv, u5Send, …) live here.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
)

// u5Env is a testEnv with a store that counts its transactions.
type u5Env struct {
	*testEnv
	Store *u5CountingStore
}

// u5CountingStore is the real store of the test, counting the read and
// write transactions the service runs on it.
type u5CountingStore struct {
	keyward.Store
	reads, writes atomic.Int64
}

func (s *u5CountingStore) Read(ctx context.Context, fn func(keyward.Tx) error) error {
	s.reads.Add(1)
	return s.Store.Read(ctx, fn)
}

func (s *u5CountingStore) Write(ctx context.Context, fn func(keyward.Tx) error) error {
	s.writes.Add(1)
	return s.Store.Write(ctx, fn)
}

// Reads returns how many read transactions the service has run.
func (s *u5CountingStore) Reads() int64 { return s.reads.Load() }

// Writes returns how many write transactions the service has run.
func (s *u5CountingStore) Writes() int64 { return s.writes.Load() }

// u5NewEnv is newEnv with the service's options o, a short write-behind
// interval (200ms unless o sets one) and a store that counts.
func u5NewEnv(t *testing.T, o service.Options) *u5Env {
	t.Helper()
	if o.UsageFlushInterval == 0 {
		o.UsageFlushInterval = 200 * time.Millisecond
	}
	e := &u5Env{}
	e.testEnv = startEnv(t, keywardtest.Options{Service: o, WrapStore: func(db keyward.Store) keyward.Store {
		e.Store = &u5CountingStore{Store: db}
		return e.Store
	}})
	return e
}

// u5Client is the HTTP client of concurrent requests: enough idle
// connections that 100 goroutines do not open and close sockets all the
// time.
var u5Client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256}, Timeout: 60 * time.Second}

// u5VerifyResult is what the tests read of a verification answer.
type u5VerifyResult struct {
	Valid            bool   `json:"valid"`
	Code             string `json:"code"`
	KeyID            string `json:"key_id"`
	CreditsRemaining *int64 `json:"credits_remaining"`
	RateLimit        *struct {
		Limit     int64     `json:"limit"`
		Remaining int64     `json:"remaining"`
		ResetAt   time.Time `json:"reset_at"`
	} `json:"rate_limit"`
}

// u5TryVerify verifies with the operator key and returns the result, or an
// error (never failing the test: goroutines use it).
func u5TryVerify(e *testEnv, body map[string]any, record bool) (*u5VerifyResult, error) {
	res, err := e.send(u5Client, req{Method: "POST", Path: "/v1/keys/verify", Body: body}, record)
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, fmt.Errorf("verify answered %d: %s", res.Status, res.Body)
	}
	var v u5VerifyResult
	if err := json.Unmarshal(res.Body, &v); err != nil {
		return nil, fmt.Errorf("verify answer: %v: %s", err, res.Body)
	}
	if v.Valid != (v.Code == "VALID") {
		return nil, fmt.Errorf("valid %v with code %s", v.Valid, v.Code)
	}
	return &v, nil
}

// u5V verifies body and fails the test on any error.
func u5V(t *testing.T, e *testEnv, body map[string]any) *u5VerifyResult {
	t.Helper()
	v, err := u5TryVerify(e, body, true)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// u5Want verifies body and fails the test unless the code is want.
func u5Want(t *testing.T, e *testEnv, want string, body map[string]any) *u5VerifyResult {
	t.Helper()
	v := u5V(t, e, body)
	if v.Code != want {
		t.Fatalf("verify %v: code %s, want %s", u5Redact(body), v.Code, want)
	}
	return v
}

// u5Redact returns body without the token, for failure messages.
func u5Redact(body map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range body {
		if k == "key" {
			v = "…"
		}
		out[k] = v
	}
	return out
}

// u5Key creates an API key with extra members and returns its id and secret.
func u5Key(t *testing.T, e *testEnv, extra map[string]any) (id, secret string) {
	t.Helper()
	body := map[string]any{"name": "u5 key"}
	maps.Copy(body, extra)
	return apiKey(t, e, nil, body)
}

// u5Concurrent runs n goroutines each verifying body times times and
// returns how many answers had each code; any error fails the test.
func u5Concurrent(t *testing.T, e *testEnv, n, times int, body func(g int) map[string]any) map[string]int {
	t.Helper()
	var (
		mu     sync.Mutex
		counts = map[string]int{}
		errs   []error
		wg     sync.WaitGroup
		start  = make(chan struct{})
	)
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; i < times; i++ {
				v, err := u5TryVerify(e, body(g), false)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					counts[v.Code]++
				}
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if i == 5 {
			t.Errorf("… and %d more errors", len(errs)-5)
			break
		}
		t.Errorf("concurrent verification: %v", err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	return counts
}

type u5obj = map[string]any

// TestU5RateLimitBurst: limit N per window W allows exactly N
// verifications at once, each saying how many remain and when the whole
// limit is back (one emission interval W/N per verification used); then
// RATE_LIMITED with remaining 0, valid false, and reset_at when the limit
// is whole again.
func TestU5RateLimitBurst(t *testing.T) {
	e := u5NewEnv(t, service.Options{})
	created := e.createKey(u5obj{"name": "burst", "rate_limit": u5obj{"limit": 5, "window": 3600}})
	if rl, _ := created["rate_limit"].(map[string]any); rl["limit"] != 5.0 || rl["window"] != 3600.0 {
		t.Fatalf("created key's rate_limit is %v, want {limit 5, window 3600}", created["rate_limit"])
	}
	secret := created["secret"].(string)
	const interval = 720 * time.Second // 3600 s / 5
	before := time.Now().Truncate(time.Millisecond)
	var afterFirst time.Time
	for i := 0; i < 5; i++ {
		v := u5Want(t, e.testEnv, "VALID", u5obj{"key": secret})
		if i == 0 {
			afterFirst = time.Now()
		}
		if v.RateLimit == nil {
			t.Fatalf("verification %d of a rate-limited key has rate_limit null", i+1)
		}
		if v.RateLimit.Limit != 5 || v.RateLimit.Remaining != int64(4-i) {
			t.Errorf("verification %d: limit %d remaining %d, want 5 and %d", i+1, v.RateLimit.Limit, v.RateLimit.Remaining, 4-i)
		}
		// The whole limit is back (i+1) intervals after the first verification.
		lo, hi := before.Add(time.Duration(i+1)*interval), afterFirst.Add(time.Duration(i+1)*interval+time.Millisecond)
		if v.RateLimit.ResetAt.Before(lo) || v.RateLimit.ResetAt.After(hi) {
			t.Errorf("verification %d: reset_at %v, want between %v and %v", i+1, v.RateLimit.ResetAt, lo, hi)
		}
	}
	for i := 0; i < 3; i++ {
		v := u5Want(t, e.testEnv, "RATE_LIMITED", u5obj{"key": secret})
		if v.Valid || v.KeyID != created["id"] || v.RateLimit == nil {
			t.Fatalf("RATE_LIMITED answer: valid %v key_id %s rate_limit %v", v.Valid, v.KeyID, v.RateLimit)
		}
		if v.RateLimit.Limit != 5 || v.RateLimit.Remaining != 0 {
			t.Errorf("RATE_LIMITED: limit %d remaining %d, want 5 and 0", v.RateLimit.Limit, v.RateLimit.Remaining)
		}
		lo, hi := before.Add(3600*time.Second), afterFirst.Add(3600*time.Second+time.Millisecond)
		if v.RateLimit.ResetAt.Before(lo) || v.RateLimit.ResetAt.After(hi) {
			t.Errorf("RATE_LIMITED: reset_at %v, want the whole window after the first verification (%v … %v)", v.RateLimit.ResetAt, lo, hi)
		}
	}
	// A key without a rate limit answers rate_limit null.
	_, plain := u5Key(t, e.testEnv, nil)
	if v := u5Want(t, e.testEnv, "VALID", u5obj{"key": plain}); v.RateLimit != nil {
		t.Errorf("a key without rate limit answered rate_limit %+v, want null", v.RateLimit)
	}
}

// TestU5RateLimitRefill: after the burst, the limit refills at one
// verification per window/limit. Measured against the test's own clock
// around each request (the server stamps every request between the
// client's send and receive times), so the checks are bounds that a
// correct limiter always meets, not timings.
func TestU5RateLimitRefill(t *testing.T) {
	e := u5NewEnv(t, service.Options{})
	const (
		limit    = 4
		interval = 500 * time.Millisecond // window 2 s / 4
	)
	_, secret := u5Key(t, e.testEnv, u5obj{"rate_limit": u5obj{"limit": limit, "window": 2}})
	body := u5obj{"key": secret}
	c1 := time.Now()
	for i := 0; i < limit; i++ {
		u5Want(t, e.testEnv, "VALID", body)
	}
	// Poll until the first refill.
	var lastDenied time.Time
	for {
		sent := time.Now()
		v := u5V(t, e.testEnv, body)
		got := time.Now()
		if v.Code == "VALID" {
			// The limiter counts in whole milliseconds: the first
			// request may be stamped up to 1 ms before c1.
			if d := got.Sub(c1); d < interval-time.Millisecond {
				t.Fatalf("a verification was allowed %v after the first of the burst: sooner than one emission interval (%v)", d, interval)
			}
			break
		}
		if v.Code != "RATE_LIMITED" {
			t.Fatalf("code %s, want RATE_LIMITED or VALID", v.Code)
		}
		lastDenied = sent
		if time.Since(c1) > 10*time.Second {
			t.Fatalf("no refill within 10s (emission interval %v)", interval)
		}
	}
	if lastDenied.IsZero() {
		t.Fatalf("the verification right after a burst of %d was allowed", limit)
	}
	// The refill gave one verification: the next, sent less than an
	// interval after the last denied one, is denied again.
	next := u5V(t, e.testEnv, body)
	if time.Since(lastDenied) < interval && next.Code != "RATE_LIMITED" {
		t.Errorf("two verifications allowed within one emission interval after the burst: %s", next.Code)
	}
	// Sustained polling: never more than limit + elapsed/interval in all.
	allowed := limit + 1
	if next.Code == "VALID" {
		allowed++
	}
	pollFrom := time.Now()
	var last time.Time
	for time.Since(pollFrom) < 2*time.Second {
		v := u5V(t, e.testEnv, body)
		last = time.Now()
		if v.Code == "VALID" {
			allowed++
		}
	}
	// The limiter counts in whole milliseconds (1 ms of slack, as above).
	maxAllowed := limit + int((last.Sub(c1)+time.Millisecond)/interval)
	if allowed > maxAllowed {
		t.Errorf("%d verifications allowed in %v; GCRA allows at most %d (burst %d + one per %v)", allowed, last.Sub(c1), maxAllowed, limit, interval)
	}
	if minRefills := int(last.Sub(pollFrom)/interval)/2 - 1; allowed-limit-1 < minRefills {
		t.Errorf("only %d refills in %v of polling; expected about one per %v", allowed-limit-1, last.Sub(pollFrom), interval)
	}
}

// TestU5RateLimitConcurrent: 100 goroutines × 10 verifications of a key
// limited to 50 per hour: exactly 50 are VALID, on one node.
func TestU5RateLimitConcurrent(t *testing.T) {
	e := u5NewEnv(t, service.Options{})
	_, secret := u5Key(t, e.testEnv, u5obj{"rate_limit": u5obj{"limit": 50, "window": 3600}})
	counts := u5Concurrent(t, e.testEnv, 100, 10, func(int) map[string]any { return u5obj{"key": secret} })
	if counts["VALID"] != 50 || counts["RATE_LIMITED"] != 950 {
		t.Errorf("100×10 concurrent verifications with limit 50: %v, want 50 VALID and 950 RATE_LIMITED", counts)
	}
}

// TestU5RateLimitCheckOrder: a verification that fails an earlier check
// (FORBIDDEN_IP, DISABLED, INSUFFICIENT_PERMISSIONS) uses none of the rate
// limit; a RATE_LIMITED one takes no credits.
func TestU5RateLimitCheckOrder(t *testing.T) {
	e := u5NewEnv(t, service.Options{})
	id, secret := u5Key(t, e.testEnv, u5obj{
		"permission_mode": "restricted", "scopes": []u5obj{{"resource": "documents", "access": "read"}},
		"ip_allowlist": []string{"10.0.0.0/8"},
		"rate_limit":   u5obj{"limit": 3, "window": 3600},
		"credits":      u5obj{"remaining": 10},
	})
	ok := u5obj{"key": secret, "ip": "10.1.2.3", "permissions": "documents:read"}
	for i := 0; i < 4; i++ {
		u5Want(t, e.testEnv, "FORBIDDEN_IP", u5obj{"key": secret, "permissions": "documents:read"})
		u5Want(t, e.testEnv, "INSUFFICIENT_PERMISSIONS", u5obj{"key": secret, "ip": "10.1.2.3", "permissions": "documents:write"})
	}
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: u5obj{"status": "disabled"}})
	for i := 0; i < 4; i++ {
		u5Want(t, e.testEnv, "DISABLED", ok)
	}
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: u5obj{"status": "active"}})
	for i := 0; i < 3; i++ {
		v := u5Want(t, e.testEnv, "VALID", ok)
		if v.RateLimit == nil || v.RateLimit.Remaining != int64(2-i) {
			t.Fatalf("VALID %d: rate_limit %+v, want remaining %d (failed checks must not use the limit)", i+1, v.RateLimit, 2-i)
		}
		if v.CreditsRemaining == nil || *v.CreditsRemaining != int64(9-i) {
			t.Fatalf("VALID %d: credits_remaining %v, want %d", i+1, v.CreditsRemaining, 9-i)
		}
	}
	for i := 0; i < 4; i++ {
		v := u5Want(t, e.testEnv, "RATE_LIMITED", ok)
		if v.CreditsRemaining == nil || *v.CreditsRemaining != 7 {
			t.Fatalf("RATE_LIMITED: credits_remaining %v, want 7 (a rate-limited verification takes no credits)", v.CreditsRemaining)
		}
	}
	// Without the limit, the next verification takes the 4th credit: the
	// rate-limited ones took none.
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: u5obj{"rate_limit": nil}})
	if v := u5Want(t, e.testEnv, "VALID", ok); v.CreditsRemaining == nil || *v.CreditsRemaining != 6 {
		t.Errorf("after removing the limit: credits_remaining %v, want 6", v.CreditsRemaining)
	}
}

// TestU5RateLimitPatch: a change of the limit applies to the very next
// verification, counting the verifications already made in the window.
func TestU5RateLimitPatch(t *testing.T) {
	e := u5NewEnv(t, service.Options{})
	patch := func(t *testing.T, id string, rl any) {
		t.Helper()
		e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: u5obj{"rate_limit": rl}})
	}
	run := func(t *testing.T, secret string, n int, want string) {
		t.Helper()
		for i := 0; i < n; i++ {
			if v := u5V(t, e.testEnv, u5obj{"key": secret}); v.Code != want {
				t.Fatalf("verification %d of %d: %s, want %s", i+1, n, v.Code, want)
			}
		}
	}
	t.Run("raised", func(t *testing.T) {
		id, secret := u5Key(t, e.testEnv, u5obj{"rate_limit": u5obj{"limit": 2, "window": 3600}})
		run(t, secret, 2, "VALID")
		run(t, secret, 1, "RATE_LIMITED")
		patch(t, id, u5obj{"limit": 5, "window": 3600})
		// 2 of 5 used: 3 more now.
		run(t, secret, 3, "VALID")
		run(t, secret, 1, "RATE_LIMITED")
	})
	t.Run("lowered below what was used", func(t *testing.T) {
		id, secret := u5Key(t, e.testEnv, u5obj{"rate_limit": u5obj{"limit": 10, "window": 3600}})
		run(t, secret, 5, "VALID")
		patch(t, id, u5obj{"limit": 2, "window": 3600})
		// 5 used, the limit is 2: nothing more in this window.
		run(t, secret, 3, "RATE_LIMITED")
	})
	t.Run("window shortened", func(t *testing.T) {
		id, secret := u5Key(t, e.testEnv, u5obj{"rate_limit": u5obj{"limit": 2, "window": 3600}})
		run(t, secret, 2, "VALID")
		run(t, secret, 1, "RATE_LIMITED")
		patch(t, id, u5obj{"limit": 2, "window": 1})
		// 2 per second now: the key is usable again within a second.
		deadline := time.Now().Add(5 * time.Second)
		for {
			v := u5V(t, e.testEnv, u5obj{"key": secret})
			if v.Code == "VALID" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the limit is now 2 per second, yet the key is still %s 5 s later (reset_at %v): the old one-hour window still applies",
					v.Code, v.RateLimit.ResetAt)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("removed", func(t *testing.T) {
		id, secret := u5Key(t, e.testEnv, u5obj{"rate_limit": u5obj{"limit": 1, "window": 3600}})
		run(t, secret, 1, "VALID")
		run(t, secret, 1, "RATE_LIMITED")
		patch(t, id, nil)
		for i := 0; i < 10; i++ {
			if v := u5Want(t, e.testEnv, "VALID", u5obj{"key": secret}); v.RateLimit != nil {
				t.Fatalf("a key whose limit was removed answers rate_limit %+v", v.RateLimit)
			}
		}
	})
	t.Run("added", func(t *testing.T) {
		id, secret := u5Key(t, e.testEnv, nil)
		run(t, secret, 3, "VALID")
		patch(t, id, u5obj{"limit": 1, "window": 3600})
		run(t, secret, 1, "VALID")
		run(t, secret, 2, "RATE_LIMITED")
	})
	t.Run("PUT without rate_limit removes it", func(t *testing.T) {
		id, secret := u5Key(t, e.testEnv, u5obj{"rate_limit": u5obj{"limit": 1, "window": 3600}})
		run(t, secret, 1, "VALID")
		run(t, secret, 1, "RATE_LIMITED")
		e.must(http.StatusOK, req{Method: "PUT", Path: "/v1/keys/" + id, Body: u5obj{"name": "no limits"}})
		run(t, secret, 3, "VALID")
	})
}

// TestU5RateLimitValidation: limit 1…1,000,000,000, window 1 s … 31 days,
// API keys only; a refused change changes nothing.
func TestU5RateLimitValidation(t *testing.T) {
	e := u5NewEnv(t, service.Options{})
	id, _ := u5Key(t, e.testEnv, u5obj{"rate_limit": u5obj{"limit": 7, "window": 60}})
	auditBefore := e.auditCount()
	cases := []struct {
		name   string
		rl     any
		status int
		code   string
		field  string
	}{
		{"limit 0", u5obj{"limit": 0, "window": 60}, 422, "validation_failed", "rate_limit.limit"},
		{"negative limit", u5obj{"limit": -1, "window": 60}, 422, "validation_failed", "rate_limit.limit"},
		{"limit over the maximum", u5obj{"limit": keyward.MaxRateLimit + 1, "window": 60}, 422, "validation_failed", "rate_limit.limit"},
		{"window 0", u5obj{"limit": 1, "window": 0}, 422, "validation_failed", "rate_limit.window"},
		{"negative window", u5obj{"limit": 1, "window": -5}, 422, "validation_failed", "rate_limit.window"},
		{"window over 31 days", u5obj{"limit": 1, "window": 31*24*3600 + 1}, 422, "validation_failed", "rate_limit.window"},
		{"window missing", u5obj{"limit": 1}, 422, "validation_failed", "rate_limit.window"},
		{"limit missing", u5obj{"window": 60}, 422, "validation_failed", "rate_limit.limit"},
		{"limit a string", u5obj{"limit": "10", "window": 60}, 422, "validation_failed", "rate_limit.limit"},
		{"limit a fraction", u5obj{"limit": 1.5, "window": 60}, 422, "validation_failed", "rate_limit.limit"},
		{"not an object", "10/min", 422, "validation_failed", "rate_limit"},
		{"unknown member", u5obj{"limit": 1, "window": 60, "burst": 3}, 400, "unknown_field", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []req{
				{Method: "POST", Path: "/v1/keys", Body: u5obj{"name": "bad", "rate_limit": c.rl}},
				{Method: "PATCH", Path: "/v1/keys/" + id, Body: u5obj{"rate_limit": c.rl}},
				{Method: "PUT", Path: "/v1/keys/" + id, Body: u5obj{"name": "bad", "rate_limit": c.rl}},
			} {
				p := e.problem(e.do(r), c.status, c.code)
				if c.field != "" && !u5HasField(p, c.field) {
					t.Errorf("%s: errors %v do not name %s", r.Method, p["errors"], c.field)
				}
			}
		})
	}
	t.Run("bounds accepted", func(t *testing.T) {
		for _, rl := range []u5obj{{"limit": 1, "window": 1}, {"limit": keyward.MaxRateLimit, "window": 31 * 24 * 3600}} {
			k := e.createKey(u5obj{"name": "bounds", "rate_limit": rl})
			got, _ := k["rate_limit"].(map[string]any)
			if got["limit"] != float64(rl["limit"].(int)) || got["window"] != float64(rl["window"].(int)) {
				t.Errorf("created with rate_limit %v, the key says %v", rl, k["rate_limit"])
			}
		}
	})
	t.Run("management keys have none", func(t *testing.T) {
		p := e.problem(e.do(req{Method: "POST", Path: "/v1/management-keys", Body: u5obj{"name": "m", "permissions": []string{"keys:read"},
			"rate_limit": u5obj{"limit": 1, "window": 60}}}), 422, "validation_failed")
		if !u5HasField(p, "rate_limit") {
			t.Errorf("errors %v do not name rate_limit", p["errors"])
		}
	})
	// Nothing above changed the key or wrote an audit event.
	k := e.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys/" + id}).JSON(t)
	if rl, _ := k["rate_limit"].(map[string]any); rl["limit"] != 7.0 || rl["window"] != 60.0 {
		t.Errorf("after refused changes the key's rate_limit is %v, want {7, 60}", k["rate_limit"])
	}
	// Two keys were created by "bounds accepted": two events.
	if n := e.auditCount(); n != auditBefore+2 {
		t.Errorf("%d audit events were written by the refused requests and the 2 creations, want 2", n-auditBefore)
	}
}

// u5HasField reports whether a problem's errors name field.
func u5HasField(p map[string]any, field string) bool {
	errs, _ := p["errors"].([]any)
	for _, fe := range errs {
		if m, _ := fe.(map[string]any); m["field"] == field {
			return true
		}
	}
	return false
}

// u5Contains reports whether s contains every part.
func u5Contains(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

package http_test

// Tests of the failed-authentication lockout (issue 3 item 9): repeated
// 401s from one client address lock that address (429 locked with
// Retry-After, valid credentials included) while other addresses keep
// working; X-Forwarded-For counts only from trusted proxies.

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/keywardtest"
)

// rkLockoutEnv starts a server with the policy of these tests (5 failures
// within a minute lock the address for 2 seconds) and the other HTTP
// options of o.
func rkLockoutEnv(t *testing.T, o khttp.Options) *testEnv {
	t.Helper()
	o.Lockout = &khttp.LockoutPolicy{Threshold: 5, Window: time.Minute, Duration: 2 * time.Second}
	return startEnv(t, keywardtest.Options{HTTP: o})
}

// rkBadCredentials are five different ways to fail authentication (401).
func rkBadCredentials(e *testEnv) []req {
	forged := forgeToken(e.t, "kwm")
	return []req{
		{Method: "GET", Path: "/v1/keys", Token: forged},
		{Method: "GET", Path: "/v1/keys", Token: "not-a-key"},
		{Method: "GET", Path: "/v1/keys", NoAuth: true},
		{Method: "GET", Path: "/v1/keys", NoAuth: true, Header: map[string]string{"Authorization": "Basic " + e.Op}},
		{Method: "POST", Path: "/v1/keys/verify", Token: forged[:len(forged)-1] + "0", Body: map[string]any{"key": "kw_x"}},
	}
}

// rkFail sends n requests with bad credentials from client c, each of
// which must be a 401.
func rkFail(t *testing.T, e *testEnv, c *http.Client, n int, hdr map[string]string) {
	t.Helper()
	bad := rkBadCredentials(e)
	for i := 0; i < n; i++ {
		r := bad[i%len(bad)]
		if hdr != nil {
			h := map[string]string{}
			for k, v := range r.Header {
				h[k] = v
			}
			for k, v := range hdr {
				h[k] = v
			}
			r.Header = h
		}
		res, err := e.send(c, r, true)
		if err != nil {
			t.Fatal(err)
		}
		problem(t, res, http.StatusUnauthorized, "unauthenticated")
	}
}

// rkLocked checks that res is the lockout answer and returns Retry-After.
func rkLocked(t *testing.T, res *resp, maxWait int) int {
	t.Helper()
	p := problem(t, res, http.StatusTooManyRequests, "locked")
	ra, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > maxWait {
		t.Fatalf("Retry-After %q, want 1–%d seconds", res.Header.Get("Retry-After"), maxWait)
	}
	if p["retry_after_seconds"] != float64(ra) {
		t.Errorf("retry_after_seconds %v disagrees with Retry-After %d", p["retry_after_seconds"], ra)
	}
	return ra
}

// rkStatus sends r with client c and returns the status.
func rkStatus(t *testing.T, e *testEnv, c *http.Client, r req) *resp {
	t.Helper()
	res, err := e.send(c, r, true)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// rkWaitUnlocked polls a valid request until it is no longer 429, within
// a deadline well above the lock's duration.
func rkWaitUnlocked(t *testing.T, e *testEnv, c *http.Client, r req, deadline time.Duration) *resp {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		res := rkStatus(t, e, c, r)
		if res.Status != http.StatusTooManyRequests {
			return res
		}
		if time.Now().After(end) {
			t.Fatalf("still locked %v after the lock started (Retry-After %s)", deadline, res.Header.Get("Retry-After"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLockout(t *testing.T) {
	t.Parallel()
	keys := req{Method: "GET", Path: "/v1/keys"}

	t.Run("bad credentials lock the address, valid ones included", func(t *testing.T) {
		t.Parallel()
		e := rkLockoutEnv(t, khttp.Options{})
		local, other := rkClient(t, "127.0.0.1"), rkClient(t, "127.0.0.2")
		apiKey := e.createKey(map[string]any{"name": "api"})["secret"].(string)
		rkFail(t, e, local, 4, nil)
		// Four failures: not locked yet.
		rkMust(t, e, local, http.StatusOK, keys)
		rkFail(t, e, local, 1, nil)
		start := time.Now()

		rkLocked(t, rkStatus(t, e, local, keys), 2)
		for _, r := range []req{
			{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "x"}},
			{Method: "POST", Path: "/v1/keys/verify", Body: map[string]any{"key": apiKey}},
			{Method: "GET", Path: "/v1/whoami", Token: apiKey},
			rkBadCredentials(e)[0],
		} {
			rkLocked(t, rkStatus(t, e, local, r), 2)
		}
		// Another source address is not affected, and has its own count.
		rkMust(t, e, other, http.StatusOK, keys)
		rkFail(t, e, other, 4, nil)
		rkMust(t, e, other, http.StatusOK, keys)
		rkMust(t, e, other, http.StatusOK, req{Method: "GET", Path: "/v1/whoami", Token: apiKey})

		// The lock lifts after its duration.
		res := rkWaitUnlocked(t, e, local, keys, 15*time.Second)
		if res.Status != http.StatusOK {
			t.Fatalf("after the lock: %d %s", res.Status, res.Body)
		}
		t.Logf("the lock lifted %v after the fifth failure was answered", time.Since(start).Round(10*time.Millisecond))
		// And the count starts afresh: one failure does not lock again.
		rkFail(t, e, local, 1, nil)
		rkMust(t, e, local, http.StatusOK, keys)
	})

	t.Run("whoami counts", func(t *testing.T) {
		t.Parallel()
		e := rkLockoutEnv(t, khttp.Options{})
		local := rkClient(t, "127.0.0.1")
		apiKey := e.createKey(map[string]any{"name": "api"})["secret"].(string)
		forged := forgeToken(t, "kw")
		for i := 0; i < 3; i++ {
			problem(t, rkStatus(t, e, local, req{Method: "GET", Path: "/v1/whoami", Token: forged}), http.StatusUnauthorized, "unauthenticated")
		}
		rkFail(t, e, local, 2, nil)
		rkLocked(t, rkStatus(t, e, local, req{Method: "GET", Path: "/v1/whoami", Token: apiKey}), 2)
		rkLocked(t, rkStatus(t, e, local, keys), 2)
	})

	t.Run("other failures do not count", func(t *testing.T) {
		t.Parallel()
		e := rkLockoutEnv(t, khttp.Options{})
		local := rkClient(t, "127.0.0.1")
		apiKey := e.createKey(map[string]any{"name": "api"})["secret"].(string)
		_, reader := mgmtKey(t, e, "", "keys:read")
		other := account(t, e, "other")
		for _, tc := range []struct {
			name   string
			r      req
			status int
		}{
			{"API key on a management route", req{Method: "GET", Path: "/v1/keys", Token: apiKey}, http.StatusForbidden},
			{"missing permission", req{Method: "POST", Path: "/v1/keys", Token: reader, Body: map[string]any{"name": "x"}}, http.StatusForbidden},
			{"account mismatch", req{Method: "GET", Path: "/v1/keys", Token: reader, Header: map[string]string{"X-Account-Id": other}}, http.StatusForbidden},
			{"unknown key id", req{Method: "GET", Path: "/v1/keys/key_01ARZ3NDEKTSV4RRFFQ69G5FAV"}, http.StatusNotFound},
			{"validation", req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": 1}}, http.StatusUnprocessableEntity},
			{"verify of bad tokens", req{Method: "POST", Path: "/v1/keys/verify", Body: map[string]any{"key": forgeToken(t, "kw")}}, http.StatusOK},
			{"conflicting credentials", req{Method: "GET", Path: "/v1/keys", Header: map[string]string{"X-API-Key": apiKey}}, http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for i := 0; i < 8; i++ {
					if res := rkStatus(t, e, local, tc.r); res.Status != tc.status {
						t.Fatalf("attempt %d: %d, want %d\n%s", i, res.Status, tc.status, res.Body)
					}
				}
				rkMust(t, e, local, http.StatusOK, keys)
			})
		}
	})

	t.Run("threshold 0 disables it", func(t *testing.T) {
		t.Parallel()
		e := startEnv(t, keywardtest.Options{HTTP: khttp.Options{Lockout: &khttp.LockoutPolicy{Threshold: 0, Window: time.Minute, Duration: time.Minute}}})
		local := rkClient(t, "127.0.0.1")
		rkFail(t, e, local, 30, nil)
		rkMust(t, e, local, http.StatusOK, keys)
	})

	t.Run("the default policy: 100 failures a minute", func(t *testing.T) {
		t.Parallel()
		if khttp.DefaultLockout.Threshold != 100 || khttp.DefaultLockout.Window != time.Minute || khttp.DefaultLockout.Duration != time.Minute {
			t.Errorf("DefaultLockout is %+v; the documented default is 100 failures within a minute → locked for a minute", khttp.DefaultLockout)
		}
		e := startEnv(t, keywardtest.Options{HTTP: khttp.Options{Lockout: &khttp.DefaultLockout}})
		local := rkClient(t, "127.0.0.1")
		rkFail(t, e, local, 99, nil)
		rkMust(t, e, local, http.StatusOK, keys)
		rkFail(t, e, local, 1, nil)
		if ra := rkLocked(t, rkStatus(t, e, local, keys), 60); ra < 50 {
			t.Errorf("the default lock says Retry-After %d, want about 60", ra)
		}
		rkMust(t, e, rkClient(t, "127.0.0.2"), http.StatusOK, keys)
	})

	t.Run("behind a trusted proxy the forwarded client is locked", func(t *testing.T) {
		t.Parallel()
		e := rkLockoutEnv(t, khttp.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
		proxy := rkClient(t, "127.0.0.1")
		as := func(xff string) map[string]string { return map[string]string{"X-Forwarded-For": xff} }
		rkFail(t, e, proxy, 5, as("203.0.113.7"))
		rkLocked(t, rkStatus(t, e, proxy, req{Method: "GET", Path: "/v1/keys", Header: as("203.0.113.7")}), 2)
		// Addresses a client adds on the left do not dodge it: the
		// rightmost untrusted hop is the client.
		rkLocked(t, rkStatus(t, e, proxy, req{Method: "GET", Path: "/v1/keys", Header: as("198.51.100.1, 203.0.113.7")}), 2)
		// Other clients behind the proxy, and the proxy itself, work.
		rkMust(t, e, proxy, http.StatusOK, req{Method: "GET", Path: "/v1/keys", Header: as("203.0.113.8")})
		rkMust(t, e, proxy, http.StatusOK, req{Method: "GET", Path: "/v1/keys", Header: as("203.0.113.7, 203.0.113.8")})
		rkMust(t, e, proxy, http.StatusOK, keys)
		// The audit log records the forwarded client.
		id := rkMust(t, e, proxy, http.StatusCreated, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "via proxy"},
			Header: as("203.0.113.9")}).Str(t, "id")
		if evs := events(t, e, "target_id="+id, nil); len(evs) != 1 || evs[0]["client_ip"] != "203.0.113.9" {
			t.Errorf("the audit event of a request through the proxy: %v, want client_ip 203.0.113.9", evs)
		}
		// A peer that is not a trusted proxy is itself the client, whatever it forwards.
		untrusted := rkClient(t, "127.0.0.2")
		rkFail(t, e, untrusted, 5, as("203.0.113.10"))
		rkLocked(t, rkStatus(t, e, untrusted, req{Method: "GET", Path: "/v1/keys", Header: as("203.0.113.11")}), 2)
		rkMust(t, e, proxy, http.StatusOK, req{Method: "GET", Path: "/v1/keys", Header: as("203.0.113.10")})
	})

	t.Run("without trusted proxies X-Forwarded-For is ignored", func(t *testing.T) {
		t.Parallel()
		e := rkLockoutEnv(t, khttp.Options{})
		local := rkClient(t, "127.0.0.1")
		id := rkMust(t, e, local, http.StatusCreated, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "spoof"},
			Header: map[string]string{"X-Forwarded-For": "203.0.113.50"}}).Str(t, "id")
		if evs := events(t, e, "target_id="+id, nil); len(evs) != 1 || evs[0]["client_ip"] != "127.0.0.1" {
			t.Errorf("an untrusted X-Forwarded-For reached the audit log: %v, want client_ip 127.0.0.1", evs)
		}
		for i := 0; i < 5; i++ {
			rkFail(t, e, local, 1, map[string]string{"X-Forwarded-For": "203.0.113." + strconv.Itoa(i+1)})
		}
		rkLocked(t, rkStatus(t, e, local, req{Method: "GET", Path: "/v1/keys", Header: map[string]string{"X-Forwarded-For": "203.0.113.99"}}), 2)
		rkLocked(t, rkStatus(t, e, local, req{Method: "GET", Path: "/v1/keys", Header: map[string]string{"X-Forwarded-For": "127.0.0.2"}}), 2)
		rkMust(t, e, rkClient(t, "127.0.0.2"), http.StatusOK, req{Method: "GET", Path: "/v1/keys", Header: map[string]string{"X-Forwarded-For": "127.0.0.1"}})
	})

	t.Run("the lock message", func(t *testing.T) {
		t.Parallel()
		e := rkLockoutEnv(t, khttp.Options{})
		local := rkClient(t, "127.0.0.1")
		rkFail(t, e, local, 5, nil)
		res := rkStatus(t, e, local, keys)
		p := problem(t, res, http.StatusTooManyRequests, "locked")
		if d, _ := p["detail"].(string); !strings.Contains(d, "retry after") {
			t.Errorf("the lock's detail does not say when to retry: %q", d)
		}
		if strings.Contains(string(res.Body), e.Op) {
			t.Errorf("the lock answer echoes the credential")
		}
	})
}

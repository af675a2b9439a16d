package http_test

// Credits (issue 5, item 4) through the native API: cost per verification,
// taken only when every other check passed, USAGE_EXCEEDED at zero, refills
// that reset the pool, never over-spent under concurrency, and POST
// /v1/keys/{id}/credits (set, add, subtract) with its audit event.

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// u5Credits returns a key's credits.remaining as GET /v1/keys/{id} shows it.
func u5Credits(t *testing.T, e *testEnv, id string) int64 {
	t.Helper()
	k := e.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys/" + id}).JSON(t)
	c, ok := k["credits"].(map[string]any)
	if !ok {
		t.Fatalf("key %s has credits %v", id, k["credits"])
	}
	return int64(c["remaining"].(float64))
}

// u5Left fails unless the verification answer says left credits remain.
func u5Left(t *testing.T, v *u5VerifyResult, left int64) {
	t.Helper()
	if v.CreditsRemaining == nil || *v.CreditsRemaining != left {
		got := "null"
		if v.CreditsRemaining != nil {
			got = strconv.FormatInt(*v.CreditsRemaining, 10)
		}
		t.Fatalf("%s: credits_remaining %s, want %d", v.Code, got, left)
	}
}

// TestU5CreditsCost: each verification takes its cost (default 1); cost 0
// takes nothing; a cost above what remains is USAGE_EXCEEDED and takes
// nothing; at zero every verification that costs something is
// USAGE_EXCEEDED.
func TestU5CreditsCost(t *testing.T) {
	e := u5NewEnv(t, service.Options{})
	id, secret := u5Key(t, e.testEnv, u5obj{"credits": u5obj{"remaining": 10}})
	if c := u5Credits(t, e.testEnv, id); c != 10 {
		t.Fatalf("new key: credits.remaining %d, want 10", c)
	}
	steps := []struct {
		cost any // nil: not sent
		code string
		left int64
	}{
		{nil, "VALID", 9},
		{0, "VALID", 9},
		{1, "VALID", 8},
		{5, "VALID", 3},
		{4, "USAGE_EXCEEDED", 3},
		{keyward.MaxVerifyCost, "USAGE_EXCEEDED", 3},
		{3, "VALID", 0},
		{nil, "USAGE_EXCEEDED", 0},
		{1, "USAGE_EXCEEDED", 0},
		// Cost 0 takes nothing, so it passes even at zero.
		{0, "VALID", 0},
	}
	for i, s := range steps {
		// Every answer gives the credits left, whether the verification
		// spent or not.
		body := u5obj{"key": secret}
		if s.cost != nil {
			body["cost"] = s.cost
		}
		v := u5V(t, e.testEnv, body)
		if v.Code != s.code {
			t.Fatalf("step %d (cost %v): %s, want %s", i+1, s.cost, v.Code, s.code)
		}
		u5Left(t, v, s.left)
	}
	// A key without credits answers credits_remaining null whatever the cost.
	_, plain := u5Key(t, e.testEnv, nil)
	if v := u5Want(t, e.testEnv, "VALID", u5obj{"key": plain, "cost": 1000}); v.CreditsRemaining != nil {
		t.Errorf("a key without credits answered credits_remaining %d", *v.CreditsRemaining)
	}
	// A cost outside 0…1,000,000 is a 422, not a verification.
	for _, c := range []any{-1, keyward.MaxVerifyCost + 1, 1.5, "1"} {
		p := e.problem(e.do(req{Method: "POST", Path: "/v1/keys/verify", Body: u5obj{"key": secret, "cost": c}}), 422, "validation_failed")
		if !u5HasField(p, "cost") {
			t.Errorf("cost %v: errors %v do not name cost", c, p["errors"])
		}
	}
}

// TestU5CreditsOnlyWhenEverythingElsePassed: DISABLED, FORBIDDEN_IP,
// WRONG_PROJECT, INSUFFICIENT_PERMISSIONS and RATE_LIMITED take nothing.
func TestU5CreditsOnlyWhenEverythingElsePassed(t *testing.T) {
	e := u5NewEnv(t, service.Options{})
	prj := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/projects", Body: u5obj{"name": "p1"}}).Str(t, "id")
	other := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/projects", Body: u5obj{"name": "p2"}}).Str(t, "id")
	id, secret := u5Key(t, e.testEnv, u5obj{
		"project_id": prj, "permission_mode": "restricted", "scopes": []u5obj{{"resource": "documents", "access": "read"}},
		"ip_allowlist": []string{"192.0.2.0/24"}, "rate_limit": u5obj{"limit": 3, "window": 3600},
		"credits": u5obj{"remaining": 5},
	})
	good := u5obj{"key": secret, "ip": "192.0.2.7", "project_id": prj, "permissions": "documents:read", "cost": 1}
	with := func(k string, v any) u5obj {
		b := u5obj{}
		for kk, vv := range good {
			b[kk] = vv
		}
		b[k] = v
		return b
	}
	for i := 0; i < 3; i++ {
		u5Left(t, u5Want(t, e.testEnv, "FORBIDDEN_IP", with("ip", "198.51.100.1")), 5)
		u5Left(t, u5Want(t, e.testEnv, "WRONG_PROJECT", with("project_id", other)), 5)
		u5Left(t, u5Want(t, e.testEnv, "INSUFFICIENT_PERMISSIONS", with("permissions", "documents:write")), 5)
	}
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: u5obj{"status": "disabled"}})
	u5Left(t, u5Want(t, e.testEnv, "DISABLED", good), 5)
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: u5obj{"status": "active"}})
	for i := 0; i < 3; i++ {
		u5Left(t, u5Want(t, e.testEnv, "VALID", good), int64(4-i))
	}
	for i := 0; i < 3; i++ {
		u5Left(t, u5Want(t, e.testEnv, "RATE_LIMITED", good), 2)
	}
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: u5obj{"rate_limit": nil}})
	u5Left(t, u5Want(t, e.testEnv, "VALID", good), 1)
	u5Left(t, u5Want(t, e.testEnv, "VALID", good), 0)
	u5Left(t, u5Want(t, e.testEnv, "USAGE_EXCEEDED", good), 0)
	// A revoked key takes nothing either (and says so before credits).
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: u5obj{"status": "revoked"}})
	u5Want(t, e.testEnv, "REVOKED", good)
}

// TestU5CreditsRefill: every interval the pool is reset to the refill
// amount (refills do not accumulate); no verification is allowed past the
// amount within a period.
func TestU5CreditsRefill(t *testing.T) {
	e := u5NewEnv(t, service.Options{})
	const interval = 2 * time.Second
	created := time.Now()
	id, secret := u5Key(t, e.testEnv, u5obj{"credits": u5obj{"remaining": 2, "refill": u5obj{"amount": 3, "interval": 2}}})
	body := u5obj{"key": secret}
	u5Want(t, e.testEnv, "VALID", body)
	u5Want(t, e.testEnv, "VALID", body)
	v := u5V(t, e.testEnv, body)
	if time.Since(created) >= interval {
		t.Fatalf("the first 3 verifications took %v, longer than the refill interval: cannot check the first period", time.Since(created))
	}
	if v.Code != "USAGE_EXCEEDED" {
		t.Fatalf("third verification in the first period: %s, want USAGE_EXCEEDED", v.Code)
	}
	// Poll until the refill.
	for {
		v := u5V(t, e.testEnv, body)
		if v.Code == "VALID" {
			if d := time.Since(created); d < interval {
				t.Fatalf("credits came back %v after the key was created, before the refill interval %v", d, interval)
			}
			u5Left(t, v, 2)
			break
		}
		if v.Code != "USAGE_EXCEEDED" {
			t.Fatalf("code %s while waiting for the refill", v.Code)
		}
		if time.Since(created) > 10*time.Second {
			t.Fatal("no refill within 10s of a 2s refill interval")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// At most the amount in one period: of a quick burst, no more than 2
	// further VALID unless the burst spans a period boundary.
	burstStart := time.Now()
	valid := 0
	for i := 0; i < 6; i++ {
		if u5V(t, e.testEnv, body).Code == "VALID" {
			valid++
		}
	}
	if took := time.Since(burstStart); took < interval/2 && valid > 2 {
		t.Errorf("%d verifications allowed in one period after a refill of 3 had 1 used, want at most 2", valid)
	}
	// Refills reset: idle for more than two intervals, the pool is 3, not 6
	// or 9: cost 4 is refused (whatever the period), cost 3 passes.
	idle := time.Now()
	for time.Since(idle) < 2*interval+interval/2 {
		time.Sleep(100 * time.Millisecond)
	}
	u5Left(t, u5Want(t, e.testEnv, "USAGE_EXCEEDED", u5obj{"key": secret, "cost": 4}), 3)
	u5Left(t, u5Want(t, e.testEnv, "VALID", u5obj{"key": secret, "cost": 3}), 0)
	_ = id
}

// TestU5CreditsConcurrent: 200 concurrent verifications of a key with 50
// credits on one node: exactly 50 VALID, and the pool is empty once the
// leases are given back.
func TestU5CreditsConcurrent(t *testing.T) {
	e := u5NewEnv(t, service.Options{UsageFlushInterval: 100 * time.Millisecond})
	id, secret := u5Key(t, e.testEnv, u5obj{"credits": u5obj{"remaining": 50}})
	counts := u5Concurrent(t, e.testEnv, 200, 1, func(int) map[string]any { return u5obj{"key": secret} })
	if counts["VALID"] != 50 || counts["USAGE_EXCEEDED"] != 150 {
		t.Errorf("200 concurrent verifications with 50 credits: %v, want 50 VALID and 150 USAGE_EXCEEDED", counts)
	}
	// With costs: 100 goroutines × cost 3 on 100 credits: exactly 33 VALID.
	id2, secret2 := u5Key(t, e.testEnv, u5obj{"credits": u5obj{"remaining": 100}})
	counts = u5Concurrent(t, e.testEnv, 100, 1, func(int) map[string]any { return u5obj{"key": secret2, "cost": 3} })
	if counts["VALID"] != 33 {
		t.Errorf("100 concurrent verifications of cost 3 on 100 credits: %v, want 33 VALID", counts)
	}
	if v := u5V(t, e.testEnv, u5obj{"key": secret2, "cost": 1}); v.Code != "VALID" {
		t.Errorf("1 credit should be left after 33 × 3: %s", v.Code)
	}
	// The pool in the database, once idle leases went back.
	u5WaitCredits(t, e.testEnv, id, 0)
	u5WaitCredits(t, e.testEnv, id2, 0)
}

// u5WaitCredits polls GET /v1/keys/{id} until credits.remaining is want
// (leases of idle keys go back every few write-behind intervals).
func u5WaitCredits(t *testing.T, e *testEnv, id string, want int64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := u5Credits(t, e, id)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("key %s: credits.remaining is %d, want %d (idle leases not given back?)", id, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestU5CreditsEndpoint covers POST /v1/keys/{id}/credits.
func TestU5CreditsEndpoint(t *testing.T) {
	e := u5NewEnv(t, service.Options{UsageFlushInterval: 100 * time.Millisecond})
	path := func(id string) string { return "/v1/keys/" + id + "/credits" }
	change := func(t *testing.T, id string, body any, hdr map[string]string) map[string]any {
		t.Helper()
		return e.must(http.StatusOK, req{Method: "POST", Path: path(id), Body: body, Header: hdr}).JSON(t)
	}
	remainingOf := func(k map[string]any) int64 {
		c, _ := k["credits"].(map[string]any)
		f, _ := c["remaining"].(float64)
		return int64(f)
	}

	t.Run("set, add, subtract", func(t *testing.T) {
		id, secret := u5Key(t, e.testEnv, u5obj{"credits": u5obj{"remaining": 10, "refill": u5obj{"amount": 10, "interval": 3600}}})
		k := change(t, id, u5obj{"set": 3}, nil)
		if remainingOf(k) != 3 || k["id"] != id || k["kind"] != "api" {
			t.Fatalf("set 3: %v", k)
		}
		if rf, _ := k["credits"].(map[string]any)["refill"].(map[string]any); rf["amount"] != 10.0 || rf["interval"] != 3600.0 {
			t.Errorf("set changed the refill: %v", k["credits"])
		}
		for i := 0; i < 3; i++ {
			u5Left(t, u5Want(t, e.testEnv, "VALID", u5obj{"key": secret}), int64(2-i))
		}
		u5Want(t, e.testEnv, "USAGE_EXCEEDED", u5obj{"key": secret})
		if k := change(t, id, u5obj{"add": 4}, nil); remainingOf(k) != 4 {
			t.Fatalf("add 4 to an empty pool: remaining %d, want 4", remainingOf(k))
		}
		for i := 0; i < 4; i++ {
			u5Want(t, e.testEnv, "VALID", u5obj{"key": secret})
		}
		u5Want(t, e.testEnv, "USAGE_EXCEEDED", u5obj{"key": secret})
		u5WaitCredits(t, e.testEnv, id, 0)
		change(t, id, u5obj{"set": 100}, nil)
		if k := change(t, id, u5obj{"subtract": 30}, nil); remainingOf(k) != 70 {
			t.Fatalf("100 - 30: remaining %d, want 70", remainingOf(k))
		}
		// Subtracting more than there is floors at 0.
		if k := change(t, id, u5obj{"subtract": 1000}, nil); remainingOf(k) != 0 {
			t.Fatalf("70 - 1000: remaining %d, want 0", remainingOf(k))
		}
		u5Want(t, e.testEnv, "USAGE_EXCEEDED", u5obj{"key": secret})
		// add is capped at the maximum.
		change(t, id, u5obj{"set": keyward.MaxCredits}, nil)
		if k := change(t, id, u5obj{"add": 5}, nil); remainingOf(k) != keyward.MaxCredits {
			t.Errorf("max + 5: remaining %d, want the maximum %d", remainingOf(k), int64(keyward.MaxCredits))
		}
		// set 0 is allowed.
		if k := change(t, id, u5obj{"set": 0}, nil); remainingOf(k) != 0 {
			t.Errorf("set 0: remaining %d", remainingOf(k))
		}
	})

	t.Run("set voids this node's lease", func(t *testing.T) {
		// 1000 credits: the first verification leases a block of them.
		id, secret := u5Key(t, e.testEnv, u5obj{"credits": u5obj{"remaining": 1000}})
		u5Want(t, e.testEnv, "VALID", u5obj{"key": secret})
		if c := u5Credits(t, e.testEnv, id); c >= 999 {
			t.Logf("no lease taken (pool %d): the check below still holds", c)
		}
		change(t, id, u5obj{"set": 2}, nil)
		u5Left(t, u5Want(t, e.testEnv, "VALID", u5obj{"key": secret}), 1)
		u5Left(t, u5Want(t, e.testEnv, "VALID", u5obj{"key": secret}), 0)
		u5Want(t, e.testEnv, "USAGE_EXCEEDED", u5obj{"key": secret})
	})

	t.Run("add and subtract keep what was spent", func(t *testing.T) {
		id, secret := u5Key(t, e.testEnv, u5obj{"credits": u5obj{"remaining": 40}})
		for i := 0; i < 5; i++ {
			u5Want(t, e.testEnv, "VALID", u5obj{"key": secret})
		}
		change(t, id, u5obj{"add": 10}, nil)
		// 40 - 5 + 10 = 45 more, not one over.
		n := 0
		for ; n < 100; n++ {
			if u5V(t, e.testEnv, u5obj{"key": secret}).Code != "VALID" {
				break
			}
		}
		if n != 45 {
			t.Errorf("after 5 of 40 spent and 10 added, %d more verifications passed, want 45", n)
		}
	})

	t.Run("audit event", func(t *testing.T) {
		id, _ := u5Key(t, e.testEnv, u5obj{"credits": u5obj{"remaining": 10}})
		for _, op := range []u5obj{{"set": 20}, {"add": 5}, {"subtract": 7}} {
			change(t, id, op, map[string]string{"X-Request-Id": "u5-credits-audit", "User-Agent": "u5-test"})
		}
		evs := e.must(http.StatusOK, req{Method: "GET", Path: "/v1/audit-events?action=key.credits_changed&target_id=" + id}).JSON(t)
		data, _ := evs["data"].([]any)
		if len(data) != 3 {
			t.Fatalf("%d key.credits_changed events, want 3: %v", len(data), evs)
		}
		// Newest first: subtract 7 (25 → 18), add 5 (20 → 25), set 20 (10 → 20).
		want := []struct {
			op            string
			amount        float64
			before, after float64
		}{{"subtract", 7, 25, 18}, {"add", 5, 20, 25}, {"set", 20, 10, 20}}
		for i, w := range want {
			ev, _ := data[i].(map[string]any)
			actor, _ := ev["actor"].(map[string]any)
			target, _ := ev["target"].(map[string]any)
			if ev["action"] != "key.credits_changed" || target["id"] != id || target["type"] != "key" || actor["id"] != e.OperatorKeyID ||
				ev["request_id"] != "u5-credits-audit" || ev["user_agent"] != "u5-test" {
				t.Errorf("event %d: %v", i, ev)
			}
			ch, _ := ev["changes"].(map[string]any)
			cr, _ := ch["credits"].(map[string]any)
			b, _ := cr["before"].(map[string]any)
			a, _ := cr["after"].(map[string]any)
			if b["remaining"] != w.before || a["remaining"] != w.after {
				t.Errorf("event %d (%s %v): credits before %v after %v, want remaining %v → %v", i, w.op, w.amount, cr["before"], cr["after"], w.before, w.after)
			}
			opc, _ := ch["credits_operation"].(map[string]any)
			if got, _ := opc["after"].(map[string]any); got[w.op] != w.amount || len(got) != 1 {
				t.Errorf("event %d: credits_operation %v, want {%s: %v}", i, ch["credits_operation"], w.op, w.amount)
			}
		}
	})

	t.Run("If-Match", func(t *testing.T) {
		id, _ := u5Key(t, e.testEnv, u5obj{"credits": u5obj{"remaining": 10}})
		etag := e.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys/" + id}).Header.Get("ETag")
		before := e.auditCount()
		e.problem(e.do(req{Method: "POST", Path: path(id), Body: u5obj{"add": 1}, Header: map[string]string{"If-Match": `"nope"`}}), 412, "precondition_failed")
		if c := u5Credits(t, e.testEnv, id); c != 10 || e.auditCount() != before {
			t.Fatalf("a 412 changed the credits to %d or wrote an audit event", c)
		}
		res := e.must(http.StatusOK, req{Method: "POST", Path: path(id), Body: u5obj{"add": 1}, Header: map[string]string{"If-Match": etag}})
		if res.Header.Get("ETag") == "" || res.Header.Get("ETag") == etag {
			t.Errorf("ETag after the change %q, was %q: want a new one", res.Header.Get("ETag"), etag)
		}
		// The old etag no longer matches.
		e.problem(e.do(req{Method: "POST", Path: path(id), Body: u5obj{"add": 1}, Header: map[string]string{"If-Match": etag}}), 412, "precondition_failed")
	})

	t.Run("refused", func(t *testing.T) {
		id, _ := u5Key(t, e.testEnv, u5obj{"credits": u5obj{"remaining": 10}})
		noCredits, _ := u5Key(t, e.testEnv, nil)
		revoked, _ := u5Key(t, e.testEnv, u5obj{"credits": u5obj{"remaining": 10}})
		e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + revoked, Body: u5obj{"status": "revoked"}})
		mgmt := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/management-keys", Body: u5obj{"name": "m", "permissions": []string{"keys:read", "keys:verify"}}}).JSON(t)
		otherAcct := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/accounts", Body: u5obj{"name": "u5-other"}}).Str(t, "id")
		otherKey := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/keys", Header: map[string]string{"X-Account-Id": otherAcct},
			Body: u5obj{"name": "theirs", "credits": u5obj{"remaining": 10}}}).Str(t, "id")
		before := e.auditCount()
		cases := []struct {
			name   string
			r      req
			status int
			code   string
			field  string
		}{
			{"empty object", req{Body: u5obj{}}, 422, "validation_failed", "set"},
			{"two operations", req{Body: u5obj{"set": 1, "add": 1}}, 422, "validation_failed", "set"},
			{"three operations", req{Body: u5obj{"set": 1, "add": 1, "subtract": 1}}, 422, "validation_failed", "set"},
			{"set negative", req{Body: u5obj{"set": -1}}, 422, "validation_failed", "set"},
			{"set over the maximum", req{Body: u5obj{"set": keyward.MaxCredits + 1}}, 422, "validation_failed", "set"},
			{"set null", req{Body: u5obj{"set": nil}}, 422, "validation_failed", "set"},
			{"add 0", req{Body: u5obj{"add": 0}}, 422, "validation_failed", "add"},
			{"add negative", req{Body: u5obj{"add": -3}}, 422, "validation_failed", "add"},
			{"subtract 0", req{Body: u5obj{"subtract": 0}}, 422, "validation_failed", "subtract"},
			{"subtract over the maximum", req{Body: u5obj{"subtract": keyward.MaxCredits + 1}}, 422, "validation_failed", "subtract"},
			{"add a string", req{Body: u5obj{"add": "5"}}, 422, "validation_failed", "add"},
			{"add a fraction", req{Body: u5obj{"add": 1.5}}, 422, "validation_failed", "add"},
			{"unknown member", req{Body: u5obj{"reset": true}}, 400, "unknown_field", ""},
			{"not JSON", req{Body: "set=1"}, 400, "malformed_json", ""},
			{"no body", req{}, 400, "malformed_json", ""},
			{"not JSON content", req{Body: `{"set":1}`, Header: map[string]string{"Content-Type": "text/plain"}}, 415, "unsupported_media_type", ""},
			{"unknown query parameter", req{Path: path(id) + "?force=1", Body: u5obj{"set": 1}}, 400, "invalid_parameter", ""},
			{"key without credits", req{Path: path(noCredits), Body: u5obj{"add": 1}}, 409, "conflict", ""},
			{"revoked key", req{Path: path(revoked), Body: u5obj{"add": 1}}, 409, "key_revoked", ""},
			{"management key id", req{Path: path(mgmt["id"].(string)), Body: u5obj{"add": 1}}, 404, "not_found", ""},
			{"other account's key", req{Path: path(otherKey), Body: u5obj{"add": 1}}, 404, "not_found", ""},
			{"malformed id", req{Path: path("key_nope"), Body: u5obj{"add": 1}}, 404, "not_found", ""},
			{"without keys:write", req{Body: u5obj{"add": 1}, Token: mgmt["secret"].(string)}, 403, "permission_denied", ""},
			{"no credential", req{Body: u5obj{"add": 1}, NoAuth: true}, 401, "unauthenticated", ""},
			{"GET", req{Method: "GET"}, 405, "method_not_allowed", ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := c.r
				if r.Method == "" {
					r.Method = "POST"
				}
				if r.Path == "" {
					r.Path = path(id)
				}
				p := e.problem(e.do(r), c.status, c.code)
				if c.field != "" && !u5HasField(p, c.field) {
					t.Errorf("errors %v do not name %s", p["errors"], c.field)
				}
				if c.code == "permission_denied" && p["missing_permission"] != "keys:write" {
					t.Errorf("missing_permission %v, want keys:write", p["missing_permission"])
				}
			})
		}
		if c := u5Credits(t, e.testEnv, id); c != 10 {
			t.Errorf("refused requests changed the credits to %d", c)
		}
		if n := e.auditCount(); n != before {
			t.Errorf("refused requests wrote %d audit events", n-before)
		}
	})
}

// TestU5CreditsGiveBackLeases: the credits a node leased but did not spend
// go back to the pool when the key is idle, and when the service closes:
// pool + spent = initial.
func TestU5CreditsGiveBackLeases(t *testing.T) {
	e := u5NewEnv(t, service.Options{UsageFlushInterval: 100 * time.Millisecond})
	id, secret := u5Key(t, e.testEnv, u5obj{"credits": u5obj{"remaining": 1600}})
	for i := 0; i < 7; i++ {
		u5Want(t, e.testEnv, "VALID", u5obj{"key": secret})
	}
	// A lease of 100 (1600/16) was taken: the pool shows it is out.
	if c := u5Credits(t, e.testEnv, id); c >= 1600-7 {
		t.Logf("pool %d right after 7 verifications (no lease outstanding)", c)
	}
	u5WaitCredits(t, e.testEnv, id, 1600-7)

	// At shutdown too: spend, close the service at once, read the pool.
	for i := 0; i < 9; i++ {
		u5Want(t, e.testEnv, "VALID", u5obj{"key": secret})
	}
	if err := e.Service.Close(context.Background()); err != nil {
		t.Fatalf("close: %v", err)
	}
	var pool int64
	err := e.DB.Read(context.Background(), func(tx keyward.Tx) error {
		m, err := tx.FindKeyByHash(context.Background(), keyward.TokenFromString(secret).Hash())
		if err == nil {
			pool = m.Key.Credits.Remaining
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if pool != 1600-16 {
		t.Errorf("after 16 verifications and a clean close the pool holds %d, want %d", pool, 1600-16)
	}
}

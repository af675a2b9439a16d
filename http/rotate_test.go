package http_test

import (
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward/keywardtest"
)

// lcRotate rotates a key with the body (nil: no body) and returns the answer.
func lcRotate(t *testing.T, e *testEnv, id string, body any) (map[string]any, *resp) {
	t.Helper()
	res := must(t, e, http.StatusOK, req{Method: "POST", Path: "/v1/keys/" + id + "/rotate", Body: body})
	return res.JSON(t), res
}

// lcRotateSecret rotates key id with a grace period of grace seconds and
// returns the new secret.
func lcRotateSecret(t *testing.T, e *testEnv, id string, grace int) string {
	t.Helper()
	got, _ := lcRotate(t, e, id, map[string]any{"grace_period_seconds": grace})
	secret, _ := got["secret"].(string)
	if secret == "" {
		t.Fatalf("a rotation without a new secret: %v", got)
	}
	return secret
}

func TestLcRotate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	prj := lcProject(t, e, "p")
	id, old := apiKey(t, e, nil, map[string]any{
		"name": "rot", "prefix": "rk", "description": "d", "project_id": prj, "expires_at": future(24 * time.Hour),
		"metadata": map[string]any{"m": 1}, "ip_allowlist": []string{"10.0.0.0/8"}, "permission_mode": "restricted",
		"scopes": []any{scope("documents", "read", "d1")},
	})
	before := lcGet(t, e, id)
	nev := len(events(t, e, "target_id="+url.QueryEscape(id), nil))
	audit := e.auditCount()
	lcPastMillis(timeOf(t, before["updated_at"]))
	start := time.Now().UTC().Truncate(time.Millisecond)

	got, res := lcRotate(t, e, id, map[string]any{"grace_period_seconds": 3600})
	secret, _ := got["secret"].(string)
	lcCheckSecret(t, secret, "rk")
	if secret == old {
		t.Fatal("rotation returned the old secret")
	}
	if got["id"] != id {
		t.Fatalf("rotation changed the id: %v", got["id"])
	}
	if got["start"] != secret[:len("rk_")+4] || got["last4"] != secret[len(secret)-4:] {
		t.Fatalf("start %v / last4 %v do not match the new secret", got["start"], got["last4"])
	}
	if got["start"] == before["start"] && got["last4"] == before["last4"] {
		t.Fatal("start and last4 did not change")
	}
	if r := timeOf(t, got["rotated_at"]); r.Before(start) {
		t.Fatalf("rotated_at %v before the rotation started %v", r, start)
	}
	if etag, _ := got["etag"].(string); etag == before["etag"] || res.Header.Get("ETag") != `"`+etag+`"` {
		t.Fatalf("etag %v (was %v), header %q", got["etag"], before["etag"], res.Header.Get("ETag"))
	}
	if !timeOf(t, got["updated_at"]).After(timeOf(t, before["updated_at"])) {
		t.Fatalf("updated_at did not move: %v → %v", before["updated_at"], got["updated_at"])
	}
	// Every setting is kept.
	for n, v := range before {
		switch n {
		case "start", "last4", "rotated_at", "etag", "updated_at", "updated_by_id", "last_used_at":
			continue
		}
		if !reflect.DeepEqual(got[n], v) {
			t.Errorf("rotation changed %s: %v → %v", n, v, got[n])
		}
	}
	// GET shows the rotated key, without the secret.
	g := lcGet(t, e, id)
	delete(got, "secret")
	lcJSONEq(t, "GET after rotate", g, got)

	// Both secrets verify during the grace period, as the same key.
	for _, s := range []string{old, secret} {
		r := verify(t, e, nil, map[string]any{"key": s, "ip": "10.0.0.1", "project_id": prj, "permissions": "documents:read:d1"})
		if r["code"] != "VALID" || r["key_id"] != id {
			t.Fatalf("during the grace period: %v", r)
		}
	}

	// One audit event, key.rotated, without any secret.
	if e.auditCount() != audit+1 {
		t.Fatalf("rotation wrote %d audit events, want 1", e.auditCount()-audit)
	}
	ev := lcOneNewEvent(t, e, id, nev, "key.rotated")
	fields := lcChangedFields(t, ev)
	for _, f := range []string{"start", "last4", "rotated_at", "previous_secret_valid_until"} {
		if !slices.Contains(fields, f) {
			t.Errorf("key.rotated changes %v lack %s", fields, f)
		}
	}
	if _, until := lcChange(t, ev, "previous_secret_valid_until"); until != nil {
		if d := timeOf(t, until).Sub(timeOf(t, got["rotated_at"])); d != time.Hour {
			t.Errorf("previous_secret_valid_until is %v after rotated_at, want 1h", d)
		}
	}
	_, raw := lcEvents(t, e, id)
	lcNoSecret(t, "audit events", raw, old, secret)
	lcNoSecret(t, "GET", must(t, e, http.StatusOK, req{Method: "GET", Path: "/v1/keys/" + id}).Body, old, secret)
}

func TestLcRotateGraceEnds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, old := apiKey(t, e, nil, map[string]any{"name": "grace"})
	secret := lcRotateSecret(t, e, id, 1)
	seenRotated := false
	keywardtest.WaitFor(t, "the old secret's grace period to end", 20*time.Second, func() bool {
		code := lcCode(t, e, old, nil)
		switch {
		case code == "ROTATED":
			seenRotated = true
		case code != "VALID" || seenRotated:
			t.Fatalf("old secret during the grace period: %s", code)
		}
		if c := lcCode(t, e, secret, nil); c != "VALID" {
			t.Fatalf("new secret: %s", c)
		}
		return seenRotated
	})
	// Once ended, it stays ended, and a rotated-out secret never authenticates.
	r := verify(t, e, nil, map[string]any{"key": old})
	if r["code"] != "ROTATED" || r["valid"] != false || r["key_id"] != id {
		t.Fatalf("old secret after the grace period: %v", r)
	}
	lcWantCode(t, e, secret, nil, "VALID")
}

func TestLcRotateDefaultGraceIsZero(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, body := range []any{nil, map[string]any{}, map[string]any{"grace_period_seconds": 0}} {
		k := newKey(t, e, nil, map[string]any{"name": "zero"})
		got, _ := lcRotate(t, e, k["id"].(string), body)
		lcWantCode(t, e, k["secret"], nil, "ROTATED")
		lcWantCode(t, e, got["secret"], nil, "VALID")
	}
}

func TestLcRotateTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, s1 := apiKey(t, e, nil, map[string]any{"name": "twice"})
	s2 := lcRotateSecret(t, e, id, 604800)
	s3 := lcRotateSecret(t, e, id, 3600)
	for _, s := range []string{s1, s2, s3} {
		lcWantCode(t, e, s, nil, "VALID")
	}
	// A rotation with grace 0 ends every older secret at once.
	s4 := lcRotateSecret(t, e, id, 0)
	for i, s := range []string{s1, s2, s3} {
		if got := lcCode(t, e, s, nil); got != "ROTATED" {
			t.Errorf("secret %d after a rotation with grace 0: %s, want ROTATED", i+1, got)
		}
	}
	lcWantCode(t, e, s4, nil, "VALID")
	if len(map[string]bool{s1: true, s2: true, s3: true, s4: true}) != 4 {
		t.Fatal("rotation reused a secret")
	}
	evs := events(t, e, "target_id="+url.QueryEscape(id), nil)
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev["action"].(string))
	}
	if !slices.Equal(actions, []string{"key.rotated", "key.rotated", "key.rotated", "key.created"}) {
		t.Fatalf("audit trail %v", actions)
	}
	// Deleting the key ends every secret, rotated or not, as NOT_FOUND.
	must(t, e, http.StatusNoContent, req{Method: "DELETE", Path: "/v1/keys/" + id})
	for _, s := range []string{s1, s4} {
		lcJSONEq(t, "verify after delete", verify(t, e, nil, map[string]any{"key": s}), map[string]any{"valid": false, "code": "NOT_FOUND"})
	}
}

func TestLcRotateRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, secret := apiKey(t, e, nil, map[string]any{"name": "r"})
	path := "/v1/keys/" + id + "/rotate"
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"negative grace", map[string]any{"grace_period_seconds": -1}, 422, "validation_failed"},
		{"grace above 7 days", map[string]any{"grace_period_seconds": 604801}, 422, "validation_failed"},
		{"grace as a string", map[string]any{"grace_period_seconds": "10"}, 422, "validation_failed"},
		{"grace as a fraction", map[string]any{"grace_period_seconds": 1.5}, 422, "validation_failed"},
		{"grace as a boolean", map[string]any{"grace_period_seconds": true}, 422, "validation_failed"},
		{"grace huge", `{"grace_period_seconds": 1e30}`, 422, "validation_failed"},
		{"unknown member", map[string]any{"grace": 10}, 400, "unknown_field"},
		{"not an object", `[1]`, 400, "malformed_json"},
		{"malformed", `{"grace_period_seconds": }`, 400, "malformed_json"},
		{"duplicate member", `{"grace_period_seconds": 1, "grace_period_seconds": 2}`, 400, "malformed_json"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := lcRefused(t, e, id, req{Method: "POST", Path: path, Body: c.body}, c.status, c.code)
			if c.code == "validation_failed" {
				lcFieldNamed(t, p, "grace_period_seconds")
			}
			lcWantCode(t, e, secret, nil, "VALID")
		})
	}
	t.Run("stale If-Match", func(t *testing.T) {
		lcRefused(t, e, id, req{Method: "POST", Path: path, Header: map[string]string{"If-Match": `"stale"`}}, http.StatusPreconditionFailed, "precondition_failed")
		lcWantCode(t, e, secret, nil, "VALID")
	})
	t.Run("revoked key", func(t *testing.T) {
		rk := newKey(t, e, nil, map[string]any{"name": "revoked"})
		rid := rk["id"].(string)
		lcPatch(t, e, rid, map[string]any{"status": "revoked"})
		for _, body := range []any{nil, map[string]any{"grace_period_seconds": 60}} {
			lcRefused(t, e, rid, req{Method: "POST", Path: "/v1/keys/" + rid + "/rotate", Body: body}, http.StatusConflict, "key_revoked")
		}
		lcWantCode(t, e, rk["secret"], nil, "REVOKED")
	})
	t.Run("unknown or foreign ids", func(t *testing.T) {
		for _, bad := range []string{lcUnknownKeyID, e.OperatorKeyID, "nope"} {
			audit := e.auditCount()
			problem(t, e.do(req{Method: "POST", Path: "/v1/keys/" + bad + "/rotate"}), http.StatusNotFound, "not_found")
			if e.auditCount() != audit {
				t.Fatal("a refused rotation wrote an audit event")
			}
		}
	})
	t.Run("boundary grace is accepted", func(t *testing.T) {
		got, _ := lcRotate(t, e, id, map[string]any{"grace_period_seconds": 604800})
		lcWantCode(t, e, secret, nil, "VALID")
		lcWantCode(t, e, got["secret"], nil, "VALID")
	})
	t.Run("a disabled key can be rotated and stays disabled", func(t *testing.T) {
		dk := newKey(t, e, nil, map[string]any{"name": "disabled", "status": "disabled"})
		got, _ := lcRotate(t, e, dk["id"].(string), nil)
		if got["status"] != "disabled" {
			t.Fatalf("status %v after rotation", got["status"])
		}
		lcWantCode(t, e, got["secret"], nil, "DISABLED")
	})
}

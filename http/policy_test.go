package http_test

// Tests of the account expiry policy (issue 3 item 10): max_key_lifetime,
// require_expiry and default_key_lifetime enforced on create, PATCH, PUT
// and rotate, each refusal a 422 naming expires_at and the rule.

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// rkSetPolicy PATCHes the default account with the operator key and
// returns the account.
func rkSetPolicy(t *testing.T, e *testEnv, settings map[string]any) map[string]any {
	t.Helper()
	id := defaultAccount(t, e)
	a := e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/accounts/" + id, Body: settings}).JSON(t)
	for k, v := range settings {
		if want, ok := v.(int); ok && a[k] != float64(want) || !ok && a[k] != v {
			t.Fatalf("after PATCH %s = %v the account shows %v", k, v, a[k])
		}
	}
	return a
}

// rkExpiry parses the expires_at of a key object (zero for null).
func rkExpiry(t *testing.T, k map[string]any) time.Time {
	t.Helper()
	s, ok := k["expires_at"].(string)
	if !ok {
		if k["expires_at"] != nil {
			t.Fatalf("expires_at is %v", k["expires_at"])
		}
		return time.Time{}
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("expires_at %q: %v", s, err)
	}
	return ts
}

// rkAbout fails unless got is within a minute of want.
func rkAbout(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if d := got.Sub(want); d < -time.Minute || d > time.Minute {
		t.Errorf("%s is %v, want about %v", what, got, want)
	}
}

// rkRefused sends r and requires a 422 naming expires_at with a message
// that mentions rule; nothing about the key may change.
func rkRefused(t *testing.T, e *testEnv, r req, rule string) {
	t.Helper()
	// The key as GET shows it, but for last_used_at (written behind).
	snapshot := func() string {
		k := e.must(http.StatusOK, req{Method: "GET", Path: rkKeyPath(r.Path)}).JSON(t)
		delete(k, "last_used_at")
		b, _ := json.Marshal(k)
		return string(b)
	}
	var before string
	if r.Path != "/v1/keys" {
		before = snapshot()
	}
	n := e.auditCount()
	p := problem(t, e.do(r), http.StatusUnprocessableEntity, "validation_failed")
	rkWantFields(t, p, "expires_at")
	rkWantField(t, p, "expires_at", rule)
	if e.auditCount() != n {
		t.Errorf("%s %s was refused but wrote an audit event", r.Method, r.Path)
	}
	if before != "" {
		if after := snapshot(); after != before {
			t.Errorf("%s %s was refused but the key changed:\n%s\n%s", r.Method, r.Path, before, after)
		}
	}
}

// rkKeyPath strips /rotate from a key path.
func rkKeyPath(p string) string {
	const suffix = "/rotate"
	if len(p) > len(suffix) && p[len(p)-len(suffix):] == suffix {
		return p[:len(p)-len(suffix)]
	}
	return p
}

func TestExpiryPolicy(t *testing.T) {
	t.Parallel()

	t.Run("max_key_lifetime", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		const rule = "max_key_lifetime"
		legacy := e.createKey(map[string]any{"name": "no expiry"})
		far := e.createKey(map[string]any{"name": "far", "expires_at": future(10 * 24 * time.Hour)})
		near := e.createKey(map[string]any{"name": "near", "expires_at": future(30 * time.Minute)})
		rkSetPolicy(t, e, map[string]any{"max_key_lifetime": 3600})
		kp := func(k map[string]any) string { return "/v1/keys/" + k["id"].(string) }

		t.Run("create", func(t *testing.T) {
			for name, body := range map[string]map[string]any{
				"no expiry":        {"name": "k"},
				"null expiry":      {"name": "k", "expires_at": nil},
				"clear_expires_at": {"name": "k", "clear_expires_at": true},
				"beyond the max":   {"name": "k", "expires_at": future(2 * time.Hour)},
			} {
				t.Run(name, func(t *testing.T) { rkRefused(t, e, req{Method: "POST", Path: "/v1/keys", Body: body}, rule) })
			}
			k := e.createKey(map[string]any{"name": "ok", "expires_at": future(59 * time.Minute)})
			rkAbout(t, "expires_at", rkExpiry(t, k), time.Now().Add(59*time.Minute))
		})
		t.Run("PATCH", func(t *testing.T) {
			for name, body := range map[string]map[string]any{
				"null":             {"expires_at": nil},
				"clear_expires_at": {"clear_expires_at": true},
				"beyond the max":   {"expires_at": future(2 * time.Hour)},
			} {
				t.Run(name, func(t *testing.T) { rkRefused(t, e, req{Method: "PATCH", Path: kp(near), Body: body}, rule) })
			}
			k := e.must(http.StatusOK, req{Method: "PATCH", Path: kp(near), Body: map[string]any{"expires_at": future(10 * time.Minute)}}).JSON(t)
			rkAbout(t, "expires_at", rkExpiry(t, k), time.Now().Add(10*time.Minute))
			// A change that leaves the expiry alone is not judged by it.
			e.must(http.StatusOK, req{Method: "PATCH", Path: kp(legacy), Body: map[string]any{"name": "renamed"}})
		})
		t.Run("PUT", func(t *testing.T) {
			rkRefused(t, e, req{Method: "PUT", Path: kp(near), Body: map[string]any{"name": "near"}}, rule)
			rkRefused(t, e, req{Method: "PUT", Path: kp(near), Body: map[string]any{"name": "near", "expires_at": future(2 * time.Hour)}}, rule)
			e.must(http.StatusOK, req{Method: "PUT", Path: kp(near), Body: map[string]any{"name": "near", "expires_at": future(20 * time.Minute)}})
		})
		t.Run("rotate", func(t *testing.T) {
			rot := func(k map[string]any) string { return kp(k) + "/rotate" }
			rkRefused(t, e, req{Method: "POST", Path: rot(legacy), Body: map[string]any{}}, rule)
			rkRefused(t, e, req{Method: "POST", Path: rot(legacy), Body: map[string]any{"expires_at": future(2 * time.Hour)}}, rule)
			rkRefused(t, e, req{Method: "POST", Path: rot(far), Body: map[string]any{}}, rule)
			rkRefused(t, e, req{Method: "POST", Path: rot(far), Body: map[string]any{"grace_period_seconds": 60, "expires_at": future(2 * time.Hour)}}, rule)
			for _, k := range []map[string]any{legacy, far} {
				if code := lcCode(t, e, k["secret"].(string), nil); code != "VALID" {
					t.Errorf("a refused rotation changed the secret of %s: %s", k["name"], code)
				}
			}
			r := e.must(http.StatusOK, req{Method: "POST", Path: rot(far), Body: map[string]any{"expires_at": future(45 * time.Minute)}}).JSON(t)
			rkAbout(t, "the rotated key's expires_at", rkExpiry(t, r), time.Now().Add(45*time.Minute))
			if code := lcCode(t, e, r["secret"].(string), nil); code != "VALID" {
				t.Errorf("the rotated secret verifies as %s", code)
			}
			if code := lcCode(t, e, far["secret"].(string), nil); code != "ROTATED" {
				t.Errorf("the old secret verifies as %s, want ROTATED", code)
			}
			r = e.must(http.StatusOK, req{Method: "POST", Path: rot(legacy), Body: map[string]any{"expires_at": future(30 * time.Minute)}}).JSON(t)
			rkAbout(t, "expires_at", rkExpiry(t, r), time.Now().Add(30*time.Minute))
			// A key already within the policy rotates without a body expiry.
			r = e.must(http.StatusOK, req{Method: "POST", Path: rot(near), Body: map[string]any{}}).JSON(t)
			if rkExpiry(t, r).IsZero() {
				t.Errorf("rotation dropped the expiry")
			}
		})
		t.Run("other accounts are not bound", func(t *testing.T) {
			other := account(t, e, "other")
			e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/keys", Header: map[string]string{"X-Account-Id": other}, Body: map[string]any{"name": "free"}})
		})
	})

	t.Run("require_expiry", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		const rule = "require_expiry"
		legacy := e.createKey(map[string]any{"name": "no expiry"})
		withExp := e.createKey(map[string]any{"name": "with", "expires_at": future(time.Hour)})
		rkSetPolicy(t, e, map[string]any{"require_expiry": true})
		kp := func(k map[string]any) string { return "/v1/keys/" + k["id"].(string) }

		rkRefused(t, e, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "k"}}, rule)
		rkRefused(t, e, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "k", "expires_at": nil}}, rule)
		// Without a maximum, any future expiry will do.
		e.createKey(map[string]any{"name": "k", "expires_at": future(10 * 365 * 24 * time.Hour)})

		rkRefused(t, e, req{Method: "PATCH", Path: kp(withExp), Body: map[string]any{"expires_at": nil}}, rule)
		rkRefused(t, e, req{Method: "PATCH", Path: kp(withExp), Body: map[string]any{"clear_expires_at": true}}, rule)
		e.must(http.StatusOK, req{Method: "PATCH", Path: kp(withExp), Body: map[string]any{"expires_at": future(3 * time.Hour)}})

		rkRefused(t, e, req{Method: "PUT", Path: kp(withExp), Body: map[string]any{"name": "with"}}, rule)
		e.must(http.StatusOK, req{Method: "PUT", Path: kp(withExp), Body: map[string]any{"name": "with", "expires_at": future(time.Hour)}})

		rkRefused(t, e, req{Method: "POST", Path: kp(legacy) + "/rotate", Body: map[string]any{}}, rule)
		r := e.must(http.StatusOK, req{Method: "POST", Path: kp(legacy) + "/rotate", Body: map[string]any{"expires_at": future(5 * time.Hour)}}).JSON(t)
		rkAbout(t, "expires_at", rkExpiry(t, r), time.Now().Add(5*time.Hour))
		e.must(http.StatusOK, req{Method: "POST", Path: kp(withExp) + "/rotate", Body: map[string]any{}})

		// Lifting the policy lifts the rule.
		rkSetPolicy(t, e, map[string]any{"require_expiry": false})
		e.createKey(map[string]any{"name": "free again"})
	})

	t.Run("default_key_lifetime", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		rkSetPolicy(t, e, map[string]any{"default_key_lifetime": 600})
		k := e.createKey(map[string]any{"name": "defaulted"})
		rkAbout(t, "the default expiry", rkExpiry(t, k), time.Now().Add(600*time.Second))
		explicit := e.createKey(map[string]any{"name": "explicit", "expires_at": future(48 * time.Hour)})
		rkAbout(t, "an explicit expiry", rkExpiry(t, explicit), time.Now().Add(48*time.Hour))
		// PUT without expires_at gives what a new key gets.
		put := e.must(http.StatusOK, req{Method: "PUT", Path: "/v1/keys/" + explicit["id"].(string), Body: map[string]any{"name": "explicit"}}).JSON(t)
		rkAbout(t, "the expiry after PUT", rkExpiry(t, put), time.Now().Add(600*time.Second))
		// A default is not a requirement: a key may still opt out.
		none := e.createKey(map[string]any{"name": "never", "expires_at": nil})
		if !rkExpiry(t, none).IsZero() {
			t.Errorf("expires_at: null with only a default lifetime gives expires_at %v, want null", none["expires_at"])
		}
		e.must(http.StatusOK, req{Method: "POST", Path: "/v1/keys/" + none["id"].(string) + "/rotate", Body: map[string]any{}})

		// With require_expiry and a maximum, the default satisfies both.
		rkSetPolicy(t, e, map[string]any{"require_expiry": true, "max_key_lifetime": 3600})
		k = e.createKey(map[string]any{"name": "defaulted under policy"})
		rkAbout(t, "the default expiry", rkExpiry(t, k), time.Now().Add(600*time.Second))
		rkRefused(t, e, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "k", "expires_at": nil}}, "require_expiry")
	})

	t.Run("account settings are validated", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		id := defaultAccount(t, e)
		for _, tc := range []struct {
			name  string
			body  map[string]any
			field string
		}{
			{"max 0", map[string]any{"max_key_lifetime": 0}, "max_key_lifetime"},
			{"max negative", map[string]any{"max_key_lifetime": -5}, "max_key_lifetime"},
			{"max not a number", map[string]any{"max_key_lifetime": "1h"}, "max_key_lifetime"},
			{"default 0", map[string]any{"default_key_lifetime": 0}, "default_key_lifetime"},
			{"default beyond max", map[string]any{"max_key_lifetime": 3600, "default_key_lifetime": 7200}, "default_key_lifetime"},
			{"require null", map[string]any{"require_expiry": nil}, "require_expiry"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := problem(t, e.do(req{Method: "PATCH", Path: "/v1/accounts/" + id, Body: tc.body}), http.StatusUnprocessableEntity, "validation_failed")
				rkWantField(t, p, tc.field)
			})
		}
		// A maximum below an existing default is refused too.
		rkSetPolicy(t, e, map[string]any{"default_key_lifetime": 7200})
		p := problem(t, e.do(req{Method: "PATCH", Path: "/v1/accounts/" + id, Body: map[string]any{"max_key_lifetime": 3600}}), http.StatusUnprocessableEntity, "validation_failed")
		rkWantField(t, p, "default_key_lifetime")
		// null clears a lifetime.
		a := rkSetPolicy(t, e, map[string]any{"default_key_lifetime": nil})
		if a["default_key_lifetime"] != nil {
			t.Errorf("default_key_lifetime: null leaves %v", a["default_key_lifetime"])
		}
		if k := e.createKey(map[string]any{"name": "k"}); k["expires_at"] != nil {
			t.Errorf("with the default lifetime cleared a new key expires at %v", k["expires_at"])
		}
		// Only operator keys change account settings.
		_, mk := mgmtKey(t, e, "", "keys:read", "keys:write")
		problem(t, e.do(req{Method: "PATCH", Path: "/v1/accounts/" + id, Token: mk, Body: map[string]any{"require_expiry": true}}), http.StatusForbidden, "permission_denied")
		e.createKey(map[string]any{"name": "still free"})
	})
}

package pulsecrm

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestRoutes(t *testing.T) {
	f := newFixture(t)
	k := f.create(map[string]any{"description": "target", "flatPermissionsList": []string{}})
	id := strconv.FormatInt(k.ID, 10)
	mgmt := f.nativeKeyIDOf(f.admin)

	t.Run("wrong methods", func(t *testing.T) {
		for _, c := range []struct {
			method, path, allow string
			permissions         bool
		}{
			{"PUT", "/apikeys", "GET, HEAD, POST", false},
			{"DELETE", "/apikeys", "GET, HEAD, POST", false},
			{"PATCH", "/apikeys", "GET, HEAD, POST", false},
			{"PUT", "/apikeys/" + id, "DELETE, GET, HEAD, PATCH", false},
			{"POST", "/apikeys/" + id, "DELETE, GET, HEAD, PATCH", false},
			{"OPTIONS", "/apikeys/" + id, "DELETE, GET, HEAD, PATCH", false},
			{"POST", "/permissions", "GET, HEAD", true},
			{"DELETE", "/permissions", "GET, HEAD", true},
		} {
			res := f.pulse(c.method, c.path, nil)
			if msg := errorMessage(t, res, http.StatusMethodNotAllowed, c.permissions); msg != "Method not allowed" {
				t.Errorf("%s %s: %q", c.method, c.path, msg)
			}
			if got := res.Header.Get("Allow"); got != c.allow {
				t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
			}
		}
	})

	t.Run("unknown routes", func(t *testing.T) {
		for _, p := range []string{"/", "/apikeys/" + id + "/extra", "/auth/login", "/auth/session", "/roles", "/apikey", "/v1/apikeys"} {
			res := f.pulse("GET", p, nil)
			if res.Status != http.StatusNotFound || string(res.Body) != "{\"error\":\"Not found\"}\n" {
				t.Errorf("GET %s: %d %s", p, res.Status, res.Body)
			}
		}
	})

	t.Run("ids that name no key", func(t *testing.T) {
		for _, ref := range []string{"0", "1", "12345", "-1", "+1", "1.0", "1e3", "abc", "99999999999999999999", "9007199254740992",
			"key_bad", "apiKey-", "apiKey-bad", "key_01ARZ3NDEKTSV4RRFFQ69G5FAV", mgmt, "apiKey-" + strings.TrimPrefix(mgmt, "key_")} {
			for _, method := range []string{"GET", "PATCH", "DELETE"} {
				var body any
				if method == "PATCH" {
					body = `{"description": "x", "flatPermissionsList": []}`
				}
				res := f.pulse(method, "/apikeys/"+ref, body)
				if res.Status != http.StatusNotFound || string(res.Body) != "{\"error\":\"API key not found\"}\n" {
					t.Errorf("%s %s: %d %s", method, ref, res.Status, res.Body)
				}
			}
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		res := f.pulse("HEAD", "/apikeys", nil)
		if res.Status != http.StatusOK || len(res.Body) != 0 || res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("HEAD: %d %q", res.Status, res.Body)
		}
	})

	t.Run("request id", func(t *testing.T) {
		res := f.pulse("GET", "/apikeys/abc", nil, "X-Request-Id: pulse-test-1")
		if res.Header.Get("X-Request-Id") != "pulse-test-1" {
			t.Errorf("X-Request-Id %q", res.Header.Get("X-Request-Id"))
		}
	})

	t.Run("every id form", func(t *testing.T) {
		for _, ref := range []string{id, k.APIKey, nativeID(k.APIKey)} {
			res := f.pulse("GET", "/apikeys/"+ref, nil)
			var got apiKeyView
			res.JSON(t, &got)
			if res.Status != http.StatusOK || got.ID != k.ID {
				t.Errorf("GET %s: %d %s", ref, res.Status, res.Body)
			}
		}
	})
}

// nativeKeyIDOf returns the id of the management key with the given secret.
func (f *fixture) nativeKeyIDOf(secret string) string {
	f.T.Helper()
	res := f.Do("GET", "/v1/whoami", nil, "Authorization: Bearer "+secret)
	var who struct {
		Key struct {
			ID string `json:"id"`
		} `json:"key"`
	}
	res.JSON(f.T, &who)
	if who.Key.ID == "" {
		f.T.Fatalf("whoami: %d %s", res.Status, res.Body)
	}
	return who.Key.ID
}

package pulsecrm

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/compat/compattest"
)

// auditCount returns how many audit events the key has.
func (f *fixture) auditCount(keyID string) int {
	f.T.Helper()
	return len(f.auditEvents(keyID))
}

func TestBadBodies(t *testing.T) {
	f := newFixture(t)
	k := f.create(map[string]any{"description": "kept", "flatPermissionsList": []string{"readApplications"}, "expiresAt": "2099-01-01T00:00:00Z"})
	path := "/apikeys/" + strconv.FormatInt(k.ID, 10)
	before := f.nativeKey(nativeID(k.APIKey))
	events := f.auditCount(nativeID(k.APIKey))
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)

	cases := []struct {
		name   string
		body   any // string: sent as is
		header []string
		status int
		want   string // part of the error message
	}{
		{"malformed JSON", `{"description": "x", `, nil, 400, "JSON"},
		{"not an object", `["readApplications"]`, nil, 400, "object"},
		{"trailing data", `{"description": "x", "flatPermissionsList": []} {}`, nil, 400, "after"},
		{"duplicate member", `{"description": "x", "description": "y", "flatPermissionsList": []}`, nil, 400, "twice"},
		{"empty body", "", nil, 400, "body"},
		{"unknown member", `{"description": "x", "flatPermissionsList": [], "name": "x"}`, nil, 400, "unknown field"},
		{"echoed read-only member", `{"id": 1, "description": "x", "flatPermissionsList": []}`, nil, 400, "unknown field"},
		{"description missing", `{"flatPermissionsList": []}`, nil, 400, "description: is required"},
		{"description null", `{"description": null, "flatPermissionsList": []}`, nil, 400, "description: is required"},
		{"description a number", `{"description": 5, "flatPermissionsList": []}`, nil, 400, "description: must be a string"},
		{"description empty", `{"description": "", "flatPermissionsList": []}`, nil, 400, "description: must not be empty"},
		{"description too long", `{"description": "` + strings.Repeat("x", 256) + `", "flatPermissionsList": []}`, nil, 400, "description: must be at most 255"},
		{"description on two lines", `{"description": "a\nb", "flatPermissionsList": []}`, nil, 400, "description"},
		{"permissions missing", `{"description": "x"}`, nil, 400, "flatPermissionsList: is required"},
		{"permissions null", `{"description": "x", "flatPermissionsList": null}`, nil, 400, "flatPermissionsList: is required"},
		{"permissions a string", `{"description": "x", "flatPermissionsList": "readApplications"}`, nil, 400, "flatPermissionsList: must be an array"},
		{"permissions of numbers", `{"description": "x", "flatPermissionsList": [1]}`, nil, 400, "flatPermissionsList: must be an array"},
		{"unknown permission", `{"description": "x", "flatPermissionsList": ["readApplications", "readFoo"]}`, nil, 400, `Invalid permissions provided: "readFoo" is not a permission`},
		{"permission in the wrong case", `{"description": "x", "flatPermissionsList": ["readcrm"]}`, nil, 400, "Invalid permissions provided"},
		{"native atom form", `{"description": "x", "flatPermissionsList": ["applications:read"]}`, nil, 400, "Invalid permissions provided"},
		{"protected permission", `{"description": "x", "flatPermissionsList": ["writeApiKeys"]}`, nil, 400, "Invalid permissions provided: writeApiKeys cannot be granted to an API key"},
		{"empty permission", `{"description": "x", "flatPermissionsList": [""]}`, nil, 400, "Invalid permissions provided"},
		{"expiresAt a number", `{"description": "x", "expiresAt": 5, "flatPermissionsList": []}`, nil, 400, "expiresAt: must be a string"},
		{"expiresAt not a date", `{"description": "x", "expiresAt": "tomorrow", "flatPermissionsList": []}`, nil, 400, "expiresAt: must be an ISO 8601 date-time"},
		{"expiresAt a date only", `{"description": "x", "expiresAt": "2099-01-01", "flatPermissionsList": []}`, nil, 400, "expiresAt"},
		{"expiresAt without offset", `{"description": "x", "expiresAt": "2099-01-01T00:00:00", "flatPermissionsList": []}`, nil, 400, "expiresAt"},
		{"expiresAt impossible", `{"description": "x", "expiresAt": "2099-02-30T00:00:00Z", "flatPermissionsList": []}`, nil, 400, "expiresAt"},
		{"expiresAt in the past", `{"description": "x", "expiresAt": "` + past + `", "flatPermissionsList": []}`, nil, 400, "expiresAt: must be in the future"},
		{"not JSON media type", `{"description": "x", "flatPermissionsList": []}`, []string{"Content-Type: text/plain"}, 415, "application/json"},
		{"not UTF-8", []byte("{\"description\": \"\xff\", \"flatPermissionsList\": []}"), nil, 400, "UTF-8"},
		{"over 1 MiB", `{"description": "x", "flatPermissionsList": [], "pad": "` + strings.Repeat("x", 1<<20) + `"}`, nil, 413, "larger"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body any = c.body
			if s, ok := c.body.(string); ok && s == "" {
				body = nil
			}
			for _, method := range []string{"PATCH", "POST"} {
				p := path
				if method == "POST" {
					p = "/apikeys"
				}
				msg := wantError(t, f.pulse(method, p, body, c.header...), c.status)
				if !strings.Contains(msg, c.want) {
					t.Errorf("%s: error %q, want it to contain %q", method, msg, c.want)
				}
			}
		})
	}

	// Nothing changed and nothing was created.
	after := f.nativeKey(nativeID(k.APIKey))
	if after["etag"] != before["etag"] || f.auditCount(nativeID(k.APIKey)) != events {
		t.Errorf("refused requests changed the key: %v → %v", before, after)
	}
	var list []apiKeyView
	f.pulse("GET", "/apikeys", nil).JSON(t, &list)
	if len(list) != 1 {
		t.Errorf("refused creates made keys: %d keys", len(list))
	}
}

func TestCredentials(t *testing.T) {
	f := newFixture(t)
	k := f.create(map[string]any{"description": "target", "flatPermissionsList": []string{"readApplications"}})
	id := strconv.FormatInt(k.ID, 10)
	_, apiSecret := f.APIKey(f.acct, nil)
	other := f.Account("other", "pulsecrm")
	otherAdmin := f.ManagementKeyIn(other, "keys:read", "keys:write", "catalog:read")
	readOnly := f.ManagementKeyIn(f.acct, "keys:read", "catalog:read")
	noCatalog := f.ManagementKeyIn(f.acct, "keys:read", "keys:write")
	patch := `{"description": "changed", "flatPermissionsList": []}`

	type call struct{ method, path, body string }
	routes := []call{
		{"GET", "/apikeys", ""},
		{"POST", "/apikeys", patch},
		{"GET", "/apikeys/" + id, ""},
		{"PATCH", "/apikeys/" + id, patch},
		{"DELETE", "/apikeys/" + id, ""},
		{"GET", "/permissions", ""},
		{"GET", "/permissions?detailed", ""},
	}
	cases := []struct {
		name    string
		headers []string
		status  int
		want    string
	}{
		{"no credential", nil, 401, "Unauthorized"},
		{"empty bearer", []string{"Authorization: Bearer "}, 401, "Unauthorized"},
		{"basic scheme", []string{"Authorization: Basic " + f.admin}, 401, "Unauthorized"},
		{"token without scheme", []string{"Authorization: " + f.admin}, 401, "Unauthorized"},
		{"unknown token", []string{"Authorization: Bearer kwm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, 401, "Unauthorized"},
		{"garbage token", []string{"Authorization: Bearer not a token"}, 401, "Unauthorized"},
		{"API key as credential", []string{"Authorization: Bearer " + apiSecret, "x-account-id: " + f.acct}, 403, "API keys cannot manage API keys"},
		{"another account's x-account-id", []string{"Authorization: Bearer " + f.admin, "x-account-id: " + other}, 403, "x-account-id"},
		{"PulseCRM-style account id", []string{"Authorization: Bearer " + f.admin, "x-account-id: 2311"}, 403, "x-account-id"},
		{"operator, unknown account", []string{"Authorization: Bearer " + f.Op, "x-account-id: 2311"}, 404, "Account not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, rt := range routes {
				var body any
				if rt.body != "" {
					body = rt.body
				}
				res := f.Do(rt.method, base+rt.path, body, c.headers...)
				msg := errorMessage(t, res, c.status, strings.HasPrefix(rt.path, "/permissions"))
				if !strings.Contains(msg, c.want) {
					t.Errorf("%s %s: %q, want %q", rt.method, rt.path, msg, c.want)
				}
				if c.status == 401 && res.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s: 401 without WWW-Authenticate", rt.method, rt.path)
				}
			}
		})
	}

	// Missing management permissions: 403 naming the permission.
	for _, c := range []struct {
		name, key string
		rt        call
		want      string
	}{
		{"create without keys:write", readOnly, routes[1], "keys:write"},
		{"PATCH without keys:write", readOnly, routes[3], "keys:write"},
		{"DELETE without keys:write", readOnly, routes[4], "keys:write"},
		{"permissions without catalog:read", noCatalog, routes[5], "catalog:read"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.rt.body != "" {
				body = c.rt.body
			}
			res := f.Do(c.rt.method, base+c.rt.path, body, "Authorization: Bearer "+c.key, "x-account-id: "+f.acct)
			if msg := errorMessage(t, res, 403, strings.HasPrefix(c.rt.path, "/permissions")); !strings.Contains(msg, c.want) {
				t.Errorf("%q, want %q", msg, c.want)
			}
		})
	}

	// accountId on /permissions: only the operator key may name another account.
	res := f.Do("GET", base+"/permissions?accountId="+other, nil, "Authorization: Bearer "+f.admin)
	errorMessage(t, res, 403, true)

	// Another account's key is 404, whichever form names it; nothing changes.
	for _, ref := range []string{id, k.APIKey, nativeID(k.APIKey)} {
		for _, rt := range []call{{"GET", "/apikeys/" + ref, ""}, {"PATCH", "/apikeys/" + ref, patch}, {"DELETE", "/apikeys/" + ref, ""}} {
			var body any
			if rt.body != "" {
				body = rt.body
			}
			res := f.Do(rt.method, base+rt.path, body, "Authorization: Bearer "+otherAdmin, "x-account-id: "+other)
			if res.Status != 404 || string(res.Body) != "{\"error\":\"API key not found\"}\n" {
				t.Errorf("%s %s from another account: %d %s", rt.method, rt.path, res.Status, res.Body)
			}
		}
	}
	var list []apiKeyView
	f.Do("GET", base+"/apikeys", nil, "Authorization: Bearer "+otherAdmin, "x-account-id: "+other).JSON(t, &list)
	if len(list) != 0 {
		t.Errorf("another account lists %d keys", len(list))
	}
	if got := f.get(k.ID); got.Description != "target" {
		t.Errorf("the key changed: %+v", got)
	}
}

// errorMessage checks an error answer of the api-key routes ({"error"})
// or of the permissions route ({error, status, message}) and returns its
// message.
func errorMessage(t *testing.T, res *compattest.Response, status int, permissions bool) string {
	t.Helper()
	if !permissions {
		return wantError(t, res, status)
	}
	if res.Status != status {
		t.Fatalf("status %d, want %d: %s", res.Status, status, res.Body)
	}
	var body struct {
		Error   string `json:"error"`
		Status  int    `json:"status"`
		Message string `json:"message"`
	}
	res.JSON(t, &body)
	if len(res.Map(t)) != 3 || body.Error != http.StatusText(status) || body.Status != status || body.Message == "" {
		t.Fatalf("permissions error body %s", res.Body)
	}
	return body.Message
}

// TestKeyRoutesNeedNoCatalogRead: naming a key's permissions reads the
// account's catalog, but a key manager needs only keys:read and keys:write
// for the key routes, as natively; only GET /permissions, which lists the
// catalog, needs catalog:read.
func TestKeyRoutesNeedNoCatalogRead(t *testing.T) {
	f := newFixture(t)
	key := f.ManagementKeyIn(f.acct, "keys:read", "keys:write")
	hdr := []string{"Authorization: Bearer " + key, "x-account-id: " + f.acct}
	res := f.Do("POST", base+"/apikeys", map[string]any{"description": "no catalog:read", "flatPermissionsList": []string{"readApplications"}}, hdr...)
	if res.Status != 201 {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	var k struct {
		ID int64 `json:"id"`
	}
	res.JSON(t, &k)
	for _, c := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", "/apikeys", nil, 200},
		{"PATCH", "/apikeys/" + strconv.FormatInt(k.ID, 10), map[string]any{"description": "renamed", "flatPermissionsList": []string{"writeApplications"}}, 200},
		{"DELETE", "/apikeys/" + strconv.FormatInt(k.ID, 10), nil, 200},
	} {
		if res := f.Do(c.method, base+c.path, c.body, hdr...); res.Status != c.want {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, res.Status, res.Body, c.want)
		}
	}
}

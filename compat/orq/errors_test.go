package orq

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// TestErrors sends each kind of bad request and checks orq's status, code
// and body, and that nothing changed.
func TestErrors(t *testing.T) {
	e := newEnv(t)
	key := e.create(`{"name":"target","permission_mode":"PERMISSION_MODE_RESTRICTED","access":{"agent":"ACCESS_LEVEL_READ"}}`)
	id := str(key["api_key_id"])
	keyPath := "/v2/api-keys/" + id

	otherAcc := e.Account("other-workspace", keyward.TemplateOrq)
	otherID, _ := e.APIKey(otherAcc, nil)
	otherOrqID := strings.TrimPrefix(otherID, "key_")
	_, apiKey := e.APIKey(e.acc, nil)
	readOnlyMK := e.ManagementKeyIn(e.acc, keyward.PermKeysRead)
	otherMK := e.ManagementKeyIn(otherAcc, keyward.PermKeysRead, keyward.PermKeysWrite)
	prj := e.native("POST", "/v1/projects", map[string]any{"name": "p1"}).Map(t)["id"].(string)
	orqPrj := "proj_" + strings.TrimPrefix(prj, "prj_")
	big := `{"name":"` + strings.Repeat("x", 1<<20) + `"}`

	tests := []struct {
		name    string
		method  string
		path    string
		body    any
		headers []string // replace the default credential when one starts with Authorization
		status  int
		code    string
		field   string // a field_violations entry to expect
	}{
		// Credentials.
		{name: "no credential", method: "GET", path: keyPath, headers: []string{"Authorization:"}, status: 401, code: "authentication_required"},
		{name: "not Bearer", method: "GET", path: keyPath, headers: []string{"Authorization: Basic " + e.mk}, status: 401, code: "authentication_required"},
		{name: "empty Bearer", method: "GET", path: keyPath, headers: []string{"Authorization: Bearer "}, status: 401, code: "authentication_required"},
		{name: "unknown token", method: "GET", path: keyPath, headers: []string{"Authorization: Bearer kwm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000"}, status: 401, code: "invalid_api_key"},
		{name: "garbage token", method: "GET", path: keyPath, headers: []string{"Authorization: Bearer sk-orq-nope"}, status: 401, code: "invalid_api_key"},
		{name: "API key as credential", method: "GET", path: keyPath, headers: []string{"Authorization: Bearer " + apiKey}, status: 403, code: "insufficient_scope"},
		{name: "API key cannot update", method: "PATCH", path: keyPath, body: `{"name":"x"}`, headers: []string{"Authorization: Bearer " + apiKey}, status: 403, code: "insufficient_scope"},
		{name: "missing permission", method: "PATCH", path: keyPath, body: `{"name":"x"}`, headers: []string{"Authorization: Bearer " + readOnlyMK}, status: 403, code: "insufficient_scope"},
		{name: "missing catalog permission", method: "GET", path: "/v2/api-keys/capabilities", headers: []string{"Authorization: Bearer " + readOnlyMK}, status: 403, code: "insufficient_scope"},
		{name: "account header of another account", method: "GET", path: keyPath, headers: []string{"X-Account-Id: " + otherAcc}, status: 403, code: "insufficient_scope"},

		// Ids.
		{name: "other account's key", method: "GET", path: "/v2/api-keys/" + otherOrqID, status: 404, code: "api_key_not_found"},
		{name: "other account's key, update", method: "PATCH", path: "/v2/api-keys/" + otherOrqID, body: `{"name":"x"}`, status: 404, code: "api_key_not_found"},
		{name: "other account's key, delete", method: "DELETE", path: "/v2/api-keys/" + otherOrqID, status: 404, code: "api_key_not_found"},
		{name: "other account's key, rotate", method: "POST", path: "/v2/api-keys/" + otherOrqID + ":rotate", status: 404, code: "api_key_not_found"},
		{name: "our key from the other account", method: "GET", path: keyPath, headers: []string{"Authorization: Bearer " + otherMK}, status: 404, code: "api_key_not_found"},
		{name: "unknown id", method: "GET", path: "/v2/api-keys/01ARZ3NDEKTSV4RRFFQ69G5FAV", status: 404, code: "api_key_not_found"},
		{name: "malformed id", method: "PATCH", path: "/v2/api-keys/not-an-id", body: `{"name":"x"}`, status: 404, code: "api_key_not_found"},

		// Routes and methods.
		{name: "unknown route", method: "GET", path: "/v2/management-keys", status: 404, code: "not_found"},
		{name: "unknown route below the mount", method: "GET", path: "/v1/api-keys", status: 404, code: "not_found"},
		{name: "PUT on a key", method: "PUT", path: keyPath, body: `{"name":"x"}`, status: 405, code: "method_not_allowed"},
		{name: "DELETE on the collection", method: "DELETE", path: "/v2/api-keys", status: 405, code: "method_not_allowed"},
		{name: "PATCH on capabilities", method: "PATCH", path: "/v2/api-keys/capabilities", body: `{}`, status: 405, code: "method_not_allowed"},
		{name: "POST on a key without :rotate", method: "POST", path: keyPath, body: `{}`, status: 405, code: "method_not_allowed"},

		// Bodies.
		{name: "malformed JSON", method: "PATCH", path: keyPath, body: `{"name":`, status: 400, code: "invalid_request_body"},
		{name: "not an object", method: "PATCH", path: keyPath, body: `["name"]`, status: 400, code: "invalid_request_body"},
		{name: "trailing data", method: "PATCH", path: keyPath, body: `{"name":"x"} {}`, status: 400, code: "invalid_request_body"},
		{name: "duplicate member", method: "PATCH", path: keyPath, body: `{"name":"x","name":"y"}`, status: 400, code: "invalid_request_body"},
		{name: "missing body", method: "PATCH", path: keyPath, status: 400, code: "invalid_request_body"},
		{name: "unknown member", method: "PATCH", path: keyPath, body: `{"owner":{"service_account":{}}}`, status: 400, code: "invalid_request_body"},
		{name: "unknown nested member", method: "PATCH", path: keyPath, body: `{"project_scope":{"all":{"x":1}}}`, status: 400, code: "invalid_request_body"},
		{name: "name wrong type", method: "PATCH", path: keyPath, body: `{"name":5}`, status: 400, code: "invalid_request_body", field: "name"},
		{name: "name null", method: "PATCH", path: keyPath, body: `{"name":null}`, status: 400, code: "invalid_request_body", field: "name"},
		{name: "name empty", method: "PATCH", path: keyPath, body: `{"name":""}`, status: 400, code: "invalid_request_body", field: "name"},
		{name: "status unknown", method: "PATCH", path: keyPath, body: `{"status":"API_KEY_STATUS_PAUSED"}`, status: 400, code: "invalid_request_body", field: "status"},
		{name: "status unspecified", method: "PATCH", path: keyPath, body: `{"status":"API_KEY_STATUS_UNSPECIFIED"}`, status: 400, code: "invalid_request_body", field: "status"},
		{name: "status lowercase", method: "PATCH", path: keyPath, body: `{"status":"disabled"}`, status: 400, code: "invalid_request_body", field: "status"},
		{name: "status integer", method: "PATCH", path: keyPath, body: `{"status":2}`, status: 400, code: "invalid_request_body", field: "status"},
		{name: "status null", method: "PATCH", path: keyPath, body: `{"status":null}`, status: 400, code: "invalid_request_body", field: "status"},
		{name: "mode unknown", method: "PATCH", path: keyPath, body: `{"permission_mode":"PERMISSION_MODE_SOME"}`, status: 400, code: "invalid_request_body", field: "permission_mode"},
		{name: "mode unspecified", method: "PATCH", path: keyPath, body: `{"permission_mode":"PERMISSION_MODE_UNSPECIFIED"}`, status: 400, code: "invalid_request_body", field: "permission_mode"},
		{name: "mode null", method: "PATCH", path: keyPath, body: `{"permission_mode":null}`, status: 400, code: "invalid_request_body", field: "permission_mode"},
		{name: "access level unknown", method: "PATCH", path: keyPath, body: `{"access":{"agent":"ACCESS_LEVEL_ADMIN"}}`, status: 400, code: "invalid_request_body", field: "access.agent"},
		{name: "access level integer out of range", method: "PATCH", path: keyPath, body: `{"access":{"agent":3}}`, status: 400, code: "invalid_request_body", field: "access.agent"},
		{name: "access unknown domain", method: "PATCH", path: keyPath, body: `{"access":{"agent":"ACCESS_LEVEL_READ","nope":"ACCESS_LEVEL_READ"}}`, status: 400, code: "invalid_request_body", field: "access.nope"},
		{name: "access protected domain", method: "PATCH", path: keyPath, body: `{"access":{"api-key":"ACCESS_LEVEL_WRITE"}}`, status: 400, code: "invalid_request_body", field: "access.api-key"},
		{name: "access level the domain lacks", method: "PATCH", path: keyPath, body: `{"access":{"model":"ACCESS_LEVEL_WRITE"}}`, status: 400, code: "invalid_request_body", field: "access.model"},
		{name: "access null", method: "PATCH", path: keyPath, body: `{"access":null}`, status: 400, code: "invalid_request_body", field: "access"},
		{name: "access not a map", method: "PATCH", path: keyPath, body: `{"access":["agent"]}`, status: 400, code: "invalid_request_body"},
		{name: "expires_at and clear_expires_at", method: "PATCH", path: keyPath, body: `{"expires_at":"2999-01-01T00:00:00Z","clear_expires_at":true}`, status: 400, code: "invalid_request_body", field: "clear_expires_at"},
		{name: "expires_at in the past", method: "PATCH", path: keyPath, body: `{"expires_at":"2001-01-01T00:00:00Z"}`, status: 400, code: "invalid_request_body", field: "expires_at"},
		{name: "expires_at malformed", method: "PATCH", path: keyPath, body: `{"expires_at":"tomorrow"}`, status: 400, code: "invalid_request_body", field: "expires_at"},
		{name: "clear_expires_at null", method: "PATCH", path: keyPath, body: `{"clear_expires_at":null}`, status: 400, code: "invalid_request_body", field: "clear_expires_at"},
		{name: "project_scope both", method: "PATCH", path: keyPath, body: `{"project_scope":{"all":{},"single":{"project_id":"proj_01HZXW2K7Y8Q9M0N1P2R3S4T5V"}}}`, status: 400, code: "invalid_request_body", field: "project_scope"},
		{name: "project_scope empty", method: "PATCH", path: keyPath, body: `{"project_scope":{}}`, status: 400, code: "invalid_request_body", field: "project_scope"},
		{name: "project_scope null", method: "PATCH", path: keyPath, body: `{"project_scope":null}`, status: 400, code: "invalid_request_body", field: "project_scope"},
		{name: "project unknown", method: "PATCH", path: keyPath, body: `{"project_scope":{"single":{"project_id":"proj_01HZXW2K7Y8Q9M0N1P2R3S4T5V"}}}`, status: 400, code: "invalid_request_body", field: "project_scope.single.project_id"},
		{name: "project id malformed", method: "PATCH", path: keyPath, body: `{"project_scope":{"single":{"project_id":"p1"}}}`, status: 400, code: "invalid_request_body", field: "project_scope.single.project_id"},
		{name: "mcp_access restriction", method: "PATCH", path: keyPath, body: `{"mcp_access":{"deny_all":true}}`, status: 400, code: "invalid_request_body", field: "mcp_access"},
		{name: "to restricted without access", method: "POST", path: "/v2/api-keys", body: `{"name":"r","permission_mode":"PERMISSION_MODE_RESTRICTED"}`, status: 400, code: "invalid_request_body", field: "access"},
		{name: "create without name", method: "POST", path: "/v2/api-keys", body: `{"permission_mode":"PERMISSION_MODE_ALL"}`, status: 400, code: "invalid_request_body", field: "name"},
		{name: "create with status", method: "POST", path: "/v2/api-keys", body: `{"name":"x","status":"API_KEY_STATUS_ACTIVE"}`, status: 400, code: "invalid_request_body"},
		{name: "create owner both", method: "POST", path: "/v2/api-keys", body: `{"name":"x","owner":{"user":{"user_id":"usr_01ARZ3NDEKTSV4RRFFQ69G5FAV"},"service_account":{}}}`, status: 400, code: "invalid_request_body", field: "owner"},
		{name: "create owner unknown user", method: "POST", path: "/v2/api-keys", body: `{"name":"x","owner":{"user":{"user_id":"usr_01ARZ3NDEKTSV4RRFFQ69G5FAV"}}}`, status: 400, code: "invalid_request_body", field: "owner"},
		{name: "create ALL-only domain on a single-project key", method: "POST", path: "/v2/api-keys", body: `{"name":"x","permission_mode":"PERMISSION_MODE_RESTRICTED","access":{"member":"ACCESS_LEVEL_READ"},"project_scope":{"single":{"project_id":"` + orqPrj + `"}}}`, status: 400, code: "invalid_request_body", field: "access.member"},
		{name: "rotate with another id", method: "POST", path: keyPath + ":rotate", body: `{"api_key_id":"01ARZ3NDEKTSV4RRFFQ69G5FAV"}`, status: 400, code: "invalid_request_body", field: "api_key_id"},
		{name: "rotate with a grace period", method: "POST", path: keyPath + ":rotate", body: `{"grace_period_seconds":60}`, status: 400, code: "invalid_request_body"},
		{name: "body too large", method: "POST", path: "/v2/api-keys", body: big, status: 413, code: "request_too_large"},
		{name: "not JSON", method: "PATCH", path: keyPath, body: `name=x`, headers: []string{"Content-Type: application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type"},

		// Query parameters.
		{name: "limit 0", method: "GET", path: "/v2/api-keys?limit=0", status: 400, code: "invalid_request"},
		{name: "limit 201", method: "GET", path: "/v2/api-keys?limit=201", status: 400, code: "invalid_request"},
		{name: "limit not a number", method: "GET", path: "/v2/api-keys?limit=ten", status: 400, code: "invalid_request"},
		{name: "bad cursor", method: "GET", path: "/v2/api-keys?starting_after=abc", status: 400, code: "invalid_request"},
		{name: "both cursors", method: "GET", path: "/v2/api-keys?starting_after=" + id + "&ending_before=" + id, status: 400, code: "invalid_request"},
		{name: "unknown parameter", method: "GET", path: "/v2/api-keys?stauts=API_KEY_STATUS_ACTIVE", status: 400, code: "invalid_request"},
		{name: "repeated parameter", method: "GET", path: "/v2/api-keys?limit=1&limit=2", status: 400, code: "invalid_request"},
		{name: "bad status filter", method: "GET", path: "/v2/api-keys?status=active", status: 400, code: "invalid_request"},
		{name: "bad owner_type", method: "GET", path: "/v2/api-keys?owner_type=OWNER_TYPE_ROBOT", status: 400, code: "invalid_request"},
		{name: "bad permission_mode[]", method: "GET", path: "/v2/api-keys?permission_mode[]=PERMISSION_MODE_SOME", status: 400, code: "invalid_request"},
		{name: "bad project filter", method: "GET", path: "/v2/api-keys?project_id=p1", status: 400, code: "invalid_request"},
		{name: "bad include_budget", method: "GET", path: keyPath + "?include_budget=maybe", status: 400, code: "invalid_request"},
		{name: "bad pretty", method: "GET", path: keyPath + "?pretty=very", status: 400, code: "invalid_request"},
		{name: "parameter on PATCH", method: "PATCH", path: keyPath + "?force=true", body: `{"name":"x"}`, status: 400, code: "invalid_request"},
		{name: "malformed query", method: "GET", path: "/v2/api-keys?limit=%zz", status: 400, code: "invalid_request"},
		{name: "bad Request-Timeout", method: "GET", path: keyPath, headers: []string{"Request-Timeout: soon"}, status: 400, code: "invalid_request"},
	}
	before := e.nativeKey(id)
	count := func() int {
		t.Helper()
		var out struct {
			Data []any `json:"data"`
		}
		e.native("GET", "/v1/keys?limit=200", nil).JSON(t, &out)
		return len(out.Data)
	}
	n := count()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			headers := []string{"Authorization: Bearer " + e.mk}
			for _, h := range tc.headers {
				if strings.HasPrefix(h, "Authorization:") {
					headers = nil
				}
			}
			for _, h := range tc.headers {
				if h != "Authorization:" {
					headers = append(headers, h)
				}
			}
			res := e.Do(tc.method, "/compat/orq"+tc.path, tc.body, headers...)
			if res.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tc.status, res.Body)
			}
			if code := errorCode(t, res); code != tc.code {
				t.Errorf("code %q, want %q: %s", code, tc.code, res.Body)
			}
			if res.Header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			switch tc.status {
			case 401:
				if res.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			case 405:
				if res.Header.Get("Allow") == "" {
					t.Error("405 without Allow")
				}
			}
			if tc.field != "" {
				if !slices.Contains(fieldViolations(t, res), tc.field) {
					t.Errorf("no field violation for %q: %s", tc.field, res.Body)
				}
			}
			if strings.Contains(string(res.Body), e.mk) || strings.Contains(string(res.Body), apiKey) {
				t.Error("the answer echoes a credential")
			}
		})
	}
	// A request that fails changes nothing.
	if after := e.nativeKey(id); after["etag"] != before["etag"] {
		t.Errorf("the key changed: etag %v → %v", before["etag"], after["etag"])
	}
	if got := count(); got != n {
		t.Errorf("%d keys, want %d", got, n)
	}
	if res := e.Native("GET", "/v1/keys/"+otherID, nil, "X-Account-Id: "+otherAcc); res.Status != http.StatusOK {
		t.Errorf("the other account's key: %d %s", res.Status, res.Body)
	}
}

// TestErrorDocURL: answers with a code from orq's error reference link to
// it, others carry no link.
func TestErrorDocURL(t *testing.T) {
	e := newEnv(t)
	var body struct {
		Error struct {
			DocURL *string `json:"doc_url"`
		} `json:"error"`
	}
	e.Do("GET", "/compat/orq/v2/api-keys", nil).JSON(t, &body)
	if body.Error.DocURL == nil || *body.Error.DocURL != "https://docs.orq.ai/errors/authentication_required" {
		t.Errorf("doc_url %v", body.Error.DocURL)
	}
	body.Error.DocURL = nil
	e.orq("GET", "/v2/api-keys/01ARZ3NDEKTSV4RRFFQ69G5FAV", nil).JSON(t, &body)
	if body.Error.DocURL != nil {
		t.Errorf("doc_url %v on an undocumented code", *body.Error.DocURL)
	}
}

// TestNoServerErrors sends odd but possible client input to every route:
// each answer is an orq error below 500 or a success, never a 500.
func TestNoServerErrors(t *testing.T) {
	e := newEnv(t)
	id := str(e.create(`{"name":"target"}`)["api_key_id"])
	bodies := []string{
		`null`, `""`, `0`, `[]`, `{}`, `{"name":"\u0000"}`, `{"name":"` + strings.Repeat("é", 300) + `"}`,
		`{"access":{"":"ACCESS_LEVEL_READ"}}`, `{"access":{"agent":""}}`, `{"access":{"agent":null}}`,
		`{"permission_mode":"PERMISSION_MODE_RESTRICTED","access":{"":"ACCESS_LEVEL_READ","Agent":"ACCESS_LEVEL_READ"}}`,
		`{"project_scope":{"single":null}}`, `{"project_scope":{"all":null}}`, `{"project_scope":{"single":{}}}`,
		`{"project_scope":"all"}`, `{"owner":{"user":null}}`, `{"owner":{"user":{}}}`, `{"owner":{}}`, `{"owner":null}`,
		`{"expires_at":""}`, `{"expires_at":"9999-12-31T23:59:59Z"}`, `{"expires_at":"10000-01-01T00:00:00Z"}`,
		`{"expires_at":"2999-01-01T00:00:00+14:00"}`, `{"expires_at":1893456000}`, `{"clear_expires_at":"yes"}`,
		`{"mcp_access":null}`, `{"mcp_access":{"toolset_ids":["x"]}}`, `{"name":"a","name":"b"}`,
		`{"status":"API_KEY_STATUS_REVOKED","permission_mode":"PERMISSION_MODE_RESTRICTED","access":{}}`,
		`{"api_key_id":null}`, `{"api_key_id":"` + id + `"}`, `{"name":1e400}`,
		`{"access":{"agent":1e400}}`, `{"access":{"agent":-0}}`, `{"access":{"agent":"\u0000"}}`, `{"name":"l","labels":{"a":"\u0000"}}`,
		`{"name":"l","labels":{"` + strings.Repeat("k", 20000) + `":"v"}}`, `{"mcp_access":{"allowed_filesystem_ids":null}}`,
		`{"a":` + strings.Repeat(`[`, 5000) + strings.Repeat(`]`, 5000) + `}`,
	}
	var routes []struct{ method, path string }
	for _, p := range allPaths {
		routes = append(routes, []struct{ method, path string }{
			{"POST", p + "/v2/api-keys"}, {"PATCH", p + "/v2/api-keys/" + id}, {"POST", p + "/v2/api-keys/" + id + ":rotate"},
		}...)
	}
	for _, rt := range routes {
		for _, b := range bodies {
			res := e.orq(rt.method, rt.path, b)
			if res.Status >= 500 {
				t.Errorf("%s %s %.80s: %d %s", rt.method, rt.path, b, res.Status, res.Body)
			}
			if res.Status >= 400 {
				errorCode(t, res)
			}
		}
	}
	for _, q := range []string{"?limit=-1", "?limit=99999999999999999999", "?search=%00", "?search=" + strings.Repeat("x", 300),
		"?starting_after=key_01ARZ3NDEKTSV4RRFFQ69G5FAV", "?ending_before=01ARZ3NDEKTSV4RRFFQ69G5FAV&owner_type=OWNER_TYPE_USER&owner_type=OWNER_TYPE_SERVICE_ACCOUNT",
		"?owner_type=OWNER_TYPE_UNSPECIFIED", "?permission_mode=", "?pretty=0", "?include_budget=true"} {
		res := e.orq("GET", "/v2/api-keys"+q, nil)
		if res.Status >= 500 {
			t.Errorf("GET %s: %d %s", q, res.Status, res.Body)
		}
	}
	for _, p := range []string{"/v2/api-keys/%00", "/v2/api-keys/" + strings.Repeat("A", 5000), "/v2/api-keys/:rotate", "/v2/api-keys/" + id + ":rotate:rotate"} {
		for _, m := range []string{"GET", "POST", "PATCH", "DELETE"} {
			if res := e.orq(m, p, `{}`); res.Status >= 500 {
				t.Errorf("%s %s: %d %s", m, p, res.Status, res.Body)
			}
		}
	}
	// A generous Request-Timeout is honoured like the native API's.
	if res := e.orq("GET", "/v2/api-keys/"+id, nil, "Request-Timeout: 30"); res.Status != http.StatusOK {
		t.Errorf("with Request-Timeout: %d %s", res.Status, res.Body)
	}
}

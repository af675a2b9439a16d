package discue

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/compat/compattest"
	khttp "github.com/keyward/keyward/http"
)

// wantError checks an error answer: the status, and discue's body
// {title, status} with the title discue gives that status (plus the
// optional detail).
func wantError(t *testing.T, res *compattest.Response, status int) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d: %s", res.Status, status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var body map[string]json.RawMessage
	res.JSON(t, &body)
	for name := range body {
		if name != "title" && name != "status" && name != "detail" {
			t.Errorf("unexpected member %q in %s", name, res.Body)
		}
	}
	var got struct {
		Title  string `json:"title"`
		Status int    `json:"status"`
	}
	res.JSON(t, &got)
	if want := titles[status]; got.Title != want || got.Status != status {
		t.Errorf("body %s, want title %q status %d", res.Body, want, status)
	}
}

// Every error case of the dialect gets discue's status and body and
// changes nothing.
func TestErrors(t *testing.T) {
	e := newEnv(t)
	id, _ := e.create(seedBody)
	self, apiKeyToken := e.create(map[string]any{"name": "an active API key"})
	revoked, _ := e.create(map[string]any{"name": "revoked"})
	if res := e.native("PATCH", "/v1/keys/"+nativeID(t, revoked), map[string]any{"status": "revoked"}); res.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
	other := e.Account("other-org", keyward.TemplateDiscue)
	otherNative, _ := e.APIKey(other, map[string]any{"name": "theirs"})
	otherID := publicID(otherNative)
	readOnly := e.ManagementKeyIn(e.account, keyward.PermKeysRead)
	writeOnly := e.ManagementKeyIn(e.account, keyward.PermKeysWrite)
	auditOnly := e.ManagementKeyIn(e.account, keyward.PermAuditRead)
	unknown := publicID(keyward.PrefixKey + "01ARZ3NDEKTSV4RRFFQ69G5FAV")

	before := map[string]nativeKey{}
	for _, k := range []string{nativeID(t, id), nativeID(t, revoked), nativeID(t, self)} {
		before[k] = e.nativeKey(k)
	}
	countBefore := e.countKeys()
	oversized := `{"name":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}`
	key := "/api_keys/" + id
	scope := func(s string) string { return `{"name":"a","scopes":[` + s + `]}` }

	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		headers      []string
		cred         string // "" the account's key, "-" none
		status       int
		detail       string // a part of the detail, when it matters
	}{
		// 400: the request cannot be read.
		{name: "malformed JSON", method: "PUT", path: key, body: `{"name": `, status: 400},
		{name: "not an object", method: "PUT", path: key, body: `[]`, status: 400},
		{name: "trailing data", method: "PUT", path: key, body: `{"name":"a"} {}`, status: 400},
		{name: "member twice", method: "PUT", path: key, body: `{"name":"a","name":"b"}`, status: 400},
		{name: "unknown member", method: "PUT", path: key, body: `{"name":"a","description":"x"}`, status: 400, detail: "description"},
		{name: "unknown scope member", method: "PUT", path: key, body: scope(`{"resource":"queues","level":"all"}`), status: 400, detail: "scopes[0].level"},
		{name: "no body", method: "PUT", path: key, status: 400},
		{name: "create malformed", method: "POST", path: "/api_keys", body: `{"name"`, status: 400},
		{name: "unknown parameter", method: "GET", path: "/api_keys?page=2", status: 400, detail: "page"},
		{name: "bad pretty", method: "GET", path: key + "?pretty=maybe", status: 400, detail: "pretty"},
		{name: "bad query string", method: "GET", path: "/api_keys?pretty=%zz", status: 400},
		{name: "bad Request-Timeout", method: "GET", path: key, headers: []string{"Request-Timeout: soon"}, status: 400},

		// 401, 403: the credential.
		{name: "no credential", method: "GET", path: "/api_keys", cred: "-", status: 401},
		{name: "unknown credential", method: "GET", path: "/api_keys", cred: "kwm_bogus", status: 401},
		{name: "Authorization instead of X-API-KEY", method: "GET", path: "/api_keys", cred: "-", headers: []string{"Authorization: Bearer " + e.key}, status: 401},
		{name: "API key as credential", method: "GET", path: "/api_keys", cred: apiKeyToken, status: 403},
		{name: "API key updating a key", method: "PUT", path: key, body: seedBody, cred: apiKeyToken, status: 403},
		{name: "API key updating itself", method: "PUT", path: "/api_keys/" + self, body: `{"name":"mine","scopes":[{"resource":"api_keys","access":"write"}]}`, cred: apiKeyToken, status: 403},
		{name: "no keys:write to update", method: "PUT", path: key, body: seedBody, cred: readOnly, status: 403},
		{name: "no keys:write to delete", method: "DELETE", path: key, cred: readOnly, status: 403},
		{name: "no keys:write to create", method: "POST", path: "/api_keys", cred: readOnly, status: 403},
		{name: "no keys:read to list", method: "GET", path: "/api_keys", cred: writeOnly, status: 403},
		{name: "no keys:read to get", method: "GET", path: key, cred: writeOnly, status: 403},
		{name: "no key permission", method: "PUT", path: key, body: seedBody, cred: auditOnly, status: 403},
		{name: "another organization's account header", method: "GET", path: "/api_keys", headers: []string{"X-Account-Id: " + other}, status: 403},

		// 404: no such key in the organization, or no such route.
		{name: "other organization's key", method: "GET", path: "/api_keys/" + otherID, status: 404},
		{name: "other organization's key, native id", method: "GET", path: "/api_keys/" + otherNative, status: 404},
		{name: "update other organization's key", method: "PUT", path: "/api_keys/" + otherID, body: seedBody, status: 404},
		{name: "delete other organization's key", method: "DELETE", path: "/api_keys/" + otherID, status: 404},
		{name: "unknown id", method: "GET", path: "/api_keys/" + unknown, status: 404},
		{name: "update unknown id", method: "PUT", path: "/api_keys/" + unknown, body: seedBody, status: 404},
		{name: "malformed id", method: "GET", path: "/api_keys/not-an-id", status: 404},
		{name: "update malformed id", method: "PUT", path: "/api_keys/not-an-id", body: seedBody, status: 404},
		{name: "unknown route", method: "GET", path: "/queues", status: 404},
		{name: "below a key", method: "GET", path: key + "/scopes", status: 404},
		{name: "trailing slash", method: "GET", path: "/api_keys/", status: 404},

		// 405: the path exists, not with this method.
		{name: "PATCH a key", method: "PATCH", path: key, body: `{"name":"a"}`, status: 405},
		{name: "POST a key", method: "POST", path: key, status: 405},
		{name: "PUT the collection", method: "PUT", path: "/api_keys", body: seedBody, status: 405},
		{name: "DELETE the collection", method: "DELETE", path: "/api_keys", status: 405},

		// 406, 413, 415: media.
		{name: "Accept excludes JSON", method: "GET", path: key, headers: []string{"Accept: text/html"}, status: 406},
		{name: "Accept JSON at q=0", method: "GET", path: key, headers: []string{"Accept: application/json;q=0"}, status: 406},
		{name: "body over 1 MiB", method: "PUT", path: key, body: oversized, status: 413},
		{name: "not JSON", method: "PUT", path: key, body: `name=a`, headers: []string{"Content-Type: application/x-www-form-urlencoded"}, status: 415},
		{name: "not UTF-8", method: "PUT", path: key, body: seedBody, headers: []string{"Content-Type: application/json; charset=latin1"}, status: 415},

		// 409: a revoked key cannot change.
		{name: "update a revoked key", method: "PUT", path: "/api_keys/" + revoked, body: `{"name":"revoked","status":"enabled"}`, status: 409},

		// 422: readable, but not valid.
		{name: "name of the wrong type", method: "PUT", path: key, body: `{"name":5}`, status: 422, detail: "name"},
		{name: "status of the wrong type", method: "PUT", path: key, body: `{"name":"a","status":true}`, status: 422, detail: "status"},
		{name: "scopes of the wrong type", method: "PUT", path: key, body: `{"name":"a","scopes":"queues"}`, status: 422, detail: "scopes"},
		{name: "scope not an object", method: "PUT", path: key, body: scope(`"queues"`), status: 422, detail: "scopes[0]"},
		{name: "access of the wrong type", method: "PUT", path: key, body: scope(`{"resource":"queues","access":1}`), status: 422, detail: "scopes[0].access"},
		{name: "targets of the wrong type", method: "PUT", path: key, body: scope(`{"resource":"queues","targets":5}`), status: 422, detail: "scopes[0].targets"},
		{name: "target of the wrong type", method: "PUT", path: key, body: scope(`{"resource":"queues","targets":[5]}`), status: 422, detail: "scopes[0].targets"},
		{name: "unknown status", method: "PUT", path: key, body: `{"name":"a","status":"revoked"}`, status: 422, detail: "status"},
		{name: "keyward's status", method: "PUT", path: key, body: `{"name":"a","status":"active"}`, status: 422, detail: "status"},
		{name: "unknown access", method: "PUT", path: key, body: scope(`{"resource":"queues","access":"admin"}`), status: 422, detail: "scopes[0].access"},
		{name: "unknown resource", method: "PUT", path: key, body: scope(`{"resource":"billing","access":"read"}`), status: 422, detail: "scopes[0].resource"},
		{name: "protected api_clients", method: "PUT", path: key, body: scope(`{"resource":"api_clients","access":"read"}`), status: 422, detail: "protected"},
		{name: "protected api_keys", method: "PUT", path: key, body: scope(`{"resource":"queues"},{"resource":"api_keys","access":"write"}`), status: 422, detail: "scopes[1].resource"},
		{name: "protected subscriptions", method: "PUT", path: key, body: scope(`{"resource":"subscriptions","access":"read","targets":["*"]}`), status: 422, detail: "protected"},
		{name: "protected, object form", method: "PUT", path: key, body: `{"alias":"a","scopes":{"api_keys":{"access":"read"}}}`, status: 422, detail: "scopes.api_keys.resource"},
		{name: "protected on create", method: "POST", path: "/api_keys", body: scope(`{"resource":"api_keys","access":"read"}`), status: 422, detail: "protected"},
		{name: "resource missing", method: "PUT", path: key, body: scope(`{"access":"read"}`), status: 422, detail: "scopes[0].resource"},
		{name: "name null", method: "PUT", path: key, body: `{"name":null}`, status: 422, detail: "name"},
		{name: "status null", method: "PUT", path: key, body: `{"name":"a","status":null}`, status: 422, detail: "status"},
		{name: "scopes null", method: "PUT", path: key, body: `{"name":"a","scopes":null}`, status: 422, detail: "scopes"},
		{name: "targets null", method: "PUT", path: key, body: scope(`{"resource":"queues","targets":null}`), status: 422, detail: "targets"},
		{name: "name missing", method: "PUT", path: key, body: `{"status":"enabled"}`, status: 422, detail: "name"},
		{name: "name empty", method: "PUT", path: key, body: `{"name":""}`, status: 422, detail: "name"},
		{name: "name and alias", method: "PUT", path: key, body: `{"name":"a","alias":"b"}`, status: 422, detail: "alias"},
		{name: "wildcard mixed with ids", method: "PUT", path: key, body: scope(`{"resource":"queues","targets":["*","q1"]}`), status: 422, detail: "targets"},
		{name: "bad target id", method: "PUT", path: key, body: scope(`{"resource":"queues","targets":["a b"]}`), status: 422, detail: "targets"},
		{name: "same scope twice", method: "PUT", path: key, body: scope(`{"resource":"queues","access":"read"},{"resource":"queues","access":"read"}`), status: 422, detail: "scopes[1]"},
		{name: "several errors", method: "PUT", path: key, body: `{"name":"a","status":"on","scopes":[{"resource":"queues","access":"all"}]}`, status: 422, detail: "status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			switch tc.cred {
			case "":
				hdr = append(hdr, "X-API-KEY: "+e.key)
			case "-":
			default:
				hdr = append(hdr, "X-API-KEY: "+tc.cred)
			}
			res := e.Do(tc.method, khttp.CompatPrefix+Dialect+"/v1"+tc.path, tc.body, append(hdr, tc.headers...)...)
			wantError(t, res, tc.status)
			if tc.detail != "" && !strings.Contains(string(res.Body), tc.detail) {
				t.Errorf("the detail does not name %q: %s", tc.detail, res.Body)
			}
			if tc.status == http.StatusMethodNotAllowed {
				if allow := res.Header.Get("Allow"); allow == "" || strings.Contains(allow, tc.method) {
					t.Errorf("Allow %q", allow)
				}
			}
		})
	}

	// Nothing changed: the keys, the number of keys, the other account's key.
	for k, b := range before {
		if a := e.nativeKey(k); a.ETag != b.ETag {
			t.Errorf("key %s changed: %+v → %+v", k, b, a)
		}
	}
	if n := e.countKeys(); n != countBefore {
		t.Errorf("%d keys, %d before", n, countBefore)
	}
	if res := e.Native("GET", "/v1/keys/"+otherNative, nil, "X-Account-Id: "+other); res.Status != http.StatusOK {
		t.Errorf("the other organization's key: %d %s", res.Status, res.Body)
	}
}

// countKeys returns the number of API keys of the account.
func (e *env) countKeys() int {
	e.T.Helper()
	var keys []json.RawMessage
	e.List(e.account, "/v1/keys?limit=200", &keys)
	return len(keys)
}

// After repeated failed authentications from one client, discue answers
// 423 Locked (with Retry-After) to every request from it, valid
// credentials included.
func TestLockout(t *testing.T) {
	e := compattest.New(t, compattest.Dialect(Dialect, New),
		compattest.Options{HTTP: khttp.Options{Lockout: &khttp.LockoutPolicy{Threshold: 3, Window: time.Hour, Duration: time.Hour}}})
	valid := e.ManagementKeyIn("", keyward.PermKeysRead)
	get := func(cred string) *compattest.Response {
		return e.Do("GET", khttp.CompatPrefix+Dialect+"/v1/api_keys", nil, "X-API-KEY: "+cred)
	}
	for i := 0; i < 3; i++ {
		wantError(t, get("kwm_wrong"), http.StatusUnauthorized)
	}
	res := get(valid)
	wantError(t, res, http.StatusLocked)
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

// Nothing a client sends makes the dialect fail with a 5xx: odd shapes,
// values and paths are client errors in discue's shape (or work).
func TestNoServerErrors(t *testing.T) {
	e := newEnv(t)
	id, _ := e.create(nil)
	many := make([]string, keyward.MaxScopes+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"resource":"queues","access":"read","targets":["q_%d"]}`, i)
	}
	bodies := []string{
		`{}`, `{"name":"a"}`, `null`, `"name"`, `0`, `{"name":{}}`, `{"name":[]}`, `{"name":"a\u0000b"}`,
		`{"name":"` + strings.Repeat("n", 300) + `"}`, `{"name":"ok","scopes":{}}`, `{"name":"ok","scopes":[]}`,
		`{"name":"ok","scopes":[null]}`, `{"name":"ok","scopes":[[]]}`, `{"name":"ok","scopes":{"queues":null}}`,
		`{"name":"ok","scopes":{"queues":[]}}`, `{"name":"ok","scopes":{"queues":{"resource":"x"}}}`,
		`{"name":"ok","scopes":{"":{}}}`, `{"name":"ok","scopes":[{"resource":"queues","targets":[null]}]}`,
		`{"name":"ok","scopes":[{"resource":"queues","targets":{"a":1}}]}`,
		`{"name":"ok","scopes":[{"resource":"queues","targets":["` + strings.Repeat("t", 200) + `"]}]}`,
		`{"name":"ok","scopes":[{"resource":"Queues"}]}`, `{"name":"ok","scopes":[{"resource":"queues","access":""}]}`,
		`{"name":"ok","scopes":[` + strings.Join(many, ",") + `]}`,
		`{"name":1e999}`, `{"name":"ok","status":"ENABLED"}`, `{"alias":null}`, `{"name":"ok","scopes":[{"resource":"queues"}],"x":1}`,
		"\xff\xfe", `{"name":"ok"` + strings.Repeat(" ", 1000) + `}`, strings.Repeat("[", 10000),
	}
	paths := []string{"/api_keys", "/api_keys/" + id, "/api_keys/" + strings.Repeat("a", 5000), "/api_keys/%00", "/api_keys/..%2F..%2Fv1%2Fkeys"}
	for _, path := range paths {
		for _, method := range []string{"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
			for _, body := range bodies {
				var b any
				if method == "POST" || method == "PUT" || method == "PATCH" {
					b = body
				}
				res := e.discue(method, path, b)
				if res.Status >= 500 {
					t.Fatalf("%s %s %.80q: %d %s", method, path, body, res.Status, res.Body)
				}
				if res.Status >= 400 {
					wantError(t, res, res.Status)
				}
				if b == nil {
					break
				}
			}
		}
	}
}

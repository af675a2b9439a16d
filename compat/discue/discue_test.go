package discue

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat/compattest"
	khttp "github.com/keyward/keyward/http"
)

// seedBody is the body of the seed page's PUT example, byte for byte.
const seedBody = `{
  "name": "string",
  "status": "disabled",
  "scopes": [
    {
      "resource": "queues",
      "access": "write",
      "targets": [
        "*"
      ]
    },
    {
      "resource": "listeners",
      "access": "write",
      "targets": [
        "_Tzrg1O3jk4_FZTAEThNq"
      ]
    },
    {
      "resource": "messages",
      "access": "read",
      "targets": [
        "*"
      ]
    }
  ]
}`

// seedScopes are the scopes of seedBody.
var seedScopes = []keyward.Scope{
	{Resource: "queues", Access: keyward.AccessWrite, Targets: []string{"*"}},
	{Resource: "listeners", Access: keyward.AccessWrite, Targets: []string{"_Tzrg1O3jk4_FZTAEThNq"}},
	{Resource: "messages", Access: keyward.AccessRead, Targets: []string{"*"}},
}

// env is a keyward server with the discue dialect mounted, an account made
// from the discue catalog template (an "organization") and a management
// key bound to it: the X-API-KEY of the tests.
type env struct {
	*compattest.Env
	account string
	key     string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := compattest.New(t, compattest.Dialect(Dialect, New), compattest.Options{})
	acct := e.Account("discue-org", keyward.TemplateDiscue)
	return &env{Env: e, account: acct, key: e.ManagementKeyIn(acct, keyward.PermKeysRead, keyward.PermKeysWrite)}
}

// discue sends a request to the dialect with the account's key in
// X-API-KEY; path is below discue's base URL (…/v1).
func (e *env) discue(method, path string, body any, headers ...string) *compattest.Response {
	e.T.Helper()
	return e.Do(method, khttp.CompatPrefix+Dialect+"/v1"+path, body, append([]string{"X-API-KEY: " + e.key}, headers...)...)
}

// native sends a request to the native API on the account.
func (e *env) native(method, path string, body any) *compattest.Response {
	e.T.Helper()
	return e.Native(method, path, body, "X-Account-Id: "+e.account)
}

// create creates a key through the dialect and returns its discue id and
// token.
func (e *env) create(body any) (id, token string) {
	e.T.Helper()
	res := e.discue("POST", "/api_keys", body)
	if res.Status != http.StatusOK {
		e.T.Fatalf("create: %d %s", res.Status, res.Body)
	}
	var out struct {
		APIKey string `json:"api_key"`
		Links  struct {
			Self struct {
				Href string `json:"href"`
			} `json:"self"`
		} `json:"_links"`
	}
	res.JSON(e.T, &out)
	href := out.Links.Self.Href
	return href[strings.LastIndex(href, "/")+1:], out.APIKey
}

// nativeID returns the keyward id of a discue id.
func nativeID(t *testing.T, id string) string {
	t.Helper()
	k, ok := keyID(id)
	if !ok {
		t.Fatalf("%q is not a discue id", id)
	}
	return k
}

// getKey reads a key through the dialect.
func (e *env) getKey(id string) keyView {
	e.T.Helper()
	res := e.discue("GET", "/api_keys/"+id, nil)
	if res.Status != http.StatusOK {
		e.T.Fatalf("get %s: %d %s", id, res.Status, res.Body)
	}
	var out struct {
		APIKey keyView `json:"api_key"`
	}
	res.JSON(e.T, &out)
	return out.APIKey
}

// nativeKey is the part of the native key object the tests compare.
type nativeKey struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Description    *string         `json:"description"`
	Status         string          `json:"status"`
	Start          string          `json:"start"`
	PermissionMode string          `json:"permission_mode"`
	Scopes         []keyward.Scope `json:"scopes"`
	Roles          []string        `json:"roles"`
	ExpiresAt      *time.Time      `json:"expires_at"`
	IPAllowlist    []string        `json:"ip_allowlist"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	ETag           string          `json:"etag"`
}

func (e *env) nativeKey(id string) (k nativeKey) {
	e.T.Helper()
	e.Get(e.account, "/v1/keys/"+id, &k)
	return k
}

// members returns the member names of a JSON object, sorted.
func members(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object (%v): %s", err, raw)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// wantMembers checks that a JSON object has exactly the named members.
func wantMembers(t *testing.T, raw json.RawMessage, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := members(t, raw); !reflect.DeepEqual(got, want) {
		t.Errorf("members %v, want %v in %s", got, want, raw)
	}
}

// wantLink checks _links.self.href.
func wantLink(t *testing.T, e *env, raw json.RawMessage, path string) {
	t.Helper()
	if href, want := gjsonHref(t, raw), e.URL+khttp.CompatPrefix+Dialect+"/v1"+path; href != want {
		t.Errorf("_links.self.href = %q, want %q", href, want)
	}
}

// The seed's curl example, sent verbatim (its headers, its body) to an
// existing key: 200, the key with the new name, status and exactly the
// scopes sent, in discue's shape.
func TestSeedExampleCurl(t *testing.T) {
	e := newEnv(t)
	id, _ := e.create(nil)
	res := e.discue("PUT", "/api_keys/"+id, seedBody,
		"Content-Type: application/json", "Accept: application/json")
	if res.Status != http.StatusOK {
		t.Fatalf("PUT: %d %s", res.Status, res.Body)
	}
	var out struct {
		APIKey json.RawMessage `json:"api_key"`
		Links  json.RawMessage `json:"_links"`
	}
	res.JSON(t, &out)
	wantMembers(t, res.Body, "api_key", "_links")
	wantMembers(t, out.APIKey, "id", "name", "created_at", "updated_at", "last_used_at", "key", "status", "scopes")
	wantLink(t, e, out.Links, "/api_keys/"+id)
	var k keyView
	if err := json.Unmarshal(out.APIKey, &k); err != nil {
		t.Fatal(err)
	}
	if k.ID != id || k.Name != "string" || k.Status != "disabled" {
		t.Errorf("got id %q name %q status %q, want %q string disabled", k.ID, k.Name, k.Status, id)
	}
	if !reflect.DeepEqual(k.Scopes, seedScopes) {
		t.Errorf("scopes %+v, want %+v", k.Scopes, seedScopes)
	}
	if got := res.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}

	// The same key, natively: restricted to exactly those scopes, disabled.
	n := e.nativeKey(nativeID(t, id))
	if n.Name != "string" || n.Status != "disabled" || n.PermissionMode != "restricted" || !reflect.DeepEqual(n.Scopes, seedScopes) {
		t.Errorf("native key %+v", n)
	}

	// "By passing status: enabled, you can enable the key again."
	enable := strings.Replace(seedBody, `"disabled"`, `"enabled"`, 1)
	res = e.discue("PUT", "/api_keys/"+id, enable, "Content-Type: application/json", "Accept: application/json")
	if res.Status != http.StatusOK {
		t.Fatalf("PUT enabled: %d %s", res.Status, res.Body)
	}
	if k := e.getKey(id); k.Status != "enabled" {
		t.Errorf("status %q after enabling", k.Status)
	}
	if n := e.nativeKey(nativeID(t, id)); n.Status != "active" {
		t.Errorf("native status %q after enabling", n.Status)
	}
}

// The seed's JavaScript and Python examples, sent as those programs
// really send them: fetch with a plain object body sends
// "[object Object]", and requests.put without data sends no body. Both
// are bad requests: 400 in discue's shape, and the key is unchanged.
func TestSeedExamplesJavaScriptAndPython(t *testing.T) {
	e := newEnv(t)
	id, _ := e.create(map[string]any{"name": "unchanged"})
	before := e.nativeKey(nativeID(t, id))
	for _, tc := range []struct {
		name string
		body any
	}{
		{"javascript fetch", "[object Object]"},
		{"python requests", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.discue("PUT", "/api_keys/"+id, tc.body,
				"Content-Type: application/json", "Accept: application/json")
			wantError(t, res, http.StatusBadRequest)
		})
	}
	if after := e.nativeKey(nativeID(t, id)); after.ETag != before.ETag {
		t.Errorf("the key changed: %+v → %+v", before, after)
	}
}

// The reference's create example: POST without a body (and so without a
// Content-Type), Accept and X-API-KEY. 200 with the token, once, and a
// link to the new key; the token is a working API key.
func TestCreateExample(t *testing.T) {
	e := newEnv(t)
	res := e.discue("POST", "/api_keys", nil, "Accept: application/json")
	if res.Status != http.StatusOK {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	var out struct {
		APIKey string          `json:"api_key"`
		Links  json.RawMessage `json:"_links"`
	}
	res.JSON(t, &out)
	wantMembers(t, res.Body, "api_key", "_links")
	href := gjsonHref(t, out.Links)
	id := href[strings.LastIndex(href, "/")+1:]
	if len(id) != idLen {
		t.Errorf("id %q in %q is not discue-shaped", id, href)
	}
	wantLink(t, e, out.Links, "/api_keys/"+id)
	if !strings.HasPrefix(out.APIKey, "kw_") {
		t.Errorf("api_key %q is not a token", out.APIKey)
	}
	verify(t, e, out.APIKey, "VALID")

	// The token is never shown again: get shows its first characters.
	k := e.getKey(id)
	if !strings.HasPrefix(out.APIKey, k.Key) || len(k.Key) >= len(out.APIKey) || strings.Contains(string(e.discue("GET", "/api_keys", nil).Body), out.APIKey) {
		t.Errorf("key %q reveals more than a prefix of the token", k.Key)
	}
	// Without scopes a key gets discue's permissive default set: every
	// resource of the catalog that may be granted, at write, never the
	// protected ones.
	var resources []string
	for _, s := range k.Scopes {
		resources = append(resources, s.Resource)
		if s.Access != keyward.AccessWrite || !reflect.DeepEqual(s.Targets, []string{"*"}) {
			t.Errorf("default scope %+v", s)
		}
	}
	want := []string{"channels", "domains", "events", "listeners", "messages", "queues", "schemas", "stats", "topics"}
	if !reflect.DeepEqual(resources, want) {
		t.Errorf("default scopes on %v, want %v", resources, want)
	}
	if k.Name != defaultName || k.Status != "enabled" || k.LastUsedAt != nil {
		t.Errorf("new key %+v", k)
	}
}

// gjsonHref returns _links.self.href.
func gjsonHref(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var l struct {
		Self struct {
			Href string `json:"href"`
		} `json:"self"`
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatalf("_links: %v: %s", err, raw)
	}
	return l.Self.Href
}

// verify checks a token with the native verify route.
func verify(t *testing.T, e *env, token, want string) {
	t.Helper()
	res := e.native("POST", "/v1/keys/verify", map[string]any{"key": token})
	var v struct {
		Code string `json:"code"`
	}
	res.JSON(t, &v)
	if res.Status != http.StatusOK || v.Code != want {
		t.Errorf("verify: %d %s, want %s", res.Status, res.Body, want)
	}
}

// Create with the request body discue documents (the seed's body is the
// same UpdateApiKeyRequest): the key has that name, status and scopes.
func TestCreateWithBody(t *testing.T) {
	e := newEnv(t)
	id, tok := e.create(seedBody)
	k := e.getKey(id)
	if k.Name != "string" || k.Status != "disabled" || !reflect.DeepEqual(k.Scopes, seedScopes) {
		t.Errorf("created %+v", k)
	}
	verify(t, e, tok, "DISABLED")
}

// The reference's list, get and delete examples (Accept and X-API-KEY, no
// body), in discue's shapes.
func TestListGetDeleteExamples(t *testing.T) {
	e := newEnv(t)
	first, _ := e.create(map[string]any{"name": "first"})
	second, tok := e.create(map[string]any{"name": "second", "scopes": []any{map[string]any{"resource": "queues", "access": "read"}}})

	res := e.discue("GET", "/api_keys", nil, "Accept: application/json")
	if res.Status != http.StatusOK {
		t.Fatalf("list: %d %s", res.Status, res.Body)
	}
	wantMembers(t, res.Body, "api_keys", "_links")
	var list struct {
		APIKeys []json.RawMessage `json:"api_keys"`
		Links   json.RawMessage   `json:"_links"`
	}
	res.JSON(t, &list)
	wantLink(t, e, list.Links, "/api_keys")
	var ids []string
	for _, raw := range list.APIKeys {
		wantMembers(t, raw, "id", "name", "created_at", "updated_at", "last_used_at", "key", "status", "scopes")
		var k keyView
		json.Unmarshal(raw, &k)
		ids = append(ids, k.ID)
	}
	if want := []string{second, first}; !reflect.DeepEqual(ids, want) {
		t.Errorf("listed %v, want newest first %v", ids, want)
	}

	res = e.discue("GET", "/api_keys/"+second, nil, "Accept: application/json")
	if res.Status != http.StatusOK {
		t.Fatalf("get: %d %s", res.Status, res.Body)
	}
	wantMembers(t, res.Body, "api_key", "_links")
	var got struct {
		APIKey keyView         `json:"api_key"`
		Links  json.RawMessage `json:"_links"`
	}
	res.JSON(t, &got)
	wantLink(t, e, got.Links, "/api_keys/"+second)
	n := e.nativeKey(nativeID(t, second))
	k := got.APIKey
	if k.ID != second || k.Name != "second" || k.Status != "enabled" || k.Key != n.Start ||
		k.CreatedAt != n.CreatedAt.UnixMilli() || k.UpdatedAt != n.UpdatedAt.UnixMilli() ||
		!reflect.DeepEqual(k.Scopes, []keyward.Scope{{Resource: "queues", Access: "read", Targets: []string{"*"}}}) {
		t.Errorf("get %+v, native %+v", k, n)
	}
	// Epoch milliseconds, as discue's 1644616838173.
	if ms := time.Now().UnixMilli(); k.CreatedAt < ms-60_000 || k.CreatedAt > ms+60_000 {
		t.Errorf("created_at %d is not epoch milliseconds", k.CreatedAt)
	}

	res = e.discue("DELETE", "/api_keys/"+second, nil, "Accept: application/json")
	if res.Status != http.StatusOK {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	// discue's examples parse the answer as JSON.
	wantMembers(t, res.Body, "_links")
	if res := e.discue("GET", "/api_keys/"+second, nil); res.Status != http.StatusNotFound {
		t.Errorf("get after delete: %d %s", res.Status, res.Body)
	}
	if res := e.discue("DELETE", "/api_keys/"+second, nil); res.Status != http.StatusNotFound {
		t.Errorf("delete twice: %d %s", res.Status, res.Body)
	}
	verify(t, e, tok, "NOT_FOUND")
}

// ?pretty on every route pretty-prints, errors included; pretty=false
// does not.
func TestPretty(t *testing.T) {
	e := newEnv(t)
	id, _ := e.create(nil)
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", "/api_keys", nil, 200},
		{"GET", "/api_keys/" + id, nil, 200},
		{"PUT", "/api_keys/" + id, `{"name":"pretty"}`, 200},
		{"POST", "/api_keys", nil, 200},
		{"GET", "/api_keys/AAAAAAAAAAAAAAAAAAAAA", nil, 404},
		{"PUT", "/api_keys/" + id, `{"status":"on"}`, 422},
		{"DELETE", "/api_keys/" + id, nil, 200},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			for _, q := range []string{"?pretty", "?pretty=true", "?pretty=1", "?pretty=false", ""} {
				if tc.method == "DELETE" && q != "?pretty" {
					continue // a key is deleted once
				}
				res := e.discue(tc.method, tc.path+q, tc.body)
				if res.Status != tc.status {
					t.Fatalf("%s: %d %s", q, res.Status, res.Body)
				}
				indented := strings.Contains(string(res.Body), "\n  \"")
				if want := q == "?pretty" || q == "?pretty=true" || q == "?pretty=1"; indented != want {
					t.Errorf("%s: indented %v: %s", q, indented, res.Body)
				}
			}
		})
	}
	res := e.discue("GET", "/api_keys?pretty=yes", nil)
	wantError(t, res, http.StatusBadRequest)
}

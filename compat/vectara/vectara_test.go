package vectara

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/compat/compattest"
	"github.com/keyward/keyward/compat/internal/kit"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
)

// prefix is where the dialect answers: Vectara's paths go below it, so
// "/compat/vectara/v2/api_keys" is Vectara's "/v2/api_keys".
const prefix = "/compat/vectara"

// env is a keyward server with the dialect mounted, an account made from
// the vectara catalog template, and a management key bound to it (the
// Vectara "Personal key" a client would use).
type env struct {
	*compattest.Env
	acct string
	key  string
}

func newEnv(t *testing.T, o compattest.Options, perms ...string) *env {
	t.Helper()
	e := compattest.New(t, compattest.Dialect(Dialect, New), o)
	acct := e.Account("acme", keyward.TemplateVectara)
	if len(perms) == 0 {
		perms = []string{keyward.PermKeysRead, keyward.PermKeysWrite, keyward.PermAuditRead}
	}
	return &env{Env: e, acct: acct, key: e.ManagementKeyIn(acct, perms...)}
}

// vec sends a request to the dialect with the env's management key in
// x-api-key, Vectara's header.
func (e *env) vec(method, path string, body any, headers ...string) *compattest.Response {
	e.T.Helper()
	return e.Do(method, prefix+path, body, append([]string{"x-api-key: " + e.key}, headers...)...)
}

// native sends a request to the native API, in the env's account.
func (e *env) native(method, path string, body any) *compattest.Response {
	e.T.Helper()
	return e.Native(method, path, body, "X-Account-Id: "+e.acct)
}

// create makes a key through the dialect and returns its answer.
func (e *env) create(body map[string]any) map[string]any {
	e.T.Helper()
	res := e.vec("POST", "/v2/api_keys", body)
	if res.Status != http.StatusCreated {
		e.T.Fatalf("create %v: %d %s", body, res.Status, res.Body)
	}
	m := res.Map(e.T)
	checkAPIKey(e.T, m)
	return m
}

// nativeKey returns the native view of the key with a Vectara id.
func (e *env) nativeKey(vid string) (k map[string]any) {
	e.T.Helper()
	e.Get(e.acct, "/v1/keys/"+nativeID(vid), &k)
	return k
}

// audit returns the audit events of a target, newest first.
func (e *env) audit(target string) (events []map[string]any) {
	e.T.Helper()
	e.List(e.acct, "/v1/audit-events?target_id="+target, &events)
	return events
}

func nativeID(vid string) string { return "key_" + strings.TrimPrefix(vid, "aky_") }

var akyID = regexp.MustCompile(`^aky_.*`)

// checkAPIKey checks the shape of Vectara's ApiKey object: only its
// documented members, id matching aky_.*, the role enum, and an api_policy
// with a name and allowed_operations of ApiOperationPolicy.
func checkAPIKey(t *testing.T, m map[string]any) {
	t.Helper()
	for k := range m {
		if !slices.Contains([]string{"id", "name", "secret_key", "enabled", "api_roles", "api_key_role", "corpus_roles", "agent_roles", "api_policy"}, k) {
			t.Errorf("ApiKey has an undocumented member %q: %v", k, m)
		}
	}
	if id, _ := m["id"].(string); !akyID.MatchString(id) {
		t.Errorf("id = %v, want a match of aky_.*", m["id"])
	}
	if _, ok := m["name"].(string); !ok {
		t.Errorf("name = %v, want a string", m["name"])
	}
	if s, ok := m["secret_key"]; ok {
		if s, _ := s.(string); s == "" {
			t.Errorf("secret_key = %v, want a non-empty string when present", m["secret_key"])
		}
	}
	if _, ok := m["enabled"].(bool); !ok {
		t.Errorf("enabled = %v, want a boolean", m["enabled"])
	}
	if r, _ := m["api_key_role"].(string); !slices.Contains([]string{"serving", "serving_and_indexing", "personal"}, r) {
		t.Errorf("api_key_role = %v, want serving, serving_and_indexing or personal", m["api_key_role"])
	}
	checkRoles(t, m)
	p, ok := m["api_policy"].(map[string]any)
	if !ok {
		t.Fatalf("api_policy = %v, want an object", m["api_policy"])
	}
	if _, ok := p["name"].(string); !ok {
		t.Errorf("api_policy.name = %v, want a string", p["name"])
	}
	ops, ok := p["allowed_operations"].(map[string]any)
	if !ok {
		t.Fatalf("api_policy.allowed_operations = %v, want an object", p["allowed_operations"])
	}
	for op, v := range ops {
		pol, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("allowed_operations[%s] = %v, want an object", op, v)
		}
		if _, ok := pol["allow_any_resource"].(bool); !ok {
			t.Errorf("allowed_operations[%s].allow_any_resource = %v, want a boolean", op, pol["allow_any_resource"])
		}
		res, ok := pol["allowed_resources"]
		if !ok {
			continue
		}
		rm, ok := res.(map[string]any)
		if !ok {
			t.Fatalf("allowed_operations[%s].allowed_resources = %v, want an object", op, res)
		}
		for path, list := range rm {
			if !regexp.MustCompile(`^(body|path|implicit)\.`).MatchString(path) {
				t.Errorf("resource path %q starts with neither body, path nor implicit", path)
			}
			if _, ok := list.([]any); !ok {
				t.Errorf("allowed_resources[%s] = %v, want a list", path, list)
			}
		}
	}
}

// checkRoles checks the newer role members of an ApiKey: always present,
// api_roles a list of distinct ApiRole names, corpus_roles and
// agent_roles lists of {corpus_key, role} and {agent_key, role} with
// Vectara's enums, one entry per key.
func checkRoles(t *testing.T, m map[string]any) {
	t.Helper()
	apiRoles := []string{"owner", "administrator", "billing_administrator", "corpus_administrator", "corpus_developer",
		"agent_administrator", "agent_viewer", "agent_developer", "agent_user", "pipeline_administrator", "pipeline_viewer",
		"viewer", "corpus_viewer"}
	list, ok := m["api_roles"].([]any)
	if !ok {
		t.Fatalf("api_roles = %v, want a list", m["api_roles"])
	}
	seen := map[any]bool{}
	for _, r := range list {
		if s, _ := r.(string); !slices.Contains(apiRoles, s) || seen[r] {
			t.Errorf("api_roles holds %v: not an ApiRole, or twice: %v", r, list)
		}
		seen[r] = true
	}
	for member, spec := range map[string]struct {
		key   string
		roles []string
	}{
		"corpus_roles": {"corpus_key", []string{"owner", "administrator", "viewer", "editor"}},
		"agent_roles":  {"agent_key", []string{"agent_administrator", "agent_viewer", "agent_developer", "agent_user"}},
	} {
		list, ok := m[member].([]any)
		if !ok {
			t.Fatalf("%s = %v, want a list", member, m[member])
		}
		seen := map[any]bool{}
		for _, e := range list {
			o, _ := e.(map[string]any)
			key, _ := o[spec.key].(string)
			role, _ := o["role"].(string)
			if len(o) != 2 || key == "" || !slices.Contains(spec.roles, role) || seen[key] {
				t.Errorf("%s holds %v: want {%s, role} with a known role, one per key", member, e, spec.key)
			}
			seen[key] = true
		}
	}
}

// checkError checks Vectara's error body: the status, messages and the
// request id (the X-Request-Id of the answer); for a 400 field_errors with
// exactly the given fields; for a key's 404 the id asked for.
func checkError(t *testing.T, res *compattest.Response, status int, fields ...string) map[string]any {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d: %s", res.Status, status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	m := res.Map(t)
	msgs, ok := m["messages"].([]any)
	if !ok || len(msgs) == 0 {
		t.Errorf("messages = %v, want a non-empty list", m["messages"])
	}
	for _, s := range msgs {
		if s, _ := s.(string); s == "" {
			t.Errorf("messages holds %v, want strings", msgs)
		}
	}
	if rid := res.Header.Get("X-Request-Id"); rid == "" || m["request_id"] != rid {
		t.Errorf("request_id = %v, want the X-Request-Id %q", m["request_id"], rid)
	}
	allowed := []string{"messages", "request_id"}
	switch status {
	case http.StatusBadRequest:
		allowed = append(allowed, "field_errors")
		fe, ok := m["field_errors"].(map[string]any)
		if !ok {
			t.Fatalf("field_errors = %v, want an object", m["field_errors"])
		}
		var got []string
		for k, v := range fe {
			got = append(got, k)
			if s, _ := v.(string); s == "" {
				t.Errorf("field_errors[%s] = %v, want a message", k, v)
			}
		}
		sort.Strings(got)
		want := slices.Clone(fields)
		sort.Strings(want)
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("field_errors names %v, want %v: %s", got, want, res.Body)
		}
	case http.StatusNotFound:
		allowed = append(allowed, "id")
	}
	for k := range m {
		if !slices.Contains(allowed, k) {
			t.Errorf("the %d error body has an undocumented member %q: %s", status, k, res.Body)
		}
	}
	return m
}

// TestExamples sends the requests of Vectara's pages verbatim (only the base
// URL and the credential differ): the seed's PATCH with its headers, and
// the create, get, list and delete of the API reference and SDK.
func TestExamples(t *testing.T) {
	e := newEnv(t, compattest.Options{})

	// createApiKey, as Vectara's SDK integration test sends it.
	created := e.create(map[string]any{"name": "test-key", "api_key_role": "serving", "corpus_keys": []string{"test-document-manager"}})
	if created["name"] != "test-key" || created["enabled"] != true || created["api_key_role"] != "serving" {
		t.Errorf("create answered %v", created)
	}
	if s, _ := created["secret_key"].(string); !strings.HasPrefix(s, "kw_") {
		t.Errorf("create secret_key = %v, want the token", created["secret_key"])
	}
	id := created["id"].(string)
	path := "/v2/api_keys/" + id

	// getApiKey.
	res := e.vec("GET", path, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("get: %d %s", res.Status, res.Body)
	}
	got := res.Map(t)
	checkAPIKey(t, got)
	if got["name"] != "test-key" || got["id"] != id {
		t.Errorf("get answered %v", got)
	}
	if _, ok := got["secret_key"]; ok {
		t.Errorf("get of a key that is not recoverable shows secret_key: %v", got)
	}

	// The seed: PATCH /v2/api_keys/:api_key_id {enabled} with its
	// Request-Timeout headers, to disable and enable again.
	for _, tc := range []struct {
		body    string
		headers []string
		enabled bool
	}{
		{`{"enabled": false}`, []string{"Request-Timeout: 30"}, false},
		{`{"enabled": true}`, []string{"Request-Timeout-Millis: 30000"}, true},
		{`{"enabled": false}`, []string{"Request-Timeout: 30", "Request-Timeout-Millis: 30000"}, false},
		{`{}`, nil, false}, // the SDK's example body: changes nothing
		{`{"enabled": true}`, nil, true},
	} {
		res := e.vec("PATCH", path, tc.body, tc.headers...)
		if res.Status != http.StatusOK {
			t.Fatalf("PATCH %s: %d %s", tc.body, res.Status, res.Body)
		}
		m := res.Map(t)
		checkAPIKey(t, m)
		if m["enabled"] != tc.enabled || m["id"] != id || m["name"] != "test-key" {
			t.Errorf("PATCH %s answered %v, want enabled %v", tc.body, m, tc.enabled)
		}
	}

	// listApiKeys.
	res = e.vec("GET", "/v2/api_keys", nil)
	if res.Status != http.StatusOK {
		t.Fatalf("list: %d %s", res.Status, res.Body)
	}
	var list struct {
		APIKeys  []map[string]any `json:"api_keys"`
		Metadata map[string]any   `json:"metadata"`
	}
	res.JSON(t, &list)
	if len(list.APIKeys) != 1 || list.APIKeys[0]["id"] != id || list.Metadata == nil {
		t.Errorf("list answered %s", res.Body)
	}
	for _, k := range list.APIKeys {
		checkAPIKey(t, k)
	}

	// deleteApiKey: 204 without a body; the key is gone.
	res = e.vec("DELETE", path, nil)
	if res.Status != http.StatusNoContent || len(res.Body) != 0 {
		t.Fatalf("delete: %d %q", res.Status, res.Body)
	}
	m := checkError(t, e.vec("GET", path, nil), http.StatusNotFound)
	if m["id"] != id {
		t.Errorf("404 id = %v, want %s", m["id"], id)
	}
}

// TestCreateRoles checks each api_key_role: what it answers, and what it is
// as a native key.
func TestCreateRoles(t *testing.T) {
	e := newEnv(t, compattest.Options{})
	anyOf := map[string]any{"allow_any_resource": true}
	only := func(ids ...string) map[string]any {
		l := make([]any, len(ids))
		for i, id := range ids {
			l[i] = id
		}
		return map[string]any{"allow_any_resource": false, "allowed_resources": map[string]any{"path.corpus_key": l}}
	}
	for _, tc := range []struct {
		name   string
		body   map[string]any
		ops    map[string]any
		mode   string
		scopes []any
	}{
		{"serving", map[string]any{"name": "query key", "api_key_role": "serving", "corpus_keys": []string{"faq", "docs", "faq"}},
			map[string]any{"corpus:read": only("docs", "faq")}, "restricted",
			[]any{map[string]any{"resource": "corpus", "access": "read", "targets": []any{"faq", "docs"}}}},
		{"serving_and_indexing", map[string]any{"name": "index key", "api_key_role": "serving_and_indexing", "corpus_keys": []string{"docs"}},
			map[string]any{"corpus:read": only("docs"), "corpus:write": only("docs")}, "restricted",
			[]any{map[string]any{"resource": "corpus", "access": "write", "targets": []any{"docs"}}}},
		{"personal", map[string]any{"name": "personal key", "api_key_role": "personal"},
			map[string]any{"agents:read": anyOf, "agents:write": anyOf, "corpus:read": anyOf, "corpus:write": anyOf,
				"pipelines:read": anyOf, "pipelines:write": anyOf}, "all", []any{}},
		{"personal with null corpus_keys", map[string]any{"name": "personal key 2", "api_key_role": "personal", "corpus_keys": nil},
			nil, "all", []any{}},
		{"personal with empty corpus_keys", map[string]any{"name": "personal key 3", "api_key_role": "personal", "corpus_keys": []string{}},
			nil, "all", []any{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := e.create(tc.body)
			role := tc.body["api_key_role"]
			if m["api_key_role"] != role || m["name"] != tc.body["name"] || m["enabled"] != true {
				t.Errorf("create answered %v", m)
			}
			pol := m["api_policy"].(map[string]any)
			if pol["name"] != role {
				t.Errorf("api_policy.name = %v, want %v", pol["name"], role)
			}
			if tc.ops != nil && !reflect.DeepEqual(pol["allowed_operations"], tc.ops) {
				t.Errorf("allowed_operations = %v, want %v", pol["allowed_operations"], tc.ops)
			}
			n := e.nativeKey(m["id"].(string))
			if n["permission_mode"] != tc.mode || !reflect.DeepEqual(n["scopes"], tc.scopes) || n["status"] != "active" || n["name"] != tc.body["name"] {
				t.Errorf("native key: mode %v scopes %v status %v, want %s %v active", n["permission_mode"], n["scopes"], n["status"], tc.mode, tc.scopes)
			}
			if n["recoverable"] != false {
				t.Errorf("without a master key the key is recoverable: %v", n["recoverable"])
			}
			// The answer is what a GET answers, plus the secret.
			res := e.vec("GET", "/v2/api_keys/"+m["id"].(string), nil)
			g := res.Map(t)
			delete(m, "secret_key")
			if !reflect.DeepEqual(g, m) {
				t.Errorf("GET answered %v, create %v", g, m)
			}
		})
	}
}

// TestCreateOutsideVectaraCatalog: an account whose catalog has no corpus
// resource (the default template) cannot bind corpora, and says so on
// corpus_keys; a personal key works in any catalog.
func TestCreateOutsideVectaraCatalog(t *testing.T) {
	e := newEnv(t, compattest.Options{})
	res := e.Do("POST", prefix+"/v2/api_keys", map[string]any{"name": "q", "api_key_role": "serving", "corpus_keys": []string{"docs"}}, "x-api-key: "+e.Op)
	checkError(t, res, http.StatusBadRequest, "corpus_keys")
	res = e.Do("POST", prefix+"/v2/api_keys", map[string]any{"name": "p", "api_key_role": "personal"}, "x-api-key: "+e.Op)
	if res.Status != http.StatusCreated {
		t.Fatalf("personal in the default account: %d %s", res.Status, res.Body)
	}
	m := res.Map(t)
	checkAPIKey(t, m)
	ops := m["api_policy"].(map[string]any)["allowed_operations"].(map[string]any)
	for _, op := range []string{"documents:write", "documents:read", "search:read", "usage:read"} {
		if _, ok := ops[op]; !ok {
			t.Errorf("a personal key of the default catalog lacks %s: %v", op, ops)
		}
	}
	if _, ok := ops["billing:read"]; ok {
		t.Errorf("a personal key holds the protected billing resource: %v", ops)
	}
}

// TestList pages through keys and filters them.
func TestList(t *testing.T) {
	e := newEnv(t, compattest.Options{})
	var all, alpha, personal, beta []string // ids, in creation order
	for i := range 23 {
		var body map[string]any
		switch {
		case i%4 == 3:
			body = map[string]any{"name": "personal", "api_key_role": "personal"}
		case i%4 == 2:
			body = map[string]any{"name": "index beta", "api_key_role": "serving_and_indexing", "corpus_keys": []string{"beta"}}
		default:
			body = map[string]any{"name": "query alpha", "api_key_role": "serving", "corpus_keys": []string{"alpha", "shared"}}
		}
		id := e.create(body)["id"].(string)
		all = append(all, id)
		switch body["api_key_role"] {
		case "personal":
			personal = append(personal, id)
			alpha, beta = append(alpha, id), append(beta, id)
		case "serving":
			alpha = append(alpha, id)
		default:
			beta = append(beta, id)
		}
	}
	newest := func(ids []string) []string {
		out := slices.Clone(ids)
		slices.Reverse(out)
		return out
	}
	// pages follows page_key and returns the ids and the page sizes.
	pages := func(query string) ([]string, []int) {
		t.Helper()
		var (
			ids   []string
			sizes []int
		)
		pageKey := ""
		for range 50 {
			q := query
			if pageKey != "" {
				q += "&page_key=" + pageKey
			}
			res := e.vec("GET", "/v2/api_keys?"+strings.TrimPrefix(q, "&"), nil)
			if res.Status != http.StatusOK {
				t.Fatalf("list %s: %d %s", q, res.Status, res.Body)
			}
			var l struct {
				APIKeys  []map[string]any `json:"api_keys"`
				Metadata struct {
					PageKey *string `json:"page_key"`
				} `json:"metadata"`
			}
			res.JSON(t, &l)
			sizes = append(sizes, len(l.APIKeys))
			for _, k := range l.APIKeys {
				checkAPIKey(t, k)
				ids = append(ids, k["id"].(string))
			}
			if l.Metadata.PageKey == nil {
				return ids, sizes
			}
			pageKey = *l.Metadata.PageKey
		}
		t.Fatalf("list %s does not end", query)
		return nil, nil
	}
	for _, tc := range []struct {
		query string
		ids   []string
		sizes []int
	}{
		{"", newest(all), []int{10, 10, 3}},
		{"limit=10", newest(all), []int{10, 10, 3}},
		{"limit=100", newest(all), []int{23}},
		{"limit=1", newest(all), slices.Repeat([]int{1}, 23)},
		{"limit=23", newest(all), []int{23}},
		{"limit=5&corpus_key=alpha", newest(alpha), []int{5, 5, 5, 2}},
		{"corpus_key=beta", newest(beta), []int{10, 1}},
		{"corpus_key=nowhere", newest(personal), []int{5}},
		{"api_key_role=personal", newest(personal), []int{5}},
		{"api_key_role=serving&limit=7", newest(slices.DeleteFunc(slices.Clone(alpha), func(id string) bool { return slices.Contains(personal, id) })), []int{7, 5}},
		{"api_key_role=serving_and_indexing&corpus_key=beta", newest(slices.DeleteFunc(slices.Clone(beta), func(id string) bool { return slices.Contains(personal, id) })), []int{6}},
		{"api_key_role=serving_and_indexing&corpus_key=alpha", nil, []int{0}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			ids, sizes := pages(tc.query)
			if !slices.Equal(ids, tc.ids) {
				t.Errorf("ids %v, want %v", ids, tc.ids)
			}
			if !slices.Equal(sizes, tc.sizes) {
				t.Errorf("page sizes %v, want %v", sizes, tc.sizes)
			}
		})
	}
	res := e.vec("GET", "/v2/api_keys?limit=23", nil)
	if m := res.Map(t)["metadata"].(map[string]any); len(m) != 0 {
		t.Errorf("the last page's metadata = %v, want no page_key", m)
	}
}

// TestErrors sends bad requests of every kind: each gets Vectara's error
// body with the documented status and changes nothing.
func TestErrors(t *testing.T) {
	e := newEnv(t, compattest.Options{})
	id := e.create(map[string]any{"name": "target", "api_key_role": "serving", "corpus_keys": []string{"docs"}})["id"].(string)
	_, apiKeySecret := e.APIKey(e.acct, nil)
	otherAcct := e.Account("other", keyward.TemplateVectara)
	otherKey := e.ManagementKeyIn(otherAcct, keyward.PermKeysRead, keyward.PermKeysWrite)
	otherID, _ := e.APIKey(otherAcct, nil)
	otherVID := "aky_" + strings.TrimPrefix(otherID, "key_")
	readOnly := e.ManagementKeyIn(e.acct, keyward.PermKeysRead)
	writeOnly := e.ManagementKeyIn(e.acct, keyward.PermKeysWrite)
	var mks struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	e.native("GET", "/v1/management-keys?limit=1", nil).JSON(t, &mks)
	mkVID := "aky_" + strings.TrimPrefix(mks.Data[0].ID, "key_")
	unknown := "aky_01JAAAAAAAAAAAAAAAAAAAAAAA"

	before := snapshot(t, e)

	valid := `{"name": "k", "api_key_role": "serving", "corpus_keys": ["docs"]}`
	huge := `{"name": "` + strings.Repeat("a", api.MaxBodyBytes) + `", "api_key_role": "personal"}`
	const noCred = "-"
	for _, tc := range []struct {
		name    string
		method  string
		path    string
		body    any
		cred    string // "" for the env's key, noCred for none
		headers []string
		status  int
		fields  []string
	}{
		// Bodies.
		{name: "create malformed JSON", method: "POST", path: "/v2/api_keys", body: `{"name": `, status: 400},
		{name: "create not an object", method: "POST", path: "/v2/api_keys", body: `["name"]`, status: 400},
		{name: "create trailing data", method: "POST", path: "/v2/api_keys", body: valid + `{}`, status: 400},
		{name: "create duplicate member", method: "POST", path: "/v2/api_keys", body: `{"name": "a", "name": "b", "api_key_role": "personal"}`, status: 400},
		{name: "create empty body", method: "POST", path: "/v2/api_keys", body: nil, status: 400},
		{name: "create name wrong type", method: "POST", path: "/v2/api_keys", body: `{"name": 5, "api_key_role": "personal"}`, status: 400, fields: []string{"name"}},
		{name: "create role wrong type", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_key_role": 1}`, status: 400, fields: []string{"api_key_role"}},
		{name: "create corpus_keys wrong type", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_key_role": "serving", "corpus_keys": "docs"}`, status: 400, fields: []string{"corpus_keys"}},
		{name: "create missing name", method: "POST", path: "/v2/api_keys", body: `{"api_key_role": "personal"}`, status: 400, fields: []string{"name"}},
		{name: "create null name", method: "POST", path: "/v2/api_keys", body: `{"name": null, "api_key_role": "personal"}`, status: 400, fields: []string{"name"}},
		{name: "create empty name", method: "POST", path: "/v2/api_keys", body: `{"name": "", "api_key_role": "personal"}`, status: 400, fields: []string{"name"}},
		{name: "create name too long", method: "POST", path: "/v2/api_keys", body: `{"name": "` + strings.Repeat("n", 256) + `", "api_key_role": "personal"}`, status: 400, fields: []string{"name"}},
		{name: "create name with a newline", method: "POST", path: "/v2/api_keys", body: `{"name": "a\nb", "api_key_role": "personal"}`, status: 400, fields: []string{"name"}},
		{name: "create missing role", method: "POST", path: "/v2/api_keys", body: `{"name": "k"}`, status: 400, fields: []string{"api_roles"}},
		{name: "create unknown role", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_key_role": "admin"}`, status: 400, fields: []string{"api_key_role"}},
		{name: "create role in another case", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_key_role": "Serving", "corpus_keys": ["docs"]}`, status: 400, fields: []string{"api_key_role"}},
		{name: "create personal with corpora", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_key_role": "personal", "corpus_keys": ["docs"]}`, status: 400, fields: []string{"corpus_keys"}},
		{name: "create serving without corpora", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_key_role": "serving"}`, status: 400, fields: []string{"corpus_keys"}},
		{name: "create indexing with no corpora", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_key_role": "serving_and_indexing", "corpus_keys": []}`, status: 400, fields: []string{"corpus_keys"}},
		{name: "create bad corpus key", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_key_role": "serving", "corpus_keys": ["ok", "not ok"]}`, status: 400, fields: []string{"corpus_keys[1]"}},
		{name: "create long corpus key", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_key_role": "serving", "corpus_keys": ["` + strings.Repeat("c", 51) + `"]}`, status: 400, fields: []string{"corpus_keys[0]"}},
		{name: "create empty corpus key", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_key_role": "serving", "corpus_keys": [""]}`, status: 400, fields: []string{"corpus_keys[0]"}},
		{name: "create every field wrong", method: "POST", path: "/v2/api_keys", body: `{"api_key_role": "owner", "corpus_keys": ["*"]}`, status: 400, fields: []string{"name", "api_key_role", "corpus_keys[0]"}},
		{name: "create unknown member", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_key_role": "personal", "description": "d"}`, status: 400, fields: []string{"description"}},
		// The newer role members.
		{name: "api_roles unknown role", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_roles": ["superuser"]}`, status: 400, fields: []string{"api_roles[0]"}},
		{name: "api_roles in another case", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_roles": ["viewer", "Owner"]}`, status: 400, fields: []string{"api_roles[1]"}},
		{name: "api_roles a corpus role", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_roles": ["editor"]}`, status: 400, fields: []string{"api_roles[0]"}},
		{name: "api_roles billing_administrator", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_roles": ["billing_administrator"]}`, status: 400, fields: []string{"api_roles[0]"}},
		{name: "api_roles a string", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_roles": "owner"}`, status: 400, fields: []string{"api_roles"}},
		{name: "api_roles an object", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_roles": {"owner": true}}`, status: 400, fields: []string{"api_roles"}},
		{name: "api_roles a number entry", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_roles": [1]}`, status: 400, fields: []string{"api_roles[0]"}},
		{name: "api_roles a null entry", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_roles": [null]}`, status: 400, fields: []string{"api_roles[0]"}},
		{name: "api_roles twice", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_roles": ["viewer", "corpus_viewer", "viewer"]}`, status: 400, fields: []string{"api_roles[2]"}},
		{name: "corpus_roles an object", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_roles": {"corpus_key": "docs", "role": "viewer"}}`, status: 400, fields: []string{"corpus_roles"}},
		{name: "corpus_roles a string entry", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_roles": ["docs"]}`, status: 400, fields: []string{"corpus_roles[0]"}},
		{name: "corpus_roles a null entry", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_roles": [null]}`, status: 400, fields: []string{"corpus_roles[0]"}},
		{name: "corpus_roles without corpus_key", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_roles": [{"role": "viewer"}]}`, status: 400, fields: []string{"corpus_roles[0].corpus_key"}},
		{name: "corpus_roles null corpus_key", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_roles": [{"corpus_key": null, "role": "viewer"}]}`, status: 400, fields: []string{"corpus_roles[0].corpus_key"}},
		{name: "corpus_roles number corpus_key", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_roles": [{"corpus_key": 7, "role": "viewer"}]}`, status: 400, fields: []string{"corpus_roles[0].corpus_key"}},
		{name: "corpus_roles bad corpus_key", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_roles": [{"corpus_key": "docs", "role": "viewer"}, {"corpus_key": "a b", "role": "viewer"}]}`, status: 400, fields: []string{"corpus_roles[1].corpus_key"}},
		{name: "corpus_roles long corpus_key", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_roles": [{"corpus_key": "` + strings.Repeat("c", 51) + `", "role": "viewer"}]}`, status: 400, fields: []string{"corpus_roles[0].corpus_key"}},
		{name: "corpus_roles without role", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_roles": [{"corpus_key": "docs"}]}`, status: 400, fields: []string{"corpus_roles[0].role"}},
		{name: "corpus_roles unknown role", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_roles": [{"corpus_key": "docs", "role": "reader"}]}`, status: 400, fields: []string{"corpus_roles[0].role"}},
		{name: "corpus_roles an agent role", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_roles": [{"corpus_key": "docs", "role": "agent_viewer"}]}`, status: 400, fields: []string{"corpus_roles[0].role"}},
		{name: "corpus_roles number role", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_roles": [{"corpus_key": "docs", "role": 2}]}`, status: 400, fields: []string{"corpus_roles[0].role"}},
		{name: "corpus_roles odd values", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_roles": [{"corpus_key": ["docs"], "role": {"name": "viewer"}}, {"corpus_key": "faq", "role": 1e400}]}`, status: 400,
			fields: []string{"corpus_roles[0].corpus_key", "corpus_roles[0].role", "corpus_roles[1].role"}},
		{name: "api_roles a nested list", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_roles": [["viewer"]]}`, status: 400, fields: []string{"api_roles[0]"}},
		{name: "corpus_roles unknown member", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_roles": [{"corpus_key": "docs", "role": "viewer", "expires": 1}]}`, status: 400, fields: []string{"corpus_roles[0].expires"}},
		{name: "corpus_roles same corpus twice", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_roles": [{"corpus_key": "docs", "role": "viewer"}, {"corpus_key": "docs", "role": "editor"}]}`, status: 400, fields: []string{"corpus_roles[1].corpus_key"}},
		{name: "corpus_roles member twice", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_roles": [{"corpus_key": "docs", "corpus_key": "faq", "role": "viewer"}]}`, status: 400},
		{name: "agent_roles without agent_key", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "agent_roles": [{"role": "agent_user"}]}`, status: 400, fields: []string{"agent_roles[0].agent_key"}},
		{name: "agent_roles corpus_key instead", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "agent_roles": [{"corpus_key": "bot", "role": "agent_user"}]}`, status: 400, fields: []string{"agent_roles[0].agent_key", "agent_roles[0].corpus_key"}},
		{name: "agent_roles unknown role", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "agent_roles": [{"agent_key": "bot", "role": "editor"}]}`, status: 400, fields: []string{"agent_roles[0].role"}},
		{name: "agent_roles bad agent_key", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "agent_roles": [{"agent_key": "a=b", "role": "agent_user"}]}`, status: 400, fields: []string{"agent_roles[0].agent_key"}},
		{name: "agent_roles same agent twice", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "agent_roles": [{"agent_key": "bot", "role": "agent_user"}, {"agent_key": "bot", "role": "agent_user"}]}`, status: 400, fields: []string{"agent_roles[1].agent_key"}},
		{name: "agent_roles a list of strings", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "agent_roles": "bot"}`, status: 400, fields: []string{"agent_roles"}},
		{name: "every role member wrong", method: "POST", path: "/v2/api_keys", body: `{"api_roles": ["root"], "corpus_roles": [{"corpus_key": "", "role": "boss"}], "agent_roles": [7]}`, status: 400,
			fields: []string{"name", "api_roles[0]", "corpus_roles[0].corpus_key", "corpus_roles[0].role", "agent_roles[0]"}},
		{name: "api_key_role with api_roles", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_key_role": "personal", "api_roles": ["owner"]}`, status: 400, fields: []string{"api_key_role"}},
		{name: "api_key_role with corpus_roles", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_key_role": "serving", "corpus_roles": [{"corpus_key": "docs", "role": "viewer"}]}`, status: 400, fields: []string{"api_key_role"}},
		{name: "corpus_keys with corpus_roles", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_keys": ["docs"], "corpus_roles": [{"corpus_key": "docs", "role": "viewer"}]}`, status: 400, fields: []string{"corpus_keys"}},
		{name: "both deprecated with agent_roles", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_key_role": "serving", "corpus_keys": ["docs"], "agent_roles": [{"agent_key": "bot", "role": "agent_viewer"}]}`, status: 400, fields: []string{"api_key_role", "corpus_keys"}},
		{name: "deprecated with a wrong role list", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_key_role": "serving", "corpus_keys": ["docs"], "api_roles": "viewer"}`, status: 400, fields: []string{"api_key_role", "corpus_keys", "api_roles"}},
		{name: "corpus_keys without a role", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "corpus_keys": ["docs"]}`, status: 400, fields: []string{"api_key_role"}},
		{name: "only empty role lists", method: "POST", path: "/v2/api_keys", body: `{"name": "k", "api_roles": [], "corpus_roles": [], "agent_roles": null}`, status: 400, fields: []string{"api_roles"}},
		{name: "patch api_roles", method: "PATCH", path: "/v2/api_keys/" + id, body: `{"api_roles": ["owner"]}`, status: 400, fields: []string{"api_roles"}},
		{name: "patch corpus_roles", method: "PATCH", path: "/v2/api_keys/" + id, body: `{"enabled": true, "corpus_roles": [{"corpus_key": "docs", "role": "owner"}]}`, status: 400, fields: []string{"corpus_roles"}},
		{name: "patch agent_roles", method: "PATCH", path: "/v2/api_keys/" + id, body: `{"agent_roles": []}`, status: 400, fields: []string{"agent_roles"}},
		{name: "patch corpus_keys", method: "PATCH", path: "/v2/api_keys/" + id, body: `{"corpus_keys": ["faq"]}`, status: 400, fields: []string{"corpus_keys"}},
		{name: "create text/plain body", method: "POST", path: "/v2/api_keys", body: valid, headers: []string{"Content-Type: text/plain"}, status: 415},
		{name: "create body over 1 MiB", method: "POST", path: "/v2/api_keys", body: huge, status: 413},
		{name: "patch enabled null", method: "PATCH", path: "/v2/api_keys/" + id, body: `{"enabled": null}`, status: 400, fields: []string{"enabled"}},
		{name: "patch enabled string", method: "PATCH", path: "/v2/api_keys/" + id, body: `{"enabled": "false"}`, status: 400, fields: []string{"enabled"}},
		{name: "patch enabled number", method: "PATCH", path: "/v2/api_keys/" + id, body: `{"enabled": 0}`, status: 400, fields: []string{"enabled"}},
		{name: "patch name", method: "PATCH", path: "/v2/api_keys/" + id, body: `{"name": "renamed"}`, status: 400, fields: []string{"name"}},
		{name: "patch api_key_role", method: "PATCH", path: "/v2/api_keys/" + id, body: `{"enabled": true, "api_key_role": "personal"}`, status: 400, fields: []string{"api_key_role"}},
		{name: "patch malformed", method: "PATCH", path: "/v2/api_keys/" + id, body: `{"enabled": fals}`, status: 400},
		{name: "patch array", method: "PATCH", path: "/v2/api_keys/" + id, body: `[{"enabled": false}]`, status: 400},
		{name: "patch form body", method: "PATCH", path: "/v2/api_keys/" + id, body: `enabled=false`, headers: []string{"Content-Type: application/x-www-form-urlencoded"}, status: 415},
		// Ids.
		{name: "get unknown id", method: "GET", path: "/v2/api_keys/" + unknown, status: 404},
		{name: "patch unknown id", method: "PATCH", path: "/v2/api_keys/" + unknown, body: `{"enabled": false}`, status: 404},
		{name: "delete unknown id", method: "DELETE", path: "/v2/api_keys/" + unknown, status: 404},
		{name: "get native id", method: "GET", path: "/v2/api_keys/" + nativeID(id), status: 404},
		{name: "get malformed id", method: "GET", path: "/v2/api_keys/aky_123", status: 404},
		{name: "get lower-case id", method: "GET", path: "/v2/api_keys/" + strings.ToLower(id), status: 404},
		{name: "get other account's key", method: "GET", path: "/v2/api_keys/" + otherVID, status: 404},
		{name: "patch other account's key", method: "PATCH", path: "/v2/api_keys/" + otherVID, body: `{"enabled": false}`, status: 404},
		{name: "delete other account's key", method: "DELETE", path: "/v2/api_keys/" + otherVID, status: 404},
		{name: "other account's key patching ours", method: "PATCH", path: "/v2/api_keys/" + id, body: `{"enabled": false}`, cred: otherKey, status: 404},
		{name: "get a management key", method: "GET", path: "/v2/api_keys/" + mkVID, status: 404},
		{name: "delete a management key", method: "DELETE", path: "/v2/api_keys/" + mkVID, status: 404},
		// Credentials.
		{name: "no credential", method: "GET", path: "/v2/api_keys", cred: noCred, status: 401},
		{name: "no credential create", method: "POST", path: "/v2/api_keys", body: valid, cred: noCred, status: 401},
		{name: "unknown credential", method: "GET", path: "/v2/api_keys", cred: "kwm_notakeyatall", status: 401},
		{name: "malformed credential", method: "PATCH", path: "/v2/api_keys/" + id, body: `{"enabled": false}`, cred: "zut_abc", status: 401},
		{name: "Vectara-shaped OAuth header", method: "GET", path: "/v2/api_keys", cred: noCred, headers: []string{"Authorization: Basic dXNlcjpwYXNz"}, status: 401},
		{name: "two different credentials", method: "GET", path: "/v2/api_keys", headers: []string{"Authorization: Bearer " + readOnly}, status: 400},
		{name: "API key lists", method: "GET", path: "/v2/api_keys", cred: apiKeySecret, status: 403},
		{name: "API key creates", method: "POST", path: "/v2/api_keys", body: valid, cred: apiKeySecret, status: 403},
		{name: "API key disables", method: "PATCH", path: "/v2/api_keys/" + id, body: `{"enabled": false}`, cred: apiKeySecret, status: 403},
		{name: "API key deletes", method: "DELETE", path: "/v2/api_keys/" + id, cred: apiKeySecret, status: 403},
		{name: "API key as bearer", method: "GET", path: "/v2/api_keys/" + id, cred: noCred, headers: []string{"Authorization: Bearer " + apiKeySecret}, status: 403},
		{name: "read-only key creates", method: "POST", path: "/v2/api_keys", body: valid, cred: readOnly, status: 403},
		{name: "read-only key disables", method: "PATCH", path: "/v2/api_keys/" + id, body: `{"enabled": false}`, cred: readOnly, status: 403},
		{name: "read-only key deletes", method: "DELETE", path: "/v2/api_keys/" + id, cred: readOnly, status: 403},
		{name: "write-only key lists", method: "GET", path: "/v2/api_keys", cred: writeOnly, status: 403},
		{name: "write-only key gets", method: "GET", path: "/v2/api_keys/" + id, cred: writeOnly, status: 403},
		{name: "account header of another account", method: "GET", path: "/v2/api_keys", headers: []string{"X-Account-Id: " + otherAcct}, status: 403},
		// Routes and methods.
		{name: "PUT a key", method: "PUT", path: "/v2/api_keys/" + id, body: `{"enabled": false}`, status: 405},
		{name: "POST to a key", method: "POST", path: "/v2/api_keys/" + id, body: `{"enabled": false}`, status: 405},
		{name: "DELETE the collection", method: "DELETE", path: "/v2/api_keys", status: 405},
		{name: "PATCH the collection", method: "PATCH", path: "/v2/api_keys", body: `{"enabled": false}`, status: 405},
		{name: "unknown route", method: "GET", path: "/v2/apikeys", status: 404},
		{name: "legacy v1 route", method: "POST", path: "/v1/list-api-keys", body: `{}`, status: 404},
		{name: "rotate is no Vectara operation", method: "POST", path: "/v2/api_keys/" + id + ":rotate", status: 405},
		{name: "below a key", method: "GET", path: "/v2/api_keys/" + id + "/secret", status: 404},
		{name: "mount root", method: "GET", path: "/", status: 404},
		// Headers and parameters.
		{name: "Request-Timeout zero", method: "GET", path: "/v2/api_keys", headers: []string{"Request-Timeout: 0"}, status: 400, fields: []string{"Request-Timeout"}},
		{name: "Request-Timeout text", method: "PATCH", path: "/v2/api_keys/" + id, body: `{"enabled": false}`, headers: []string{"Request-Timeout: soon"}, status: 400, fields: []string{"Request-Timeout"}},
		{name: "Request-Timeout-Millis negative", method: "DELETE", path: "/v2/api_keys/" + id, headers: []string{"Request-Timeout-Millis: -5"}, status: 400, fields: []string{"Request-Timeout-Millis"}},
		{name: "limit zero", method: "GET", path: "/v2/api_keys?limit=0", status: 400, fields: []string{"limit"}},
		{name: "limit over 100", method: "GET", path: "/v2/api_keys?limit=101", status: 400, fields: []string{"limit"}},
		{name: "limit text", method: "GET", path: "/v2/api_keys?limit=ten", status: 400, fields: []string{"limit"}},
		{name: "limit empty", method: "GET", path: "/v2/api_keys?limit=", status: 400, fields: []string{"limit"}},
		{name: "limit twice", method: "GET", path: "/v2/api_keys?limit=1&limit=2", status: 400, fields: []string{"limit"}},
		{name: "page_key garbage", method: "GET", path: "/v2/api_keys?page_key=eyJvZmZzZXQiOjF9", status: 400, fields: []string{"page_key"}},
		{name: "page_key not base64", method: "GET", path: "/v2/api_keys?page_key=%25%25", status: 400, fields: []string{"page_key"}},
		{name: "corpus_key malformed", method: "GET", path: "/v2/api_keys?corpus_key=a%20b", status: 400, fields: []string{"corpus_key"}},
		{name: "corpus_key too long", method: "GET", path: "/v2/api_keys?corpus_key=" + strings.Repeat("c", 51), status: 400, fields: []string{"corpus_key"}},
		{name: "api_key_role unknown", method: "GET", path: "/v2/api_keys?api_key_role=owner", status: 400, fields: []string{"api_key_role"}},
		{name: "unknown parameter", method: "GET", path: "/v2/api_keys?customer_id=1", status: 400, fields: []string{"customer_id"}},
		{name: "parameter on get", method: "GET", path: "/v2/api_keys/" + id + "?pretty", status: 400, fields: []string{"pretty"}},
		{name: "malformed query", method: "GET", path: "/v2/api_keys?limit=%zz", status: 400, fields: []string{"limit"}},
		{name: "semicolon in the query", method: "GET", path: "/v2/api_keys?limit=5;", status: 400, fields: []string{"limit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			switch tc.cred {
			case "":
				hdr = append(hdr, "x-api-key: "+e.key)
			case noCred:
			default:
				hdr = append(hdr, "x-api-key: "+tc.cred)
			}
			res := e.Do(tc.method, prefix+tc.path, tc.body, append(hdr, tc.headers...)...)
			m := checkError(t, res, tc.status, tc.fields...)
			switch tc.status {
			case http.StatusMethodNotAllowed:
				if allow := res.Header.Get("Allow"); allow == "" {
					t.Errorf("405 without Allow")
				}
			case http.StatusNotFound:
				if strings.HasPrefix(tc.path, "/v2/api_keys/") && !strings.ContainsAny(strings.TrimPrefix(tc.path, "/v2/api_keys/"), "/:") {
					if m["id"] != strings.TrimPrefix(tc.path, "/v2/api_keys/") {
						t.Errorf("404 id = %v, want the id asked for", m["id"])
					}
				}
			}
		})
	}
	if after := snapshot(t, e); !reflect.DeepEqual(before, after) {
		t.Errorf("failed requests changed the keys:\nbefore %v\nafter  %v", before, after)
	}
	res := e.vec("PUT", "/v2/api_keys/"+id, `{}`)
	if allow := res.Header.Get("Allow"); !strings.Contains(allow, "PATCH") || !strings.Contains(allow, "DELETE") || !strings.Contains(allow, "GET") {
		t.Errorf("Allow = %q, want GET, PATCH and DELETE", allow)
	}
}

// snapshot returns every key of the env's account (and the other one's)
// with its etag, to check that failed requests changed nothing.
func snapshot(t *testing.T, e *env) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, acct := range []string{"", e.acct} {
		var hdr []string
		if acct != "" {
			hdr = append(hdr, "X-Account-Id: "+acct)
		}
		for _, path := range []string{"/v1/keys?limit=200", "/v1/management-keys?limit=200"} {
			res := e.Native("GET", path, nil, hdr...)
			var l struct {
				Data []struct {
					ID   string `json:"id"`
					ETag string `json:"etag"`
				} `json:"data"`
			}
			res.JSON(t, &l)
			for _, k := range l.Data {
				out[k.ID] = k.ETag
			}
		}
	}
	return out
}

// TestRevoked: a key revoked natively shows as disabled and cannot be
// enabled or disabled (409), only deleted.
func TestRevoked(t *testing.T) {
	e := newEnv(t, compattest.Options{})
	id := e.create(map[string]any{"name": "to revoke", "api_key_role": "serving", "corpus_keys": []string{"docs"}})["id"].(string)
	if res := e.native("PATCH", "/v1/keys/"+nativeID(id), map[string]any{"status": "revoked"}); res.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
	res := e.vec("GET", "/v2/api_keys/"+id, nil)
	if m := res.Map(t); m["enabled"] != false {
		t.Errorf("a revoked key shows enabled %v", m["enabled"])
	}
	for _, body := range []string{`{"enabled": true}`, `{"enabled": false}`} {
		checkError(t, e.vec("PATCH", "/v2/api_keys/"+id, body), http.StatusConflict)
	}
	if n := e.nativeKey(id); n["status"] != "revoked" {
		t.Errorf("status %v after refused changes, want revoked", n["status"])
	}
	if res := e.vec("DELETE", "/v2/api_keys/"+id, nil); res.Status != http.StatusNoContent {
		t.Errorf("delete a revoked key: %d %s", res.Status, res.Body)
	}
}

// TestCrossAPI: keys made through the dialect are native keys and the
// other way round; changes made through one API are seen through the
// other; the audit log names the dialect of each change.
func TestCrossAPI(t *testing.T) {
	e := newEnv(t, compattest.Options{})
	m := e.create(map[string]any{"name": "shared", "api_key_role": "serving_and_indexing", "corpus_keys": []string{"docs"}})
	vid := m["id"].(string)
	kid := nativeID(vid)
	secret := m["secret_key"].(string)

	n := e.nativeKey(vid)
	if n["id"] != kid || n["name"] != "shared" || n["status"] != "active" || n["account_id"] != e.acct || n["kind"] != "api" {
		t.Errorf("native view of a Vectara key: %v", n)
	}
	if s, _ := n["start"].(string); !strings.HasPrefix(secret, s) {
		t.Errorf("native start %v is not the start of the secret", n["start"])
	}

	// The key verifies, with the corpus permissions of its role.
	verify := func(perms string) string {
		t.Helper()
		res := e.native("POST", "/v1/keys/verify", map[string]any{"key": secret, "permissions": perms})
		var v struct {
			Code string `json:"code"`
		}
		res.JSON(t, &v)
		return v.Code
	}
	for perms, want := range map[string]string{"corpus:write:docs": "VALID", "corpus:read:docs": "VALID", "corpus:read:other": "INSUFFICIENT_PERMISSIONS"} {
		if got := verify(perms); got != want {
			t.Errorf("verify %s: %s, want %s", perms, got, want)
		}
	}

	// Disabled through the dialect: native sees it, verification refuses it.
	if res := e.vec("PATCH", "/v2/api_keys/"+vid, `{"enabled": false}`); res.Status != http.StatusOK {
		t.Fatalf("disable: %d %s", res.Status, res.Body)
	}
	if n := e.nativeKey(vid); n["status"] != "disabled" {
		t.Errorf("native status %v after the dialect disabled it", n["status"])
	}
	if got := verify("corpus:read"); got != "DISABLED" {
		t.Errorf("verify a disabled key: %s", got)
	}
	// Enabled natively: the dialect sees it.
	if res := e.native("PATCH", "/v1/keys/"+kid, map[string]any{"status": "active", "name": "renamed natively"}); res.Status != http.StatusOK {
		t.Fatalf("native enable: %d %s", res.Status, res.Body)
	}
	g := e.vec("GET", "/v2/api_keys/"+vid, nil).Map(t)
	if g["enabled"] != true || g["name"] != "renamed natively" {
		t.Errorf("the dialect after a native change: %v", g)
	}
	// A native change of the scopes changes the role and policy shown.
	if res := e.native("PATCH", "/v1/keys/"+kid, map[string]any{"scopes": []any{map[string]any{"resource": "corpus", "access": "read", "targets": []string{"docs", "faq"}}}}); res.Status != http.StatusOK {
		t.Fatalf("native scopes: %d %s", res.Status, res.Body)
	}
	g = e.vec("GET", "/v2/api_keys/"+vid, nil).Map(t)
	if g["api_key_role"] != "serving" {
		t.Errorf("role after narrowing to read: %v", g["api_key_role"])
	}
	wantOps := map[string]any{"corpus:read": map[string]any{"allow_any_resource": false, "allowed_resources": map[string]any{"path.corpus_key": []any{"docs", "faq"}}}}
	if ops := g["api_policy"].(map[string]any)["allowed_operations"]; !reflect.DeepEqual(ops, wantOps) {
		t.Errorf("allowed_operations %v, want %v", ops, wantOps)
	}

	// The audit log: created and disabled through vectara, changed natively.
	type ev struct{ action, dialect string }
	var got []ev
	for _, a := range e.audit(kid) {
		got = append(got, ev{a["action"].(string), a["dialect"].(string)})
	}
	want := []ev{{"key.updated", "native"}, {"key.updated", "native"}, {"key.updated", "vectara"}, {"key.created", "vectara"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("audit events %v, want %v", got, want)
	}

	// Deleted through the dialect: gone natively, audited as vectara.
	if res := e.vec("DELETE", "/v2/api_keys/"+vid, nil); res.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	if res := e.native("GET", "/v1/keys/"+kid, nil); res.Status != http.StatusNotFound {
		t.Errorf("native GET after the dialect deleted it: %d", res.Status)
	}
	if got := verify("corpus:read"); got != "NOT_FOUND" {
		t.Errorf("verify a deleted key: %s", got)
	}
	if evs := e.audit(kid); len(evs) == 0 || evs[0]["action"] != "key.deleted" || evs[0]["dialect"] != "vectara" {
		t.Errorf("newest audit event after delete: %v", evs[0])
	}

	// Keys made natively, seen through the dialect.
	for _, tc := range []struct {
		fields map[string]any
		role   string
		ops    []string
	}{
		{map[string]any{"permission_mode": "all"}, "personal", []string{"agents:read", "agents:write", "corpus:read", "corpus:write", "pipelines:read", "pipelines:write"}},
		{map[string]any{"permission_mode": "read_only"}, "serving", []string{"agents:read", "corpus:read", "pipelines:read"}},
		{map[string]any{"permission_mode": "restricted", "roles": []string{"serving"}}, "serving", []string{"corpus:read"}},
		{map[string]any{"permission_mode": "restricted", "roles": []string{"serving_and_indexing"}}, "serving_and_indexing", []string{"corpus:read", "corpus:write"}},
		{map[string]any{"permission_mode": "restricted", "roles": []string{"personal"}}, "personal", []string{"agents:read", "agents:write", "corpus:read", "corpus:write", "pipelines:read", "pipelines:write"}},
		{map[string]any{"permission_mode": "restricted", "scopes": []any{map[string]any{"resource": "agents", "access": "read"}}}, "serving", []string{"agents:read"}},
		{map[string]any{"permission_mode": "restricted", "scopes": []any{}}, "serving", nil},
	} {
		id, _ := e.APIKey(e.acct, tc.fields)
		vid := "aky_" + strings.TrimPrefix(id, "key_")
		res := e.vec("GET", "/v2/api_keys/"+vid, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("GET native key %v: %d %s", tc.fields, res.Status, res.Body)
		}
		g := res.Map(t)
		checkAPIKey(t, g)
		var ops []string
		for op := range g["api_policy"].(map[string]any)["allowed_operations"].(map[string]any) {
			ops = append(ops, op)
		}
		sort.Strings(ops)
		if g["api_key_role"] != tc.role || !slices.Equal(ops, tc.ops) {
			t.Errorf("native key %v: role %v ops %v, want %s %v", tc.fields, g["api_key_role"], ops, tc.role, tc.ops)
		}
		// Disabling it through the dialect is audited as vectara.
		if res := e.vec("PATCH", "/v2/api_keys/"+vid, `{"enabled": false}`); res.Status != http.StatusOK {
			t.Fatalf("disable a native key: %d %s", res.Status, res.Body)
		}
		if evs := e.audit(id); evs[0]["action"] != "key.updated" || evs[0]["dialect"] != "vectara" {
			t.Errorf("audit of a dialect change to a native key: %v", evs[0])
		}
	}
}

// TestNoop: a PATCH that changes nothing answers the key as it is and
// writes no audit event.
func TestNoop(t *testing.T) {
	e := newEnv(t, compattest.Options{})
	vid := e.create(map[string]any{"name": "still", "api_key_role": "personal"})["id"].(string)
	etag := e.nativeKey(vid)["etag"]
	for _, body := range []any{`{}`, `{"enabled": true}`, nil} {
		res := e.vec("PATCH", "/v2/api_keys/"+vid, body)
		if res.Status != http.StatusOK {
			t.Fatalf("PATCH %v: %d %s", body, res.Status, res.Body)
		}
		checkAPIKey(t, res.Map(t))
	}
	if n := e.nativeKey(vid); n["etag"] != etag {
		t.Errorf("a no-op PATCH changed the etag: %v → %v", etag, n["etag"])
	}
	if evs := e.audit(nativeID(vid)); len(evs) != 1 {
		t.Errorf("audit events after no-ops: %v, want only key.created", evs)
	}
}

// TestRecoverable: with a master key, a key created with keyward's
// extension member recoverable: true keeps its token sealed, and GET
// returns secret_key to a credential holding keys:reveal (an audited
// reveal); never in a list. Without the member a key is not recoverable
// (keeping tokens is opt-in); without a master key the member is a 400.
func TestRecoverable(t *testing.T) {
	e := newEnv(t, compattest.Options{Service: service.Options{MasterKey: keywardtest.MasterKey(t)}}, keyward.PermKeysRead, keyward.PermKeysWrite, keyward.PermKeysReveal)
	plain := e.create(map[string]any{"name": "not recoverable", "api_key_role": "serving", "corpus_keys": []string{"docs"}})
	if n := e.nativeKey(plain["id"].(string)); n["recoverable"] != false {
		t.Errorf("a key created without recoverable: native recoverable = %v, want false", n["recoverable"])
	}
	if g := e.vec("GET", "/v2/api_keys/"+plain["id"].(string), nil).Map(t); g["secret_key"] != nil {
		t.Errorf("a key created without recoverable shows secret_key on GET: %v", g)
	}
	m := e.create(map[string]any{"name": "recoverable", "api_key_role": "serving", "corpus_keys": []string{"docs"}, "recoverable": true})
	vid, secret := m["id"].(string), m["secret_key"].(string)
	if n := e.nativeKey(vid); n["recoverable"] != true {
		t.Errorf("native recoverable = %v, want true", n["recoverable"])
	}
	g := e.vec("GET", "/v2/api_keys/"+vid, nil).Map(t)
	checkAPIKey(t, g)
	if g["secret_key"] != secret {
		t.Errorf("GET secret_key = %v, want the token made at creation", g["secret_key"])
	}
	if evs := e.audit(nativeID(vid)); evs[0]["action"] != "key.secret_revealed" || evs[0]["dialect"] != "vectara" {
		t.Errorf("the reveal is not audited: %v", evs[0])
	}

	noReveal := e.ManagementKeyIn(e.acct, keyward.PermKeysRead)
	res := e.Do("GET", prefix+"/v2/api_keys/"+vid, nil, "x-api-key: "+noReveal)
	if g := res.Map(t); res.Status != http.StatusOK || g["secret_key"] != nil {
		t.Errorf("GET without keys:reveal: %d %v, want the key without secret_key", res.Status, g)
	}
	res = e.vec("GET", "/v2/api_keys", nil)
	if strings.Contains(string(res.Body), secret) || strings.Contains(string(res.Body), "secret_key") {
		t.Errorf("a list shows secrets: %s", res.Body)
	}
	// Without a master key, asking for a recoverable key is refused and
	// creates nothing.
	bare := newEnv(t, compattest.Options{}, keyward.PermKeysRead, keyward.PermKeysWrite)
	res = bare.vec("POST", "/v2/api_keys", map[string]any{"name": "r", "api_key_role": "personal", "recoverable": true})
	if res.Status != http.StatusBadRequest || !strings.Contains(string(res.Body), "recoverable") {
		t.Errorf("recoverable without a master key: %d %s, want 400 naming recoverable", res.Status, res.Body)
	}
	if l := bare.vec("GET", "/v2/api_keys", nil).Map(t); len(l["api_keys"].([]any)) != 0 {
		t.Errorf("the refused create made a key: %v", l)
	}
	// A key made natively without recoverable has no secret to show.
	id, _ := e.APIKey(e.acct, nil)
	if g := e.vec("GET", "/v2/api_keys/aky_"+strings.TrimPrefix(id, "key_"), nil).Map(t); g["secret_key"] != nil {
		t.Errorf("a key that is not recoverable shows secret_key: %v", g)
	}
}

// TestTimeout: a request whose Request-Timeout runs out answers 504 in
// Vectara's body. The endpoint waits for its own deadline, so the test
// does not depend on how fast anything is.
func TestTimeout(t *testing.T) {
	d := kit.New(&compattest.Host{}, vendor)
	d.Handle("GET "+base, func(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
		<-r.Context().Done()
		return keyward.Internal(r.Context().Err()) // as a store reports it
	})
	for _, header := range []string{"Request-Timeout-Millis: 1", "Request-Timeout: 1"} {
		t.Run(header, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base, nil)
			name, value, _ := strings.Cut(header, ":")
			req.Header.Set(name, strings.TrimSpace(value))
			rec := &recorder{header: http.Header{}}
			d.ServeHTTP(rec, req)
			if rec.status != http.StatusGatewayTimeout {
				t.Fatalf("status %d, want 504: %s", rec.status, rec.body)
			}
			var body map[string]any
			if err := json.Unmarshal(rec.body, &body); err != nil || body["messages"] == nil {
				t.Errorf("body %s, want {messages, request_id}", rec.body)
			}
		})
	}
}

type recorder struct {
	header http.Header
	status int
	body   []byte
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	r.body = append(r.body, b...)
	return len(b), nil
}
func (r *recorder) WriteHeader(code int) { r.status = code }

// TestVectaraField checks how native field names read in Vectara's terms.
func TestVectaraField(t *testing.T) {
	for native, want := range map[string]string{
		"name":                 "name",
		"scopes":               "corpus_keys",
		"scopes[0].resource":   "corpus_keys",
		"scopes[0].targets[3]": "corpus_keys[3]",
		"scopes[0].targets":    "corpus_keys",
		"permission_mode":      "api_key_role",
		"roles[0]":             "api_key_role",
		"status":               "enabled",
		"expires_at":           "expires_at",
		"corpus_keys[2]":       "corpus_keys[2]",
		"Request-Timeout":      "Request-Timeout",
	} {
		if got := vectaraField(native); got != want {
			t.Errorf("vectaraField(%q) = %q, want %q", native, got, want)
		}
	}
}

// TestPageKey: a page_key round-trips and is opaque base64url.
func TestPageKey(t *testing.T) {
	id := "key_01JABCDEFGHJKMNPQRSTVWXYZ0"
	pk := encodePageKey(id)
	if strings.ContainsAny(pk, "+/=") {
		t.Errorf("page_key %q is not URL-safe", pk)
	}
	got, err := decodePageKey(pk)
	if err != nil || got != id {
		t.Errorf("decodePageKey(encodePageKey(%s)) = %s, %v", id, got, err)
	}
}

// TestCredentials: the management key goes in x-api-key or, as Vectara's
// OAuth form, Authorization: Bearer (both at once only if equal); an
// operator key chooses the account with X-Account-Id.
func TestCredentials(t *testing.T) {
	e := newEnv(t, compattest.Options{})
	vid := e.create(map[string]any{"name": "mine", "api_key_role": "personal"})["id"].(string)
	for _, tc := range []struct {
		name    string
		headers []string
	}{
		{"x-api-key", []string{"x-api-key: " + e.key}},
		{"X-API-KEY", []string{"X-API-KEY: " + e.key}},
		{"bearer", []string{"Authorization: Bearer " + e.key}},
		{"both equal", []string{"x-api-key: " + e.key, "Authorization: Bearer " + e.key}},
		{"bound key naming its account", []string{"x-api-key: " + e.key, "X-Account-Id: " + e.acct}},
		{"operator key with the account", []string{"x-api-key: " + e.Op, "X-Account-Id: " + e.acct}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.Do("GET", prefix+"/v2/api_keys/"+vid, nil, tc.headers...)
			if res.Status != http.StatusOK {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			checkAPIKey(t, res.Map(t))
		})
	}
	// The operator key without X-Account-Id acts on the default account,
	// where this key does not exist.
	checkError(t, e.Do("GET", prefix+"/v2/api_keys/"+vid, nil, "x-api-key: "+e.Op), http.StatusNotFound)
}

// TestAccountPolicy: the account's expiry policy applies to keys made
// through the dialect, which has no expiry field: require_expiry without a
// default lifetime refuses them (400 on expires_at), a default lifetime
// gives them an expiry.
func TestAccountPolicy(t *testing.T) {
	e := newEnv(t, compattest.Options{})
	body := map[string]any{"name": "k", "api_key_role": "serving", "corpus_keys": []string{"docs"}}
	if res := e.Native("PATCH", "/v1/accounts/"+e.acct, map[string]any{"require_expiry": true}); res.Status != http.StatusOK {
		t.Fatalf("require_expiry: %d %s", res.Status, res.Body)
	}
	checkError(t, e.vec("POST", "/v2/api_keys", body), http.StatusBadRequest, "expires_at")
	if res := e.Native("PATCH", "/v1/accounts/"+e.acct, map[string]any{"default_key_lifetime": 3600}); res.Status != http.StatusOK {
		t.Fatalf("default_key_lifetime: %d %s", res.Status, res.Body)
	}
	vid := e.create(body)["id"].(string)
	if n := e.nativeKey(vid); n["expires_at"] == nil {
		t.Errorf("a key made under default_key_lifetime has no expiry: %v", n)
	}
}

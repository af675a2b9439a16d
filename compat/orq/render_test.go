package orq

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// The base paths of the three renderings.
var (
	seedPath    = ""
	numericPath = "/numeric"
	currentPath = "/current"
	allPaths    = []string{seedPath, numericPath, currentPath}
)

// checkRestKey checks the shape of an orq APIKeyRestResponse (the current
// SDKs' key): the members they require, the types of those present, and
// no member orq's v-B envelope has.
func checkRestKey(t *testing.T, k map[string]any) {
	t.Helper()
	for _, m := range []string{"id", "name", "workspace_id", "token"} {
		if _, ok := k[m].(string); !ok {
			t.Errorf("%q is not a string: %v", m, k)
		}
	}
	if id := str(k["id"]); !keyward.ValidID("key_", "key_"+id) {
		t.Errorf("id %q is not a bare ULID", id)
	}
	for _, m := range []string{"created", "updated", "last_used_at", "expiration"} {
		if v, ok := k[m]; ok && !timestampRE.MatchString(str(v)) {
			t.Errorf("%s %v is not an RFC 3339 UTC timestamp", m, v)
		}
	}
	for _, m := range []string{"created", "updated", "owner", "project_scope", "permission_mode", "token_prefix", "status", "active"} {
		if _, ok := k[m]; !ok {
			t.Errorf("lacks %q: %v", m, k)
		}
	}
	if _, ok := k["active"].(bool); !ok {
		t.Errorf("active %v is not a boolean", k["active"])
	}
	for _, m := range []string{"owner", "project_scope", "access", "labels"} {
		if v, ok := k[m]; ok && obj(v) == nil {
			t.Errorf("%s %v is not an object", m, v)
		}
	}
	for d, l := range obj(k["access"]) {
		if !strings.HasPrefix(str(l), "ACCESS_LEVEL_") {
			t.Errorf("access.%s %v is not an AccessLevel name", d, l)
		}
	}
	if p, ok := k["projects"]; ok {
		if ps, _ := p.([]any); len(ps) != 1 || !strings.HasPrefix(str(ps[0]), "proj_") {
			t.Errorf("projects %v", p)
		}
	}
	for _, m := range []string{"api_key", "api_key_id", "created_at", "updated_at", "expires_at"} {
		if _, ok := k[m]; ok {
			t.Errorf("has v-B member %q", m)
		}
	}
	for m, v := range k {
		if v == nil {
			t.Errorf("member %q is null", m)
		}
	}
}

// TestCurrentRendering drives every route under /compat/orq/current and
// checks each answer's shape: a flat APIKeyRestResponse (token raw on
// create, masked after), a bare array, 204 on delete.
func TestCurrentRendering(t *testing.T) {
	e := newEnv(t)
	user := str(e.native("POST", "/v1/users", map[string]any{"external_id": "u1", "roles": []string{}}).Map(t)["id"])
	prj := str(e.native("POST", "/v1/projects", map[string]any{"name": "p1"}).Map(t)["id"])
	orqPrj := "proj_" + strings.TrimPrefix(prj, "prj_")
	cur := "/current/v2/api-keys"

	res := e.orq("POST", cur, `{"name":"c1","permission_mode":"PERMISSION_MODE_RESTRICTED",
		"access":{"agent":2,"dataset":"ACCESS_LEVEL_READ","prompt":0},"expires_at":"2999-01-02T03:04:05Z",
		"labels":{"team":"search","env":"prod"},"mcp_access":{"deny_all":false,"allowed_mcp_gateway_ids":[],"toolset_ids":[],"allowed_filesystem_ids":[]},
		"owner":{"user":{"user_id":"`+user+`"}},"project_scope":{"single":{"project_id":"`+orqPrj+`"}}}`)
	if res.Status != http.StatusOK {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	k := res.Map(t)
	checkRestKey(t, k)
	id, token := str(k["id"]), str(k["token"])
	wantMembers(t, "create: ", k, map[string]any{
		"name": "c1", "workspace_id": e.acc, "active": true, "expiration": "2999-01-02T03:04:05Z",
		"projects": []any{orqPrj}, "owner": map[string]any{"user": map[string]any{"user_id": user}},
		"project_scope":   map[string]any{"single": map[string]any{"project_id": orqPrj}},
		"permission_mode": "PERMISSION_MODE_RESTRICTED", "status": "API_KEY_STATUS_ACTIVE",
		"access": map[string]any{"agent": "ACCESS_LEVEL_WRITE", "dataset": "ACCESS_LEVEL_READ"},
		"labels": map[string]any{"team": "search", "env": "prod"},
	})
	if got := e.verify(token); got != "VALID" {
		t.Errorf("the created token verifies as %q", got)
	}
	if !strings.HasPrefix(token, str(k["token_prefix"])) {
		t.Errorf("token_prefix %v is not the token's start", k["token_prefix"])
	}
	wantMembers(t, "native: ", e.nativeKey(id), map[string]any{
		"metadata": map[string]any{"team": "search", "env": "prod"},
	})

	t.Run("get masks the token", func(t *testing.T) {
		res := e.orq("GET", cur+"/"+id+"?include_budget=true", nil)
		if res.Status != http.StatusOK {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
		g := res.Map(t)
		checkRestKey(t, g)
		if m := str(g["token"]); m == token || !strings.Contains(m, "...") || strings.Contains(token, m) {
			t.Errorf("token %q is not masked (created %q)", m, token)
		}
		if _, ok := g["budget"]; ok {
			t.Error("a budget is embedded")
		}
	})
	t.Run("list is a bare array", func(t *testing.T) {
		res := e.orq("GET", cur+"?limit=5&include_budget=false", nil)
		if res.Status != http.StatusOK {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
		var page []map[string]any
		res.JSON(t, &page)
		if len(page) != 1 || str(page[0]["id"]) != id {
			t.Fatalf("page %s", res.Body)
		}
		checkRestKey(t, page[0])
		if strings.Contains(string(res.Body), token) {
			t.Error("the list shows a token")
		}
	})
	t.Run("update is flat", func(t *testing.T) {
		res := e.orq("PATCH", cur+"/"+id, `{"name":"c2","access":{"agent":1}}`)
		if res.Status != http.StatusOK {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
		u := res.Map(t)
		checkRestKey(t, u)
		wantMembers(t, "update: ", u, map[string]any{"name": "c2", "access": map[string]any{"agent": "ACCESS_LEVEL_READ"}})
		res = e.orq("PATCH", cur+"/"+id, `{"status":"API_KEY_STATUS_DISABLED"}`)
		wantMembers(t, "disable: ", res.Map(t), map[string]any{"active": false, "status": "API_KEY_STATUS_DISABLED"})
	})
	t.Run("delete is 204 without a body", func(t *testing.T) {
		res := e.orq("DELETE", cur+"/"+id, nil)
		if res.Status != http.StatusNoContent || len(res.Body) != 0 {
			t.Fatalf("%d %q", res.Status, res.Body)
		}
		if res := e.orq("GET", cur+"/"+id, nil); res.Status != http.StatusNotFound || errorCode(t, res) != "api_key_not_found" {
			t.Errorf("after delete: %d %s", res.Status, res.Body)
		}
	})
	t.Run("rotate", func(t *testing.T) {
		a := e.create(`{"name":"r"}`)
		res := e.orq("POST", cur+"/"+str(a["api_key_id"])+":rotate", nil)
		if res.Status != http.StatusOK {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
		r := res.Map(t)
		checkRestKey(t, r)
		if got := e.verify(str(r["token"])); got != "VALID" {
			t.Errorf("the rotated token verifies as %q", got)
		}
	})
}

// TestRenderingsOfOneKey reads one key and the catalog under each base
// path: the seed's names, the older SDKs' protobuf numbers, the current
// shape's names.
func TestRenderingsOfOneKey(t *testing.T) {
	e := newEnv(t)
	e.addDomain("custom-thing", "custom-group")
	id := str(e.create(`{"name":"k","permission_mode":"PERMISSION_MODE_RESTRICTED","access":{"agent":"ACCESS_LEVEL_WRITE","dataset":1}}`)["api_key_id"])
	wantAccess := map[string]map[string]any{
		seedPath:    {"agent": "ACCESS_LEVEL_WRITE", "dataset": "ACCESS_LEVEL_READ"},
		numericPath: {"agent": float64(2), "dataset": float64(1)},
		currentPath: {"agent": "ACCESS_LEVEL_WRITE", "dataset": "ACCESS_LEVEL_READ"},
	}
	for _, p := range allPaths {
		t.Run("key"+p, func(t *testing.T) {
			m := e.orq("GET", p+"/v2/api-keys/"+id, nil).Map(t)
			if p != currentPath {
				m = obj(m["api_key"])
				checkAPIKey(t, m)
			}
			if d := diff(wantAccess[p], m["access"]); d != "" {
				t.Errorf("access:\n%s", d)
			}
			list := e.orq("GET", p+"/v2/api-keys", nil)
			if p == currentPath {
				var page []any
				list.JSON(t, &page)
			} else if obj(list.Map(t))["object"] != "list" {
				t.Errorf("list: %s", list.Body)
			}
		})
		t.Run("capabilities"+p, func(t *testing.T) {
			var out struct{ Domains []map[string]any }
			e.orq("GET", p+"/v2/api-keys/capabilities", nil).JSON(t, &out)
			groups := map[string]any{}
			for _, d := range out.Domains {
				groups[str(d["id"])] = d["group"]
			}
			want := map[string]map[string]any{
				seedPath:    {"agent": "DOMAIN_GROUP_PLATFORM", "member": "DOMAIN_GROUP_WORKSPACE_ADMIN", "model": "DOMAIN_GROUP_GATEWAY", "custom-thing": "DOMAIN_GROUP_UNSPECIFIED"},
				numericPath: {"agent": float64(2), "member": float64(1), "model": float64(3), "custom-thing": float64(0)},
				currentPath: {"agent": "DOMAIN_GROUP_PLATFORM", "member": "DOMAIN_GROUP_WORKSPACE_ADMIN", "model": "DOMAIN_GROUP_GATEWAY", "custom-thing": nil},
			}[p]
			for d, g := range want {
				if groups[d] != g {
					t.Errorf("%s: group %#v, want %#v", d, groups[d], g)
				}
			}
		})
	}
	del := map[string]int{seedPath: http.StatusOK, numericPath: http.StatusOK, currentPath: http.StatusNoContent}
	for _, p := range allPaths {
		id := str(e.create(`{"name":"d"}`)["api_key_id"])
		if res := e.orq("DELETE", p+"/v2/api-keys/"+id, nil); res.Status != del[p] {
			t.Errorf("DELETE under %q: %d %s", p, res.Status, res.Body)
		}
	}
}

// TestAccessLevelNumbers: the protobuf numbers 0, 1, 2 are the levels
// NONE, READ, WRITE on create and update, under every base path.
func TestAccessLevelNumbers(t *testing.T) {
	e := newEnv(t)
	for _, p := range allPaths {
		res := e.orq("POST", p+"/v2/api-keys", `{"name":"n","permission_mode":"PERMISSION_MODE_RESTRICTED","access":{"agent":2,"dataset":1,"prompt":0}}`)
		if res.Status != http.StatusOK {
			t.Fatalf("create under %q: %d %s", p, res.Status, res.Body)
		}
		var out struct {
			APIKey struct {
				APIKeyID string `json:"api_key_id"`
			} `json:"api_key"`
			ID string `json:"id"`
		}
		res.JSON(t, &out)
		id := out.APIKey.APIKeyID + out.ID
		scopes := func() any { return e.nativeKey(id)["scopes"] }
		want := []any{
			map[string]any{"resource": "agent", "access": "write", "targets": []any{"*"}},
			map[string]any{"resource": "dataset", "access": "read", "targets": []any{"*"}},
		}
		if d := diff(want, scopes()); d != "" {
			t.Errorf("create under %q: scopes\n%s", p, d)
		}
		if res := e.orq("PATCH", p+"/v2/api-keys/"+id, `{"access":{"agent":1,"dataset":0}}`); res.Status != http.StatusOK {
			t.Fatalf("update under %q: %d %s", p, res.Status, res.Body)
		}
		want = []any{map[string]any{"resource": "agent", "access": "read", "targets": []any{"*"}}}
		if d := diff(want, scopes()); d != "" {
			t.Errorf("update under %q: scopes\n%s", p, d)
		}
	}
}

// TestMembersBadInput sends bad values of the members added for orq's
// current SDKs (numeric access levels, labels, mcp_access) under every
// base path: each is a 400 invalid_request_body in orq's error body and
// changes nothing.
func TestMembersBadInput(t *testing.T) {
	e := newEnv(t)
	id := str(e.create(`{"name":"target","permission_mode":"PERMISSION_MODE_RESTRICTED","access":{"agent":"ACCESS_LEVEL_READ"}}`)["api_key_id"])
	restricted := `"name":"x","permission_mode":"PERMISSION_MODE_RESTRICTED",`
	tests := []struct {
		name   string
		create bool // POST a new key, else PATCH the target
		body   string
		field  string // a field_violations entry, "" when the decoder names none
	}{
		{"level 3", false, `{"access":{"agent":3}}`, "access.agent"},
		{"level -1", false, `{"access":{"agent":-1}}`, "access.agent"},
		{"level 1.5", false, `{"access":{"agent":1.5}}`, "access.agent"},
		{"level 1e0", false, `{"access":{"agent":1e0}}`, "access.agent"},
		{"level huge", false, `{"access":{"agent":99999999999999999999999}}`, "access.agent"},
		{"level as a numeric string", false, `{"access":{"agent":"2"}}`, "access.agent"},
		{"level true", false, `{"access":{"agent":true}}`, "access.agent"},
		{"level object", false, `{"access":{"agent":{"level":2}}}`, "access.agent"},
		{"level array", false, `{"access":{"agent":[2]}}`, "access.agent"},
		{"level null", false, `{"access":{"agent":null}}`, "access.agent"},
		{"level lowercase", false, `{"access":{"agent":"read"}}`, "access.agent"},
		{"create level 3", true, `{` + restricted + `"access":{"agent":3}}`, "access.agent"},
		{"create level string number", true, `{` + restricted + `"access":{"agent":"1"}}`, "access.agent"},
		{"labels not an object", true, `{"name":"x","labels":["a"]}`, "labels"},
		{"labels a string", true, `{"name":"x","labels":"team=a"}`, "labels"},
		{"label value a number", true, `{"name":"x","labels":{"team":1}}`, "labels"},
		{"label value an object", true, `{"name":"x","labels":{"team":{"a":"b"}}}`, ""},
		{"label value null", true, `{"name":"x","labels":{"team":null}}`, "labels.team"},
		{"labels null", true, `{"name":"x","labels":null}`, "labels"},
		{"label with an empty name", true, `{"name":"x","labels":{"":"a"}}`, "labels"},
		{"too many labels", true, `{"name":"x","labels":{` + manyLabels(keyward.MaxMetadataKeys+1) + `}}`, "labels"},
		{"labels on update", false, `{"labels":{"team":"a"}}`, "labels"},
		{"mcp_access a string", true, `{"name":"x","mcp_access":"none"}`, "mcp_access"},
		{"mcp_access a list", false, `{"mcp_access":[]}`, ""},
		{"mcp_access deny_all a string", false, `{"mcp_access":{"deny_all":"true"}}`, "mcp_access.deny_all"},
		{"mcp_access gateways a string", true, `{"name":"x","mcp_access":{"allowed_mcp_gateway_ids":"g1"}}`, ""},
		{"mcp_access unknown member", false, `{"mcp_access":{"deny":true}}`, ""},
		{"mcp_access deny_all", true, `{"name":"x","mcp_access":{"deny_all":true}}`, "mcp_access"},
		{"mcp_access gateways", false, `{"mcp_access":{"allowed_mcp_gateway_ids":["g1"]}}`, "mcp_access"},
		{"mcp_access toolsets", false, `{"mcp_access":{"toolset_ids":["t1"]}}`, "mcp_access"},
		{"mcp_access filesystems", true, `{"name":"x","mcp_access":{"allowed_filesystem_ids":["f1"]}}`, "mcp_access"},
		{"mcp_access filesystems wrong type", false, `{"mcp_access":{"allowed_filesystem_ids":[1]}}`, ""},
	}
	before := e.nativeKey(id)
	count := func() int {
		var out struct{ Data []any }
		e.native("GET", "/v1/keys?limit=200", nil).JSON(t, &out)
		return len(out.Data)
	}
	n := count()
	for _, p := range allPaths {
		for _, tc := range tests {
			t.Run(strings.TrimPrefix(p, "/")+"/"+tc.name, func(t *testing.T) {
				method, path := "PATCH", p+"/v2/api-keys/"+id
				if tc.create {
					method, path = "POST", p+"/v2/api-keys"
				}
				res := e.orq(method, path, tc.body)
				if res.Status != http.StatusBadRequest {
					t.Fatalf("status %d, want 400: %s", res.Status, res.Body)
				}
				if code := errorCode(t, res); code != codeInvalidBody {
					t.Errorf("code %q: %s", code, res.Body)
				}
				if tc.field != "" && !slices.Contains(fieldViolations(t, res), tc.field) {
					t.Errorf("no field violation for %q: %s", tc.field, res.Body)
				}
			})
		}
	}
	if after := e.nativeKey(id); after["etag"] != before["etag"] {
		t.Errorf("the key changed: etag %v → %v", before["etag"], after["etag"])
	}
	if got := count(); got != n {
		t.Errorf("%d keys, want %d", got, n)
	}
}

func manyLabels(n int) string {
	parts := make([]string, n)
	for i := range parts {
		b, _ := json.Marshal(strings.Repeat("l", i+1))
		parts[i] = string(b) + `:"v"`
	}
	return strings.Join(parts, ",")
}

// TestRenderingRoutes: unknown paths and methods under the other base
// paths get orq's 404 and 405 like the seed's.
func TestRenderingRoutes(t *testing.T) {
	e := newEnv(t)
	id := str(e.create(`{"name":"k"}`)["api_key_id"])
	for _, p := range []string{numericPath, currentPath} {
		for _, c := range []struct {
			method, path string
			status       int
			code         string
		}{
			{"GET", p, http.StatusNotFound, codeNotFound},
			{"GET", p + "/v2/management-keys", http.StatusNotFound, codeNotFound},
			{"GET", p + "/v1/api-keys", http.StatusNotFound, codeNotFound},
			{"PUT", p + "/v2/api-keys/" + id, http.StatusMethodNotAllowed, codeMethod},
			{"DELETE", p + "/v2/api-keys", http.StatusMethodNotAllowed, codeMethod},
			{"PATCH", p + "/v2/api-keys/capabilities", http.StatusMethodNotAllowed, codeMethod},
			{"GET", p + "/v2/api-keys/not-an-id", http.StatusNotFound, codeKeyNotFound},
			{"GET", p + "/v2/api-keys?stauts=x", http.StatusBadRequest, codeInvalidRequest},
		} {
			res := e.orq(c.method, c.path, nil)
			if res.Status != c.status || errorCode(t, res) != c.code {
				t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, res.Status, res.Body, c.status, c.code)
			}
			if c.status == http.StatusMethodNotAllowed && res.Header.Get("Allow") == "" {
				t.Errorf("%s %s: 405 without Allow", c.method, c.path)
			}
		}
	}
}

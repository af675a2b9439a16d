package vectara

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat/compattest"
)

// roles is the newer role members of an ApiKey, as a test compares them.
type shownRoles struct {
	API    []any `json:"api_roles"`
	Corpus []any `json:"corpus_roles"`
	Agent  []any `json:"agent_roles"`
}

func rolesIn(m map[string]any) shownRoles {
	return shownRoles{API: asList(m["api_roles"]), Corpus: asList(m["corpus_roles"]), Agent: asList(m["agent_roles"])}
}

func asList(v any) []any {
	l, _ := v.([]any)
	if l == nil {
		l = []any{}
	}
	return l
}

func strs(s ...string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func corpus(pairs ...string) []any {
	out := []any{}
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, map[string]any{"corpus_key": pairs[i], "role": pairs[i+1]})
	}
	return out
}

func agent(pairs ...string) []any {
	out := []any{}
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, map[string]any{"agent_key": pairs[i], "role": pairs[i+1]})
	}
	return out
}

func scope(resource, access string, targets ...string) any {
	return map[string]any{"resource": resource, "access": access, "targets": strs(targets...)}
}

// verifyCode verifies secret natively against a permission query and
// returns the outcome code.
func (e *env) verifyCode(secret, perms string) string {
	e.T.Helper()
	var v struct {
		Code string `json:"code"`
	}
	e.native("POST", "/v1/keys/verify", map[string]any{"key": secret, "permissions": perms}).JSON(e.T, &v)
	return v.Code
}

// TestNewerRoles creates keys with each of Vectara's newer roles (and some
// combinations) and checks the round trip: the create, GET, list and
// PATCH answers show the roles sent; the key is the restricted scopes of
// the mapping table; verification allows exactly what they grant.
func TestNewerRoles(t *testing.T) {
	e := newEnv(t, compattest.Options{})
	const ok, no = "VALID", "INSUFFICIENT_PERMISSIONS"
	all := func(access string) []any {
		return []any{scope("agents", access, "*"), scope("corpus", access, "*"), scope("pipelines", access, "*")}
	}
	for _, tc := range []struct {
		name    string
		body    map[string]any // role members only
		role    string         // api_key_role shown
		scopes  []any          // native scopes, sorted as the native API shows them
		verify  map[string]string
		hinted  bool // the names are recorded in metadata
		answers shownRoles
	}{
		{name: "api owner", body: map[string]any{"api_roles": []string{"owner"}}, role: "serving_and_indexing", scopes: all("write"), hinted: true,
			verify: map[string]string{"corpus:write:docs": ok, "agents:write:bot": ok, "pipelines:write:p": ok, "billing:read": no, "users:read": no, "api_keys:read": no}},
		{name: "api administrator", body: map[string]any{"api_roles": []string{"administrator"}}, role: "serving_and_indexing", scopes: all("write"),
			verify: map[string]string{"corpus:write:docs": ok, "pipelines:write": ok, "billing:write": no}},
		{name: "api corpus_administrator", body: map[string]any{"api_roles": []string{"corpus_administrator"}}, role: "serving_and_indexing", hinted: true,
			scopes: []any{scope("corpus", "write", "*")}, verify: map[string]string{"corpus:write:docs": ok, "agents:read:bot": no}},
		{name: "api corpus_developer", body: map[string]any{"api_roles": []string{"corpus_developer"}}, role: "serving_and_indexing",
			scopes: []any{scope("corpus", "write", "*")}, verify: map[string]string{"corpus:write:any": ok, "pipelines:read": no}},
		{name: "api corpus_viewer", body: map[string]any{"api_roles": []string{"corpus_viewer"}}, role: "serving",
			scopes: []any{scope("corpus", "read", "*")}, verify: map[string]string{"corpus:read:docs": ok, "corpus:write:docs": no}},
		{name: "api agent_administrator", body: map[string]any{"api_roles": []string{"agent_administrator"}}, role: "serving", hinted: true,
			scopes: []any{scope("agents", "write", "*")}, verify: map[string]string{"agents:write:bot": ok, "corpus:read:docs": no}},
		{name: "api agent_developer", body: map[string]any{"api_roles": []string{"agent_developer"}}, role: "serving",
			scopes: []any{scope("agents", "write", "*")}, verify: map[string]string{"agents:write:bot": ok}},
		{name: "api agent_user", body: map[string]any{"api_roles": []string{"agent_user"}}, role: "serving", hinted: true,
			scopes: []any{scope("agents", "write", "*")}, verify: map[string]string{"agents:write:bot": ok, "corpus:read": no}},
		{name: "api agent_viewer", body: map[string]any{"api_roles": []string{"agent_viewer"}}, role: "serving",
			scopes: []any{scope("agents", "read", "*")}, verify: map[string]string{"agents:read:bot": ok, "agents:write:bot": no}},
		{name: "api pipeline_administrator", body: map[string]any{"api_roles": []string{"pipeline_administrator"}}, role: "serving",
			scopes: []any{scope("pipelines", "write", "*")}, verify: map[string]string{"pipelines:write:p": ok, "corpus:read": no}},
		{name: "api pipeline_viewer", body: map[string]any{"api_roles": []string{"pipeline_viewer"}}, role: "serving",
			scopes: []any{scope("pipelines", "read", "*")}, verify: map[string]string{"pipelines:read:p": ok, "pipelines:write:p": no}},
		{name: "api viewer", body: map[string]any{"api_roles": []string{"viewer"}}, role: "serving", scopes: all("read"),
			verify: map[string]string{"corpus:read:docs": ok, "agents:read:bot": ok, "pipelines:read:p": ok,
				"corpus:write:docs": no, "agents:write:bot": no, "pipelines:write:p": no}},
		{name: "corpus owner", body: map[string]any{"corpus_roles": corpus("docs", "owner")}, role: "serving_and_indexing", hinted: true,
			scopes: []any{scope("corpus", "write", "docs")}, verify: map[string]string{"corpus:write:docs": ok, "corpus:read:faq": no}},
		{name: "corpus administrator", body: map[string]any{"corpus_roles": corpus("docs", "administrator")}, role: "serving_and_indexing", hinted: true,
			scopes: []any{scope("corpus", "write", "docs")}, verify: map[string]string{"corpus:write:docs": ok, "corpus:write:faq": no}},
		{name: "corpus editor", body: map[string]any{"corpus_roles": corpus("docs", "editor")}, role: "serving_and_indexing",
			scopes: []any{scope("corpus", "write", "docs")}, verify: map[string]string{"corpus:write:docs": ok, "corpus:read:docs": ok}},
		{name: "corpus viewer", body: map[string]any{"corpus_roles": corpus("docs", "viewer", "faq", "viewer")}, role: "serving",
			scopes: []any{scope("corpus", "read", "docs", "faq")},
			verify: map[string]string{"corpus:read:docs": ok, "corpus:read:faq": ok, "corpus:write:docs": no, "corpus:read:other": no}},
		{name: "agent agent_administrator", body: map[string]any{"agent_roles": agent("bot", "agent_administrator")}, role: "serving", hinted: true,
			scopes: []any{scope("agents", "write", "bot")}, verify: map[string]string{"agents:write:bot": ok, "agents:read:other": no}},
		{name: "agent agent_developer", body: map[string]any{"agent_roles": agent("bot", "agent_developer")}, role: "serving",
			scopes: []any{scope("agents", "write", "bot")}, verify: map[string]string{"agents:write:bot": ok}},
		{name: "agent agent_user", body: map[string]any{"agent_roles": agent("bot", "agent_user")}, role: "serving", hinted: true,
			scopes: []any{scope("agents", "write", "bot")}, verify: map[string]string{"agents:write:bot": ok, "corpus:read": no}},
		{name: "agent agent_viewer", body: map[string]any{"agent_roles": agent("bot", "agent_viewer")}, role: "serving",
			scopes: []any{scope("agents", "read", "bot")}, verify: map[string]string{"agents:read:bot": ok, "agents:write:bot": no}},
		{name: "viewer of everything, editor of one corpus", role: "serving_and_indexing", hinted: true,
			body:   map[string]any{"api_roles": []string{"viewer"}, "corpus_roles": corpus("docs", "editor", "faq", "viewer")},
			scopes: []any{scope("agents", "read", "*"), scope("corpus", "read", "*"), scope("corpus", "write", "docs"), scope("pipelines", "read", "*")},
			verify: map[string]string{"corpus:write:docs": ok, "corpus:write:faq": no, "corpus:read:any": ok, "agents:write:bot": no}},
		{name: "corpus developer with a viewer corpus", role: "serving_and_indexing",
			body:   map[string]any{"api_roles": []string{"corpus_developer"}, "corpus_roles": corpus("docs", "viewer")},
			scopes: []any{scope("corpus", "read", "docs"), scope("corpus", "write", "*")},
			verify: map[string]string{"corpus:write:docs": ok, "agents:read": no}},
		{name: "every member", role: "serving_and_indexing", hinted: true,
			body: map[string]any{"api_roles": []string{"pipeline_viewer", "agent_user"}, "corpus_roles": corpus("faq", "owner", "docs", "viewer"),
				"agent_roles": agent("bot", "agent_administrator", "helper", "agent_viewer")},
			scopes: []any{scope("agents", "read", "helper"), scope("agents", "write", "*"), scope("corpus", "read", "docs"),
				scope("corpus", "write", "faq"), scope("pipelines", "read", "*")},
			verify: map[string]string{"corpus:write:faq": ok, "corpus:write:docs": no, "corpus:read:docs": ok, "corpus:read:other": no,
				"agents:write:any": ok, "pipelines:read": ok, "pipelines:write:p": no}},
		{name: "null deprecated members are absent", role: "serving",
			body:   map[string]any{"api_key_role": nil, "corpus_keys": nil, "corpus_roles": corpus("docs", "viewer")},
			scopes: []any{scope("corpus", "read", "docs")}, verify: map[string]string{"corpus:read:docs": ok},
			answers: shownRoles{API: []any{}, Corpus: corpus("docs", "viewer"), Agent: []any{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"name": tc.name}
			for k, v := range tc.body {
				body[k] = v
			}
			want := tc.answers
			if want.API == nil {
				want = wantRoles(t, tc.body)
			}
			m := e.create(body)
			id := m["id"].(string)
			if got := rolesIn(m); !reflect.DeepEqual(got, want) {
				t.Errorf("create answered roles %v, want %v", got, want)
			}
			if m["api_key_role"] != tc.role {
				t.Errorf("api_key_role %v, want %s", m["api_key_role"], tc.role)
			}
			n := e.nativeKey(id)
			if n["permission_mode"] != "restricted" || !reflect.DeepEqual(n["scopes"], tc.scopes) {
				t.Errorf("native key: mode %v scopes %v, want restricted %v", n["permission_mode"], n["scopes"], tc.scopes)
			}
			md, _ := n["metadata"].(map[string]any)
			if _, has := md["vectara_roles"]; has != tc.hinted {
				t.Errorf("metadata %v: recorded names %v, want %v", n["metadata"], has, tc.hinted)
			}
			for perms, code := range tc.verify {
				if got := e.verifyCode(m["secret_key"].(string), perms); got != code {
					t.Errorf("verify %s: %s, want %s", perms, got, code)
				}
			}
			// GET, list and PATCH show the same roles.
			g := e.vec("GET", "/v2/api_keys/"+id, nil).Map(t)
			checkAPIKey(t, g)
			if got := rolesIn(g); !reflect.DeepEqual(got, want) {
				t.Errorf("GET answered roles %v, want %v", got, want)
			}
			var list struct {
				APIKeys []map[string]any `json:"api_keys"`
			}
			e.vec("GET", "/v2/api_keys?limit=100", nil).JSON(t, &list)
			found := false
			for _, k := range list.APIKeys {
				if k["id"] == id {
					found = true
					if got := rolesIn(k); !reflect.DeepEqual(got, want) {
						t.Errorf("list answered roles %v, want %v", got, want)
					}
				}
			}
			if !found {
				t.Errorf("list lacks %s", id)
			}
			res := e.vec("PATCH", "/v2/api_keys/"+id, `{"enabled": false}`)
			p := res.Map(t)
			checkAPIKey(t, p)
			if got := rolesIn(p); p["enabled"] != false || !reflect.DeepEqual(got, want) {
				t.Errorf("PATCH answered enabled %v roles %v, want false %v", p["enabled"], got, want)
			}
		})
	}
}

// wantRoles is what an answer shows for role members sent: the same
// entries, api_roles in Vectara's enum order, the others by key.
func wantRoles(t *testing.T, body map[string]any) shownRoles {
	t.Helper()
	b, _ := json.Marshal(body)
	var r shownRoles
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	order := []string{"owner", "administrator", "billing_administrator", "corpus_administrator", "corpus_developer",
		"agent_administrator", "agent_viewer", "agent_developer", "agent_user", "pipeline_administrator", "pipeline_viewer",
		"viewer", "corpus_viewer"}
	api := []any{}
	for _, name := range order {
		for _, v := range r.API {
			if v == name {
				api = append(api, v)
			}
		}
	}
	byKey := func(l []any, key string) []any {
		out := append([]any{}, l...)
		for i := range out {
			for j := i + 1; j < len(out); j++ {
				if out[j].(map[string]any)[key].(string) < out[i].(map[string]any)[key].(string) {
					out[i], out[j] = out[j], out[i]
				}
			}
		}
		return out
	}
	return shownRoles{API: api, Corpus: byKey(r.Corpus, "corpus_key"), Agent: byKey(r.Agent, "agent_key")}
}

// TestDeprecatedShowNewerRoles: keys made with api_key_role and
// corpus_keys, and keys made natively, show the newer members too,
// derived from what they may do.
func TestDeprecatedShowNewerRoles(t *testing.T) {
	e := newEnv(t, compattest.Options{})
	for _, tc := range []struct {
		body map[string]any
		want shownRoles
	}{
		{map[string]any{"api_key_role": "serving", "corpus_keys": []string{"faq", "docs"}}, shownRoles{strs(), corpus("docs", "viewer", "faq", "viewer"), agent()}},
		{map[string]any{"api_key_role": "serving_and_indexing", "corpus_keys": []string{"docs"}}, shownRoles{strs(), corpus("docs", "editor"), agent()}},
		{map[string]any{"api_key_role": "personal"}, shownRoles{strs("administrator"), corpus(), agent()}},
		{map[string]any{"api_key_role": "personal", "api_roles": nil, "corpus_roles": []any{}, "agent_roles": nil}, shownRoles{strs("administrator"), corpus(), agent()}},
	} {
		tc.body["name"] = "deprecated"
		m := e.create(tc.body)
		if got := rolesIn(m); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v answered roles %v, want %v", tc.body, got, tc.want)
		}
		if md := e.nativeKey(m["id"].(string))["metadata"]; md != nil && !reflect.DeepEqual(md, map[string]any{}) {
			t.Errorf("%v: metadata %v, want none", tc.body, md)
		}
	}
	for _, tc := range []struct {
		fields map[string]any
		want   shownRoles
	}{
		{map[string]any{"permission_mode": "all"}, shownRoles{strs("administrator"), corpus(), agent()}},
		{map[string]any{"permission_mode": "read_only"}, shownRoles{strs("viewer"), corpus(), agent()}},
		{map[string]any{"permission_mode": "restricted", "roles": []string{"serving"}}, shownRoles{strs("corpus_viewer"), corpus(), agent()}},
		{map[string]any{"permission_mode": "restricted", "scopes": []any{scope("corpus", "read", "*"), scope("agents", "write", "*"), scope("pipelines", "read", "*")}},
			shownRoles{strs("agent_developer", "viewer"), corpus(), agent()}},
		{map[string]any{"permission_mode": "restricted", "scopes": []any{scope("pipelines", "write", "p1")}}, shownRoles{strs(), corpus(), agent()}},
	} {
		id, _ := e.APIKey(e.acct, tc.fields)
		g := e.vec("GET", "/v2/api_keys/aky_"+strings.TrimPrefix(id, "key_"), nil).Map(t)
		checkAPIKey(t, g)
		if got := rolesIn(g); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("native %v shows roles %v, want %v", tc.fields, got, tc.want)
		}
	}
}

// TestRecordedNames: the names recorded at creation are shown only while
// they describe what the key may do; a native change of the scopes shows
// the canonical names, and an unreadable record is ignored.
func TestRecordedNames(t *testing.T) {
	e := newEnv(t, compattest.Options{})
	m := e.create(map[string]any{"name": "owner", "corpus_roles": corpus("docs", "owner"), "api_roles": []string{"agent_user"}})
	id := m["id"].(string)
	show := func() shownRoles {
		t.Helper()
		return rolesIn(e.vec("GET", "/v2/api_keys/"+id, nil).Map(t))
	}
	if got, want := show(), (shownRoles{strs("agent_user"), corpus("docs", "owner"), agent()}); !reflect.DeepEqual(got, want) {
		t.Fatalf("roles %v, want %v", got, want)
	}
	patch := func(body map[string]any) {
		t.Helper()
		if res := e.native("PATCH", "/v1/keys/"+nativeID(id), body); res.Status != http.StatusOK {
			t.Fatalf("native PATCH %v: %d %s", body, res.Status, res.Body)
		}
	}
	// Narrowed natively to read: the recorded owner no longer fits.
	patch(map[string]any{"scopes": []any{scope("corpus", "read", "docs"), scope("agents", "read", "*")}})
	if got, want := show(), (shownRoles{strs("agent_viewer"), corpus("docs", "viewer"), agent()}); !reflect.DeepEqual(got, want) {
		t.Errorf("after narrowing: roles %v, want %v", got, want)
	}
	// Back to write: the recorded names fit again.
	patch(map[string]any{"scopes": []any{scope("corpus", "write", "docs"), scope("agents", "write", "*")}})
	if got, want := show(), (shownRoles{strs("agent_user"), corpus("docs", "owner"), agent()}); !reflect.DeepEqual(got, want) {
		t.Errorf("after widening again: roles %v, want %v", got, want)
	}
	// A record that is not ours, or names no role: canonical names.
	for _, md := range []any{
		map[string]any{"vectara_roles": "owner"},
		map[string]any{"vectara_roles": map[string]any{"api_roles": []string{"root"}, "corpus_roles": []any{map[string]any{"corpus_key": "docs", "role": "god"}}}},
		nil,
	} {
		patch(map[string]any{"metadata": md})
		res := e.vec("GET", "/v2/api_keys/"+id, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("GET with metadata %v: %d %s", md, res.Status, res.Body)
		}
		g := res.Map(t)
		checkAPIKey(t, g)
		if got, want := rolesIn(g), (shownRoles{strs("agent_developer"), corpus("docs", "editor"), agent()}); !reflect.DeepEqual(got, want) {
			t.Errorf("metadata %v: roles %v, want %v", md, got, want)
		}
	}
}

// TestNewerRolesOutsideVectaraCatalog: in an account whose catalog has no
// corpus, agents or pipelines resource, role members are a 400 on the
// member that asked for them.
func TestNewerRolesOutsideVectaraCatalog(t *testing.T) {
	e := newEnv(t, compattest.Options{})
	before := snapshot(t, e)
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "v", "api_roles": []string{"viewer"}}, "api_roles"},
		{map[string]any{"name": "c", "corpus_roles": corpus("docs", "editor")}, "corpus_roles"},
		{map[string]any{"name": "a", "agent_roles": agent("bot", "agent_viewer")}, "agent_roles"},
	} {
		res := e.Do("POST", prefix+"/v2/api_keys", tc.body, "x-api-key: "+e.Op)
		checkError(t, res, http.StatusBadRequest, tc.field)
	}
	if after := snapshot(t, e); !reflect.DeepEqual(before, after) {
		t.Errorf("refused creates changed keys")
	}
}

// TestNewerRolesLimits: more objects than a scope may name is a 400 on the
// member, and nothing is created.
func TestNewerRolesLimits(t *testing.T) {
	e := newEnv(t, compattest.Options{})
	before := snapshot(t, e)
	var many []any
	for i := 0; i <= keyward.MaxTargets; i++ {
		many = append(many, map[string]any{"corpus_key": "c" + strings.Repeat("x", i%40) + string(rune('a'+i%26)) + "_" + strconv.Itoa(i), "role": "viewer"})
	}
	checkError(t, e.vec("POST", "/v2/api_keys", map[string]any{"name": "many", "corpus_roles": many}), http.StatusBadRequest, "corpus_roles")
	if after := snapshot(t, e); !reflect.DeepEqual(before, after) {
		t.Errorf("a refused create changed keys")
	}
	// Many recorded names: the key is made, with canonical names beyond
	// the room metadata has.
	var owners []any
	for i := 0; i < 400; i++ {
		owners = append(owners, map[string]any{"corpus_key": "corpus_" + strconv.Itoa(i), "role": "owner"})
	}
	m := e.create(map[string]any{"name": "owners", "corpus_roles": owners})
	if got := asList(m["corpus_roles"]); len(got) != 400 || got[0].(map[string]any)["role"] != "editor" {
		t.Errorf("400 owner corpora: %d entries, first %v", len(got), got[0])
	}
}

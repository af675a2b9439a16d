package unkey

import (
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat/compattest"
)

// prefix is the SDKs' base URL on the server: Unkey's paths go below it.
const prefix = "/compat/unkey"

// env is a keyward server with the dialect mounted, an account, and a
// root key (a management key) bound to it.
type env struct {
	*compattest.Env
	acct string
	root string
}

// rootPerms are what a root key of the tests holds.
var rootPerms = []string{keyward.PermKeysRead, keyward.PermKeysWrite, keyward.PermKeysVerify, keyward.PermKeysReveal,
	keyward.PermMembersRead, keyward.PermMembersWrite, keyward.PermCatalogRead, keyward.PermCatalogWrite}

// newEnv starts the env's server with the default options.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, compattest.Options{})
}

// newEnvWith starts the env's server with o.
func newEnvWith(t *testing.T, o compattest.Options) *env {
	t.Helper()
	e := compattest.New(t, compattest.Dialect(Dialect, New), o)
	acct := e.Account("acme", keyward.TemplateDefault)
	return &env{Env: e, acct: acct, root: e.ManagementKeyIn(acct, rootPerms...)}
}

// call sends one procedure with the env's root key.
func (e *env) call(proc string, body any) *compattest.Response {
	e.T.Helper()
	return e.callWith(e.root, proc, body)
}

func (e *env) callWith(root, proc string, body any) *compattest.Response {
	e.T.Helper()
	return e.Do("POST", prefix+"/v2/"+proc, body, "Authorization: Bearer "+root)
}

// ok sends a procedure and returns its data, failing unless the answer
// is a 200 in Unkey's envelope.
func (e *env) ok(proc string, body any) any {
	e.T.Helper()
	res := e.call(proc, body)
	if res.Status != http.StatusOK {
		e.T.Fatalf("%s %v: %d %s", proc, body, res.Status, res.Body)
	}
	m := res.Map(e.T)
	checkMeta(e.T, m)
	if _, ok := m["data"]; !ok && proc != "identities.deleteIdentity" {
		e.T.Fatalf("%s: no data: %s", proc, res.Body)
	}
	return m["data"]
}

func (e *env) okMap(proc string, body any) map[string]any {
	e.T.Helper()
	d, ok := e.ok(proc, body).(map[string]any)
	if !ok {
		e.T.Fatalf("%s: data is not an object", proc)
	}
	return d
}

func checkMeta(t *testing.T, m map[string]any) {
	t.Helper()
	meta, ok := m["meta"].(map[string]any)
	if !ok {
		t.Fatalf("no meta: %v", m)
	}
	if id, _ := meta["requestId"].(string); !strings.HasPrefix(id, "req_") {
		t.Fatalf("meta.requestId %v", meta["requestId"])
	}
}

// fail sends a procedure and checks Unkey's error body with status; it
// returns the error object.
func (e *env) fail(proc string, body any, status int) map[string]any {
	e.T.Helper()
	return checkError(e.T, e.call(proc, body), status)
}

func checkError(t *testing.T, res *compattest.Response, status int) map[string]any {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d: %s", res.Status, status, res.Body)
	}
	m := res.Map(t)
	checkMeta(t, m)
	er, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object: %s", res.Body)
	}
	for _, k := range []string{"title", "detail", "type"} {
		if s, _ := er[k].(string); s == "" {
			t.Fatalf("error.%s missing: %s", k, res.Body)
		}
	}
	if er["status"] != float64(status) {
		t.Fatalf("error.status %v, want %d", er["status"], status)
	}
	if !strings.HasPrefix(er["type"].(string), typeBase) {
		t.Fatalf("error.type %v", er["type"])
	}
	if status == http.StatusBadRequest {
		errs, ok := er["errors"].([]any)
		if !ok || len(errs) == 0 {
			t.Fatalf("a 400 without errors: %s", res.Body)
		}
	}
	return er
}

// api creates an api and returns its id.
func (e *env) api(name string) string {
	e.T.Helper()
	return e.okMap("apis.createApi", map[string]any{"name": name})["apiId"].(string)
}

// createKey creates a key in api with extra members and returns its id
// and token.
func (e *env) createKey(api string, extra map[string]any) (string, string) {
	e.T.Helper()
	body := map[string]any{"apiId": api}
	for k, v := range extra {
		body[k] = v
	}
	d := e.okMap("keys.createKey", body)
	return d["keyId"].(string), d["key"].(string)
}

func (e *env) verify(body map[string]any) map[string]any {
	e.T.Helper()
	return e.okMap("keys.verifyKey", body)
}

// project creates a project natively and returns its Unkey api id.
func (e *env) project(name string) string {
	e.T.Helper()
	var p struct {
		ID string `json:"id"`
	}
	res := e.Native("POST", "/v1/projects", map[string]any{"name": name}, "X-Account-Id: "+e.acct)
	if res.Status != http.StatusCreated {
		e.T.Fatalf("create project: %d %s", res.Status, res.Body)
	}
	res.JSON(e.T, &p)
	return apiID(p.ID)
}

func TestCreateVerifyGet(t *testing.T) {
	e := newEnv(t)
	api := e.project("prod")
	id, tok := e.createKey(api, map[string]any{"name": "first", "prefix": "prod", "meta": map[string]any{"plan": "pro"},
		"credits":    map[string]any{"remaining": 10, "refill": map[string]any{"interval": "daily", "amount": 10}},
		"ratelimits": []any{map[string]any{"name": "requests", "limit": 5, "duration": 60000, "autoApply": true}}})
	if !strings.HasPrefix(tok, "prod_") || !keyward.ValidID(keyward.PrefixKey, id) {
		t.Fatalf("key %q id %q", tok, id)
	}
	v := e.verify(map[string]any{"key": tok})
	if v["valid"] != true || v["code"] != "VALID" || v["keyId"] != id || v["name"] != "first" || v["credits"] != float64(9) ||
		v["enabled"] != true || v["meta"].(map[string]any)["plan"] != "pro" {
		t.Fatalf("verify: %v", v)
	}
	rl := v["ratelimits"].([]any)[0].(map[string]any)
	if rl["limit"] != float64(5) || rl["duration"] != float64(60000) || rl["autoApply"] != true || rl["exceeded"] != false {
		t.Fatalf("ratelimits %v", rl)
	}
	k := e.okMap("keys.getKey", map[string]any{"keyId": id})
	if k["keyId"] != id || k["name"] != "first" || k["enabled"] != true || !strings.HasPrefix(k["start"].(string), "prod_") {
		t.Fatalf("getKey: %v", k)
	}
	c := k["credits"].(map[string]any)
	if c["refill"].(map[string]any)["interval"] != "daily" || c["refill"].(map[string]any)["amount"] != float64(10) {
		t.Fatalf("credits %v", c)
	}
	if v := e.verify(map[string]any{"key": "prod_nope"}); v["valid"] != false || v["code"] != "NOT_FOUND" || len(v) != 2 {
		t.Fatalf("unknown key: %v", v)
	}
}

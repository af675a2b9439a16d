package unkey

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat/compattest"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
)

func TestLiveness(t *testing.T) {
	e := newEnv(t)
	res := e.Do("GET", prefix+"/v2/liveness", nil)
	if res.Status != http.StatusOK {
		t.Fatalf("liveness: %d %s", res.Status, res.Body)
	}
	m := res.Map(t)
	checkMeta(t, m)
	if m["data"].(map[string]any)["message"] != "OK" {
		t.Fatalf("liveness: %s", res.Body)
	}
	// Not a procedure: POST is not served, nor any unknown path.
	checkError(t, e.Do("POST", prefix+"/v2/liveness", "{}", "Authorization: Bearer "+e.root), http.StatusNotFound)
	checkError(t, e.call("keys.nope", map[string]any{}), http.StatusNotFound)
	checkError(t, e.Do("GET", prefix+"/v2/keys.getKey", nil, "Authorization: Bearer "+e.root), http.StatusMethodNotAllowed)
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	er := checkError(t, e.Do("POST", prefix+"/v2/apis.createApi", `{"name":"x"}`), http.StatusUnauthorized)
	if er["type"] != typeBase+typeAuthMissing {
		t.Fatalf("missing key: %v", er)
	}
	checkError(t, e.callWith("kwm_nope", "apis.createApi", map[string]any{"name": "x"}), http.StatusUnauthorized)
	// An API key is never a root key.
	api := e.api("a")
	_, tok := e.createKey(api, nil)
	checkError(t, e.callWith(tok, "apis.createApi", map[string]any{"name": "x"}), http.StatusForbidden)
	// A root key without keys:verify cannot verify.
	reader := e.ManagementKeyIn(e.acct, keyward.PermKeysRead)
	er = checkError(t, e.callWith(reader, "keys.verifyKey", map[string]any{"key": tok}), http.StatusForbidden)
	if er["type"] != typeBase+typeInsufficient {
		t.Fatalf("forbidden: %v", er)
	}
	// A verify-only root key verifies.
	verifier := e.ManagementKeyIn(e.acct, keyward.PermKeysVerify)
	res := e.callWith(verifier, "keys.verifyKey", map[string]any{"key": tok})
	if res.Status != 200 || res.Map(t)["data"].(map[string]any)["code"] != "VALID" {
		t.Fatalf("verifier: %d %s", res.Status, res.Body)
	}
}

func TestAPIs(t *testing.T) {
	e := newEnv(t)
	id := e.api("payments")
	if !strings.HasPrefix(id, apiPrefix) {
		t.Fatalf("api id %q", id)
	}
	g := e.okMap("apis.getApi", map[string]any{"apiId": id})
	if g["id"] != id || g["name"] != "payments" {
		t.Fatalf("getApi: %v", g)
	}
	// The api is a keyward project.
	var p map[string]any
	e.Get(e.acct, "/v1/projects/"+keyward.PrefixProject+strings.TrimPrefix(id, apiPrefix), &p)
	if p["name"] != "payments" {
		t.Fatalf("project %v", p)
	}
	k1, _ := e.createKey(id, nil)
	e.okMap("apis.deleteApi", map[string]any{"apiId": id})
	e.fail("apis.getApi", map[string]any{"apiId": id}, http.StatusNotFound)
	er := e.fail("apis.deleteApi", map[string]any{"apiId": id}, http.StatusNotFound)
	if er["type"] != typeBase+typeAPINotFound {
		t.Fatalf("type %v", er["type"])
	}
	e.fail("keys.getKey", map[string]any{"keyId": k1}, http.StatusNotFound)
	for _, bad := range []string{"", "api_x", "prj_x", "key_01J0000000000000000000000"} {
		status := http.StatusNotFound
		if bad == "" {
			status = http.StatusBadRequest
		}
		e.fail("apis.getApi", map[string]any{"apiId": bad}, status)
	}
}

func TestListKeys(t *testing.T) {
	e := newEnv(t)
	api, other := e.api("a"), e.api("b")
	var ids []string
	for i := range 5 {
		ext := "alice"
		if i%2 == 1 {
			ext = "bob"
		}
		id, _ := e.createKey(api, map[string]any{"name": fmt.Sprintf("k%d", i), "externalId": ext})
		ids = append(ids, id)
	}
	e.createKey(other, nil)
	revoked, _ := e.createKey(api, nil)
	e.okMap("keys.deleteKey", map[string]any{"keyId": revoked})
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		body := map[string]any{"apiId": api, "limit": 2}
		if cursor != "" {
			body["cursor"] = cursor
		}
		res := e.call("apis.listKeys", body)
		if res.Status != 200 {
			t.Fatalf("listKeys: %d %s", res.Status, res.Body)
		}
		var l struct {
			Data []struct {
				KeyID    string         `json:"keyId"`
				Identity map[string]any `json:"identity"`
			} `json:"data"`
			Pagination struct {
				Cursor  string `json:"cursor"`
				HasMore bool   `json:"hasMore"`
			} `json:"pagination"`
		}
		res.JSON(t, &l)
		for _, k := range l.Data {
			got = append(got, k.KeyID)
			if k.Identity["externalId"] != "alice" && k.Identity["externalId"] != "bob" {
				t.Fatalf("identity %v", k.Identity)
			}
		}
		if !l.Pagination.HasMore {
			if l.Pagination.Cursor != "" {
				t.Fatalf("cursor on the last page")
			}
			break
		}
		cursor = l.Pagination.Cursor
		if pages > 5 {
			t.Fatal("no end")
		}
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(ids))
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	d := e.ok("apis.listKeys", map[string]any{"apiId": api, "externalId": "bob"}).([]any)
	if len(d) != 2 {
		t.Fatalf("bob's keys: %v", d)
	}
	if d := e.ok("apis.listKeys", map[string]any{"apiId": api, "externalId": "nobody"}).([]any); len(d) != 0 {
		t.Fatalf("nobody's keys: %v", d)
	}
	for _, body := range []map[string]any{
		{"apiId": api, "limit": 0}, {"apiId": api, "limit": 101}, {"apiId": api, "limit": "2"},
		{"apiId": api, "cursor": "nope"}, {"apiId": api, "decrypt": "yes"}, {"apiId": api, "extra": 1},
		{"apiId": api, "externalId": ""}, {},
	} {
		e.fail("apis.listKeys", body, http.StatusBadRequest)
	}
}

func TestKeyLifecycle(t *testing.T) {
	e := newEnvWith(t, compattest.Options{Service: service.Options{MasterKey: keywardtest.MasterKey(t)}})
	api := e.api("a")
	exp := time.Now().Add(time.Hour).UnixMilli()
	id, tok := e.createKey(api, map[string]any{"name": "n", "expires": exp, "recoverable": true, "enabled": false, "byteLength": 16, "externalId": "carol"})
	k := e.okMap("keys.getKey", map[string]any{"keyId": id, "decrypt": true})
	if k["plaintext"] != tok || k["enabled"] != false || k["expires"] != float64(exp) {
		t.Fatalf("getKey: %v", k)
	}
	if v := e.verify(map[string]any{"key": tok}); v["code"] != "DISABLED" || v["valid"] != false || v["enabled"] != false {
		t.Fatalf("disabled: %v", v)
	}
	// whoami finds a disabled key, and asking is not a use.
	if w := e.okMap("keys.whoami", map[string]any{"key": tok}); w["keyId"] != id || w["enabled"] != false || w["lastUsedAt"] != nil {
		t.Fatalf("whoami of a disabled key: %v", w)
	}
	checkError(t, e.callWith(e.ManagementKeyIn(e.acct, "keys:verify"), "keys.whoami", map[string]any{"key": tok}), http.StatusForbidden)
	e.okMap("keys.updateKey", map[string]any{"keyId": id, "enabled": true, "name": "m", "meta": map[string]any{"a": 1},
		"externalId": "carol", "expires": nil})
	k = e.okMap("keys.getKey", map[string]any{"keyId": id})
	if k["enabled"] != true || k["name"] != "m" || k["expires"] != nil || k["meta"].(map[string]any)["a"] != float64(1) ||
		k["identity"].(map[string]any)["externalId"] != "carol" || k["updatedAt"] == nil {
		t.Fatalf("after update: %v", k)
	}
	// A key's identity is its owner, fixed at creation.
	e.fail("keys.updateKey", map[string]any{"keyId": id, "externalId": "dave"}, http.StatusBadRequest)
	e.fail("keys.updateKey", map[string]any{"keyId": id, "externalId": nil}, http.StatusBadRequest)
	w := e.okMap("keys.whoami", map[string]any{"key": tok})
	if w["keyId"] != id || w["name"] != "m" {
		t.Fatalf("whoami: %v", w)
	}
	e.fail("keys.whoami", map[string]any{"key": "kw_nope"}, http.StatusNotFound)
	// Reroll: the same key, a new token; the old one stops at once.
	r := e.okMap("keys.rerollKey", map[string]any{"keyId": id, "expiration": 0})
	if r["keyId"] != id || r["key"] == tok {
		t.Fatalf("reroll: %v", r)
	}
	if v := e.verify(map[string]any{"key": tok}); v["code"] != "NOT_FOUND" {
		t.Fatalf("old token: %v", v)
	}
	if v := e.verify(map[string]any{"key": r["key"]}); v["code"] != "VALID" {
		t.Fatalf("new token: %v", v)
	}
	// A reroll with a grace period keeps the old token working.
	r2 := e.okMap("keys.rerollKey", map[string]any{"keyId": id, "expiration": 60000})
	if v := e.verify(map[string]any{"key": r["key"]}); v["code"] != "VALID" {
		t.Fatalf("old token in grace: %v", v)
	}
	// Soft delete: revoked, gone for Unkey, kept natively.
	e.okMap("keys.deleteKey", map[string]any{"keyId": id})
	if v := e.verify(map[string]any{"key": r2["key"]}); v["code"] != "NOT_FOUND" {
		t.Fatalf("deleted: %v", v)
	}
	e.fail("keys.getKey", map[string]any{"keyId": id}, http.StatusNotFound)
	var nk map[string]any
	e.Get(e.acct, "/v1/keys/"+id, &nk)
	if nk["status"] != "revoked" {
		t.Fatalf("native: %v", nk)
	}
	// Permanent delete.
	id2, _ := e.createKey(api, nil)
	e.okMap("keys.deleteKey", map[string]any{"keyId": id2, "permanent": true})
	if res := e.Native("GET", "/v1/keys/"+id2, nil, "X-Account-Id: "+e.acct); res.Status != http.StatusNotFound {
		t.Fatalf("native after permanent delete: %d", res.Status)
	}
	e.fail("keys.deleteKey", map[string]any{"keyId": id2}, http.StatusNotFound)
}

func TestCredits(t *testing.T) {
	e := newEnv(t)
	api := e.api("a")
	id, tok := e.createKey(api, map[string]any{"credits": map[string]any{"remaining": 2}})
	for i, want := range []string{"VALID", "VALID", "USAGE_EXCEEDED"} {
		if v := e.verify(map[string]any{"key": tok}); v["code"] != want {
			t.Fatalf("use %d: %v", i, v)
		}
	}
	c := e.okMap("keys.updateCredits", map[string]any{"keyId": id, "operation": "increment", "value": 5})
	if c["remaining"] != float64(5) {
		t.Fatalf("increment: %v", c)
	}
	if v := e.verify(map[string]any{"key": tok, "credits": map[string]any{"cost": 3}}); v["code"] != "VALID" || v["credits"] != float64(2) {
		t.Fatalf("cost 3: %v", v)
	}
	if v := e.verify(map[string]any{"key": tok, "credits": map[string]any{"cost": 0}}); v["code"] != "VALID" || v["credits"] != float64(2) {
		t.Fatalf("cost 0: %v", v)
	}
	c = e.okMap("keys.updateCredits", map[string]any{"keyId": id, "operation": "decrement", "value": 1})
	if c["remaining"] != float64(1) {
		t.Fatalf("decrement: %v", c)
	}
	c = e.okMap("keys.updateCredits", map[string]any{"keyId": id, "operation": "set", "value": 7})
	if c["remaining"] != float64(7) {
		t.Fatalf("set: %v", c)
	}
	c = e.okMap("keys.updateCredits", map[string]any{"keyId": id, "operation": "set", "value": nil})
	if c["remaining"] != nil {
		t.Fatalf("unlimited: %v", c)
	}
	e.fail("keys.updateCredits", map[string]any{"keyId": id, "operation": "increment", "value": 1}, http.StatusBadRequest)
	c = e.okMap("keys.updateCredits", map[string]any{"keyId": id, "operation": "set", "value": 3})
	if c["remaining"] != float64(3) {
		t.Fatalf("set from unlimited: %v", c)
	}
	// updateKey: a refill, then unlimited.
	e.okMap("keys.updateKey", map[string]any{"keyId": id, "credits": map[string]any{"remaining": 4, "refill": map[string]any{"interval": "daily", "amount": 9}}})
	k := e.okMap("keys.getKey", map[string]any{"keyId": id})
	if c := k["credits"].(map[string]any); c["remaining"] != float64(4) || c["refill"].(map[string]any)["amount"] != float64(9) {
		t.Fatalf("refill: %v", k)
	}
	e.okMap("keys.updateKey", map[string]any{"keyId": id, "credits": nil})
	if k := e.okMap("keys.getKey", map[string]any{"keyId": id}); k["credits"] != nil {
		t.Fatalf("credits cleared: %v", k)
	}
	for _, body := range []map[string]any{
		{"keyId": id, "operation": "add", "value": 1}, {"keyId": id, "operation": "set", "value": -1},
		{"keyId": id, "operation": "increment"}, {"keyId": id, "value": 1}, {"keyId": id, "operation": "set", "value": "1"},
		{"keyId": id, "operation": "set", "value": 1.5},
	} {
		e.fail("keys.updateCredits", body, http.StatusBadRequest)
	}
}

func TestRateLimitedKey(t *testing.T) {
	e := newEnv(t)
	api := e.api("a")
	_, tok := e.createKey(api, map[string]any{"ratelimits": []any{map[string]any{"name": "r", "limit": 2, "duration": 60000, "autoApply": true}}})
	for i, want := range []string{"VALID", "VALID", "RATE_LIMITED"} {
		v := e.verify(map[string]any{"key": tok})
		if v["code"] != want {
			t.Fatalf("use %d: %v", i, v)
		}
		if want == "RATE_LIMITED" && v["ratelimits"].([]any)[0].(map[string]any)["exceeded"] != true {
			t.Fatalf("exceeded: %v", v)
		}
	}
}

func TestRatelimitLimit(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"namespace": "email", "identifier": "user_1", "limit": 2, "duration": 60000}
	for i, want := range []bool{true, true, false} {
		d := e.okMap("ratelimit.limit", body)
		if d["success"] != want || d["limit"] != float64(2) {
			t.Fatalf("request %d: %v", i, d)
		}
		if reset := int64(d["reset"].(float64)); reset < time.Now().UnixMilli() {
			t.Fatalf("reset %d in the past", reset)
		}
	}
	// Another identifier, namespace or account has its own limit.
	other := map[string]any{"namespace": "email", "identifier": "user_2", "limit": 2, "duration": 60000, "cost": 2}
	if d := e.okMap("ratelimit.limit", other); d["success"] != true || d["remaining"] != float64(0) {
		t.Fatalf("user_2: %v", d)
	}
	if d := e.okMap("ratelimit.limit", map[string]any{"namespace": "email", "identifier": "user_2", "limit": 2, "duration": 60000, "cost": 0}); d["success"] != false {
		t.Fatalf("cost 0 over the limit: %v", d)
	}
	for _, b := range []map[string]any{
		{"identifier": "x", "limit": 1, "duration": 1000},
		{"namespace": "n", "limit": 1, "duration": 1000},
		{"namespace": "n", "identifier": "x", "duration": 1000},
		{"namespace": "n", "identifier": "x", "limit": 1},
		{"namespace": "n", "identifier": "x", "limit": 0, "duration": 1000},
		{"namespace": "n", "identifier": "x", "limit": 1, "duration": 10},
		{"namespace": "n", "identifier": "x", "limit": 1, "duration": 1000, "cost": 2},
		{"namespace": "n", "identifier": "x", "limit": 1, "duration": 1000, "cost": -1},
		{"namespace": "n", "identifier": "x", "limit": "1", "duration": 1000},
		{"namespace": "n", "identifier": "x", "limit": 1, "duration": 1000, "async": true},
		{"namespace": strings.Repeat("n", 256), "identifier": "x", "limit": 1, "duration": 1000},
	} {
		e.fail("ratelimit.limit", b, http.StatusBadRequest)
	}
	reader := e.ManagementKeyIn(e.acct, keyward.PermKeysRead)
	checkError(t, e.callWith(reader, "ratelimit.limit", body), http.StatusForbidden)
}

// TestConcurrentNewIdentity: keys made at once for one new externalId
// share one identity.
func TestConcurrentNewIdentity(t *testing.T) {
	e := newEnv(t)
	api := e.api("a")
	const n = 6
	statuses := make(chan int, n)
	for range n {
		go func() {
			statuses <- e.Do("POST", prefix+"/v2/keys.createKey", map[string]any{"apiId": api, "externalId": "same"}, "Authorization: Bearer "+e.root).Status
		}()
	}
	for range n {
		if s := <-statuses; s != http.StatusOK {
			t.Fatalf("createKey: %d", s)
		}
	}
	l := e.ok("identities.listIdentities", map[string]any{}).([]any)
	if len(l) != 1 {
		t.Fatalf("%d identities for one externalId: %v", len(l), l)
	}
	keys := e.ok("apis.listKeys", map[string]any{"apiId": api, "externalId": "same"}).([]any)
	if len(keys) != n {
		t.Fatalf("%d keys of the identity, want %d", len(keys), n)
	}
}

// TestRootKeyPermissions: each procedure works with exactly the
// permissions docs/compatibility.md lists for it, and not with one less.
func TestRootKeyPermissions(t *testing.T) {
	e := newEnv(t)
	api := e.api("a")
	id, tok := e.createKey(api, map[string]any{"externalId": "acme"})
	e.okMap("permissions.createPermission", map[string]any{"name": "p", "slug": "p"})
	e.okMap("permissions.createRole", map[string]any{"name": "r", "permissions": []string{"p"}})
	const (
		kr, kw, kv, mr, mw, cr, cw = "keys:read", "keys:write", "keys:verify", "members:read", "members:write", "catalog:read", "catalog:write"
	)
	for _, c := range []struct {
		proc  string
		body  map[string]any
		perms []string
	}{
		{"keys.verifyKey", map[string]any{"key": tok}, []string{kv}},
		{"ratelimit.limit", map[string]any{"namespace": "n", "identifier": "i", "limit": 100, "duration": 60000}, []string{kv}},
		{"keys.getKey", map[string]any{"keyId": id}, []string{kr}},
		{"keys.whoami", map[string]any{"key": tok}, []string{kr}},
		{"apis.getApi", map[string]any{"apiId": api}, []string{kr}},
		{"apis.listKeys", map[string]any{"apiId": api}, []string{kr}},
		{"keys.createKey", map[string]any{"apiId": api}, []string{kr, kw}},
		{"keys.createKey", map[string]any{"apiId": api, "externalId": "acme"}, []string{kr, kw, mr}},
		{"keys.createKey", map[string]any{"apiId": api, "externalId": "new"}, []string{kr, kw, mr, mw}},
		{"keys.updateKey", map[string]any{"keyId": id, "name": "n"}, []string{kr, kw}},
		{"keys.updateCredits", map[string]any{"keyId": id, "operation": "set", "value": 5}, []string{kr, kw}},
		{"keys.setPermissions", map[string]any{"keyId": id, "permissions": []string{"p"}}, []string{kr, kw}},
		{"keys.addPermissions", map[string]any{"keyId": id, "permissions": []string{"made.new"}}, []string{kr, kw, cw}},
		{"keys.setRoles", map[string]any{"keyId": id, "roles": []string{"r"}}, []string{kr, kw}},
		{"keys.rerollKey", map[string]any{"keyId": id, "expiration": 60000}, []string{kr, kw}},
		{"apis.createApi", map[string]any{"name": "b"}, []string{kw}},
		{"permissions.getPermission", map[string]any{"permission": "p"}, []string{cr}},
		{"permissions.listPermissions", map[string]any{}, []string{cr}},
		{"permissions.createPermission", map[string]any{"name": "q", "slug": "q"}, []string{cr, cw}},
		{"permissions.getRole", map[string]any{"role": "r"}, []string{cr, mr}},
		{"permissions.listRoles", map[string]any{}, []string{cr, mr}},
		{"permissions.createRole", map[string]any{"name": "s"}, []string{cr, mw}},
		{"permissions.createRole", map[string]any{"name": "t", "permissions": []string{"made.by.role"}}, []string{cr, mw, cw}},
		{"keys.setPermissions", map[string]any{"keyId": id, "permissions": []string{"made.by.set"}}, []string{kr, kw, cw}},
		{"identities.getIdentity", map[string]any{"identity": "acme"}, []string{mr}},
		{"identities.listIdentities", map[string]any{}, []string{mr}},
		{"identities.updateIdentity", map[string]any{"identity": "acme"}, []string{mr}},
		{"identities.createIdentity", map[string]any{"externalId": "other"}, []string{mr, mw}},
	} {
		for i := range c.perms {
			less := slices.Delete(slices.Clone(c.perms), i, i+1)
			if len(less) == 0 {
				less = []string{"audit:read"}
			}
			res := e.callWith(e.ManagementKeyIn(e.acct, less...), c.proc, c.body)
			if res.Status != http.StatusForbidden {
				t.Errorf("%s with %v (without %s): %d %s", c.proc, less, c.perms[i], res.Status, res.Body)
			}
		}
		if res := e.callWith(e.ManagementKeyIn(e.acct, c.perms...), c.proc, c.body); res.Status != http.StatusOK {
			t.Errorf("%s with %v: %d %s", c.proc, c.perms, res.Status, res.Body)
		}
	}
}

// TestVerifyExpiredAndForbidden: the two codes the other tests do not
// reach: EXPIRED, and FORBIDDEN for a key limited (natively) to client
// addresses, which Unkey's verifyKey does not send.
func TestVerifyExpiredAndForbidden(t *testing.T) {
	e := newEnv(t)
	api := e.api("a")
	_, tok := e.createKey(api, map[string]any{"expires": time.Now().Add(1500 * time.Millisecond).UnixMilli()})
	if v := e.verify(map[string]any{"key": tok}); v["code"] != "VALID" {
		t.Fatalf("before expiry: %v", v)
	}
	time.Sleep(1600 * time.Millisecond)
	if v := e.verify(map[string]any{"key": tok}); v["code"] != "EXPIRED" || v["valid"] != false || v["expires"] == nil {
		t.Fatalf("after expiry: %v", v)
	}
	id, tok2 := e.createKey(api, nil)
	res := e.Native("PATCH", "/v1/keys/"+id, map[string]any{"ip_allowlist": []string{"10.0.0.0/8"}}, "X-Account-Id: "+e.acct)
	if res.Status != http.StatusOK {
		t.Fatalf("native allowlist: %d %s", res.Status, res.Body)
	}
	if v := e.verify(map[string]any{"key": tok2}); v["code"] != "FORBIDDEN" || v["valid"] != false {
		t.Fatalf("allowlisted key: %v", v)
	}
}

package unkey

import (
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/compat/compattest"
)

// procedures are every procedure the dialect serves.
var procedures = []string{
	"keys.createKey", "keys.verifyKey", "keys.getKey", "keys.whoami", "keys.updateKey", "keys.deleteKey", "keys.rerollKey",
	"keys.updateCredits", "keys.addPermissions", "keys.removePermissions", "keys.setPermissions", "keys.addRoles",
	"keys.removeRoles", "keys.setRoles", "keys.migrateKeys", "apis.createApi", "apis.getApi", "apis.listKeys", "apis.deleteApi",
	"permissions.createPermission", "permissions.getPermission", "permissions.listPermissions", "permissions.deletePermission",
	"permissions.createRole", "permissions.getRole", "permissions.listRoles", "permissions.deleteRole",
	"identities.createIdentity", "identities.getIdentity", "identities.listIdentities", "identities.updateIdentity",
	"identities.deleteIdentity", "ratelimit.limit",
}

// TestBadBodies: every procedure refuses a malformed body, a body that is
// not an object, an unknown member and a wrong type with a 400 in Unkey's
// shape, and changes nothing.
func TestBadBodies(t *testing.T) {
	e := newEnv(t)
	for _, p := range procedures {
		for _, body := range []string{`{`, `[]`, `"x"`, `{"unknownMember": 1}`, `{"a":1,"a":2}`, "\xff", `{} {}`} {
			checkError(t, e.call(p, body), http.StatusBadRequest)
		}
	}
	// Wrong types, member by member.
	api := e.api("a")
	id, tok := e.createKey(api, nil)
	for _, c := range []struct {
		proc string
		body map[string]any
	}{
		{"keys.createKey", map[string]any{"apiId": 1}},
		{"keys.createKey", map[string]any{"apiId": api, "name": 1}},
		{"keys.createKey", map[string]any{"apiId": api, "prefix": "Bad-Prefix"}},
		{"keys.createKey", map[string]any{"apiId": api, "byteLength": 8}},
		{"keys.createKey", map[string]any{"apiId": api, "byteLength": 64}},
		{"keys.createKey", map[string]any{"apiId": api, "meta": "x"}},
		{"keys.createKey", map[string]any{"apiId": api, "roles": "x"}},
		{"keys.createKey", map[string]any{"apiId": api, "roles": []string{"nope"}}},
		{"keys.createKey", map[string]any{"apiId": api, "permissions": []any{1}}},
		{"keys.createKey", map[string]any{"apiId": api, "expires": "tomorrow"}},
		{"keys.createKey", map[string]any{"apiId": api, "expires": 1000}},
		{"keys.createKey", map[string]any{"apiId": api, "expires": 1e30}},
		{"keys.createKey", map[string]any{"apiId": api, "credits": map[string]any{"remaining": -1}}},
		{"keys.createKey", map[string]any{"apiId": api, "credits": map[string]any{"remaining": 1, "refill": map[string]any{"interval": "monthly", "amount": 1}}}},
		{"keys.createKey", map[string]any{"apiId": api, "credits": map[string]any{"remaining": 1, "refill": map[string]any{"interval": "weekly", "amount": 1}}}},
		{"keys.createKey", map[string]any{"apiId": api, "credits": map[string]any{"remaining": 1, "refill": map[string]any{"interval": "daily", "amount": 1, "refillDay": 3}}}},
		{"keys.createKey", map[string]any{"apiId": api, "credits": map[string]any{"remaining": 1, "refill": map[string]any{"interval": "daily"}}}},
		{"keys.createKey", map[string]any{"apiId": api, "credits": map[string]any{"remaining": nil, "refill": map[string]any{"interval": "daily", "amount": 1}}}},
		{"keys.createKey", map[string]any{"apiId": api, "credits": map[string]any{"extra": 1}}},
		{"keys.createKey", map[string]any{"apiId": api, "ratelimits": []any{map[string]any{"name": "a", "limit": 1, "duration": 1000}}}},
		{"keys.createKey", map[string]any{"apiId": api, "ratelimits": []any{map[string]any{"name": "a", "limit": 1, "duration": 1500, "autoApply": true}}}},
		{"keys.createKey", map[string]any{"apiId": api, "ratelimits": []any{map[string]any{"name": "a", "limit": 1, "duration": 1000, "autoApply": true}, map[string]any{"name": "b", "limit": 1, "duration": 1000, "autoApply": true}}}},
		{"keys.createKey", map[string]any{"apiId": api, "ratelimits": []any{map[string]any{"limit": 1, "duration": 1000, "autoApply": true}}}},
		{"keys.createKey", map[string]any{"apiId": api, "ratelimits": []any{map[string]any{"name": "a", "limit": 0, "duration": 1000, "autoApply": true}}}},
		{"keys.createKey", map[string]any{"apiId": api, "enabled": "yes"}},
		{"keys.createKey", map[string]any{"apiId": api, "recoverable": true}},
		{"keys.createKey", map[string]any{"apiId": api, "externalId": 5}},
		{"keys.verifyKey", map[string]any{}},
		{"keys.verifyKey", map[string]any{"key": 1}},
		{"keys.verifyKey", map[string]any{"key": tok, "permissions": 1}},
		{"keys.verifyKey", map[string]any{"key": tok, "credits": map[string]any{}}},
		{"keys.verifyKey", map[string]any{"key": tok, "credits": map[string]any{"cost": -1}}},
		{"keys.verifyKey", map[string]any{"key": tok, "credits": map[string]any{"cost": "1"}}},
		{"keys.verifyKey", map[string]any{"key": tok, "ratelimits": []any{map[string]any{"name": "x"}}}},
		{"keys.verifyKey", map[string]any{"key": tok, "tags": "x"}},
		{"keys.verifyKey", map[string]any{"key": tok, "tags": []string{""}}},
		{"keys.getKey", map[string]any{}},
		{"keys.getKey", map[string]any{"keyId": id, "decrypt": "x"}},
		{"keys.whoami", map[string]any{"key": 5}},
		{"keys.updateKey", map[string]any{"keyId": id, "name": 5}},
		{"keys.updateKey", map[string]any{"keyId": id, "enabled": nil}},
		{"keys.updateKey", map[string]any{"keyId": id, "permissions": nil}},
		{"keys.updateKey", map[string]any{"keyId": id, "expires": 1}},
		{"keys.deleteKey", map[string]any{"keyId": id, "permanent": "yes"}},
		{"keys.rerollKey", map[string]any{"keyId": id}},
		{"keys.rerollKey", map[string]any{"keyId": id, "expiration": -1}},
		{"keys.rerollKey", map[string]any{"keyId": id, "expiration": 8 * 24 * 3600 * 1000}},
		{"keys.updateCredits", map[string]any{"keyId": id, "operation": "set", "value": 1e20}},
		{"keys.addPermissions", map[string]any{"keyId": id}},
		{"keys.setPermissions", map[string]any{"keyId": id, "permissions": "x"}},
		{"keys.addRoles", map[string]any{"keyId": id, "roles": []any{1}}},
		{"keys.setRoles", map[string]any{"keyId": id}},
		{"apis.createApi", map[string]any{}},
		{"apis.createApi", map[string]any{"name": strings.Repeat("n", 300)}},
		{"apis.deleteApi", map[string]any{"apiId": true}},
		{"permissions.createPermission", map[string]any{"slug": "x"}},
		{"permissions.createPermission", map[string]any{"name": "x", "slug": "x", "description": 3}},
		{"permissions.getPermission", map[string]any{}},
		{"permissions.listPermissions", map[string]any{"limit": 1000}},
		{"permissions.listRoles", map[string]any{"cursor": 5}},
		{"permissions.createRole", map[string]any{"name": "r", "permissions": "x"}},
		{"permissions.deleteRole", map[string]any{"role": 1}},
		{"identities.createIdentity", map[string]any{}},
		{"identities.getIdentity", map[string]any{"identity": 1}},
		{"identities.listIdentities", map[string]any{"limit": -1}},
		{"identities.listIdentities", map[string]any{"cursor": "nope"}},
		{"identities.updateIdentity", map[string]any{"identity": "x", "ratelimits": "x"}},
		{"identities.deleteIdentity", map[string]any{}},
	} {
		res := e.call(c.proc, c.body)
		if res.Status != http.StatusBadRequest {
			t.Errorf("%s %v: %d %s", c.proc, c.body, res.Status, res.Body)
			continue
		}
		checkError(t, res, http.StatusBadRequest)
	}
	// Nothing changed: the one key is as it was.
	k := e.okMap("keys.getKey", map[string]any{"keyId": id})
	if k["name"] != defaultKeyName || k["updatedAt"] != nil {
		t.Fatalf("the key changed: %v", k)
	}
}

// TestOtherAccount: another account's objects are not found, whatever
// their ids.
func TestOtherAccount(t *testing.T) {
	e := newEnv(t)
	api := e.api("mine")
	id, tok := e.createKey(api, map[string]any{"externalId": "mine"})
	e.okMap("permissions.createPermission", map[string]any{"name": "p", "slug": "mine.p"})
	e.okMap("permissions.createRole", map[string]any{"name": "mine-role"})
	ident := e.okMap("identities.getIdentity", map[string]any{"identity": "mine"})["id"]

	other := e.Account("other", "default")
	root := e.ManagementKeyIn(other, rootPerms...)
	for _, c := range []struct {
		proc string
		body map[string]any
	}{
		{"keys.getKey", map[string]any{"keyId": id}},
		{"keys.whoami", map[string]any{"key": tok}},
		{"keys.updateKey", map[string]any{"keyId": id, "name": "x"}},
		{"keys.deleteKey", map[string]any{"keyId": id, "permanent": true}},
		{"keys.rerollKey", map[string]any{"keyId": id, "expiration": 0}},
		{"keys.updateCredits", map[string]any{"keyId": id, "operation": "set", "value": 1}},
		{"keys.addPermissions", map[string]any{"keyId": id, "permissions": []string{"documents"}}},
		{"keys.setRoles", map[string]any{"keyId": id, "roles": []string{}}},
		{"keys.createKey", map[string]any{"apiId": api}},
		{"apis.getApi", map[string]any{"apiId": api}},
		{"apis.listKeys", map[string]any{"apiId": api}},
		{"apis.deleteApi", map[string]any{"apiId": api}},
		{"keys.migrateKeys", map[string]any{"migrationId": "m", "apiId": api, "keys": []any{map[string]any{"hash": strings.Repeat("a", 64)}}}},
		{"permissions.getPermission", map[string]any{"permission": "mine.p"}},
		{"permissions.deletePermission", map[string]any{"permission": "perm_mine.p"}},
		{"permissions.getRole", map[string]any{"role": "mine-role"}},
		{"permissions.deleteRole", map[string]any{"role": "role_mine-role"}},
		{"identities.getIdentity", map[string]any{"identity": ident}},
		{"identities.getIdentity", map[string]any{"identity": "mine"}},
		{"identities.deleteIdentity", map[string]any{"identity": ident}},
	} {
		checkError(t, e.callWith(root, c.proc, c.body), http.StatusNotFound)
	}
	// Verification through the other account does not find the key.
	if v := e.callWith(root, "keys.verifyKey", map[string]any{"key": tok}).Map(t)["data"].(map[string]any); v["code"] != "NOT_FOUND" {
		t.Fatalf("verify from another account: %v", v)
	}
	// And everything is still there.
	if v := e.verify(map[string]any{"key": tok}); v["code"] != "VALID" {
		t.Fatalf("the key changed: %v", v)
	}
}

// TestNever5xx: odd but well-formed bodies (empty, every member null,
// empty strings, huge numbers) get a 4xx or a 200, never a 5xx.
func TestNever5xx(t *testing.T) {
	e := newEnv(t)
	members := []string{"apiId", "keyId", "key", "name", "prefix", "byteLength", "externalId", "meta", "roles", "permissions",
		"expires", "credits", "ratelimits", "enabled", "recoverable", "decrypt", "permanent", "expiration", "value", "operation",
		"migrationId", "keys", "limit", "cursor", "search", "slug", "description", "permission", "role", "identity",
		"namespace", "identifier", "duration", "cost", "tags", "revalidateKeysCache"}
	values := []any{nil, "", 0, -1, 1e18, true, []any{}, map[string]any{}, strings.Repeat("x", 5000)}
	api := e.api("a")
	id, tok := e.createKey(api, nil)
	base := map[string]any{"apiId": api, "keyId": id, "key": tok, "operation": "set", "migrationId": "m",
		"namespace": "n", "identifier": "i", "limit": 1, "duration": 1000, "expiration": 0, "name": "n"}
	for _, p := range procedures {
		// The members the procedure knows, and a base of its required ones.
		known, pbase := []string{}, map[string]any{}
		for _, m := range members {
			res := e.call(p, map[string]any{m: nil})
			if !strings.Contains(string(res.Body), "unknown field") {
				known = append(known, m)
				if v, ok := base[m]; ok {
					pbase[m] = v
				}
			}
		}
		if len(known) == 0 {
			t.Fatalf("%s knows none of the members", p)
		}
		for _, v := range values {
			for _, m := range known {
				body := map[string]any{}
				for k, bv := range pbase {
					body[k] = bv
				}
				body[m] = v
				if p == "keys.deleteKey" || p == "apis.deleteApi" || p == "keys.rerollKey" {
					delete(body, "keyId")
					delete(body, "apiId")
					body[m] = v
				}
				res := e.call(p, body)
				if res.Status >= 500 {
					t.Fatalf("%s {%s: %v}: %d %s", p, m, v, res.Status, res.Body)
				}
			}
		}
	}
}

// TestHTTPEdges: a repeated credential or account header, a query
// string, a body that is not JSON or is over 1 MiB (written in full
// before the answer is read) are answered in Unkey's error body, and
// change nothing.
func TestHTTPEdges(t *testing.T) {
	e := newEnv(t)
	path := prefix + "/v2/apis.createApi"
	send := func(h http.Header, body any) *compattest.Response {
		t.Helper()
		return e.Send("POST", path, body, h)
	}
	twice := http.Header{"Authorization": {"Bearer " + e.root, "Bearer " + e.root}}
	if er := checkError(t, send(twice, `{"name":"x"}`), http.StatusBadRequest); !strings.Contains(er["detail"].(string), "Authorization") {
		t.Errorf("repeated Authorization: %v", er)
	}
	acct := http.Header{"Authorization": {"Bearer " + e.root}, "X-Account-Id": {e.acct, e.acct}}
	checkError(t, send(acct, `{"name":"x"}`), http.StatusBadRequest)
	checkError(t, e.Do("POST", path+"?name=x", `{"name":"x"}`, "Authorization: Bearer "+e.root), http.StatusBadRequest)
	checkError(t, e.Do("POST", path+"?x=%zz", `{"name":"x"}`, "Authorization: Bearer "+e.root), http.StatusBadRequest)
	checkError(t, e.Do("POST", path, `{"name":"x"}`, "Authorization: Bearer "+e.root, "Content-Type: text/plain"), http.StatusUnsupportedMediaType)
	checkError(t, e.Do("POST", path, nil, "Authorization: Bearer "+e.root), http.StatusBadRequest)
	for _, chunked := range []bool{false, true} {
		res, err := compattest.WriteFirst(e.URL, "POST", path, []string{"Authorization: Bearer " + e.root, "Content-Type: application/json"}, 8<<20, chunked)
		if err != nil {
			t.Fatalf("the client does not get the answer: %v", err)
		}
		checkError(t, res, http.StatusRequestEntityTooLarge)
	}
	var projects struct {
		Data []any `json:"data"`
	}
	e.Get(e.acct, "/v1/projects", &projects)
	if len(projects.Data) != 0 {
		t.Fatalf("refused requests made %d apis", len(projects.Data))
	}
}

// TestRefusedKeyLeavesNoIdentity: a key refused after its new identity
// was made takes the identity back with it.
func TestRefusedKeyLeavesNoIdentity(t *testing.T) {
	e := newEnv(t)
	api := e.api("a")
	e.fail("keys.createKey", map[string]any{"apiId": api, "externalId": "ghost", "expires": 1000}, http.StatusBadRequest)
	e.fail("keys.createKey", map[string]any{"apiId": api, "externalId": "ghost", "roles": []string{"nope"}}, http.StatusBadRequest)
	e.fail("keys.migrateKeys", map[string]any{"migrationId": "m", "apiId": api, "keys": []any{
		map[string]any{"hash": strings.Repeat("a", 64), "externalId": "ghost"},
		map[string]any{"hash": "not a hash", "externalId": "ghost2"},
	}}, http.StatusBadRequest)
	for _, ext := range []string{"ghost", "ghost2"} {
		e.fail("identities.getIdentity", map[string]any{"identity": ext}, http.StatusNotFound)
	}
	if l := e.ok("identities.listIdentities", map[string]any{}).([]any); len(l) != 0 {
		t.Fatalf("identities left: %v", l)
	}
}

// TestWrongTypeNamesTheMember: a member of the wrong type is named as the
// client wrote it (name, body.name), not by the Go struct that reads it.
func TestWrongTypeNamesTheMember(t *testing.T) {
	e := newEnv(t)
	er := checkError(t, e.call("keys.createKey", map[string]any{"apiId": e.api("a"), "name": 5}), http.StatusBadRequest)
	detail, _ := er["detail"].(string)
	if !strings.HasPrefix(detail, "name:") {
		t.Errorf("detail %q does not start with the member's name", detail)
	}
	errs, _ := er["errors"].([]any)
	if len(errs) != 1 || errs[0].(map[string]any)["location"] != "body.name" {
		t.Errorf("errors = %v, want one at body.name", er["errors"])
	}
}

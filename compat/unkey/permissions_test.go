package unkey

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestPermissionsAndRoles(t *testing.T) {
	e := newEnv(t)
	for _, slug := range []string{"documents.read", "documents.write", "billing.admin"} {
		d := e.okMap("permissions.createPermission", map[string]any{"name": "Perm " + slug, "slug": slug, "description": "d"})
		if d["permissionId"] != permPrefix+slug {
			t.Fatalf("createPermission: %v", d)
		}
	}
	er := e.fail("permissions.createPermission", map[string]any{"name": "again", "slug": "documents.read"}, http.StatusConflict)
	if er["type"] != typeBase+typePermExists {
		t.Fatalf("duplicate: %v", er)
	}
	for _, slug := range []string{"Documents.Read", "api.*.read", "a:b", ""} {
		e.fail("permissions.createPermission", map[string]any{"name": "x", "slug": slug}, http.StatusBadRequest)
	}
	// By id and by slug.
	for _, p := range []string{"perm_documents.read", "documents.read"} {
		g := e.okMap("permissions.getPermission", map[string]any{"permission": p})
		if g["id"] != "perm_documents.read" || g["slug"] != "documents.read" || g["name"] != "Perm documents.read" || g["description"] != "d" {
			t.Fatalf("getPermission %s: %v", p, g)
		}
	}
	e.fail("permissions.getPermission", map[string]any{"permission": "perm_nope"}, http.StatusNotFound)
	// The catalog lists its template's resources too; search narrows.
	l := e.ok("permissions.listPermissions", map[string]any{"search": "documents."}).([]any)
	if len(l) != 2 {
		t.Fatalf("listPermissions search: %v", l)
	}
	all := e.pages("permissions.listPermissions", 3, "slug")
	if !slices.IsSorted(all) || !slices.Contains(all, "billing.admin") || !slices.Contains(all, "documents") {
		t.Fatalf("all permissions: %v", all)
	}

	// Roles.
	d := e.okMap("permissions.createRole", map[string]any{"name": "editor", "description": "edits", "permissions": []string{"documents.read", "documents.write"}})
	if d["roleId"] != "role_editor" {
		t.Fatalf("createRole: %v", d)
	}
	e.okMap("permissions.createRole", map[string]any{"name": "viewer"})
	er = e.fail("permissions.createRole", map[string]any{"name": "editor"}, http.StatusConflict)
	if er["type"] != typeBase+typeRoleExists {
		t.Fatalf("duplicate role: %v", er)
	}
	e.fail("permissions.createRole", map[string]any{"name": "Bad Name"}, http.StatusBadRequest)
	e.fail("permissions.createRole", map[string]any{"name": "r", "permissions": []string{"nope:read"}}, http.StatusBadRequest)
	e.fail("permissions.createRole", map[string]any{"name": "r", "permissions": []string{"Nope"}}, http.StatusBadRequest)
	for _, r := range []string{"role_editor", "editor"} {
		g := e.okMap("permissions.getRole", map[string]any{"role": r})
		ps := g["permissions"].([]any)
		if g["id"] != "role_editor" || g["name"] != "editor" || g["description"] != "edits" || len(ps) != 2 {
			t.Fatalf("getRole %s: %v", r, g)
		}
	}
	e.fail("permissions.getRole", map[string]any{"role": "nope"}, http.StatusNotFound)
	roles := e.ok("permissions.listRoles", map[string]any{"limit": 1}).([]any)
	if len(roles) != 1 || roles[0].(map[string]any)["name"] != "editor" {
		t.Fatalf("listRoles: %v", roles)
	}

	// A key with permissions and roles; the query language decides.
	api := e.api("a")
	id, tok := e.createKey(api, map[string]any{"permissions": []string{"billing.admin"}, "roles": []string{"viewer"}})
	k := e.okMap("keys.getKey", map[string]any{"keyId": id})
	if !equalAny(k["permissions"], "billing.admin") || !equalAny(k["roles"], "viewer") {
		t.Fatalf("key: %v", k)
	}
	for q, want := range map[string]string{
		"billing.admin":                                         "VALID",
		"documents.read":                                        "INSUFFICIENT_PERMISSIONS",
		"billing.admin OR documents.read":                       "VALID",
		"billing.admin AND documents.read":                      "INSUFFICIENT_PERMISSIONS",
		"(documents.read OR billing.admin) AND (billing.admin)": "VALID",
		"billing.admin:read":                                    "VALID",
		"documents:write":                                       "INSUFFICIENT_PERMISSIONS",
	} {
		if v := e.verify(map[string]any{"key": tok, "permissions": q}); v["code"] != want || v["valid"] != (want == "VALID") {
			t.Errorf("%q: %v, want %s", q, v["code"], want)
		}
	}
	// add, remove, set.
	ps := e.ok("keys.addPermissions", map[string]any{"keyId": id, "permissions": []string{"documents.read"}}).([]any)
	if len(ps) != 2 {
		t.Fatalf("addPermissions: %v", ps)
	}
	if v := e.verify(map[string]any{"key": tok, "permissions": "billing.admin AND documents.read"}); v["code"] != "VALID" {
		t.Fatalf("after add: %v", v)
	}
	ps = e.ok("keys.removePermissions", map[string]any{"keyId": id, "permissions": []string{"billing.admin"}}).([]any)
	if len(ps) != 1 || ps[0].(map[string]any)["slug"] != "documents.read" {
		t.Fatalf("removePermissions: %v", ps)
	}
	ps = e.ok("keys.setPermissions", map[string]any{"keyId": id, "permissions": []string{"documents.write", "billing.admin"}}).([]any)
	if len(ps) != 2 {
		t.Fatalf("setPermissions: %v", ps)
	}
	rs := e.ok("keys.addRoles", map[string]any{"keyId": id, "roles": []string{"role_editor"}}).([]any)
	if len(rs) != 2 {
		t.Fatalf("addRoles: %v", rs)
	}
	if v := e.verify(map[string]any{"key": tok, "permissions": "documents.read"}); v["code"] != "VALID" || !equalAny(v["roles"], "editor", "viewer") {
		t.Fatalf("role's permission: %v", v)
	}
	rs = e.ok("keys.removeRoles", map[string]any{"keyId": id, "roles": []string{"viewer"}}).([]any)
	if len(rs) != 1 || rs[0].(map[string]any)["id"] != "role_editor" || len(rs[0].(map[string]any)["permissions"].([]any)) != 2 {
		t.Fatalf("removeRoles: %v", rs)
	}
	rs = e.ok("keys.setRoles", map[string]any{"keyId": id, "roles": []string{}}).([]any)
	if len(rs) != 0 {
		t.Fatalf("setRoles: %v", rs)
	}
	e.fail("keys.addRoles", map[string]any{"keyId": id, "roles": []string{"nope"}}, http.StatusBadRequest)
	e.fail("keys.addPermissions", map[string]any{"keyId": id, "permissions": []string{"nope:write"}}, http.StatusBadRequest)
	e.fail("keys.removePermissions", map[string]any{"keyId": id, "permissions": []string{"nope"}}, http.StatusBadRequest)
	// A permission that does not exist is created when the root key may
	// (catalog:write), else 403.
	if ps := e.ok("keys.addPermissions", map[string]any{"keyId": id, "permissions": []string{"made.here"}}).([]any); len(ps) != 3 {
		t.Fatalf("addPermissions creating one: %v", ps)
	}
	if g := e.okMap("permissions.getPermission", map[string]any{"permission": "made.here"}); g["slug"] != "made.here" {
		t.Fatalf("the permission made: %v", g)
	}
	if v := e.verify(map[string]any{"key": tok, "permissions": "made.here"}); v["code"] != "VALID" {
		t.Fatalf("the permission made, verified: %v", v)
	}
	keysOnly := e.ManagementKeyIn(e.acct, "keys:read", "keys:write")
	checkError(t, e.callWith(keysOnly, "keys.addPermissions", map[string]any{"keyId": id, "permissions": []string{"other.new"}}), http.StatusForbidden)
	checkError(t, e.callWith(keysOnly, "keys.setPermissions", map[string]any{"keyId": id, "permissions": []string{"other.new"}}), http.StatusForbidden)
	if ps := e.ok("keys.setPermissions", map[string]any{"keyId": id, "permissions": []string{"documents.write", "billing.admin"}}).([]any); len(ps) != 2 {
		t.Fatalf("setPermissions back: %v", ps)
	}
	if d := e.okMap("permissions.createRole", map[string]any{"name": "maker", "permissions": []string{"made.by.role"}}); d["roleId"] != "role_maker" {
		t.Fatalf("createRole creating a permission: %v", d)
	}
	e.okMap("permissions.getPermission", map[string]any{"permission": "made.by.role"})
	e.fail("keys.addPermissions", map[string]any{"keyId": id, "permissions": []string{}}, http.StatusBadRequest)
	// A role a key holds stays; a permission a key holds stays.
	e.ok("keys.setRoles", map[string]any{"keyId": id, "roles": []string{"editor"}})
	e.fail("permissions.deleteRole", map[string]any{"role": "editor"}, http.StatusPreconditionFailed)
	e.fail("permissions.deletePermission", map[string]any{"permission": "billing.admin"}, http.StatusPreconditionFailed)
	e.okMap("permissions.deleteRole", map[string]any{"role": "role_viewer"})
	e.fail("permissions.getRole", map[string]any{"role": "viewer"}, http.StatusNotFound)
	e.okMap("permissions.createPermission", map[string]any{"name": "tmp", "slug": "tmp"})
	e.okMap("permissions.deletePermission", map[string]any{"permission": "perm_tmp"})
	e.fail("permissions.deletePermission", map[string]any{"permission": "tmp"}, http.StatusNotFound)

	// A native key in mode all holds every permission: adding would
	// narrow it, so it is refused; setting is explicit.
	var nk map[string]any
	res := e.Native("POST", "/v1/keys", map[string]any{"name": "all"}, "X-Account-Id: "+e.acct)
	res.JSON(t, &nk)
	allID := nk["id"].(string)
	e.fail("keys.addPermissions", map[string]any{"keyId": allID, "permissions": []string{"documents.read"}}, http.StatusBadRequest)
	e.fail("keys.removeRoles", map[string]any{"keyId": allID, "roles": []string{"editor"}}, http.StatusBadRequest)
	if ps := e.ok("keys.setPermissions", map[string]any{"keyId": allID, "permissions": []string{"documents.read"}}).([]any); len(ps) != 1 {
		t.Fatalf("set on a mode all key: %v", ps)
	}
}

// pages lists everything proc lists, limit a page, following the cursor
// (at most 20 pages), and returns each item's member.
func (e *env) pages(proc string, limit int, member string) []string {
	e.T.Helper()
	var out []string
	body := map[string]any{"limit": limit}
	for range 20 {
		m := e.call(proc, body).Map(e.T)
		for _, x := range m["data"].([]any) {
			out = append(out, x.(map[string]any)[member].(string))
		}
		pg := m["pagination"].(map[string]any)
		if pg["hasMore"] != true {
			return out
		}
		body["cursor"] = pg["cursor"].(string)
	}
	e.T.Fatalf("%s: more than 20 pages", proc)
	return nil
}

func equalAny(v any, want ...string) bool {
	l, ok := v.([]any)
	if !ok || len(l) != len(want) {
		return false
	}
	var got []string
	for _, x := range l {
		s, _ := x.(string)
		got = append(got, s)
	}
	slices.Sort(got)
	return slices.Equal(got, slices.Sorted(slices.Values(want)))
}

func TestPermissionQueryErrors(t *testing.T) {
	e := newEnv(t)
	_, tok := e.createKey(e.api("a"), nil)
	for _, q := range []string{
		"", "AND", "a AND", "(a", "a)", "a OR OR b", "a b", "()", "a AND (b OR c", "a$b", "Upper",
		strings.Repeat("(", 20) + "a" + strings.Repeat(")", 20), strings.Repeat("a OR ", 300) + "a",
	} {
		er := e.fail("keys.verifyKey", map[string]any{"key": tok, "permissions": q}, http.StatusBadRequest)
		if !strings.Contains(er["detail"].(string), "permission") && !strings.Contains(er["detail"].(string), "permissions") {
			t.Errorf("%q: %v", q, er)
		}
	}
	for _, q := range []string{"a", "a and b", "(a OR b) AND c", "((a))", "a:read OR b:write:t1"} {
		if got, err := translateQuery(q); err != nil {
			t.Errorf("%q: %v", q, err)
		} else if q == "a and b" && got != "a:read AND b:read" {
			t.Errorf("%q → %q", q, got)
		}
	}
}

func TestIdentities(t *testing.T) {
	e := newEnv(t)
	d := e.okMap("identities.createIdentity", map[string]any{"externalId": "user_1"})
	id := d["identityId"].(string)
	if !strings.HasPrefix(id, identityPrefix) {
		t.Fatalf("identity id %q", id)
	}
	e.fail("identities.createIdentity", map[string]any{"externalId": "user_1"}, http.StatusConflict)
	e.fail("identities.createIdentity", map[string]any{"externalId": "u", "meta": map[string]any{"a": 1}}, http.StatusBadRequest)
	e.fail("identities.createIdentity", map[string]any{"externalId": "u", "ratelimits": []any{map[string]any{"name": "r", "limit": 1, "duration": 1000}}}, http.StatusBadRequest)
	e.okMap("identities.createIdentity", map[string]any{"externalId": "user_2", "meta": map[string]any{}, "ratelimits": []any{}})
	for _, ref := range []string{id, "user_1"} {
		g := e.okMap("identities.getIdentity", map[string]any{"identity": ref})
		if g["id"] != id || g["externalId"] != "user_1" {
			t.Fatalf("getIdentity %s: %v", ref, g)
		}
	}
	e.fail("identities.getIdentity", map[string]any{"identity": "nobody"}, http.StatusNotFound)
	u := e.okMap("identities.updateIdentity", map[string]any{"identity": id, "meta": map[string]any{}})
	if u["externalId"] != "user_1" {
		t.Fatalf("updateIdentity: %v", u)
	}
	e.fail("identities.updateIdentity", map[string]any{"identity": id, "meta": map[string]any{"a": 1}}, http.StatusBadRequest)
	// Pagination.
	e.okMap("identities.createIdentity", map[string]any{"externalId": "user_3"})
	seen := e.pages("identities.listIdentities", 2, "externalId")
	if len(seen) != 3 {
		t.Fatalf("identities listed: %v", seen)
	}
	if l := e.ok("identities.listIdentities", map[string]any{"search": "_2"}).([]any); len(l) != 1 {
		t.Fatalf("search: %v", l)
	}
	// A key names its identity by externalId; the identity with keys stays.
	api := e.api("a")
	kid, tok := e.createKey(api, map[string]any{"externalId": "user_1"})
	if v := e.verify(map[string]any{"key": tok}); v["identity"].(map[string]any)["externalId"] != "user_1" {
		t.Fatalf("verify identity: %v", v)
	}
	e.fail("identities.deleteIdentity", map[string]any{"identity": "user_1"}, http.StatusPreconditionFailed)
	e.okMap("keys.deleteKey", map[string]any{"keyId": kid})
	res := e.call("identities.deleteIdentity", map[string]any{"identity": "user_1"})
	if res.Status != 200 {
		t.Fatalf("deleteIdentity: %d %s", res.Status, res.Body)
	}
	checkMeta(t, res.Map(t))
	e.fail("identities.getIdentity", map[string]any{"identity": id}, http.StatusNotFound)
	// createKey with a new externalId creates the identity.
	e.createKey(api, map[string]any{"externalId": "fresh"})
	e.okMap("identities.getIdentity", map[string]any{"identity": "fresh"})
}

func TestMigrateKeys(t *testing.T) {
	e := newEnv(t)
	api := e.api("legacy")
	sum := sha256.Sum256([]byte("sk_legacy_one"))
	sum2 := sha256.Sum256([]byte("sk_legacy_two"))
	body := map[string]any{"migrationId": "m1", "apiId": api, "keys": []any{
		map[string]any{"hash": hex.EncodeToString(sum[:]), "name": "one", "externalId": "acme", "meta": map[string]any{"x": 1}},
		map[string]any{"hash": base64.StdEncoding.EncodeToString(sum2[:]), "enabled": false},
	}}
	d := e.okMap("keys.migrateKeys", body)
	mig := d["migrated"].([]any)
	if len(mig) != 2 || len(d["failed"].([]any)) != 0 {
		t.Fatalf("migrate: %v", d)
	}
	v := e.verify(map[string]any{"key": "sk_legacy_one"})
	if v["code"] != "VALID" || v["keyId"] != mig[0].(map[string]any)["keyId"] || v["identity"].(map[string]any)["externalId"] != "acme" {
		t.Fatalf("migrated key: %v", v)
	}
	if v := e.verify(map[string]any{"key": "sk_legacy_two"}); v["code"] != "DISABLED" {
		t.Fatalf("disabled migrated key: %v", v)
	}
	// Known hashes fail; new ones migrate.
	sum3 := sha256.Sum256([]byte("sk_legacy_three"))
	body["keys"] = []any{map[string]any{"hash": hex.EncodeToString(sum[:])}, map[string]any{"hash": hex.EncodeToString(sum3[:])}}
	d = e.okMap("keys.migrateKeys", body)
	if len(d["migrated"].([]any)) != 1 || !equalAny(d["failed"], hex.EncodeToString(sum[:])) {
		t.Fatalf("second migration: %v", d)
	}
	for _, b := range []map[string]any{
		{"apiId": api, "keys": []any{map[string]any{"hash": hex.EncodeToString(sum3[:])}}},
		{"migrationId": "m", "keys": []any{map[string]any{"hash": "x"}}},
		{"migrationId": "m", "apiId": api, "keys": []any{}},
		{"migrationId": "m", "apiId": api, "keys": []any{map[string]any{"hash": "nothex"}}},
		{"migrationId": "m", "apiId": api, "keys": []any{map[string]any{"name": "no hash"}}},
		{"migrationId": "m", "apiId": api, "keys": []any{map[string]any{"hash": hex.EncodeToString(sum3[:]), "bogus": 1}}},
	} {
		e.fail("keys.migrateKeys", b, http.StatusBadRequest)
	}
	e.fail("keys.migrateKeys", map[string]any{"migrationId": "m", "apiId": "api_nope", "keys": []any{map[string]any{"hash": "x"}}}, http.StatusNotFound)
}

// TestSlugs: a slug names one scope and a scope one slug: a resource id
// is read on every object, resource:access and resource:access:target
// keyward's atoms; a key made natively shows its scopes that way.
func TestSlugs(t *testing.T) {
	e := newEnv(t)
	api := e.api("a")
	slugs := []string{"documents", "files:write", "documents:write:doc_1"}
	id, tok := e.createKey(api, map[string]any{"permissions": slugs})
	if k := e.okMap("keys.getKey", map[string]any{"keyId": id}); !equalAny(k["permissions"], slugs...) {
		t.Fatalf("permissions %v, want %v", k["permissions"], slugs)
	}
	// An atom without a target passes with a scope on any target
	// (documents:write:doc_1 passes documents:write), as natively.
	for q, want := range map[string]string{
		"documents": "VALID", "documents:write": "VALID", "documents:write:doc_1": "VALID", "search": "INSUFFICIENT_PERMISSIONS",
		"documents:write:doc_2": "INSUFFICIENT_PERMISSIONS", "files": "VALID", "files:write": "VALID",
	} {
		if v := e.verify(map[string]any{"key": tok, "permissions": q}); v["code"] != want {
			t.Errorf("%q: %v, want %s", q, v["code"], want)
		}
	}
	// A write-only resource has no bare slug.
	e.fail("keys.createKey", map[string]any{"apiId": api, "permissions": []string{"events"}}, http.StatusBadRequest)
	// A native key in mode read_only shows what its mode grants.
	var nk map[string]any
	e.Native("POST", "/v1/keys", map[string]any{"name": "ro", "permission_mode": "read_only"}, "X-Account-Id: "+e.acct).JSON(t, &nk)
	k := e.okMap("keys.getKey", map[string]any{"keyId": nk["id"]})
	if ps, _ := k["permissions"].([]any); len(ps) == 0 || !slices.Contains(ps, any("documents")) || slices.Contains(ps, any("documents:write")) {
		t.Fatalf("a read_only key: %v", k["permissions"])
	}
}

// TestVerifyOnlyRootKey: a root key that may only verify (keys:verify)
// gets the whole answer: identity, permissions, rate limit.
func TestVerifyOnlyRootKey(t *testing.T) {
	e := newEnv(t)
	_, tok := e.createKey(e.api("a"), map[string]any{"externalId": "acme", "permissions": []string{"documents"},
		"ratelimits": []any{map[string]any{"name": "r", "limit": 10, "duration": 60000, "autoApply": true}}})
	verifier := e.ManagementKeyIn(e.acct, "keys:verify")
	res := e.callWith(verifier, "keys.verifyKey", map[string]any{"key": tok, "permissions": "documents"})
	v := res.Map(t)["data"].(map[string]any)
	rl := v["ratelimits"].([]any)[0].(map[string]any)
	if v["code"] != "VALID" || v["identity"].(map[string]any)["externalId"] != "acme" || !equalAny(v["permissions"], "documents") ||
		rl["duration"] != float64(60000) || rl["remaining"] != float64(9) {
		t.Fatalf("verify-only root key: %s", res.Body)
	}
}

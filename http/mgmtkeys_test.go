package http_test

// Management keys, seen by an attacker: every route enforces its
// permission, and no management key can get more power than it holds
// (docs/permissions.md, "No escalation"). Every refused attempt is checked to leave the
// whole database as it was (meRefused).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
)

var meCtx = context.Background()

var meMgmtSecretRE = regexp.MustCompile(`^kwm_[0-9A-Za-z]{36}$`)

func meWithout(perms []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(perms), func(p string) bool { return p == drop })
}

func meIsAccountPerm(p string) bool {
	return p == keyward.PermAccountsRead || p == keyward.PermAccountsWrite
}

// ---- requests (these take the subtest's t: e.must and e.problem fail the
// parent test, which a subtest must not do) ----

// meInvalidReq sends r, checks a 422 naming field, and that nothing changed.
func meInvalidReq(t *testing.T, e *testEnv, r req, field string) map[string]any {
	t.Helper()
	p := meRefused(t, e, r, http.StatusUnprocessableEntity, "validation_failed")
	if !slices.Contains(fields(p), field) {
		t.Fatalf("%s %s: 422 names %v, want %q", r.Method, r.Path, fields(p), field)
	}
	return p
}

// meMissing checks that a permission_denied problem names perm.
func meMissing(t *testing.T, p map[string]any, perm string) {
	t.Helper()
	if p["missing_permission"] != perm {
		t.Fatalf("missing_permission %v, want %q (%v)", p["missing_permission"], perm, p["detail"])
	}
}

// ---- fixtures ----

// meOperator creates an operator key holding perms.
func meOperator(t *testing.T, e *testEnv, perms ...string) (string, string) {
	t.Helper()
	return idSecret(t, newMgmtKey(t, e, "", nil, map[string]any{"name": "me operator key", "operator": true, "permissions": perms}))
}

// meVerifyCode verifies secret with an optional permission query and
// fails unless the code is want.
func meVerifyCode(t *testing.T, e *testEnv, secret, query, want string) map[string]any {
	t.Helper()
	body := map[string]any{"key": secret}
	if query != "" {
		body["permissions"] = query
	}
	v := verify(t, e, nil, body)
	if v["code"] != want || v["valid"] != (want == "VALID") {
		t.Fatalf("verify %q: code %v valid %v, want %s\n%v", query, v["code"], v["valid"], want, v)
	}
	return v
}

// meRefused sends r, checks the problem, and that nothing changed.
func meRefused(t *testing.T, e *testEnv, r req, status int, code string) map[string]any {
	t.Helper()
	before := dump(t, e)
	p := problem(t, e.do(r), status, code)
	unchanged(t, e, before, r.Method+" "+r.Path)
	return p
}

// meDenied is meRefused for 403 permission_denied naming perm.
func meDenied(t *testing.T, e *testEnv, r req, perm string) {
	t.Helper()
	meMissing(t, meRefused(t, e, r, http.StatusForbidden, "permission_denied"), perm)
}

// ---- every route and the permission it needs ----

// meFix makes fresh objects for a route's request, with the operator key.
type meFix struct {
	e *testEnv
	n int
}

func (f *meFix) next() int { f.n++; return f.n }

func (f *meFix) apiKey(t *testing.T) (string, string) {
	t.Helper()
	return apiKey(t, f.e, nil, map[string]any{"name": fmt.Sprintf("me api %d", f.next())})
}

// meRoute is one management route: the permission it needs, the status of
// a request that passes, and how to build such a request.
type meRoute struct {
	method, pattern, perm string
	ok                    int
	setup                 func(t *testing.T, f *meFix) (path string, body any)
}

func (r meRoute) name() string { return r.method + " " + r.pattern }

func meRoutes() []meRoute {
	at := func(pattern string, obj func(t *testing.T, f *meFix) string, body func(f *meFix) any) func(*testing.T, *meFix) (string, any) {
		return func(t *testing.T, f *meFix) (string, any) {
			p := pattern
			if obj != nil {
				id := obj(t, f)
				p = strings.Replace(strings.Replace(p, "{id}", id, 1), "{name}", id, 1)
			}
			var b any
			if body != nil {
				b = body(f)
			}
			return p, b
		}
	}
	key := func(t *testing.T, f *meFix) string { id, _ := f.apiKey(t); return id }
	withCredits := func(t *testing.T, f *meFix) string {
		id, _ := apiKey(t, f.e, nil, map[string]any{"name": "me credits", "credits": map[string]any{"remaining": 10}})
		return id
	}
	recoverable := func(t *testing.T, f *meFix) string {
		id, _ := apiKey(t, f.e, nil, map[string]any{"name": "me recoverable", "recoverable": true})
		return id
	}
	mgmt := func(t *testing.T, f *meFix) string {
		id, _ := mgmtKey(t, f.e, "", keyward.PermManagementKeysWrite)
		return id
	}
	acct := func(t *testing.T, f *meFix) string {
		return create(t, f.e, nil, "/v1/accounts", map[string]any{"name": fmt.Sprintf("me account %d", f.next())})["id"].(string)
	}
	user := func(t *testing.T, f *meFix) string {
		return create(t, f.e, nil, "/v1/users", map[string]any{"name": "me user"})["id"].(string)
	}
	sa := func(t *testing.T, f *meFix) string {
		return create(t, f.e, nil, "/v1/service-accounts", map[string]any{"name": fmt.Sprintf("me sa %d", f.next())})["id"].(string)
	}
	role := func(t *testing.T, f *meFix) string {
		return create(t, f.e, nil, "/v1/roles", map[string]any{"name": fmt.Sprintf("merole%d", f.next()), "scopes": []any{}})["name"].(string)
	}
	project := func(t *testing.T, f *meFix) string {
		return create(t, f.e, nil, "/v1/projects", map[string]any{"name": fmt.Sprintf("me project %d", f.next())})["id"].(string)
	}
	resource := func(t *testing.T, f *meFix) string {
		id := fmt.Sprintf("meres%d", f.next())
		must(t, f.e, http.StatusCreated, req{Method: "PUT", Path: "/v1/catalog/resources/" + id, Body: map[string]any{}})
		return id
	}
	named := func(format string) func(f *meFix) any {
		return func(f *meFix) any { return map[string]any{"name": fmt.Sprintf(format, f.next())} }
	}
	const (
		kr, kw, kv, kx = keyward.PermKeysRead, keyward.PermKeysWrite, keyward.PermKeysVerify, keyward.PermKeysReveal
		mr, mw         = keyward.PermManagementKeysRead, keyward.PermManagementKeysWrite
		ur, uw         = keyward.PermMembersRead, keyward.PermMembersWrite
		cr, cw         = keyward.PermCatalogRead, keyward.PermCatalogWrite
		ar, aw         = keyward.PermAccountsRead, keyward.PermAccountsWrite
		audit          = keyward.PermAuditRead
	)
	// crud is the five routes of a collection of objects: list, create
	// (with the body post), read, change (with the body patch), delete;
	// obj makes the object the last three name.
	crud := func(collection, read, write string, obj func(*testing.T, *meFix) string, post, patch func(*meFix) any) []meRoute {
		one := collection + "/{id}"
		if collection == "/v1/roles" {
			one = collection + "/{name}"
		}
		return []meRoute{
			{"GET", collection, read, 200, at(collection, nil, nil)},
			{"POST", collection, write, 201, at(collection, nil, post)},
			{"GET", one, read, 200, at(one, obj, nil)},
			{"PATCH", one, write, 200, at(one, obj, patch)},
			{"DELETE", one, write, 204, at(one, obj, nil)},
		}
	}
	objects := slices.Concat(
		crud("/v1/accounts", ar, aw, acct, named("me new account %d"), named("me renamed account %d")),
		crud("/v1/users", ur, uw, user, named("me new user %d"), named("me renamed user %d")),
		crud("/v1/service-accounts", ur, uw, sa, named("me new sa %d"), named("me renamed sa %d")),
		crud("/v1/roles", ur, uw, role,
			func(f *meFix) any {
				return map[string]any{"name": fmt.Sprintf("menewrole%d", f.next()), "scopes": []any{}}
			},
			func(f *meFix) any { return map[string]any{"description": fmt.Sprintf("changed %d", f.next())} }),
		crud("/v1/projects", kr, kw, project, named("me new project %d"), named("me renamed project %d")),
	)
	return append(objects, []meRoute{
		{"GET", "/v1/keys", kr, 200, at("/v1/keys", nil, nil)},
		{"POST", "/v1/keys", kw, 201, at("/v1/keys", nil, named("me created %d"))},
		{"GET", "/v1/keys/{id}", kr, 200, at("/v1/keys/{id}", key, nil)},
		{"PATCH", "/v1/keys/{id}", kw, 200, at("/v1/keys/{id}", key, named("me patched %d"))},
		{"PUT", "/v1/keys/{id}", kw, 200, at("/v1/keys/{id}", key, named("me replaced %d"))},
		{"DELETE", "/v1/keys/{id}", kw, 204, at("/v1/keys/{id}", key, nil)},
		{"POST", "/v1/keys/{id}/rotate", kw, 200, at("/v1/keys/{id}/rotate", key, nil)},
		{"GET", "/v1/keys/{id}/secret", kx, 200, at("/v1/keys/{id}/secret", recoverable, nil)},
		{"POST", "/v1/keys/{id}/credits", kw, 200, at("/v1/keys/{id}/credits", withCredits, func(*meFix) any { return map[string]any{"add": 5} })},
		{"POST", "/v1/keys/verify", kv, 200, func(t *testing.T, f *meFix) (string, any) {
			_, secret := f.apiKey(t)
			return "/v1/keys/verify", map[string]any{"key": secret}
		}},
		{"POST", "/v1/keys/import", kw, 201, func(t *testing.T, f *meFix) (string, any) {
			h := make([]byte, 32)
			rand.Read(h)
			return "/v1/keys/import", map[string]any{"keys": []any{map[string]any{"hash": hex.EncodeToString(h), "name": "me imported"}}}
		}},

		{"GET", "/v1/management-keys", mr, 200, at("/v1/management-keys", nil, nil)},
		{"POST", "/v1/management-keys", mw, 201, at("/v1/management-keys", nil, func(f *meFix) any {
			return map[string]any{"name": "me new management key", "permissions": []string{mw}}
		})},
		{"GET", "/v1/management-keys/{id}", mr, 200, at("/v1/management-keys/{id}", mgmt, nil)},
		{"PATCH", "/v1/management-keys/{id}", mw, 200, at("/v1/management-keys/{id}", mgmt, named("me patched %d"))},
		{"PUT", "/v1/management-keys/{id}", mw, 200, at("/v1/management-keys/{id}", mgmt, func(f *meFix) any {
			return map[string]any{"name": "me replaced", "permissions": []string{mw}}
		})},
		{"DELETE", "/v1/management-keys/{id}", mw, 204, at("/v1/management-keys/{id}", mgmt, nil)},
		{"POST", "/v1/management-keys/{id}/rotate", mw, 200, at("/v1/management-keys/{id}/rotate", mgmt, nil)},

		{"GET", "/v1/catalog", cr, 200, at("/v1/catalog", nil, nil)},
		{"PUT", "/v1/catalog/resources/{id}", cw, 200, at("/v1/catalog/resources/{id}", resource, func(*meFix) any {
			return map[string]any{"display_name": "Changed"}
		})},
		{"DELETE", "/v1/catalog/resources/{id}", cw, 204, at("/v1/catalog/resources/{id}", resource, nil)},

		{"GET", "/v1/audit-events", audit, 200, at("/v1/audit-events", nil, nil)},
		{"GET", "/v1/keys/{id}/usage", keyward.PermUsageRead, 200, at("/v1/keys/{id}/usage", key, nil)},
		{"GET", "/v1/usage", keyward.PermUsageRead, 200, at("/v1/usage", nil, nil)},
	}...)
}

// TestMeRouteTableCoversEveryRoute: the table below is every
// authenticated management route of routes.go.
func TestMeRouteTableCoversEveryRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var tested []string
	for _, r := range meRoutes() {
		tested = append(tested, r.name())
	}
	// The invalidation stream never ends for an accepted credential: its
	// permission cases are in stream_test.go.
	sameRoutes(t, e, "management routes", managementRoute, "meRoutes", tested)
}

// TestMeEveryRouteNeedsItsPermission: for each route, a key holding every
// other permission is refused (403 naming the permission, nothing changed),
// and a key holding only that permission gets through.
func TestMeEveryRouteNeedsItsPermission(t *testing.T) {
	t.Parallel()
	e := startEnv(t, keywardtest.Options{Service: service.Options{MasterKey: keywardtest.MasterKey(t)}})
	f := &meFix{e: e}
	for _, r := range meRoutes() {
		t.Run(r.name(), func(t *testing.T) {
			holder, mk := boundPerms, func(t *testing.T, e *testEnv, perms ...string) (string, string) { return mgmtKey(t, e, "", perms...) }
			if meIsAccountPerm(r.perm) {
				holder, mk = allPerms, meOperator
			}
			_, without := mk(t, e, meWithout(holder, r.perm)...)
			_, only := mk(t, e, r.perm)

			path, body := r.setup(t, f)
			meDenied(t, e, req{Method: r.method, Path: path, Body: body, Token: without}, r.perm)
			if meIsAccountPerm(r.perm) {
				// An account-bound key holding everything it can hold
				// never reaches the accounts routes.
				_, bound := mgmtKey(t, e, "", boundPerms...)
				meDenied(t, e, req{Method: r.method, Path: path, Body: body, Token: bound}, r.perm)
			}
			if res := e.do(req{Method: r.method, Path: path, Body: body, Token: only}); res.Status != r.ok {
				t.Fatalf("with only %s: status %d, want %d\n%s", r.perm, res.Status, r.ok, res.Body)
			}
		})
	}
}

// TestMeAPIKeysNeverManage: an API key, whatever it may do, gets 403
// api_key_forbidden on every management route, in either header.
func TestMeAPIKeysNeverManage(t *testing.T) {
	t.Parallel()
	e := startEnv(t, keywardtest.Options{Service: service.Options{MasterKey: keywardtest.MasterKey(t)}})
	f := &meFix{e: e}
	_, all := apiKey(t, e, nil, map[string]any{"name": "me mode all", "permission_mode": "all"})
	for _, r := range meRoutes() {
		t.Run(r.name(), func(t *testing.T) {
			path, body := r.setup(t, f)
			meRefused(t, e, req{Method: r.method, Path: path, Body: body, Token: all}, http.StatusForbidden, "api_key_forbidden")
			meRefused(t, e, req{Method: r.method, Path: path, Body: body, NoAuth: true, Header: map[string]string{"X-API-Key": all}},
				http.StatusForbidden, "api_key_forbidden")
		})
	}
}

// TestMeManagementKeyCRUD walks a management key through its life with the
// operator key.
func TestMeManagementKeyCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acct := defaultAccount(t, e)
	before := e.auditCount()

	res := must(t, e, http.StatusCreated, req{Method: "POST", Path: "/v1/management-keys", Body: map[string]any{
		"name": "me ci", "description": "deploys", "permissions": []string{"keys:read", "keys:write", "keys:read"},
	}})
	k := res.JSON(t)
	id, secret := k["id"].(string), k["secret"].(string)
	if !meMgmtSecretRE.MatchString(secret) {
		t.Fatalf("secret %q is not kwm_<36 base62>", secret)
	}
	if loc := res.Header.Get("Location"); loc != "/v1/management-keys/"+id {
		t.Errorf("Location %q", loc)
	}
	for name, want := range map[string]any{
		"kind": "management", "prefix": "kwm", "operator": false, "account_id": acct, "status": "active",
		"start": secret[:8], "last4": secret[len(secret)-4:], "created_by_id": e.OperatorKeyID, "name": "me ci",
	} {
		if k[name] != want {
			t.Errorf("%s = %v, want %v", name, k[name], want)
		}
	}
	if got := fmt.Sprint(k["permissions"]); got != "[keys:read keys:write]" {
		t.Errorf("permissions %s, want [keys:read keys:write] (de-duplicated)", got)
	}
	for _, absent := range []string{"permission_mode", "scopes", "roles", "project_id"} {
		if _, ok := k[absent]; ok {
			t.Errorf("a management key shows %s", absent)
		}
	}
	if n := e.auditCount(); n != before+1 {
		t.Errorf("create wrote %d audit events, want 1", n-before)
	}
	evs := must(t, e, 200, req{Method: "GET", Path: "/v1/audit-events?target_id=" + id}).JSON(t)["data"].([]any)
	if len(evs) != 1 || evs[0].(map[string]any)["action"] != "management_key.created" {
		t.Errorf("audit of the creation: %v", evs)
	} else if strings.Contains(fmt.Sprint(evs), secret) {
		t.Errorf("the audit event holds the secret")
	}

	// The secret works, within its permissions.
	must(t, e, 200, req{Method: "GET", Path: "/v1/keys", Token: secret})
	meDenied(t, e, req{Method: "GET", Path: "/v1/catalog", Token: secret}, "catalog:read")

	// GET never shows the secret; the list shows the key, and to the
	// operator, the operator keys.
	got := must(t, e, 200, req{Method: "GET", Path: "/v1/management-keys/" + id}).JSON(t)
	if _, ok := got["secret"]; ok {
		t.Errorf("GET shows the secret")
	}
	if got := ids(list(t, e, req{Path: "/v1/management-keys", Token: e.Op})); !slices.Contains(got, id) || !slices.Contains(got, e.OperatorKeyID) {
		t.Errorf("operator list %v lacks the new key or the operator key", got)
	}
	if body := must(t, e, 200, req{Method: "GET", Path: "/v1/management-keys?limit=200"}).Body; strings.Contains(string(body), secret) || strings.Contains(string(body), `"secret"`) {
		t.Errorf("the list shows a secret")
	}
	_, reader := mgmtKey(t, e, "", "management_keys:read")
	if got := ids(list(t, e, req{Path: "/v1/management-keys", Token: reader})); !slices.Contains(got, id) || slices.Contains(got, e.OperatorKeyID) {
		t.Errorf("a bound key's list %v: want the new key and no operator key", got)
	}
	// API keys are not management keys, and the reverse.
	apiID, _ := apiKey(t, e, nil, map[string]any{"name": "me api"})
	meRefused(t, e, req{Method: "GET", Path: "/v1/management-keys/" + apiID}, 404, "not_found")
	meRefused(t, e, req{Method: "GET", Path: "/v1/keys/" + id}, 404, "not_found")
	if got := ids(list(t, e, req{Path: "/v1/keys", Token: e.Op})); slices.Contains(got, id) {
		t.Errorf("GET /v1/keys lists a management key")
	}

	// PATCH: takes effect at once.
	p := must(t, e, 200, req{Method: "PATCH", Path: "/v1/management-keys/" + id, Body: map[string]any{
		"name": "me ci 2", "permissions": []string{"keys:write", "catalog:read"},
	}}).JSON(t)
	if p["name"] != "me ci 2" || fmt.Sprint(p["permissions"]) != "[keys:write catalog:read]" || p["etag"] == k["etag"] {
		t.Errorf("after PATCH: %v", p)
	}
	must(t, e, 200, req{Method: "GET", Path: "/v1/catalog", Token: secret})
	meDenied(t, e, req{Method: "GET", Path: "/v1/keys", Token: secret}, "keys:read")
	for _, bad := range []struct {
		body  any
		field string
	}{
		{map[string]any{"permissions": []string{}}, "permissions"},
		{map[string]any{"permissions": nil}, "permissions"},
		{map[string]any{"permissions": []string{"keys:read", "documents:read"}}, "permissions[1]"},
		{map[string]any{"permissions": []string{"accounts:read"}}, "permissions[0]"},
		{map[string]any{"operator": true}, "operator"},
		{map[string]any{"scopes": []any{}}, "scopes"},
		{map[string]any{"permission_mode": "all"}, "permission_mode"},
	} {
		meInvalidReq(t, e, req{Method: "PATCH", Path: "/v1/management-keys/" + id, Body: bad.body}, bad.field)
	}

	// PUT: permissions required.
	meInvalidReq(t, e, req{Method: "PUT", Path: "/v1/management-keys/" + id, Body: map[string]any{"name": "me ci 3"}}, "permissions")
	p = must(t, e, 200, req{Method: "PUT", Path: "/v1/management-keys/" + id, Body: map[string]any{
		"name": "me ci 3", "permissions": []string{"keys:read"},
	}}).JSON(t)
	if p["description"] != nil || fmt.Sprint(p["permissions"]) != "[keys:read]" {
		t.Errorf("after PUT (description omitted = cleared): %v", p)
	}

	// Rotate with a grace period: both secrets work; rotate with 0: only
	// the newest.
	r1 := must(t, e, 200, req{Method: "POST", Path: "/v1/management-keys/" + id + "/rotate", Body: map[string]any{"grace_period_seconds": 3600}}).JSON(t)
	s1 := r1["secret"].(string)
	if !meMgmtSecretRE.MatchString(s1) || s1 == secret || r1["id"] != id {
		t.Fatalf("rotation answer: %v", r1)
	}
	must(t, e, 200, req{Method: "GET", Path: "/v1/keys", Token: secret})
	must(t, e, 200, req{Method: "GET", Path: "/v1/keys", Token: s1})
	r2 := must(t, e, 200, req{Method: "POST", Path: "/v1/management-keys/" + id + "/rotate", Body: map[string]any{"grace_period_seconds": 0}}).JSON(t)
	s2 := r2["secret"].(string)
	for _, old := range []string{secret, s1} {
		meRefused(t, e, req{Method: "GET", Path: "/v1/keys", Token: old}, 401, "unauthenticated")
	}
	must(t, e, 200, req{Method: "GET", Path: "/v1/keys", Token: s2})

	// DELETE: gone, and its secret with it.
	must(t, e, 204, req{Method: "DELETE", Path: "/v1/management-keys/" + id})
	meRefused(t, e, req{Method: "GET", Path: "/v1/keys", Token: s2}, 401, "unauthenticated")
	meRefused(t, e, req{Method: "GET", Path: "/v1/management-keys/" + id}, 404, "not_found")
	meRefused(t, e, req{Method: "DELETE", Path: "/v1/management-keys/" + id}, 404, "not_found")
}

// TestMeManagementKeyCreateRules: permissions are required, non-empty and
// known; the members of API keys are refused.
func TestMeManagementKeyCreateRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, userOwner := meUserFor(t, e)
	for _, c := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no permissions", map[string]any{"name": "x"}, "permissions"},
		{"null permissions", map[string]any{"name": "x", "permissions": nil}, "permissions"},
		{"empty permissions", map[string]any{"name": "x", "permissions": []string{}}, "permissions"},
		{"unknown permission", map[string]any{"name": "x", "permissions": []string{"keys:admin"}}, "permissions[0]"},
		{"catalog scope as permission", map[string]any{"name": "x", "permissions": []string{"keys:read", "documents:write"}}, "permissions[1]"},
		{"accounts:read on a bound key", map[string]any{"name": "x", "permissions": []string{"accounts:read"}}, "permissions[0]"},
		{"accounts:write on a bound key", map[string]any{"name": "x", "permissions": []string{"keys:read", "accounts:write"}}, "permissions[1]"},
		{"no name", map[string]any{"permissions": []string{"keys:read"}}, "name"},
		{"scopes", map[string]any{"name": "x", "permissions": []string{"keys:read"}, "scopes": []any{}}, "scopes"},
		{"roles", map[string]any{"name": "x", "permissions": []string{"keys:read"}, "roles": []string{}}, "roles"},
		{"permission_mode", map[string]any{"name": "x", "permissions": []string{"keys:read"}, "permission_mode": "all"}, "permission_mode"},
		{"project_id", map[string]any{"name": "x", "permissions": []string{"keys:read"}, "project_id": nil}, "project_id"},
		{"kind api", map[string]any{"name": "x", "permissions": []string{"keys:read"}, "kind": "api"}, "kind"},
		{"owned by a user", map[string]any{"name": "x", "permissions": []string{"keys:read"}, "owner": userOwner}, "owner.type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			meInvalidReq(t, e, req{Method: "POST", Path: "/v1/management-keys", Body: c.body}, c.field)
		})
	}
}

// meUserFor creates a user of the default account and returns its id and
// an owner object naming it.
func meUserFor(t *testing.T, e *testEnv) (string, map[string]any) {
	t.Helper()
	id := must(t, e, http.StatusCreated, req{Method: "POST", Path: "/v1/users", Body: map[string]any{"name": "me owner"}}).JSON(t)["id"].(string)
	return id, map[string]any{"type": "user", "id": id}
}

// TestMeNoEscalationOnCreate: a key creates keys only within its own
// permissions, by any route.
func TestMeNoEscalationOnCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, mk := mgmtKey(t, e, "", "management_keys:write", "management_keys:read")
	create := func(body map[string]any) req {
		return req{Method: "POST", Path: "/v1/management-keys", Token: mk, Body: body}
	}

	meDenied(t, e, create(map[string]any{"name": "up", "permissions": []string{"keys:write"}}), "keys:write")
	meDenied(t, e, create(map[string]any{"name": "up", "permissions": []string{"management_keys:write", "keys:write"}}), "keys:write")
	meInvalidReq(t, e, create(map[string]any{"name": "op", "operator": true, "permissions": []string{"management_keys:read"}}), "operator")
	meInvalidReq(t, e, create(map[string]any{"name": "acct", "permissions": []string{"accounts:read"}}), "permissions[0]")
	meInvalidReq(t, e, create(map[string]any{"name": "acct", "permissions": []string{"accounts:write"}}), "permissions[0]")
	// Within its permissions: fine.
	k := newMgmtKey(t, e, mk, nil, map[string]any{"name": "down", "permissions": []string{"management_keys:read"}})
	if k["created_by_id"] == e.OperatorKeyID || fmt.Sprint(k["permissions"]) != "[management_keys:read]" {
		t.Errorf("created key: %v", k)
	}

	// The operator key itself cannot mint a bound key with account powers.
	meInvalidReq(t, e, req{Method: "POST", Path: "/v1/management-keys", Body: map[string]any{"name": "x", "permissions": []string{"accounts:read"}}}, "permissions[0]")

	// keys:write does not reach management keys through the API-key routes.
	_, kw := mgmtKey(t, e, "", "keys:write", "keys:read")
	meInvalidReq(t, e, req{Method: "POST", Path: "/v1/keys", Token: kw, Body: map[string]any{
		"name": "sneaky", "kind": "management", "permissions": []string{"keys:write"},
	}}, "kind")
	meInvalidReq(t, e, req{Method: "POST", Path: "/v1/keys", Token: kw, Body: map[string]any{
		"name": "sneaky", "permissions": []string{"management_keys:write"},
	}}, "permissions")
	h := make([]byte, 32)
	rand.Read(h)
	meInvalidReq(t, e, req{Method: "POST", Path: "/v1/keys/import", Token: kw, Body: map[string]any{"keys": []any{
		map[string]any{"hash": hex.EncodeToString(h), "name": "sneaky", "kind": "management"},
	}}}, "keys[0].kind")
	meDenied(t, e, req{Method: "POST", Path: "/v1/management-keys", Token: kw, Body: map[string]any{
		"name": "sneaky", "permissions": []string{"keys:read"},
	}}, "management_keys:write")

	// An Idempotency-Key the operator used does not replay its answer (and
	// its secret) to another key: the request runs as that key's own.
	body := map[string]any{"name": "me strong", "permissions": boundPerms}
	idem := map[string]string{"Idempotency-Key": "me-escalation-idempotency-1"}
	first := must(t, e, 201, req{Method: "POST", Path: "/v1/management-keys", Header: idem, Body: body})
	strongSecret := first.JSON(t)["secret"].(string)
	before := dump(t, e)
	res := e.do(req{Method: "POST", Path: "/v1/management-keys", Token: mk, Header: idem, Body: body})
	if strings.Contains(string(res.Body), strongSecret) || res.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("another key got the operator's replayed answer: %d %s", res.Status, res.Body)
	}
	problem(t, res, 403, "permission_denied")
	unchanged(t, e, before, "replay by another key")
}

// TestMeNoEscalationOnChange: a key touches only keys whose permissions,
// before and after, it holds all of.
func TestMeNoEscalationOnChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, x := mgmtKey(t, e, "", "management_keys:write", "management_keys:read", "keys:read")
	weak, _ := mgmtKey(t, e, "", "keys:read")
	strong, strongSecret := mgmtKey(t, e, "", "keys:read", "keys:write")
	path := func(id string) string { return "/v1/management-keys/" + id }

	// Adding a permission x lacks to a weaker key.
	meDenied(t, e, req{Method: "PATCH", Path: path(weak), Token: x, Body: map[string]any{"permissions": []string{"keys:read", "keys:write"}}}, "keys:write")
	meDenied(t, e, req{Method: "PUT", Path: path(weak), Token: x, Body: map[string]any{"name": "w", "permissions": []string{"keys:verify"}}}, "keys:verify")
	// Account permissions are for operator keys only, whoever asks.
	meInvalidReq(t, e, req{Method: "PATCH", Path: path(weak), Token: x, Body: map[string]any{"permissions": []string{"keys:read", "accounts:read"}}}, "permissions[1]")
	meInvalidReq(t, e, req{Method: "PATCH", Path: path(weak), Body: map[string]any{"permissions": []string{"accounts:write"}}}, "permissions[0]")
	// Anything at all on a stronger key, even taking power away.
	for _, r := range []req{
		{Method: "PATCH", Path: path(strong), Body: map[string]any{"name": "renamed"}},
		{Method: "PATCH", Path: path(strong), Body: map[string]any{"permissions": []string{"keys:read"}}},
		{Method: "PATCH", Path: path(strong), Body: map[string]any{"status": "disabled"}},
		{Method: "PATCH", Path: path(strong), Body: map[string]any{"status": "revoked"}},
		{Method: "PATCH", Path: path(strong), Body: map[string]any{"expires_at": "2030-01-01T00:00:00Z"}},
		{Method: "PUT", Path: path(strong), Body: map[string]any{"name": "reduced", "permissions": []string{"keys:read"}}},
		{Method: "POST", Path: path(strong) + "/rotate"},
		{Method: "POST", Path: path(strong) + "/rotate", Body: map[string]any{"grace_period_seconds": 0}},
		{Method: "DELETE", Path: path(strong)},
	} {
		r.Token = x
		t.Run(r.Method+" "+fmt.Sprint(r.Body), func(t *testing.T) { meDenied(t, e, r, "keys:write") })
	}
	must(t, e, 200, req{Method: "GET", Path: "/v1/keys", Token: strongSecret}) // still works

	// Within its permissions, x manages the weaker key.
	must(t, e, 200, req{Method: "PATCH", Path: path(weak), Token: x, Body: map[string]any{"name": "weak renamed", "permissions": []string{"keys:read", "management_keys:read"}}})
	must(t, e, 200, req{Method: "PATCH", Path: path(weak), Token: x, Body: map[string]any{"status": "disabled"}})
	must(t, e, 200, req{Method: "PUT", Path: path(weak), Token: x, Body: map[string]any{"name": "weak", "permissions": []string{"keys:read"}}})
	must(t, e, 200, req{Method: "POST", Path: path(weak) + "/rotate", Token: x})
	must(t, e, 204, req{Method: "DELETE", Path: path(weak), Token: x})

	// An operator key with few permissions cannot touch a stronger operator key.
	_, smallOp := meOperator(t, e, "management_keys:write", "management_keys:read")
	p := meRefused(t, e, req{Method: "PATCH", Path: path(e.OperatorKeyID), Token: smallOp, Body: map[string]any{"name": "pwned"}}, 403, "permission_denied")
	if m, _ := p["missing_permission"].(string); m == "" || m == "management_keys:write" || m == "management_keys:read" {
		t.Errorf("missing_permission %q, want one the small operator key lacks", m)
	}
	meDenied(t, e, req{Method: "POST", Path: "/v1/management-keys", Token: smallOp, Body: map[string]any{"name": "x", "operator": true, "permissions": []string{"accounts:write"}}}, "accounts:write")
}

// TestMeSelf: a key never changes itself, but may rotate or delete itself.
func TestMeSelf(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	self, secret := mgmtKey(t, e, "", "management_keys:write", "management_keys:read", "keys:read")
	path := "/v1/management-keys/" + self
	for _, r := range []req{
		{Method: "PATCH", Path: path, Body: map[string]any{"name": "me again"}},
		{Method: "PATCH", Path: path, Body: map[string]any{"permissions": []string{"management_keys:read"}}},
		{Method: "PATCH", Path: path, Body: map[string]any{"status": "disabled"}},
		{Method: "PATCH", Path: path, Body: map[string]any{}},
		{Method: "PUT", Path: path, Body: map[string]any{"name": "me", "permissions": []string{"management_keys:write", "management_keys:read", "keys:read"}}},
		{Method: "PUT", Path: path, Body: map[string]any{"name": "me", "permissions": []string{"keys:read"}}},
	} {
		r.Token = secret
		t.Run(r.Method+" "+fmt.Sprint(r.Body), func(t *testing.T) {
			meRefused(t, e, r, http.StatusForbidden, "permission_denied")
		})
	}

	rot := must(t, e, 200, req{Method: "POST", Path: path + "/rotate", Token: secret}).JSON(t)
	fresh := rot["secret"].(string)
	meRefused(t, e, req{Method: "GET", Path: "/v1/keys", Token: secret}, 401, "unauthenticated")
	must(t, e, 200, req{Method: "GET", Path: "/v1/keys", Token: fresh})

	must(t, e, 204, req{Method: "DELETE", Path: path, Token: fresh})
	meRefused(t, e, req{Method: "GET", Path: "/v1/keys", Token: fresh}, 401, "unauthenticated")
	meRefused(t, e, req{Method: "GET", Path: path}, 404, "not_found")
}

// TestMeOperatorKeys: only operator keys make, see and touch operator keys;
// they also make keys bound to any account.
func TestMeOperatorKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	def := defaultAccount(t, e)
	other := account(t, e, "me other")

	op := newMgmtKey(t, e, e.Op, nil, map[string]any{"name": "me op", "operator": true, "permissions": []string{"keys:read", "accounts:read"}})
	opID, opSecret := op["id"].(string), op["secret"].(string)
	if op["operator"] != true || op["account_id"] != nil {
		t.Errorf("operator key: operator %v account_id %v", op["operator"], op["account_id"])
	}
	must(t, e, 200, req{Method: "GET", Path: "/v1/accounts", Token: opSecret})
	must(t, e, 200, req{Method: "GET", Path: "/v1/keys", Token: opSecret, Header: map[string]string{"X-Account-Id": other}})

	bound := newMgmtKey(t, e, e.Op, nil, map[string]any{"name": "me bound", "permissions": boundPerms})
	boundSecret := bound["secret"].(string)
	if bound["account_id"] != def || bound["operator"] != false {
		t.Errorf("bound key: account_id %v operator %v", bound["account_id"], bound["operator"])
	}
	inOther := newMgmtKey(t, e, e.Op, map[string]string{"X-Account-Id": other}, map[string]any{"name": "me bound other", "permissions": []string{"keys:read"}})
	if inOther["account_id"] != other {
		t.Errorf("key made with X-Account-Id: account_id %v, want %s", inOther["account_id"], other)
	}

	if got := ids(list(t, e, req{Path: "/v1/management-keys", Token: e.Op})); !slices.Contains(got, opID) || !slices.Contains(got, e.OperatorKeyID) {
		t.Errorf("the operator's list %v lacks operator keys", got)
	}
	if got := ids(list(t, e, req{Path: "/v1/management-keys", Token: boundSecret})); slices.Contains(got, opID) || slices.Contains(got, e.OperatorKeyID) {
		t.Errorf("a bound key lists operator keys: %v", got)
	}
	for _, id := range []string{e.OperatorKeyID, opID} {
		p := "/v1/management-keys/" + id
		for _, r := range []req{
			{Method: "GET", Path: p},
			{Method: "PATCH", Path: p, Body: map[string]any{"status": "revoked"}},
			{Method: "PUT", Path: p, Body: map[string]any{"name": "x", "permissions": []string{"keys:read"}}},
			{Method: "POST", Path: p + "/rotate"},
			{Method: "DELETE", Path: p},
		} {
			r.Token = boundSecret
			meRefused(t, e, r, 404, "not_found")
		}
	}
	meInvalidReq(t, e, req{Method: "POST", Path: "/v1/management-keys", Token: boundSecret, Body: map[string]any{
		"name": "x", "operator": true, "permissions": []string{"keys:read"},
	}}, "operator")
	meInvalidReq(t, e, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "x", "operator": true}}, "operator")
}

// TestMeOtherAccountsKeys: a key of account A cannot reach account B's keys.
func TestMeOtherAccountsKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := account(t, e, "me b")
	inB := map[string]string{"X-Account-Id": b}
	bMgmt := newMgmtKey(t, e, e.Op, inB, map[string]any{"name": "b key", "permissions": []string{"keys:read"}})["id"].(string)
	bAPI, _ := apiKey(t, e, inB, map[string]any{"name": "b api"})

	_, a := mgmtKey(t, e, "", boundPerms...)
	for _, r := range []req{
		{Method: "GET", Path: "/v1/management-keys/" + bMgmt},
		{Method: "PATCH", Path: "/v1/management-keys/" + bMgmt, Body: map[string]any{"status": "disabled"}},
		{Method: "PUT", Path: "/v1/management-keys/" + bMgmt, Body: map[string]any{"name": "x", "permissions": []string{"keys:read"}}},
		{Method: "POST", Path: "/v1/management-keys/" + bMgmt + "/rotate"},
		{Method: "DELETE", Path: "/v1/management-keys/" + bMgmt},
		{Method: "GET", Path: "/v1/keys/" + bAPI},
		{Method: "PATCH", Path: "/v1/keys/" + bAPI, Body: map[string]any{"status": "revoked"}},
		{Method: "POST", Path: "/v1/keys/" + bAPI + "/rotate"},
		{Method: "DELETE", Path: "/v1/keys/" + bAPI},
	} {
		r.Token = a
		t.Run(r.Method+" "+r.Path, func(t *testing.T) { meRefused(t, e, r, 404, "not_found") })
	}
	for _, path := range []string{"/v1/management-keys", "/v1/keys"} {
		if got := ids(list(t, e, req{Path: path, Token: a})); slices.Contains(got, bMgmt) || slices.Contains(got, bAPI) {
			t.Errorf("%s of account A lists B's keys: %v", path, got)
		}
	}
	meRefused(t, e, req{Method: "GET", Path: "/v1/management-keys", Token: a, Header: inB}, 403, "account_mismatch")
	meRefused(t, e, req{Method: "POST", Path: "/v1/management-keys", Token: a, Header: inB, Body: map[string]any{"name": "x", "permissions": []string{"keys:read"}}}, 403, "account_mismatch")
}

// TestMeProtectedNeverGranted: no path gives an API key a protected
// resource (billing, in the default template).
func TestMeProtectedNeverGranted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	billing := []any{map[string]any{"resource": "billing", "access": "read"}}

	meInvalidReq(t, e, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "x", "permission_mode": "restricted", "scopes": billing}}, "scopes[0].resource")
	meInvalidReq(t, e, req{Method: "POST", Path: "/v1/roles", Body: map[string]any{"name": "payer", "scopes": billing}}, "scopes[0].resource")
	h := make([]byte, 32)
	rand.Read(h)
	meInvalidReq(t, e, req{Method: "POST", Path: "/v1/keys/import", Body: map[string]any{"keys": []any{
		map[string]any{"hash": hex.EncodeToString(h), "name": "x", "permission_mode": "restricted", "scopes": billing},
	}}}, "keys[0].scopes[0].resource")

	id, secret := apiKey(t, e, nil, map[string]any{"name": "me restricted", "permission_mode": "restricted", "scopes": []any{}})
	must(t, e, 201, req{Method: "POST", Path: "/v1/roles", Body: map[string]any{"name": "docs", "scopes": []any{map[string]any{"resource": "documents", "access": "read"}}}})
	for _, c := range []struct {
		r     req
		field string
	}{
		{req{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"scopes": billing}}, "scopes[0].resource"},
		{req{Method: "PUT", Path: "/v1/keys/" + id, Body: map[string]any{"name": "x", "permission_mode": "restricted", "scopes": billing}}, "scopes[0].resource"},
		{req{Method: "PATCH", Path: "/v1/roles/docs", Body: map[string]any{"scopes": billing}}, "scopes[0].resource"},
	} {
		meInvalidReq(t, e, c.r, c.field)
	}
	meVerifyCode(t, e, secret, "billing:read", "INSUFFICIENT_PERMISSIONS")

	// Keys that hold everything still do not hold billing.
	for _, mode := range []string{"all", "read_only"} {
		_, s := apiKey(t, e, nil, map[string]any{"name": "me " + mode, "permission_mode": mode})
		v := meVerifyCode(t, e, s, "billing:read", "INSUFFICIENT_PERMISSIONS")
		if strings.Contains(fmt.Sprint(v["scopes"]), "billing") {
			t.Errorf("mode %s: effective scopes hold billing: %v", mode, v["scopes"])
		}
		who := must(t, e, 200, req{Method: "GET", Path: "/v1/whoami", Token: s}).JSON(t)
		if strings.Contains(fmt.Sprint(who["effective_scopes"]), "billing") {
			t.Errorf("mode %s: whoami shows billing: %v", mode, who["effective_scopes"])
		}
	}

	// A resource a role grants cannot become protected under it.
	before := dump(t, e)
	p := problem(t, e.do(req{Method: "PUT", Path: "/v1/catalog/resources/documents", Body: map[string]any{"protected": true}}), 409, "resource_in_use")
	if !strings.Contains(fmt.Sprint(p["role_names"]), "docs") {
		t.Errorf("resource_in_use does not name the role: %v", p)
	}
	unchanged(t, e, before, "protecting a resource a role grants")
}

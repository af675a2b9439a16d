package http_test

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// This file tests account selection (docs/api.md) and isolation between
// accounts: nothing of account B can be read, changed, listed or verified
// while acting in account A, on any route.

// TestAiAccountSelection: which account a management request acts on.
func TestAiAccountSelection(t *testing.T) {
	e := newEnv(t)
	def := defaultAccount(t, e)
	a := create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai alpha"})["id"].(string)
	b := create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai bravo"})["id"].(string)
	_, mA := mgmtKey(t, e, a, boundPerms...)
	apiA := newKey(t, e, aiHdr(a), map[string]any{"name": "ai alpha api"})["secret"].(string)

	// actsIn creates a key with the credential and headers and reports the
	// account it landed in.
	actsIn := func(t *testing.T, token string, hdr map[string]string) string {
		t.Helper()
		k := must(t, e, 201, req{Method: "POST", Path: "/v1/keys", Token: token, Header: hdr, Body: map[string]any{"name": "ai where"}}).JSON(t)
		acct, _ := k["account_id"].(string)
		// A read in the same context finds it there, and only there.
		must(t, e, 200, req{Method: "GET", Path: "/v1/keys/" + k["id"].(string), Token: token, Header: hdr})
		for _, other := range []string{def, a, b} {
			if other != acct {
				must(t, e, 404, req{Method: "GET", Path: "/v1/keys/" + k["id"].(string), Header: aiHdr(other)})
			}
		}
		return acct
	}

	t.Run("a bound key acts in its account", func(t *testing.T) {
		if got := actsIn(t, mA, nil); got != a {
			t.Errorf("acted in %s, want %s", got, a)
		}
		if got := actsIn(t, mA, aiHdr(a)); got != a {
			t.Errorf("with its own X-Account-Id: acted in %s, want %s", got, a)
		}
		if got := actsIn(t, mA, map[string]string{"X-Account-Id": " " + a + " "}); got != a {
			t.Errorf("with its own X-Account-Id padded: acted in %s, want %s", got, a)
		}
		for _, k := range must(t, e, 200, req{Method: "GET", Path: "/v1/keys?limit=200", Token: mA}).JSON(t)["data"].([]any) {
			if acct := k.(map[string]any)["account_id"]; acct != a {
				t.Errorf("a bound key lists a key of %v", acct)
			}
		}
	})
	t.Run("a bound key naming another account is 403", func(t *testing.T) {
		for name, v := range map[string]string{
			"another account":            b,
			"the default account":        def,
			"an unknown account":         newID(keyward.PrefixAccount),
			"an account name":            "ai alpha",
			"garbage":                    "not an account",
			"its own id in another case": strings.ToLower(a),
			"a key id":                   newID(keyward.PrefixKey),
		} {
			t.Run(name, func(t *testing.T) {
				before := dump(t, e)
				pxProblem(t, e.do(req{Method: "GET", Path: "/v1/keys", Token: mA, Header: aiHdr(v)}), 403, "account_mismatch")
				pxProblem(t, e.do(req{Method: "POST", Path: "/v1/keys", Token: mA, Header: aiHdr(v), Body: map[string]any{"name": "ai x"}}), 403, "account_mismatch")
				pxProblem(t, e.do(req{Method: "POST", Path: "/v1/keys/verify", Token: mA, Header: aiHdr(v), Body: map[string]any{"key": apiA}}), 403, "account_mismatch")
				unchanged(t, e, before, "a bound key naming "+name)
			})
		}
	})
	t.Run("the operator key acts on default without the header", func(t *testing.T) {
		if got := actsIn(t, "", nil); got != def {
			t.Errorf("acted in %s, want the default account %s", got, def)
		}
	})
	t.Run("the operator key acts on the account it names", func(t *testing.T) {
		for _, acct := range []string{a, b, def} {
			if got := actsIn(t, "", aiHdr(acct)); got != acct {
				t.Errorf("X-Account-Id %s: acted in %s", acct, got)
			}
		}
	})
	t.Run("the operator key naming an unknown account is 404", func(t *testing.T) {
		for name, v := range map[string]string{
			"unknown id":   newID(keyward.PrefixAccount),
			"account name": keyward.DefaultAccountName,
			"garbage":      "not an account",
			"a key id":     newID(keyward.PrefixKey),
		} {
			t.Run(name, func(t *testing.T) {
				before := dump(t, e)
				pxProblem(t, e.do(req{Method: "GET", Path: "/v1/keys", Header: aiHdr(v)}), 404, "not_found")
				pxProblem(t, e.do(req{Method: "POST", Path: "/v1/keys", Header: aiHdr(v), Body: map[string]any{"name": "ai x"}}), 404, "not_found")
				unchanged(t, e, before, "the operator naming "+name)
			})
		}
	})
	t.Run("an API key is refused whatever the header", func(t *testing.T) {
		for _, h := range []map[string]string{nil, aiHdr(a), aiHdr(b)} {
			pxProblem(t, e.do(req{Method: "GET", Path: "/v1/keys", Token: apiA, Header: h}), 403, "api_key_forbidden")
		}
	})
	t.Run("operator keys are invisible to bound keys", func(t *testing.T) {
		for _, m := range []string{"GET", "PATCH", "PUT", "DELETE"} {
			rq := req{Method: m, Path: "/v1/management-keys/" + e.OperatorKeyID, Token: mA}
			if m == "PATCH" || m == "PUT" {
				rq.Body = map[string]any{"name": "ai x", "permissions": []string{keyward.PermKeysRead}}
			}
			before := dump(t, e)
			pxProblem(t, e.do(rq), 404, "not_found")
			unchanged(t, e, before, m+" of the operator key by a bound key")
		}
		pxProblem(t, e.do(req{Method: "POST", Path: "/v1/management-keys/" + e.OperatorKeyID + "/rotate", Token: mA, Body: map[string]any{}}), 404, "not_found")
		for _, k := range must(t, e, 200, req{Method: "GET", Path: "/v1/management-keys?limit=200", Token: mA}).JSON(t)["data"].([]any) {
			if k := k.(map[string]any); k["id"] == e.OperatorKeyID || k["operator"] == true {
				t.Errorf("a bound key lists the operator key %v", k["id"])
			}
		}
	})
	t.Run("after its account is deleted a bound key is 401 and the header 404", func(t *testing.T) {
		must(t, e, 204, req{Method: "DELETE", Path: "/v1/accounts/" + a})
		pxProblem(t, e.do(req{Method: "GET", Path: "/v1/keys", Token: mA}), 401, "unauthenticated")
		pxProblem(t, e.do(req{Method: "GET", Path: "/v1/keys", Header: aiHdr(a)}), 404, "not_found")
	})
	t.Run("without a default account the operator key must name one", func(t *testing.T) {
		must(t, e, 204, req{Method: "DELETE", Path: "/v1/accounts/" + def})
		pxProblem(t, e.do(req{Method: "GET", Path: "/v1/keys"}), 404, "not_found")
		if got := actsIn(t, "", aiHdr(b)); got != b {
			t.Errorf("acted in %s, want %s", got, b)
		}
		// Accounts are not managed "in" an account: the operator can still
		// find and create them without naming one, even with none left.
		must(t, e, 200, req{Method: "GET", Path: "/v1/accounts"})
		must(t, e, 204, req{Method: "DELETE", Path: "/v1/accounts/" + b, Header: aiHdr(b)})
		must(t, e, 200, req{Method: "GET", Path: "/v1/accounts"})
		must(t, e, 201, req{Method: "POST", Path: "/v1/accounts", Body: map[string]any{"name": keyward.DefaultAccountName}})
		actsIn(t, "", nil)
	})
}

// aiIsoRoute is a route that names one object in its path, and how the
// isolation matrix fills and sends it.
type aiIsoRoute struct {
	route string // "METHOD pattern", as in routes.go
	kind  string // which of the other account's objects fills the path
	body  string
}

func aiIsoRoutes() []aiIsoRoute {
	return []aiIsoRoute{
		{"GET /v1/keys/{id}", "key", ""},
		{"PATCH /v1/keys/{id}", "key", `{"name":"ai hijack"}`},
		{"PUT /v1/keys/{id}", "key", `{"name":"ai hijack"}`},
		{"DELETE /v1/keys/{id}", "key", ""},
		{"POST /v1/keys/{id}/rotate", "key", `{"grace_period_seconds":0}`},
		{"GET /v1/keys/{id}/secret", "key", ""},
		{"POST /v1/keys/{id}/credits", "key", `{"set":1000}`},
		{"GET /v1/keys/{id}/usage", "key", ""},
		{"GET /v1/management-keys/{id}", "mgmt", ""},
		{"PATCH /v1/management-keys/{id}", "mgmt", `{"name":"ai hijack"}`},
		{"PUT /v1/management-keys/{id}", "mgmt", `{"name":"ai hijack","permissions":["keys:read"]}`},
		{"DELETE /v1/management-keys/{id}", "mgmt", ""},
		{"POST /v1/management-keys/{id}/rotate", "mgmt", `{}`},
		{"GET /v1/accounts/{id}", "account", ""},
		{"PATCH /v1/accounts/{id}", "account", `{"name":"ai hijack"}`},
		{"DELETE /v1/accounts/{id}", "account", ""},
		{"GET /v1/users/{id}", "user", ""},
		{"PATCH /v1/users/{id}", "user", `{"name":"ai hijack","status":"disabled"}`},
		{"DELETE /v1/users/{id}", "user", ""},
		{"GET /v1/service-accounts/{id}", "sa", ""},
		{"PATCH /v1/service-accounts/{id}", "sa", `{"status":"disabled"}`},
		{"DELETE /v1/service-accounts/{id}", "sa", ""},
		{"GET /v1/roles/{name}", "role", ""},
		{"PATCH /v1/roles/{name}", "role", `{"description":"ai hijack","scopes":[]}`},
		{"DELETE /v1/roles/{name}", "role", ""},
		{"GET /v1/projects/{id}", "project", ""},
		{"PATCH /v1/projects/{id}", "project", `{"name":"ai hijack"}`},
		{"DELETE /v1/projects/{id}", "project", ""},
		{"PUT /v1/catalog/resources/{id}", "resource", `{"display_name":"ai hijack","readable":true}`},
		{"DELETE /v1/catalog/resources/{id}", "resource", ""},
	}
}

// aiListRoutes are the listing routes of an account, with filters that
// name the other account's objects ({user}, {project}… are filled in).
var aiListRoutes = map[string][]string{
	"GET /v1/keys": {"", "owner_type=user&owner_id={user}", "owner_type=service_account&owner_id={sa}", "project_id={project}",
		"role={role}", "resource={resource}", "search=bravo", "status=active"},
	"GET /v1/management-keys":  {"", "search=bravo"},
	"GET /v1/projects":         {""},
	"GET /v1/users":            {"", "role={role}", "external_id=ext-bravo", "search=bravo"},
	"GET /v1/service-accounts": {""},
	"GET /v1/roles":            {""},
	"GET /v1/catalog":          {""},
	"GET /v1/audit-events": {"", "target_id={key}", "target_id={acct}", "target_id={user}", "actor_id={mgmt}",
		"action=key.created", "action=account.created"},
	"GET /v1/usage": {"", "group_by=owner", "group_by=project"},
}

// aiActor is a way of acting in account A.
type aiActor struct {
	name  string
	token string // "" = the operator key
	hdr   map[string]string
	bound bool // an account-bound key (not the operator)
	acct  string
}

// TestAiIsolationMatrix: two accounts with one object of every kind. Acting
// in A (with A's bound key, with it naming A, with the operator naming A,
// and with the operator on default), every route that names an object
// answers 404 for B's objects and changes nothing in B; listings never show
// B's objects; B's keys do not verify in A. The matrix must cover every
// route of routes.go that takes an id or a name.
func TestAiIsolationMatrix(t *testing.T) {
	e := newEnv(t)
	def := defaultAccount(t, e)
	A := aiPopulate(t, e, create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai alpha"})["id"].(string), "alpha")
	B := aiPopulate(t, e, create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai bravo", "catalog_template": "vectara"})["id"].(string), "bravo")
	// B's user holds B's role: a role name that exists only in B, in use.
	must(t, e, 200, req{Method: "PATCH", Path: "/v1/users/" + B.user, Token: B.mgmtToken, Body: map[string]any{"roles": []string{B.role}}})
	// A second management key in B, not the one snapshots read with.
	mgmtB2, _ := mgmtKey(t, e, B.acct, keyward.PermKeysRead)

	actors := []aiActor{
		{name: "A's bound key", token: A.mgmtToken, bound: true, acct: A.acct},
		{name: "A's bound key naming A", token: A.mgmtToken, hdr: aiHdr(A.acct), bound: true, acct: A.acct},
		{name: "the operator naming A", hdr: aiHdr(A.acct), acct: A.acct},
		{name: "the operator on default", acct: def},
	}
	ids := map[string][]string{
		"key":      {B.apiKey, B.userKey, B.saKey, B.projectKey},
		"mgmt":     {B.mgmtKey, mgmtB2},
		"account":  {B.acct},
		"user":     {B.user},
		"sa":       {B.sa},
		"role":     {B.role, "serving", "personal"}, // B's own, and two of B's template roles A lacks
		"project":  {B.project},
		"resource": {B.resource, "corpus"}, // B's own, and one of B's template resources A lacks
	}
	// leaks reports what of B a response body shows.
	bMarkers := []string{"bravo", B.acct, B.apiKey, B.userKey, B.saKey, B.projectKey, B.mgmtKey, mgmtB2, B.user, B.sa, B.project, B.resource, B.role}
	// An answer may repeat what the request named (allowed); nothing else.
	leaks := func(body []byte, allowed ...string) []string {
		s := string(body)
		for _, a := range allowed {
			s = strings.ReplaceAll(s, a, "")
		}
		var out []string
		for _, m := range bMarkers {
			if strings.Contains(s, m) {
				out = append(out, m)
			}
		}
		return out
	}
	snapB := aiSnapshot(t, e, B)

	t.Run("covers every route that names an object", func(t *testing.T) {
		var covered []string
		for _, r := range aiIsoRoutes() {
			covered = append(covered, r.route)
		}
		sameRoutes(t, e, "routes with an id or a name", func(r string) bool { return strings.Contains(r, "{") }, "the isolation matrix", covered)
	})

	t.Run("listings in A never show B", func(t *testing.T) {
		// The invalidation stream is no listing: its account scoping is in
		// stream_test.go.
		listing := func(r string) bool {
			return strings.HasPrefix(r, "GET /v1/") && !strings.Contains(r, "{") && r != "GET /v1/accounts" && r != "GET /v1/whoami" && r != "GET /v1/invalidations"
		}
		covered := slices.Sorted(maps.Keys(aiListRoutes))
		sameRoutes(t, e, "listing routes", listing, "aiListRoutes", covered)
		fill := strings.NewReplacer("{user}", B.user, "{sa}", B.sa, "{project}", B.project, "{role}", B.role,
			"{resource}", B.resource, "{key}", B.apiKey, "{acct}", B.acct, "{mgmt}", B.mgmtKey)
		for _, route := range covered {
			_, path, _ := strings.Cut(route, " ")
			for _, q := range aiListRoutes[route] {
				full := path
				if q != "" {
					full += "?" + fill.Replace(q)
				}
				for _, ac := range actors {
					res := e.do(req{Method: "GET", Path: full, Token: ac.token, Header: ac.hdr})
					if res.Status != 200 {
						// A filter naming B's object may be refused, but
						// must not be answered with B's data.
						if res.Status >= 500 || res.Status < 400 {
							t.Errorf("%s GET %s: status %d\n%s", ac.name, full, res.Status, short(res.Body))
						}
					}
					if l := leaks(res.Body); len(l) > 0 {
						t.Errorf("%s GET %s shows %v of B\n%s", ac.name, full, l, short(res.Body))
					}
				}
			}
		}
		// The same listings in B do show B's objects (the markers work).
		for _, p := range []string{"/v1/keys?search=bravo", "/v1/users?role=" + B.role, "/v1/audit-events?target_id=" + B.apiKey, "/v1/roles", "/v1/catalog"} {
			if res := must(t, e, 200, req{Method: "GET", Path: p, Token: B.mgmtToken}); len(leaks(res.Body)) == 0 {
				t.Errorf("GET %s in B shows nothing of B: the leak check cannot fail\n%s", p, short(res.Body))
			}
		}
	})

	t.Run("B's keys do not verify in A", func(t *testing.T) {
		for _, tok := range []string{B.apiToken, B.userToken, B.saToken, B.projectToken, B.mgmtToken} {
			// Not the operator on default: without X-Account-Id it
			// verifies across accounts (next subtest).
			for _, ac := range actors[:3] {
				for _, body := range []map[string]any{{"key": tok}, {"key": tok, "permissions": "corpus:read"}, {"key": tok, "project_id": B.project}} {
					res := must(t, e, 200, req{Method: "POST", Path: "/v1/keys/verify", Token: ac.token, Header: ac.hdr, Body: body})
					if v := res.JSON(t); v["valid"] != false || v["code"] != "NOT_FOUND" || len(v) != 2 {
						t.Errorf("%s verifies a key of B as %s", ac.name, res.Body)
					}
				}
			}
		}
		// Nor do A's in B.
		for _, tok := range []string{A.apiToken, A.userToken} {
			if v := must(t, e, 200, req{Method: "POST", Path: "/v1/keys/verify", Token: B.mgmtToken, Body: map[string]any{"key": tok}}).JSON(t); v["code"] != "NOT_FOUND" || len(v) != 2 {
				t.Errorf("B's key verifies a key of A as %v", v)
			}
		}
	})

	t.Run("the operator without X-Account-Id verifies across accounts", func(t *testing.T) {
		for _, c := range []struct {
			o   *aiObjects
			tok string
			id  string
		}{{B, B.apiToken, B.apiKey}, {B, B.saToken, B.saKey}, {A, A.apiToken, A.apiKey}} {
			v := verify(t, e, nil, map[string]any{"key": c.tok})
			if v["valid"] != true || v["code"] != "VALID" || v["account_id"] != c.o.acct || v["key_id"] != c.id {
				t.Errorf("the operator verifies %s as %v, want VALID in %s", c.id, v, c.o.acct)
			}
		}
		if v := verify(t, e, aiHdr(B.acct), map[string]any{"key": B.apiToken}); v["code"] != "VALID" || v["account_id"] != B.acct {
			t.Errorf("the operator naming B verifies B's key as %v", v)
		}
		if v := must(t, e, 200, req{Method: "POST", Path: "/v1/keys/verify", Token: B.mgmtToken, Body: map[string]any{"key": B.apiToken}}).JSON(t); v["code"] != "VALID" {
			t.Errorf("B's own key verifies B's key as %v", v)
		}
		// A management token is never an API key, in any account.
		if v := verify(t, e, nil, map[string]any{"key": B.mgmtToken}); v["code"] != "NOT_FOUND" {
			t.Errorf("the operator verifies B's management key as %v", v)
		}
	})

	t.Run("B's ids in A's request bodies", func(t *testing.T) {
		randomHash := func() string {
			h := sha256.Sum256([]byte(newID("ai")))
			return hex.EncodeToString(h[:])
		}
		restricted := func(extra map[string]any) map[string]any {
			m := map[string]any{"name": "ai ref", "permission_mode": "restricted", "scopes": []any{}}
			for k, v := range extra {
				m[k] = v
			}
			return m
		}
		cases := []struct {
			name, method, path string
			body               any
			field              string
		}{
			{"key in B's project", "POST", "/v1/keys", map[string]any{"name": "ai ref", "project_id": B.project}, "project_id"},
			{"key owned by B's user", "POST", "/v1/keys", map[string]any{"name": "ai ref", "owner": map[string]any{"type": "user", "id": B.user}}, "owner"},
			{"key owned by B's service account", "POST", "/v1/keys", map[string]any{"name": "ai ref", "owner": map[string]any{"type": "service_account", "id": B.sa}}, "owner"},
			{"key owned by B", "POST", "/v1/keys", map[string]any{"name": "ai ref", "owner": map[string]any{"type": "account", "id": B.acct}}, "owner"},
			{"key with B's role", "POST", "/v1/keys", restricted(map[string]any{"roles": []string{B.role}}), "roles[0]"},
			{"key with B's template role", "POST", "/v1/keys", restricted(map[string]any{"roles": []string{"serving"}}), "roles[0]"},
			{"key with B's resource", "POST", "/v1/keys", restricted(map[string]any{"scopes": []any{map[string]any{"resource": B.resource, "access": "read"}}}), "scopes[0].resource"},
			{"key moved to B's project", "PATCH", "/v1/keys/" + A.apiKey, map[string]any{"project_id": B.project}, "project_id"},
			{"key replaced into B's project", "PUT", "/v1/keys/" + A.apiKey, map[string]any{"name": "ai ref", "project_id": B.project}, "project_id"},
			{"key given B's role", "PATCH", "/v1/keys/" + A.apiKey, restricted(map[string]any{"roles": []string{B.role}}), "roles[0]"},
			{"imported key owned by B's user", "POST", "/v1/keys/import", map[string]any{"keys": []any{map[string]any{"hash": randomHash(), "name": "ai imp",
				"owner": map[string]any{"type": "user", "id": B.user}}}}, "keys[0].owner"},
			{"imported key in B's project", "POST", "/v1/keys/import", map[string]any{"keys": []any{map[string]any{"hash": randomHash(), "name": "ai imp",
				"project_id": B.project}}}, "keys[0].project_id"},
			{"user with B's role", "POST", "/v1/users", map[string]any{"email": "ai-ref@example.com", "roles": []string{B.role}}, "roles[0]"},
			{"user given B's role", "PATCH", "/v1/users/" + A.user, map[string]any{"roles": []string{B.role}}, "roles[0]"},
			{"role on B's resource", "POST", "/v1/roles", map[string]any{"name": "ai-ref", "scopes": []any{map[string]any{"resource": B.resource, "access": "read"}}}, "scopes[0].resource"},
			{"role changed to B's resource", "PATCH", "/v1/roles/" + A.role, map[string]any{"scopes": []any{map[string]any{"resource": B.resource, "access": "read"}}}, "scopes[0].resource"},
		}
		for _, c := range cases {
			for _, ac := range actors[:3] {
				t.Run(c.name+" by "+ac.name, func(t *testing.T) {
					before := dump(t, e)
					res := e.do(req{Method: c.method, Path: c.path, Token: ac.token, Header: ac.hdr, Body: c.body})
					aiInvalid(t, res, c.field)
					if l := leaks(res.Body, B.project, B.user, B.sa, B.acct, B.role, B.resource); len(l) > 0 {
						t.Errorf("the answer shows %v of B\n%s", l, short(res.Body))
					}
					unchanged(t, e, before, c.name)
				})
			}
		}
		// A hash B's key already has cannot be imported into A (hashes
		// identify keys across accounts), and B's key stays B's.
		h := sha256.Sum256([]byte(B.apiToken))
		before := dump(t, e)
		res := e.do(req{Method: "POST", Path: "/v1/keys/import", Token: A.mgmtToken,
			Body: map[string]any{"keys": []any{map[string]any{"hash": hex.EncodeToString(h[:]), "name": "ai stolen"}}}})
		if res.Status < 400 || res.Status >= 500 {
			t.Errorf("importing B's hash into A: status %d\n%s", res.Status, short(res.Body))
		}
		if l := leaks(res.Body); len(l) > 0 {
			t.Errorf("importing B's hash shows %v of B", l)
		}
		unchanged(t, e, before, "importing B's hash into A")
	})

	for _, r := range aiIsoRoutes() {
		t.Run(r.route, func(t *testing.T) {
			method, pattern, _ := strings.Cut(r.route, " ")
			for _, ac := range actors {
				if r.kind == "account" && !ac.bound {
					// Accounts are the operator's to manage, in every
					// account: X-Account-Id does not confine them.
					continue
				}
				for _, id := range ids[r.kind] {
					t.Run(ac.name+" "+id, func(t *testing.T) {
						path := strings.NewReplacer("{id}", id, "{name}", id).Replace(pattern)
						rq := req{Method: method, Path: path, Token: ac.token, Header: ac.hdr}
						if r.body != "" {
							rq.Body = r.body
						}
						before := dump(t, e)
						res := e.do(rq)
						switch {
						case r.kind == "account":
							pxProblem(t, res, 403, "permission_denied")
						case r.kind == "resource" && method == "PUT":
							// Resource ids are names within an account's
							// catalog: the PUT creates A's own resource.
							if res.Status != 201 {
								t.Fatalf("status %d, want 201 (a resource of the acting account)\n%s", res.Status, short(res.Body))
							}
							cat := must(t, e, 200, req{Method: "GET", Path: "/v1/catalog", Token: ac.token, Header: ac.hdr})
							if !strings.Contains(string(cat.Body), `"id":"`+id+`"`) {
								t.Errorf("the resource is not in the acting account's catalog")
							}
							must(t, e, 204, req{Method: "DELETE", Path: path, Token: ac.token, Header: ac.hdr})
							return
						default:
							pxProblem(t, res, 404, "not_found")
						}
						if l := leaks(res.Body, id); len(l) > 0 {
							t.Errorf("the answer shows %v of B\n%s", l, short(res.Body))
						}
						unchanged(t, e, before, r.route+" on B's "+id)
					})
				}
			}
			if r.kind == "account" {
				// The operator key manages B's account whatever the header;
				// read-only here so B stays as it is.
				if method == "GET" {
					for _, ac := range actors[2:] {
						must(t, e, 200, req{Method: "GET", Path: "/v1/accounts/" + B.acct, Header: ac.hdr})
					}
				}
			}
			if s := aiSnapshot(t, e, B); s != snapB {
				t.Errorf("B changed:\n%s", aiDiff(snapB, s))
				snapB = s
			}
		})
	}

	if s := aiSnapshot(t, e, B); s != snapB {
		t.Errorf("B changed:\n%s", aiDiff(snapB, s))
	}
	// And B is whole: every key of B still verifies in B.
	for _, tok := range []string{B.apiToken, B.userToken, B.saToken, B.projectToken} {
		if v := must(t, e, 200, req{Method: "POST", Path: "/v1/keys/verify", Token: B.mgmtToken, Body: map[string]any{"key": tok}}).JSON(t); v["code"] != "VALID" {
			t.Errorf("a key of B verifies as %v at the end", v)
		}
	}
}

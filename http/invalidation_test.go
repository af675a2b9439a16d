package http_test

// Issue 9, point 2: every change to what verification reads is seen by
// the next verification, on the node that made it and on every other
// node. One case per mutating route of the management API (a new route
// fails TestEveryChangeReachesVerification until it has a case): each
// warms the caches with a verification (or an authenticated request),
// makes the change on node A, and expects the next verification on A to
// see it at once and on node B (a second server on the same database: a
// PostgreSQL schema, or the same SQLite file) within the propagation bound. The old code forgot to publish
// an invalidation when a role was created, so a key whose role had just
// been created granted nothing.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/keywardtest"
)

// ivState is what a case's setup made (ids, secrets), by name.
type ivState map[string]string

type ivCase struct {
	route string // the "METHOD /pattern" it covers
	name  string
	// setup makes the fixtures on node a.
	setup func(t *testing.T, a *testEnv) ivState
	// probe observes, on node n, what the change must alter: a
	// verification's code (and a member), or a management request's status.
	probe func(t *testing.T, n *testEnv, s ivState) string
	// change makes the change on node a.
	change        func(t *testing.T, a *testEnv, s ivState)
	before, after string
}

// ivSecondNode starts another server on a's database, with its own caches
// (a second keyward process on a shared PostgreSQL, or a second handle on
// the same SQLite file).
func ivSecondNode(t *testing.T, a *testEnv) *testEnv {
	t.Helper()
	return startEnv(t, keywardtest.Options{Reopen: a.Server})
}

// ivVerify verifies secret on n with the operator key (query: the
// permission query, "" for none) and returns the code, followed by the
// members named in show.
func ivVerify(t *testing.T, n *testEnv, secret, query string, hdr map[string]string, show ...string) string {
	t.Helper()
	body := map[string]any{"key": secret}
	if query != "" {
		body["permissions"] = query
	}
	v := n.must(http.StatusOK, req{Method: "POST", Path: "/v1/keys/verify", Body: body, Header: hdr}).JSON(t)
	out := fmt.Sprint(v["code"])
	for _, m := range show {
		out += fmt.Sprintf(" %s=%v", m, v[m])
	}
	return out
}

// ivStatus sends a management request on n with token and returns its
// status.
func ivStatus(t *testing.T, n *testEnv, method, path, token string, hdr map[string]string) string {
	t.Helper()
	return fmt.Sprint(n.do(req{Method: method, Path: path, Token: token, Header: hdr}).Status)
}

var ivDocsRead = []any{map[string]any{"resource": "documents", "access": "read"}}

// The parts cases are made of.

// ivNone is the setup of a case whose change creates what it probes.
func ivNone(*testing.T, *testEnv) ivState { return ivState{} }

// ivWithKey is a setup that runs first (roles, resources…) and then
// creates an API key with body, keeping its id and secret.
func ivWithKey(body map[string]any, first ...func(t *testing.T, a *testEnv, s ivState)) func(*testing.T, *testEnv) ivState {
	return func(t *testing.T, a *testEnv) ivState {
		s := ivState{}
		for _, f := range first {
			f(t, a, s)
		}
		b := map[string]any{}
		for k, v := range body {
			b[k] = v
		}
		if owner, ok := s["owner"]; ok {
			b["owner"] = map[string]any{"type": s["owner_type"], "id": owner}
		}
		if p, ok := s["project"]; ok {
			b["project_id"] = p
		}
		s["id"], s["secret"] = apiKey(t, a, nil, b)
		if owner, ok := s["owner"]; ok {
			s["id"] = owner // the change is to the owner
		}
		if p, ok := s["project"]; ok {
			s["id"] = p // the change is to the project
		}
		return s
	}
}

// ivWithMgmtKey is a setup creating a management key with perms.
func ivWithMgmtKey(perms ...string) func(*testing.T, *testEnv) ivState {
	return func(t *testing.T, a *testEnv) ivState {
		id, sec := mgmtKey(t, a, "", perms...)
		return ivState{"id": id, "secret": sec}
	}
}

// ivRole, ivUser, ivServiceAccount and ivProject make what a key's setup
// refers to (ivWithKey gives the key that owner or project).
func ivRole(name string, scopes []any) func(*testing.T, *testEnv, ivState) {
	return func(t *testing.T, a *testEnv, _ ivState) {
		create(t, a, nil, "/v1/roles", map[string]any{"name": name, "scopes": scopes})
	}
}

func ivUser(roles ...string) func(*testing.T, *testEnv, ivState) {
	return func(t *testing.T, a *testEnv, s ivState) {
		s["owner_type"] = "user"
		s["owner"] = create(t, a, nil, "/v1/users", map[string]any{"email": "u@example.com", "roles": append([]string{}, roles...)})["id"].(string)
	}
}

func ivServiceAccount(t *testing.T, a *testEnv, s ivState) {
	s["owner_type"] = "service_account"
	s["owner"] = create(t, a, nil, "/v1/service-accounts", map[string]any{"name": "bot"})["id"].(string)
}

func ivProject(t *testing.T, a *testEnv, s ivState) {
	s["project"] = create(t, a, nil, "/v1/projects", map[string]any{"name": "p"})["id"].(string)
}

func ivWidgets(t *testing.T, a *testEnv, _ ivState) {
	must(t, a, 201, req{Method: "PUT", Path: "/v1/catalog/resources/widgets", Body: map[string]any{"display_name": "Widgets", "readable": true, "writable": true}})
}

// ivNoneYet is what a probe answers before the change made its object.
const ivNoneYet = "none yet"

// ivCode probes by verifying the case's secret with query, answering the
// code and the members named in show.
func ivCode(query string, show ...string) func(*testing.T, *testEnv, ivState) string {
	return func(t *testing.T, n *testEnv, s ivState) string {
		if s["secret"] == "" {
			return ivNoneYet
		}
		return ivVerify(t, n, s["secret"], query, nil, show...)
	}
}

// ivAuth probes by listing keys with the case's management key: the
// status says whether it authenticates and holds keys:read.
func ivAuth(t *testing.T, n *testEnv, s ivState) string {
	if s["secret"] == "" {
		return ivNoneYet
	}
	return ivStatus(t, n, "GET", "/v1/keys", s["secret"], nil)
}

// ivRequest is a change: one request on node a, {id} in path standing for
// the case's id.
func ivRequest(want int, method, path string, body any) func(*testing.T, *testEnv, ivState) {
	return func(t *testing.T, a *testEnv, s ivState) {
		must(t, a, want, req{Method: method, Path: strings.ReplaceAll(path, "{id}", s["id"]), Body: body})
	}
}

func ivCases() []ivCase {
	restrictedNone := map[string]any{"name": "k", "permission_mode": "restricted", "scopes": []any{}}
	return []ivCase{
		// ---- API keys ----
		{route: "POST /v1/keys", name: "a new key verifies at once (its hash was a cached unknown token)",
			setup: ivNone, probe: ivCode(""),
			change: func(t *testing.T, a *testEnv, s ivState) {
				_, s["secret"] = apiKey(t, a, nil, map[string]any{"name": "new"})
			},
			before: ivNoneYet, after: "VALID"},
		{route: "POST /v1/keys/import", name: "an imported key verifies at once (its hash was a cached unknown token)",
			setup: func(t *testing.T, a *testEnv) ivState {
				b := make([]byte, 24)
				rand.Read(b)
				return ivState{"secret": "legacy_" + hex.EncodeToString(b)}
			},
			probe: ivCode(""),
			change: func(t *testing.T, a *testEnv, s ivState) {
				must(t, a, 201, req{Method: "POST", Path: "/v1/keys/import", Body: map[string]any{"keys": []any{map[string]any{"hash": rkHashHex(s["secret"]), "name": "imported"}}}})
			},
			before: "NOT_FOUND", after: "VALID"},
		{route: "PATCH /v1/keys/{id}", name: "a disabled key is DISABLED",
			setup: ivWithKey(map[string]any{"name": "k"}), probe: ivCode("", "name"),
			change: ivRequest(200, "PATCH", "/v1/keys/{id}", map[string]any{"status": "disabled", "name": "k2"}),
			before: "VALID name=k", after: "DISABLED name=k2"},
		{route: "PUT /v1/keys/{id}", name: "a replaced key has its new scopes",
			setup: ivWithKey(map[string]any{"name": "k"}), probe: ivCode("documents:write"),
			change: ivRequest(200, "PUT", "/v1/keys/{id}", map[string]any{"name": "k", "permission_mode": "restricted", "scopes": ivDocsRead}),
			before: "VALID", after: "INSUFFICIENT_PERMISSIONS"},
		{route: "DELETE /v1/keys/{id}", name: "a deleted key is NOT_FOUND",
			setup: ivWithKey(map[string]any{"name": "k"}), probe: ivCode(""),
			change: ivRequest(204, "DELETE", "/v1/keys/{id}", nil),
			before: "VALID", after: "NOT_FOUND"},
		{route: "POST /v1/keys/{id}/rotate", name: "a rotated key's old secret is ROTATED",
			setup: ivWithKey(map[string]any{"name": "k"}), probe: ivCode(""),
			change: ivRequest(200, "POST", "/v1/keys/{id}/rotate", map[string]any{"grace_period_seconds": 0}),
			before: "VALID", after: "ROTATED"},
		{route: "POST /v1/keys/{id}/credits", name: "credits set to 0 are exhausted",
			setup: ivWithKey(map[string]any{"name": "k", "credits": map[string]any{"remaining": 1000}}), probe: ivCode(""),
			change: ivRequest(200, "POST", "/v1/keys/{id}/credits", map[string]any{"set": 0}),
			before: "VALID", after: "USAGE_EXCEEDED"},

		// ---- management keys (authentication reads them like verification) ----
		{route: "POST /v1/management-keys", name: "a new management key authenticates at once",
			setup: ivNone, probe: ivAuth,
			change: func(t *testing.T, a *testEnv, s ivState) { _, s["secret"] = mgmtKey(t, a, "", "keys:read") },
			before: ivNoneYet, after: "200"},
		{route: "PATCH /v1/management-keys/{id}", name: "a disabled management key no longer authenticates",
			setup: ivWithMgmtKey("keys:read"), probe: ivAuth,
			change: ivRequest(200, "PATCH", "/v1/management-keys/{id}", map[string]any{"status": "disabled"}),
			before: "200", after: "401"},
		{route: "PUT /v1/management-keys/{id}", name: "a management key replaced without a permission lacks it",
			setup: ivWithMgmtKey("keys:read", "members:read"), probe: ivAuth,
			change: ivRequest(200, "PUT", "/v1/management-keys/{id}", map[string]any{"name": "m", "permissions": []string{"members:read"}}),
			before: "200", after: "403"},
		{route: "DELETE /v1/management-keys/{id}", name: "a deleted management key no longer authenticates",
			setup: ivWithMgmtKey("keys:read"), probe: ivAuth,
			change: ivRequest(204, "DELETE", "/v1/management-keys/{id}", nil),
			before: "200", after: "401"},
		{route: "POST /v1/management-keys/{id}/rotate", name: "a rotated management key's old secret no longer authenticates",
			setup: ivWithMgmtKey("keys:read"), probe: ivAuth,
			change: ivRequest(200, "POST", "/v1/management-keys/{id}/rotate", map[string]any{"grace_period_seconds": 0}),
			before: "200", after: "401"},

		// ---- accounts ----
		{route: "POST /v1/accounts", name: "a new account's key verifies at once, across accounts",
			setup: ivNone, probe: ivCode("", "account_id"),
			change: func(t *testing.T, a *testEnv, s ivState) {
				acct := create(t, a, nil, "/v1/accounts", map[string]any{"name": "fresh"})["id"].(string)
				k := create(t, a, map[string]string{"X-Account-Id": acct}, "/v1/keys", map[string]any{"name": "k"})
				s["secret"], s["account"] = k["secret"].(string), acct
			},
			before: ivNoneYet, after: "VALID account_id=<account>"},
		{route: "PATCH /v1/accounts/{id}", name: "renaming the account default leaves the operator key without a default account",
			setup: func(t *testing.T, a *testEnv) ivState {
				for _, acct := range a.must(200, req{Method: "GET", Path: "/v1/accounts"}).JSON(t)["data"].([]any) {
					if m := acct.(map[string]any); m["name"] == "default" {
						return ivState{"id": m["id"].(string)}
					}
				}
				t.Fatal("no account named default")
				return nil
			},
			probe:  func(t *testing.T, n *testEnv, s ivState) string { return ivStatus(t, n, "GET", "/v1/keys", n.Op, nil) },
			change: ivRequest(200, "PATCH", "/v1/accounts/{id}", map[string]any{"name": "renamed"}),
			before: "200", after: "404"},
		{route: "DELETE /v1/accounts/{id}", name: "a deleted account's keys are NOT_FOUND",
			setup: func(t *testing.T, a *testEnv) ivState {
				acct := create(t, a, nil, "/v1/accounts", map[string]any{"name": "doomed"})["id"].(string)
				k := create(t, a, map[string]string{"X-Account-Id": acct}, "/v1/keys", map[string]any{"name": "k"})
				return ivState{"id": acct, "secret": k["secret"].(string)}
			},
			probe:  ivCode(""),
			change: ivRequest(204, "DELETE", "/v1/accounts/{id}", nil),
			before: "VALID", after: "NOT_FOUND"},

		// ---- users and service accounts ----
		{route: "POST /v1/users", name: "a new user holding a role bounds a key at once",
			setup: func(t *testing.T, a *testEnv) ivState { ivRole("reader", ivDocsRead)(t, a, nil); return ivState{} },
			probe: ivCode("documents:read"),
			change: func(t *testing.T, a *testEnv, s ivState) {
				ivUser("reader")(t, a, s)
				_, s["secret"] = apiKey(t, a, nil, map[string]any{"name": "k", "owner": map[string]any{"type": "user", "id": s["owner"]}})
			},
			before: ivNoneYet, after: "VALID"},
		{route: "PATCH /v1/users/{id}", name: "a user given a role gains its power on their keys",
			setup: ivWithKey(map[string]any{"name": "k"}, ivRole("reader", ivDocsRead), ivUser()), probe: ivCode("documents:read"),
			change: ivRequest(200, "PATCH", "/v1/users/{id}", map[string]any{"roles": []string{"reader"}}),
			before: "INSUFFICIENT_PERMISSIONS", after: "VALID"},
		ivDeletedOwner("/v1/users/{id}", "user", ivRole("reader", ivDocsRead), ivUser("reader")),
		{route: "POST /v1/service-accounts", name: "a new service account's key verifies at once",
			setup: ivNone, probe: ivCode(""),
			change: func(t *testing.T, a *testEnv, s ivState) {
				ivServiceAccount(t, a, s)
				_, s["secret"] = apiKey(t, a, nil, map[string]any{"name": "k", "owner": map[string]any{"type": "service_account", "id": s["owner"]}})
			},
			before: ivNoneYet, after: "VALID"},
		{route: "PATCH /v1/service-accounts/{id}", name: "a disabled service account's keys are OWNER_INACTIVE",
			setup: ivWithKey(map[string]any{"name": "k"}, ivServiceAccount), probe: ivCode(""),
			change: ivRequest(200, "PATCH", "/v1/service-accounts/{id}", map[string]any{"status": "disabled"}),
			before: "VALID", after: "OWNER_INACTIVE"},
		ivDeletedOwner("/v1/service-accounts/{id}", "service account", ivServiceAccount),

		// ---- roles ----
		// A key of the account verified before the change, so the account's
		// roles are cached on every node; the change then gives a key the
		// role (the old code forgot to tell the caches of a created role).
		{route: "POST /v1/roles", name: "a key whose role was just created has the role's scopes",
			setup: ivWithKey(restrictedNone), probe: ivCode("documents:read", "scopes"),
			change: func(t *testing.T, a *testEnv, s ivState) {
				ivRole("fresh", ivDocsRead)(t, a, s)
				_, s["secret"] = apiKey(t, a, nil, map[string]any{"name": "k", "permission_mode": "restricted", "scopes": []any{}, "roles": []string{"fresh"}})
			},
			before: "INSUFFICIENT_PERMISSIONS scopes=[]", after: "VALID scopes=[map[access:read resource:documents targets:[*]]]"},
		{route: "PATCH /v1/roles/{name}", name: "a role's new scopes reach the keys holding it",
			setup:  ivWithKey(map[string]any{"name": "k", "permission_mode": "restricted", "scopes": []any{}, "roles": []string{"r"}}, ivRole("r", ivDocsRead)),
			probe:  ivCode("documents:read"),
			change: ivRequest(200, "PATCH", "/v1/roles/r", map[string]any{"scopes": []any{map[string]any{"resource": "webhooks", "access": "read"}}}),
			before: "VALID", after: "INSUFFICIENT_PERMISSIONS"},
		// Keys and users holding a role keep it from being deleted, so what a
		// deletion can make stale is the account's cached roles: a key given
		// the name again must get the new role's scopes.
		{route: "DELETE /v1/roles/{name}", name: "a role deleted and made again with other scopes grants the new ones",
			setup: ivWithKey(restrictedNone, ivRole("r", ivDocsRead)), probe: ivCode("documents:read"),
			change: func(t *testing.T, a *testEnv, s ivState) {
				must(t, a, 204, req{Method: "DELETE", Path: "/v1/roles/r", Body: nil})
				ivRole("r", []any{map[string]any{"resource": "webhooks", "access": "read"}})(t, a, s)
				_, s["secret"] = apiKey(t, a, nil, map[string]any{"name": "k", "permission_mode": "restricted", "scopes": []any{}, "roles": []string{"r"}})
			},
			before: "INSUFFICIENT_PERMISSIONS", after: "INSUFFICIENT_PERMISSIONS"},

		// ---- projects (verification reads none: a key carries its project id) ----
		{route: "POST /v1/projects", name: "a new project's keys verify at once",
			setup: ivNone, probe: ivCode("", "project_id"),
			change: func(t *testing.T, a *testEnv, s ivState) {
				ivProject(t, a, s)
				_, s["secret"] = apiKey(t, a, nil, map[string]any{"name": "k", "project_id": s["project"]})
			},
			before: ivNoneYet, after: "VALID project_id=<project>"},
		{route: "PATCH /v1/projects/{id}", name: "a renamed project's keys still verify",
			setup: ivWithKey(map[string]any{"name": "k"}, ivProject), probe: ivCode("", "project_id"),
			change: ivRequest(200, "PATCH", "/v1/projects/{id}", map[string]any{"name": "p2"}),
			before: "VALID project_id=<project>", after: "VALID project_id=<project>"},
		ivDeletedOwner("/v1/projects/{id}", "project", ivProject),

		// ---- the catalog ----
		{route: "PUT /v1/catalog/resources/{id}", name: "a new resource is granted to keys in mode all at once",
			setup: ivWithKey(map[string]any{"name": "k"}), probe: ivCode("widgets:write"),
			change: func(t *testing.T, a *testEnv, s ivState) { ivWidgets(t, a, s) },
			before: "INSUFFICIENT_PERMISSIONS", after: "VALID"},
		{route: "DELETE /v1/catalog/resources/{id}", name: "a removed resource is no longer granted to keys in mode all",
			setup: ivWithKey(map[string]any{"name": "k"}, ivWidgets), probe: ivCode("widgets:read"),
			change: ivRequest(204, "DELETE", "/v1/catalog/resources/widgets", nil),
			before: "VALID", after: "INSUFFICIENT_PERMISSIONS"},
	}
}

// ivDeletedOwner is the case of the route deleting the owner of a key
// (path, what the owners made by owner are): the keys are REVOKED.
func ivDeletedOwner(path, what string, owner ...func(*testing.T, *testEnv, ivState)) ivCase {
	return ivCase{route: "DELETE " + path, name: "a deleted " + what + "'s keys are REVOKED",
		setup: ivWithKey(map[string]any{"name": "k"}, owner...), probe: ivCode(""),
		change: ivRequest(204, "DELETE", path, nil),
		before: "VALID", after: "REVOKED"}
}

// ivExpand fills <name> in an expectation from the case's state.
func ivExpand(want string, s ivState) string {
	if i := strings.Index(want, "<"); i >= 0 {
		if j := strings.Index(want[i:], ">"); j > 0 {
			return want[:i] + s[want[i+1:i+j]] + want[i+j+1:]
		}
	}
	return want
}

// TestEveryChangeReachesVerification runs every case across two nodes on
// the suite's store: two servers on one PostgreSQL schema, or two
// processes' handles on one SQLite file (the file's invalidation feed).
func TestEveryChangeReachesVerification(t *testing.T) {
	cases := ivCases()
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.route] = true
	}
	// Every mutating route of the management API has a case.
	probe := newEnv(t)
	for _, r := range probe.HTTP.Routes() {
		method, _, _ := strings.Cut(r, " ")
		if method == "GET" || r == "POST /v1/keys/verify" {
			continue
		}
		if !covered[r] {
			t.Errorf("route %s changes something but has no case here: add one (what does the next verification see?)", r)
		}
	}
	for _, c := range cases {
		t.Run(c.route+": "+c.name, func(t *testing.T) {
			a := newEnv(t)
			nodes := []*testEnv{a, ivSecondNode(t, a)}
			s := c.setup(t, a)
			for i, n := range nodes {
				if got, want := c.probe(t, n, s), ivExpand(c.before, s); got != want {
					t.Fatalf("node %d before the change: %s, want %s", i, got, want)
				}
			}
			c.change(t, a, s)
			want := ivExpand(c.after, s)
			if got := c.probe(t, a, s); got != want {
				t.Fatalf("the node that made the change: next verification %s, want %s", got, want)
			}
			for i, n := range nodes[1:] {
				start := time.Now()
				for {
					got := c.probe(t, n, s)
					if got == want {
						t.Logf("node %d saw the change after %v", i+1, time.Since(start).Round(time.Millisecond))
						break
					}
					if time.Since(start) > 2*time.Second {
						t.Fatalf("node %d: %s 2s after the change, want %s", i+1, got, want)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
}

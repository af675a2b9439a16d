package http_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// This file tests /v1/accounts from the outside: create, settings and their
// effect on the keys of the account, the catalog templates, validation,
// PATCH rules, If-Match, pagination, delete (with its cascade) and who may
// call these routes at all. Shared ai* helpers are here too.

// aiHdr returns the X-Account-Id header naming acct.
func aiHdr(acct string) map[string]string { return map[string]string{"X-Account-Id": acct} }

// aiInvalid checks that res is a 422 validation_failed naming field.
func aiInvalid(t *testing.T, res *resp, field string) {
	t.Helper()
	p := pxProblem(t, res, http.StatusUnprocessableEntity, "validation_failed")
	if p != nil && !pxNames(p, field) {
		t.Errorf("the 422 does not name %q: errors %v\n%s", field, fields(p), short(res.Body))
	}
}

// aiIn returns t formatted for a request: d from now, RFC 3339 in UTC.
func aiIn(d time.Duration) string { return time.Now().UTC().Add(d).Format(time.RFC3339) }

// aiTime parses a timestamp member of a JSON object (zero if null).
func aiTime(t *testing.T, m map[string]any, member string) time.Time {
	t.Helper()
	s, ok := m[member].(string)
	if !ok {
		if m[member] != nil {
			t.Fatalf("%s is %v, want a timestamp or null", member, m[member])
		}
		return time.Time{}
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%s = %q: %v", member, s, err)
	}
	return ts
}

func TestAiAccountCreate(t *testing.T) {
	e := newEnv(t)
	res := must(t, e, 201, req{Method: "POST", Path: "/v1/accounts", Body: map[string]any{"name": "ai acme"}})
	a := res.JSON(t)
	id, _ := a["id"].(string)
	if !keyward.ValidID(keyward.PrefixAccount, id) {
		t.Fatalf("id %q is not an acc_ id", id)
	}
	if loc := res.Header.Get("Location"); loc != "/v1/accounts/"+id {
		t.Errorf("Location %q, want /v1/accounts/%s", loc, id)
	}
	if et := res.Header.Get("ETag"); et == "" || et != `"`+fmt.Sprint(a["etag"])+`"` {
		t.Errorf("ETag header %q, body etag %v", et, a["etag"])
	}
	want := map[string]any{
		"name": "ai acme", "default_prefix": "kw", "catalog_template": "default", "default_permission_mode": "all",
		"max_key_lifetime": nil, "require_expiry": false, "default_key_lifetime": nil,
	}
	for k, v := range want {
		if got, ok := a[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if c, u := aiTime(t, a, "created_at"), aiTime(t, a, "updated_at"); c.IsZero() || !c.Equal(u) {
		t.Errorf("created_at %v, updated_at %v", c, u)
	}

	got := must(t, e, 200, req{Method: "GET", Path: "/v1/accounts/" + id})
	if g := got.JSON(t); fmt.Sprint(g) != fmt.Sprint(a) {
		t.Errorf("GET returns %v, create returned %v", g, a)
	}
	if got.Header.Get("ETag") != res.Header.Get("ETag") {
		t.Errorf("GET ETag %q, create ETag %q", got.Header.Get("ETag"), res.Header.Get("ETag"))
	}

	k := newKey(t, e, aiHdr(id), map[string]any{"name": "ai k"})
	if k["account_id"] != id || k["prefix"] != "kw" || !strings.HasPrefix(k["secret"].(string), "kw_") ||
		k["permission_mode"] != "all" || k["expires_at"] != nil {
		t.Errorf("key in the new account: %v", k)
	}
	if v := verify(t, e, nil, map[string]any{"key": k["secret"]}); v["valid"] != true || v["account_id"] != id {
		t.Errorf("the new account's key verifies as %v", v)
	}
	evs := events(t, e, "action=account.created", aiHdr(id))
	if len(evs) != 1 || evs[0]["target"].(map[string]any)["id"] != id {
		t.Errorf("account.created events in the new account: %v", evs)
	}
	// The new account starts with the default template's catalog.
	cat := must(t, e, 200, req{Method: "GET", Path: "/v1/catalog", Header: aiHdr(id)}).JSON(t)
	if ids := aiResourceIDs(cat); !slices.Equal(ids, []string{"billing", "documents", "events", "files", "search", "usage", "webhooks"}) {
		t.Errorf("new account's catalog: %v", ids)
	}
}

func aiResourceIDs(cat map[string]any) []string {
	var ids []string
	for _, r := range cat["resources"].([]any) {
		ids = append(ids, r.(map[string]any)["id"].(string))
	}
	sort.Strings(ids)
	return ids
}

// TestAiAccountSettings: each setting shows in the account and shapes the
// keys created in that account (and only there).
func TestAiAccountSettings(t *testing.T) {
	e := newEnv(t)
	def := defaultAccount(t, e)

	t.Run("default_prefix", func(t *testing.T) {
		a := create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai prefix", "default_prefix": "acme7"})
		id := a["id"].(string)
		if a["default_prefix"] != "acme7" {
			t.Fatalf("default_prefix %v", a["default_prefix"])
		}
		k := newKey(t, e, aiHdr(id), map[string]any{"name": "k"})
		if k["prefix"] != "acme7" || !strings.HasPrefix(k["secret"].(string), "acme7_") || !strings.HasPrefix(k["start"].(string), "acme7_") {
			t.Errorf("key prefix %v start %v", k["prefix"], k["start"])
		}
		if v := verify(t, e, aiHdr(id), map[string]any{"key": k["secret"]}); v["code"] != "VALID" {
			t.Errorf("verify: %v", v)
		}
		// An explicit prefix wins; management keys keep kwm.
		if k := newKey(t, e, aiHdr(id), map[string]any{"name": "k2", "prefix": "own"}); k["prefix"] != "own" {
			t.Errorf("explicit prefix: %v", k["prefix"])
		}
		_, mk := mgmtKey(t, e, id, keyward.PermKeysRead)
		if !strings.HasPrefix(mk, "kwm_") {
			t.Errorf("management key token %q… does not start with kwm_", mk[:6])
		}
		// PATCH changes later keys only.
		must(t, e, 200, req{Method: "PATCH", Path: "/v1/accounts/" + id, Body: map[string]any{"default_prefix": "beta"}})
		if k2 := newKey(t, e, aiHdr(id), map[string]any{"name": "k3"}); k2["prefix"] != "beta" {
			t.Errorf("after PATCH: prefix %v", k2["prefix"])
		}
		if g := must(t, e, 200, req{Method: "GET", Path: "/v1/keys/" + k["id"].(string), Header: aiHdr(id)}).JSON(t); g["prefix"] != "acme7" {
			t.Errorf("an existing key's prefix changed to %v", g["prefix"])
		}
		if k := newKey(t, e, aiHdr(def), map[string]any{"name": "k"}); k["prefix"] != "kw" {
			t.Errorf("the default account's keys got prefix %v", k["prefix"])
		}
	})

	t.Run("default_permission_mode", func(t *testing.T) {
		for _, mode := range []string{"all", "read_only", "restricted"} {
			t.Run(mode, func(t *testing.T) {
				a := create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai mode " + mode, "default_permission_mode": mode})
				id := a["id"].(string)
				if a["default_permission_mode"] != mode {
					t.Fatalf("default_permission_mode %v", a["default_permission_mode"])
				}
				body := map[string]any{"name": "k"}
				if mode == "restricted" {
					// restricted needs its scopes named, even by default.
					aiInvalid(t, e.do(req{Method: "POST", Path: "/v1/keys", Header: aiHdr(id), Body: body}), "permission_mode")
					body["scopes"] = []any{map[string]any{"resource": "documents", "access": "read"}}
				} else {
					aiInvalid(t, e.do(req{Method: "POST", Path: "/v1/keys", Header: aiHdr(id),
						Body: map[string]any{"name": "k", "scopes": []any{map[string]any{"resource": "documents", "access": "read"}}}}), "scopes")
				}
				k := newKey(t, e, aiHdr(id), body)
				if k["permission_mode"] != mode {
					t.Errorf("key created without a mode has %v, want %s", k["permission_mode"], mode)
				}
				v := verify(t, e, aiHdr(id), map[string]any{"key": k["secret"], "permissions": "documents:write"})
				if wantValid := mode == "all"; v["valid"] != wantValid {
					t.Errorf("documents:write under %s: %v", mode, v)
				}
				if v := verify(t, e, aiHdr(id), map[string]any{"key": k["secret"], "permissions": "documents:read"}); v["valid"] != true {
					t.Errorf("documents:read under %s: %v", mode, v)
				}
				// An explicit mode wins; PUT without a mode takes the account's.
				k2 := newKey(t, e, aiHdr(id), map[string]any{"name": "k2", "permission_mode": "read_only"})
				if k2["permission_mode"] != "read_only" {
					t.Errorf("explicit mode: %v", k2["permission_mode"])
				}
				put := map[string]any{"name": "k2"}
				if mode == "restricted" {
					put["scopes"] = []any{}
				}
				if p := must(t, e, 200, req{Method: "PUT", Path: "/v1/keys/" + k2["id"].(string), Header: aiHdr(id), Body: put}).JSON(t); p["permission_mode"] != mode {
					t.Errorf("PUT without permission_mode: %v, want %s", p["permission_mode"], mode)
				}
			})
		}
		if k := newKey(t, e, aiHdr(def), map[string]any{"name": "k"}); k["permission_mode"] != "all" {
			t.Errorf("the default account's keys got %v", k["permission_mode"])
		}
	})

	t.Run("settings round trip", func(t *testing.T) {
		body := map[string]any{"name": "ai all settings", "default_prefix": "zz", "catalog_template": "discue",
			"default_permission_mode": "read_only", "max_key_lifetime": 86400, "require_expiry": true, "default_key_lifetime": 3600}
		a := create(t, e, nil, "/v1/accounts", body)
		g := must(t, e, 200, req{Method: "GET", Path: "/v1/accounts/" + a["id"].(string)}).JSON(t)
		for k, v := range body {
			if fmt.Sprint(g[k]) != fmt.Sprint(v) {
				t.Errorf("%s = %v, want %v", k, g[k], v)
			}
		}
	})
}

// aiRes is one catalog resource as a template defines it.
type aiRes struct {
	id, group       string
	read, write     bool
	single, protect bool
}

// aiTemplates are the catalog templates, written out from the vendors'
// permission models (not from the product code).
func aiTemplates() map[string][]aiRes {
	rw := func(group string, single, protect bool, ids ...string) []aiRes {
		var out []aiRes
		for _, id := range ids {
			out = append(out, aiRes{id: id, group: group, read: true, write: true, single: single, protect: protect})
		}
		return out
	}
	concat := func(parts ...[]aiRes) []aiRes {
		var out []aiRes
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	return map[string][]aiRes{
		"default": {
			{id: "documents", group: "data", read: true, write: true, single: true},
			{id: "files", group: "data", read: true, write: true, single: true},
			{id: "search", group: "data", read: true, single: true},
			{id: "webhooks", group: "integration", read: true, write: true, single: true},
			{id: "events", group: "integration", write: true, single: true},
			{id: "usage", group: "account", read: true},
			{id: "billing", group: "account", read: true, write: true, protect: true},
		},
		"orq": concat(
			rw("workspace_admin", false, true, "api-key", "billing", "sso"),
			rw("workspace_admin", false, false, "member", "group", "workspace"),
			[]aiRes{{id: "audit-log", group: "workspace_admin", read: true}},
			rw("platform", true, false, "agent", "agent-schedule", "annotation", "chunking", "dataset", "deployment", "eval", "file",
				"guardrail-rule", "identity", "knowledge", "memory-store", "policy", "project", "prompt", "routing-rule", "skill", "tool"),
			[]aiRes{
				{id: "chat_completions", group: "gateway", write: true, single: true},
				{id: "embeddings", group: "gateway", write: true, single: true},
				{id: "responses", group: "gateway", write: true, single: true},
				{id: "moderations", group: "gateway", write: true, single: true},
				{id: "images", group: "gateway", write: true, single: true},
				{id: "audio_speech", group: "gateway", write: true, single: true},
				{id: "audio_transcription", group: "gateway", write: true, single: true},
				{id: "realtime", group: "gateway", write: true, single: true},
				{id: "model", group: "gateway", read: true, single: true},
			},
		),
		"discue": concat(
			rw("organization", true, true, "api_clients", "api_keys", "subscriptions"),
			rw("messaging", true, false, "channels", "domains", "events", "listeners", "messages", "queues", "schemas", "stats", "topics"),
		),
		"pulsecrm": concat(
			rw("crm", false, false, "applications", "merchants", "crm"),
			rw("support", false, false, "support"),
			rw("administration", false, true, "api_keys"),
		),
		"vectara": concat(
			[]aiRes{{id: "corpus", group: "corpora", read: true, write: true, single: true},
				{id: "agents", group: "agents", read: true, write: true, single: true},
				{id: "pipelines", group: "pipelines", read: true, write: true, single: true}},
			rw("account", false, true, "billing", "users", "api_keys"),
		),
	}
}

// aiTemplateRoles are the roles each template starts with: name → sorted
// "resource:access:targets" scopes.
var aiTemplateRoles = map[string]map[string][]string{
	"default":  {},
	"orq":      {},
	"discue":   {},
	"pulsecrm": {},
	"vectara": {
		"serving":              {"corpus:read:*"},
		"serving_and_indexing": {"corpus:write:*"},
		"personal":             {"agents:write:*", "corpus:write:*", "pipelines:write:*"},
	},
}

func aiScopeStrings(scopes []any) []string {
	var out []string
	for _, s := range scopes {
		m := s.(map[string]any)
		var targets []string
		for _, tg := range m["targets"].([]any) {
			targets = append(targets, tg.(string))
		}
		out = append(out, fmt.Sprintf("%s:%s:%s", m["resource"], m["access"], strings.Join(targets, ",")))
	}
	sort.Strings(out)
	return out
}

// TestAiAccountCatalogTemplates: an account made from each template has
// exactly that template's catalog and roles, and the catalog governs what
// its keys can be granted: protected resources never, access levels only
// as supported, single-project keys only on resources that allow it.
func TestAiAccountCatalogTemplates(t *testing.T) {
	e := newEnv(t)
	for name, want := range aiTemplates() {
		t.Run(name, func(t *testing.T) {
			a := create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai tpl " + name, "catalog_template": name})
			id := a["id"].(string)
			if a["catalog_template"] != name {
				t.Fatalf("catalog_template %v", a["catalog_template"])
			}
			h := aiHdr(id)
			cat := must(t, e, 200, req{Method: "GET", Path: "/v1/catalog", Header: h}).JSON(t)
			got := map[string]map[string]any{}
			for _, r := range cat["resources"].([]any) {
				m := r.(map[string]any)
				got[m["id"].(string)] = m
			}
			var wantIDs []string
			for _, w := range want {
				wantIDs = append(wantIDs, w.id)
			}
			sort.Strings(wantIDs)
			if ids := aiResourceIDs(cat); !slices.Equal(ids, wantIDs) {
				t.Fatalf("resources %v\nwant %v", ids, wantIDs)
			}
			for _, w := range want {
				g := got[w.id]
				scopes := []any{"all"}
				if w.single {
					scopes = []any{"all", "single"}
				}
				if g["group"] != w.group || g["readable"] != w.read || g["writable"] != w.write || g["protected"] != w.protect ||
					fmt.Sprint(g["project_scopes"]) != fmt.Sprint(scopes) || g["display_name"] == "" {
					t.Errorf("resource %s = %v\nwant group %s readable %v writable %v protected %v project_scopes %v",
						w.id, g, w.group, w.read, w.write, w.protect, scopes)
				}
			}
			roles := map[string][]string{}
			for _, r := range cat["roles"].([]any) {
				m := r.(map[string]any)
				roles[m["name"].(string)] = aiScopeStrings(m["scopes"].([]any))
			}
			if fmt.Sprint(roles) != fmt.Sprint(aiTemplateRoles[name]) {
				t.Errorf("roles %v, want %v", roles, aiTemplateRoles[name])
			}
			listed := must(t, e, 200, req{Method: "GET", Path: "/v1/roles", Header: h}).JSON(t)["data"].([]any)
			if len(listed) != len(aiTemplateRoles[name]) {
				t.Errorf("GET /v1/roles lists %d roles, want %d", len(listed), len(aiTemplateRoles[name]))
			}

			// What the catalog lets keys be granted.
			prj := must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Header: h, Body: map[string]any{"name": "ai p"}}).JSON(t)["id"]
			for _, w := range want {
				for _, access := range []string{"read", "write"} {
					supported := (access == "read" && w.read) || (access == "write" && w.write)
					scope := []any{map[string]any{"resource": w.id, "access": access}}
					res := e.do(req{Method: "POST", Path: "/v1/keys", Header: h,
						Body: map[string]any{"name": "ai " + w.id, "permission_mode": "restricted", "scopes": scope}})
					switch {
					case w.protect:
						aiInvalid(t, res, "scopes[0].resource")
					case !supported:
						aiInvalid(t, res, "scopes[0]")
					case res.Status != 201:
						t.Errorf("%s:%s on an all-projects key: status %d\n%s", w.id, access, res.Status, short(res.Body))
					}
					if w.protect || !supported {
						continue
					}
					res = e.do(req{Method: "POST", Path: "/v1/keys", Header: h,
						Body: map[string]any{"name": "ai single " + w.id, "project_id": prj, "permission_mode": "restricted", "scopes": scope}})
					if w.single && res.Status != 201 {
						t.Errorf("%s:%s on a single-project key: status %d\n%s", w.id, access, res.Status, short(res.Body))
					} else if !w.single {
						aiInvalid(t, res, "scopes[0]")
					}
				}
			}
			// Mode all grants every non-protected resource at its highest
			// level, nothing protected.
			all := newKey(t, e, aiHdr(id), map[string]any{"name": "ai all"})
			for _, w := range want {
				level := "read"
				if w.write {
					level = "write"
				}
				v := verify(t, e, h, map[string]any{"key": all["secret"], "permissions": w.id + ":" + level})
				if v["valid"] == w.protect {
					t.Errorf("mode all, %s:%s (protected %v): %v", w.id, level, w.protect, v["code"])
				}
			}
		})
	}

	t.Run("vectara roles grant their documented power", func(t *testing.T) {
		a := create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai vectara roles", "catalog_template": "vectara"})
		h := aiHdr(a["id"].(string))
		cases := []struct {
			role       string
			ok, denied []string
		}{
			{"serving", []string{"corpus:read", "corpus:read:ck_1"}, []string{"corpus:write", "agents:read", "pipelines:read"}},
			{"serving_and_indexing", []string{"corpus:write", "corpus:read", "corpus:write:ck_9"}, []string{"agents:read", "pipelines:write"}},
			{"personal", []string{"agents:write", "corpus:write", "pipelines:write"}, []string{"billing:read", "users:read", "api_keys:read"}},
		}
		for _, c := range cases {
			k := newKey(t, e, aiHdr(a["id"].(string)), map[string]any{"name": "ai " + c.role, "permission_mode": "restricted", "roles": []string{c.role}})
			for _, q := range c.ok {
				if v := verify(t, e, h, map[string]any{"key": k["secret"], "permissions": q}); v["code"] != "VALID" {
					t.Errorf("role %s, %s: %v", c.role, q, v["code"])
				}
			}
			for _, q := range c.denied {
				if v := verify(t, e, h, map[string]any{"key": k["secret"], "permissions": q}); v["code"] != "INSUFFICIENT_PERMISSIONS" {
					t.Errorf("role %s, %s: %v, want INSUFFICIENT_PERMISSIONS", c.role, q, v["code"])
				}
			}
		}
		// The template's roles are the account's own: another account
		// does not have them.
		aiInvalid(t, e.do(req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "k", "permission_mode": "restricted", "roles": []string{"serving"}}}), "roles[0]")
	})
}

// TestAiAccountExpiryPolicy: max_key_lifetime, require_expiry and
// default_key_lifetime hold on every way a key's expiry is set in that
// account: create, PATCH, PUT and rotate.
func TestAiAccountExpiryPolicy(t *testing.T) {
	e := newEnv(t)
	def := defaultAccount(t, e)
	keyPath := func(k map[string]any) string { return "/v1/keys/" + k["id"].(string) }

	// policyAccount makes an account with keys made before the policy: one
	// that never expires and one that expires in 3 hours; then sets policy.
	policyAccount := func(t *testing.T, name string, policy map[string]any) (id string, never, far map[string]any) {
		t.Helper()
		id = create(t, e, nil, "/v1/accounts", map[string]any{"name": name})["id"].(string)
		never = newKey(t, e, aiHdr(id), map[string]any{"name": "ai never"})
		far = newKey(t, e, aiHdr(id), map[string]any{"name": "ai far", "expires_at": aiIn(3 * time.Hour)})
		must(t, e, 200, req{Method: "PATCH", Path: "/v1/accounts/" + id, Body: policy})
		return id, never, far
	}

	t.Run("max_key_lifetime", func(t *testing.T) {
		id, never, far := policyAccount(t, "ai max", map[string]any{"max_key_lifetime": 3600})
		h := aiHdr(id)
		post := func(body map[string]any) *resp {
			return e.do(req{Method: "POST", Path: "/v1/keys", Header: h, Body: body})
		}
		aiInvalid(t, post(map[string]any{"name": "no expiry"}), "expires_at")
		aiInvalid(t, post(map[string]any{"name": "null expiry", "expires_at": nil}), "expires_at")
		aiInvalid(t, post(map[string]any{"name": "cleared", "clear_expires_at": true}), "expires_at")
		aiInvalid(t, post(map[string]any{"name": "too far", "expires_at": aiIn(2 * time.Hour)}), "expires_at")
		aiInvalid(t, post(map[string]any{"name": "past", "expires_at": aiIn(-time.Minute)}), "expires_at")
		aiInvalid(t, e.do(req{Method: "POST", Path: "/v1/management-keys", Header: h,
			Body: map[string]any{"name": "mk", "permissions": []string{"keys:read"}}}), "expires_at")
		ok := newKey(t, e, aiHdr(id), map[string]any{"name": "ok", "expires_at": aiIn(30 * time.Minute)})

		before := dump(t, e)
		aiInvalid(t, e.do(req{Method: "PATCH", Path: keyPath(ok), Header: h, Body: map[string]any{"expires_at": aiIn(2 * time.Hour)}}), "expires_at")
		aiInvalid(t, e.do(req{Method: "PATCH", Path: keyPath(ok), Header: h, Body: map[string]any{"expires_at": nil}}), "expires_at")
		aiInvalid(t, e.do(req{Method: "PATCH", Path: keyPath(ok), Header: h, Body: map[string]any{"clear_expires_at": true}}), "expires_at")
		aiInvalid(t, e.do(req{Method: "PUT", Path: keyPath(ok), Header: h, Body: map[string]any{"name": "ok"}}), "expires_at")
		aiInvalid(t, e.do(req{Method: "PUT", Path: keyPath(ok), Header: h, Body: map[string]any{"name": "ok", "expires_at": aiIn(5 * time.Hour)}}), "expires_at")
		aiInvalid(t, e.do(req{Method: "POST", Path: keyPath(never) + "/rotate", Header: h, Body: map[string]any{}}), "expires_at")
		aiInvalid(t, e.do(req{Method: "POST", Path: keyPath(far) + "/rotate", Header: h, Body: map[string]any{}}), "expires_at")
		aiInvalid(t, e.do(req{Method: "POST", Path: keyPath(ok) + "/rotate", Header: h, Body: map[string]any{"expires_at": aiIn(2 * time.Hour)}}), "expires_at")
		aiInvalid(t, e.do(req{Method: "POST", Path: keyPath(ok) + "/rotate", Header: h, Body: map[string]any{"expires_at": aiIn(-time.Hour)}}), "expires_at")
		unchanged(t, e, before, "requests refused by max_key_lifetime")

		must(t, e, 200, req{Method: "PATCH", Path: keyPath(ok), Header: h, Body: map[string]any{"expires_at": aiIn(50 * time.Minute)}})
		must(t, e, 200, req{Method: "PUT", Path: keyPath(ok), Header: h, Body: map[string]any{"name": "ok", "expires_at": aiIn(40 * time.Minute)}})
		must(t, e, 200, req{Method: "POST", Path: keyPath(ok) + "/rotate", Header: h, Body: map[string]any{}})
		r := must(t, e, 200, req{Method: "POST", Path: keyPath(never) + "/rotate", Header: h, Body: map[string]any{"expires_at": aiIn(20 * time.Minute)}}).JSON(t)
		if exp := aiTime(t, r, "expires_at"); exp.IsZero() || exp.After(time.Now().Add(21*time.Minute)) {
			t.Errorf("rotation with expires_at: the key expires at %v", exp)
		}
		// A change that does not touch the expiry is not refused.
		must(t, e, 200, req{Method: "PATCH", Path: keyPath(far), Header: h, Body: map[string]any{"name": "ai far renamed"}})
		// Another account's keys are not under this policy.
		newKey(t, e, aiHdr(def), map[string]any{"name": "ai default never"})
	})

	t.Run("require_expiry", func(t *testing.T) {
		id, never, _ := policyAccount(t, "ai require", map[string]any{"require_expiry": true})
		h := aiHdr(id)
		aiInvalid(t, e.do(req{Method: "POST", Path: "/v1/keys", Header: h, Body: map[string]any{"name": "no expiry"}}), "expires_at")
		aiInvalid(t, e.do(req{Method: "POST", Path: "/v1/keys", Header: h, Body: map[string]any{"name": "cleared", "clear_expires_at": true}}), "expires_at")
		aiInvalid(t, e.do(req{Method: "POST", Path: "/v1/management-keys", Header: h,
			Body: map[string]any{"name": "mk", "permissions": []string{"keys:read"}}}), "expires_at")
		// No maximum: a far expiry is fine.
		k := newKey(t, e, aiHdr(id), map[string]any{"name": "far", "expires_at": aiIn(10 * 365 * 24 * time.Hour)})
		before := dump(t, e)
		aiInvalid(t, e.do(req{Method: "PATCH", Path: keyPath(k), Header: h, Body: map[string]any{"expires_at": nil}}), "expires_at")
		aiInvalid(t, e.do(req{Method: "PATCH", Path: keyPath(k), Header: h, Body: map[string]any{"clear_expires_at": true}}), "expires_at")
		aiInvalid(t, e.do(req{Method: "PUT", Path: keyPath(k), Header: h, Body: map[string]any{"name": "far"}}), "expires_at")
		aiInvalid(t, e.do(req{Method: "POST", Path: keyPath(never) + "/rotate", Header: h, Body: map[string]any{}}), "expires_at")
		unchanged(t, e, before, "requests refused by require_expiry")
		must(t, e, 200, req{Method: "PUT", Path: keyPath(k), Header: h, Body: map[string]any{"name": "far", "expires_at": aiIn(time.Hour)}})
		must(t, e, 200, req{Method: "POST", Path: keyPath(k) + "/rotate", Header: h, Body: map[string]any{}})
		must(t, e, 200, req{Method: "POST", Path: keyPath(never) + "/rotate", Header: h, Body: map[string]any{"expires_at": aiIn(time.Hour)}})
		newKey(t, e, aiHdr(def), map[string]any{"name": "ai default never"})
	})

	t.Run("default_key_lifetime", func(t *testing.T) {
		id := create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai default lifetime", "default_key_lifetime": 600})["id"].(string)
		h := aiHdr(id)
		within := func(t *testing.T, k map[string]any, from, to time.Time) {
			t.Helper()
			exp := aiTime(t, k, "expires_at")
			if exp.Before(from.Add(-time.Second)) || exp.After(to.Add(time.Second)) {
				t.Errorf("expires_at %v, want between %v and %v", exp, from, to)
			}
		}
		start := time.Now()
		k := newKey(t, e, aiHdr(id), map[string]any{"name": "defaulted"})
		within(t, k, start.Add(600*time.Second), time.Now().Add(600*time.Second))
		mk := must(t, e, 201, req{Method: "POST", Path: "/v1/management-keys", Header: h,
			Body: map[string]any{"name": "mk", "permissions": []string{"keys:read"}}}).JSON(t)
		within(t, mk, start.Add(600*time.Second), time.Now().Add(600*time.Second))
		explicit := newKey(t, e, aiHdr(id), map[string]any{"name": "explicit", "expires_at": aiIn(2 * time.Hour)})
		within(t, explicit, start.Add(2*time.Hour-time.Second), time.Now().Add(2*time.Hour))
		if c := newKey(t, e, aiHdr(id), map[string]any{"name": "cleared", "clear_expires_at": true}); c["expires_at"] != nil {
			t.Errorf("clear_expires_at at create: expires_at %v", c["expires_at"])
		}
		if c := newKey(t, e, aiHdr(id), map[string]any{"name": "null", "expires_at": nil}); c["expires_at"] != nil {
			t.Errorf("expires_at null at create: %v", c["expires_at"])
		}
		// PATCH leaves the expiry alone; PUT without one gives the default again.
		p := must(t, e, 200, req{Method: "PATCH", Path: keyPath(explicit), Header: h, Body: map[string]any{"name": "renamed"}}).JSON(t)
		if p["expires_at"] != explicit["expires_at"] {
			t.Errorf("PATCH changed expires_at %v → %v", explicit["expires_at"], p["expires_at"])
		}
		start = time.Now()
		p = must(t, e, 200, req{Method: "PUT", Path: keyPath(explicit), Header: h, Body: map[string]any{"name": "replaced"}}).JSON(t)
		within(t, p, start.Add(600*time.Second), time.Now().Add(600*time.Second))
		r := must(t, e, 200, req{Method: "POST", Path: keyPath(k) + "/rotate", Header: h, Body: map[string]any{}}).JSON(t)
		if r["expires_at"] != k["expires_at"] {
			t.Errorf("rotation changed expires_at %v → %v", k["expires_at"], r["expires_at"])
		}
		// Another account's keys get no default expiry.
		if d := newKey(t, e, aiHdr(def), map[string]any{"name": "ai default"}); d["expires_at"] != nil {
			t.Errorf("the default account's key got expires_at %v", d["expires_at"])
		}
	})

	t.Run("default_key_lifetime with require_expiry and max_key_lifetime", func(t *testing.T) {
		id := create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai all three", "default_key_lifetime": 600, "require_expiry": true, "max_key_lifetime": 3600})["id"].(string)
		h := aiHdr(id)
		k := newKey(t, e, aiHdr(id), map[string]any{"name": "defaulted"})
		if k["expires_at"] == nil {
			t.Fatal("no default expiry")
		}
		aiInvalid(t, e.do(req{Method: "POST", Path: "/v1/keys", Header: h, Body: map[string]any{"name": "cleared", "clear_expires_at": true}}), "expires_at")
		aiInvalid(t, e.do(req{Method: "POST", Path: "/v1/keys", Header: h, Body: map[string]any{"name": "far", "expires_at": aiIn(2 * time.Hour)}}), "expires_at")
		must(t, e, 200, req{Method: "PUT", Path: keyPath(k), Header: h, Body: map[string]any{"name": "replaced"}})
	})
}

// TestAiAccountValidation: every invalid account body is a 422 naming each
// offending field, and writes nothing.
func TestAiAccountValidation(t *testing.T) {
	e := newEnv(t)
	acct := create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai valid"})
	id := acct["id"].(string)
	long := strings.Repeat("n", keyward.MaxNameLen+1)
	type c struct {
		name   string
		body   string
		fields []string
	}
	common := []c{
		{"name empty", `{"name":""}`, []string{"name"}},
		{"name blank", `{"name":"   "}`, []string{"name"}},
		{"name too long", `{"name":"` + long + `"}`, []string{"name"}},
		{"name null", `{"name":null}`, []string{"name"}},
		{"name wrong type", `{"name":5}`, []string{"name"}},
		{"prefix upper case", `{"name":"ai x","default_prefix":"KW"}`, []string{"default_prefix"}},
		{"prefix digit first", `{"name":"ai x","default_prefix":"1kw"}`, []string{"default_prefix"}},
		{"prefix underscore", `{"name":"ai x","default_prefix":"k_w"}`, []string{"default_prefix"}},
		{"prefix too long", `{"name":"ai x","default_prefix":"` + strings.Repeat("a", 17) + `"}`, []string{"default_prefix"}},
		{"prefix empty", `{"name":"ai x","default_prefix":""}`, []string{"default_prefix"}},
		{"prefix null", `{"name":"ai x","default_prefix":null}`, []string{"default_prefix"}},
		{"prefix wrong type", `{"name":"ai x","default_prefix":true}`, []string{"default_prefix"}},
		{"mode unknown", `{"name":"ai x","default_permission_mode":"admin"}`, []string{"default_permission_mode"}},
		{"mode empty", `{"name":"ai x","default_permission_mode":""}`, []string{"default_permission_mode"}},
		{"mode null", `{"name":"ai x","default_permission_mode":null}`, []string{"default_permission_mode"}},
		{"max zero", `{"name":"ai x","max_key_lifetime":0}`, []string{"max_key_lifetime"}},
		{"max negative", `{"name":"ai x","max_key_lifetime":-1}`, []string{"max_key_lifetime"}},
		{"max over 100 years", fmt.Sprintf(`{"name":"ai x","max_key_lifetime":%d}`, keyward.MaxLifetimeSeconds+1), []string{"max_key_lifetime"}},
		{"max string", `{"name":"ai x","max_key_lifetime":"3600"}`, []string{"max_key_lifetime"}},
		{"max fraction", `{"name":"ai x","max_key_lifetime":1.5}`, []string{"max_key_lifetime"}},
		{"default lifetime zero", `{"name":"ai x","default_key_lifetime":0}`, []string{"default_key_lifetime"}},
		{"default lifetime negative", `{"name":"ai x","default_key_lifetime":-5}`, []string{"default_key_lifetime"}},
		{"default lifetime too long", fmt.Sprintf(`{"name":"ai x","default_key_lifetime":%d}`, keyward.MaxLifetimeSeconds+1), []string{"default_key_lifetime"}},
		{"default lifetime array", `{"name":"ai x","default_key_lifetime":[]}`, []string{"default_key_lifetime"}},
		{"default lifetime beyond max", `{"name":"ai x","max_key_lifetime":100,"default_key_lifetime":200}`, []string{"default_key_lifetime"}},
		{"require_expiry null", `{"name":"ai x","require_expiry":null}`, []string{"require_expiry"}},
		{"require_expiry string", `{"name":"ai x","require_expiry":"true"}`, []string{"require_expiry"}},
		{"several at once", `{"name":"","default_prefix":"X","max_key_lifetime":0,"default_permission_mode":"x"}`,
			[]string{"name", "default_prefix", "max_key_lifetime", "default_permission_mode"}},
	}
	create := append([]c{
		{"name missing", `{}`, []string{"name"}},
		{"name missing with settings", `{"default_prefix":"ab"}`, []string{"name"}},
		{"template unknown", `{"name":"ai x","catalog_template":"nope"}`, []string{"catalog_template"}},
		{"template case", `{"name":"ai x","catalog_template":"Default"}`, []string{"catalog_template"}},
		{"template empty", `{"name":"ai x","catalog_template":""}`, []string{"catalog_template"}},
		{"template null", `{"name":"ai x","catalog_template":null}`, []string{"catalog_template"}},
		{"template wrong type", `{"name":"ai x","catalog_template":1}`, []string{"catalog_template"}},
	}, common...)
	patch := append([]c{
		{"template change", `{"catalog_template":"orq"}`, []string{"catalog_template"}},
		{"template null", `{"catalog_template":null}`, []string{"catalog_template"}},
		{"template unknown", `{"catalog_template":"nope"}`, []string{"catalog_template"}},
		{"max below the default lifetime", `{"max_key_lifetime":10,"default_key_lifetime":20}`, []string{"default_key_lifetime"}},
	}, common...)
	for _, set := range []struct {
		method, path string
		cases        []c
	}{{"POST", "/v1/accounts", create}, {"PATCH", "/v1/accounts/" + id, patch}} {
		for _, tc := range set.cases {
			t.Run(set.method+" "+tc.name, func(t *testing.T) {
				before := dump(t, e)
				res := e.do(req{Method: set.method, Path: set.path, Body: tc.body})
				for _, f := range tc.fields {
					aiInvalid(t, res, f)
				}
				unchanged(t, e, before, tc.name)
			})
		}
	}
	t.Run("PATCH the template to its own value is a no-op", func(t *testing.T) {
		g := must(t, e, 200, req{Method: "PATCH", Path: "/v1/accounts/" + id, Body: map[string]any{"catalog_template": "default"}}).JSON(t)
		if g["etag"] != acct["etag"] {
			t.Errorf("etag %v → %v", acct["etag"], g["etag"])
		}
	})
	t.Run("the template stays after a refused change", func(t *testing.T) {
		for _, tpl := range []string{"orq", "discue", "pulsecrm", "vectara"} {
			aiInvalid(t, e.do(req{Method: "PATCH", Path: "/v1/accounts/" + id, Body: map[string]any{"catalog_template": tpl}}), "catalog_template")
		}
		if g := must(t, e, 200, req{Method: "GET", Path: "/v1/accounts/" + id}).JSON(t); g["catalog_template"] != "default" {
			t.Errorf("catalog_template %v", g["catalog_template"])
		}
	})
	t.Run("unknown member", func(t *testing.T) {
		before := dump(t, e)
		p := pxProblem(t, e.do(req{Method: "POST", Path: "/v1/accounts", Body: `{"name":"ai u","bogus":1}`}), 400, "unknown_field")
		if p != nil && !pxNames(p, "bogus") {
			t.Errorf("does not name bogus: %v", fields(p))
		}
		unchanged(t, e, before, "unknown member")
	})
}

// TestAiAccountDuplicateName: account names are unique (409 duplicate).
func TestAiAccountDuplicateName(t *testing.T) {
	e := newEnv(t)
	a := create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai dup"})
	b := create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai other"})
	before := dump(t, e)
	pxProblem(t, e.do(req{Method: "POST", Path: "/v1/accounts", Body: map[string]any{"name": "ai dup", "catalog_template": "orq"}}), 409, "duplicate")
	pxProblem(t, e.do(req{Method: "POST", Path: "/v1/accounts", Body: map[string]any{"name": keyward.DefaultAccountName}}), 409, "duplicate")
	pxProblem(t, e.do(req{Method: "PATCH", Path: "/v1/accounts/" + b["id"].(string), Body: map[string]any{"name": "ai dup"}}), 409, "duplicate")
	pxProblem(t, e.do(req{Method: "PATCH", Path: "/v1/accounts/" + b["id"].(string), Body: map[string]any{"name": keyward.DefaultAccountName}}), 409, "duplicate")
	unchanged(t, e, before, "duplicate names")
	// Renaming to its own name is a no-op, and a freed name can be taken.
	must(t, e, 200, req{Method: "PATCH", Path: "/v1/accounts/" + a["id"].(string), Body: map[string]any{"name": "ai dup"}})
	must(t, e, 200, req{Method: "PATCH", Path: "/v1/accounts/" + a["id"].(string), Body: map[string]any{"name": "ai dup 2"}})
	create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai dup"})
}

// TestAiAccountPatch: PATCH rules on accounts: {} and same values change
// nothing; absent members stay; null clears the lifetimes and is a 422 for
// members that cannot be empty; values replace; If-Match.
func TestAiAccountPatch(t *testing.T) {
	e := newEnv(t)
	a := create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai patch", "default_prefix": "abc", "default_permission_mode": "read_only",
		"max_key_lifetime": 7200, "require_expiry": true, "default_key_lifetime": 600})
	id, path := a["id"].(string), "/v1/accounts/"+a["id"].(string)
	updates := func() int { return len(events(t, e, "action=account.updated", aiHdr(id))) }

	t.Run("no-ops", func(t *testing.T) {
		for _, body := range []map[string]any{{}, {"name": "ai patch", "default_prefix": "abc", "max_key_lifetime": 7200, "require_expiry": true}} {
			before := dump(t, e)
			res := must(t, e, 200, req{Method: "PATCH", Path: path, Body: body})
			if g := res.JSON(t); fmt.Sprint(g) != fmt.Sprint(a) {
				t.Errorf("PATCH %v answered %v, want the account as it was %v", body, g, a)
			}
			if res.Header.Get("ETag") != `"`+a["etag"].(string)+`"` {
				t.Errorf("ETag %q", res.Header.Get("ETag"))
			}
			unchanged(t, e, before, fmt.Sprintf("PATCH %v", body))
		}
	})

	t.Run("null for members that cannot be empty", func(t *testing.T) {
		for _, m := range []string{"name", "default_prefix", "default_permission_mode", "require_expiry", "catalog_template"} {
			before := dump(t, e)
			aiInvalid(t, e.do(req{Method: "PATCH", Path: path, Body: map[string]any{m: nil}}), m)
			unchanged(t, e, before, "null "+m)
		}
	})

	t.Run("null clears, absent stays, values replace", func(t *testing.T) {
		n := updates()
		g := must(t, e, 200, req{Method: "PATCH", Path: path, Body: map[string]any{"default_key_lifetime": nil}}).JSON(t)
		want := map[string]any{"name": "ai patch", "default_prefix": "abc", "default_permission_mode": "read_only", "catalog_template": "default",
			"max_key_lifetime": float64(7200), "require_expiry": true, "default_key_lifetime": nil}
		for k, v := range want {
			if g[k] != v {
				t.Errorf("%s = %v, want %v", k, g[k], v)
			}
		}
		if g["etag"] == a["etag"] || aiTime(t, g, "updated_at").Before(aiTime(t, a, "updated_at")) {
			t.Errorf("etag %v → %v, updated_at %v → %v", a["etag"], g["etag"], a["updated_at"], g["updated_at"])
		}
		if got := updates(); got != n+1 {
			t.Fatalf("account.updated events %d → %d, want one more", n, got)
		}
		ev := events(t, e, "action=account.updated", aiHdr(id))[0]
		ch := ev["changes"].(map[string]any)
		if len(ch) != 1 || fmt.Sprint(ch["default_key_lifetime"]) != "map[after:<nil> before:600]" {
			t.Errorf("audit changes %v, want only default_key_lifetime 600 → null", ch)
		}
		g = must(t, e, 200, req{Method: "PATCH", Path: path, Body: map[string]any{"max_key_lifetime": nil, "require_expiry": false,
			"default_permission_mode": "restricted", "default_prefix": "xyz", "name": "ai patched"}}).JSON(t)
		want = map[string]any{"name": "ai patched", "default_prefix": "xyz", "default_permission_mode": "restricted",
			"max_key_lifetime": nil, "require_expiry": false, "default_key_lifetime": nil}
		for k, v := range want {
			if g[k] != v {
				t.Errorf("%s = %v, want %v", k, g[k], v)
			}
		}
		g = must(t, e, 200, req{Method: "PATCH", Path: path, Body: map[string]any{"max_key_lifetime": 100, "default_key_lifetime": 50}}).JSON(t)
		if g["max_key_lifetime"] != float64(100) || g["default_key_lifetime"] != float64(50) {
			t.Errorf("lifetimes %v %v", g["max_key_lifetime"], g["default_key_lifetime"])
		}
		// Lowering the maximum under the current default lifetime is refused.
		aiInvalid(t, e.do(req{Method: "PATCH", Path: path, Body: map[string]any{"max_key_lifetime": 10}}), "default_key_lifetime")
		a = must(t, e, 200, req{Method: "GET", Path: path}).JSON(t)
	})

	t.Run("If-Match", func(t *testing.T) {
		cur := `"` + a["etag"].(string) + `"`
		before := dump(t, e)
		for _, im := range []string{`"nope"`, `"` + newID("x") + `"`} {
			pxProblem(t, e.do(req{Method: "PATCH", Path: path, Header: map[string]string{"If-Match": im}, Body: map[string]any{"name": "ai if"}}), 412, "precondition_failed")
			pxProblem(t, e.do(req{Method: "DELETE", Path: path, Header: map[string]string{"If-Match": im}}), 412, "precondition_failed")
		}
		unchanged(t, e, before, "If-Match mismatch")
		g := must(t, e, 200, req{Method: "PATCH", Path: path, Header: map[string]string{"If-Match": cur}, Body: map[string]any{"name": "ai if"}}).JSON(t)
		// The old etag is stale now.
		pxProblem(t, e.do(req{Method: "PATCH", Path: path, Header: map[string]string{"If-Match": cur}, Body: map[string]any{"name": "ai if 2"}}), 412, "precondition_failed")
		pxProblem(t, e.do(req{Method: "DELETE", Path: path, Header: map[string]string{"If-Match": cur}}), 412, "precondition_failed")
		must(t, e, 204, req{Method: "DELETE", Path: path, Header: map[string]string{"If-Match": `"` + g["etag"].(string) + `"`}})
	})
}

// TestAiAccountList: newest first, keyset pagination both ways, the
// default account included, bad parameters 400.
func TestAiAccountList(t *testing.T) {
	e := newEnv(t)
	var created []string
	for i := range 6 {
		created = append(created, create(t, e, nil, "/v1/accounts", map[string]any{"name": fmt.Sprintf("ai list %d", i)})["id"].(string))
	}
	listIDs := func(q string) ([]string, bool) {
		t.Helper()
		m := must(t, e, 200, req{Method: "GET", Path: "/v1/accounts" + q}).JSON(t)
		var ids []string
		for _, it := range m["data"].([]any) {
			ids = append(ids, it.(map[string]any)["id"].(string))
		}
		return ids, m["has_more"].(bool)
	}
	all, more := listIDs("")
	if more || len(all) != 7 {
		t.Fatalf("%d accounts (has_more %v), want 7", len(all), more)
	}
	newestFirst := slices.Clone(created)
	slices.Reverse(newestFirst)
	if !slices.Equal(all[:6], newestFirst) || all[6] != defaultAccount(t, e) {
		t.Fatalf("order %v, want %v then the default account", all, newestFirst)
	}
	var walked []string
	q := "?limit=3"
	var pages [][]string
	for i := 0; ; i++ {
		ids, more := listIDs(q)
		pages = append(pages, ids)
		walked = append(walked, ids...)
		if !more {
			break
		}
		if i > 5 {
			t.Fatal("pagination does not end")
		}
		q = "?limit=3&starting_after=" + ids[len(ids)-1]
	}
	if !slices.Equal(walked, all) || len(pages) != 3 {
		t.Fatalf("walked %v in %d pages, want %v in 3", walked, len(pages), all)
	}
	if ids, more := listIDs("?limit=3&ending_before=" + pages[2][0]); !slices.Equal(ids, pages[1]) || !more {
		t.Errorf("ending_before %s: %v (has_more %v), want %v", pages[2][0], ids, more, pages[1])
	}
	if ids, more := listIDs("?limit=3&ending_before=" + pages[1][0]); !slices.Equal(ids, pages[0]) || more {
		t.Errorf("ending_before %s: %v (has_more %v), want %v", pages[1][0], ids, more, pages[0])
	}
	for _, bad := range []string{"limit=0", "limit=201", "limit=x", "starting_after=key_" + strings.Repeat("A", 26), "starting_after=x",
		"ending_before=" + created[0] + "&starting_after=" + created[1], "status=active", "limit=1&limit=2"} {
		pxProblem(t, e.do(req{Method: "GET", Path: "/v1/accounts?" + bad}), 400, "invalid_parameter")
	}
	// Every account in the list reads the same as its GET.
	m := must(t, e, 200, req{Method: "GET", Path: "/v1/accounts?limit=1"}).JSON(t)["data"].([]any)[0].(map[string]any)
	if g := must(t, e, 200, req{Method: "GET", Path: "/v1/accounts/" + m["id"].(string)}).JSON(t); fmt.Sprint(g) != fmt.Sprint(m) {
		t.Errorf("listed %v, GET %v", m, g)
	}
}

// aiPopulate fills an account with one object of every kind, made with the
// operator key, and returns their ids and the tokens of its keys.
type aiObjects struct {
	acct                     string
	apiKey, apiToken         string
	userKey, userToken       string
	saKey, saToken           string
	mgmtKey, mgmtToken       string
	project, user, sa, role  string
	resource                 string
	projectKey, projectToken string
}

func aiPopulate(t *testing.T, e *testEnv, acct, tag string) *aiObjects {
	t.Helper()
	h := aiHdr(acct)
	o := &aiObjects{acct: acct, role: "ai-role-" + tag, resource: "ai-res-" + tag}
	must(t, e, 201, req{Method: "PUT", Path: "/v1/catalog/resources/" + o.resource, Header: h,
		Body: map[string]any{"display_name": "AI " + tag, "readable": true, "writable": true}})
	must(t, e, 201, req{Method: "POST", Path: "/v1/roles", Header: h,
		Body: map[string]any{"name": o.role, "scopes": []any{map[string]any{"resource": o.resource, "access": "read"}}}})
	o.project = must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Header: h, Body: map[string]any{"name": "ai project " + tag}}).JSON(t)["id"].(string)
	o.user = must(t, e, 201, req{Method: "POST", Path: "/v1/users", Header: h,
		Body: map[string]any{"email": "ai-" + tag + "@example.com", "name": "AI " + tag, "external_id": "ext-" + tag}}).JSON(t)["id"].(string)
	o.sa = must(t, e, 201, req{Method: "POST", Path: "/v1/service-accounts", Header: h, Body: map[string]any{"name": "ai sa " + tag}}).JSON(t)["id"].(string)
	k := newKey(t, e, aiHdr(acct), map[string]any{"name": "ai key " + tag, "metadata": map[string]any{"tag": tag}})
	o.apiKey, o.apiToken = k["id"].(string), k["secret"].(string)
	k = newKey(t, e, aiHdr(acct), map[string]any{"name": "ai user key " + tag, "owner": map[string]any{"type": "user", "id": o.user}})
	o.userKey, o.userToken = k["id"].(string), k["secret"].(string)
	k = newKey(t, e, aiHdr(acct), map[string]any{"name": "ai sa key " + tag, "owner": map[string]any{"type": "service_account", "id": o.sa}})
	o.saKey, o.saToken = k["id"].(string), k["secret"].(string)
	k = newKey(t, e, aiHdr(acct), map[string]any{"name": "ai project key " + tag, "project_id": o.project})
	o.projectKey, o.projectToken = k["id"].(string), k["secret"].(string)
	o.mgmtKey, o.mgmtToken = mgmtKey(t, e, acct, boundPerms...)
	return o
}

// TestAiAccountDelete: deleting an account removes everything in it at
// once (its keys stop verifying, its objects answer 404, its management
// keys stop authenticating) and leaves other accounts as they were.
func TestAiAccountDelete(t *testing.T) {
	e := newEnv(t)
	def := defaultAccount(t, e)
	gone := aiPopulate(t, e, create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai doomed", "catalog_template": "vectara"})["id"].(string), "doomed")
	kept := aiPopulate(t, e, create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai kept"})["id"].(string), "kept")
	inDefault := aiPopulate(t, e, def, "default")

	tokens := []string{gone.apiToken, gone.userToken, gone.saToken, gone.projectToken}
	for _, tok := range tokens {
		if v := verify(t, e, nil, map[string]any{"key": tok}); v["code"] != "VALID" {
			t.Fatalf("before the delete a key verifies as %v", v)
		}
	}
	snapKept, snapDefault := aiSnapshot(t, e, kept), aiSnapshot(t, e, inDefault)

	must(t, e, 204, req{Method: "DELETE", Path: "/v1/accounts/" + gone.acct})

	t.Run("its keys verify NOT_FOUND everywhere", func(t *testing.T) {
		for _, tok := range tokens {
			for _, h := range []map[string]string{nil, aiHdr(def), aiHdr(kept.acct)} {
				v := verify(t, e, h, map[string]any{"key": tok})
				if v["valid"] != false || v["code"] != "NOT_FOUND" || len(v) != 2 {
					t.Errorf("a deleted account's key verifies as %v", v)
				}
			}
		}
	})
	t.Run("its management key no longer authenticates", func(t *testing.T) {
		pxProblem(t, e.do(req{Method: "GET", Path: "/v1/keys", Token: gone.mgmtToken}), 401, "unauthenticated")
		pxProblem(t, e.do(req{Method: "GET", Path: "/v1/whoami", Token: gone.apiToken}), 401, "unauthenticated")
	})
	t.Run("the account and its objects answer 404", func(t *testing.T) {
		pxProblem(t, e.do(req{Method: "GET", Path: "/v1/accounts/" + gone.acct}), 404, "not_found")
		pxProblem(t, e.do(req{Method: "PATCH", Path: "/v1/accounts/" + gone.acct, Body: map[string]any{"name": "x"}}), 404, "not_found")
		pxProblem(t, e.do(req{Method: "DELETE", Path: "/v1/accounts/" + gone.acct}), 404, "not_found")
		h := aiHdr(gone.acct)
		for _, p := range []string{"/v1/keys", "/v1/keys/" + gone.apiKey, "/v1/users/" + gone.user, "/v1/roles/" + gone.role,
			"/v1/roles/serving", "/v1/projects/" + gone.project, "/v1/service-accounts/" + gone.sa, "/v1/management-keys/" + gone.mgmtKey,
			"/v1/catalog", "/v1/audit-events", "/v1/users", "/v1/roles"} {
			pxProblem(t, e.do(req{Method: "GET", Path: p, Header: h}), 404, "not_found")
		}
		// Nor are they reachable from another account.
		for _, p := range []string{"/v1/keys/" + gone.apiKey, "/v1/users/" + gone.user, "/v1/projects/" + gone.project,
			"/v1/service-accounts/" + gone.sa, "/v1/management-keys/" + gone.mgmtKey} {
			pxProblem(t, e.do(req{Method: "GET", Path: p}), 404, "not_found")
		}
		if ids := must(t, e, 200, req{Method: "GET", Path: "/v1/accounts?limit=200"}).JSON(t); strings.Contains(fmt.Sprint(ids), gone.acct) {
			t.Errorf("the deleted account is still listed")
		}
	})
	t.Run("nothing of it is left in the database but its audit trail", func(t *testing.T) {
		db := e.DB.WriteDB()
		for _, tbl := range []string{"accounts", "projects", "catalog_resources", "keys", "users", "service_accounts", "roles", "key_roles"} {
			col := "account_id"
			if tbl == "accounts" {
				col = "id"
			}
			var n int
			if err := db.QueryRowContext(pxCtx, envSQL(e, `SELECT count(*) FROM "`+tbl+`" WHERE `+col+` = ?`), gone.acct).Scan(&n); err != nil {
				t.Fatalf("%s: %v", tbl, err)
			}
			if n != 0 {
				t.Errorf("%d rows of the deleted account left in %s", n, tbl)
			}
		}
		var n int
		if err := db.QueryRowContext(pxCtx, envSQL(e, `SELECT count(*) FROM key_secrets WHERE key_id IN (?, ?, ?, ?, ?)`),
			gone.apiKey, gone.userKey, gone.saKey, gone.projectKey, gone.mgmtKey).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d secrets of the deleted account's keys left", n)
		}
		if err := db.QueryRowContext(pxCtx, envSQL(e, `SELECT count(*) FROM audit_events WHERE account_id = ?`), gone.acct).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("the deleted account's audit trail is gone")
		}
	})
	t.Run("other accounts are untouched", func(t *testing.T) {
		if s := aiSnapshot(t, e, kept); s != snapKept {
			t.Errorf("account kept changed:\n%s", aiDiff(snapKept, s))
		}
		if s := aiSnapshot(t, e, inDefault); s != snapDefault {
			t.Errorf("the default account changed:\n%s", aiDiff(snapDefault, s))
		}
		for _, o := range []*aiObjects{kept, inDefault} {
			for _, tok := range []string{o.apiToken, o.userToken, o.saToken, o.projectToken} {
				if v := verify(t, e, nil, map[string]any{"key": tok}); v["code"] != "VALID" || v["account_id"] != o.acct {
					t.Errorf("a key of %s verifies as %v", o.acct, v)
				}
			}
		}
	})
	t.Run("the name is free again", func(t *testing.T) {
		b := create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai doomed"})
		if b["id"] == gone.acct {
			t.Errorf("the new account reuses the deleted id")
		}
		cat := must(t, e, 200, req{Method: "GET", Path: "/v1/catalog", Header: aiHdr(b["id"].(string))}).JSON(t)
		if strings.Contains(fmt.Sprint(cat), gone.resource) {
			t.Errorf("the new account inherits the deleted account's catalog")
		}
	})
}

// TestAiAccountsOperatorOnly: only operator keys manage accounts. An
// account-bound key holding every permission a bound key can hold gets 403
// on every /v1/accounts route (and writes nothing); accounts:* cannot be
// given to a bound key; an operator key needs the accounts permission the
// route names.
func TestAiAccountsOperatorOnly(t *testing.T) {
	e := newEnv(t)
	def := defaultAccount(t, e)
	other := create(t, e, nil, "/v1/accounts", map[string]any{"name": "ai other"})["id"].(string)
	_, full := mgmtKey(t, e, def, boundPerms...)
	_, fullOther := mgmtKey(t, e, other, boundPerms...)
	opRead := must(t, e, 201, req{Method: "POST", Path: "/v1/management-keys",
		Body: map[string]any{"name": "ai op read", "operator": true, "permissions": []string{keyward.PermAccountsRead}}}).JSON(t)
	if opRead["operator"] != true || opRead["account_id"] != nil {
		t.Fatalf("operator key: %v", opRead)
	}
	opNone := must(t, e, 201, req{Method: "POST", Path: "/v1/management-keys",
		Body: map[string]any{"name": "ai op keys", "operator": true, "permissions": []string{keyward.PermKeysRead}}}).JSON(t)

	var routes []string
	for _, r := range e.HTTP.Routes() {
		if strings.Contains(r, " /v1/accounts") {
			routes = append(routes, r)
		}
	}
	if len(routes) != 5 {
		t.Fatalf("account routes %v", routes)
	}
	for _, r := range routes {
		method, pattern, _ := strings.Cut(r, " ")
		perm := keyward.PermAccountsWrite
		if method == "GET" {
			perm = keyward.PermAccountsRead
		}
		path := strings.Replace(pattern, "{id}", other, 1)
		body := ""
		switch method {
		case "POST":
			body = `{"name":"ai sneaky"}`
		case "PATCH":
			body = `{"name":"ai renamed"}`
		}
		t.Run(r, func(t *testing.T) {
			for _, c := range []struct {
				name  string
				token string
				hdr   map[string]string
			}{
				{"bound key", full, nil},
				{"bound key naming its account", full, aiHdr(def)},
				{"bound key of the target account", fullOther, nil},
			} {
				before := dump(t, e)
				rq := req{Method: method, Path: path, Token: c.token, Header: c.hdr}
				if body != "" {
					rq.Body = body
				}
				p := pxProblem(t, e.do(rq), 403, "permission_denied")
				if p != nil && p["missing_permission"] != perm {
					t.Errorf("%s: missing_permission %v, want %s", c.name, p["missing_permission"], perm)
				}
				unchanged(t, e, before, c.name)
			}
			before := dump(t, e)
			lacking := opRead["secret"].(string)
			if method == "GET" {
				lacking = opNone["secret"].(string)
			}
			rq := req{Method: method, Path: path, Token: lacking}
			if body != "" {
				rq.Body = body
			}
			if p := pxProblem(t, e.do(rq), 403, "permission_denied"); p != nil && p["missing_permission"] != perm {
				t.Errorf("operator key without %s: missing_permission %v", perm, p["missing_permission"])
			}
			unchanged(t, e, before, "operator key lacking the permission")
		})
	}
	t.Run("an operator key with accounts:read reads", func(t *testing.T) {
		tok := opRead["secret"].(string)
		must(t, e, 200, req{Method: "GET", Path: "/v1/accounts", Token: tok})
		must(t, e, 200, req{Method: "GET", Path: "/v1/accounts/" + other, Token: tok})
	})
	t.Run("accounts permissions only on operator keys", func(t *testing.T) {
		for _, perm := range []string{keyward.PermAccountsRead, keyward.PermAccountsWrite} {
			for _, c := range []struct {
				name, token string
				hdr         map[string]string
			}{{"by a bound key", full, nil}, {"by the operator, bound to default", "", nil}, {"by the operator, bound to another account", "", aiHdr(other)}} {
				before := dump(t, e)
				aiInvalid(t, e.do(req{Method: "POST", Path: "/v1/management-keys", Token: c.token, Header: c.hdr,
					Body: map[string]any{"name": "ai accounts", "permissions": []string{keyward.PermKeysRead, perm}}}), "permissions")
				unchanged(t, e, before, perm+" "+c.name)
			}
		}
		// Nor can a bound key be given them later.
		id, _ := mgmtKey(t, e, def, keyward.PermKeysRead)
		aiInvalid(t, e.do(req{Method: "PATCH", Path: "/v1/management-keys/" + id,
			Body: map[string]any{"permissions": []string{keyward.PermKeysRead, keyward.PermAccountsWrite}}}), "permissions")
		aiInvalid(t, e.do(req{Method: "PUT", Path: "/v1/management-keys/" + id,
			Body: map[string]any{"name": "ai later", "permissions": []string{keyward.PermAccountsRead}}}), "permissions")
		// A bound key cannot make an operator key (which could then be
		// given accounts:*).
		before := dump(t, e)
		aiInvalid(t, e.do(req{Method: "POST", Path: "/v1/management-keys", Token: full,
			Body: map[string]any{"name": "ai op", "operator": true, "permissions": []string{keyward.PermKeysRead}}}), "operator")
		unchanged(t, e, before, "a bound key creating an operator key")
	})
}

// aiSnapshot reads every object of an account with its own management key
// and returns them as one canonical text (write-behind last-use times left
// out), so a test can tell whether anything in the account changed.
func aiSnapshot(t *testing.T, e *testEnv, o *aiObjects) string {
	t.Helper()
	paths := []string{
		"/v1/keys?limit=200", "/v1/management-keys?limit=200", "/v1/projects?limit=200", "/v1/users?limit=200",
		"/v1/service-accounts?limit=200", "/v1/roles", "/v1/catalog", "/v1/audit-events?limit=200",
		"/v1/keys/" + o.apiKey, "/v1/keys/" + o.userKey, "/v1/keys/" + o.saKey, "/v1/keys/" + o.projectKey,
		"/v1/management-keys/" + o.mgmtKey, "/v1/projects/" + o.project, "/v1/users/" + o.user,
		"/v1/service-accounts/" + o.sa, "/v1/roles/" + o.role,
	}
	var b strings.Builder
	for _, p := range paths {
		res := e.do(req{Method: "GET", Path: p, Token: o.mgmtToken})
		if res.Status != 200 {
			t.Fatalf("snapshot of %s: GET %s: status %d\n%s", o.acct, p, res.Status, short(res.Body))
		}
		var v any
		if err := json.Unmarshal(res.Body, &v); err != nil {
			t.Fatal(err)
		}
		aiStrip(v)
		out, _ := json.Marshal(v)
		fmt.Fprintf(&b, "%s %s\n", p, out)
	}
	for _, tok := range []string{o.apiToken, o.userToken, o.saToken, o.projectToken} {
		res := e.do(req{Method: "POST", Path: "/v1/keys/verify", Token: o.mgmtToken, Body: map[string]any{"key": tok}})
		var v any
		if err := json.Unmarshal(res.Body, &v); err != nil {
			t.Fatal(err)
		}
		aiStrip(v)
		out, _ := json.Marshal(v)
		fmt.Fprintf(&b, "verify %d %s\n", res.Status, out)
	}
	return b.String()
}

// aiStrip removes last_used_at and verifications at any depth: they are
// written behind, on reads and verifications, so they are not a change
// made by a request.
func aiStrip(v any) {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "last_used_at")
		delete(x, "verifications")
		for _, c := range x {
			aiStrip(c)
		}
	case []any:
		for _, c := range x {
			aiStrip(c)
		}
	}
}

// aiDiff lists the lines of two snapshots that differ.
func aiDiff(before, after string) string {
	b, a := strings.Split(before, "\n"), strings.Split(after, "\n")
	var out strings.Builder
	for _, l := range b {
		if !slices.Contains(a, l) {
			fmt.Fprintf(&out, "- %s\n", short([]byte(l)))
		}
	}
	for _, l := range a {
		if !slices.Contains(b, l) {
			fmt.Fprintf(&out, "+ %s\n", short([]byte(l)))
		}
	}
	return out.String()
}

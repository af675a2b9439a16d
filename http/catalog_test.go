package http_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// pxCatalog returns GET /v1/catalog.
func pxCatalog(t *testing.T, e *testEnv) map[string]any {
	t.Helper()
	return must(t, e, 200, req{Method: "GET", Path: "/v1/catalog"}).JSON(t)
}

// pxResources returns the catalog's resources by id.
func pxResources(t *testing.T, e *testEnv) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, r := range pxCatalog(t, e)["resources"].([]any) {
		m := r.(map[string]any)
		out[m["id"].(string)] = m
	}
	return out
}

// pxResourceBody returns the PUT body that restates a resource as it is,
// with the changes applied.
func pxResourceBody(r map[string]any, changes map[string]any) map[string]any {
	b := map[string]any{}
	for _, f := range []string{"display_name", "group", "description", "readable", "writable", "project_scopes", "protected"} {
		b[f] = r[f]
	}
	for k, v := range changes {
		b[k] = v
	}
	return b
}

// pxScopes returns a verification's effective scopes as "resource:access" strings.
func pxScopes(t *testing.T, e *testEnv, secret any) []string {
	t.Helper()
	v := e.verify(map[string]any{"key": secret})
	if v["valid"] != true {
		t.Fatalf("verify: %v", v)
	}
	var out []string
	for _, s := range v["scopes"].([]any) {
		m := s.(map[string]any)
		out = append(out, fmt.Sprintf("%s:%s:%v", m["resource"], m["access"], m["targets"]))
	}
	sort.Strings(out)
	return out
}

func TestPxCatalogGet(t *testing.T) {
	e := newEnv(t)
	c := pxCatalog(t, e)
	res := pxResources(t, e)
	var ids []string
	for id := range res {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if want := []string{"billing", "documents", "events", "files", "search", "usage", "webhooks"}; !slices.Equal(ids, want) {
		t.Errorf("resources %v, want the default template's %v", ids, want)
	}
	for id, r := range res {
		for _, f := range []string{"display_name", "group", "description", "readable", "writable", "project_scopes", "protected"} {
			if _, ok := r[f]; !ok {
				t.Errorf("resource %s has no %s", id, f)
			}
		}
	}
	if res["billing"]["protected"] != true || res["documents"]["protected"] != false {
		t.Errorf("billing protected %v, documents protected %v", res["billing"]["protected"], res["documents"]["protected"])
	}
	if res["search"]["writable"] != false || res["events"]["readable"] != false {
		t.Errorf("search writable %v, events readable %v", res["search"]["writable"], res["events"]["readable"])
	}
	if fmt.Sprint(res["usage"]["project_scopes"]) != "[all]" {
		t.Errorf("usage project_scopes %v, want [all]", res["usage"]["project_scopes"])
	}
	if fmt.Sprint(c["access_levels"]) != "[none read write]" {
		t.Errorf("access_levels %v", c["access_levels"])
	}
	var presets []string
	for _, p := range c["presets"].([]any) {
		presets = append(presets, p.(map[string]any)["id"].(string))
	}
	if !slices.Equal(presets, []string{"all", "read_only", "restricted"}) {
		t.Errorf("presets %v", presets)
	}
	if roles, ok := c["roles"].([]any); !ok || len(roles) != 0 {
		t.Errorf("roles %v, want []", c["roles"])
	}
	var perms []string
	operatorOnly := map[string]bool{}
	for _, p := range c["management_permissions"].([]any) {
		m := p.(map[string]any)
		perms = append(perms, m["id"].(string))
		operatorOnly[m["id"].(string)] = m["operator_only"] == true
		if d, _ := m["description"].(string); d == "" {
			t.Errorf("permission %v has no description", m["id"])
		}
	}
	spec := []string{"keys:read", "keys:write", "keys:verify", "keys:reveal", "management_keys:read",
		"management_keys:write", "members:read", "members:write", "catalog:read", "catalog:write",
		"audit:read", "usage:read", "accounts:read", "accounts:write"}
	if !slices.Equal(perms, spec) {
		t.Errorf("management_permissions %v, want the 14 of docs/permissions.md %v", perms, spec)
	}
	for _, p := range spec {
		if want := strings.HasPrefix(p, "accounts:"); operatorOnly[p] != want {
			t.Errorf("%s operator_only %v, want %v", p, operatorOnly[p], want)
		}
	}
}

func TestPxCatalogPut(t *testing.T) {
	e := newEnv(t)
	restricted := func(res string, access string) map[string]any {
		return map[string]any{"name": "px " + res, "permission_mode": "restricted",
			"scopes": []any{map[string]any{"resource": res, "access": access}}}
	}
	t.Run("not grantable before it exists", func(t *testing.T) {
		p := pxProblem(t, e.do(req{Method: "POST", Path: "/v1/keys", Body: restricted("widgets", "write")}), 422, "validation_failed")
		if p != nil && !pxNames(p, "scopes[0].resource") {
			t.Errorf("the problem does not name scopes[0].resource: %v", fields(p))
		}
	})

	n := e.auditCount()
	res := must(t, e, 201, req{Method: "PUT", Path: "/v1/catalog/resources/widgets",
		Body: map[string]any{"display_name": "Widgets", "group": "px", "description": "d", "readable": true, "writable": true, "project_scopes": []string{"all", "single"}}})
	w := res.JSON(t)
	if w["id"] != "widgets" || w["display_name"] != "Widgets" || w["protected"] != false {
		t.Errorf("created resource: %v", w)
	}
	if e.auditCount() != n+1 {
		t.Errorf("creating a resource wrote %d events", e.auditCount()-n)
	}
	if _, ok := pxResources(t, e)["widgets"]; !ok {
		t.Errorf("widgets not in the catalog")
	}
	e.createKey(restricted("widgets", "write"))

	t.Run("defaults", func(t *testing.T) {
		d := must(t, e, 201, req{Method: "PUT", Path: "/v1/catalog/resources/gizmos", Body: map[string]any{}}).JSON(t)
		if d["display_name"] != "gizmos" || d["readable"] != true || d["writable"] != true || d["protected"] != false ||
			fmt.Sprint(d["project_scopes"]) != "[all single]" {
			t.Errorf("defaults: %v", d)
		}
	})
	t.Run("existing is 200", func(t *testing.T) {
		n := e.auditCount()
		u := must(t, e, 200, req{Method: "PUT", Path: "/v1/catalog/resources/widgets",
			Body: map[string]any{"display_name": "Widgets 2", "group": "px", "description": "d", "readable": true, "writable": true, "project_scopes": []string{"all", "single"}}}).JSON(t)
		if u["display_name"] != "Widgets 2" {
			t.Errorf("updated: %v", u)
		}
		evs := events(t, e, "target_id=widgets&action=catalog_resource.updated", nil)
		if e.auditCount() != n+1 || len(evs) != 1 {
			t.Fatalf("events: %d new, %d catalog_resource.updated", e.auditCount()-n, len(evs))
		}
		if ch := evs[0]["changes"].(map[string]any); len(ch) != 1 || fmt.Sprint(ch["display_name"]) != "map[after:Widgets 2 before:Widgets]" {
			t.Errorf("changes %v", ch)
		}
	})
	t.Run("identical is a no-op", func(t *testing.T) {
		before := dump(t, e)
		must(t, e, 200, req{Method: "PUT", Path: "/v1/catalog/resources/widgets",
			Body: map[string]any{"display_name": "Widgets 2", "group": "px", "description": "d", "readable": true, "writable": true, "project_scopes": []string{"all", "single"}}})
		unchanged(t, e, before, "an identical PUT")
	})
	t.Run("the same project scopes in another order are a no-op", func(t *testing.T) {
		// project_scopes is a set ("all and/or single").
		before := dump(t, e)
		must(t, e, 200, req{Method: "PUT", Path: "/v1/catalog/resources/widgets",
			Body: map[string]any{"display_name": "Widgets 2", "group": "px", "description": "d", "readable": true, "writable": true, "project_scopes": []string{"single", "all", "all"}}})
		unchanged(t, e, before, "a PUT restating project_scopes in another order")
	})
	t.Run("64-character id", func(t *testing.T) {
		must(t, e, 201, req{Method: "PUT", Path: "/v1/catalog/resources/" + "a" + strings.Repeat("b", 63), Body: map[string]any{}})
		must(t, e, 201, req{Method: "PUT", Path: "/v1/catalog/resources/a.b-c_9", Body: map[string]any{}})
	})
	for _, c := range []struct {
		name, id string
		body     map[string]any
		field    string
	}{
		{"capital id", "Bad", map[string]any{}, "id"},
		{"digit first", "1x", map[string]any{}, "id"},
		{"65 characters", "a" + strings.Repeat("b", 64), map[string]any{}, "id"},
		{"underscore first", "_x", map[string]any{}, "id"},
		{"space", "a%20b", map[string]any{}, "id"},
		{"colon", "a:b", map[string]any{}, "id"},
		{"unicode", "%C3%BC", map[string]any{}, "id"},
		{"empty display name", "pxbad", map[string]any{"display_name": ""}, "display_name"},
		{"blank display name", "pxbad", map[string]any{"display_name": "  "}, "display_name"},
		{"null display name", "pxbad", map[string]any{"display_name": nil}, "display_name"},
		{"long display name", "pxbad", map[string]any{"display_name": strings.Repeat("d", 256)}, "display_name"},
		{"display name with newline", "pxbad", map[string]any{"display_name": "a\nb"}, "display_name"},
		{"long group", "pxbad", map[string]any{"group": strings.Repeat("g", 65)}, "group"},
		{"long description", "pxbad", map[string]any{"description": strings.Repeat("d", 1025)}, "description"},
		{"neither readable nor writable", "pxbad", map[string]any{"readable": false, "writable": false}, "readable"},
		{"null readable", "pxbad", map[string]any{"readable": nil}, "readable"},
		{"null protected", "pxbad", map[string]any{"protected": nil}, "protected"},
		{"no project scopes", "pxbad", map[string]any{"project_scopes": []string{}}, "project_scopes"},
		{"null project scopes", "pxbad", map[string]any{"project_scopes": nil}, "project_scopes"},
		{"unknown project scope", "pxbad", map[string]any{"project_scopes": []string{"all", "some"}}, "project_scopes[1]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := dump(t, e)
			p := pxProblem(t, e.do(req{Method: "PUT", Path: "/v1/catalog/resources/" + c.id, Body: c.body}), 422, "validation_failed")
			if p != nil && !pxNames(p, c.field) {
				t.Errorf("the problem does not name %s: %v", c.field, fields(p))
			}
			unchanged(t, e, before, c.name)
		})
	}
	t.Run("unknown member", func(t *testing.T) {
		pxProblem(t, e.do(req{Method: "PUT", Path: "/v1/catalog/resources/pxbad", Body: map[string]any{"id": "pxbad"}}), 400, "unknown_field")
	})
}

// TestPxCatalogResourceInUse: a catalog change that would break a grant an
// active or disabled key holds is a 409 naming the keys, and changes
// nothing; a change that breaks no grant goes through; a revoked key holds
// nothing.
func TestPxCatalogResourceInUse(t *testing.T) {
	e := newEnv(t)
	proj := must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "px"}}).Str(t, "id")
	scoped := func(name string, project any, scopes ...[2]string) map[string]any {
		var sc []any
		for _, s := range scopes {
			sc = append(sc, map[string]any{"resource": s[0], "access": s[1]})
		}
		b := map[string]any{"name": name, "permission_mode": "restricted", "scopes": sc}
		if project != nil {
			b["project_id"] = project
		}
		return e.createKey(b)
	}
	reader := scoped("px reader", nil, [2]string{"documents", "read"})
	writer := scoped("px writer", nil, [2]string{"webhooks", "write"})
	single := scoped("px single", proj, [2]string{"files", "read"})
	all := e.createKey(map[string]any{"name": "px all"})
	_ = writer

	cat := pxResources(t, e)
	conflict := func(t *testing.T, method, id string, body map[string]any, holders ...map[string]any) {
		t.Helper()
		before := dump(t, e)
		p := pxProblem(t, e.do(req{Method: method, Path: "/v1/catalog/resources/" + id, Body: body}), 409, "resource_in_use")
		unchanged(t, e, before, method+" of a held resource")
		if p == nil {
			return
		}
		var got, want []string
		for _, k := range p["key_ids"].([]any) {
			got = append(got, k.(string))
		}
		for _, h := range holders {
			want = append(want, h["id"].(string))
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("key_ids %v, want %v", got, want)
		}
		if !strings.Contains(p["detail"].(string), id) {
			t.Errorf("detail %q does not name %s", p["detail"], id)
		}
	}
	put := func(id string, changes map[string]any) map[string]any {
		return pxResourceBody(cat[id], changes)
	}

	t.Run("protected", func(t *testing.T) {
		conflict(t, "PUT", "documents", put("documents", map[string]any{"protected": true}), reader)
	})
	t.Run("not readable", func(t *testing.T) {
		conflict(t, "PUT", "documents", put("documents", map[string]any{"readable": false}), reader)
	})
	t.Run("all projects only", func(t *testing.T) {
		conflict(t, "PUT", "files", put("files", map[string]any{"project_scopes": []string{"all"}}), single)
	})
	t.Run("not writable", func(t *testing.T) {
		conflict(t, "PUT", "webhooks", put("webhooks", map[string]any{"writable": false}), writer)
	})
	t.Run("changes that break no grant", func(t *testing.T) {
		must(t, e, 200, req{Method: "PUT", Path: "/v1/catalog/resources/documents", Body: put("documents", map[string]any{"writable": false, "display_name": "Docs"})})
		must(t, e, 200, req{Method: "PUT", Path: "/v1/catalog/resources/webhooks", Body: put("webhooks", map[string]any{"readable": false})})
		must(t, e, 200, req{Method: "PUT", Path: "/v1/catalog/resources/files", Body: put("files", map[string]any{"project_scopes": []string{"single"}})})
		// Nobody holds usage explicitly: mode-all keys lose it, no conflict.
		must(t, e, 200, req{Method: "PUT", Path: "/v1/catalog/resources/usage", Body: put("usage", map[string]any{"protected": true})})
		if s := pxScopes(t, e, all["secret"]); slices.ContainsFunc(s, func(x string) bool { return strings.HasPrefix(x, "usage:") }) {
			t.Errorf("a protected resource is still effective for a mode-all key: %v", s)
		}
	})
	t.Run("delete of a held resource", func(t *testing.T) {
		conflict(t, "DELETE", "documents", nil, reader)
		must(t, e, 200, req{Method: "PATCH", Path: "/v1/keys/" + reader["id"].(string), Body: map[string]any{"status": "disabled"}})
		conflict(t, "DELETE", "documents", nil, reader)
		must(t, e, 200, req{Method: "PATCH", Path: "/v1/keys/" + reader["id"].(string), Body: map[string]any{"status": "revoked"}})
		n := e.auditCount()
		must(t, e, 204, req{Method: "DELETE", Path: "/v1/catalog/resources/documents"})
		if evs := events(t, e, "target_id=documents&action=catalog_resource.deleted", nil); len(evs) != 1 || e.auditCount() != n+1 {
			t.Errorf("delete wrote %d events, %d catalog_resource.deleted", e.auditCount()-n, len(evs))
		}
		if _, ok := pxResources(t, e)["documents"]; ok {
			t.Errorf("documents still in the catalog")
		}
		pxProblem(t, e.do(req{Method: "DELETE", Path: "/v1/catalog/resources/documents"}), 404, "not_found")
	})
	t.Run("a deleted resource is no longer grantable", func(t *testing.T) {
		p := pxProblem(t, e.do(req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "px", "permission_mode": "restricted",
			"scopes": []any{map[string]any{"resource": "documents", "access": "read"}}}}), 422, "validation_failed")
		if p != nil && !pxNames(p, "scopes[0].resource") {
			t.Errorf("the problem does not name scopes[0].resource: %v", fields(p))
		}
	})
	t.Run("protected resources are not grantable", func(t *testing.T) {
		for _, res := range []string{"billing", "usage"} {
			p := pxProblem(t, e.do(req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "px", "permission_mode": "restricted",
				"scopes": []any{map[string]any{"resource": res, "access": "read"}}}}), 422, "validation_failed")
			if p != nil && !pxNames(p, "scopes[0].resource") {
				t.Errorf("the problem does not name scopes[0].resource: %v", fields(p))
			}
		}
	})
	t.Run("unknown resource", func(t *testing.T) {
		pxProblem(t, e.do(req{Method: "DELETE", Path: "/v1/catalog/resources/nope"}), 404, "not_found")
	})
}

// TestPxCatalogEffectiveScopes: a key without explicit scopes follows the
// catalog: new resources appear in its verification scopes, deleted and
// protected ones disappear, access follows readable/writable.
func TestPxCatalogEffectiveScopes(t *testing.T) {
	e := newEnv(t)
	all := e.createKey(map[string]any{"name": "px all"})
	ro := e.createKey(map[string]any{"name": "px ro", "permission_mode": "read_only"})
	proj := must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "px"}}).Str(t, "id")
	single := e.createKey(map[string]any{"name": "px single", "project_id": proj})

	want := []string{"documents:write:[*]", "events:write:[*]", "files:write:[*]", "search:read:[*]", "usage:read:[*]", "webhooks:write:[*]"}
	if got := pxScopes(t, e, all["secret"]); !slices.Equal(got, want) {
		t.Errorf("mode all: %v, want %v", got, want)
	}
	if got := pxScopes(t, e, ro["secret"]); !slices.Equal(got, []string{"documents:read:[*]", "files:read:[*]", "search:read:[*]", "usage:read:[*]", "webhooks:read:[*]"}) {
		t.Errorf("read_only: %v", got)
	}
	if got := pxScopes(t, e, single["secret"]); slices.Contains(got, "usage:read:[*]") {
		t.Errorf("a single-project key holds the all-projects-only usage: %v", got)
	}

	must(t, e, 201, req{Method: "PUT", Path: "/v1/catalog/resources/gadgets", Body: map[string]any{}})
	if got := pxScopes(t, e, all["secret"]); !slices.Contains(got, "gadgets:write:[*]") {
		t.Errorf("a new resource is not effective for a mode-all key: %v", got)
	}
	if got := pxScopes(t, e, ro["secret"]); !slices.Contains(got, "gadgets:read:[*]") {
		t.Errorf("a new resource is not effective for a read_only key: %v", got)
	}
	must(t, e, 200, req{Method: "PUT", Path: "/v1/catalog/resources/gadgets", Body: map[string]any{"writable": false}})
	if got := pxScopes(t, e, all["secret"]); !slices.Contains(got, "gadgets:read:[*]") || slices.Contains(got, "gadgets:write:[*]") {
		t.Errorf("a read-only resource for a mode-all key: %v", got)
	}
	must(t, e, 200, req{Method: "PUT", Path: "/v1/catalog/resources/gadgets", Body: map[string]any{"project_scopes": []string{"all"}}})
	if got := pxScopes(t, e, single["secret"]); slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "gadgets:") }) {
		t.Errorf("an all-projects-only resource for a single-project key: %v", got)
	}
	must(t, e, 204, req{Method: "DELETE", Path: "/v1/catalog/resources/gadgets"})
	if got := pxScopes(t, e, all["secret"]); !slices.Equal(got, want) {
		t.Errorf("after delete: %v, want %v", got, want)
	}
	v := e.verify(map[string]any{"key": all["secret"], "permissions": "gadgets:read"})
	if v["code"] != "INSUFFICIENT_PERMISSIONS" {
		t.Errorf("a deleted resource still grants: %v", v)
	}
}

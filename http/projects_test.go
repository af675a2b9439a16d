package http_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// pxIDs returns the ids of a list response's data, in order.
func pxIDs(t *testing.T, res *resp) ([]string, bool) {
	t.Helper()
	m := res.JSON(t)
	data, ok := m["data"].([]any)
	if !ok {
		t.Fatalf("no data array: %s", short(res.Body))
	}
	var ids []string
	for _, d := range data {
		ids = append(ids, d.(map[string]any)["id"].(string))
	}
	more, ok := m["has_more"].(bool)
	if !ok {
		t.Fatalf("no has_more: %s", short(res.Body))
	}
	return ids, more
}

// pxTarget returns the target id of an audit event.
func pxTarget(ev map[string]any) string {
	t, _ := ev["target"].(map[string]any)
	id, _ := t["id"].(string)
	return id
}

func TestPxProjectCreate(t *testing.T) {
	e := newEnv(t)
	res := must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "px alpha", "description": "first"}})
	p := res.JSON(t)
	id, _ := p["id"].(string)
	if !strings.HasPrefix(id, "prj_") {
		t.Fatalf("id %q", id)
	}
	if loc := res.Header.Get("Location"); loc != "/v1/projects/"+id {
		t.Errorf("Location %q, want /v1/projects/%s", loc, id)
	}
	if et := res.Header.Get("ETag"); et == "" || et != `"`+p["etag"].(string)+`"` {
		t.Errorf("ETag header %q, body etag %v", et, p["etag"])
	}
	if p["name"] != "px alpha" || p["description"] != "first" || p["account_id"] == "" || p["created_at"] == "" {
		t.Errorf("created project: %v", p)
	}

	got := must(t, e, 200, req{Method: "GET", Path: "/v1/projects/" + id})
	if got.Header.Get("ETag") != res.Header.Get("ETag") {
		t.Errorf("GET ETag %q, create ETag %q", got.Header.Get("ETag"), res.Header.Get("ETag"))
	}
	if g := got.JSON(t); g["name"] != "px alpha" || g["id"] != id {
		t.Errorf("GET: %v", g)
	}

	t.Run("duplicate name", func(t *testing.T) {
		before := dump(t, e)
		pxProblem(t, e.do(req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "px alpha"}}), 409, "duplicate")
		unchanged(t, e, before, "a duplicate project")
	})
	for _, c := range []struct {
		name  string
		body  any
		field string
	}{
		{"no name", map[string]any{}, "name"},
		{"null name", map[string]any{"name": nil}, "name"},
		{"empty name", map[string]any{"name": ""}, "name"},
		{"blank name", map[string]any{"name": "  \t"}, "name"},
		{"name too long", map[string]any{"name": strings.Repeat("n", 256)}, "name"},
		{"name with newline", map[string]any{"name": "a\nb"}, "name"},
		{"name with NUL", map[string]any{"name": "a\u0000b"}, "name"},
		{"description too long", map[string]any{"name": "px d", "description": strings.Repeat("d", 1025)}, "description"},
		{"description with control", map[string]any{"name": "px d", "description": "a\u0007"}, "description"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := dump(t, e)
			p := pxProblem(t, e.do(req{Method: "POST", Path: "/v1/projects", Body: c.body}), 422, "validation_failed")
			if p != nil && !pxNames(p, c.field) {
				t.Errorf("the problem does not name %s: %v", c.field, fields(p))
			}
			unchanged(t, e, before, c.name)
		})
	}
	t.Run("limits are inclusive", func(t *testing.T) {
		must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": strings.Repeat("ü", 255), "description": strings.Repeat("d", 1023) + "\n"}})
	})
	t.Run("unknown id", func(t *testing.T) {
		pxProblem(t, e.do(req{Method: "GET", Path: "/v1/projects/" + newID("prj_")}), 404, "not_found")
	})
}

func TestPxProjectList(t *testing.T) {
	e := newEnv(t)
	var ids []string // oldest first
	for i := range 5 {
		ids = append(ids, must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": fmt.Sprintf("px %d", i)}}).Str(t, "id"))
	}
	rev := slices.Clone(ids)
	slices.Reverse(rev) // newest first
	for _, c := range []struct {
		query string
		want  []string
		more  bool
	}{
		{"", rev, false},
		{"?limit=2", rev[:2], true},
		{"?limit=2&starting_after=" + rev[1], rev[2:4], true},
		{"?limit=2&starting_after=" + rev[3], rev[4:], false},
		{"?limit=5", rev, false},
		{"?limit=4", rev[:4], true},
		{"?starting_after=" + rev[4], nil, false},
		{"?limit=2&ending_before=" + rev[4], rev[2:4], true},
		{"?limit=2&ending_before=" + rev[2], rev[:2], false},
		{"?ending_before=" + rev[0], nil, false},
	} {
		t.Run(c.query, func(t *testing.T) {
			got, more := pxIDs(t, must(t, e, 200, req{Method: "GET", Path: "/v1/projects" + c.query}))
			if !slices.Equal(got, c.want) || more != c.more {
				t.Errorf("got %v (has_more %v), want %v (has_more %v)", got, more, c.want, c.more)
			}
		})
	}
	t.Run("another account's projects are not listed", func(t *testing.T) {
		other := pxOtherAccount(t, e, "px-other")
		must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "px 0"}, Header: map[string]string{"X-Account-Id": other}})
		got, _ := pxIDs(t, must(t, e, 200, req{Method: "GET", Path: "/v1/projects"}))
		if !slices.Equal(got, rev) {
			t.Errorf("default account lists %v, want %v", got, rev)
		}
		got, _ = pxIDs(t, must(t, e, 200, req{Method: "GET", Path: "/v1/projects", Header: map[string]string{"X-Account-Id": other}}))
		if len(got) != 1 {
			t.Errorf("other account lists %v, want its one project", got)
		}
	})
}

func TestPxProjectPatch(t *testing.T) {
	e := newEnv(t)
	p := must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "px a", "description": "desc"}}).JSON(t)
	id := p["id"].(string)
	must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "px taken"}})
	path := "/v1/projects/" + id
	etag := p["etag"].(string)

	patch := func(t *testing.T, body any, header map[string]string, wantEvent bool) map[string]any {
		t.Helper()
		n := e.auditCount()
		res := must(t, e, 200, req{Method: "PATCH", Path: path, Body: body, Header: header})
		got := res.JSON(t)
		if res.Header.Get("ETag") != `"`+got["etag"].(string)+`"` {
			t.Errorf("ETag header %q, body etag %v", res.Header.Get("ETag"), got["etag"])
		}
		want := n
		if wantEvent {
			want++
		}
		if m := e.auditCount(); m != want {
			t.Errorf("audit events %d → %d, want %d", n, m, want)
		}
		if wantEvent == (got["etag"] == etag) {
			t.Errorf("etag %v → %v (changed: %v, want %v)", etag, got["etag"], got["etag"] != etag, wantEvent)
		}
		etag = got["etag"].(string)
		return got
	}

	t.Run("rename", func(t *testing.T) {
		got := patch(t, map[string]any{"name": "px b"}, map[string]string{"X-Request-Id": "px-rename"}, true)
		if got["name"] != "px b" || got["description"] != "desc" {
			t.Errorf("after rename: %v", got)
		}
		if timeOf(t, got["updated_at"]).Before(timeOf(t, got["created_at"])) {
			t.Errorf("updated_at %v before created_at %v", got["updated_at"], got["created_at"])
		}
		evs := events(t, e, "target_id="+id+"&action=project.updated", nil)
		if len(evs) != 1 {
			t.Fatalf("%d project.updated events, want 1", len(evs))
		}
		ch := evs[0]["changes"].(map[string]any)
		if len(ch) != 1 || fmt.Sprint(ch["name"]) != "map[after:px b before:px a]" || evs[0]["request_id"] != "px-rename" {
			t.Errorf("event: %v", evs[0])
		}
		g := must(t, e, 200, req{Method: "GET", Path: path}).JSON(t)
		if g["name"] != "px b" || g["etag"] != etag {
			t.Errorf("GET after rename: %v", g)
		}
	})
	t.Run("empty patch is a no-op", func(t *testing.T) {
		patch(t, map[string]any{}, nil, false)
	})
	t.Run("same values are a no-op", func(t *testing.T) {
		patch(t, map[string]any{"name": "px b", "description": "desc"}, nil, false)
	})
	t.Run("null description clears", func(t *testing.T) {
		got := patch(t, map[string]any{"description": nil}, nil, true)
		if got["description"] != nil {
			t.Errorf("description %v after null", got["description"])
		}
		patch(t, map[string]any{"description": nil}, nil, false)
	})
	t.Run("If-Match", func(t *testing.T) {
		stale := etag
		patch(t, map[string]any{"description": "new"}, map[string]string{"If-Match": `"` + etag + `"`}, true)
		for _, im := range []string{`"` + stale + `"`, `W/"` + etag + `"`, `"nope"`, stale + "x"} {
			before := dump(t, e)
			pxProblem(t, e.do(req{Method: "PATCH", Path: path, Body: map[string]any{"name": "px stale"}, Header: map[string]string{"If-Match": im}}), 412, "precondition_failed")
			unchanged(t, e, before, "a stale If-Match")
		}
		patch(t, map[string]any{"description": "newer"}, map[string]string{"If-Match": `"nope", "` + etag + `"`}, true)
		patch(t, map[string]any{"description": "newest"}, map[string]string{"If-Match": "*"}, true)
	})
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"rename to a taken name", map[string]any{"name": "px taken"}, 409, "duplicate"},
		{"null name", map[string]any{"name": nil}, 422, "validation_failed"},
		{"empty name", map[string]any{"name": ""}, 422, "validation_failed"},
		{"unknown member", map[string]any{"px": 1}, 400, "unknown_field"},
		{"id is not a member", map[string]any{"id": "prj_x"}, 400, "unknown_field"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := dump(t, e)
			pxProblem(t, e.do(req{Method: "PATCH", Path: path, Body: c.body}), c.status, c.code)
			unchanged(t, e, before, c.name)
		})
	}
}

// TestPxProjectDelete: deleting a project revokes every key scoped to it
// that is not revoked yet, with one key.revoked event per key; other keys
// are untouched; the project can no longer be named.
func TestPxProjectDelete(t *testing.T) {
	e := newEnv(t)
	mk := func(body map[string]any) map[string]any { return e.createKey(body) }
	p1 := must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "px one"}}).Str(t, "id")
	p2 := must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "px two"}}).Str(t, "id")
	k1 := mk(map[string]any{"name": "px k1", "project_id": p1})
	k2 := mk(map[string]any{"name": "px k2", "project_id": p1, "permission_mode": "restricted", "scopes": []any{map[string]any{"resource": "documents", "access": "read"}}})
	k3 := mk(map[string]any{"name": "px k3", "project_id": p1, "status": "disabled"})
	k4 := mk(map[string]any{"name": "px k4", "project_id": p1})
	must(t, e, 200, req{Method: "PATCH", Path: "/v1/keys/" + k4["id"].(string), Body: map[string]any{"status": "revoked"}})
	k5 := mk(map[string]any{"name": "px k5", "project_id": p2})
	k6 := mk(map[string]any{"name": "px k6"})
	untouched := map[string]string{}
	for _, k := range []map[string]any{k4, k5, k6} {
		untouched[k["id"].(string)] = must(t, e, 200, req{Method: "GET", Path: "/v1/keys/" + k["id"].(string)}).JSON(t)["etag"].(string)
	}

	t.Run("stale If-Match changes nothing", func(t *testing.T) {
		before := dump(t, e)
		pxProblem(t, e.do(req{Method: "DELETE", Path: "/v1/projects/" + p1, Header: map[string]string{"If-Match": `"stale"`}}), 412, "precondition_failed")
		unchanged(t, e, before, "a stale If-Match")
	})

	n := e.auditCount()
	last := events(t, e, "", nil)[0]["id"].(string)
	must(t, e, 204, req{Method: "DELETE", Path: "/v1/projects/" + p1, Header: map[string]string{"X-Request-Id": "px-delete-project"}})

	var fresh []map[string]any
	for _, ev := range events(t, e, "", nil) {
		if ev["id"].(string) > last {
			fresh = append(fresh, ev)
		}
	}
	if got := e.auditCount(); got != n+4 || len(fresh) != 4 {
		t.Errorf("audit events %d → %d (%d new), want 3 key.revoked and 1 project.deleted", n, got, len(fresh))
	}
	revoked := map[string]int{}
	for _, ev := range fresh {
		if ev["request_id"] != "px-delete-project" {
			t.Errorf("event %v has request_id %v", ev["action"], ev["request_id"])
		}
		switch ev["action"] {
		case "key.revoked":
			revoked[pxTarget(ev)]++
			st, _ := ev["changes"].(map[string]any)["status"].(map[string]any)
			if st["after"] != "revoked" || (st["before"] != "active" && st["before"] != "disabled") {
				t.Errorf("key.revoked changes: %v", ev["changes"])
			}
		case "project.deleted":
			if pxTarget(ev) != p1 {
				t.Errorf("project.deleted target %v", ev["target"])
			}
		default:
			t.Errorf("unexpected event %v on %v", ev["action"], ev["target"])
		}
	}
	want := map[string]int{k1["id"].(string): 1, k2["id"].(string): 1, k3["id"].(string): 1}
	if fmt.Sprint(revoked) != fmt.Sprint(want) {
		t.Errorf("key.revoked events per key %v, want %v", revoked, want)
	}

	for _, k := range []map[string]any{k1, k2, k3} {
		g := must(t, e, 200, req{Method: "GET", Path: "/v1/keys/" + k["id"].(string)}).JSON(t)
		if g["status"] != "revoked" {
			t.Errorf("%s: status %v after its project was deleted", k["name"], g["status"])
		}
		if v := e.verify(map[string]any{"key": k["secret"]}); v["code"] != "REVOKED" || v["valid"] != false {
			t.Errorf("verify %s: %v", k["name"], v)
		}
	}
	for id, etag := range untouched {
		g := must(t, e, 200, req{Method: "GET", Path: "/v1/keys/" + id}).JSON(t)
		if g["etag"] != etag {
			t.Errorf("%s changed (etag %v → %v)", g["name"], etag, g["etag"])
		}
	}
	for _, k := range []map[string]any{k5, k6} {
		if v := e.verify(map[string]any{"key": k["secret"]}); v["code"] != "VALID" {
			t.Errorf("verify %s: %v", k["name"], v)
		}
	}

	pxProblem(t, e.do(req{Method: "GET", Path: "/v1/projects/" + p1}), 404, "not_found")
	pxProblem(t, e.do(req{Method: "DELETE", Path: "/v1/projects/" + p1}), 404, "not_found")
	pxProblem(t, e.do(req{Method: "PATCH", Path: "/v1/projects/" + p1, Body: map[string]any{"name": "px"}}), 404, "not_found")
	if ids, _ := pxIDs(t, must(t, e, 200, req{Method: "GET", Path: "/v1/projects"})); !slices.Equal(ids, []string{p2}) {
		t.Errorf("projects after delete: %v", ids)
	}
	t.Run("a deleted project cannot be named", func(t *testing.T) {
		before := dump(t, e)
		p := pxProblem(t, e.do(req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "px late", "project_id": p1}}), 422, "validation_failed")
		if p != nil && !pxNames(p, "project_id") {
			t.Errorf("the problem does not name project_id: %v", fields(p))
		}
		p = pxProblem(t, e.do(req{Method: "PATCH", Path: "/v1/keys/" + k6["id"].(string), Body: map[string]any{"project_id": p1}}), 422, "validation_failed")
		if p != nil && !pxNames(p, "project_id") {
			t.Errorf("the problem does not name project_id: %v", fields(p))
		}
		unchanged(t, e, before, "naming a deleted project")
	})
	t.Run("the project's keys are filtered by it", func(t *testing.T) {
		ids, _ := pxIDs(t, must(t, e, 200, req{Method: "GET", Path: "/v1/keys?project_id=" + url.QueryEscape(p2)}))
		if !slices.Equal(ids, []string{k5["id"].(string)}) {
			t.Errorf("keys of project two: %v", ids)
		}
	})
}

// TestPxProjectDeleteIsAtomic: when the project's own audit event cannot be
// written, the key revocations made before it in the transaction are
// rolled back too.
func TestPxProjectDeleteIsAtomic(t *testing.T) {
	e := newEnv(t)
	p := must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "px"}}).Str(t, "id")
	k := e.createKey(map[string]any{"name": "px k", "project_id": p})
	pxFailAudit(t, e, "project.deleted")
	before := dump(t, e)
	pxProblem(t, e.do(req{Method: "DELETE", Path: "/v1/projects/" + p}), 500, "internal")
	unchanged(t, e, before, "a failed project delete")
	if v := e.verify(map[string]any{"key": k["secret"]}); v["code"] != "VALID" {
		t.Errorf("the key of a project whose delete failed: %v", v)
	}
	pxAllowAudit(t, e)
	must(t, e, 204, req{Method: "DELETE", Path: "/v1/projects/" + p})
}

// pxFailAudit makes the database refuse audit events with the action
// ("" = every action), to prove a change and its event share a transaction.
func pxFailAudit(t *testing.T, e *testEnv, action string) {
	t.Helper()
	when := ""
	if action != "" {
		when = " WHEN (NEW.action = '" + action + "')"
	}
	stmts := []string{`CREATE TRIGGER px_fail_audit BEFORE INSERT ON audit_events` + when + `
		BEGIN SELECT RAISE(ABORT, 'px: audit event refused'); END`}
	if envIsPostgresURL(e.Location) {
		stmts = []string{
			`CREATE OR REPLACE FUNCTION px_fail_audit() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN RAISE EXCEPTION 'px: audit event refused'; END $$`,
			`CREATE TRIGGER px_fail_audit BEFORE INSERT ON audit_events FOR EACH ROW` + when + ` EXECUTE FUNCTION px_fail_audit()`,
		}
	}
	for _, s := range stmts {
		if _, err := e.DB.WriteDB().ExecContext(pxCtx, s); err != nil {
			t.Fatalf("create trigger: %v", err)
		}
	}
	t.Cleanup(func() { e.DB.WriteDB().ExecContext(pxCtx, pxDropAuditTrigger(e, true)) })
}

func pxAllowAudit(t *testing.T, e *testEnv) {
	t.Helper()
	if _, err := e.DB.WriteDB().ExecContext(pxCtx, pxDropAuditTrigger(e, false)); err != nil {
		t.Fatalf("drop trigger: %v", err)
	}
}

// pxDropAuditTrigger is the statement dropping pxFailAudit's trigger.
func pxDropAuditTrigger(e *testEnv, ifExists bool) string {
	s := `DROP TRIGGER `
	if ifExists {
		s += `IF EXISTS `
	}
	s += `px_fail_audit`
	if envIsPostgresURL(e.Location) {
		s += ` ON audit_events`
	}
	return s
}

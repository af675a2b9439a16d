package http_test

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// pxTokenText matches any keyward-format token (prefix, underscore, 30
// body and 6 checksum characters), whatever its prefix.
var pxTokenText = regexp.MustCompile(`[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{36}`)

const pxUserAgent = "px-agent/1.0 (audit test)"

// pxStep is one change and the audit event it must write.
type pxStep struct {
	name       string
	r          func() req
	status     int
	action     string
	targetType string
	target     func() string
	// changes: field → "before→after" as fmt.Sprint of the JSON values;
	// "*" only requires the field to be present.
	changes map[string]string
	// exact: the event names exactly these fields.
	exact bool
}

// TestPxAuditEveryChange: every change writes exactly one event naming the
// management key that made it, the action, the target, the fields changed
// before → after, the request id, client IP, user agent and dialect;
// requests that change nothing write nothing.
func TestPxAuditEveryChange(t *testing.T) {
	e := newEnv(t)
	op := pxActor(t, e, "")
	actorID, actor := mgmtKey(t, e, op.AccountID, boundPerms...)
	var project, key, secret string
	rid := 0
	send := func(r req) req {
		rid++
		r.Token = actor
		r.Header = map[string]string{"X-Request-Id": fmt.Sprintf("px-step-%d", rid), "User-Agent": pxUserAgent}
		return r
	}
	steps := []pxStep{
		{name: "create project", status: 201, action: "project.created", targetType: "project",
			r: func() req {
				return send(req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "px p", "description": "d"}})
			},
			target:  func() string { return project },
			changes: map[string]string{"name": "<nil>→px p", "description": "<nil>→d"}, exact: true},
		{name: "rename project", status: 200, action: "project.updated", targetType: "project",
			r: func() req {
				return send(req{Method: "PATCH", Path: "/v1/projects/" + project, Body: map[string]any{"name": "px p2"}})
			},
			target:  func() string { return project },
			changes: map[string]string{"name": "px p→px p2"}, exact: true},
		{name: "create key", status: 201, action: "key.created", targetType: "key",
			r: func() req {
				return send(req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "px k", "project_id": project, "metadata": map[string]any{"tier": "gold"}}})
			},
			target:  func() string { return key },
			changes: map[string]string{"name": "<nil>→px k", "project_id": "<nil>→" + "$project", "status": "<nil>→active", "metadata": "<nil>→map[tier:gold]", "start": "*", "last4": "*"}},
		{name: "patch key", status: 200, action: "key.updated", targetType: "key",
			r: func() req {
				return send(req{Method: "PATCH", Path: "/v1/keys/" + key, Body: map[string]any{"name": "px k2", "description": "kd"}})
			},
			target:  func() string { return key },
			changes: map[string]string{"name": "px k→px k2", "description": "<nil>→kd"}, exact: true},
		{name: "put key", status: 200, action: "key.updated", targetType: "key",
			r: func() req {
				return send(req{Method: "PUT", Path: "/v1/keys/" + key, Body: map[string]any{"name": "px k3", "project_id": project, "metadata": map[string]any{"tier": "gold"}}})
			},
			target:  func() string { return key },
			changes: map[string]string{"name": "px k2→px k3", "description": "kd→<nil>"}, exact: true},
		{name: "rotate key", status: 200, action: "key.rotated", targetType: "key",
			r: func() req {
				return send(req{Method: "POST", Path: "/v1/keys/" + key + "/rotate", Body: map[string]any{"grace_period_seconds": 60}})
			},
			target:  func() string { return key },
			changes: map[string]string{"previous_secret_valid_until": "*", "start": "*", "last4": "*", "rotated_at": "*"}},
		{name: "disable key", status: 200, action: "key.updated", targetType: "key",
			r: func() req {
				return send(req{Method: "PATCH", Path: "/v1/keys/" + key, Body: map[string]any{"status": "disabled"}})
			},
			target:  func() string { return key },
			changes: map[string]string{"status": "active→disabled"}, exact: true},
		{name: "revoke key", status: 200, action: "key.revoked", targetType: "key",
			r: func() req {
				return send(req{Method: "PATCH", Path: "/v1/keys/" + key, Body: map[string]any{"status": "revoked"}})
			},
			target:  func() string { return key },
			changes: map[string]string{"status": "disabled→revoked"}, exact: true},
		{name: "delete key", status: 204, action: "key.deleted", targetType: "key",
			r:       func() req { return send(req{Method: "DELETE", Path: "/v1/keys/" + key}) },
			target:  func() string { return key },
			changes: map[string]string{"name": "px k3→<nil>", "status": "revoked→<nil>"}},
		{name: "create resource", status: 201, action: "catalog_resource.created", targetType: "catalog_resource",
			r: func() req {
				return send(req{Method: "PUT", Path: "/v1/catalog/resources/pxr", Body: map[string]any{"group": "px"}})
			},
			target:  func() string { return "pxr" },
			changes: map[string]string{"display_name": "<nil>→pxr", "group": "<nil>→px", "protected": "<nil>→false"}},
		{name: "change resource", status: 200, action: "catalog_resource.updated", targetType: "catalog_resource",
			r: func() req {
				return send(req{Method: "PUT", Path: "/v1/catalog/resources/pxr", Body: map[string]any{"group": "px", "display_name": "PX R", "writable": false}})
			},
			target:  func() string { return "pxr" },
			changes: map[string]string{"display_name": "pxr→PX R", "writable": "true→false"}, exact: true},
		{name: "delete resource", status: 204, action: "catalog_resource.deleted", targetType: "catalog_resource",
			r:       func() req { return send(req{Method: "DELETE", Path: "/v1/catalog/resources/pxr"}) },
			target:  func() string { return "pxr" },
			changes: map[string]string{"display_name": "PX R→<nil>"}},
		{name: "delete project", status: 204, action: "project.deleted", targetType: "project",
			r:       func() req { return send(req{Method: "DELETE", Path: "/v1/projects/" + project}) },
			target:  func() string { return project },
			changes: map[string]string{"name": "px p2→<nil>"}},
	}
	newest := func() map[string]any {
		evs := must(t, e, 200, req{Method: "GET", Path: "/v1/audit-events?limit=1"}).JSON(t)["data"].([]any)
		return evs[0].(map[string]any)
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			n := e.auditCount()
			prev := newest()["id"].(string)
			r := s.r()
			res := must(t, e, s.status, r)
			switch {
			case r.Method == "POST" && r.Path == "/v1/projects":
				project = res.JSON(t)["id"].(string)
			case r.Method == "POST" && r.Path == "/v1/keys":
				k := res.JSON(t)
				key, secret = k["id"].(string), k["secret"].(string)
			}
			if got := e.auditCount(); got != n+1 {
				t.Fatalf("audit events %d → %d, want exactly one more", n, got)
			}
			ev := newest()
			if ev["id"].(string) <= prev {
				t.Fatalf("newest event %v is not newer than %v", ev["id"], prev)
			}
			want := map[string]any{
				"action": s.action, "request_id": r.Header["X-Request-Id"], "client_ip": "127.0.0.1",
				"user_agent": pxUserAgent, "dialect": "native", "account_id": op.AccountID,
				"actor":  map[string]any{"type": "management_key", "id": actorID},
				"target": map[string]any{"type": s.targetType, "id": s.target()},
			}
			for k, v := range want {
				if fmt.Sprint(ev[k]) != fmt.Sprint(v) {
					t.Errorf("%s %v, want %v", k, ev[k], v)
				}
			}
			timeOf(t, ev["created_at"])
			ch, _ := ev["changes"].(map[string]any)
			for f, w := range s.changes {
				c, ok := ch[f].(map[string]any)
				if !ok {
					t.Errorf("changes has no %s: %v", f, ch)
					continue
				}
				w = strings.ReplaceAll(w, "$project", project)
				if got := fmt.Sprintf("%v→%v", c["before"], c["after"]); w != "*" && got != w {
					t.Errorf("changes.%s %s, want %s", f, got, w)
				}
				if fmt.Sprint(c["before"]) == fmt.Sprint(c["after"]) {
					t.Errorf("changes.%s lists an unchanged value %v", f, c["before"])
				}
			}
			if s.exact && len(ch) != len(s.changes) {
				t.Errorf("changes %v, want exactly the fields %v", ch, s.changes)
			}
			for f, c := range ch {
				c := c.(map[string]any)
				if fmt.Sprint(c["before"]) == fmt.Sprint(c["after"]) {
					t.Errorf("changes.%s lists an unchanged value %v", f, c["before"])
				}
			}
		})
		if s.name == "create key" {
			// Requests that change nothing write nothing.
			t.Run("no-ops", func(t *testing.T) {
				n := e.auditCount()
				for _, r := range []req{
					{Method: "GET", Path: "/v1/keys"},
					{Method: "GET", Path: "/v1/keys/" + key},
					{Method: "HEAD", Path: "/v1/keys/" + key},
					{Method: "GET", Path: "/v1/projects/" + project},
					{Method: "GET", Path: "/v1/catalog"},
					{Method: "GET", Path: "/v1/audit-events"},
					{Method: "POST", Path: "/v1/keys/verify", Body: map[string]any{"key": secret}},
					{Method: "PATCH", Path: "/v1/keys/" + key, Body: map[string]any{}},
					{Method: "PATCH", Path: "/v1/keys/" + key, Body: map[string]any{"name": "px k", "project_id": project}},
					{Method: "PATCH", Path: "/v1/projects/" + project, Body: map[string]any{}},
					{Method: "PUT", Path: "/v1/catalog/resources/documents", Body: pxResourceBody(pxResources(t, e)["documents"], nil)},
				} {
					res := e.do(send(r))
					if res.Status != 200 {
						t.Errorf("%s %s: status %d\n%s", r.Method, r.Path, res.Status, short(res.Body))
					}
				}
				for _, r := range []req{
					{Method: "PATCH", Path: "/v1/keys/" + key, Body: map[string]any{"name": ""}},
					{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "px", "kind": "management"}},
					{Method: "PATCH", Path: "/v1/projects/" + project, Body: map[string]any{"px": 1}},
				} {
					if res := e.do(send(r)); res.Status < 400 {
						t.Errorf("%s %s: status %d, want an error", r.Method, r.Path, res.Status)
					}
				}
				if got := e.auditCount(); got != n {
					t.Errorf("requests that change nothing wrote %d events", got-n)
				}
			})
		}
	}
}

// pxHistory makes a varied audit history with two actors and returns the
// ids it touched and every secret it saw.
func pxHistory(t *testing.T, e *testEnv) (actorID string, keyIDs []string, secrets []string) {
	t.Helper()
	op := pxActor(t, e, "")
	actorID, actor := mgmtKey(t, e, op.AccountID, boundPerms...)
	secrets = append(secrets, e.Op, actor)
	for i := range 4 {
		tok := ""
		if i%2 == 1 {
			tok = actor
		}
		k := must(t, e, 201, req{Method: "POST", Path: "/v1/keys", Token: tok, Body: map[string]any{"name": fmt.Sprintf("px %d", i)}}).JSON(t)
		id := k["id"].(string)
		keyIDs = append(keyIDs, id)
		secrets = append(secrets, k["secret"].(string))
		must(t, e, 200, req{Method: "PATCH", Path: "/v1/keys/" + id, Token: tok, Body: map[string]any{"name": fmt.Sprintf("px %d renamed", i)}})
		r := must(t, e, 200, req{Method: "POST", Path: "/v1/keys/" + id + "/rotate", Body: map[string]any{"grace_period_seconds": 30}}).JSON(t)
		secrets = append(secrets, r["secret"].(string))
		must(t, e, 200, req{Method: "PUT", Path: "/v1/keys/" + id, Token: tok, Body: map[string]any{"name": fmt.Sprintf("px %d replaced", i), "metadata": map[string]any{"secret_like": "not a token"}}})
	}
	must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Token: actor, Body: map[string]any{"name": "px"}})
	must(t, e, 201, req{Method: "PUT", Path: "/v1/catalog/resources/pxhist", Body: map[string]any{}})
	must(t, e, 200, req{Method: "PATCH", Path: "/v1/keys/" + keyIDs[0], Body: map[string]any{"status": "revoked"}})
	must(t, e, 204, req{Method: "DELETE", Path: "/v1/keys/" + keyIDs[1]})
	return actorID, keyIDs, secrets
}

func TestPxAuditFilters(t *testing.T) {
	e := newEnv(t)
	actorID, keyIDs, _ := pxHistory(t, e)
	all := events(t, e, "", nil)
	if len(all) < 20 {
		t.Fatalf("only %d events", len(all))
	}
	ids := func(evs []map[string]any) []string {
		out := []string{}
		for _, ev := range evs {
			out = append(out, ev["id"].(string))
		}
		return out
	}
	where := func(keep func(ev map[string]any) bool) []string {
		var out []map[string]any
		for _, ev := range all {
			if keep(ev) {
				out = append(out, ev)
			}
		}
		return ids(out)
	}
	actorOf := func(ev map[string]any) string { return ev["actor"].(map[string]any)["id"].(string) }
	mid := all[len(all)/2]["created_at"].(string)
	late := all[len(all)/4]["created_at"].(string)
	midT, lateT := timeOf(t, mid), timeOf(t, late)
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"target_id=" + keyIDs[0], where(func(ev map[string]any) bool { return pxTarget(ev) == keyIDs[0] })},
		{"target_id=" + keyIDs[1], where(func(ev map[string]any) bool { return pxTarget(ev) == keyIDs[1] })},
		{"actor_id=" + actorID, where(func(ev map[string]any) bool { return actorOf(ev) == actorID })},
		{"actor_id=" + e.OperatorKeyID, where(func(ev map[string]any) bool { return actorOf(ev) == e.OperatorKeyID })},
		{"action=key.updated", where(func(ev map[string]any) bool { return ev["action"] == "key.updated" })},
		{"action=key.rotated", where(func(ev map[string]any) bool { return ev["action"] == "key.rotated" })},
		{"target_id=" + keyIDs[2] + "&action=key.updated&actor_id=" + e.OperatorKeyID, where(func(ev map[string]any) bool {
			return pxTarget(ev) == keyIDs[2] && ev["action"] == "key.updated" && actorOf(ev) == e.OperatorKeyID
		})},
		{"since=" + url.QueryEscape(mid), where(func(ev map[string]any) bool { return !timeOf(t, ev["created_at"]).Before(midT) })},
		{"until=" + url.QueryEscape(mid), where(func(ev map[string]any) bool { return timeOf(t, ev["created_at"]).Before(midT) })},
		{"since=" + url.QueryEscape(mid) + "&until=" + url.QueryEscape(late), where(func(ev map[string]any) bool {
			ts := timeOf(t, ev["created_at"])
			return !ts.Before(midT) && ts.Before(lateT)
		})},
		{"since=" + url.QueryEscape(mid) + "&action=key.created", where(func(ev map[string]any) bool {
			return !timeOf(t, ev["created_at"]).Before(midT) && ev["action"] == "key.created"
		})},
		{"target_id=" + newID("key_"), []string{}},
		{"action=nope", []string{}},
		{"actor_id=nope", []string{}},
		{"since=2999-01-01T00:00:00Z", []string{}},
		{"until=2000-01-01T00:00:00Z", []string{}},
	} {
		t.Run(c.query, func(t *testing.T) {
			if c.want == nil {
				c.want = []string{}
			}
			if got := ids(events(t, e, c.query, nil)); !slices.Equal(got, c.want) {
				t.Errorf("got %d events %v\nwant %d %v", len(got), got, len(c.want), c.want)
			}
		})
	}
	for _, q := range []string{"since=yesterday", "until=1", "limit=0", "limit=201", "px=1", "starting_after=" + keyIDs[0], "ending_before=x", "action=a&action=b", "target_id=" + strings.Repeat("t", 129)} {
		t.Run(q, func(t *testing.T) {
			pxProblem(t, e.do(req{Method: "GET", Path: "/v1/audit-events?" + q}), 400, "invalid_parameter")
		})
	}

	t.Run("cursor pagination", func(t *testing.T) {
		var walked []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(all) {
				t.Fatal("pagination does not end")
			}
			q := "/v1/audit-events?limit=3"
			if after != "" {
				q += "&starting_after=" + after
			}
			page, more := pxIDs(t, must(t, e, 200, req{Method: "GET", Path: q}))
			if len(page) > 3 || (more && len(page) != 3) {
				t.Fatalf("page of %d with has_more %v", len(page), more)
			}
			walked = append(walked, page...)
			if !more {
				break
			}
			after = page[len(page)-1]
		}
		if !slices.Equal(walked, ids(all)) {
			t.Errorf("forward walk %v\nwant %v", walked, ids(all))
		}
		// Backwards from the oldest event with ending_before.
		var back []string
		before := all[len(all)-1]["id"].(string)
		for {
			page, more := pxIDs(t, must(t, e, 200, req{Method: "GET", Path: "/v1/audit-events?limit=4&ending_before=" + before}))
			back = append(page, back...)
			if !more {
				break
			}
			before = page[0]
		}
		if want := ids(all[:len(all)-1]); !slices.Equal(back, want) {
			t.Errorf("backward walk %v\nwant %v", back, want)
		}
		// Filters and cursors combine.
		upd := where(func(ev map[string]any) bool { return ev["action"] == "key.updated" })
		page, more := pxIDs(t, must(t, e, 200, req{Method: "GET", Path: "/v1/audit-events?action=key.updated&limit=2&starting_after=" + upd[1]}))
		if !slices.Equal(page, upd[2:4]) || more != (len(upd) > 4) {
			t.Errorf("filtered page %v (more %v), want %v", page, more, upd[2:4])
		}
	})
	t.Run("other accounts' events are not listed", func(t *testing.T) {
		other := pxOtherAccount(t, e, "px-other")
		must(t, e, 201, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "px"}, Header: map[string]string{"X-Account-Id": other}})
		if got := ids(events(t, e, "", nil)); !slices.Equal(got, ids(all)) {
			t.Errorf("the default account's log changed after a change in another account")
		}
		if got := events(t, e, "action=key.created", nil); len(got) != 4 {
			t.Errorf("%d key.created events in the default account, want 4", len(got))
		}
		evs := must(t, e, 200, req{Method: "GET", Path: "/v1/audit-events", Header: map[string]string{"X-Account-Id": other}}).JSON(t)["data"].([]any)
		if len(evs) != 1 {
			t.Errorf("the other account has %d events, want 1", len(evs))
		}
	})
}

// TestPxAuditHoldsNoSecret: no token (of any prefix) appears in the audit
// log, through the API or in the table, and no secret is in the database
// files at all (only SHA-256 is stored).
func TestPxAuditHoldsNoSecret(t *testing.T) {
	e := newEnv(t)
	_, _, secrets := pxHistory(t, e)
	var raw strings.Builder
	after := ""
	for {
		q := "/v1/audit-events?limit=200"
		if after != "" {
			q += "&starting_after=" + after
		}
		res := must(t, e, 200, req{Method: "GET", Path: q})
		raw.Write(res.Body)
		ids, more := pxIDs(t, res)
		if !more {
			break
		}
		after = ids[len(ids)-1]
	}
	var table strings.Builder
	for _, l := range strings.Split(dump(t, e), "\n") {
		if strings.HasPrefix(l, "audit_events ") {
			table.WriteString(l + "\n")
		}
	}
	if table.Len() == 0 {
		t.Fatal("no audit_events rows")
	}
	for what, text := range map[string]string{"the audit API": raw.String(), "the audit_events table": table.String()} {
		if m := pxTokenText.FindAllString(text, 3); len(m) > 0 {
			t.Errorf("%s holds token text: %v", what, m)
		}
		for _, s := range secrets {
			body := s[strings.IndexByte(s, '_')+1:]
			if strings.Contains(text, body[:20]) {
				t.Errorf("%s holds (part of) a secret", what)
			}
		}
	}
	for f, b := range envStoredBytes(t, e.Location) {
		for _, s := range secrets {
			if strings.Contains(string(b), s[strings.IndexByte(s, '_')+1:]) {
				t.Errorf("%s holds a secret in clear", f)
			}
		}
	}
}

// TestPxAuditAppendOnly: no route changes or deletes events, and the
// database itself refuses to.
func TestPxAuditAppendOnly(t *testing.T) {
	e := newEnv(t)
	pxHistory(t, e)
	evs := events(t, e, "", nil)
	id := evs[len(evs)/2]["id"].(string)
	before := dump(t, e)
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		res := e.do(req{Method: m, Path: "/v1/audit-events", Body: map[string]any{"action": "px"}})
		pxProblem(t, res, 405, "method_not_allowed")
		if got := pxAllow(res.Header.Get("Allow")); !slices.Equal(got, []string{"GET", "HEAD"}) {
			t.Errorf("%s /v1/audit-events: Allow %v", m, got)
		}
	}
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		pxProblem(t, e.do(req{Method: m, Path: "/v1/audit-events/" + id, Body: map[string]any{"action": "px"}}), 404, "not_found")
	}
	unchanged(t, e, before, "requests against the audit log")

	db := e.DB.WriteDB()
	cols := "id, account_id, created_at, actor_type, actor_id, action, target_type, target_id, changes, request_id, client_ip, user_agent, dialect"
	tampered := strings.Replace(cols, "action", "'px.tampered'", 1)
	cases := []struct{ name, sql string }{
		{"update one", `UPDATE audit_events SET action = 'px.tampered' WHERE id = ?`},
		{"update all", `UPDATE audit_events SET changes = '{}' WHERE id <> ?`},
		{"delete one", `DELETE FROM audit_events WHERE id = ?`},
		{"delete all", `DELETE FROM audit_events WHERE id <> ?`},
		{"upsert", `INSERT INTO audit_events (` + cols + `) SELECT ` + cols + ` FROM audit_events WHERE id = ? ON CONFLICT (id) DO UPDATE SET action = 'px.tampered'`},
		{"insert or replace", `INSERT OR REPLACE INTO audit_events (` + cols + `) SELECT ` + tampered + ` FROM audit_events WHERE id = ?`},
		{"replace", `REPLACE INTO audit_events (` + cols + `) SELECT ` + tampered + ` FROM audit_events WHERE id = ?`},
	}
	if envIsPostgresURL(e.Location) {
		// SQLite has no TRUNCATE; PostgreSQL's skips row triggers.
		cases = append(cases, struct{ name, sql string }{"truncate", `TRUNCATE audit_events`})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if strings.Contains(c.name, "replace") {
				sqliteOnly(t, "SQLite syntax; PostgreSQL has only ON CONFLICT, tested by upsert")
			}
			var args []any
			if strings.Contains(c.sql, "?") {
				args = append(args, id)
			}
			// Refused by the append-only triggers, not for any other reason.
			if _, err := db.ExecContext(pxCtx, envSQL(e, c.sql), args...); err == nil {
				t.Errorf("the database accepted %s", c.sql)
			} else if !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s failed, but not as append-only: %v", c.sql, err)
			}
			unchanged(t, e, before, c.name)
		})
	}
}

// TestPxAuditSameTransaction: a change and its audit event are one
// transaction: when the event cannot be written, the change is not made.
func TestPxAuditSameTransaction(t *testing.T) {
	e := newEnv(t)
	p := must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "px"}}).Str(t, "id")
	k := e.createKey(map[string]any{"name": "px", "project_id": p})
	id := k["id"].(string)
	must(t, e, 201, req{Method: "PUT", Path: "/v1/catalog/resources/pxtx", Body: map[string]any{}})
	changes := []req{
		{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "px new"}},
		{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"name": "px changed"}},
		{Method: "PUT", Path: "/v1/keys/" + id, Body: map[string]any{"name": "px replaced", "project_id": p}},
		{Method: "POST", Path: "/v1/keys/" + id + "/rotate", Body: map[string]any{"grace_period_seconds": 0}},
		{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"status": "revoked"}},
		{Method: "DELETE", Path: "/v1/keys/" + id},
		{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "px new"}},
		{Method: "PATCH", Path: "/v1/projects/" + p, Body: map[string]any{"name": "px changed"}},
		{Method: "DELETE", Path: "/v1/projects/" + p},
		{Method: "PUT", Path: "/v1/catalog/resources/pxnew", Body: map[string]any{}},
		{Method: "PUT", Path: "/v1/catalog/resources/pxtx", Body: map[string]any{"display_name": "changed"}},
		{Method: "DELETE", Path: "/v1/catalog/resources/pxtx"},
	}
	pxFailAudit(t, e, "")
	before := dump(t, e)
	for _, r := range changes {
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			pxProblem(t, e.do(r), 500, "internal")
			unchanged(t, e, before, "a change whose audit event failed")
		})
	}
	if v := e.verify(map[string]any{"key": k["secret"]}); v["code"] != "VALID" {
		t.Errorf("the key after failed changes: %v", v)
	}
	pxAllowAudit(t, e)
	for _, r := range changes {
		if res := e.do(r); res.Status >= 300 {
			t.Errorf("%s %s once events can be written: status %d\n%s", r.Method, r.Path, res.Status, short(res.Body))
		}
	}
}

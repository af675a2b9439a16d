package http_test

// Users, service accounts and roles over HTTP: their rules, their lists,
// and what roles do to the keys that hold them.

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// meIDs lists path with the operator key and returns the ids (or, for
// roles, the names) in order, and has_more.
func meIDs(t *testing.T, e *testEnv, path string) ([]string, bool) {
	t.Helper()
	body := must(t, e, http.StatusOK, req{Method: "GET", Path: path}).JSON(t)
	ids := []string{}
	for _, d := range body["data"].([]any) {
		m := d.(map[string]any)
		id, ok := m["id"].(string)
		if !ok {
			id = m["name"].(string)
		}
		ids = append(ids, id)
	}
	return ids, body["has_more"] == true
}

func meSameIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func scope(resource, access string, targets ...string) map[string]any {
	s := map[string]any{"resource": resource, "access": access}
	if targets != nil {
		s["targets"] = targets
	}
	return s
}

// meRole creates a role of the default account with scopes.
func meRole(t *testing.T, e *testEnv, name string, scopes ...map[string]any) {
	t.Helper()
	if scopes == nil {
		scopes = []map[string]any{}
	}
	create(t, e, nil, "/v1/roles", map[string]any{"name": name, "scopes": scopes})
}

func TestMeUserCreateAndRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acct := defaultAccount(t, e)
	meRole(t, e, "reader", scope("documents", "read"))
	before := e.auditCount()

	res := must(t, e, 201, req{Method: "POST", Path: "/v1/users", Body: map[string]any{
		"external_id": "crm-42", "email": "alice@example.com", "name": "Alice", "roles": []string{"reader", "reader"},
	}})
	u := res.JSON(t)
	id, _ := u["id"].(string)
	if !strings.HasPrefix(id, "usr_") || res.Header.Get("Location") != "/v1/users/"+id || res.Header.Get("ETag") != `"`+fmt.Sprint(u["etag"])+`"` {
		t.Errorf("id %q, Location %q, ETag %q", id, res.Header.Get("Location"), res.Header.Get("ETag"))
	}
	for k, want := range map[string]any{"account_id": acct, "external_id": "crm-42", "email": "alice@example.com", "name": "Alice", "status": "active"} {
		if u[k] != want {
			t.Errorf("%s = %v, want %v", k, u[k], want)
		}
	}
	if fmt.Sprint(u["roles"]) != "[reader]" {
		t.Errorf("roles %v, want [reader] (de-duplicated)", u["roles"])
	}
	if n := e.auditCount(); n != before+1 {
		t.Errorf("create wrote %d audit events, want 1", n-before)
	}
	if evs := events(t, e, "target_id="+id+"&action="+"user.created", nil); len(evs) != 1 {
		t.Errorf("user.created events: %v", evs)
	}

	// Everything is optional.
	bare := create(t, e, nil, "/v1/users", map[string]any{})
	if bare["external_id"] != nil || bare["email"] != nil || bare["name"] != nil || fmt.Sprint(bare["roles"]) != "[]" || bare["status"] != "active" {
		t.Errorf("a user created from {}: %v", bare)
	}
	create(t, e, nil, "/v1/users", map[string]any{"email": "carol+tag@sub.example.co", "status": "disabled"})

	// external_id is unique in an account, not across accounts.
	other := account(t, e, "me other")
	before2 := dump(t, e)
	problem(t, e.do(req{Method: "POST", Path: "/v1/users", Body: map[string]any{"external_id": "crm-42"}}), 409, "duplicate")
	unchanged(t, e, before2, "duplicate external_id")
	ou := create(t, e, map[string]string{"X-Account-Id": other}, "/v1/users", map[string]any{"external_id": "crm-42"})
	if ou["account_id"] != other {
		t.Errorf("user made with X-Account-Id: account_id %v", ou["account_id"])
	}
	// Another account's users are not found; its roles do not exist here.
	meRefused(t, e, req{Method: "GET", Path: "/v1/users/" + ou["id"].(string)}, 404, "not_found")
	meRefused(t, e, req{Method: "PATCH", Path: "/v1/users/" + ou["id"].(string), Body: map[string]any{"name": "x"}}, 404, "not_found")
	meRefused(t, e, req{Method: "DELETE", Path: "/v1/users/" + ou["id"].(string)}, 404, "not_found")
	meInvalidReq(t, e, req{Method: "POST", Path: "/v1/users", Header: map[string]string{"X-Account-Id": other}, Body: map[string]any{"roles": []string{"reader"}}}, "roles[0]")

	for _, c := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"email without at", map[string]any{"email": "alice.example.com"}, "email"},
		{"email with display name", map[string]any{"email": "Alice <alice@example.com>"}, "email"},
		{"email without domain", map[string]any{"email": "alice@"}, "email"},
		{"email without local part", map[string]any{"email": "@example.com"}, "email"},
		{"empty email", map[string]any{"email": ""}, "email"},
		{"email with spaces", map[string]any{"email": "a b@example.com"}, "email"},
		{"unknown role", map[string]any{"roles": []string{"reader", "writer"}}, "roles[1]"},
		{"malformed role", map[string]any{"roles": []string{"Not A Role"}}, "roles[0]"},
		{"null roles", map[string]any{"roles": nil}, "roles"},
		{"unknown status", map[string]any{"status": "deleted"}, "status"},
		{"null status", map[string]any{"status": nil}, "status"},
		{"blank name", map[string]any{"name": "  "}, "name"},
		{"multi-line name", map[string]any{"name": "a\nb"}, "name"},
		{"long external_id", map[string]any{"external_id": strings.Repeat("x", 256)}, "external_id"},
		{"empty external_id", map[string]any{"external_id": ""}, "external_id"},
		{"wrong type", map[string]any{"roles": "reader"}, "roles"},
	} {
		t.Run(c.name, func(t *testing.T) {
			meInvalidReq(t, e, req{Method: "POST", Path: "/v1/users", Body: c.body}, c.field)
		})
	}
	problem(t, e.do(req{Method: "POST", Path: "/v1/users", Body: map[string]any{"nickname": "x"}}), 400, "unknown_field")
	meRefused(t, e, req{Method: "GET", Path: "/v1/users/usr_nope"}, 404, "not_found")
	meRefused(t, e, req{Method: "GET", Path: "/v1/users/" + strings.Replace(id, "usr_", "sa_", 1)}, 404, "not_found")
}

func TestMeUserPatchAndDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	meRole(t, e, "reader", scope("documents", "read"))
	meRole(t, e, "writer", scope("documents", "write"))
	u := create(t, e, nil, "/v1/users", map[string]any{"external_id": "e-1", "email": "a@example.com", "name": "A", "roles": []string{"reader"}})
	create(t, e, nil, "/v1/users", map[string]any{"external_id": "e-2"})
	path := "/v1/users/" + u["id"].(string)

	// {} and a PATCH of equal values: nothing written.
	before := dump(t, e)
	for _, body := range []map[string]any{{}, {"name": "A", "roles": []string{"reader"}, "status": "active"}} {
		got := patch(t, e, path, body)
		if got["etag"] != u["etag"] || got["updated_at"] != u["updated_at"] {
			t.Errorf("no-op PATCH %v changed etag or updated_at", body)
		}
	}
	unchanged(t, e, before, "no-op PATCH")

	p := patch(t, e, path, map[string]any{"roles": []string{"writer", "reader"}, "status": "disabled", "name": "Ann"})
	if fmt.Sprint(p["roles"]) != "[writer reader]" || p["status"] != "disabled" || p["name"] != "Ann" || p["etag"] == u["etag"] {
		t.Errorf("after PATCH: %v", p)
	}
	if p["external_id"] != "e-1" || p["email"] != "a@example.com" {
		t.Errorf("absent members changed: %v", p)
	}
	if evs := events(t, e, "target_id="+u["id"].(string)+"&action="+"user.updated", nil); len(evs) != 1 {
		t.Errorf("user.updated events: %d", len(evs))
	}

	// null clears the optional members.
	p = patch(t, e, path, map[string]any{"external_id": nil, "email": nil, "name": nil})
	if p["external_id"] != nil || p["email"] != nil || p["name"] != nil || p["status"] != "disabled" {
		t.Errorf("after PATCH null: %v", p)
	}
	got := must(t, e, 200, req{Method: "GET", Path: path}).JSON(t)
	if got["external_id"] != nil || got["email"] != nil || got["name"] != nil || got["etag"] != p["etag"] {
		t.Errorf("GET after PATCH null: %v", got)
	}
	// The cleared external_id is free again.
	create(t, e, nil, "/v1/users", map[string]any{"external_id": "e-1"})

	for _, c := range []struct {
		body   map[string]any
		status int
		code   string
		field  string
	}{
		{map[string]any{"external_id": "e-2"}, 409, "duplicate", ""},
		{map[string]any{"roles": []string{"admin"}}, 422, "validation_failed", "roles[0]"},
		{map[string]any{"roles": nil}, 422, "validation_failed", "roles"},
		{map[string]any{"status": nil}, 422, "validation_failed", "status"},
		{map[string]any{"status": "revoked"}, 422, "validation_failed", "status"},
		{map[string]any{"email": "nope"}, 422, "validation_failed", "email"},
		{map[string]any{"id": "usr_x"}, 400, "unknown_field", ""},
	} {
		before := dump(t, e)
		pr := problem(t, e.do(req{Method: "PATCH", Path: path, Body: c.body}), c.status, c.code)
		if c.field != "" && !slices.Contains(fields(pr), c.field) {
			t.Errorf("PATCH %v names %v, want %s", c.body, fields(pr), c.field)
		}
		unchanged(t, e, before, fmt.Sprintf("PATCH %v", c.body))
	}
	meRefused(t, e, req{Method: "PATCH", Path: path, Header: map[string]string{"If-Match": `"nope"`}, Body: map[string]any{"name": "x"}}, 412, "precondition_failed")

	must(t, e, 204, req{Method: "DELETE", Path: path})
	meRefused(t, e, req{Method: "GET", Path: path}, 404, "not_found")
	meRefused(t, e, req{Method: "DELETE", Path: path}, 404, "not_found")
	if evs := events(t, e, "target_id="+u["id"].(string)+"&action="+"user.deleted", nil); len(evs) != 1 {
		t.Errorf("user.deleted events: %d", len(evs))
	}
}

func TestMeUserList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// a_b and axb: an underscore in the role filter is not a wildcard.
	meRole(t, e, "a_b")
	meRole(t, e, "axb")
	id := func(body map[string]any) string { return create(t, e, nil, "/v1/users", body)["id"].(string) }
	u1 := id(map[string]any{"external_id": "e1", "email": "alice@example.com", "name": "Alice Smith", "roles": []string{"a_b"}})
	u2 := id(map[string]any{"external_id": "e2", "email": "bob@example.org", "name": "Bob", "roles": []string{"axb"}, "status": "disabled"})
	u3 := id(map[string]any{"name": "Carol ALICE", "roles": []string{"axb", "a_b"}})
	u4 := id(map[string]any{"email": "dave@alice.test"})
	u5 := id(map[string]any{"name": "Émile 100%_sure"})
	other := account(t, e, "me other")
	create(t, e, map[string]string{"X-Account-Id": other}, "/v1/users", map[string]any{"external_id": "e1", "name": "Alice elsewhere"})

	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", []string{u5, u4, u3, u2, u1}},
		{"status=active", []string{u5, u4, u3, u1}},
		{"status=disabled", []string{u2}},
		{"role=a_b", []string{u3, u1}},
		{"role=axb", []string{u3, u2}},
		{"role=a", nil},
		{"role=nobody", nil},
		{"external_id=e1", []string{u1}},
		{"external_id=E1", nil},
		{"external_id=e", nil},
		{"search=alice", []string{u4, u3, u1}},
		{"search=ALICE", []string{u4, u3, u1}},
		{"search=example", []string{u2, u1}},
		{"search=%25_", []string{u5}},
		{"search=%25", []string{u5}},
		{"search=_", []string{u5}},
		{"search=%C3%A9mile", []string{u5}},
		{"search=%C3%89MILE", []string{u5}},
		{"search=nobody", nil},
		{"status=active&role=a_b", []string{u3, u1}},
		{"status=disabled&role=a_b", nil},
		{"search=alice&role=axb", []string{u3}},
	} {
		t.Run(c.query, func(t *testing.T) {
			got, more := meIDs(t, e, "/v1/users?"+c.query)
			meSameIDs(t, c.query, got, c.want...)
			if more {
				t.Errorf("has_more on a full list")
			}
		})
	}

	page, more := meIDs(t, e, "/v1/users?limit=2")
	meSameIDs(t, "limit=2", page, u5, u4)
	if !more {
		t.Errorf("limit=2: has_more false")
	}
	page, more = meIDs(t, e, "/v1/users?limit=2&starting_after="+u4)
	meSameIDs(t, "second page", page, u3, u2)
	if !more {
		t.Errorf("second page: has_more false")
	}
	page, more = meIDs(t, e, "/v1/users?limit=2&starting_after="+u2)
	meSameIDs(t, "last page", page, u1)
	if more {
		t.Errorf("last page: has_more true")
	}
	page, _ = meIDs(t, e, "/v1/users?limit=2&ending_before="+u2)
	meSameIDs(t, "ending_before", page, u4, u3)
	page, _ = meIDs(t, e, "/v1/users?limit=1&status=active&starting_after="+u4)
	meSameIDs(t, "filtered page", page, u3)

	for _, q := range []string{"status=gone", "status=", "role=Not%20A%20Role", "limit=0", "limit=201", "limit=x",
		"starting_after=key_01J00000000000000000000000", "starting_after=" + u1 + "&ending_before=" + u2,
		"status=active&status=disabled", "owner_id=x", "search=" + strings.Repeat("a", 256)} {
		t.Run("bad "+q, func(t *testing.T) {
			problem(t, e.do(req{Method: "GET", Path: "/v1/users?" + q}), 400, "invalid_parameter")
		})
	}
}

func TestMeServiceAccounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := must(t, e, 201, req{Method: "POST", Path: "/v1/service-accounts", Body: map[string]any{"name": "ci", "description": "builds"}})
	sa := res.JSON(t)
	id, _ := sa["id"].(string)
	if !strings.HasPrefix(id, "sa_") || res.Header.Get("Location") != "/v1/service-accounts/"+id {
		t.Errorf("id %q Location %q", id, res.Header.Get("Location"))
	}
	if sa["name"] != "ci" || sa["description"] != "builds" || sa["status"] != "active" || sa["account_id"] != defaultAccount(t, e) {
		t.Errorf("created: %v", sa)
	}
	if evs := events(t, e, "target_id="+id+"&action="+"service_account.created", nil); len(evs) != 1 {
		t.Errorf("service_account.created events: %d", len(evs))
	}

	for _, c := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no name", map[string]any{"description": "x"}, "name"},
		{"null name", map[string]any{"name": nil}, "name"},
		{"blank name", map[string]any{"name": " "}, "name"},
		{"bad status", map[string]any{"name": "x", "status": "revoked"}, "status"},
		{"wrong type", map[string]any{"name": 5}, "name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			meInvalidReq(t, e, req{Method: "POST", Path: "/v1/service-accounts", Body: c.body}, c.field)
		})
	}
	before := dump(t, e)
	problem(t, e.do(req{Method: "POST", Path: "/v1/service-accounts", Body: map[string]any{"name": "ci"}}), 409, "duplicate")
	unchanged(t, e, before, "duplicate name")
	other := account(t, e, "me other")
	osa := create(t, e, map[string]string{"X-Account-Id": other}, "/v1/service-accounts", map[string]any{"name": "ci"})
	meRefused(t, e, req{Method: "GET", Path: "/v1/service-accounts/" + osa["id"].(string)}, 404, "not_found")
	meRefused(t, e, req{Method: "DELETE", Path: "/v1/service-accounts/" + osa["id"].(string)}, 404, "not_found")

	second := create(t, e, nil, "/v1/service-accounts", map[string]any{"name": "cron"})
	path := "/v1/service-accounts/" + id
	p := patch(t, e, path, map[string]any{"name": "ci-2", "description": nil, "status": "disabled"})
	if p["name"] != "ci-2" || p["description"] != nil || p["status"] != "disabled" || p["etag"] == sa["etag"] {
		t.Errorf("after PATCH: %v", p)
	}
	if q := patch(t, e, path, map[string]any{}); q["etag"] != p["etag"] {
		t.Errorf("PATCH {} changed the etag")
	}
	before = dump(t, e)
	problem(t, e.do(req{Method: "PATCH", Path: path, Body: map[string]any{"name": "cron"}}), 409, "duplicate")
	meInvalidReq(t, e, req{Method: "PATCH", Path: path, Body: map[string]any{"name": nil}}, "name")
	meInvalidReq(t, e, req{Method: "PATCH", Path: path, Body: map[string]any{"status": "gone"}}, "status")
	unchanged(t, e, before, "refused PATCHes")

	got, _ := meIDs(t, e, "/v1/service-accounts")
	meSameIDs(t, "list", got, second["id"].(string), id)
	got, _ = meIDs(t, e, "/v1/service-accounts?status=disabled")
	meSameIDs(t, "status=disabled", got, id)
	got, _ = meIDs(t, e, "/v1/service-accounts?status=active")
	meSameIDs(t, "status=active", got, second["id"].(string))
	got, more := meIDs(t, e, "/v1/service-accounts?limit=1")
	meSameIDs(t, "limit=1", got, second["id"].(string))
	if !more {
		t.Errorf("limit=1: has_more false")
	}
	problem(t, e.do(req{Method: "GET", Path: "/v1/service-accounts?search=ci"}), 400, "invalid_parameter")

	must(t, e, 204, req{Method: "DELETE", Path: path})
	meRefused(t, e, req{Method: "GET", Path: path}, 404, "not_found")
	meRefused(t, e, req{Method: "PATCH", Path: path, Body: map[string]any{"name": "x"}}, 404, "not_found")
	// Its name is free again.
	create(t, e, nil, "/v1/service-accounts", map[string]any{"name": "ci-2"})
}

func TestMeRoleRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := must(t, e, 201, req{Method: "POST", Path: "/v1/roles", Body: map[string]any{
		"name": "reader", "description": "reads", "scopes": []any{scope("documents", "read"), scope("files", "write", "f_1", "f_2", "f_1")},
	}})
	r := res.JSON(t)
	if res.Header.Get("Location") != "/v1/roles/reader" || r["name"] != "reader" || r["description"] != "reads" {
		t.Errorf("created: Location %q %v", res.Header.Get("Location"), r)
	}
	if got := fmt.Sprint(r["scopes"]); got != "[map[access:read resource:documents targets:[*]] map[access:write resource:files targets:[f_1 f_2]]]" {
		t.Errorf("scopes %s: want targets defaulted to [*] and de-duplicated", got)
	}
	meRole(t, e, "auditor")

	for _, c := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"unknown resource", map[string]any{"name": "x", "scopes": []any{scope("documents", "read"), scope("nope", "read")}}, "scopes[1].resource"},
		{"read of write-only", map[string]any{"name": "x", "scopes": []any{scope("events", "read")}}, "scopes[0].access"},
		{"write of read-only", map[string]any{"name": "x", "scopes": []any{scope("search", "write")}}, "scopes[0].access"},
		{"protected", map[string]any{"name": "x", "scopes": []any{scope("billing", "read")}}, "scopes[0].resource"},
		{"bad access", map[string]any{"name": "x", "scopes": []any{scope("documents", "admin")}}, "scopes[0].access"},
		{"empty targets", map[string]any{"name": "x", "scopes": []any{scope("documents", "read", []string{}...)}}, "scopes[0].targets"},
		{"wildcard and ids", map[string]any{"name": "x", "scopes": []any{scope("documents", "read", "d_1", "*")}}, "scopes[0].targets[1]"},
		{"bad target", map[string]any{"name": "x", "scopes": []any{scope("documents", "read", "a b")}}, "scopes[0].targets[0]"},
		{"duplicate scope", map[string]any{"name": "x", "scopes": []any{scope("documents", "read"), scope("documents", "read", "d_1")}}, "scopes[1]"},
		{"null scopes", map[string]any{"name": "x", "scopes": nil}, "scopes"},
		{"no name", map[string]any{"scopes": []any{}}, "name"},
		{"empty name", map[string]any{"name": ""}, "name"},
		{"upper case", map[string]any{"name": "Reader"}, "name"},
		{"leading digit", map[string]any{"name": "1reader"}, "name"},
		{"space", map[string]any{"name": "read er"}, "name"},
		{"slash", map[string]any{"name": "a/b"}, "name"},
		{"non-ascii", map[string]any{"name": "lécteur"}, "name"},
		{"65 characters", map[string]any{"name": "r" + strings.Repeat("x", 64)}, "name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			meInvalidReq(t, e, req{Method: "POST", Path: "/v1/roles", Body: c.body}, c.field)
		})
	}
	// The longest name, and the other characters a name may hold.
	meRole(t, e, "r"+strings.Repeat("x", 63))
	meRole(t, e, "a0_.-z")
	before := dump(t, e)
	problem(t, e.do(req{Method: "POST", Path: "/v1/roles", Body: map[string]any{"name": "reader", "scopes": []any{}}}), 409, "duplicate")
	unchanged(t, e, before, "duplicate role")
	// Another account has its own namespace.
	other := account(t, e, "me other")
	create(t, e, map[string]string{"X-Account-Id": other}, "/v1/roles", map[string]any{"name": "reader", "scopes": []any{}})
	create(t, e, map[string]string{"X-Account-Id": other}, "/v1/roles", map[string]any{"name": "only_there", "scopes": []any{}})
	meRefused(t, e, req{Method: "GET", Path: "/v1/roles/only_there"}, 404, "not_found")

	// The list: every role, by name, not paginated.
	names, more := meIDs(t, e, "/v1/roles")
	meSameIDs(t, "roles", names, "a0_.-z", "auditor", "reader", "r"+strings.Repeat("x", 63))
	if more {
		t.Errorf("has_more on the role list")
	}
	problem(t, e.do(req{Method: "GET", Path: "/v1/roles?limit=1"}), 400, "invalid_parameter")

	got := must(t, e, 200, req{Method: "GET", Path: "/v1/roles/reader"}).JSON(t)
	if got["etag"] != r["etag"] || fmt.Sprint(got["scopes"]) != fmt.Sprint(r["scopes"]) {
		t.Errorf("GET: %v", got)
	}
	meRefused(t, e, req{Method: "GET", Path: "/v1/roles/writer"}, 404, "not_found")
	meRefused(t, e, req{Method: "GET", Path: "/v1/roles/Not%20A%20Name"}, 404, "not_found")

	// PATCH: the name never changes; sending the same one is fine.
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "writer"}, "name"},
		{map[string]any{"name": nil}, "name"},
		{map[string]any{"scopes": nil}, "scopes"},
		{map[string]any{"scopes": []any{scope("billing", "write")}}, "scopes[0].resource"},
		{map[string]any{"scopes": []any{scope("usage", "write")}}, "scopes[0].access"},
	} {
		meInvalidReq(t, e, req{Method: "PATCH", Path: "/v1/roles/reader", Body: c.body}, c.field)
	}
	same := patch(t, e, "/v1/roles/reader", map[string]any{"name": "reader"})
	if same["etag"] != r["etag"] {
		t.Errorf("PATCH with the same name changed the role")
	}
	p := patch(t, e, "/v1/roles/reader", map[string]any{"name": "reader", "description": nil, "scopes": []any{scope("search", "read")}})
	if p["description"] != nil || fmt.Sprint(p["scopes"]) != "[map[access:read resource:search targets:[*]]]" || p["etag"] == r["etag"] {
		t.Errorf("after PATCH: %v", p)
	}
	if evs := events(t, e, "target_id="+"reader"+"&action="+"role.updated", nil); len(evs) != 1 {
		t.Errorf("role.updated events: %d", len(evs))
	}

	must(t, e, 204, req{Method: "DELETE", Path: "/v1/roles/auditor"})
	meRefused(t, e, req{Method: "GET", Path: "/v1/roles/auditor"}, 404, "not_found")
	meRefused(t, e, req{Method: "DELETE", Path: "/v1/roles/auditor"}, 404, "not_found")
	if evs := events(t, e, "target_id="+"auditor"+"&action="+"role.deleted", nil); len(evs) != 1 {
		t.Errorf("role.deleted events: %d", len(evs))
	}
	// The other account's role of the same name is untouched.
	must(t, e, 200, req{Method: "GET", Path: "/v1/roles/reader", Header: map[string]string{"X-Account-Id": other}})
}

// TestMeRoleInUse: a role held by a user or a live key cannot be deleted;
// the 409 names them.
func TestMeRoleInUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	meRole(t, e, "reader", scope("documents", "read"))
	u := create(t, e, nil, "/v1/users", map[string]any{"name": "holder", "roles": []string{"reader"}})["id"].(string)
	k, _ := apiKey(t, e, nil, map[string]any{"name": "holder", "permission_mode": "restricted", "roles": []string{"reader"}})
	gone, _ := apiKey(t, e, nil, map[string]any{"name": "revoked holder", "permission_mode": "restricted", "roles": []string{"reader"}})
	patch(t, e, "/v1/keys/"+gone, map[string]any{"status": "revoked"})
	plain, _ := apiKey(t, e, nil, map[string]any{"name": "no role"})

	keys, _ := meIDs(t, e, "/v1/keys?role=reader")
	meSameIDs(t, "keys?role=reader", keys, gone, k)
	keys, _ = meIDs(t, e, "/v1/keys?role=reader&status=active")
	meSameIDs(t, "keys?role=reader&status=active", keys, k)
	keys, _ = meIDs(t, e, "/v1/keys?role=nobody")
	meSameIDs(t, "keys?role=nobody", keys)
	_ = plain
	problem(t, e.do(req{Method: "GET", Path: "/v1/keys?role=Bad%20Name"}), 400, "invalid_parameter")

	inUse := func(users, keys []string) {
		t.Helper()
		p := meRefused(t, e, req{Method: "DELETE", Path: "/v1/roles/reader"}, 409, "resource_in_use")
		if fmt.Sprint(p["user_ids"]) != fmt.Sprint(users) || fmt.Sprint(p["key_ids"]) != fmt.Sprint(keys) {
			t.Errorf("409 names user_ids %v key_ids %v, want %v and %v", p["user_ids"], p["key_ids"], users, keys)
		}
	}
	inUse([]string{u}, []string{k})
	patch(t, e, "/v1/users/"+u, map[string]any{"roles": []string{}})
	inUse([]string{}, []string{k})
	patch(t, e, "/v1/keys/"+k, map[string]any{"roles": []string{}})
	must(t, e, 204, req{Method: "DELETE", Path: "/v1/roles/reader"})
	meRefused(t, e, req{Method: "GET", Path: "/v1/roles/reader"}, 404, "not_found")
	// A role that no longer exists cannot be given.
	meInvalidReq(t, e, req{Method: "PATCH", Path: "/v1/keys/" + k, Body: map[string]any{"roles": []string{"reader"}}}, "roles[0]")
	meInvalidReq(t, e, req{Method: "PATCH", Path: "/v1/users/" + u, Body: map[string]any{"roles": []string{"reader"}}}, "roles[0]")
}

// TestMeRolesGrantKeys: a key with roles can do what the roles grant, as
// they are at each verification.
func TestMeRolesGrantKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	meRole(t, e, "reader", scope("documents", "read"))
	meRole(t, e, "hooks", scope("webhooks", "write", "wh_1"))
	_, byRole := apiKey(t, e, nil, map[string]any{"name": "by role", "permission_mode": "restricted", "roles": []string{"reader"}})
	_, mixed := apiKey(t, e, nil, map[string]any{"name": "mixed", "permission_mode": "restricted",
		"scopes": []any{scope("files", "read")}, "roles": []string{"reader", "hooks"}})

	v := meVerifyCode(t, e, byRole, "documents:read", "VALID")
	if fmt.Sprint(v["scopes"]) != "[map[access:read resource:documents targets:[*]]]" || fmt.Sprint(v["roles"]) != "[reader]" {
		t.Errorf("verify of a role key: scopes %v roles %v", v["scopes"], v["roles"])
	}
	meVerifyCode(t, e, byRole, "documents:write", "INSUFFICIENT_PERMISSIONS")
	meVerifyCode(t, e, byRole, "files:read", "INSUFFICIENT_PERMISSIONS")
	v = meVerifyCode(t, e, mixed, "files:read AND documents:read AND webhooks:write:wh_1", "VALID")
	if got := fmt.Sprint(v["scopes"]); got != "[map[access:read resource:documents targets:[*]] map[access:read resource:files targets:[*]] map[access:write resource:webhooks targets:[wh_1]]]" {
		t.Errorf("scopes of key + roles: %s", got)
	}
	meVerifyCode(t, e, mixed, "webhooks:write:wh_2", "INSUFFICIENT_PERMISSIONS")

	// A change to the role is a change to its keys, at the next verification.
	patch(t, e, "/v1/roles/reader", map[string]any{"scopes": []any{scope("documents", "write")}})
	v = meVerifyCode(t, e, byRole, "documents:write", "VALID")
	if fmt.Sprint(v["scopes"]) != "[map[access:write resource:documents targets:[*]]]" {
		t.Errorf("scopes after the role changed: %v", v["scopes"])
	}
	patch(t, e, "/v1/roles/reader", map[string]any{"scopes": []any{}})
	v = meVerifyCode(t, e, byRole, "documents:read", "INSUFFICIENT_PERMISSIONS")
	if fmt.Sprint(v["scopes"]) != "[]" {
		t.Errorf("scopes of a key whose role grants nothing: %v", v["scopes"])
	}
	meVerifyCode(t, e, byRole, "", "VALID")
	meVerifyCode(t, e, mixed, "files:read AND webhooks:write:wh_1", "VALID")
	meVerifyCode(t, e, mixed, "documents:read", "INSUFFICIENT_PERMISSIONS")

	// Roles are only for restricted keys.
	meInvalidReq(t, e, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "x", "permission_mode": "all", "roles": []string{"hooks"}}}, "roles")
	meInvalidReq(t, e, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "x", "permission_mode": "restricted", "roles": []string{"nope"}}}, "roles[0]")
}

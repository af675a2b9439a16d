package cli_test

import (
	"reflect"
	"strings"
	"testing"
)

// TestCtUsersLifecycle covers users create, list, get, update and delete,
// and what a user's roles and status do to the keys the user owns.
func TestCtUsersLifecycle(t *testing.T) {
	s := ctStartServer(t)
	s.ok(t, "roles", "create", "reader", "--scope", "documents:read")
	s.ok(t, "roles", "create", "writer", "--scope", "documents:write", "--scope", "files:write")

	u := s.okJSON(t, "users", "create", "--external-id", "u-1842", "--email", "alice@example.com", "--name", "Alice",
		"--role", "reader", "--status", "active")
	alice := u["id"].(string)
	ctWantJSON(t, "users create", u, map[string]any{
		"external_id": "u-1842", "email": "alice@example.com", "name": "Alice", "roles": []any{"reader"}, "status": "active",
	})
	if !strings.HasPrefix(alice, "usr_") {
		t.Fatalf("users create: id %q", alice)
	}

	r := s.ok(t, "users", "create", "--name", "Bob\tthe builder", "--role", "reader", "--role", "writer", "--status", "disabled")
	bob, _ := ctRow(r.stdout, "ID")
	for name, want := range map[string]string{
		"EXTERNAL ID": "-", "EMAIL": "-", "NAME": `Bob\tthe builder`, "ROLES": "reader, writer", "STATUS": "disabled",
	} {
		ctWantRow(t, r, name, want)
	}
	carol := s.okJSON(t, "users", "create")["id"].(string)

	t.Run("list", func(t *testing.T) {
		r := s.ok(t, "users", "list")
		rows := ctTableRows(r.stdout)
		if want := []string{"ID", "EXTERNAL ID", "EMAIL", "NAME", "ROLES", "STATUS", "CREATED"}; !reflect.DeepEqual(rows[0], want) {
			t.Fatalf("users list header %q\n%s", rows[0], r)
		}
		if len(rows) != 4 || !reflect.DeepEqual(rows[1][:6], []string{carol, "-", "-", "-", "-", "active"}) ||
			!reflect.DeepEqual(rows[2][:6], []string{bob, "-", "-", `Bob\tthe builder`, "reader,writer", "disabled"}) ||
			!reflect.DeepEqual(rows[3][:6], []string{alice, "u-1842", "alice@example.com", "Alice", "reader", "active"}) {
			t.Fatalf("users list rows, newest first:\n%s", r)
		}
		for _, tc := range []struct {
			args []string
			want []string
		}{
			{[]string{"--role", "writer"}, []string{bob}},
			{[]string{"--role", "reader"}, []string{bob, alice}},
			{[]string{"--status", "disabled"}, []string{bob}},
			{[]string{"--status", "active"}, []string{carol, alice}},
			{[]string{"--external-id", "u-1842"}, []string{alice}},
			{[]string{"--search", "ALICE@"}, []string{alice}},
			{[]string{"--limit", "1"}, []string{carol}},
			{[]string{"--starting-after", carol, "--limit", "1"}, []string{bob}},
			{[]string{"--ending-before", alice}, []string{carol, bob}},
			{[]string{"--limit", "1", "--all"}, []string{carol, bob, alice}},
		} {
			t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
				if got := ctIDs(t, s.okJSON(t, append([]string{"users", "list"}, tc.args...)...)); !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("users list %v: %v, want %v", tc.args, got, tc.want)
				}
				if got := ctTableIDs(s.ok(t, append([]string{"users", "list"}, tc.args...)...).stdout); !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("users list %v (table): %v, want %v", tc.args, got, tc.want)
				}
			})
		}
		r = s.ok(t, "users", "list", "--limit", "2")
		if !strings.Contains(r.stderr, "more users: run again with --starting-after "+bob) {
			t.Fatalf("users list --limit 2: no hint:\n%s", r)
		}
	})

	t.Run("get", func(t *testing.T) {
		g := s.okJSON(t, "users", "get", alice)
		if g["id"] != alice || g["email"] != "alice@example.com" {
			t.Fatalf("users get --json: %v", g)
		}
		r := s.ok(t, "users", "get", alice)
		ctWantRow(t, r, "ROLES", "reader")
		ctWantRow(t, r, "ETAG", g["etag"].(string))
		ctWantProblem(t, s.fails(t, 1, "users", "get", "usr_01J00000000000000000000000"), "not_found", 404)
	})

	t.Run("a user's roles bound the user's keys", func(t *testing.T) {
		k := s.okJSON(t, "keys", "create", "--name", "alice's", "--owner-type", "user", "--owner-id", alice,
			"--scope", "documents:write", "--scope", "files:write")
		ctWantJSON(t, "keys create --owner-type user", k, map[string]any{"owner": map[string]any{"type": "user", "id": alice}})
		secret := k["secret"].(string)
		r := s.ok(t, "keys", "get", k["id"].(string))
		ctWantRow(t, r, "OWNER", "user "+alice)

		check := func(perm, want string) {
			t.Helper()
			if code, _ := s.verify(t, secret, "--permissions", perm); code != want {
				t.Fatalf("verify --permissions %s: %s, want %s", perm, code, want)
			}
		}
		check("documents:read", "VALID")
		check("documents:write", "INSUFFICIENT_PERMISSIONS") // alice is only a reader
		check("files:write", "INSUFFICIENT_PERMISSIONS")

		etag := s.okJSON(t, "users", "get", alice)["etag"].(string)
		u := s.okJSON(t, "users", "update", alice, "--role", "writer", "--if-match", etag)
		if !reflect.DeepEqual(u["roles"], []any{"writer"}) {
			t.Fatalf("users update --role writer: %v", u)
		}
		check("documents:write", "VALID")
		check("files:write", "VALID")
		ctWantProblem(t, s.fails(t, 1, "users", "update", alice, "--name", "stale", "--if-match", etag), "precondition_failed", 412)

		r = s.ok(t, "users", "update", alice, "--status", "disabled")
		ctWantRow(t, r, "STATUS", "disabled")
		check("documents:write", "OWNER_INACTIVE")
		s.ok(t, "users", "update", alice, "--status", "active")
		check("documents:write", "VALID")

		u = s.okJSON(t, "users", "update", alice, "--no-roles", "--clear-email", "--clear-name", "--clear-external-id")
		ctWantJSON(t, "users update --no-roles --clear-*", u, map[string]any{"roles": []any{}, "email": nil, "name": nil, "external_id": nil})
		check("documents:read", "INSUFFICIENT_PERMISSIONS")

		ids := ctIDs(t, s.okJSON(t, "keys", "list", "--owner-type", "user", "--owner-id", alice))
		if !reflect.DeepEqual(ids, []string{k["id"].(string)}) {
			t.Fatalf("keys list --owner-type user --owner-id: %v", ids)
		}

		r = s.ok(t, "users", "delete", alice)
		if r.stdout != "Deleted user "+alice+"\n" {
			t.Fatalf("users delete:\n%s", r)
		}
		if got := s.okJSON(t, "keys", "get", k["id"].(string))["status"]; got != "revoked" {
			t.Fatalf("the key of a deleted user is %v, want revoked", got)
		}
		check("documents:read", "REVOKED")
		ctWantProblem(t, s.fails(t, 1, "users", "get", alice), "not_found", 404)
	})

	t.Run("server refusals", func(t *testing.T) {
		r := s.fails(t, 1, "users", "update", bob, "--role", "reader", "--role", "ghost")
		ctWantProblem(t, r, "validation_failed", 422)
		if !ctNamesField(r.err, "roles[1]: ") {
			t.Fatalf("no roles[1] line:\n%s", r)
		}
		s.ok(t, "users", "update", bob, "--external-id", "taken")
		ctWantProblem(t, s.fails(t, 1, "users", "create", "--external-id", "taken"), "duplicate", 409)
		ctWantProblem(t, s.fails(t, 1, "users", "create", "--email", "not an address"), "validation_failed", 422)
		ctWantProblem(t, s.fails(t, 1, "keys", "create", "--name", "x", "--owner-type", "user", "--owner-id", "usr_01J00000000000000000000000"), "validation_failed", 422)
	})

	del := s.okJSON(t, "users", "delete", carol)
	if !reflect.DeepEqual(del, map[string]any{"id": carol, "deleted": true}) {
		t.Fatalf("users delete --json: %v", del)
	}
}

// TestCtServiceAccountsLifecycle covers the service-accounts commands and
// what a service account's status does to its keys.
func TestCtServiceAccountsLifecycle(t *testing.T) {
	s := ctStartServer(t)
	sa := s.okJSON(t, "service-accounts", "create", "--name", "nightly export", "--description", "cron on batch-1")
	id := sa["id"].(string)
	ctWantJSON(t, "service-accounts create", sa, map[string]any{"name": "nightly export", "description": "cron on batch-1", "status": "active"})
	if !strings.HasPrefix(id, "sa_") {
		t.Fatalf("service-accounts create: id %q", id)
	}
	r := s.ok(t, "service-accounts", "create", "--name", "ci", "--status", "disabled")
	ci, _ := ctRow(r.stdout, "ID")
	ctWantRow(t, r, "DESCRIPTION", "-")
	ctWantRow(t, r, "STATUS", "disabled")

	r = s.ok(t, "service-accounts", "list")
	rows := ctTableRows(r.stdout)
	if len(rows) != 3 || !reflect.DeepEqual(rows[0], []string{"ID", "NAME", "STATUS", "CREATED"}) ||
		!reflect.DeepEqual(rows[1][:3], []string{ci, "ci", "disabled"}) || !reflect.DeepEqual(rows[2][:3], []string{id, "nightly export", "active"}) {
		t.Fatalf("service-accounts list:\n%s", r)
	}
	if got := ctIDs(t, s.okJSON(t, "service-accounts", "list", "--status", "active")); !reflect.DeepEqual(got, []string{id}) {
		t.Fatalf("service-accounts list --status active: %v", got)
	}
	all := s.okJSON(t, "service-accounts", "list", "--limit", "1", "--all")
	if got := ctIDs(t, all); !reflect.DeepEqual(got, []string{ci, id}) {
		t.Fatalf("service-accounts list --all: %v", got)
	}
	g := s.okJSON(t, "service-accounts", "get", id)
	r = s.ok(t, "service-accounts", "get", id)
	ctWantRow(t, r, "NAME", "nightly export")
	ctWantRow(t, r, "ETAG", g["etag"].(string))

	// Service-account keys are not bounded by roles.
	k := s.okJSON(t, "keys", "create", "--name", "export", "--owner-type", "service_account", "--owner-id", id, "--scope", "documents:write")
	if code, _ := s.verify(t, k["secret"].(string), "--permissions", "documents:write"); code != "VALID" {
		t.Fatalf("a service account's key: %s", code)
	}

	u := s.okJSON(t, "service-accounts", "update", id, "--name", "export v2", "--clear-description", "--status", "disabled", "--if-match", g["etag"].(string))
	ctWantJSON(t, "service-accounts update", u, map[string]any{"name": "export v2", "description": nil, "status": "disabled"})
	if code, _ := s.verify(t, k["secret"].(string)); code != "OWNER_INACTIVE" {
		t.Fatalf("a disabled service account's key: %s", code)
	}
	ctWantProblem(t, s.fails(t, 1, "service-accounts", "update", id, "--name", "stale", "--if-match", g["etag"].(string)), "precondition_failed", 412)
	r = s.ok(t, "service-accounts", "update", id, "--status", "active", "--description", "back")
	ctWantRow(t, r, "DESCRIPTION", "back")

	r = s.ok(t, "service-accounts", "delete", id)
	if r.stdout != "Deleted service account "+id+"\n" {
		t.Fatalf("service-accounts delete:\n%s", r)
	}
	if code, _ := s.verify(t, k["secret"].(string)); code != "REVOKED" {
		t.Fatalf("the key of a deleted service account: %s", code)
	}
	ctWantProblem(t, s.fails(t, 1, "service-accounts", "get", id), "not_found", 404)
	if del := s.okJSON(t, "service-accounts", "delete", ci); !reflect.DeepEqual(del, map[string]any{"id": ci, "deleted": true}) {
		t.Fatalf("service-accounts delete --json: %v", del)
	}
}

// TestCtRolesLifecycle covers the roles commands, scopes checked against
// the catalog, and the refusal to delete a role in use.
func TestCtRolesLifecycle(t *testing.T) {
	s := ctStartServer(t)
	role := s.okJSON(t, "roles", "create", "support", "--scope", "documents:read", "--scope", "files:write:f_1,f_2", "--description", "first line")
	ctWantJSON(t, "roles create", role, map[string]any{
		"name": "support", "description": "first line",
		"scopes": []any{
			map[string]any{"resource": "documents", "access": "read", "targets": []any{"*"}},
			map[string]any{"resource": "files", "access": "write", "targets": []any{"f_1", "f_2"}},
		},
	})
	r := s.ok(t, "roles", "create", "empty")
	ctWantRow(t, r, "NAME", "empty")
	ctWantRow(t, r, "SCOPES", "-")
	ctWantRow(t, r, "DESCRIPTION", "-")

	r = s.ok(t, "roles", "list")
	rows := ctTableRows(r.stdout)
	if len(rows) != 3 || !reflect.DeepEqual(rows[0], []string{"NAME", "SCOPES", "DESCRIPTION"}) ||
		!reflect.DeepEqual(rows[1], []string{"empty", "-", "-"}) ||
		!reflect.DeepEqual(rows[2], []string{"support", "documents:read files:write:f_1,f_2", "first line"}) {
		t.Fatalf("roles list:\n%s", r)
	}
	if r.stderr != "" {
		t.Fatalf("roles list hints at more pages:\n%s", r)
	}
	list := s.okJSON(t, "roles", "list")
	if data := list["data"].([]any); len(data) != 2 || data[0].(map[string]any)["name"] != "empty" {
		t.Fatalf("roles list --json: %v", list)
	}

	g := s.okJSON(t, "roles", "get", "support")
	r = s.ok(t, "roles", "get", "support")
	ctWantRow(t, r, "SCOPES", "documents:read files:write:f_1,f_2")
	ctWantRow(t, r, "ETAG", g["etag"].(string))
	ctWantProblem(t, s.fails(t, 1, "roles", "get", "ghost"), "not_found", 404)

	u := s.okJSON(t, "roles", "update", "support", "--scope", "search:read", "--clear-description", "--if-match", g["etag"].(string))
	ctWantJSON(t, "roles update", u, map[string]any{"description": nil,
		"scopes": []any{map[string]any{"resource": "search", "access": "read", "targets": []any{"*"}}}})
	ctWantProblem(t, s.fails(t, 1, "roles", "update", "support", "--description", "stale", "--if-match", g["etag"].(string)), "precondition_failed", 412)

	for _, tc := range []struct {
		scope, field string
	}{{"billing:read", "scopes[0].resource"}, {"nope:read", "scopes[0].resource"}, {"search:write", "scopes[0].access"}} {
		r := s.fails(t, 1, "roles", "create", "bad", "--scope", tc.scope)
		ctWantProblem(t, r, "validation_failed", 422)
		if !ctNamesField(r.err, tc.field+": ") {
			t.Fatalf("roles create --scope %s: no %s line:\n%s", tc.scope, tc.field, r)
		}
	}
	ctWantProblem(t, s.fails(t, 1, "roles", "create", "support"), "duplicate", 409)

	// A role in use cannot go; the error names who holds it.
	user := s.okJSON(t, "users", "create", "--role", "support")["id"].(string)
	key := s.okJSON(t, "keys", "create", "--name", "k", "--role", "support")["id"].(string)
	r = s.fails(t, 1, "roles", "delete", "support")
	ctWantProblem(t, r, "resource_in_use", 409)
	msg := ctErrText(r.err)
	if !strings.Contains(msg, "\n  user_ids: "+user) || !strings.Contains(msg, "\n  key_ids: "+key) {
		t.Fatalf("roles delete of a role in use does not list its holders:\n%s", r)
	}
	if ids := ctIDs(t, s.okJSON(t, "keys", "list", "--role", "support")); !reflect.DeepEqual(ids, []string{key}) {
		t.Fatalf("keys list --role support: %v", ids)
	}
	s.ok(t, "users", "update", user, "--no-roles")
	s.ok(t, "keys", "revoke", key)
	del := s.okJSON(t, "roles", "delete", "support")
	if !reflect.DeepEqual(del, map[string]any{"name": "support", "deleted": true}) {
		t.Fatalf("roles delete --json: %v", del)
	}
	r = s.ok(t, "roles", "update", "empty", "--no-scopes", "--description", "nothing")
	ctWantRow(t, r, "DESCRIPTION", "nothing")
	if r = s.ok(t, "roles", "delete", "empty"); r.stdout != "Deleted role empty\n" {
		t.Fatalf("roles delete:\n%s", r)
	}
	if r = s.ok(t, "roles", "list"); len(ctTableRows(r.stdout)) != 1 {
		t.Fatalf("roles list after deleting every role:\n%s", r)
	}
}

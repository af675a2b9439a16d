package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCtClientUsageErrors exits 2 on bad usage of the accounts, users,
// service-accounts, roles, management-keys and catalog commands (and the
// newer keys flags) without contacting the server.
func TestCtClientUsageErrors(t *testing.T) {
	srv, hits := ctTripwire(t)
	id := "acc_01J00000000000000000000000"
	notArray := filepath.Join(t.TempDir(), "object.json")
	if err := os.WriteFile(notArray, []byte(`{"keys": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string // in the error
	}{
		// accounts
		{"accounts create without name", "", []string{"accounts", "create"}, "--name is required"},
		{"accounts create blank name", "", []string{"accounts", "create", "--name", " "}, "--name"},
		{"accounts create bad template", "", []string{"accounts", "create", "--name", "a", "--catalog-template", "stripe"}, "--catalog-template must be one of default, orq, discue, pulsecrm, vectara"},
		{"accounts create bad prefix", "", []string{"accounts", "create", "--name", "a", "--default-prefix", "Acme"}, "--default-prefix"},
		{"accounts create bad mode", "", []string{"accounts", "create", "--name", "a", "--default-permission-mode", "admin"}, "--default-permission-mode"},
		{"accounts create lifetime words", "", []string{"accounts", "create", "--name", "a", "--max-key-lifetime", "soon"}, "--max-key-lifetime"},
		{"accounts create lifetime zero", "", []string{"accounts", "create", "--name", "a", "--max-key-lifetime", "0s"}, "--max-key-lifetime"},
		{"accounts create lifetime fraction", "", []string{"accounts", "create", "--name", "a", "--default-key-lifetime", "1.5s"}, "--default-key-lifetime"},
		{"accounts create lifetime negative", "", []string{"accounts", "create", "--name", "a", "--default-key-lifetime", "-1h"}, "--default-key-lifetime"},
		{"accounts create lifetime too long", "", []string{"accounts", "create", "--name", "a", "--max-key-lifetime", "36501d"}, "--max-key-lifetime"},
		{"accounts create require-expiry maybe", "", []string{"accounts", "create", "--name", "a", "--require-expiry", "maybe"}, "--require-expiry must be true or false"},
		{"accounts create takes no argument", "", []string{"accounts", "create", "--name", "a", "extra"}, "argument"},
		{"accounts update nothing", "", []string{"accounts", "update", id}, "nothing to change"},
		{"accounts update lifetime and clear", "", []string{"accounts", "update", id, "--max-key-lifetime", "1d", "--clear-max-key-lifetime"}, "not both"},
		{"accounts update default lifetime and clear", "", []string{"accounts", "update", id, "--default-key-lifetime", "1d", "--clear-default-key-lifetime"}, "not both"},
		{"accounts update empty if-match", "", []string{"accounts", "update", id, "--name", "n", "--if-match", " "}, "--if-match"},
		{"accounts update template", "", []string{"accounts", "update", id, "--catalog-template", "orq"}, "catalog-template"},
		{"accounts delete without yes", "", []string{"accounts", "delete", id}, "--yes"},
		{"accounts get without id", "", []string{"accounts", "get"}, "accounts get takes exactly one argument, the account id (got 0)"},
		{"accounts list limit", "", []string{"accounts", "list", "--limit", "0"}, "--limit"},
		{"accounts list both cursors", "", []string{"accounts", "list", "--starting-after", id, "--ending-before", id}, "not both"},

		// users
		{"users create empty role", "", []string{"users", "create", "--role", ""}, "--role"},
		{"users create bad role", "", []string{"users", "create", "--role", "Support"}, "role name"},
		{"users create bad status", "", []string{"users", "create", "--status", "paused"}, "--status"},
		{"users create revoked", "", []string{"users", "create", "--status", "revoked"}, "--status"},
		{"users create empty email", "", []string{"users", "create", "--email", ""}, "--email must not be empty"},
		{"users update nothing", "", []string{"users", "update", "usr_x"}, "nothing to change"},
		{"users update email and clear", "", []string{"users", "update", "usr_x", "--email", "a@b.c", "--clear-email"}, "not both"},
		{"users update role and no-roles", "", []string{"users", "update", "usr_x", "--role", "a", "--no-roles"}, "not both"},
		{"users update name and clear", "", []string{"users", "update", "usr_x", "--name", "a", "--clear-name"}, "not both"},
		{"users update external id and clear", "", []string{"users", "update", "usr_x", "--external-id", "a", "--clear-external-id"}, "not both"},
		{"users list bad status", "", []string{"users", "list", "--status", "revoked"}, "--status"},
		{"users list bad role", "", []string{"users", "list", "--role", "Bad Role"}, "--role"},
		{"users delete two ids", "", []string{"users", "delete", "usr_a", "usr_b"}, "users delete takes exactly one argument, the user id (got 2)"},

		// service accounts
		{"service-accounts create without name", "", []string{"service-accounts", "create"}, "--name is required"},
		{"service-accounts create bad status", "", []string{"service-accounts", "create", "--name", "a", "--status", "on"}, "--status"},
		{"service-accounts update nothing", "", []string{"service-accounts", "update", "sa_x"}, "nothing to change"},
		{"service-accounts update empty name", "", []string{"service-accounts", "update", "sa_x", "--name", ""}, "--name"},
		{"service-accounts update description and clear", "", []string{"service-accounts", "update", "sa_x", "--description", "d", "--clear-description"}, "not both"},
		{"service-accounts list bad status", "", []string{"service-accounts", "list", "--status", "gone"}, "--status"},

		// roles
		{"roles create without name", "", []string{"roles", "create"}, "roles create takes exactly one argument, the role name (got 0)"},
		{"roles create bad name", "", []string{"roles", "create", "Support"}, "role name"},
		{"roles create bad scope", "", []string{"roles", "create", "support", "--scope", "documents"}, "--scope"},
		{"roles update nothing", "", []string{"roles", "update", "support"}, "nothing to change"},
		{"roles update scope and no-scopes", "", []string{"roles", "update", "support", "--scope", "documents:read", "--no-scopes"}, "not both"},
		{"roles update description and clear", "", []string{"roles", "update", "support", "--description", "d", "--clear-description"}, "not both"},
		{"roles list is not paged", "", []string{"roles", "list", "--limit", "5"}, "limit"},
		{"roles get without name", "", []string{"roles", "get"}, "roles get takes exactly one argument, the role name (got 0)"},

		// management keys
		{"management-keys create without permission", "", []string{"management-keys", "create", "--name", "m"}, "--permission is required"},
		{"management-keys create bad permission", "", []string{"management-keys", "create", "--name", "m", "--permission", "keys"}, "--permission"},
		{"management-keys create without name", "", []string{"management-keys", "create", "--permission", "keys:read"}, "--name is required"},
		{"management-keys create scope", "", []string{"management-keys", "create", "--name", "m", "--permission", "keys:read", "--scope", "documents:read"}, "scope"},
		{"management-keys create owner", "", []string{"management-keys", "create", "--name", "m", "--permission", "keys:read", "--owner-type", "user"}, "owner-type"},
		{"management-keys update nothing", "", []string{"management-keys", "update", "key_x"}, "keyward management-keys update --help"},
		{"management-keys update bad status", "", []string{"management-keys", "update", "key_x", "--status", "paused"}, "--status"},
		{"management-keys rotate bad grace", "", []string{"management-keys", "rotate", "key_x", "--grace", "-1s"}, "--grace"},
		{"management-keys list owner filter", "", []string{"management-keys", "list", "--owner-type", "user"}, "owner-type"},
		{"management-keys list bad expired", "", []string{"management-keys", "list", "--expired", "maybe"}, "--expired"},

		// catalog
		{"catalog get takes no argument", "", []string{"catalog", "get", "documents"}, "argument"},
		{"catalog put-resource bad id", "", []string{"catalog", "put-resource", "Invoices"}, "resource id"},
		{"catalog put-resource bad bool", "", []string{"catalog", "put-resource", "invoices", "--readable", "maybe"}, "--readable must be true or false"},
		{"catalog put-resource bad protected", "", []string{"catalog", "put-resource", "invoices", "--protected", "yes please"}, "--protected"},
		{"catalog put-resource bad project scope", "", []string{"catalog", "put-resource", "invoices", "--project-scope", "both"}, "--project-scope"},
		{"catalog delete-resource without id", "", []string{"catalog", "delete-resource"}, "catalog delete-resource takes exactly one argument, the catalog resource id (got 0)"},
		{"catalog unknown command", "", []string{"catalog", "list"}, "list"},

		// keys: owner, roles, import, secret, rotate expiry
		{"keys create owner id alone", "", []string{"keys", "create", "--name", "k", "--owner-id", "usr_x"}, "--owner-type"},
		{"keys create user without id", "", []string{"keys", "create", "--name", "k", "--owner-type", "user"}, "--owner-id"},
		{"keys create bad owner type", "", []string{"keys", "create", "--name", "k", "--owner-type", "robot"}, "--owner-type"},
		{"keys create bad role", "", []string{"keys", "create", "--name", "k", "--role", "Bad"}, "role name"},
		{"keys create permission", "", []string{"keys", "create", "--name", "k", "--permission", "keys:read"}, "permission"},
		{"keys list bad role", "", []string{"keys", "list", "--role", "Bad"}, "--role"},
		{"keys rotate bad expiry", "", []string{"keys", "rotate", "key_x", "--expires-in", "soon"}, "--expires-in"},
		{"keys secret without id", "", []string{"keys", "secret"}, "keys secret takes exactly one argument, the key id (got 0)"},
		{"keys import without file", "", []string{"keys", "import"}, "--file is required"},
		{"keys import missing file", "", []string{"keys", "import", "--file", filepath.Join(t.TempDir(), "nope.json")}, "--file"},
		{"keys import an object", "", []string{"keys", "import", "--file", notArray}, "not a JSON array"},
		{"keys import empty array", "[]", []string{"keys", "import", "--file", "-"}, "1 to 1000"},
		{"keys import not objects", `[{"hash":"x","name":"a"}, 7]`, []string{"keys", "import", "--file", "-"}, "item 1 is not a JSON object"},
		{"keys import not JSON", "hash,name", []string{"keys", "import", "--file", "-"}, "not a JSON array"},
		{"keys import unknown member", `[{"hash":"x","name":"a","colour":"red"}]`, []string{"keys", "import", "--file", "-"}, `unknown field "colour"`},
		{"keys import member of another type", `[{"hash":"x","name":5}]`, []string{"keys", "import", "--file", "-"}, "name: must be a string"},
		{"keys import member twice", `[{"hash":"x","name":"a","name":"b"}]`, []string{"keys", "import", "--file", "-"}, "name"},
		{"audit list empty action", "", []string{"audit", "list", "--action", ""}, "--action must not be empty"},
		{"keys import too many", "[" + strings.TrimSuffix(strings.Repeat(`{"name":"a"},`, 1001), ",") + "]", []string{"keys", "import", "--file", "-"}, "1001 items"},
	} {
		t.Run(tc.name, func(t *testing.T) { ctWantUsageError(t, srv, tc.stdin, ctUsageCase{tc.name, tc.args, tc.want}) })
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("usage errors sent %d requests to the server", n)
	}
}

// TestCtClientMissingToken: every client group names KEYWARD_TOKEN when
// there is no management key, and sends nothing.
func TestCtClientMissingToken(t *testing.T) {
	ctWantMissingToken(t, "", `[{"name":"x"}]`, [][]string{
		{"accounts", "list"}, {"accounts", "get", "acc_x"},
		{"users", "list"}, {"users", "create"},
		{"service-accounts", "list"}, {"roles", "list"}, {"roles", "delete", "support"},
		{"management-keys", "list"}, {"management-keys", "create", "--name", "m", "--permission", "keys:read"},
		{"catalog", "get"}, {"catalog", "put-resource", "invoices"},
		{"keys", "secret", "key_x"}, {"keys", "import", "--file", "-"},
	})
}

// TestCtClientAccountID: --account-id (X-Account-Id) selects the account
// every group acts on; without it the operator key acts on "default".
func TestCtClientAccountID(t *testing.T) {
	s := ctStartServer(t)
	acc := s.okJSON(t, "accounts", "create", "--name", "second")["id"].(string)
	for _, tc := range []struct {
		group  string
		create []string
		member string // what names the object
	}{
		{"users", []string{"create", "--name", "u"}, "id"},
		{"service-accounts", []string{"create", "--name", "sa"}, "id"},
		{"roles", []string{"create", "reader", "--scope", "documents:read"}, "name"},
		{"management-keys", []string{"create", "--name", "m", "--permission", "keys:read"}, "id"},
		{"keys", []string{"create", "--name", "k"}, "id"},
	} {
		t.Run(tc.group, func(t *testing.T) {
			obj := s.okJSON(t, append(append([]string{tc.group}, tc.create...), "--account-id", acc)...)
			if obj["account_id"] != acc {
				t.Fatalf("%s create --account-id: account_id %v, want %s", tc.group, obj["account_id"], acc)
			}
			name := obj[tc.member].(string)
			ctWantProblem(t, s.fails(t, 1, tc.group, "get", name), "not_found", 404)
			if got := s.okJSON(t, tc.group, "get", name, "--account-id", acc); got[tc.member] != name {
				t.Fatalf("%s get --account-id: %v", tc.group, got)
			}
			ctWantProblem(t, s.fails(t, 1, tc.group, "delete", name), "not_found", 404)
			s.ok(t, tc.group, "delete", name, "--account-id", acc)
		})
	}
	t.Run("catalog", func(t *testing.T) {
		s.ok(t, "catalog", "put-resource", "only_second", "--account-id", acc)
		if out := s.ok(t, "catalog", "get").stdout; strings.Contains(out, "only_second") {
			t.Fatalf("the default account's catalog shows the second account's resource:\n%s", out)
		}
		if out := s.ok(t, "catalog", "get", "--account-id", acc).stdout; !strings.Contains(out, "only_second") {
			t.Fatalf("catalog get --account-id:\n%s", out)
		}
		ctWantProblem(t, s.fails(t, 1, "catalog", "delete-resource", "only_second"), "not_found", 404)
	})
	t.Run("unknown account", func(t *testing.T) {
		for _, group := range []string{"users", "service-accounts", "roles", "management-keys", "keys"} {
			ctWantProblem(t, s.fails(t, 1, group, "list", "--account-id", "acc_01J00000000000000000000000"), "not_found", 404)
		}
		ctWantProblem(t, s.fails(t, 1, "catalog", "get", "--account-id", "acc_01J00000000000000000000000"), "not_found", 404)
	})
}

// TestCtClientFlagsIgnoreEnvironment: KEYWARD_* variables set only the
// connection flags of the new groups, never what a command changes.
func TestCtClientFlagsIgnoreEnvironment(t *testing.T) {
	s := ctStartServer(t)
	env := s.env()
	for k, v := range map[string]string{
		"KEYWARD_NAME": "from-env", "KEYWARD_STATUS": "disabled", "KEYWARD_ROLE": "admin", "KEYWARD_YES": "true",
		"KEYWARD_PERMISSION": "accounts:write", "KEYWARD_OPERATOR": "true", "KEYWARD_PROTECTED": "true", "KEYWARD_REQUIRE_EXPIRY": "true",
	} {
		env[k] = v
	}
	u := ctDecode(t, ctRunCLI(t, ctInvocation{env: env}, "users", "create", "--email", "a@example.com", "--json"))
	if u["name"] != nil || u["status"] != "active" || len(u["roles"].([]any)) != 0 {
		t.Fatalf("KEYWARD_NAME/STATUS/ROLE changed users create: %v", u)
	}
	if r := ctRunCLI(t, ctInvocation{env: env}, "accounts", "create"); r.code != 2 || !strings.Contains(ctErrText(r.err), "--name is required") {
		t.Fatalf("KEYWARD_NAME must not stand in for --name:\n%s", r)
	}
	if r := ctRunCLI(t, ctInvocation{env: env}, "accounts", "delete", "acc_01J00000000000000000000000"); r.code != 2 || !strings.Contains(ctErrText(r.err), "--yes") {
		t.Fatalf("KEYWARD_YES must not confirm a deletion:\n%s", r)
	}
	if r := ctRunCLI(t, ctInvocation{env: env}, "management-keys", "create", "--name", "m"); r.code != 2 || !strings.Contains(ctErrText(r.err), "--permission is required") {
		t.Fatalf("KEYWARD_PERMISSION must not stand in for --permission:\n%s", r)
	}
	res := ctDecode(t, ctRunCLI(t, ctInvocation{env: env}, "catalog", "put-resource", "plain", "--json"))
	if res["protected"] != false {
		t.Fatalf("KEYWARD_PROTECTED changed catalog put-resource: %v", res)
	}
	a := ctDecode(t, ctRunCLI(t, ctInvocation{env: env}, "accounts", "create", "--name", "n", "--json"))
	if a["require_expiry"] != false || a["name"] != "n" {
		t.Fatalf("KEYWARD_REQUIRE_EXPIRY changed accounts create: %v", a)
	}
}

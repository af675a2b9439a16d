package cli_test

import (
	"reflect"
	"strings"
	"testing"
)

// ctRowOf returns the row of a table whose first cell is first.
func ctRowOf(t *testing.T, r ctResult, first string) []string {
	t.Helper()
	for _, row := range ctTableRows(r.stdout) {
		if row[0] == first {
			return row
		}
	}
	t.Fatalf("no row %q in the table:\n%s", first, r)
	return nil
}

// TestCtCatalogGet shows the catalog of each template as tables and JSON.
func TestCtCatalogGet(t *testing.T) {
	s := ctStartServer(t)

	r := s.ok(t, "catalog", "get")
	rows := ctTableRows(r.stdout)
	if !reflect.DeepEqual(rows[0], []string{"RESOURCE", "GROUP", "LEVELS", "PROJECTS", "PROTECTED", "DISPLAY NAME"}) {
		t.Fatalf("catalog get header:\n%s", r)
	}
	for _, want := range [][]string{
		{"billing", "account", "read,write", "all", "yes", "Billing"},
		{"events", "integration", "write", "all,single", "no", "Events"},
		{"search", "data", "read", "all,single", "no", "Search"},
		{"usage", "account", "read", "all", "no", "Usage"},
	} {
		if got := ctRowOf(t, r, want[0]); !reflect.DeepEqual(got, want) {
			t.Fatalf("catalog get: row %q, want %q\n%s", got, want, r)
		}
	}
	if !strings.HasSuffix(r.stdout, "\nNo roles.\n") {
		t.Fatalf("catalog get of an account without roles:\n%s", r)
	}
	s.ok(t, "roles", "create", "support", "--scope", "documents:read", "--description", "first line")
	r = s.ok(t, "catalog", "get")
	if got := ctRowOf(t, r, "support"); !reflect.DeepEqual(got, []string{"support", "documents:read", "first line"}) {
		t.Fatalf("catalog get: role row %q\n%s", got, r)
	}
	if ctRowOf(t, r, "ROLE") == nil {
		t.Fatal("no roles header")
	}

	cat := s.okJSON(t, "catalog", "get")
	for _, member := range []string{"resources", "access_levels", "presets", "roles", "management_permissions"} {
		if _, ok := cat[member].([]any); !ok {
			t.Fatalf("catalog get --json: no %s array: %v", member, cat)
		}
	}

	// The vendor templates, through --account-id.
	for _, tc := range []struct {
		template string
		rows     [][]string
	}{
		{"orq", [][]string{
			{"api-key", "workspace_admin", "read,write", "all", "yes"},
			{"audit-log", "workspace_admin", "read", "all", "no"},
			{"agent", "platform", "read,write", "all,single", "no"},
		}},
		{"discue", [][]string{
			{"api_clients", "organization", "read,write", "all,single", "yes"},
			{"subscriptions", "organization", "read,write", "all,single", "yes"},
			{"queues", "messaging", "read,write", "all,single", "no"},
		}},
		{"pulsecrm", [][]string{
			{"applications", "crm", "read,write", "all", "no"},
			{"api_keys", "administration", "read,write", "all", "yes"},
		}},
		{"vectara", [][]string{
			{"corpus", "corpora", "read,write", "all,single", "no"},
			{"serving", "corpus:read"},
			{"serving_and_indexing", "corpus:write"},
		}},
	} {
		t.Run(tc.template, func(t *testing.T) {
			acc := s.okJSON(t, "accounts", "create", "--name", tc.template, "--catalog-template", tc.template)["id"].(string)
			r := s.ok(t, "catalog", "get", "--account-id", acc)
			for _, want := range tc.rows {
				if got := ctRowOf(t, r, want[0]); !reflect.DeepEqual(got[:len(want)], want) {
					t.Fatalf("catalog get (%s): row %q, want %q\n%s", tc.template, got, want, r)
				}
			}
		})
	}

	weak := s.as(s.okJSON(t, "management-keys", "create", "--name", "no catalog", "--permission", "keys:read")["secret"].(string))
	r = weak.fails(t, 1, "catalog", "get")
	ctWantProblem(t, r, "permission_denied", 403)
	if !strings.Contains(ctErrText(r.err), "\n  missing_permission: catalog:read") {
		t.Fatalf("no missing_permission line:\n%s", r)
	}
}

// TestCtCatalogResources creates, replaces and deletes catalog resources.
func TestCtCatalogResources(t *testing.T) {
	s := ctStartServer(t)

	res := s.okJSON(t, "catalog", "put-resource", "invoices", "--display-name", "Invoices", "--group", "billing",
		"--description", "customer invoices", "--readable", "true", "--writable", "false", "--project-scope", "all", "--protected", "false")
	ctWantJSON(t, "catalog put-resource", res, map[string]any{
		"id": "invoices", "display_name": "Invoices", "group": "billing", "description": "customer invoices",
		"readable": true, "writable": false, "project_scopes": []any{"all"}, "protected": false,
	})

	r := s.ok(t, "catalog", "put-resource", "minimal")
	for name, want := range map[string]string{
		"ID": "minimal", "DISPLAY NAME": "minimal", "GROUP": "-", "DESCRIPTION": "-", "LEVELS": "read,write",
		"PROJECTS": "all,single", "PROTECTED": "no",
	} {
		ctWantRow(t, r, name, want)
	}
	r = s.ok(t, "catalog", "put-resource", "minimal", "--readable", "false", "--project-scope", "single", "--project-scope", "all", "--protected", "true")
	ctWantRow(t, r, "LEVELS", "write")
	ctWantRow(t, r, "PROJECTS", "all,single")
	ctWantRow(t, r, "PROTECTED", "yes")
	if got := ctRowOf(t, s.ok(t, "catalog", "get"), "invoices"); !reflect.DeepEqual(got, []string{"invoices", "billing", "read", "all", "no", "Invoices"}) {
		t.Fatalf("catalog get after put-resource: %q", got)
	}

	r = s.fails(t, 1, "catalog", "put-resource", "minimal", "--readable", "false", "--writable", "false")
	ctWantProblem(t, r, "validation_failed", 422)
	if !ctNamesField(r.err, "readable: ") {
		t.Fatalf("no readable line:\n%s", r)
	}

	// Keys and roles that grant a resource keep it.
	key := s.okJSON(t, "keys", "create", "--name", "reads invoices", "--scope", "invoices:read")["id"].(string)
	s.ok(t, "roles", "create", "accountant", "--scope", "invoices:read")
	r = s.fails(t, 1, "catalog", "put-resource", "invoices", "--writable", "true", "--readable", "false")
	ctWantProblem(t, r, "resource_in_use", 409)
	if !strings.Contains(ctErrText(r.err), "\n  key_ids: "+key) {
		t.Fatalf("put-resource that takes a grant away does not name the key:\n%s", r)
	}
	r = s.fails(t, 1, "catalog", "delete-resource", "invoices")
	ctWantProblem(t, r, "resource_in_use", 409)
	if msg := ctErrText(r.err); !strings.Contains(msg, "\n  key_ids: "+key) || !strings.Contains(msg, "\n  role_names: accountant") {
		t.Fatalf("delete-resource of a resource in use does not name its holders:\n%s", r)
	}
	s.ok(t, "keys", "revoke", key)
	s.ok(t, "roles", "delete", "accountant")
	if del := s.okJSON(t, "catalog", "delete-resource", "invoices"); !reflect.DeepEqual(del, map[string]any{"id": "invoices", "deleted": true}) {
		t.Fatalf("catalog delete-resource --json: %v", del)
	}
	if r := s.ok(t, "catalog", "delete-resource", "minimal"); r.stdout != "Deleted catalog resource minimal\n" {
		t.Fatalf("catalog delete-resource:\n%s", r)
	}
	ctWantProblem(t, s.fails(t, 1, "catalog", "delete-resource", "minimal"), "not_found", 404)
	if out := s.ok(t, "catalog", "get").stdout; strings.Contains(out, "invoices") || strings.Contains(out, "minimal") {
		t.Fatalf("deleted resources are still listed:\n%s", out)
	}
}

package cli_test

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCtAccountsLifecycle walks an account through create, list, get,
// update and delete in --json and table mode, and acts inside it with
// --account-id.
func TestCtAccountsLifecycle(t *testing.T) {
	s := ctStartServer(t)

	acc := s.okJSON(t, "accounts", "create", "--name", "globex", "--default-prefix", "gx", "--catalog-template", "discue",
		"--default-permission-mode", "read_only", "--max-key-lifetime", "365d", "--default-key-lifetime", "1d12h", "--require-expiry", "true")
	id := acc["id"].(string)
	ctWantJSON(t, "accounts create", acc, map[string]any{
		"name": "globex", "default_prefix": "gx", "catalog_template": "discue", "default_permission_mode": "read_only",
		"max_key_lifetime": float64(365 * 86400), "default_key_lifetime": float64(36 * 3600), "require_expiry": true,
	})
	if !strings.HasPrefix(id, "acc_") {
		t.Fatalf("accounts create: id %q", id)
	}

	r := s.ok(t, "accounts", "create", "--name", "initech")
	other, _ := ctRow(r.stdout, "ID")
	for name, want := range map[string]string{
		"NAME": "initech", "DEFAULT PREFIX": "kw", "CATALOG TEMPLATE": "default", "DEFAULT MODE": "all",
		"MAX KEY LIFETIME": "none", "DEFAULT KEY LIFETIME": "none", "REQUIRE EXPIRY": "no",
	} {
		ctWantRow(t, r, name, want)
	}

	t.Run("list", func(t *testing.T) {
		r := s.ok(t, "accounts", "list")
		rows := ctTableRows(r.stdout)
		if want := []string{"ID", "NAME", "PREFIX", "TEMPLATE", "MODE", "MAX LIFETIME", "REQUIRE EXPIRY", "CREATED"}; !reflect.DeepEqual(rows[0], want) {
			t.Fatalf("accounts list header %q, want %q\n%s", rows[0], want, r)
		}
		if len(rows) != 4 || !reflect.DeepEqual(rows[1][:7], []string{other, "initech", "kw", "default", "all", "none", "no"}) ||
			!reflect.DeepEqual(rows[2][:7], []string{id, "globex", "gx", "discue", "read_only", "365d", "yes"}) || rows[3][1] != "default" {
			t.Fatalf("accounts list: want initech, globex, default (newest first):\n%s", r)
		}
		page := s.okJSON(t, "accounts", "list", "--limit", "1")
		if ids := ctIDs(t, page); !reflect.DeepEqual(ids, []string{other}) || page["has_more"] != true {
			t.Fatalf("accounts list --limit 1 --json: %v has_more %v", ids, page["has_more"])
		}
		r = s.ok(t, "accounts", "list", "--limit", "1")
		if !strings.Contains(r.stderr, "more accounts: run again with --starting-after "+other) {
			t.Fatalf("accounts list --limit 1: no hint on stderr:\n%s", r)
		}
		all := s.okJSON(t, "accounts", "list", "--limit", "1", "--all")
		if ids := ctIDs(t, all); len(ids) != 3 || ids[0] != other || ids[1] != id || all["has_more"] != false {
			t.Fatalf("accounts list --all --json: %v has_more %v", ids, all["has_more"])
		}
		r = s.ok(t, "accounts", "list", "--starting-after", id)
		if got := ctTableIDs(r.stdout); len(got) != 1 {
			t.Fatalf("accounts list --starting-after: %v\n%s", got, r)
		}
	})

	t.Run("get", func(t *testing.T) {
		g := s.okJSON(t, "accounts", "get", id)
		if g["id"] != id || g["name"] != "globex" {
			t.Fatalf("accounts get --json: %v", g)
		}
		r := s.ok(t, "accounts", "get", id)
		for name, want := range map[string]string{
			"ID": id, "NAME": "globex", "DEFAULT PREFIX": "gx", "CATALOG TEMPLATE": "discue", "DEFAULT MODE": "read_only",
			"MAX KEY LIFETIME": "365d", "DEFAULT KEY LIFETIME": "1d12h", "REQUIRE EXPIRY": "yes", "ETAG": g["etag"].(string),
		} {
			ctWantRow(t, r, name, want)
		}
		ctWantProblem(t, s.fails(t, 1, "accounts", "get", "acc_01J00000000000000000000000"), "not_found", 404)
	})

	t.Run("keys inside the account", func(t *testing.T) {
		before := time.Now()
		k := s.okJSON(t, "keys", "create", "--account-id", id, "--name", "in globex")
		if k["account_id"] != id || k["permission_mode"] != "read_only" || !strings.HasPrefix(k["secret"].(string), "gx_") {
			t.Fatalf("keys create --account-id: the key does not take the account's settings: %v", k)
		}
		exp, err := time.Parse(time.RFC3339, k["expires_at"].(string))
		if want := before.Add(36 * time.Hour); err != nil || exp.Before(want.Add(-time.Minute)) || exp.After(want.Add(time.Minute)) {
			t.Fatalf("keys create: expires_at %v, want the default lifetime 1d12h from now", k["expires_at"])
		}
		// KEYWARD_ACCOUNT_ID is the environment's --account-id.
		env := s.env()
		env["KEYWARD_ACCOUNT_ID"] = id
		r := ctRunCLI(t, ctInvocation{env: env}, "keys", "list", "--json")
		if ids := ctIDs(t, ctDecode(t, r)); !reflect.DeepEqual(ids, []string{k["id"].(string)}) {
			t.Fatalf("keys list with KEYWARD_ACCOUNT_ID: %v", ids)
		}
		if ids := ctIDs(t, s.okJSON(t, "keys", "list")); len(ids) != 0 {
			t.Fatalf("keys list of the default account shows globex's keys: %v", ids)
		}
		ctWantProblem(t, s.fails(t, 1, "keys", "get", k["id"].(string)), "not_found", 404)

		// The expiry policy, enforced by the server, reported per field.
		r = s.fails(t, 1, "keys", "create", "--account-id", id, "--name", "too long", "--expires-in", "400d")
		ctWantProblem(t, r, "validation_failed", 422)
		if !ctNamesField(r.err, "expires_at: ") {
			t.Fatalf("no expires_at line:\n%s", r)
		}
		ctWantProblem(t, s.fails(t, 1, "keys", "update", k["id"].(string), "--account-id", id, "--clear-expires"), "validation_failed", 422)
		rot := s.okJSON(t, "keys", "rotate", k["id"].(string), "--account-id", id, "--expires-in", "30d")
		exp, err = time.Parse(time.RFC3339, rot["expires_at"].(string))
		if want := time.Now().Add(30 * 24 * time.Hour); err != nil || exp.Before(want.Add(-time.Minute)) || exp.After(want.Add(time.Minute)) {
			t.Fatalf("keys rotate --expires-in 30d: expires_at %v", rot["expires_at"])
		}
		if code, _ := s.verify(t, rot["secret"].(string)); code != "VALID" {
			t.Fatalf("the rotated key of globex verifies as %s (operator key, no account: every account's keys)", code)
		}
	})

	t.Run("update", func(t *testing.T) {
		etag := s.okJSON(t, "accounts", "get", id)["etag"].(string)
		u := s.okJSON(t, "accounts", "update", id, "--name", "Globex Corp", "--require-expiry", "false",
			"--clear-max-key-lifetime", "--clear-default-key-lifetime", "--default-permission-mode", "all", "--default-prefix", "gc", "--if-match", etag)
		ctWantJSON(t, "accounts update", u, map[string]any{
			"name": "Globex Corp", "require_expiry": false, "max_key_lifetime": nil, "default_key_lifetime": nil,
			"default_permission_mode": "all", "default_prefix": "gc", "catalog_template": "discue",
		})
		ctWantProblem(t, s.fails(t, 1, "accounts", "update", id, "--name", "stale", "--if-match", etag), "precondition_failed", 412)

		r := s.ok(t, "accounts", "update", id, "--max-key-lifetime", "12h", "--default-key-lifetime", "90m")
		ctWantRow(t, r, "MAX KEY LIFETIME", "12h")
		ctWantRow(t, r, "DEFAULT KEY LIFETIME", "1h30m")

		r = s.fails(t, 1, "accounts", "update", id, "--default-key-lifetime", "1d")
		ctWantProblem(t, r, "validation_failed", 422)
		if !ctNamesField(r.err, "default_key_lifetime: cannot exceed max_key_lifetime") {
			t.Fatalf("the rule is not named:\n%s", r)
		}
		// The catalog template is chosen at creation: update has no flag for it.
		if r := s.fails(t, 2, "accounts", "update", id, "--catalog-template", "orq"); !strings.Contains(ctErrText(r.err), "catalog-template") {
			t.Fatalf("accounts update --catalog-template:\n%s", r)
		}
	})

	t.Run("account-bound management keys cannot manage accounts", func(t *testing.T) {
		mk := s.okJSON(t, "management-keys", "create", "--name", "bound", "--permission", "keys:read", "--permission", "management_keys:read")
		bound := s.as(mk["secret"].(string))
		r := bound.fails(t, 1, "accounts", "list")
		ctWantProblem(t, r, "permission_denied", 403)
		if !strings.Contains(ctErrText(r.err), "\n  missing_permission: accounts:read") {
			t.Fatalf("the missing permission is not printed:\n%s", r)
		}
		ctWantProblem(t, bound.fails(t, 1, "keys", "list", "--account-id", id), "account_mismatch", 403)
		ctWantProblem(t, bound.fails(t, 1, "accounts", "create", "--name", "mine"), "permission_denied", 403)
	})

	t.Run("delete", func(t *testing.T) {
		secret := s.okJSON(t, "keys", "create", "--account-id", id, "--name", "doomed", "--expires-in", "1h")["secret"].(string)
		if code, _ := s.verify(t, secret); code != "VALID" {
			t.Fatalf("before the delete: %s", code)
		}
		r := s.fails(t, 2, "accounts", "delete", id)
		if !strings.Contains(ctErrText(r.err), "--yes") {
			t.Fatalf("accounts delete without --yes:\n%s", r)
		}
		del := s.okJSON(t, "accounts", "delete", id, "--yes")
		if !reflect.DeepEqual(del, map[string]any{"id": id, "deleted": true}) {
			t.Fatalf("accounts delete --json: %v", del)
		}
		if code, _ := s.verify(t, secret); code != "NOT_FOUND" {
			t.Fatalf("a key of a deleted account verifies as %s", code)
		}
		ctWantProblem(t, s.fails(t, 1, "accounts", "get", id), "not_found", 404)
		ctWantProblem(t, s.fails(t, 1, "keys", "list", "--account-id", id), "not_found", 404)

		r = s.ok(t, "accounts", "delete", other, "--yes")
		if r.stdout != "Deleted account "+other+"\n" {
			t.Fatalf("accounts delete output:\n%s", r)
		}
	})
}

// ctTableRows splits a table into rows of cells: columns are separated by
// two spaces or more.
func ctTableRows(out string) [][]string {
	sep := regexp.MustCompile(`\s{2,}`)
	var rows [][]string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if strings.TrimSpace(l) != "" {
			rows = append(rows, sep.Split(strings.TrimSpace(l), -1))
		}
	}
	return rows
}

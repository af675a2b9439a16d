package cli_test

import (
	"reflect"
	"strings"
	"testing"
)

// TestCtManagementKeysLifecycle walks management keys through every
// command in --json and table mode.
func TestCtManagementKeysLifecycle(t *testing.T) {
	s := ctStartServer(t)

	k := s.okJSON(t, "management-keys", "create", "--name", "support desk", "--description", "tier 1",
		"--permission", "keys:read", "--permission", "keys:write", "--permission", "management_keys:read",
		"--expires-in", "30d", "--metadata", "team=support")
	id := k["id"].(string)
	secret := k["secret"].(string)
	ctWantJSON(t, "management-keys create", k, map[string]any{
		"kind": "management", "name": "support desk", "description": "tier 1", "operator": false, "status": "active",
		"permissions": []any{"keys:read", "keys:write", "management_keys:read"}, "metadata": map[string]any{"team": "support"},
	})
	if !strings.HasPrefix(secret, "kwm_") {
		t.Fatalf("management-keys create: secret %q is not a management key", secret)
	}

	r := s.ok(t, "management-keys", "create", "--name", "verifier", "--permission", "keys:verify", "--prefix", "kwv")
	verifier := ctSecretAfter(t, r, "Secret")
	if strings.Count(r.stdout, verifier) != 1 || !strings.HasPrefix(verifier, "kwv_") {
		t.Fatalf("management-keys create must print the secret once:\n%s", r)
	}
	vid, _ := ctRow(r.stdout, "ID")
	ctWantRow(t, r, "OPERATOR", "no")
	ctWantRow(t, r, "PERMISSIONS", "keys:verify")
	ctWantRow(t, r, "EXPIRES", "never")
	for _, row := range []string{"MODE", "SCOPES", "PROJECT", "RECOVERABLE"} {
		if _, ok := ctRow(r.stdout, row); ok {
			t.Fatalf("a management key's table has a %s row:\n%s", row, r)
		}
	}

	t.Run("the new keys work", func(t *testing.T) {
		if r := s.as(secret).ok(t, "keys", "list"); !strings.HasPrefix(r.stdout, "ID ") {
			t.Fatalf("keys list with the new management key:\n%s", r)
		}
		api := s.okJSON(t, "keys", "create", "--name", "to verify")["secret"].(string)
		if code, _ := s.as(verifier).verify(t, api); code != "VALID" {
			t.Fatalf("keys verify with a keys:verify management key: %s", code)
		}
		r := s.as(verifier).fails(t, 1, "keys", "list")
		ctWantProblem(t, r, "permission_denied", 403)
		if !strings.Contains(ctErrText(r.err), "\n  missing_permission: keys:read") {
			t.Fatalf("the missing permission is not printed:\n%s", r)
		}
	})

	t.Run("list and get", func(t *testing.T) {
		r := s.ok(t, "management-keys", "list")
		rows := ctTableRows(r.stdout)
		if !reflect.DeepEqual(rows[0], []string{"ID", "NAME", "STATUS", "OPERATOR", "PERMISSIONS", "START", "EXPIRES", "LAST USED", "CREATED"}) || len(rows) != 4 {
			t.Fatalf("management-keys list:\n%s", r)
		}
		if !reflect.DeepEqual(rows[1][:5], []string{vid, "verifier", "active", "no", "1"}) ||
			!reflect.DeepEqual(rows[2][:5], []string{id, "support desk", "active", "no", "3"}) ||
			rows[3][3] != "yes" || rows[3][4] != "14" {
			t.Fatalf("management-keys list rows (newest first; the bootstrap operator key holds all 14 permissions):\n%s", r)
		}
		if ids := ctIDs(t, s.okJSON(t, "management-keys", "list", "--search", "DESK")); !reflect.DeepEqual(ids, []string{id}) {
			t.Fatalf("management-keys list --search DESK: %v", ids)
		}
		if ids := ctIDs(t, s.okJSON(t, "management-keys", "list", "--limit", "1", "--all")); len(ids) != 3 {
			t.Fatalf("management-keys list --all: %v", ids)
		}
		r = s.ok(t, "management-keys", "list", "--limit", "1")
		if !strings.Contains(r.stderr, "more management keys: run again with --starting-after "+vid) {
			t.Fatalf("management-keys list --limit 1: no hint:\n%s", r)
		}
		g := s.okJSON(t, "management-keys", "get", id)
		if g["id"] != id || g["secret"] != nil {
			t.Fatalf("management-keys get --json: %v", g)
		}
		r = s.ok(t, "management-keys", "get", id)
		ctWantRow(t, r, "PERMISSIONS", "keys:read, keys:write, management_keys:read")
		ctWantRow(t, r, "DESCRIPTION", "tier 1")
		if strings.Contains(r.stdout, secret) {
			t.Fatalf("management-keys get shows the secret:\n%s", r)
		}
		// A management key is not an API key, and the other way round.
		ctWantProblem(t, s.fails(t, 1, "keys", "get", id), "not_found", 404)
	})

	t.Run("update", func(t *testing.T) {
		etag := s.okJSON(t, "management-keys", "get", id)["etag"].(string)
		u := s.okJSON(t, "management-keys", "update", id, "--permission", "keys:read", "--permission", "members:read",
			"--clear-expires", "--clear-metadata", "--clear-description", "--name", "support", "--if-match", etag)
		ctWantJSON(t, "management-keys update", u, map[string]any{
			"permissions": []any{"keys:read", "members:read"}, "expires_at": nil, "metadata": map[string]any{}, "description": nil, "name": "support",
		})
		ctWantProblem(t, s.fails(t, 1, "management-keys", "update", id, "--name", "stale", "--if-match", etag), "precondition_failed", 412)
		r := s.ok(t, "management-keys", "update", id, "--status", "disabled")
		ctWantRow(t, r, "STATUS", "disabled")
		ctWantProblem(t, s.as(secret).fails(t, 1, "keys", "list"), "unauthenticated", 401)
		s.ok(t, "management-keys", "update", id, "--status", "active")
		ctWantProblem(t, s.fails(t, 1, "management-keys", "update", id, "--permission", "nothing:here"), "validation_failed", 422)
	})

	t.Run("rotate, revoke, delete", func(t *testing.T) {
		r := s.ok(t, "management-keys", "rotate", vid, "--grace", "1h")
		verifier2 := ctSecretAfter(t, r, "New secret")
		if verifier2 == verifier || strings.Contains(r.stdout, verifier) || !strings.Contains(r.stdout, "The previous secret keeps working for 1h0m0s.") {
			t.Fatalf("management-keys rotate --grace 1h:\n%s", r)
		}
		api := s.okJSON(t, "keys", "create", "--name", "to verify again")["secret"].(string)
		for _, sec := range []string{verifier, verifier2} {
			if code, _ := s.as(sec).verify(t, api); code != "VALID" {
				t.Fatalf("after a rotation with grace, both secrets work: %s", code)
			}
		}
		rot := s.okJSON(t, "management-keys", "rotate", vid)
		verifier3 := rot["secret"].(string)
		ctWantProblem(t, s.as(verifier2).fails(t, 1, "keys", "verify", api), "unauthenticated", 401)
		if code, _ := s.as(verifier3).verify(t, api); code != "VALID" {
			t.Fatalf("the newest secret: %s", code)
		}

		rev := s.okJSON(t, "management-keys", "revoke", vid)
		if rev["status"] != "revoked" {
			t.Fatalf("management-keys revoke --json: %v", rev)
		}
		ctWantProblem(t, s.as(verifier3).fails(t, 1, "keys", "verify", api), "unauthenticated", 401)
		ctWantProblem(t, s.fails(t, 1, "management-keys", "update", vid, "--status", "active"), "key_revoked", 409)

		r = s.ok(t, "management-keys", "revoke", id)
		ctWantRow(t, r, "STATUS", "revoked")
		ctWantRow(t, r, "ID", id)

		del := s.okJSON(t, "management-keys", "delete", vid)
		if !reflect.DeepEqual(del, map[string]any{"id": vid, "deleted": true}) {
			t.Fatalf("management-keys delete --json: %v", del)
		}
		if r := s.ok(t, "management-keys", "delete", id); r.stdout != "Deleted management key "+id+"\n" {
			t.Fatalf("management-keys delete:\n%s", r)
		}
		ctWantProblem(t, s.as(secret).fails(t, 1, "keys", "list"), "unauthenticated", 401)
		ctWantProblem(t, s.fails(t, 1, "management-keys", "get", id), "not_found", 404)
	})
}

// TestCtManagementKeysNoEscalation tries, through the CLI, the ways a weak
// management key could gain power; each is refused and changes nothing.
func TestCtManagementKeysNoEscalation(t *testing.T) {
	s := ctStartServer(t)
	weak := s.okJSON(t, "management-keys", "create", "--name", "weak",
		"--permission", "management_keys:read", "--permission", "management_keys:write", "--permission", "keys:read")
	weakID := weak["id"].(string)
	w := s.as(weak["secret"].(string))
	opID := ""
	for _, raw := range s.okJSON(t, "management-keys", "list")["data"].([]any) {
		if m := raw.(map[string]any); m["operator"] == true {
			opID = m["id"].(string)
		}
	}

	for _, tc := range []struct {
		name   string
		args   []string
		code   string
		status int
		line   string // an extra line of the error
	}{
		{"mint a stronger key", []string{"management-keys", "create", "--name", "strong", "--permission", "keys:write"}, "permission_denied", 403, "missing_permission: keys:write"},
		{"mint an operator key", []string{"management-keys", "create", "--name", "op", "--operator", "--permission", "keys:read"}, "validation_failed", 422, "operator: "},
		{"mint accounts permissions", []string{"management-keys", "create", "--name", "acc", "--permission", "accounts:read"}, "validation_failed", 422, "permissions"},
		{"grant itself more", []string{"management-keys", "update", weakID, "--permission", "keys:read", "--permission", "keys:write"}, "permission_denied", 403, ""},
		{"rename itself", []string{"management-keys", "update", weakID, "--name", "still weak"}, "permission_denied", 403, ""},
		{"touch the operator key (invisible to it)", []string{"management-keys", "revoke", opID}, "not_found", 404, ""},
		{"manage accounts", []string{"accounts", "create", "--name", "mine"}, "permission_denied", 403, "missing_permission: accounts:write"},
		{"create API keys", []string{"keys", "create", "--name", "api"}, "permission_denied", 403, "missing_permission: keys:write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.fails(t, 1, tc.args...)
			ctWantProblem(t, r, tc.code, tc.status)
			if tc.line != "" && !ctNamesField(r.err, tc.line) {
				t.Fatalf("no line %q in the error:\n%s", tc.line, r)
			}
		})
	}
	if got := s.okJSON(t, "management-keys", "get", weakID); got["name"] != "weak" || len(got["permissions"].([]any)) != 3 {
		t.Fatalf("the weak key changed: %v", got)
	}
	if ids := ctIDs(t, s.okJSON(t, "management-keys", "list")); len(ids) != 2 {
		t.Fatalf("refused creations left keys behind: %v", ids)
	}

	// Within its own permissions it may mint, and it may rotate itself.
	if k := w.okJSON(t, "management-keys", "create", "--name", "reader", "--permission", "keys:read"); k["operator"] != false {
		t.Fatalf("a key within the weak key's permissions: %v", k)
	}
	rot := w.okJSON(t, "management-keys", "rotate", weakID)
	ctWantProblem(t, w.fails(t, 1, "management-keys", "list"), "unauthenticated", 401)
	if r := s.as(rot["secret"].(string)).ok(t, "management-keys", "list"); !strings.Contains(r.stdout, weakID) {
		t.Fatalf("the weak key's new secret:\n%s", r)
	}

	// An operator key makes operator keys, which span every account.
	op := s.okJSON(t, "management-keys", "create", "--name", "second operator", "--operator", "--permission", "accounts:read", "--permission", "keys:read")
	ctWantJSON(t, "management-keys create --operator", op, map[string]any{"operator": true, "account_id": nil})
	if r := s.as(op["secret"].(string)).ok(t, "accounts", "list"); !strings.Contains(r.stdout, "default") {
		t.Fatalf("the new operator key lists accounts:\n%s", r)
	}
	if r := s.as(rot["secret"].(string)).ok(t, "management-keys", "list"); strings.Contains(r.stdout, op["id"].(string)) {
		t.Fatalf("an account-bound key sees an operator key:\n%s", r)
	}
}

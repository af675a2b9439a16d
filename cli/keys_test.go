package cli_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestCtKeysLifecycleJSON walks one key through its whole life with --json:
// create → list → get → update (every clear flag, --no-scopes, --if-match)
// → rotate → verify old and new secret → revoke → verify → delete.
func TestCtKeysLifecycleJSON(t *testing.T) {
	s := ctStartServer(t)
	prj := s.api(t, "POST", "/v1/projects", map[string]any{"name": "web"})["id"].(string)

	before := time.Now()
	k := s.okJSON(t, "keys", "create", "--name", "lifecycle", "--description", "first", "--prefix", "acme",
		"--scope", "documents:read", "--scope", "files:write:f_1,f_2",
		"--metadata", "team=data", "--metadata", "tier:=3", "--metadata", `flags:={"beta":true}`,
		"--ip", "10.0.0.0/8", "--ip", "192.0.2.7", "--expires-in", "30d")
	id := k["id"].(string)
	secret, _ := k["secret"].(string)
	if !strings.HasPrefix(secret, "acme_") {
		t.Fatalf("create --json: secret %q does not carry the prefix acme_: %v", secret, k)
	}
	ctWantJSON(t, "create", k, map[string]any{
		"name": "lifecycle", "description": "first", "status": "active", "prefix": "acme",
		"permission_mode": "restricted", // implied by --scope
		"scopes": []any{
			map[string]any{"resource": "documents", "access": "read", "targets": []any{"*"}},
			map[string]any{"resource": "files", "access": "write", "targets": []any{"f_1", "f_2"}},
		},
		"metadata":     map[string]any{"team": "data", "tier": 3.0, "flags": map[string]any{"beta": true}},
		"ip_allowlist": []any{"10.0.0.0/8", "192.0.2.7/32"},
		"project_id":   nil,
	})
	exp, err := time.Parse(time.RFC3339, k["expires_at"].(string))
	if err != nil {
		t.Fatalf("create: expires_at %v: %v", k["expires_at"], err)
	}
	if want := before.Add(30 * 24 * time.Hour); exp.Before(want.Add(-time.Minute)) || exp.After(want.Add(time.Minute)) {
		t.Fatalf("create --expires-in 30d: expires_at %s, want about %s", exp, want)
	}

	list := s.okJSON(t, "keys", "list")
	if ids := ctIDs(t, list); !reflect.DeepEqual(ids, []string{id}) {
		t.Fatalf("list --json: ids %v, want [%s]", ids, id)
	}
	if list["has_more"] != false {
		t.Fatalf("list --json: has_more = %v", list["has_more"])
	}

	got := s.okJSON(t, "keys", "get", id)
	if got["id"] != id || got["name"] != "lifecycle" {
		t.Fatalf("get --json: %v", got)
	}
	if _, has := got["secret"]; has {
		t.Fatalf("get --json shows a secret: %v", got)
	}
	etag := got["etag"].(string)

	t.Run("update", func(t *testing.T) {
		u := s.okJSON(t, "keys", "update", id, "--project-id", prj, "--name", "renamed", "--if-match", etag)
		ctWantJSON(t, "update --project-id", u, map[string]any{"project_id": prj, "name": "renamed", "description": "first"})

		r := s.fails(t, 1, "keys", "update", id, "--name", "stale", "--if-match", etag)
		ctWantProblem(t, r, "precondition_failed", 412)

		u = s.okJSON(t, "keys", "update", id, "--clear-description", "--clear-expires", "--clear-project",
			"--clear-metadata", "--clear-ip-allowlist", "--no-scopes")
		ctWantJSON(t, "update --clear-*", u, map[string]any{
			"description": nil, "expires_at": nil, "project_id": nil, "metadata": map[string]any{},
			"ip_allowlist": nil, "scopes": []any{}, "permission_mode": "restricted", "name": "renamed",
		})

		u = s.okJSON(t, "keys", "update", id, "--status", "disabled", "--permission-mode", "read_only",
			"--description", "second", "--expires-at", "2999-01-02T03:04:05Z", "--metadata", "k=v", "--ip", "203.0.113.0/24")
		ctWantJSON(t, "update values", u, map[string]any{
			"status": "disabled", "permission_mode": "read_only", "scopes": []any{}, "description": "second",
			"expires_at": "2999-01-02T03:04:05Z", "metadata": map[string]any{"k": "v"}, "ip_allowlist": []any{"203.0.113.0/24"},
		})
		if code, _ := s.verify(t, secret, "--ip", "203.0.113.9"); code != "DISABLED" {
			t.Fatalf("a disabled key verifies as %s", code)
		}

		u = s.okJSON(t, "keys", "update", id, "--status", "active", "--permission-mode", "restricted",
			"--scope", "documents:write", "--clear-ip-allowlist")
		ctWantJSON(t, "update back to restricted", u, map[string]any{
			"status": "active", "permission_mode": "restricted", "ip_allowlist": nil,
			"scopes": []any{map[string]any{"resource": "documents", "access": "write", "targets": []any{"*"}}},
		})
	})

	rot := s.okJSON(t, "keys", "rotate", id, "--grace", "1h")
	secret2, _ := rot["secret"].(string)
	if secret2 == "" || secret2 == secret || rot["id"] != id || rot["rotated_at"] == nil {
		t.Fatalf("rotate --json: %v (old secret %q)", rot, secret)
	}
	for name, sec := range map[string]string{"old secret in its grace": secret, "new secret": secret2} {
		if code, exit := s.verify(t, sec); code != "VALID" || exit != 0 {
			t.Fatalf("verify %s: %s, exit %d", name, code, exit)
		}
	}
	if code, exit := s.verify(t, secret2, "--permissions", "documents:write"); code != "VALID" || exit != 0 {
		t.Fatalf("verify --permissions documents:write: %s, exit %d", code, exit)
	}
	if code, exit := s.verify(t, secret2, "--permissions", "files:read"); code != "INSUFFICIENT_PERMISSIONS" || exit != 1 {
		t.Fatalf("verify --permissions files:read: %s, exit %d", code, exit)
	}

	rot = s.okJSON(t, "keys", "rotate", id)
	secret3 := rot["secret"].(string)
	for name, sec := range map[string]string{"first secret": secret, "second secret": secret2} {
		if code, exit := s.verify(t, sec); code != "ROTATED" || exit != 1 {
			t.Fatalf("after a rotation without grace, verify %s: %s, exit %d", name, code, exit)
		}
	}
	if code, _ := s.verify(t, secret3); code != "VALID" {
		t.Fatalf("verify the newest secret: %s", code)
	}

	rev := s.okJSON(t, "keys", "revoke", id)
	if rev["status"] != "revoked" {
		t.Fatalf("revoke --json: %v", rev)
	}
	if code, exit := s.verify(t, secret3); code != "REVOKED" || exit != 1 {
		t.Fatalf("verify a revoked key: %s, exit %d", code, exit)
	}
	ctWantProblem(t, s.fails(t, 1, "keys", "update", id, "--status", "active"), "key_revoked", 409)

	del := s.okJSON(t, "keys", "delete", id)
	if !reflect.DeepEqual(del, map[string]any{"id": id, "deleted": true}) {
		t.Fatalf("delete --json: %v", del)
	}
	ctWantProblem(t, s.fails(t, 1, "keys", "get", id), "not_found", 404)
	if code, exit := s.verify(t, secret3); code != "NOT_FOUND" || exit != 1 {
		t.Fatalf("verify a deleted key: %s, exit %d", code, exit)
	}
	if ids := ctIDs(t, s.okJSON(t, "keys", "list")); len(ids) != 0 {
		t.Fatalf("list after delete: %v", ids)
	}
}

// TestCtKeysTables runs every command in table mode.
func TestCtKeysTables(t *testing.T) {
	s := ctStartServer(t)

	r := s.ok(t, "keys", "create", "--name", "table key", "--description", "line one\nline two",
		"--scope", "documents:read", "--scope", "files:write:f_1,f_2", "--metadata", "team=data", "--ip", "10.0.0.0/8")
	secret := ctSecretAfter(t, r, "Secret")
	if n := strings.Count(r.stdout, secret); n != 1 {
		t.Fatalf("create prints the secret %d times, want once:\n%s", n, r)
	}
	id, _ := ctRow(r.stdout, "ID")
	if !strings.HasPrefix(id, "key_") {
		t.Fatalf("create: ID row %q\n%s", id, r)
	}
	for name, want := range map[string]string{
		"NAME": "table key", "DESCRIPTION": `line one\nline two`, "STATUS": "active", "MODE": "restricted",
		"PROJECT": "all", "SCOPES": "documents:read files:write:f_1,f_2", "ROLES": "-", "EXPIRES": "never",
		"METADATA": `{"team":"data"}`, "IP ALLOWLIST": "10.0.0.0/8", "LAST USED": "never", "START": secret[:len("kw_")+4],
		"LAST4": secret[len(secret)-4:],
	} {
		ctWantRow(t, r, name, want)
	}
	if r.stderr != "" {
		t.Fatalf("create wrote to stderr:\n%s", r)
	}

	r = s.ok(t, "keys", "list")
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if got := ctTableRows(lines[0])[0]; !reflect.DeepEqual(got, []string{"ID", "NAME", "STATUS", "OWNER", "MODE", "PROJECT", "START", "EXPIRES", "LAST USED", "CREATED"}) {
		t.Fatalf("list header %q\n%s", lines[0], r)
	}
	if len(lines) != 2 || !regexp.MustCompile(`^`+id+` +table key +active +account +restricted +all +kw_\S{4} +never +never +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(lines[1]) {
		t.Fatalf("list rows:\n%s", r)
	}
	if strings.Contains(r.stdout, secret) {
		t.Fatalf("list shows the secret:\n%s", r)
	}

	r = s.ok(t, "keys", "get", id)
	ctWantRow(t, r, "ID", id)
	ctWantRow(t, r, "NAME", "table key")
	if etag, _ := ctRow(r.stdout, "ETAG"); etag == "" {
		t.Fatalf("get: no ETAG\n%s", r)
	}
	if strings.Contains(r.stdout, secret) || strings.Contains(r.stdout, "shown once") {
		t.Fatalf("get shows a secret:\n%s", r)
	}

	r = s.ok(t, "keys", "update", id, "--name", "renamed", "--clear-description", "--clear-metadata", "--expires-at", "2999-01-02T03:04:05+02:00")
	ctWantRow(t, r, "NAME", "renamed")
	ctWantRow(t, r, "DESCRIPTION", "-")
	ctWantRow(t, r, "METADATA", "-")
	ctWantRow(t, r, "EXPIRES", "2999-01-02T01:04:05Z")

	r = s.runStdin(t, secret, "keys", "verify", "--ip", "10.1.2.3")
	if r.err != nil {
		t.Fatalf("verify a valid key:\n%s", r)
	}
	ctWantRow(t, r, "CODE", "VALID")
	ctWantRow(t, r, "KEY", id)
	ctWantRow(t, r, "NAME", "renamed")
	ctWantRow(t, r, "SCOPES", "documents:read files:write:f_1,f_2")

	r = s.ok(t, "keys", "rotate", id, "--grace", "1h")
	secret2 := ctSecretAfter(t, r, "New secret")
	if secret2 == secret || strings.Count(r.stdout, secret2) != 1 || strings.Contains(r.stdout, secret) {
		t.Fatalf("rotate must print the new secret once and never the old one:\n%s", r)
	}
	if !strings.Contains(r.stdout, "The previous secret keeps working for 1h0m0s.") {
		t.Fatalf("rotate --grace 1h does not say how long the old secret works:\n%s", r)
	}
	ctWantRow(t, r, "ID", id)

	// The key to verify may also be an argument.
	r = s.run(t, "keys", "verify", secret2, "--ip", "10.1.2.3")
	if r.err != nil {
		t.Fatalf("verify with the key as argument:\n%s", r)
	}
	ctWantRow(t, r, "CODE", "VALID")

	r = s.ok(t, "keys", "revoke", id)
	ctWantRow(t, r, "STATUS", "revoked")

	r = s.runStdin(t, secret2, "keys", "verify", "-", "--ip", "10.1.2.3")
	if r.code != 1 || ctErrText(r.err) != "the key is not valid: REVOKED" {
		t.Fatalf("verify a revoked key: want exit 1 and 'the key is not valid: REVOKED':\n%s", r)
	}
	ctWantRow(t, r, "CODE", "REVOKED")
	ctWantRow(t, r, "KEY", id)

	r = s.ok(t, "keys", "delete", id)
	if r.stdout != "Deleted key "+id+"\n" {
		t.Fatalf("delete output:\n%s", r)
	}
	r = s.runStdin(t, secret2, "keys", "verify")
	if r.code != 1 || strings.TrimSpace(r.stdout) != "CODE  NOT_FOUND" {
		t.Fatalf("verify a deleted key: want exit 1 and only the code:\n%s", r)
	}
}

// TestCtKeysVerifyChecks passes the verify flags through to the server.
func TestCtKeysVerifyChecks(t *testing.T) {
	s := ctStartServer(t)
	p1 := s.api(t, "POST", "/v1/projects", map[string]any{"name": "one"})["id"].(string)
	p2 := s.api(t, "POST", "/v1/projects", map[string]any{"name": "two"})["id"].(string)
	k := s.okJSON(t, "keys", "create", "--name", "checked", "--project-id", p1, "--permission-mode", "read_only", "--ip", "192.0.2.0/24")
	secret := k["secret"].(string)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"all checks pass", []string{"--project-id", p1, "--ip", "192.0.2.1", "--permissions", "documents:read"}, "VALID"},
		{"no ip for a key with an allowlist", []string{"--project-id", p1}, "FORBIDDEN_IP"},
		{"ip outside the allowlist", []string{"--ip", "198.51.100.1"}, "FORBIDDEN_IP"},
		{"other project", []string{"--project-id", p2, "--ip", "192.0.2.1"}, "WRONG_PROJECT"},
		{"write on a read-only key", []string{"--ip", "192.0.2.1", "--permissions", "documents:write"}, "INSUFFICIENT_PERMISSIONS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, exit := s.verify(t, secret, tc.args...)
			wantExit := 1
			if tc.want == "VALID" {
				wantExit = 0
			}
			if code != tc.want || exit != wantExit {
				t.Fatalf("verify %v: %s exit %d, want %s exit %d", tc.args, code, exit, tc.want, wantExit)
			}
		})
	}
	if code, _ := s.verify(t, "kw_notakeyatall"); code != "NOT_FOUND" {
		t.Fatalf("verify garbage: %s", code)
	}
}

// TestCtKeysListPages covers paging, --all and the filters.
func TestCtKeysListPages(t *testing.T) {
	s := ctStartServer(t)
	prj := s.api(t, "POST", "/v1/projects", map[string]any{"name": "p"})["id"].(string)
	var ids []string // newest first, as list returns them
	for i := range 5 {
		id := s.okJSON(t, "keys", "create", "--name", fmt.Sprintf("page-%d", i))["id"].(string)
		ids = append([]string{id}, ids...)
	}
	other := s.okJSON(t, "keys", "create", "--name", "Other Key", "--project-id", prj, "--permission-mode", "read_only")["id"].(string)
	scoped := s.okJSON(t, "keys", "create", "--name", "Scoped Key", "--scope", "files:read")["id"].(string)
	s.ok(t, "keys", "update", ids[0], "--status", "disabled")

	t.Run("one page with a hint", func(t *testing.T) {
		r := s.ok(t, "keys", "list", "--search", "page-", "--limit", "2")
		if got := ctTableIDs(r.stdout); !reflect.DeepEqual(got, ids[:2]) {
			t.Fatalf("list --limit 2: %v, want %v\n%s", got, ids[:2], r)
		}
		if want := "--starting-after " + ids[1]; !strings.Contains(r.stderr, want) {
			t.Fatalf("list with more pages: stderr lacks %q\n%s", want, r)
		}
		r = s.ok(t, "keys", "list", "--search", "page-", "--limit", "2", "--starting-after", ids[1])
		if got := ctTableIDs(r.stdout); !reflect.DeepEqual(got, ids[2:4]) {
			t.Fatalf("list --starting-after: %v, want %v", got, ids[2:4])
		}
		r = s.ok(t, "keys", "list", "--search", "page-", "--ending-before", ids[2])
		if got := ctTableIDs(r.stdout); !reflect.DeepEqual(got, ids[:2]) {
			t.Fatalf("list --ending-before: %v, want %v", got, ids[:2])
		}
		r = s.ok(t, "keys", "list", "--search", "page-")
		if r.stderr != "" {
			t.Fatalf("list without more pages hints:\n%s", r)
		}
		page := s.okJSON(t, "keys", "list", "--search", "page-", "--limit", "2")
		if got := ctIDs(t, page); !reflect.DeepEqual(got, ids[:2]) || page["has_more"] != true {
			t.Fatalf("list --json --limit 2: %v has_more %v", got, page["has_more"])
		}
	})

	t.Run("all pages", func(t *testing.T) {
		r := s.ok(t, "keys", "list", "--search", "page-", "--limit", "2", "--all")
		if got := ctTableIDs(r.stdout); !reflect.DeepEqual(got, ids) {
			t.Fatalf("list --all: %v, want %v\n%s", got, ids, r)
		}
		if r.stderr != "" {
			t.Fatalf("list --all hints at more pages:\n%s", r)
		}
		all := s.okJSON(t, "keys", "list", "--search", "page-", "--limit", "2", "--all")
		if got := ctIDs(t, all); !reflect.DeepEqual(got, ids) || all["has_more"] != false {
			t.Fatalf("list --all --json: %v has_more %v, want %v", got, all["has_more"], ids)
		}
	})

	t.Run("filters", func(t *testing.T) {
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		for _, tc := range []struct {
			args []string
			want []string
		}{
			{[]string{"--status", "disabled"}, ids[:1]},
			{[]string{"--status", "active", "--search", "PAGE"}, ids[1:]},
			{[]string{"--project-id", prj}, []string{other}},
			{[]string{"--permission-mode", "read_only"}, []string{other}},
			{[]string{"--search", "other"}, []string{other}},
			{[]string{"--owner-type", "account", "--search", "other"}, []string{other}},
			{[]string{"--expired", "true"}, nil},
			{[]string{"--expired", "false", "--search", "other"}, []string{other}},
			{[]string{"--created-after", future}, nil},
			{[]string{"--expires-after", future}, nil},
			{[]string{"--expires-before", future}, nil},
			{[]string{"--created-before", future, "--search", "other"}, []string{other}},
			{[]string{"--resource", "files"}, []string{scoped}},
			{[]string{"--permission-mode", "restricted"}, []string{scoped}},
		} {
			t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
				got := ctIDs(t, s.okJSON(t, append([]string{"keys", "list"}, tc.args...)...))
				if len(got) == 0 && len(tc.want) == 0 {
					return
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("list %v: %v, want %v", tc.args, got, tc.want)
				}
			})
		}
	})
}

// TestCtKeysEnvironment checks KEYWARD_URL, KEYWARD_TOKEN and the other
// connection variables, and that a command's own flags ignore the
// environment.
func TestCtKeysEnvironment(t *testing.T) {
	s := ctStartServer(t)
	dead := ctDeadURL(t)

	t.Run("KEYWARD_URL and KEYWARD_TOKEN alone", func(t *testing.T) {
		r := ctRunCLI(t, ctInvocation{env: map[string]string{"KEYWARD_URL": s.URL, "KEYWARD_TOKEN": s.Token}}, "keys", "list")
		if r.err != nil || !strings.HasPrefix(r.stdout, "ID ") {
			t.Fatalf("list with the environment only:\n%s", r)
		}
	})
	t.Run("flags win over the environment", func(t *testing.T) {
		r := ctRunCLI(t, ctInvocation{env: map[string]string{"KEYWARD_URL": dead, "KEYWARD_TOKEN": "kwm_wrong"}},
			"keys", "list", "--url", s.URL, "--token", s.Token)
		if r.err != nil {
			t.Fatalf("--url and --token should override KEYWARD_URL and KEYWARD_TOKEN:\n%s", r)
		}
	})
	t.Run("flags without environment", func(t *testing.T) {
		r := ctRunCLI(t, ctInvocation{}, "keys", "list", "--url", s.URL+"/", "--token", s.Token)
		if r.err != nil {
			t.Fatalf("list with --url (trailing slash) and --token:\n%s", r)
		}
	})
	t.Run("KEYWARD_URL is used", func(t *testing.T) {
		r := ctRunCLI(t, ctInvocation{env: map[string]string{"KEYWARD_URL": dead, "KEYWARD_TOKEN": s.Token}}, "keys", "list")
		if r.code != 3 || !strings.Contains(ctErrText(r.err), dead) {
			t.Fatalf("KEYWARD_URL pointing at a closed port: want exit 3 naming it:\n%s", r)
		}
	})
	t.Run("KEYWARD_JSON", func(t *testing.T) {
		env := s.env()
		env["KEYWARD_JSON"] = "true"
		r := ctRunCLI(t, ctInvocation{env: env}, "keys", "list")
		if r.err != nil || ctDecode(t, r)["data"] == nil {
			t.Fatalf("KEYWARD_JSON=true should print JSON:\n%s", r)
		}
	})
	t.Run("a bad KEYWARD_TIMEOUT is a usage error", func(t *testing.T) {
		env := s.env()
		env["KEYWARD_TIMEOUT"] = "soon"
		r := ctRunCLI(t, ctInvocation{env: env}, "keys", "list")
		if r.code != 2 || !strings.Contains(ctErrText(r.err), "KEYWARD_TIMEOUT") {
			t.Fatalf("want exit 2 naming KEYWARD_TIMEOUT:\n%s", r)
		}
	})
	t.Run("command flags ignore the environment", func(t *testing.T) {
		id := s.okJSON(t, "keys", "create", "--name", "env")["id"].(string)
		env := s.env()
		for k, v := range map[string]string{
			"KEYWARD_STATUS": "revoked", "KEYWARD_CLEAR_METADATA": "true", "KEYWARD_NAME": "from-env",
			"KEYWARD_SCOPE": "documents:read", "KEYWARD_PERMISSION_MODE": "restricted",
		} {
			env[k] = v
		}
		r := ctRunCLI(t, ctInvocation{env: env}, "keys", "update", id, "--description", "d", "--json")
		m := ctDecode(t, r)
		if m["status"] != "active" || m["name"] != "env" || m["permission_mode"] != "all" {
			t.Fatalf("KEYWARD_STATUS/KEYWARD_NAME/KEYWARD_PERMISSION_MODE changed the key: %v", m)
		}
		r = ctRunCLI(t, ctInvocation{env: env}, "keys", "create")
		if r.code != 2 || !strings.Contains(ctErrText(r.err), "--name is required") {
			t.Fatalf("KEYWARD_NAME must not stand in for --name:\n%s", r)
		}
	})
	t.Run("--account-id", func(t *testing.T) {
		r := s.fails(t, 1, "keys", "list", "--account-id", "acc_01J00000000000000000000000")
		ctWantProblem(t, r, "not_found", 404)
	})
}

// TestCtKeysMissingToken names KEYWARD_TOKEN and sends nothing.
func TestCtKeysMissingToken(t *testing.T) {
	ctWantMissingToken(t, "  ", "", [][]string{
		{"keys", "list"},
		{"keys", "create", "--name", "x"},
		{"keys", "get", "key_01J00000000000000000000000"},
		{"keys", "verify", "kw_something"},
	})
}

// ctWantMissingToken runs each command line with KEYWARD_TOKEN set to
// token ("" unset; blank is no key either) and the stdin against a server
// that must not be contacted, and wants exit 2 and an error naming
// KEYWARD_TOKEN.
func ctWantMissingToken(t *testing.T, token, stdin string, lines [][]string) {
	t.Helper()
	srv, hits := ctTripwire(t)
	env := map[string]string{"KEYWARD_URL": srv}
	if token != "" {
		env["KEYWARD_TOKEN"] = token
	}
	for _, args := range lines {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := ctRunCLI(t, ctInvocation{env: env, stdin: stdin}, args...)
			if r.code != 2 || !strings.Contains(ctErrText(r.err), "KEYWARD_TOKEN") {
				t.Fatalf("want exit 2 and an error naming KEYWARD_TOKEN:\n%s", r)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the server got %d requests without a token", n)
	}
}

// TestCtKeysServerProblems prints problems as "<detail> (<code>, HTTP
// <status>)" with one line per field, exit status 1, and never the token.
func TestCtKeysServerProblems(t *testing.T) {
	s := ctStartServer(t)
	apiKey := s.okJSON(t, "keys", "create", "--name", "an api key")["secret"].(string)

	t.Run("unknown management key", func(t *testing.T) {
		bad := "kwm_thisisnotarealmanagementkey000000"
		r := ctRunCLI(t, ctInvocation{env: map[string]string{"KEYWARD_URL": s.URL, "KEYWARD_TOKEN": bad}}, "keys", "list")
		ctWantProblem(t, r, "unauthenticated", 401)
		if strings.Contains(r.stdout+r.stderr+ctErrText(r.err), bad) {
			t.Fatalf("the token appears in the output:\n%s", r)
		}
	})
	t.Run("API key as management key", func(t *testing.T) {
		r := ctRunCLI(t, ctInvocation{}, "keys", "list", "--url", s.URL, "--token", apiKey)
		ctWantProblem(t, r, "api_key_forbidden", 403)
		if strings.Contains(ctErrText(r.err), apiKey) {
			t.Fatalf("the token appears in the error:\n%s", r)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		r := s.fails(t, 1, "keys", "get", "key_01J00000000000000000000000")
		ctWantProblem(t, r, "not_found", 404)
		if want := `key "key_01J00000000000000000000000" not found (not_found, HTTP 404)`; ctErrText(r.err) != want {
			t.Fatalf("error = %q, want %q", ctErrText(r.err), want)
		}
	})
	t.Run("field errors", func(t *testing.T) {
		r := s.fails(t, 1, "keys", "create", "--name", "x", "--scope", "nope:read", "--scope", "billing:write", "--role", "ghost")
		ctWantProblem(t, r, "validation_failed", 422)
		lines := strings.Split(ctErrText(r.err), "\n")[1:]
		want := map[string]bool{"scopes[0].resource": false, "scopes[1].resource": false, "roles[0]": false}
		for _, l := range lines {
			field, _, ok := strings.Cut(strings.TrimPrefix(l, "  "), ": ")
			if !strings.HasPrefix(l, "  ") || !ok {
				t.Fatalf("field line %q is not '  field: message'\n%s", l, r)
			}
			if _, known := want[field]; known {
				want[field] = true
			}
		}
		for f, seen := range want {
			if !seen {
				t.Fatalf("no line for field %s:\n%s", f, ctErrText(r.err))
			}
		}
	})
	t.Run("invalid permission query", func(t *testing.T) {
		r := s.runStdin(t, apiKey, "keys", "verify", "--permissions", "documents:read AND")
		ctWantProblem(t, r, "invalid_permission_query", 422)
	})
	t.Run("restricted without permissions", func(t *testing.T) {
		r := s.fails(t, 1, "keys", "create", "--name", "x", "--permission-mode", "restricted")
		ctWantProblem(t, r, "validation_failed", 422)
	})
	// Answers that are not keyward's: a proxy's pages, a web site, a
	// redirect. A proxy's bare 502 or 504 means keyward cannot be reached
	// behind it.
	for _, tc := range []struct {
		name    string
		handler http.Handler
		code    int
		want    string // the error, or with a leading "~" a part of it
	}{
		{"a proxy's 502 page", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "<html>bad gateway</html>")
		}), 3, "the server answered 502 Bad Gateway (unavailable, HTTP 502)"},
		{"a proxy's bare 504", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "upstream timed out", http.StatusGatewayTimeout)
		}), 3, "the server answered 504 Gateway Timeout (unavailable, HTTP 504)"},
		{"a web site", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "<html>a web site</html>")
		}), 1, "~is --url a keyward server?"},
		{"a redirect, reported and not followed", http.RedirectHandler("https://keys.example.com/v1/keys", http.StatusMovedPermanently),
			1, "~redirects to https://keys.example.com/v1/keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			r := ctRunCLI(t, ctInvocation{env: map[string]string{"KEYWARD_URL": srv.URL, "KEYWARD_TOKEN": s.Token}}, "keys", "list")
			got := ctErrText(r.err)
			part, contains := strings.CutPrefix(tc.want, "~")
			if r.code != tc.code || contains && !strings.Contains(got, part) || !contains && got != tc.want {
				t.Fatalf("want exit %d and %q:\n%s", tc.code, tc.want, r)
			}
		})
	}
}

// TestCtKeysUsageErrors exits 2 on bad flag values without contacting the
// server.
func TestCtKeysUsageErrors(t *testing.T) {
	id := "key_01J00000000000000000000000"
	ctWantUsageErrors(t, []ctUsageCase{
		{"scope without access", []string{"keys", "create", "--name", "x", "--scope", "documents"}, `--scope "documents"`},
		{"scope bad access", []string{"keys", "create", "--name", "x", "--scope", "documents:admin"}, "read or write"},
		{"scope bad resource", []string{"keys", "create", "--name", "x", "--scope", "Docs:read"}, "resource"},
		{"scope empty target", []string{"keys", "create", "--name", "x", "--scope", "files:read:a,,b"}, "target"},
		{"scope empty", []string{"keys", "update", id, "--scope", ""}, "--scope"},
		{"expires-in words", []string{"keys", "create", "--name", "x", "--expires-in", "soon"}, "--expires-in"},
		{"expires-in negative", []string{"keys", "create", "--name", "x", "--expires-in", "-1h"}, "--expires-in"},
		{"expires-in zero", []string{"keys", "create", "--name", "x", "--expires-in", "0s"}, "--expires-in"},
		{"expires-in bad days", []string{"keys", "create", "--name", "x", "--expires-in", "xd"}, "--expires-in"},
		{"expires-at not RFC 3339", []string{"keys", "create", "--name", "x", "--expires-at", "2030-01-02"}, "--expires-at"},
		{"expires-at and expires-in", []string{"keys", "create", "--name", "x", "--expires-at", "2030-01-02T00:00:00Z", "--expires-in", "1h"}, "not both"},
		{"metadata without =", []string{"keys", "create", "--name", "x", "--metadata", "team"}, "--metadata"},
		{"metadata bad JSON", []string{"keys", "create", "--name", "x", "--metadata", "n:={"}, "JSON"},
		{"metadata twice", []string{"keys", "create", "--name", "x", "--metadata", "a=1", "--metadata", "a=2"}, "twice"},
		{"bad ip", []string{"keys", "create", "--name", "x", "--ip", "10.0.0.300"}, "--ip"},
		{"bad mode", []string{"keys", "create", "--name", "x", "--permission-mode", "admin"}, "--permission-mode"},
		{"bad prefix", []string{"keys", "create", "--name", "x", "--prefix", "Acme"}, "--prefix"},
		{"no name", []string{"keys", "create"}, "--name is required"},
		{"create takes no argument", []string{"keys", "create", "--name", "x", "extra"}, "argument"},
		{"update nothing", []string{"keys", "update", id}, "nothing to change"},
		{"update empty name", []string{"keys", "update", id, "--name", " "}, "--name"},
		{"update bad status", []string{"keys", "update", id, "--status", "paused"}, "--status"},
		{"update description and clear", []string{"keys", "update", id, "--description", "d", "--clear-description"}, "not both"},
		{"update expiry and clear", []string{"keys", "update", id, "--expires-in", "1h", "--clear-expires"}, "not both"},
		{"update scope and no-scopes", []string{"keys", "update", id, "--scope", "documents:read", "--no-scopes"}, "not both"},
		{"update project and clear", []string{"keys", "update", id, "--project-id", "prj_x", "--clear-project"}, "not both"},
		{"update metadata and clear", []string{"keys", "update", id, "--metadata", "a=b", "--clear-metadata"}, "not both"},
		{"update ip and clear", []string{"keys", "update", id, "--ip", "10.0.0.1", "--clear-ip-allowlist"}, "not both"},
		{"update empty if-match", []string{"keys", "update", id, "--name", "n", "--if-match", ""}, "--if-match"},
		{"update without id", []string{"keys", "update", "--name", "n"}, "keys update takes exactly one argument, the key id (got 0)"},
		{"get without id", []string{"keys", "get"}, "keys get takes exactly one argument, the key id (got 0)"},
		{"get two ids", []string{"keys", "get", id, id}, "keys get takes exactly one argument, the key id (got 2)"},
		{"delete without id", []string{"keys", "delete"}, "keys delete takes exactly one argument, the key id (got 0)"},
		{"revoke empty id", []string{"keys", "revoke", ""}, "empty"},
		{"rotate negative grace", []string{"keys", "rotate", id, "--grace", "-1s"}, "--grace"},
		{"rotate fractional grace", []string{"keys", "rotate", id, "--grace", "1.5s"}, "--grace"},
		{"rotate bad grace", []string{"keys", "rotate", id, "--grace", "long"}, "--grace"},
		{"list limit zero", []string{"keys", "list", "--limit", "0"}, "--limit"},
		{"list limit too big", []string{"keys", "list", "--limit", "201"}, "--limit"},
		{"list limit not a number", []string{"keys", "list", "--limit", "x"}, "--limit"},
		{"list bad status", []string{"keys", "list", "--status", "gone"}, "--status"},
		{"list bad owner type", []string{"keys", "list", "--owner-type", "robot"}, "--owner-type"},
		{"list bad expired", []string{"keys", "list", "--expired", "maybe"}, "--expired"},
		{"list bad created-after", []string{"keys", "list", "--created-after", "yesterday"}, "--created-after"},
		{"list all and ending-before", []string{"keys", "list", "--all", "--ending-before", id}, "--ending-before"},
		{"list both cursors", []string{"keys", "list", "--starting-after", id, "--ending-before", id}, "not both"},
		{"list empty cursor", []string{"keys", "list", "--starting-after", " "}, "--starting-after must not be empty"},
		{"list empty owner", []string{"keys", "list", "--owner-id", ""}, "--owner-id must not be empty"},
		{"verify two arguments", []string{"keys", "verify", "a", "b"}, "at most one"},
		{"verify empty stdin", []string{"keys", "verify", "-"}, "empty"},
		{"verify empty permissions", []string{"keys", "verify", "kw_x", "--permissions", " "}, "--permissions"},
		{"unknown flag", []string{"keys", "list", "--colour"}, "colour"},
		{"unknown command", []string{"keys", "frobnicate"}, "frobnicate"},
		{"bad timeout", []string{"keys", "list", "--timeout", "soon"}, "--timeout"},
		{"zero timeout", []string{"keys", "list", "--timeout", "0s"}, "--timeout"},
		{"bad url", []string{"keys", "list", "--url", "localhost:8420"}, "--url"},
	})
}

// TestCtKeysUnreachable reports a server that is not there with exit 3.
func TestCtKeysUnreachable(t *testing.T) {
	dead := ctDeadURL(t)
	r := ctRunCLI(t, ctInvocation{env: map[string]string{"KEYWARD_URL": dead, "KEYWARD_TOKEN": "kwm_secretvalue"}}, "keys", "get", "key_01J00000000000000000000000")
	msg := ctErrText(r.err)
	if r.code != 3 || !strings.HasPrefix(msg, "cannot reach the keyward server at "+dead+":") || !strings.Contains(msg, "KEYWARD_URL") {
		t.Fatalf("want exit 3 and 'cannot reach the keyward server at %s: …':\n%s", dead, r)
	}
	if strings.Contains(msg, "kwm_secretvalue") {
		t.Fatalf("the token appears in the error: %s", msg)
	}
}

// TestCtKeysTimeout gives up on a server that does not answer.
func TestCtKeysTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	r := ctRunCLI(t, ctInvocation{env: map[string]string{"KEYWARD_URL": srv.URL, "KEYWARD_TOKEN": "kwm_x"}}, "keys", "list", "--timeout", "200ms")
	if r.code != 1 || !strings.Contains(ctErrText(r.err), "no answer from "+srv.URL+" within 200ms") {
		t.Fatalf("want exit 1 and 'no answer … within 200ms':\n%s", r)
	}
}

// ---- helpers ----

// ctWantJSON fails unless every member of want equals the same member of got.
func ctWantJSON(t *testing.T, what string, got map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Fatalf("%s: no member %q in %v", what, k, got)
		}
		if !reflect.DeepEqual(g, w) {
			gb, _ := json.Marshal(g)
			wb, _ := json.Marshal(w)
			t.Fatalf("%s: %s = %s, want %s", what, k, gb, wb)
		}
	}
}

// ctWantProblem fails unless the command failed with exit 1 and a server
// problem "<detail> (<code>, HTTP <status>)".
func ctWantProblem(t *testing.T, r ctResult, code string, status int) {
	t.Helper()
	first, _, _ := strings.Cut(ctErrText(r.err), "\n")
	re := regexp.MustCompile(`^\S.* \(` + regexp.QuoteMeta(code) + `, HTTP ` + fmt.Sprint(status) + `\)$`)
	if r.code != 1 || !re.MatchString(first) {
		t.Fatalf("want exit 1 and '<detail> (%s, HTTP %d)':\n%s", code, status, r)
	}
	if r.stdout != "" {
		t.Fatalf("a failed request printed to stdout:\n%s", r)
	}
}

// ctNamesField reports whether the error names field (with what follows
// it, such as "roles[1]: "): in its first line, which is the server's
// detail when one field is wrong, or in a line of its own.
func ctNamesField(err error, field string) bool {
	text := ctErrText(err)
	return strings.HasPrefix(text, field) || strings.Contains(text, "\n  "+field)
}

// ctIDs returns the ids of a list page.
func ctIDs(t *testing.T, page map[string]any) []string {
	t.Helper()
	data, ok := page["data"].([]any)
	if !ok {
		t.Fatalf("no data array in %v", page)
	}
	ids := []string{}
	for _, d := range data {
		ids = append(ids, d.(map[string]any)["id"].(string))
	}
	return ids
}

// ctTableIDs returns the first column of a list table, header excluded.
func ctTableIDs(out string) []string {
	var ids []string
	for i, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if f := strings.Fields(l); i > 0 && len(f) > 0 {
			ids = append(ids, f[0])
		}
	}
	return ids
}

// ctTripwire is a real HTTP server that only counts requests: commands that
// must not contact the server point at it.
func ctTripwire(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "tripwire", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &hits
}

// ctDeadURL returns the URL of a loopback port nothing listens on.
func ctDeadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

package cli_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCtKeysBinaryExitStatus runs the real keyward binary as the client of
// a server: the exit status and the "keyward: " line on stderr are main's
// job, which in-process tests cannot see.
func TestCtKeysBinaryExitStatus(t *testing.T) {
	bin := ctBuildKeyward(t)
	s := ctStartServer(t)
	base := ctBaseEnviron()
	run := func(t *testing.T, stdin string, env []string, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(append([]string{}, base...), env...)
		cmd.Stdin = strings.NewReader(stdin)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit):
			code = exit.ExitCode()
		default:
			t.Fatalf("run keyward %v: %v", args, err)
		}
		return o.String(), e.String(), code
	}
	env := []string{"KEYWARD_URL=" + s.URL, "KEYWARD_TOKEN=" + s.Token}

	valid := s.okJSON(t, "keys", "create", "--name", "valid")["secret"].(string)
	revokedKey := s.okJSON(t, "keys", "create", "--name", "revoked")
	s.ok(t, "keys", "revoke", revokedKey["id"].(string))

	for _, tc := range []struct {
		name       string
		stdin      string
		env        []string
		args       []string
		code       int
		wantStdout string // substring
		wantStderr string // the first line, exactly ("" for an empty stderr)
	}{
		{"valid key", valid, env, []string{"keys", "verify", "-"}, 0, "CODE      VALID", ""},
		{"revoked key", revokedKey["secret"].(string), env, []string{"keys", "verify", "-"}, 1, "CODE      REVOKED", "keyward: the key is not valid: REVOKED"},
		{"unknown key", "kw_nothing", env, []string{"keys", "verify", "-", "--json"}, 1, `"code": "NOT_FOUND"`, "keyward: the key is not valid: NOT_FOUND"},
		{"server problem", "", env, []string{"keys", "get", "key_01J00000000000000000000000"}, 1, "",
			`keyward: key "key_01J00000000000000000000000" not found (not_found, HTTP 404)`},
		{"usage error", "", env, []string{"keys", "create", "--name", "x", "--scope", "documents"}, 2, "",
			`keyward: --scope "documents": missing the access level (want resource:access or resource:access:target1,target2, such as documents:read)`},
		{"missing token", "", []string{"KEYWARD_URL=" + s.URL}, []string{"keys", "list"}, 2, "",
			"keyward: no management key: set KEYWARD_TOKEN (or --token) to a management key's secret"},
		{"unreachable", "", []string{"KEYWARD_URL=" + ctDeadURL(t), "KEYWARD_TOKEN=" + s.Token}, []string{"keys", "list"}, 3, "", ""},
		{"list", "", env, []string{"keys", "list"}, 0, "ID  ", ""},
		{"users: server problem", "", env, []string{"users", "get", "usr_01J00000000000000000000000"}, 1, "",
			`keyward: user "usr_01J00000000000000000000000" not found (not_found, HTTP 404)`},
		{"accounts: usage error", "", env, []string{"accounts", "delete", "acc_01J00000000000000000000000"}, 2, "",
			"keyward: deleting an account deletes every key, user, role and project in it for good: add --yes to go ahead"},
		{"catalog: table", "", env, []string{"catalog", "get"}, 0, "RESOURCE  ", ""},
		{"management-keys: missing token", "", []string{"KEYWARD_URL=" + s.URL}, []string{"management-keys", "list"}, 2, "",
			"keyward: no management key: set KEYWARD_TOKEN (or --token) to a management key's secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, tc.stdin, tc.env, tc.args...)
			if code != tc.code {
				t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.wantStdout) {
				t.Fatalf("stdout lacks %q:\n%s", tc.wantStdout, stdout)
			}
			first, _, _ := strings.Cut(stderr, "\n")
			switch {
			case tc.code == 3:
				if !strings.HasPrefix(first, "keyward: cannot reach the keyward server at ") {
					t.Fatalf("stderr %q, want 'keyward: cannot reach the keyward server at …'", stderr)
				}
			case first != tc.wantStderr:
				t.Fatalf("stderr's first line %q, want %q\n%s", first, tc.wantStderr, stderr)
			}
			if strings.Contains(stdout+stderr, s.Token) {
				t.Fatalf("the management key appears in the output")
			}
		})
	}
}

// ctBuildKeyward builds the keyward binary into a temporary directory and
// returns its path.
func ctBuildKeyward(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("this test builds cmd/keyward and needs the go command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "keyward")
	build := exec.Command(gobin, "build", "-o", bin, "github.com/keyward/keyward/cmd/keyward")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// ctBaseEnviron is the test's environment without KEYWARD_* variables, so
// that a run of the binary sees only those a test gives, not the
// developer's own settings.
func ctBaseEnviron() []string {
	base := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYWARD_") {
			base = append(base, kv)
		}
	}
	return base
}

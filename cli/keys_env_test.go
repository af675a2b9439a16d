package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/cli"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/postgres/pgtest"
)

// ctServer is a real keyward server started in-process with `keyward
// serve` on a free loopback port and a fresh database (SQLite, or
// PostgreSQL when KEYWARD_TEST_STORE=postgres).
type ctServer struct {
	URL   string // http://127.0.0.1:port
	Token string // the bootstrap operator key
}

var ctListening = regexp.MustCompile(`keyward listening"? addr=(\S+)`)

// ctStartServer runs `keyward serve` (with the extra flags given) until the
// test ends; it fails the test if the server does not come up or does not
// stop cleanly.
func ctStartServer(t *testing.T, extra ...string) *ctServer {
	t.Helper()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "operator.key")
	ctx, cancel := context.WithCancel(context.Background())
	logs := &keywardtest.Logs{}
	done := make(chan error, 1)
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--bootstrap-key-file", keyFile}, extra...)
	// KEYWARD_TEST_STORE=postgres runs the suite on PostgreSQL (.ci/run
	// does both): a fresh schema instead of the SQLite file in dir.
	switch store := os.Getenv("KEYWARD_TEST_STORE"); store {
	case "", "sqlite":
	case "postgres":
		args = append(args, "--database", pgtest.URL(t))
	default:
		t.Fatalf("KEYWARD_TEST_STORE=%q: want sqlite or postgres", store)
	}
	go func() {
		done <- cli.Run(ctx, args, func(string) string { return "" }, strings.NewReader(""), io.Discard, logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("keyward serve ended with %v; log:\n%s", err, logs)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("keyward serve did not stop within 30s of its context being cancelled")
		}
	})

	var addr string
	deadline := time.Now().Add(30 * time.Second)
	for addr == "" {
		if m := ctListening.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("keyward serve ended before listening: %v; log:\n%s", err, logs)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("keyward serve did not log its address within 30s; log:\n%s", logs)
		}
	}
	s := &ctServer{URL: "http://" + addr}
	for {
		res, err := http.Get(s.URL + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /healthz did not answer 200 within 30s (last error %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatalf("read the bootstrap key file: %v", err)
	}
	s.Token = strings.TrimSpace(string(b))
	if s.Token == "" {
		t.Fatalf("the bootstrap key file %s is empty", keyFile)
	}
	return s
}

// ctResult is what one CLI invocation did.
type ctResult struct {
	args   []string
	stdout string
	stderr string
	err    error
	code   int // the exit status main would use
}

func (r ctResult) String() string {
	return "keyward " + strings.Join(r.args, " ") + "\nerr: " + ctErrText(r.err) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

func ctErrText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// ctInvocation describes one run of the CLI.
type ctInvocation struct {
	env   map[string]string
	stdin string
}

// ctRunCLI runs the CLI in-process with exactly the environment given.
func ctRunCLI(t *testing.T, inv ctInvocation, args ...string) ctResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(name string) string { return inv.env[name] }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := cli.Run(ctx, args, getenv, strings.NewReader(inv.stdin), &stdout, &stderr)
	r := ctResult{args: args, stdout: stdout.String(), stderr: stderr.String(), err: err}
	if err != nil {
		r.code = cli.ExitCode(err)
	}
	return r
}

// env returns the environment that points the CLI at s.
func (s *ctServer) env() map[string]string {
	return map[string]string{"KEYWARD_URL": s.URL, "KEYWARD_TOKEN": s.Token}
}

// run runs the CLI against s (through KEYWARD_URL and KEYWARD_TOKEN).
func (s *ctServer) run(t *testing.T, args ...string) ctResult {
	t.Helper()
	return ctRunCLI(t, ctInvocation{env: s.env()}, args...)
}

// as returns s with another management key as KEYWARD_TOKEN.
func (s *ctServer) as(token string) *ctServer {
	return &ctServer{URL: s.URL, Token: token}
}

// runStdin is run with standard input.
func (s *ctServer) runStdin(t *testing.T, stdin string, args ...string) ctResult {
	t.Helper()
	return ctRunCLI(t, ctInvocation{env: s.env(), stdin: stdin}, args...)
}

// ok runs the CLI and fails the test unless it succeeded.
func (s *ctServer) ok(t *testing.T, args ...string) ctResult {
	t.Helper()
	r := s.run(t, args...)
	if r.err != nil {
		t.Fatalf("want success, got:\n%s", r)
	}
	return r
}

// okJSON runs a --json command and decodes its output.
func (s *ctServer) okJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	r := s.ok(t, append(args, "--json")...)
	return ctDecode(t, r)
}

func ctDecode(t *testing.T, r ctResult) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, r)
	}
	return m
}

// fails runs the CLI and fails the test unless it exited with code.
func (s *ctServer) fails(t *testing.T, code int, args ...string) ctResult {
	t.Helper()
	r := s.run(t, args...)
	if r.err == nil || r.code != code {
		t.Fatalf("want exit status %d, got %d:\n%s", code, r.code, r)
	}
	return r
}

// verify verifies secret through stdin and returns the code and exit status.
func (s *ctServer) verify(t *testing.T, secret string, extra ...string) (string, int) {
	t.Helper()
	r := s.runStdin(t, secret+"\n", append([]string{"keys", "verify", "-", "--json"}, extra...)...)
	m := ctDecode(t, r)
	code, _ := m["code"].(string)
	if (code == "VALID") != (r.err == nil) {
		t.Fatalf("verify answered %s but the command's error is %v", code, r.err)
	}
	return code, r.code
}

// api calls the server's HTTP API directly, for setup the CLI does not
// cover (projects).
func (s *ctServer) api(t *testing.T, method, path string, body any) map[string]any {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		t.Fatalf("%s %s: HTTP %d: %s", method, path, res.StatusCode, out)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, out)
	}
	return m
}

// ctRow returns the value of the row named name in a two-column table, and
// whether the row is there.
func ctRow(out, name string) (string, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `  +(.*?)\s*$`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// ctWantRow fails the test unless the table has the row with that value.
func ctWantRow(t *testing.T, r ctResult, name, want string) {
	t.Helper()
	got, ok := ctRow(r.stdout, name)
	if !ok {
		t.Fatalf("no %s row in the table:\n%s", name, r)
	}
	if got != want {
		t.Fatalf("%s row = %q, want %q\n%s", name, got, want, r)
	}
}

// ctSecretAfter returns the secret printed under the given label.
func ctSecretAfter(t *testing.T, r ctResult, label string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(label) + ` \(shown once[^\n]*\n\n    (\S+)\n\n`)
	m := re.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no %q block with a secret in the output:\n%s", label, r)
	}
	return m[1]
}

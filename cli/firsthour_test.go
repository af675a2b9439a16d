package cli_test

// The first hour of a new user (issue 9, point 16): what the command line
// got wrong for someone trying keyward from the README.

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rivo/uniseg"

	"github.com/keyward/keyward/cli"
)

// TestCtKeysRateLimitAndCredits sets, shows, changes and clears a key's
// rate limit and credits from the command line, and checks that the
// server enforces what the flags set.
func TestCtKeysRateLimitAndCredits(t *testing.T) {
	s := ctStartServer(t)
	k := s.okJSON(t, "keys", "create", "--name", "metered", "--rate-limit", "100/1m", "--credits", "500", "--credits-refill", "1000/30d")
	id := k["id"].(string)
	ctWantJSON(t, "create", k, map[string]any{
		"rate_limit": map[string]any{"limit": 100.0, "window": 60.0},
		"credits":    map[string]any{"remaining": 500.0, "refill": map[string]any{"amount": 1000.0, "interval": 2592000.0}},
	})

	r := s.ok(t, "keys", "get", id)
	ctWantRow(t, r, "RATE LIMIT", "100 per 1m")
	ctWantRow(t, r, "CREDITS", "500 left, refilled to 1000 every 30d")

	u := s.okJSON(t, "keys", "update", id, "--rate-limit", "10/1s", "--credits", "7")
	ctWantJSON(t, "update", u, map[string]any{
		"rate_limit": map[string]any{"limit": 10.0, "window": 1.0},
		"credits":    map[string]any{"remaining": 7.0, "refill": nil}, // --credits alone: no refill
	})
	r = s.ok(t, "keys", "get", id)
	ctWantRow(t, r, "RATE LIMIT", "10 per 1s")
	ctWantRow(t, r, "CREDITS", "7 left")

	u = s.okJSON(t, "keys", "update", id, "--clear-rate-limit", "--clear-credits")
	ctWantJSON(t, "update --clear-*", u, map[string]any{"rate_limit": nil, "credits": nil})
	r = s.ok(t, "keys", "get", id)
	ctWantRow(t, r, "RATE LIMIT", "none")
	ctWantRow(t, r, "CREDITS", "none")

	// What the flags set is what verification enforces.
	limited := s.okJSON(t, "keys", "create", "--name", "limited", "--rate-limit", "1/1h")["secret"].(string)
	if code, _ := s.verify(t, limited); code != "VALID" {
		t.Fatalf("first verification of a 1/1h key: %s", code)
	}
	if code, _ := s.verify(t, limited); code != "RATE_LIMITED" {
		t.Fatalf("second verification of a 1/1h key: %s, want RATE_LIMITED", code)
	}
	spent := s.okJSON(t, "keys", "create", "--name", "spent", "--credits", "0")["secret"].(string)
	if code, _ := s.verify(t, spent); code != "USAGE_EXCEEDED" {
		t.Fatalf("verification of a key with --credits 0: %s, want USAGE_EXCEEDED", code)
	}
}

// TestCtLimitFlagErrors checks the rate limit and credit flags locally,
// naming the flag, without contacting the server.
func TestCtLimitFlagErrors(t *testing.T) {
	id := "key_01J00000000000000000000000"
	ctWantUsageErrors(t, []ctUsageCase{
		{"rate limit without window", []string{"keys", "create", "--name", "x", "--rate-limit", "100"}, `--rate-limit "100" is not LIMIT/WINDOW`},
		{"rate limit zero", []string{"keys", "create", "--name", "x", "--rate-limit", "0/1m"}, "--rate-limit"},
		{"rate limit words", []string{"keys", "create", "--name", "x", "--rate-limit", "many/1m"}, "--rate-limit"},
		{"rate window zero", []string{"keys", "create", "--name", "x", "--rate-limit", "100/0s"}, "--rate-limit"},
		{"rate window fraction", []string{"keys", "create", "--name", "x", "--rate-limit", "100/1.5s"}, "--rate-limit"},
		{"rate window too long", []string{"keys", "create", "--name", "x", "--rate-limit", "100/32d"}, "1s to 31d"},
		{"credits negative", []string{"keys", "create", "--name", "x", "--credits", "-1"}, "--credits must be from 0"},
		{"credits not a number", []string{"keys", "create", "--name", "x", "--credits", "lots"}, "--credits"},
		{"refill without credits", []string{"keys", "create", "--name", "x", "--credits-refill", "10/1d"}, "--credits-refill needs --credits"},
		{"refill zero", []string{"keys", "create", "--name", "x", "--credits", "1", "--credits-refill", "0/1d"}, "--credits-refill"},
		{"refill interval too long", []string{"keys", "create", "--name", "x", "--credits", "1", "--credits-refill", "1/367d"}, "--credits-refill"},
		{"update rate limit and clear", []string{"keys", "update", id, "--rate-limit", "1/1s", "--clear-rate-limit"}, "not both"},
		{"update credits and clear", []string{"keys", "update", id, "--credits", "1", "--clear-credits"}, "not both"},
		{"update refill alone", []string{"keys", "update", id, "--credits-refill", "10/1d"}, "--credits-refill needs --credits"},
		{"management keys have no rate limit", []string{"management-keys", "create", "--name", "x", "--permission", "keys:read", "--rate-limit", "1/1s"}, "--rate-limit"},
	})
}

// TestCtProjects walks a project through the projects commands.
func TestCtProjects(t *testing.T) {
	s := ctStartServer(t)
	p := s.okJSON(t, "projects", "create", "--name", "web", "--description", "the web app")
	id := p["id"].(string)
	ctWantJSON(t, "create", p, map[string]any{"name": "web", "description": "the web app"})

	r := s.ok(t, "projects", "get", id)
	ctWantRow(t, r, "NAME", "web")
	ctWantRow(t, r, "DESCRIPTION", "the web app")
	etag, _ := ctRow(r.stdout, "ETAG")

	s.ok(t, "projects", "create", "--name", "mobile")
	r = s.ok(t, "projects", "list")
	rows := ctTableRows(r.stdout)
	if !reflect.DeepEqual(rows[0], []string{"ID", "NAME", "DESCRIPTION", "CREATED"}) || len(rows) != 3 || rows[1][1] != "mobile" || rows[2][0] != id {
		t.Fatalf("projects list (newest first):\n%s", r)
	}
	if ids := ctIDs(t, s.okJSON(t, "projects", "list", "--limit", "1", "--starting-after", rows[1][0])); !reflect.DeepEqual(ids, []string{id}) {
		t.Fatalf("projects list --starting-after: %v", ids)
	}

	u := s.okJSON(t, "projects", "update", id, "--name", "web (legacy)", "--clear-description", "--if-match", etag)
	ctWantJSON(t, "update", u, map[string]any{"name": "web (legacy)", "description": nil})
	ctWantProblem(t, s.fails(t, 1, "projects", "update", id, "--name", "stale", "--if-match", etag), "precondition_failed", 412)
	ctWantProblem(t, s.fails(t, 1, "projects", "create", "--name", "mobile"), "duplicate", 409)

	// Deleting a project revokes the keys scoped to it.
	key := s.okJSON(t, "keys", "create", "--name", "web key", "--project-id", id)["id"].(string)
	r = s.ok(t, "projects", "delete", id)
	if r.stdout != "Deleted project "+id+"\n" || r.stderr != "" {
		t.Fatalf("projects delete (no terminal: no question):\n%s", r)
	}
	if st := s.okJSON(t, "keys", "get", key)["status"]; st != "revoked" {
		t.Fatalf("a key of the deleted project is %v, want revoked", st)
	}
	ctWantProblem(t, s.fails(t, 1, "projects", "get", id), "not_found", 404)

	ctWantUsageErrors(t, []ctUsageCase{
		{"create without name", []string{"projects", "create"}, "--name is required"},
		{"create blank name", []string{"projects", "create", "--name", " "}, "--name must not be empty"},
		{"update nothing", []string{"projects", "update", id}, "nothing to change"},
		{"update description and clear", []string{"projects", "update", id, "--description", "d", "--clear-description"}, "not both"},
		{"get without id", []string{"projects", "get"}, "projects get takes exactly one argument, the project id (got 0)"},
		{"list limit", []string{"projects", "list", "--limit", "0"}, "--limit"},
	})
}

// TestCtAudit reads the audit log with each filter the API has.
func TestCtAudit(t *testing.T) {
	s := ctStartServer(t)
	k := s.okJSON(t, "keys", "create", "--name", "audited")
	id := k["id"].(string)
	s.ok(t, "keys", "update", id, "--name", "audited twice")
	s.ok(t, "keys", "revoke", id)
	other := s.okJSON(t, "keys", "create", "--name", "other")["id"].(string)

	r := s.ok(t, "audit", "list", "--target-id", id)
	rows := ctTableRows(r.stdout)
	if !reflect.DeepEqual(rows[0], []string{"TIME", "ACTION", "TARGET", "ACTOR", "CHANGED", "ID"}) || len(rows) != 4 {
		t.Fatalf("audit list --target-id:\n%s", r)
	}
	var actions []string
	for _, row := range rows[1:] {
		actions = append(actions, row[1])
		if row[2] != id || !strings.HasPrefix(row[3], "key_") || !strings.HasPrefix(row[5], "evt_") {
			t.Fatalf("audit row %v: want target %s, a management key as actor, an evt_ id\n%s", row, id, r)
		}
	}
	if !reflect.DeepEqual(actions, []string{"key.revoked", "key.updated", "key.created"}) {
		t.Fatalf("audit actions (newest first) %v\n%s", actions, r)
	}
	if rows[2][4] != "name" || rows[1][4] != "status" {
		t.Fatalf("the CHANGED column does not name the changed fields:\n%s", r)
	}

	page := s.okJSON(t, "audit", "list", "--action", "key.created")
	var targets []string
	for _, ev := range page["data"].([]any) {
		targets = append(targets, ev.(map[string]any)["target"].(map[string]any)["id"].(string))
	}
	if !reflect.DeepEqual(targets, []string{other, id}) {
		t.Fatalf("audit list --action key.created --json: targets %v, want [%s %s]", targets, other, id)
	}
	actor := rows[1][3]
	if n := len(ctIDs(t, s.okJSON(t, "audit", "list", "--actor-id", actor, "--all"))); n < 4 {
		t.Fatalf("audit list --actor-id %s: %d events, want the 4 changes at least", actor, n)
	}
	if n := len(ctIDs(t, s.okJSON(t, "audit", "list", "--target-id", id, "--since", "1h"))); n != 3 {
		t.Fatalf("audit list --since 1h: %d events, want 3", n)
	}
	if n := len(ctIDs(t, s.okJSON(t, "audit", "list", "--target-id", id, "--until", "1h"))); n != 0 {
		t.Fatalf("audit list --until 1h (an hour ago): %d events, want none", n)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if n := len(ctIDs(t, s.okJSON(t, "audit", "list", "--target-id", id, "--since", future))); n != 0 {
		t.Fatalf("audit list --since %s: %d events, want none", future, n)
	}

	r = s.ok(t, "audit", "list", "--target-id", id, "--limit", "1")
	if len(ctTableRows(r.stdout)) != 2 || !strings.Contains(r.stderr, "--starting-after evt_") {
		t.Fatalf("audit list --limit 1: one row and a hint for the next page:\n%s", r)
	}
	r = s.ok(t, "audit", "list", "--target-id", id, "--limit", "1", "--all")
	if len(ctTableRows(r.stdout)) != 4 {
		t.Fatalf("audit list --limit 1 --all:\n%s", r)
	}

	r = s.fails(t, 2, "audit", "list", "--since", "yesterday")
	if !strings.Contains(ctErrText(r.err), `--since "yesterday" is not an RFC 3339 time`) {
		t.Fatalf("audit list --since yesterday:\n%s", r)
	}
}

// TestCtKeysListOwnerAndLastUsed shows who owns each key and when it was
// last used in keys list.
func TestCtKeysListOwnerAndLastUsed(t *testing.T) {
	s := ctStartServer(t)
	usr := s.okJSON(t, "users", "create", "--name", "Ann")["id"].(string)
	owned := s.okJSON(t, "keys", "create", "--name", "ann's", "--owner-type", "user", "--owner-id", usr)
	used := s.okJSON(t, "keys", "create", "--name", "used")
	if code, _ := s.verify(t, used["secret"].(string)); code != "VALID" {
		t.Fatalf("verify: %s", code)
	}

	// last_used_at is written behind (every 2 s).
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := s.ok(t, "keys", "list")
		rows := ctTableRows(r.stdout)
		if !reflect.DeepEqual(rows[0], []string{"ID", "NAME", "STATUS", "OWNER", "MODE", "PROJECT", "START", "EXPIRES", "LAST USED", "CREATED"}) || len(rows) != 3 {
			t.Fatalf("keys list:\n%s", r)
		}
		usedRow, ownedRow := rows[1], rows[2]
		if usedRow[0] != used["id"] || ownedRow[0] != owned["id"] {
			t.Fatalf("keys list rows, newest first:\n%s", r)
		}
		if ownedRow[3] != usr || usedRow[3] != "account" || ownedRow[8] != "never" {
			t.Fatalf("OWNER %q and %q, want %s and account; LAST USED of an unused key %q:\n%s", ownedRow[3], usedRow[3], usr, ownedRow[8], r)
		}
		if _, err := time.Parse(time.RFC3339, usedRow[8]); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("LAST USED of a verified key is still %q after 20s:\n%s", usedRow[8], r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestCtVersionFlag prints the version with --version, as "keyward
// version" does.
func TestCtVersionFlag(t *testing.T) {
	want := cli.ReadBuild("", "").String()
	if !strings.HasPrefix(want, "keyward ") {
		t.Fatalf("the version text %q does not start with \"keyward \"", want)
	}
	for _, args := range [][]string{{"--version"}, {"-v"}, {"version"}} {
		r := ctRunCLI(t, ctInvocation{}, args...)
		if r.err != nil || r.stdout != want {
			t.Fatalf("want %q on stdout:\n%s", want, r)
		}
	}
}

// TestCtUnknownCommands refuses a word that names no command at every
// level with exit 2, suggesting the commands it may be a typo of, and
// sends nothing.
func TestCtUnknownCommands(t *testing.T) {
	srv, hits := ctTripwire(t)
	for _, tc := range []struct {
		args []string
		want string // the error, exactly
	}{
		{[]string{"kyes", "list"}, `unknown command "kyes" for "keyward": did you mean "keyward keys"?`},
		{[]string{"kyes", "list", "--json"}, `unknown command "kyes" for "keyward": did you mean "keyward keys"?`},
		{[]string{"keys", "lsit"}, `unknown command "lsit" for "keyward keys": did you mean "keyward keys list"?`},
		{[]string{"keys", "lsit", "--status", "active"}, `unknown command "lsit" for "keyward keys": did you mean "keyward keys list"?`},
		{[]string{"users", "craete", "--name", "x"}, `unknown command "craete" for "keyward users": did you mean "keyward users create"?`},
		{[]string{"projects", "delte", "prj_x"}, `unknown command "delte" for "keyward projects": did you mean "keyward projects delete"?`},
		{[]string{"audit", "lst"}, `unknown command "lst" for "keyward audit": did you mean "keyward audit list"?`},
		{[]string{"admin", "create-managment-key"}, `unknown command "create-managment-key" for "keyward admin": did you mean "keyward admin create-management-key"?`},
		{[]string{"help", "kyes"}, `unknown command "kyes" for "keyward": did you mean "keyward keys"?`},
		{[]string{"keys", "frobnicate"}, `unknown command "frobnicate" for "keyward keys" (see keyward keys --help)`},
		{[]string{"admin", "frobnicate"}, `unknown command "frobnicate" for "keyward admin" (see keyward admin --help)`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := ctRunCLI(t, ctInvocation{env: map[string]string{"KEYWARD_URL": srv, "KEYWARD_TOKEN": "kwm_x"}}, tc.args...)
			if r.code != 2 || ctErrText(r.err) != tc.want || r.stdout != "" {
				t.Fatalf("want exit 2, nothing on stdout and the error %q:\n%s", tc.want, r)
			}
		})
	}
	// An extra word after a command without subcommands is bad usage too.
	for _, args := range [][]string{{"serve", "extra"}, {"version", "extra"}, {"completion", "bsh"}} {
		if r := ctRunCLI(t, ctInvocation{}, args...); r.code != 2 {
			t.Fatalf("want exit 2:\n%s", r)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("mistyped commands sent %d requests", n)
	}
	// Help on a command that exists still works.
	if r := ctRunCLI(t, ctInvocation{}, "help", "keys", "list"); r.err != nil || !strings.Contains(r.stdout, "keyward keys list [flags]") {
		t.Fatalf("help keys list:\n%s", r)
	}
}

// TestCtValidationErrorOnce prints a server's validation error with one
// bad field once, not as the detail and again as a field line.
func TestCtValidationErrorOnce(t *testing.T) {
	s := ctStartServer(t)
	r := s.fails(t, 1, "keys", "create", "--name", "x", "--scope", "nope:read")
	want := `scopes[0].resource: "nope" is not in the account's catalog (validation_failed, HTTP 422)`
	if got := ctErrText(r.err); got != want {
		t.Fatalf("error:\n%s\nwant:\n%s", got, want)
	}
	// Several fields: the summary, then one line each.
	r = s.fails(t, 1, "keys", "create", "--name", "x", "--scope", "nope:read", "--role", "ghost")
	if got := ctErrText(r.err); strings.Count(got, "scopes[0].resource") != 1 || strings.Count(got, "roles[0]") != 1 ||
		!strings.HasPrefix(got, "the request is not valid (validation_failed, HTTP 422)\n  ") {
		t.Fatalf("error with two fields:\n%s", got)
	}
}

// TestCtHTTPSAgainstPlainHTTP reports an https:// URL of a server that
// speaks plain HTTP as a server that cannot be reached (exit 3), saying
// what to change.
func TestCtHTTPSAgainstPlainHTTP(t *testing.T) {
	srv := httptest.NewServer(nil) // plain HTTP
	defer srv.Close()
	url := "https://" + strings.TrimPrefix(srv.URL, "http://")
	r := ctRunCLI(t, ctInvocation{env: map[string]string{"KEYWARD_URL": url, "KEYWARD_TOKEN": "kwm_secret"}}, "keys", "list")
	msg := ctErrText(r.err)
	if r.code != 3 || !strings.HasPrefix(msg, "cannot reach the keyward server at "+url+":") || !strings.Contains(msg, "use http://") {
		t.Fatalf("want exit 3 and 'cannot reach the keyward server at %s: … use http://':\n%s", url, r)
	}
	if strings.Contains(msg, "kwm_secret") {
		t.Fatalf("the token appears in the error: %s", msg)
	}

	// An HTTPS server whose certificate is not trusted cannot be reached
	// either.
	tlsSrv := httptest.NewUnstartedServer(nil)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	r = ctRunCLI(t, ctInvocation{env: map[string]string{"KEYWARD_URL": tlsSrv.URL, "KEYWARD_TOKEN": "kwm_secret"}}, "keys", "list")
	if msg := ctErrText(r.err); r.code != 3 || !strings.Contains(msg, "certificate") {
		t.Fatalf("want exit 3 and an error about the certificate:\n%s", r)
	}
}

// TestCtRotateGraceBound checks --grace against the API's bound (7 days)
// before sending anything, and names the flag.
func TestCtRotateGraceBound(t *testing.T) {
	var cases []ctUsageCase
	for _, grace := range []string{"8d", "7d1s", "169h"} {
		cases = append(cases, ctUsageCase{grace, []string{"keys", "rotate", "key_01J00000000000000000000000", "--grace", grace},
			"--grace " + grace + " is longer than the longest grace period, 7d"})
	}
	ctWantUsageErrors(t, cases)
	s := ctStartServer(t)
	id := s.okJSON(t, "keys", "create", "--name", "graceful")["id"].(string)
	s.ok(t, "keys", "rotate", id, "--grace", "7d")
}

// TestCtArgumentErrors says in words which argument a command takes.
func TestCtArgumentErrors(t *testing.T) {
	ctWantUsageErrors(t, []ctUsageCase{
		{"two ids", []string{"keys", "get", "key_a", "key_b"}, "keys get takes exactly one argument, the key id (got 2)"},
		{"no id", []string{"keys", "revoke"}, "keys revoke takes exactly one argument, the key id (got 0)"},
		{"management key", []string{"management-keys", "rotate"}, "management-keys rotate takes exactly one argument, the management key id (got 0)"},
		{"role", []string{"roles", "update"}, "roles update takes exactly one argument, the role name (got 0)"},
		{"service account", []string{"service-accounts", "update"}, "service-accounts update takes exactly one argument, the service account id (got 0)"},
		{"extra word", []string{"keys", "list", "extra"}, `keys list takes no arguments, only flags (got "extra"; quote a flag's value if it has spaces)`},
		{"unquoted value", []string{"keys", "create", "--name", "my", "key"}, `keys create takes no arguments, only flags (got "key"; quote a flag's value if it has spaces)`},
		{"verify", []string{"keys", "verify", "a", "b"}, "keys verify takes at most one argument, the key to verify or - for standard input (got 2)"},
		{"blank id", []string{"keys", "get", " "}, "keys get: the key id must not be empty"},
	})
}

// ctUsageCase is a command line that is bad usage, and what its error
// says.
type ctUsageCase struct {
	name string
	args []string
	want string // in the error
}

// ctWantUsageErrors runs each case against a server that must not be
// contacted (ctWantUsageError).
func ctWantUsageErrors(t *testing.T, cases []ctUsageCase) {
	t.Helper()
	srv, hits := ctTripwire(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { ctWantUsageError(t, srv, "", tc) })
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("usage errors sent %d requests", n)
	}
}

// ctWantUsageError runs a case with a management key (and stdin) against
// the server at srv, and wants exit 2, nothing on stdout and an error
// containing want but not the key.
func ctWantUsageError(t *testing.T, srv, stdin string, tc ctUsageCase) {
	t.Helper()
	const token = "kwm_sometoken"
	r := ctRunCLI(t, ctInvocation{env: map[string]string{"KEYWARD_URL": srv, "KEYWARD_TOKEN": token}, stdin: stdin}, tc.args...)
	if r.code != 2 || !strings.Contains(ctErrText(r.err), tc.want) || r.stdout != "" {
		t.Fatalf("want exit 2, nothing on stdout and an error containing %q:\n%s", tc.want, r)
	}
	if strings.Contains(ctErrText(r.err), token) {
		t.Fatalf("the token appears in the error:\n%s", r)
	}
}

// TestCtTablesWideAndLong keeps the columns of a table aligned on a
// terminal when names hold East Asian (two columns wide) characters,
// emoji or combining marks, and cuts long names so the other columns stay
// in view.
func TestCtTablesWideAndLong(t *testing.T) {
	s := ctStartServer(t)
	// statusColumns returns the terminal column at which each line of
	// keys list --search search starts its STATUS cell.
	statusColumns := func(t *testing.T, search string) ([]int, ctResult) {
		t.Helper()
		r := s.ok(t, "keys", "list", "--search", search)
		var cols []int
		for i, l := range strings.Split(strings.TrimRight(r.stdout, "\n"), "\n") {
			mark := "  active  "
			if i == 0 {
				mark = "  STATUS  "
			}
			at := strings.Index(l, mark)
			if at < 0 {
				t.Fatalf("line %q has no %q:\n%s", l, mark, r)
			}
			cols = append(cols, uniseg.StringWidth(l[:at]))
		}
		return cols, r
	}

	t.Run("wide characters", func(t *testing.T) {
		names := []string{"wide 請求書エクスポート", "wide 🚀 launch", "wide cafe\u0301 e\u0301te\u0301", "wide plain"}
		for _, n := range names {
			s.ok(t, "keys", "create", "--name", n)
		}
		cols, r := statusColumns(t, "wide")
		if len(cols) != len(names)+1 {
			t.Fatalf("keys list:\n%s", r)
		}
		for i, c := range cols {
			if c != cols[0] {
				t.Fatalf("the STATUS column starts at column %d on line %d and at %d on the header:\n%s", c, i, cols[0], r)
			}
		}
	})

	t.Run("long name", func(t *testing.T) {
		long := strings.Repeat("long name ", 10)
		id := s.okJSON(t, "keys", "create", "--name", long)["id"].(string)
		s.ok(t, "keys", "create", "--name", "long but short")
		cols, r := statusColumns(t, "long")
		if len(cols) != 3 || cols[1] != cols[0] || cols[2] != cols[0] {
			t.Fatalf("keys list: columns not aligned:\n%s", r)
		}
		if cols[0] > 30+2+40 {
			t.Fatalf("the NAME column is %d columns wide, want at most 40:\n%s", cols[0]-32, r)
		}
		if !strings.Contains(r.stdout, "long name long name") || !strings.Contains(r.stdout, "…") || strings.Contains(r.stdout, long) {
			t.Fatalf("a long name is not cut with …:\n%s", r)
		}
		// get shows the whole name.
		ctWantRow(t, s.ok(t, "keys", "get", id), "NAME", strings.TrimSpace(long))
	})
}

// ctRunTerminal runs the CLI against s as if a person typed stdin at a
// terminal.
func ctRunTerminal(t *testing.T, s *ctServer, stdin string, args ...string) ctResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := s.env()
	err := cli.RunOnTerminal(ctx, args, func(k string) string { return env[k] }, strings.NewReader(stdin), &stdout, &stderr)
	r := ctResult{args: args, stdout: stdout.String(), stderr: stderr.String(), err: err}
	if err != nil {
		r.code = cli.ExitCode(err)
	}
	return r
}

// TestCtConfirmAtTerminal asks before revoke and delete when standard
// input is a terminal, unless --yes; scripts are not asked.
func TestCtConfirmAtTerminal(t *testing.T) {
	s := ctStartServer(t)
	status := func(id string) any { return s.okJSON(t, "keys", "get", id)["status"] }

	id := s.okJSON(t, "keys", "create", "--name", "asked")["id"].(string)
	for _, answer := range []string{"n\n", "\n", "", "maybe\n"} {
		r := ctRunTerminal(t, s, answer, "keys", "revoke", id)
		if r.code != 1 || ctErrText(r.err) != "not confirmed: nothing was changed" || r.stdout != "" {
			t.Fatalf("answer %q: want exit 1 and 'not confirmed':\n%s", answer, r)
		}
		if want := "Revoke key " + id + "? It stops working for good and can never be changed again. [y/N] "; !strings.HasPrefix(r.stderr, want) {
			t.Fatalf("stderr %q, want the question %q", r.stderr, want)
		}
		if st := status(id); st != "active" {
			t.Fatalf("answer %q revoked the key: %v", answer, st)
		}
	}
	r := ctRunTerminal(t, s, "y\n", "keys", "revoke", id)
	if r.err != nil || status(id) != "revoked" {
		t.Fatalf("answer y: the key is not revoked:\n%s", r)
	}
	ctWantRow(t, r, "STATUS", "revoked")

	r = ctRunTerminal(t, s, "no\n", "keys", "delete", id)
	if r.code != 1 || !strings.HasPrefix(r.stderr, "Delete key "+id+"? [y/N] ") {
		t.Fatalf("keys delete, answer no:\n%s", r)
	}
	r = ctRunTerminal(t, s, "YES\n", "keys", "delete", id)
	if r.err != nil || r.stdout != "Deleted key "+id+"\n" {
		t.Fatalf("keys delete, answer YES:\n%s", r)
	}

	// --yes: no question at a terminal.
	id = s.okJSON(t, "keys", "create", "--name", "forced")["id"].(string)
	for _, args := range [][]string{{"keys", "revoke", id, "--yes"}, {"keys", "delete", id, "-y"}} {
		if r := ctRunTerminal(t, s, "n\n", args...); r.err != nil || r.stderr != "" {
			t.Fatalf("--yes must not ask:\n%s", r)
		}
	}

	// Every delete asks, management keys' revoke too.
	mk := s.okJSON(t, "management-keys", "create", "--name", "m", "--permission", "keys:read")["id"].(string)
	prj := s.okJSON(t, "projects", "create", "--name", "p")["id"].(string)
	usr := s.okJSON(t, "users", "create", "--name", "u")["id"].(string)
	acc := s.okJSON(t, "accounts", "create", "--name", "a")["id"].(string)
	for _, tc := range []struct {
		args     []string
		question string
	}{
		{[]string{"management-keys", "revoke", mk}, "Revoke management key " + mk + "?"},
		{[]string{"management-keys", "delete", mk}, "Delete management key " + mk + "?"},
		{[]string{"projects", "delete", prj}, "Delete project " + prj + "?"},
		{[]string{"users", "delete", usr}, "Delete user " + usr + "?"},
		{[]string{"catalog", "delete-resource", "documents"}, "Delete catalog resource documents?"},
		{[]string{"accounts", "delete", acc}, "Delete account " + acc + " (deleting an account deletes every key, user, role and project in it for good)?"},
	} {
		r := ctRunTerminal(t, s, "n\n", tc.args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, tc.question) || !strings.Contains(r.stderr, "[y/N] ") {
			t.Fatalf("want the question %q and exit 1:\n%s", tc.question, r)
		}
	}
	if r := ctRunTerminal(t, s, "y\n", "accounts", "delete", acc); r.err != nil {
		t.Fatalf("accounts delete, answer y:\n%s", r)
	}
	ctWantProblem(t, s.fails(t, 1, "accounts", "get", acc), "not_found", 404)

	// Without a terminal nothing is asked: the deletion goes ahead, except
	// an account's, which needs --yes.
	r = s.ok(t, "users", "delete", usr)
	if r.stderr != "" {
		t.Fatalf("users delete without a terminal asked:\n%s", r)
	}
	r = s.fails(t, 2, "accounts", "delete", s.okJSON(t, "accounts", "create", "--name", "b")["id"].(string))
	if !strings.Contains(ctErrText(r.err), "add --yes") {
		t.Fatalf("accounts delete without a terminal or --yes:\n%s", r)
	}

	// Connection settings are checked before anything is asked.
	var stdout, stderr bytes.Buffer
	err := cli.RunOnTerminal(context.Background(), []string{"keys", "revoke", "key_01J00000000000000000000000"},
		func(k string) string { return map[string]string{"KEYWARD_URL": s.URL}[k] }, strings.NewReader("y\n"), &stdout, &stderr)
	if cli.ExitCode(err) != 2 || !strings.Contains(ctErrText(err), "KEYWARD_TOKEN") || stderr.String() != "" {
		t.Fatalf("keys revoke at a terminal without a token: want exit 2 naming KEYWARD_TOKEN before any question; err %v, stderr %q", err, stderr.String())
	}

	// keys verify with no argument at a terminal asks for the key on
	// standard input instead of waiting for it.
	r = ctRunTerminal(t, s, "", "keys", "verify")
	if r.code != 2 || !strings.Contains(ctErrText(r.err), "give the key to verify on standard input") {
		t.Fatalf("keys verify at a terminal without an argument:\n%s", r)
	}
}

package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// testEnv is a keyward server of the kit (keywardtest) on the suite's
// store (see envPostgres), with metrics and no lockout unless asked, and
// its operator key. Every exchange made through do is validated against
// the OpenAPI document when the test ends.
type testEnv struct {
	*keywardtest.Server
	t  *testing.T
	Op string // the operator management key's secret

	mu        sync.Mutex
	exchanges []exchange
}

// exchange is one request and its response, kept for OpenAPI validation.
type exchange struct {
	Method  string
	URL     string
	Header  http.Header
	Body    []byte
	Status  int
	RHeader http.Header
	RBody   []byte
}

// newEnv starts the suite's usual server.
func newEnv(t *testing.T) *testEnv {
	t.Helper()
	return startEnv(t, keywardtest.Options{})
}

// startEnv starts a server with the options (a master key, a lockout, a
// clock, a restart: Options.Reopen…) on the suite's store, with metrics.
// No lockout unless asked: the matrix tests send hundreds of bad
// credentials from 127.0.0.1 on purpose; the lockout has tests of its
// own.
func startEnv(t *testing.T, o keywardtest.Options) *testEnv {
	t.Helper()
	o.Store, o.Metrics = keywardtest.StoreFromEnv(t), true
	s := keywardtest.Start(t, o)
	e := &testEnv{Server: s, t: t, Op: s.OperatorKey.Reveal()}
	t.Cleanup(func() {
		if !t.Failed() {
			e.mu.Lock()
			defer e.mu.Unlock()
			for _, ex := range e.exchanges {
				validateExchange(t, ex)
			}
		}
	})
	return e
}

// ---- the store under test ----
//
// The whole suite runs on SQLite by default and on PostgreSQL when
// KEYWARD_TEST_STORE=postgres (with KEYWARD_TEST_POSTGRES_URL, see
// package pgtest): .ci/run does both. Every server of every test is
// started by startEnv, on the store keywardtest.StoreFromEnv says, so no
// test picks a database by itself.

// envPostgres reports whether this run is the PostgreSQL run of the suite.
// An unknown value of KEYWARD_TEST_STORE fails the test (a typo must not
// silently run SQLite again).
func envPostgres(t testing.TB) bool {
	t.Helper()
	return keywardtest.StoreFromEnv(t) == keywardtest.Postgres
}

func envIsPostgresURL(loc string) bool {
	return strings.HasPrefix(loc, "postgres://") || strings.HasPrefix(loc, "postgresql://")
}

// sqliteOnly skips the rest of the test in the PostgreSQL run of the
// suite, saying why; in the default (SQLite) run it does nothing, so every
// test still runs there. Only for checks that have no PostgreSQL
// equivalent (SQLite syntax, the SQLite file itself).
func sqliteOnly(t testing.TB, why string) {
	t.Helper()
	if envPostgres(t) {
		t.Skipf("SQLite only (%s=postgres run): %s", keywardtest.StoreVar, why)
	}
}

// envSQL rewrites the ? placeholders of a raw test query as $1, $2… for
// PostgreSQL (test queries hold no literal question marks).
func envSQL(e *testEnv, query string) string {
	if !envIsPostgresURL(e.Location) {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// envTables returns the names of keyward's tables, sorted.
func envTables(t testing.TB, db keywardtest.DB, loc string) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
	if envIsPostgresURL(loc) {
		q = `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
	}
	tables := keywardtest.Column[string](t, db.WriteDB(), q)
	if len(tables) == 0 {
		t.Fatal("the database has no tables")
	}
	return tables
}

// eachRow calls fn with the columns and the values of every row of table.
func eachRow(t testing.TB, db keywardtest.DB, table string, fn func(cols []string, vals []any)) {
	t.Helper()
	rows, err := db.WriteDB().QueryContext(context.Background(), `SELECT * FROM "`+table+`"`)
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		fn(cols, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// dump returns every row of every table of the database as sorted text
// lines, leaving out what the write-behind fills in later
// (keys.last_used_at, keys.verifications: the uses of keys, management
// keys' authentications included; usage_buckets, the verifications by
// outcome, usage_account_buckets, their sums per account, and
// usage_rollup, how far they are rolled up, on PostgreSQL:
// SQLite keeps them in another file), so a test can assert that a request
// changed nothing at all.
func dump(t *testing.T, e *testEnv) string {
	t.Helper()
	var lines []string
	for _, tbl := range envTables(t, e.DB, e.Location) {
		if tbl == "usage_buckets" || tbl == "usage_account_buckets" || tbl == "usage_rollup" {
			continue
		}
		eachRow(t, e.DB, tbl, func(cols []string, vals []any) {
			var b strings.Builder
			b.WriteString(tbl)
			for i, c := range cols {
				if tbl == "keys" && (c == "last_used_at" || c == "verifications") {
					continue
				}
				switch v := vals[i].(type) {
				case []byte:
					fmt.Fprintf(&b, " %s=%x", c, v)
				default:
					fmt.Fprintf(&b, " %s=%v", c, v)
				}
			}
			lines = append(lines, b.String())
		})
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// unchanged fails the test if the database differs from before, listing
// the rows that appeared and disappeared.
func unchanged(t *testing.T, e *testEnv, before string, what string) {
	t.Helper()
	after := dump(t, e)
	if after == before {
		return
	}
	b, a := strings.Split(before, "\n"), strings.Split(after, "\n")
	var msg strings.Builder
	for _, d := range []struct {
		label      string
		from, rest []string
	}{{"appeared", a, b}, {"disappeared", b, a}} {
		n := 0
		for _, l := range d.from {
			if !slices.Contains(d.rest, l) {
				if n++; n <= 3 {
					fmt.Fprintf(&msg, "\n %s: %s", d.label, short([]byte(l)))
				}
			}
		}
		if n > 3 {
			fmt.Fprintf(&msg, "\n (%d more rows %s)", n-3, d.label)
		}
	}
	t.Errorf("%s changed the database:%s", what, msg.String())
}

// envStoredBytes returns what the database holds at rest, by name, for
// tests asserting that a secret is never stored in clear. For SQLite it is
// the database file and its -wal and -shm companions (free pages
// included); for PostgreSQL, whose files are not ours to read, every value
// of every row of every table of the schema (text as text, bytea as its
// raw bytes), opened anew from loc, so it works after the server stopped.
func envStoredBytes(t testing.TB, loc string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if !envIsPostgresURL(loc) {
		for _, p := range []string{loc, loc + "-wal", loc + "-shm"} {
			b, err := os.ReadFile(p)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Base(p)] = b
		}
		return out
	}
	db := keywardtest.Open(t, loc)
	defer db.Close()
	for _, tbl := range envTables(t, db, loc) {
		var buf bytes.Buffer
		eachRow(t, db, tbl, func(_ []string, vals []any) {
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					buf.Write(v)
				case string:
					buf.WriteString(v)
				default:
					fmt.Fprint(&buf, v)
				}
				buf.WriteByte(0)
			}
		})
		out["table "+tbl] = buf.Bytes()
	}
	return out
}

// resp is a response read in full.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as a JSON object (failing the test if it is not one).
func (r *resp) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v\n%s", err, short(r.Body))
	}
	return m
}

// Str returns a top-level string member of the JSON body.
func (r *resp) Str(t *testing.T, name string) string {
	t.Helper()
	s, _ := r.JSON(t)[name].(string)
	return s
}

// Code returns the problem code of an error response.
func (r *resp) Code(t *testing.T) string { return r.Str(t, "code") }

// short returns a body for a failure message, cut after 600 bytes.
func short(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// req describes a request; zero fields mean "the default": the operator
// key as Bearer, Content-Type application/json when there is a body.
type req struct {
	Method string
	Path   string
	// Body is sent as is if it is a string or []byte, else JSON-encoded.
	Body any
	// Token overrides the credential; NoAuth sends none.
	Token  string
	NoAuth bool
	// Header sets headers (an empty value removes the header).
	Header map[string]string
	// Repeat adds headers with every value in order, after Header (a
	// header sent more than once).
	Repeat http.Header
}

// send sends r with client c (http.DefaultClient if nil) and returns the
// answer read in full, or an error instead of failing the test, so
// goroutines may call it. With record, the exchange is kept for the
// OpenAPI validation.
func (e *testEnv) send(c *http.Client, r req, record bool) (*resp, error) {
	if c == nil {
		c = http.DefaultClient
	}
	var body []byte
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = []byte(b)
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			return nil, err
		}
	}
	hr, err := http.NewRequest(r.Method, e.URL+r.Path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if !r.NoAuth {
		tok := r.Token
		if tok == "" {
			tok = e.Op
		}
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range r.Header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	for k, vs := range r.Repeat {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	res, err := c.Do(hr)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if record {
		e.mu.Lock()
		e.exchanges = append(e.exchanges, exchange{r.Method, e.URL + r.Path, hr.Header.Clone(), body, res.StatusCode, res.Header.Clone(), rb})
		e.mu.Unlock()
	}
	return &resp{Status: res.StatusCode, Header: res.Header, Body: rb}, nil
}

// do sends a request and returns the response, recording the exchange.
func (e *testEnv) do(r req) *resp {
	e.t.Helper()
	res, err := e.send(nil, r, true)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	return res
}

// must sends a request and fails t unless the status is want. (Helpers
// take the subtest's t: e.must and e.problem fail the test that started
// the server, which a subtest must not do.)
func must(t *testing.T, e *testEnv, want int, r req) *resp {
	t.Helper()
	res := e.do(r)
	if res.Status != want {
		t.Fatalf("%s %s: status %d, want %d\n%s", r.Method, r.Path, res.Status, want, short(res.Body))
	}
	return res
}

// must is must with the test that started the server.
func (e *testEnv) must(want int, r req) *resp { e.t.Helper(); return must(e.t, e, want, r) }

// problem checks that res is a problem document with the given status and
// code, consistent with the answer (status, X-Request-Id), and returns it.
func problem(t *testing.T, res *resp, status int, code string) map[string]any {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d (%s)\n%s", res.Status, status, code, short(res.Body))
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("Content-Type %q, want application/problem+json\n%s", ct, short(res.Body))
	}
	p := res.JSON(t)
	if p["code"] != code {
		t.Fatalf("code %v, want %s\n%s", p["code"], code, short(res.Body))
	}
	if p["status"] != float64(status) || p["request_id"] == "" || p["request_id"] != res.Header.Get("X-Request-Id") {
		t.Fatalf("problem body inconsistent: %s", short(res.Body))
	}
	return p
}

// problem is problem with the test that started the server.
func (e *testEnv) problem(res *resp, status int, code string) map[string]any {
	e.t.Helper()
	return problem(e.t, res, status, code)
}

// createKey creates an API key with the given body and returns the JSON
// object (with "secret").
func (e *testEnv) createKey(body map[string]any) map[string]any {
	e.t.Helper()
	return newKey(e.t, e, nil, body)
}

// verify verifies a token with the operator key (and hdr) and returns the
// answer.
func verify(t *testing.T, e *testEnv, hdr map[string]string, body map[string]any) map[string]any {
	t.Helper()
	return must(t, e, http.StatusOK, req{Method: "POST", Path: "/v1/keys/verify", Header: hdr, Body: body}).JSON(t)
}

// verify is verify with the test that started the server.
func (e *testEnv) verify(body map[string]any) map[string]any {
	e.t.Helper()
	return verify(e.t, e, nil, body)
}

// managementRoute reports whether route ("METHOD /pattern") is a route of
// the management API that answers (the invalidation stream never ends for
// an accepted credential, whoami is any key's).
func managementRoute(route string) bool {
	return strings.Contains(route, " /v1/") && route != "GET /v1/whoami" && route != "GET /v1/invalidations"
}

// sameRoutes fails t unless the routes the server serves that keep
// selects ("METHOD /pattern", described as what) are exactly the routes
// of a test's table.
func sameRoutes(t *testing.T, e *testEnv, what string, keep func(route string) bool, table string, tested []string) {
	t.Helper()
	served := slices.DeleteFunc(e.HTTP.Routes(), func(r string) bool { return !keep(r) })
	slices.Sort(served)
	tested = slices.Sorted(slices.Values(tested))
	if !slices.Equal(served, tested) {
		t.Errorf("%s served:\n  %s\nroutes in %s:\n  %s", what, strings.Join(served, "\n  "), table, strings.Join(tested, "\n  "))
	}
}

// ---- fixtures ----

// boundPerms are the management permissions an account-bound key may hold
// (docs/permissions.md).
var boundPerms = []string{
	keyward.PermKeysRead, keyward.PermKeysWrite, keyward.PermKeysVerify, keyward.PermKeysReveal,
	keyward.PermManagementKeysRead, keyward.PermManagementKeysWrite, keyward.PermMembersRead,
	keyward.PermMembersWrite, keyward.PermCatalogRead, keyward.PermCatalogWrite, keyward.PermAuditRead, keyward.PermUsageRead,
}

// allPerms are every management permission: boundPerms and the two of
// operator keys only.
var allPerms = append(slices.Clone(boundPerms), keyward.PermAccountsRead, keyward.PermAccountsWrite)

// defaultAccount returns the id of the account named default.
func defaultAccount(t *testing.T, e *testEnv) string {
	t.Helper()
	var id string
	err := e.DB.Read(context.Background(), func(tx keyward.Tx) error {
		a, err := tx.GetAccountByName(context.Background(), keyward.DefaultAccountName)
		if err == nil {
			id = a.ID
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// account creates an account with the operator key and returns its id.
func account(t *testing.T, e *testEnv, name string) string {
	t.Helper()
	return must(t, e, http.StatusCreated, req{Method: "POST", Path: "/v1/accounts", Body: map[string]any{"name": name}}).Str(t, "id")
}

// create POSTs body to path with the operator key (in the account hdr
// names, nil for the default one), requires a 201 and returns the object.
func create(t *testing.T, e *testEnv, hdr map[string]string, path string, body map[string]any) map[string]any {
	t.Helper()
	return must(t, e, http.StatusCreated, req{Method: "POST", Path: path, Header: hdr, Body: body}).JSON(t)
}

// patch PATCHes path with body, requires a 200 and returns the object.
func patch(t *testing.T, e *testEnv, path string, body any) map[string]any {
	t.Helper()
	return must(t, e, http.StatusOK, req{Method: "PATCH", Path: path, Body: body}).JSON(t)
}

// newKey creates an API key with the operator key (in the account hdr
// names, nil for the default one) and returns it, with its secret.
func newKey(t *testing.T, e *testEnv, hdr map[string]string, body map[string]any) map[string]any {
	t.Helper()
	return create(t, e, hdr, "/v1/keys", body)
}

// apiKey is newKey returning the key's id and secret.
func apiKey(t *testing.T, e *testEnv, hdr map[string]string, body map[string]any) (id, secret string) {
	t.Helper()
	return idSecret(t, newKey(t, e, hdr, body))
}

// newMgmtKey creates a management key with token (the operator key if
// empty) and hdr, and returns it, with its secret.
func newMgmtKey(t *testing.T, e *testEnv, token string, hdr map[string]string, body map[string]any) map[string]any {
	t.Helper()
	return must(t, e, http.StatusCreated, req{Method: "POST", Path: "/v1/management-keys", Token: token, Header: hdr, Body: body}).JSON(t)
}

// mgmtKey creates, with the operator key, a management key bound to acct
// ("" for the default account) holding perms, and returns its id and
// secret.
func mgmtKey(t *testing.T, e *testEnv, acct string, perms ...string) (id, secret string) {
	t.Helper()
	var hdr map[string]string
	if acct != "" {
		hdr = map[string]string{"X-Account-Id": acct}
	}
	k := newMgmtKey(t, e, "", hdr, map[string]any{"name": "mk " + strings.Join(perms, ","), "permissions": perms})
	if acct != "" && k["account_id"] != acct {
		t.Fatalf("management key created with X-Account-Id %s has account_id %v", acct, k["account_id"])
	}
	return idSecret(t, k)
}

// idSecret returns the id and the secret of a key just created.
func idSecret(t *testing.T, k map[string]any) (id, secret string) {
	t.Helper()
	id, _ = k["id"].(string)
	secret, _ = k["secret"].(string)
	if id == "" || secret == "" {
		t.Fatalf("a new key without id or secret: %v", k)
	}
	return id, secret
}

// list returns every object a list route answers r (a GET of r.Path with
// r's credential and headers): all pages, of 200 objects each.
func list(t *testing.T, e *testEnv, r req) []map[string]any {
	t.Helper()
	sep := "?"
	if strings.Contains(r.Path, "?") {
		sep = "&"
	}
	base := r.Path + sep + "limit=200"
	r.Method, r.Path = "GET", base
	var out []map[string]any
	for {
		var page struct {
			Data    []map[string]any `json:"data"`
			HasMore bool             `json:"has_more"`
		}
		res := must(t, e, http.StatusOK, r)
		if err := json.Unmarshal(res.Body, &page); err != nil {
			t.Fatalf("GET %s: %v", r.Path, err)
		}
		out = append(out, page.Data...)
		if !page.HasMore || len(page.Data) == 0 {
			return out
		}
		r.Path = base + "&starting_after=" + page.Data[len(page.Data)-1]["id"].(string)
	}
}

// ids returns the ids of objects.
func ids(objs []map[string]any) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i], _ = o["id"].(string)
	}
	return out
}

// events returns the audit events matching query (e.g.
// "action=key.imported&target_id=key_…"; "" for all) of the account hdr
// names (nil: the default account), newest first, all pages.
func events(t *testing.T, e *testEnv, query string, hdr map[string]string) []map[string]any {
	t.Helper()
	path := "/v1/audit-events"
	if query != "" {
		path += "?" + query
	}
	return list(t, e, req{Path: path, Header: hdr})
}

// auditCount returns how many audit events the default account has.
func (e *testEnv) auditCount() int {
	e.t.Helper()
	n := 0
	err := e.DB.Read(context.Background(), func(tx keyward.Tx) error {
		pg := keyward.Page{Limit: 200}
		acct, err := tx.GetAccountByName(context.Background(), keyward.DefaultAccountName)
		if err != nil {
			return err
		}
		for {
			evs, more, err := tx.ListAuditEvents(context.Background(), &keyward.AuditFilter{Page: pg, AccountID: acct.ID})
			if err != nil {
				return err
			}
			n += len(evs)
			if !more {
				return nil
			}
			pg.StartingAfter = evs[len(evs)-1].ID
		}
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// auditTotal returns how many audit events the database holds, of every
// account.
func auditTotal(t *testing.T, e *testEnv) int {
	t.Helper()
	var n int
	if err := e.DB.WriteDB().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM audit_events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestEnvFilterTextAnyStore: a list filter may hold bytes no stored value
// can (NUL, invalid UTF-8; PostgreSQL cannot even take them as a query
// parameter): the answer is a client error or an empty page on every
// store, never a 500.
func TestEnvFilterTextAnyStore(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/v1/keys", "/v1/users", "/v1/audit-events"} {
		for _, name := range map[string][]string{
			"/v1/keys":         {"search", "owner_id"},
			"/v1/users":        {"search", "external_id"},
			"/v1/audit-events": {"action", "actor_id", "target_id"},
		}[path] {
			for _, v := range []string{"%00", "a%00b", "%ff", "%C3"} {
				q := path + "?" + name + "=" + v
				t.Run(q, func(t *testing.T) {
					res := e.do(req{Method: "GET", Path: q})
					switch {
					case res.Status == http.StatusOK:
						if d, _ := res.JSON(t)["data"].([]any); len(d) != 0 {
							t.Errorf("%d items match %s", len(d), q)
						}
					case res.Status >= 500:
						t.Errorf("status %d (the store refused the filter value?)\n%s", res.Status, res.Body)
					default:
						if res.Code(t) != "invalid_parameter" {
							t.Errorf("status %d code %s, want 200 or 400 invalid_parameter\n%s", res.Status, res.Code(t), res.Body)
						}
					}
				})
			}
		}
	}
}

package http_test

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward"
)

// TestPxUnknownRoutes: paths no route serves are 404 problems, whatever
// the method and credential.
func TestPxUnknownRoutes(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/v1"}, {"GET", "/v1/"}, {"GET", "/v1/nope"}, {"POST", "/v1/nope"}, {"GET", "/nope"},
		{"GET", "/v2/keys"}, {"GET", "/v1/keys/key_01J0000000000000000000000/nope"}, {"DELETE", "/v1/catalog/resources"},
		{"GET", "/v1/catalog/resources"}, {"GET", "/v1/keys/verify/x"}, {"GET", "/V1/KEYS"}, {"GET", "/v1/audit-events/evt_01J0000000000000000000000"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			for _, noAuth := range []bool{false, true} {
				pxProblem(t, e.do(req{Method: c.method, Path: c.path, NoAuth: noAuth}), 404, "not_found")
			}
		})
	}
}

// pxAllow returns the methods of an Allow header.
func pxAllow(h string) []string {
	var out []string
	for _, m := range strings.Split(h, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// TestPxMethodNotAllowed: a known path with a method it does not take is a
// 405 problem with an Allow header listing exactly the methods it takes,
// and changes nothing.
func TestPxMethodNotAllowed(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "px"})
	id := k["id"].(string)
	get := []string{"GET", "HEAD"}
	for _, c := range []struct {
		method, path string
		allow        []string
	}{
		{"PUT", "/v1/keys", []string{"GET", "HEAD", "POST"}},
		{"DELETE", "/v1/keys", []string{"GET", "HEAD", "POST"}},
		{"PATCH", "/v1/keys", []string{"GET", "HEAD", "POST"}},
		{"DELETE", "/v1/catalog", get},
		{"POST", "/v1/catalog", get},
		{"PUT", "/v1/catalog", get},
		{"GET", "/v1/keys/verify", []string{"POST"}},
		{"PUT", "/v1/keys/verify", []string{"POST"}},
		{"PATCH", "/v1/keys/verify", []string{"POST"}},
		{"DELETE", "/v1/keys/verify", []string{"POST"}},
		{"POST", "/v1/keys/" + id, []string{"DELETE", "GET", "HEAD", "PATCH", "PUT"}},
		{"GET", "/v1/keys/" + id + "/rotate", []string{"POST"}},
		{"DELETE", "/v1/keys/" + id + "/rotate", []string{"POST"}},
		{"GET", "/v1/catalog/resources/documents", []string{"DELETE", "PUT"}},
		{"PATCH", "/v1/catalog/resources/documents", []string{"DELETE", "PUT"}},
		{"PUT", "/v1/projects", []string{"GET", "HEAD", "POST"}},
		{"POST", "/v1/projects/prj_01J0000000000000000000000", []string{"DELETE", "GET", "HEAD", "PATCH"}},
		{"POST", "/v1/audit-events", get},
		{"DELETE", "/v1/audit-events", get},
		{"POST", "/healthz", get},
		{"DELETE", "/openapi.json", get},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			before := dump(t, e)
			res := e.do(req{Method: c.method, Path: c.path, Body: map[string]any{"name": "px"}})
			pxProblem(t, res, 405, "method_not_allowed")
			if got := pxAllow(res.Header.Get("Allow")); !slices.Equal(got, c.allow) {
				t.Errorf("Allow %q, want %v", res.Header.Get("Allow"), c.allow)
			}
			unchanged(t, e, before, "a 405")
		})
	}
}

// TestPxNotAcceptable: an Accept header that excludes JSON is a 406;
// wildcards, problem+json and an absent header are fine.
func TestPxNotAcceptable(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		accept string
		ok     bool
	}{
		{"text/html", false},
		{"application/json;q=0", false},
		{"application/json; q=0.0", false},
		{"text/html, application/xml", false},
		{"image/*", false},
		{"text/*;q=1, */*;q=0", false},
		{"*/*", true},
		{"application/*", true},
		{"", true},
		{"application/json", true},
		{"application/problem+json", true},
		{"text/html, application/json;q=0.1", true},
		{"application/json; charset=utf-8", true},
		{"text/html;q=0.9, */*;q=0.8", true},
	} {
		t.Run(c.accept, func(t *testing.T) {
			for _, path := range []string{"/v1/keys", "/healthz", "/v1/keys/key_01J0000000000000000000000"} {
				res := e.do(req{Method: "GET", Path: path, Header: map[string]string{"Accept": c.accept}})
				if c.ok {
					if res.Status == 406 {
						t.Errorf("GET %s, Accept %q: 406", path, c.accept)
					}
					continue
				}
				pxProblem(t, res, 406, "not_acceptable")
			}
		})
	}
}

// TestPxPretty: ?pretty indents success and problem bodies, ?pretty=false
// does not, any other value is a 400.
func TestPxPretty(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "px"})
	id := k["id"].(string)
	indented := func(b []byte) bool { return strings.Contains(string(b), "\n  \"") }
	for _, c := range []struct {
		query  string
		pretty bool
	}{
		{"?pretty", true}, {"?pretty=", true}, {"?pretty=true", true}, {"?pretty=1", true}, {"?pretty=TRUE", true},
		{"?pretty=false", false}, {"?pretty=0", false}, {"", false},
	} {
		t.Run(c.query, func(t *testing.T) {
			for _, r := range []struct {
				path   string
				status int
			}{
				{"/v1/keys/" + id, 200},
				{"/v1/keys", 200},
				{"/v1/catalog", 200},
				{"/v1/keys/key_01J0000000000000000000000", 404},
				{"/v1/nope", 404},
			} {
				res := e.do(req{Method: "GET", Path: r.path + c.query})
				if res.Status != r.status {
					t.Fatalf("GET %s: status %d, want %d", r.path+c.query, res.Status, r.status)
				}
				if got := indented(res.Body); got != c.pretty {
					t.Errorf("GET %s: indented %v, want %v\n%s", r.path+c.query, got, c.pretty, short(res.Body))
				}
				if !c.pretty && strings.Count(string(res.Body), "\n") > 1 {
					t.Errorf("GET %s: compact body has several lines", r.path+c.query)
				}
				if !json.Valid(res.Body) {
					t.Errorf("GET %s: body is not JSON", r.path+c.query)
				}
			}
		})
	}
	// A pretty problem from a route with a query of its own.
	res := e.do(req{Method: "GET", Path: "/v1/keys?limit=0&pretty"})
	pxProblem(t, res, 400, "invalid_parameter")
	if !indented(res.Body) {
		t.Errorf("problem not indented under ?pretty: %s", res.Body)
	}
	for _, q := range []string{"?pretty=x", "?pretty=yes", "?pretty=2", "?pretty=true&pretty=maybe"} {
		t.Run(q, func(t *testing.T) {
			p := pxProblem(t, e.do(req{Method: "GET", Path: "/v1/keys" + q}), 400, "invalid_parameter")
			if p != nil && !pxNames(p, "pretty") {
				t.Errorf("the problem does not name pretty: %v", fields(p))
			}
		})
	}
}

// TestPxRequestID: X-Request-Id is echoed when sane, replaced when not, and
// present on every response, equal to a problem's request_id.
func TestPxRequestID(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "px"})
	id := k["id"].(string)
	requests := []struct {
		name   string
		r      req
		status int
	}{
		{"200", req{Method: "GET", Path: "/v1/keys/" + id}, 200},
		{"201", req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "px"}}, 201},
		{"400", req{Method: "GET", Path: "/v1/keys?limit=0"}, 400},
		{"401", req{Method: "GET", Path: "/v1/keys", NoAuth: true}, 401},
		{"404 route", req{Method: "GET", Path: "/v1/nope"}, 404},
		{"404 object", req{Method: "GET", Path: "/v1/keys/key_01J0000000000000000000000"}, 404},
		{"405", req{Method: "PUT", Path: "/v1/keys"}, 405},
		{"406", req{Method: "GET", Path: "/v1/keys", Header: map[string]string{"Accept": "text/html"}}, 406},
		{"415", req{Method: "POST", Path: "/v1/keys", Body: "{}", Header: map[string]string{"Content-Type": "text/plain"}}, 415},
		{"422", req{Method: "POST", Path: "/v1/keys", Body: map[string]any{}}, 422},
		{"HEAD", req{Method: "HEAD", Path: "/v1/keys"}, 200},
		{"healthz", req{Method: "GET", Path: "/healthz", NoAuth: true}, 200},
		{"openapi", req{Method: "GET", Path: "/openapi.json", NoAuth: true}, 200},
	}
	check := func(t *testing.T, sent string, echo bool) {
		t.Helper()
		for _, c := range requests {
			r := c.r
			r.Header = map[string]string{}
			for k, v := range c.r.Header {
				r.Header[k] = v
			}
			if sent != "" {
				r.Header["X-Request-Id"] = sent
			}
			res := e.do(r)
			if res.Status != c.status {
				t.Fatalf("%s: status %d, want %d\n%s", c.name, res.Status, c.status, short(res.Body))
			}
			got := res.Header.Get("X-Request-Id")
			switch {
			case echo && got != sent:
				t.Errorf("%s: X-Request-Id %q, want the sent %q echoed", c.name, got, sent)
			case !echo && (got == sent || !keyward.ValidID(keyward.PrefixRequest, got)):
				t.Errorf("%s: X-Request-Id %q, want a fresh req_ id (sent %q)", c.name, got, sent)
			}
			if res.Status >= 400 && c.r.Method != "HEAD" {
				pxProblemShape(t, res, "")
			}
		}
	}
	for _, c := range []struct {
		name, id string
		echo     bool
	}{
		{"sane", "px-abc.123:Z_9", true},
		{"uuid", "0b9f6c1e-5d2a-4f0e-9a57-3b1c2d4e5f60", true},
		{"128 characters", strings.Repeat("r", 128), true},
		{"129 characters", strings.Repeat("r", 129), false},
		{"space", "has space", false},
		{"semicolon", "a;b", false},
		{"slash", "a/b", false},
		{"quote", `a"b`, false},
		{"unicode", "réq", false},
		{"html", "<script>", false},
	} {
		t.Run(c.name, func(t *testing.T) { check(t, c.id, c.echo) })
	}
	t.Run("absent", func(t *testing.T) {
		check(t, "", false)
		a := e.do(req{Method: "GET", Path: "/healthz"}).Header.Get("X-Request-Id")
		b := e.do(req{Method: "GET", Path: "/healthz"}).Header.Get("X-Request-Id")
		if a == b {
			t.Errorf("two requests got the same generated id %q", a)
		}
	})
	t.Run("204", func(t *testing.T) {
		res := e.do(req{Method: "DELETE", Path: "/v1/keys/" + id, Header: map[string]string{"X-Request-Id": "px-delete"}})
		if res.Status != 204 || res.Header.Get("X-Request-Id") != "px-delete" {
			t.Errorf("DELETE: status %d, X-Request-Id %q", res.Status, res.Header.Get("X-Request-Id"))
		}
	})
}

// TestPxRequestTimeoutHeaders: invalid Request-Timeout and
// Request-Timeout-Millis values are 400 naming the header; valid ones work.
func TestPxRequestTimeoutHeaders(t *testing.T) {
	e := newEnv(t)
	for _, h := range []string{"Request-Timeout", "Request-Timeout-Millis"} {
		for _, v := range []string{"0", "-1", "x", "3600001", "1.5", "1e3", "0x10", "+-1", "99999999999999999999"} {
			t.Run(h+"="+v, func(t *testing.T) {
				before := dump(t, e)
				for _, r := range []req{
					{Method: "GET", Path: "/v1/keys"},
					{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "px"}},
				} {
					r.Header = map[string]string{h: v}
					p := pxProblem(t, e.do(r), 400, "invalid_parameter")
					if p != nil && !pxNames(p, h) {
						t.Errorf("the problem does not name %s: %v", h, fields(p))
					}
				}
				unchanged(t, e, before, "an invalid timeout")
			})
		}
		valid := []string{"5", "30", "3600000"} // seconds
		if h == "Request-Timeout-Millis" {
			valid = []string{"5000", "30000", "3600000"}
		}
		for _, v := range valid {
			t.Run(h+"="+v, func(t *testing.T) {
				must(t, e, 200, req{Method: "GET", Path: "/v1/keys", Header: map[string]string{h: v}})
			})
		}
	}
	must(t, e, 200, req{Method: "GET", Path: "/v1/keys", Header: map[string]string{"Request-Timeout": "10", "Request-Timeout-Millis": "5000"}})
}

// pxHoldWriter starts a write transaction that holds the store's write path
// until the returned release is called; release waits for it to end. On
// PostgreSQL, where writers only wait for the rows they touch, it holds
// audit_events in EXCLUSIVE mode (reads go on; every change, which writes
// its audit event in its own transaction, waits after changing its rows).
func pxHoldWriter(t *testing.T, e *testEnv) (release func()) {
	t.Helper()
	started, done := make(chan struct{}), make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		if !envIsPostgresURL(e.Location) {
			done <- e.DB.Write(pxCtx, func(tx keyward.Tx) error {
				close(started)
				<-stop
				return nil
			})
			return
		}
		tx, err := e.DB.WriteDB().BeginTx(pxCtx, nil)
		if err == nil {
			if _, err = tx.ExecContext(pxCtx, `LOCK TABLE audit_events IN EXCLUSIVE MODE`); err != nil {
				tx.Rollback()
			}
		}
		close(started)
		if err != nil {
			done <- err
			return
		}
		<-stop
		done <- tx.Rollback()
	}()
	<-started
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(stop)
			if err := <-done; err != nil {
				t.Errorf("holding write: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// TestPxTimeoutChangesNothing: a change that cannot finish within its
// Request-Timeout(-Millis) is a 504 timeout problem and leaves no trace;
// reads still answer while a writer holds the database.
func TestPxTimeoutChangesNothing(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "px before"})
	id := k["id"].(string)
	before := dump(t, e)
	n := e.auditCount()

	release := pxHoldWriter(t, e)
	ms := map[string]string{"Request-Timeout-Millis": "200"}
	res := e.do(req{Method: "GET", Path: "/v1/keys/" + id, Header: ms})
	if res.Status != 200 || res.JSON(t)["name"] != "px before" {
		t.Errorf("GET while a writer holds the database: status %d\n%s", res.Status, short(res.Body))
	}
	must(t, e, 200, req{Method: "POST", Path: "/v1/keys/verify", Body: map[string]any{"key": k["secret"]}, Header: ms})
	for _, r := range []req{
		{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"name": "px after"}, Header: ms},
		{Method: "DELETE", Path: "/v1/keys/" + id, Header: ms},
		{Method: "POST", Path: "/v1/keys/" + id + "/rotate", Header: ms},
		{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "px"}, Header: ms},
		{Method: "PUT", Path: "/v1/catalog/resources/pxnew", Body: map[string]any{}, Header: ms},
		{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "px"}, Header: map[string]string{"Request-Timeout": "1"}},
	} {
		pxProblem(t, e.do(r), 504, "timeout")
	}
	release()

	unchanged(t, e, before, "timed-out changes")
	if got := e.auditCount(); got != n {
		t.Errorf("audit events %d → %d after timed-out changes", n, got)
	}
	got := must(t, e, 200, req{Method: "GET", Path: "/v1/keys/" + id}).JSON(t)
	if got["name"] != "px before" || got["etag"] != k["etag"] {
		t.Errorf("key after the timeout: name %v etag %v, want %q %v", got["name"], got["etag"], "px before", k["etag"])
	}
	// The server recovered: the same change now succeeds.
	must(t, e, 200, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"name": "px after"}, Header: ms})
}

// TestPxHead: HEAD on a GET route answers the GET's status and headers
// without a body.
func TestPxHead(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "px"})
	for _, c := range []struct {
		path   string
		noAuth bool
		status int
	}{
		{"/v1/keys", false, 200},
		{"/v1/keys/" + k["id"].(string), false, 200},
		{"/v1/catalog", false, 200},
		{"/v1/audit-events", false, 200},
		{"/healthz", true, 200},
		{"/readyz", true, 200},
		{"/v1/keys", true, 401},
		{"/v1/keys/key_01J0000000000000000000000", false, 404},
	} {
		t.Run(c.path, func(t *testing.T) {
			var res *resp
			if c.status < 400 {
				res = e.do(req{Method: "HEAD", Path: c.path, NoAuth: c.noAuth})
			} else {
				// Not recorded: the harness's OpenAPI check wants a
				// problem body, which a HEAD answer never has.
				h := map[string]string{}
				if !c.noAuth {
					h["Authorization"] = "Bearer " + e.Op
				}
				res = pxRaw(t, e, "HEAD", c.path, h, nil, 0)
			}
			if res.Status != c.status {
				t.Errorf("status %d, want %d", res.Status, c.status)
			}
			if len(res.Body) != 0 {
				t.Errorf("HEAD answered a body: %q", short(res.Body))
			}
			if res.Header.Get("X-Request-Id") == "" || res.Header.Get("Content-Type") == "" {
				t.Errorf("HEAD headers incomplete: %v", res.Header)
			}
		})
	}
	if etag := e.do(req{Method: "HEAD", Path: "/v1/keys/" + k["id"].(string)}).Header.Get("ETag"); etag != `"`+k["etag"].(string)+`"` {
		t.Errorf("HEAD ETag %q, want %q", etag, k["etag"])
	}
}

// TestPxOpenEndpoints: health, readiness and the OpenAPI document need no
// credential.
func TestPxOpenEndpoints(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/healthz", "/readyz", "/openapi.json"} {
		t.Run(p, func(t *testing.T) {
			res := must(t, e, 200, req{Method: "GET", Path: p, NoAuth: true})
			if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q", res.Header.Get("Content-Type"))
			}
			m := res.JSON(t)
			if p == "/openapi.json" {
				if v, _ := m["openapi"].(string); !strings.HasPrefix(v, "3.") {
					t.Errorf("openapi member %v, want 3.x", m["openapi"])
				}
				if paths, _ := m["paths"].(map[string]any); len(paths) == 0 {
					t.Errorf("the OpenAPI document has no paths")
				}
			}
		})
	}
}

// TestPxQueryParameters: unknown, repeated and malformed query parameters
// are 400 naming the parameter, on lists and single objects alike.
func TestPxQueryParameters(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "px"})
	id := k["id"].(string)
	for _, c := range []struct {
		method, path, param string
	}{
		{"GET", "/v1/keys?px=1", "px"},
		{"GET", "/v1/keys?limit=1&limit=2", "limit"},
		{"GET", "/v1/keys?limit=0", "limit"},
		{"GET", "/v1/keys?limit=201", "limit"},
		{"GET", "/v1/keys?limit=-1", "limit"},
		{"GET", "/v1/keys?limit=x", "limit"},
		{"GET", "/v1/keys?limit=", "limit"},
		{"GET", "/v1/keys?starting_after=x", "starting_after"},
		{"GET", "/v1/keys?starting_after=prj_01J0000000000000000000000", "starting_after"},
		{"GET", "/v1/keys?ending_before=x", "ending_before"},
		{"GET", "/v1/keys?starting_after=" + id + "&ending_before=" + id, "ending_before"},
		{"GET", "/v1/keys?status=gone", "status"},
		{"GET", "/v1/keys?expired=maybe", "expired"},
		{"GET", "/v1/keys?created_after=yesterday", "created_after"},
		{"GET", "/v1/projects?limit=500", "limit"},
		{"GET", "/v1/projects?px=1", "px"},
		{"GET", "/v1/audit-events?since=x", "since"},
		{"GET", "/v1/audit-events?starting_after=" + id, "starting_after"},
		{"GET", "/v1/keys/" + id + "?px=1", "px"},
		{"GET", "/v1/catalog?limit=1", "limit"},
		{"PATCH", "/v1/keys/" + id + "?name=x", "name"},
		{"DELETE", "/v1/keys/" + id + "?force=true", "force"},
		{"POST", "/v1/keys/" + id + "/rotate?grace_period_seconds=1", "grace_period_seconds"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			before := dump(t, e)
			r := req{Method: c.method, Path: c.path}
			if c.method == "PATCH" {
				r.Body = map[string]any{"name": "px changed"}
			}
			p := pxProblem(t, e.do(r), 400, "invalid_parameter")
			if p != nil && !pxNames(p, c.param) {
				t.Errorf("the problem does not name %q: %v", c.param, fields(p))
			}
			unchanged(t, e, before, "a bad query parameter")
		})
	}
	must(t, e, 200, req{Method: "GET", Path: "/v1/keys?limit=200&pretty=false"})
	must(t, e, 200, req{Method: "GET", Path: "/v1/keys/" + id + "?pretty"})
}

// TestPxErrorsAreProblems: no error is answered as anything
// but application/problem+json (checked on a spread of statuses).
func TestPxErrorsAreProblems(t *testing.T) {
	e := newEnv(t)
	for _, r := range []req{
		{Method: "GET", Path: "/v1/keys", NoAuth: true},
		{Method: "POST", Path: "/v1/keys", Body: "{"},
		{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": ""}},
		{Method: "GET", Path: "/v1/keys/x"},
		{Method: "TRACE", Path: "/v1/keys"},
		{Method: "OPTIONS", Path: "/v1/keys"},
		{Method: "GET", Path: "/v1/keys", Header: map[string]string{"Request-Timeout": "0"}},
	} {
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			res := e.do(r)
			if res.Status < 400 {
				t.Fatalf("status %d, want an error", res.Status)
			}
			pxProblemShape(t, res, "")
		})
	}
}

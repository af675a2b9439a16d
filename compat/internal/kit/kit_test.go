package kit_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/compat/internal/kit"
)

// server is a kit.Server that authenticates "good" and refuses anything
// else, and keeps what it was asked and told.
type server struct {
	accounts []string
	noted    []error
}

func (s *server) Authenticate(r *http.Request, tok keyward.Token, account string) (*keyward.Actor, error) {
	s.accounts = append(s.accounts, account)
	if tok.Reveal() != "good" {
		return nil, keyward.Errorf(keyward.ECodeUnauthenticated, "not a management key")
	}
	return &keyward.Actor{AccountID: account}, nil
}

func (s *server) Note(_ http.ResponseWriter, err error) { s.noted = append(s.noted, err) }

// vendor answers errors as {code, message} and reads its credential from
// X-Token, refusing an empty one itself.
func vendor() kit.Vendor {
	return kit.Vendor{
		Errors: func(_ *http.Request, h http.Header, err error) (int, any) {
			e := keyward.AsError(err)
			h.Set("X-Vendor", "yes")
			return api.StatusOf(e.Code), map[string]string{"code": string(e.Code), "message": e.Message}
		},
		Credential: func(r *http.Request) (keyward.Token, error) {
			if r.Header.Get("X-Token") == "" {
				return keyward.Token{}, keyward.Errorf(keyward.ECodeUnauthenticated, "missing")
			}
			return keyward.TokenFromString(r.Header.Get("X-Token")), nil
		},
	}
}

// answer is a dialect's answer as a test reads it.
type answer struct {
	status  int
	header  http.Header
	code    string
	message string
	body    string
}

func serve(t *testing.T, d *kit.Dialect, method, target string, headers ...string) answer {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	r = api.WithState(r, &api.State{ID: "req_test"})
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		r.Header.Add(name, strings.TrimSpace(value))
	}
	w := httptest.NewRecorder()
	d.ServeHTTP(w, r)
	a := answer{status: w.Code, header: w.Header(), body: w.Body.String()}
	var m map[string]string
	if json.Unmarshal(w.Body.Bytes(), &m) == nil {
		a.code, a.message = m["code"], m["message"]
	}
	return a
}

// TestSteps: every route takes a request through the vendor's steps in
// one order; the first that fails is answered in the vendor's shape, and
// the handler runs only when all pass.
func TestSteps(t *testing.T) {
	checkFails := func(r *http.Request) error {
		if r.Header.Get("X-Check") != "" {
			return api.BadParam("X-Check", "is refused")
		}
		return nil
	}
	for _, c := range []struct {
		name    string
		adjust  func(v *kit.Vendor)
		headers []string
		status  int
		message string // a prefix of the message
	}{
		{"all pass", nil, []string{"X-Token: good"}, 200, ""},
		{"the vendor's missing credential", nil, nil, 401, "missing"},
		{"the server's refusal", nil, []string{"X-Token: bad"}, 401, "not a management key"},
		{"a repeated credential header before the vendor reads its own", nil,
			[]string{"Authorization: a", "Authorization: b"}, 400, "Authorization: is sent 2 times"},
		{"a repeated account header", nil, []string{"X-Token: good", "X-Account-Id: a", "X-Account-Id: a"}, 400, "X-Account-Id: is sent 2 times"},
		{"Check first", func(v *kit.Vendor) { v.Check, v.Timeout = checkFails, kit.TimeoutFirst },
			[]string{"X-Check: 1", "Request-Timeout: soon"}, 400, "X-Check"},
		{"Request-Timeout before the credential", func(v *kit.Vendor) { v.Timeout = kit.TimeoutFirst },
			[]string{"Request-Timeout: soon"}, 400, "Request-Timeout"},
		{"Request-Timeout after the credential", func(v *kit.Vendor) { v.Timeout = kit.TimeoutAfterAuth },
			[]string{"Request-Timeout: soon"}, 401, "missing"},
		{"Request-Timeout after the credential, which passes", func(v *kit.Vendor) { v.Timeout = kit.TimeoutAfterAuth },
			[]string{"Request-Timeout: soon", "X-Token: good"}, 400, "Request-Timeout"},
		{"no Request-Timeout", nil, []string{"Request-Timeout: soon", "X-Token: good"}, 200, ""},
		{"the vendor's account, before the credential headers",
			func(v *kit.Vendor) {
				v.Account = func(*http.Request) (string, error) { return "", api.BadParam("accountId", "is refused") }
			},
			[]string{"Authorization: a", "Authorization: b"}, 400, "accountId"},
		{"the refusal in the vendor's words",
			func(v *kit.Vendor) {
				v.Refused = func(_ *http.Request, err error) error {
					return &keyward.Error{Code: keyward.ErrorCode(err), Message: "go away", Err: err}
				}
			},
			[]string{"X-Token: bad"}, 401, "go away"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := vendor()
			if c.adjust != nil {
				c.adjust(&v)
			}
			srv := &server{}
			d := kit.New(srv, v)
			d.Handle("GET /compat/x/things", func(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
				return kit.WriteJSON(w, r, http.StatusOK, map[string]string{"account": a.AccountID})
			})
			a := serve(t, d, "GET", "/compat/x/things", c.headers...)
			if a.status != c.status || !strings.HasPrefix(a.message, c.message) {
				t.Fatalf("%d %s, want %d %q…", a.status, a.body, c.status, c.message)
			}
			if c.status != 200 && (a.header.Get("X-Vendor") != "yes" || len(srv.noted) != 1) {
				t.Errorf("the error is not the vendor's answer, or not noted once: %v, %v", a.header, srv.noted)
			}
		})
	}
}

// TestAccount: X-Account-Id names the account unless the vendor reads it
// otherwise.
func TestAccount(t *testing.T) {
	srv := &server{}
	d := kit.New(srv, vendor())
	d.Handle("GET /compat/x/things", func(http.ResponseWriter, *http.Request, *keyward.Actor) error { return nil })
	serve(t, d, "GET", "/compat/x/things", "X-Token: good", "x-account-id: acc_1")
	v := vendor()
	v.Account = func(r *http.Request) (string, error) { return r.URL.Query().Get("account"), nil }
	d = kit.New(srv, v)
	d.Handle("GET /compat/x/things", func(http.ResponseWriter, *http.Request, *keyward.Actor) error { return nil })
	serve(t, d, "GET", "/compat/x/things?account=acc_2", "X-Token: good", "X-Account-Id: acc_1")
	if want := []string{"acc_1", "acc_2"}; strings.Join(srv.accounts, ",") != strings.Join(want, ",") {
		t.Errorf("accounts %v, want %v", srv.accounts, want)
	}
}

// TestNoRoute: an unknown path is a 404 and a known path with another
// method a 405 with Allow, both in the vendor's shape; NoRoute words them.
func TestNoRoute(t *testing.T) {
	d := kit.New(&server{}, vendor())
	d.Handle("GET /compat/x/things", func(http.ResponseWriter, *http.Request, *keyward.Actor) error { return nil })
	d.Handle("DELETE /compat/x/things", func(http.ResponseWriter, *http.Request, *keyward.Actor) error { return nil })
	if a := serve(t, d, "GET", "/compat/x/other"); a.status != 404 || a.message != "no route /compat/x/other" {
		t.Errorf("unknown path: %d %s", a.status, a.body)
	}
	a := serve(t, d, "POST", "/compat/x/things")
	if a.status != 405 || a.header.Get("Allow") != "DELETE, GET, HEAD" || a.code != string(keyward.ECodeMethodNotAllowed) {
		t.Errorf("wrong method: %d %v %s", a.status, a.header, a.body)
	}
	v := vendor()
	v.NoRoute = func(r *http.Request, allow string) error {
		return keyward.Errorf(keyward.ECodeNotFound, "nothing at %s (%s)", r.URL.Path, allow)
	}
	d = kit.New(&server{}, v)
	if a := serve(t, d, "GET", "/compat/x/other"); a.status != 404 || a.message != "nothing at /compat/x/other ()" {
		t.Errorf("the vendor's words: %d %s", a.status, a.body)
	}
}

// TestFail: the kit sets Retry-After (the lockout's seconds, else 1 for a
// 503), notes the error (a request the client abandoned as a timeout),
// and renders a handler's error in the vendor's shape.
func TestFail(t *testing.T) {
	for _, c := range []struct {
		err        error
		status     int
		retryAfter string
		noted      keyward.Code
	}{
		{&keyward.Error{Code: keyward.ECodeLocked, Message: "locked", Details: map[string]any{"retry_after_seconds": int64(42)}}, 429, "42", keyward.ECodeLocked},
		{keyward.Errorf(keyward.ECodeUnavailable, "down"), 503, "1", keyward.ECodeUnavailable},
		{keyward.Errorf(keyward.ECodeConflict, "conflict"), 409, "", keyward.ECodeConflict},
		{context.Canceled, 504, "", keyward.ECodeTimeout},
		{errors.New("boom"), 500, "", keyward.ECodeInternal},
	} {
		srv := &server{}
		d := kit.New(srv, vendor())
		d.Handle("GET /compat/x/things", func(http.ResponseWriter, *http.Request, *keyward.Actor) error { return c.err })
		a := serve(t, d, "GET", "/compat/x/things", "X-Token: good")
		if a.status != c.status || a.header.Get("Retry-After") != c.retryAfter {
			t.Errorf("%v: %d Retry-After %q, want %d %q", c.err, a.status, a.header.Get("Retry-After"), c.status, c.retryAfter)
		}
		if len(srv.noted) != 1 || keyward.ErrorCode(srv.noted[0]) != c.noted {
			t.Errorf("%v: noted %v, want one %s", c.err, srv.noted, c.noted)
		}
	}
}

// TestQuery: a route's parameters once each, its repeated ones as often
// as sent, ?pretty only where the vendor has it; anything else is a 400
// naming the parameter in the vendor's words.
func TestQuery(t *testing.T) {
	for _, c := range []struct {
		target    string
		pretty    bool
		operation string
		err       string
	}{
		{"/x?limit=1&tag=a&tag=b", false, "", ""},
		{"/x?limit=1&limit=2", false, "", "limit: is given more than once"},
		{"/x?lmit=1", false, "", "lmit: is not a parameter of this route"},
		{"/x?lmit=1", false, "operation", "lmit: is not a parameter of this operation"},
		{"/x?pretty", false, "", "pretty: is not a parameter of this route"},
		{"/x?pretty&pretty=0", true, "", ""},
		{"/x?pretty=maybe&lmit=1", true, "", "pretty: must be true or false"},
		{"/x?a=1;b=2", true, "", "a: the pair"},
	} {
		v := vendor()
		v.Pretty, v.Operation = c.pretty, c.operation
		_, err := kit.New(&server{}, v).Query(httptest.NewRequest("GET", c.target, nil), []string{"limit"}, "tag")
		if got := ""; err != nil {
			got = keyward.AsError(err).Message
			if c.err == "" || !strings.HasPrefix(got, c.err) || keyward.ErrorCode(err) != keyward.ECodeInvalidParameter {
				t.Errorf("%s: %v, want %q", c.target, err, c.err)
			}
		} else if c.err != "" {
			t.Errorf("%s: no error, want %q", c.target, c.err)
		}
	}
}

// TestWriteJSON: answers are indented only where the vendor has ?pretty
// and the request asks for it (its errors too), HEAD gets no body, and a
// nil body is no body.
func TestWriteJSON(t *testing.T) {
	for _, c := range []struct {
		pretty               bool
		method, target, body string
	}{
		{false, "GET", "/compat/x/things?pretty", `{"code":"invalid_parameter","message":"pretty: is not a parameter of this route"}` + "\n"},
		{true, "GET", "/compat/x/things?pretty", "{\n  \"account\": \"\"\n}\n"},
		{true, "GET", "/compat/x/things?pretty=maybe", `{"code":"invalid_parameter","message":"pretty: must be true or false"}` + "\n"},
		{true, "GET", "/compat/x/things", `{"account":""}` + "\n"},
		{true, "HEAD", "/compat/x/things?pretty", ""},
		{true, "POST", "/compat/x/things?pretty", "{\n  \"code\": \"method_not_allowed\",\n  \"message\": \"POST is not allowed on /compat/x/things; allowed: DELETE, GET, HEAD\"\n}\n"},
	} {
		v := vendor()
		v.Pretty = c.pretty
		d := kit.New(&server{}, v)
		d.Handle("GET /compat/x/things", func(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
			if _, err := d.Query(r, nil); err != nil {
				return err
			}
			return kit.WriteJSON(w, r, http.StatusOK, map[string]string{"account": a.AccountID})
		})
		d.Handle("DELETE /compat/x/things", func(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
			return kit.WriteJSON(w, r, http.StatusNoContent, nil)
		})
		a := serve(t, d, c.method, c.target, "X-Token: good")
		if a.body != c.body || a.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%v %s %s: %q %v, want %q", c.pretty, c.method, c.target, a.body, a.header, c.body)
		}
	}
	d := kit.New(&server{}, vendor())
	d.Handle("DELETE /compat/x/things", func(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
		return kit.WriteJSON(w, r, http.StatusNoContent, nil)
	})
	if a := serve(t, d, "DELETE", "/compat/x/things", "X-Token: good"); a.status != 204 || a.body != "" ||
		a.header.Get("Content-Type") != "" || a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("nil body: %d %q %v", a.status, a.body, a.header)
	}
}

func TestBearer(t *testing.T) {
	for header, want := range map[string]string{
		"": "", "Bearer tok": "tok", "bearer  tok ": "tok", "Bearer": "", "Basic tok": "", "Bearer\ttok": "",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		if got := kit.Bearer(r); got != want {
			t.Errorf("Bearer(%q) = %q, want %q", header, got, want)
		}
	}
}

// TestServe: every route of the table is served, through the steps.
func TestServe(t *testing.T) {
	d := kit.New(&server{}, vendor())
	var got []string
	h := func(name string) kit.Handler {
		return func(http.ResponseWriter, *http.Request, *keyward.Actor) error { got = append(got, name); return nil }
	}
	if d.Serve(kit.Routes{"GET /compat/x/things": h("list"), "DELETE /compat/x/things/{id}": h("delete")}) != d {
		t.Fatal("Serve does not return the dialect")
	}
	serve(t, d, "GET", "/compat/x/things", "X-Token: good")
	serve(t, d, "DELETE", "/compat/x/things/1", "X-Token: good")
	if a := serve(t, d, "DELETE", "/compat/x/things/1"); a.status != 401 {
		t.Errorf("a route of the table without a credential: %d", a.status)
	}
	if strings.Join(got, ",") != "list,delete" {
		t.Errorf("served %v", got)
	}
}

func TestBearerCredential(t *testing.T) {
	missing := errors.New("missing")
	read := kit.BearerCredential(func() error { return missing })
	r := httptest.NewRequest("GET", "/", nil)
	if _, err := read(r); err != missing {
		t.Errorf("no header: %v", err)
	}
	r.Header.Set("Authorization", "Bearer tok")
	if tok, err := read(r); err != nil || tok.Reveal() != "tok" {
		t.Errorf("Bearer tok: %q %v", tok.Reveal(), err)
	}
}

// TestCodes: the status is the native one (a broken rule a 400) unless
// the vendor says otherwise, the code that of the status unless the
// keyward code has its own; a status the vendor names no code for is its
// 500; an Error keeps what the dialect decided.
func TestCodes(t *testing.T) {
	c := kit.Codes{
		ByStatus: map[int]string{400: "bad", 404: "missing", 408: "slow"},
		Default:  "oops",
		Status:   map[keyward.Code]int{keyward.ECodeTimeout: 408},
		Name:     map[keyward.Code]string{keyward.ECodeInvalidParameter: "bad_param"},
	}
	decided := &kit.Error{Status: 401, Code: "who", Err: keyward.Errorf(keyward.ECodeUnauthenticated, "who are you")}
	for _, x := range []struct {
		err    error
		status int
		code   string
	}{
		{keyward.Errorf(keyward.ECodeValidation, "v"), 400, "bad"},
		{keyward.Errorf(keyward.ECodeInvalidParameter, "p"), 400, "bad_param"},
		{keyward.Errorf(keyward.ECodeNotFound, "n"), 404, "missing"},
		{keyward.Errorf(keyward.ECodeTimeout, "t"), 408, "slow"},
		{keyward.Errorf(keyward.ECodeConflict, "c"), 500, "oops"},
		{errors.New("boom"), 500, "oops"},
		{decided, 401, "who"},
	} {
		status, code, e := c.Of(x.err)
		if status != x.status || code != x.code || e == nil {
			t.Errorf("%v: %d %s %v, want %d %s", x.err, status, code, e, x.status, x.code)
		}
	}
	if _, _, e := c.Of(decided); e != decided.Err {
		t.Errorf("an Error's keyward error: %v", e)
	}
	if kit.StatusOf(keyward.ECodeInvalidPermission) != 400 || kit.StatusOf(keyward.ECodeConflict) != 409 {
		t.Error("StatusOf: a broken rule is a 400, the rest native")
	}
}

// Package compattest starts keyward servers for the compatibility
// dialects' tests (keywardtest's, with the dialects mounted: a real store,
// a SQLite file or a PostgreSQL schema when KEYWARD_TEST_STORE=postgres,
// the native API served over real HTTP on loopback, and the bootstrap
// operator key), and sends them the vendors' requests.
package compattest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat/internal/kit"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
)

// Env is one keyward server for a test.
type Env struct {
	T      *testing.T
	URL    string // the server's base URL, http://127.0.0.1:port
	Op     string // the bootstrap operator management key's secret
	OpID   string // its key id
	Svc    *service.Service
	Server *khttp.Server
	Store  keyward.Store
}

// Options adjust the server of New (a master key for recoverable keys, a
// lockout…); New sets their Store and Mount.
type Options = keywardtest.Options

// New starts a keyward server (keywardtest) on a fresh database, SQLite
// or PostgreSQL as KEYWARD_TEST_STORE says, with every dialect mounted by
// mount (compat.Mount, or one dialect's), and stops it when the test
// ends.
func New(t *testing.T, mount func(srv *khttp.Server, svc *service.Service), o Options) *Env {
	t.Helper()
	o.Store, o.Mount = keywardtest.StoreFromEnv(t), mount
	s := keywardtest.Start(t, o)
	return &Env{T: t, URL: s.URL, Op: s.OperatorKey.Reveal(), OpID: s.OperatorKeyID, Svc: s.Service, Server: s.HTTP, Store: s.DB}
}

// Dialect returns the mount function of New for one dialect: its name
// (its Dialect) and its New.
func Dialect(name string, newDialect func(*service.Service, kit.Server) http.Handler) func(*khttp.Server, *service.Service) {
	return func(srv *khttp.Server, svc *service.Service) {
		srv.Mount(name, func(h khttp.Host) http.Handler { return newDialect(svc, h) })
	}
}

// Host is a kit.Server for a dialect's tests without a server: it
// authenticates every credential as a management key acting in account
// acc_test, and keeps the errors noted for the access log.
type Host struct {
	Noted []error
}

// Authenticate returns an actor of acc_test, whatever tok and account.
func (h *Host) Authenticate(*http.Request, keyward.Token, string) (*keyward.Actor, error) {
	return &keyward.Actor{AccountID: "acc_test"}, nil
}

// Note keeps err.
func (h *Host) Note(_ http.ResponseWriter, err error) { h.Noted = append(h.Noted, err) }

// Response is an answer of the server.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it is not JSON.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("the body is not the expected JSON (%v): %s", err, r.Body)
	}
}

// Map returns the body as a JSON object.
func (r *Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Do sends a request with the given headers ("Name: value" pairs, in
// order, a later one replacing an earlier one of the same name) and body:
// a string or []byte is sent as is with Content-Type application/json
// unless a header sets another, nil sends none, anything else is encoded
// as JSON.
func (e *Env) Do(method, path string, body any, headers ...string) *Response {
	e.T.Helper()
	h := http.Header{}
	for _, x := range headers {
		name, value, ok := strings.Cut(x, ":")
		if !ok {
			e.T.Fatalf("header %q is not \"Name: value\"", x)
		}
		h.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return e.Send(method, path, body, h)
}

// Send is Do with the headers as they are sent: a name may repeat.
func (e *Env) Send(method, path string, body any, h http.Header) *Response {
	e.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.T.Fatal(err)
	}
	req.Header = h.Clone()
	if _, set := h["Content-Type"]; body != nil && !set {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.T.Fatal(err)
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// Native sends a request to the native API with the operator key.
func (e *Env) Native(method, path string, body any, headers ...string) *Response {
	e.T.Helper()
	return e.Do(method, path, body, append([]string{"Authorization: Bearer " + e.Op}, headers...)...)
}

// Get reads path through the native API with the operator key, in
// account ("" for the default account), into dst, failing the test
// unless the answer is a 200.
func (e *Env) Get(account, path string, dst any) {
	e.T.Helper()
	e.nativeIn(account, "GET", path, nil, http.StatusOK, dst)
}

// nativeIn sends a request to the native API with the operator key, in
// account ("" for the default account), and decodes the answer into dst,
// failing the test unless its status is want.
func (e *Env) nativeIn(account, method, path string, body any, want int, dst any) {
	e.T.Helper()
	var hdr []string
	if account != "" {
		hdr = append(hdr, "X-Account-Id: "+account)
	}
	res := e.Native(method, path, body, hdr...)
	if res.Status != want {
		e.T.Fatalf("%s %s: %d %s", method, path, res.Status, res.Body)
	}
	res.JSON(e.T, dst)
}

// List reads the data of a native list (GET path in account, as Get)
// into dst, a pointer to a slice.
func (e *Env) List(account, path string, dst any) {
	e.T.Helper()
	var l struct {
		Data json.RawMessage `json:"data"`
	}
	e.Get(account, path, &l)
	if err := json.Unmarshal(l.Data, dst); err != nil {
		e.T.Fatalf("GET %s: data %s: %v", path, l.Data, err)
	}
}

// ManagementKey creates a management key bound to the default account
// with the given permissions through the native API and returns its
// secret.
func (e *Env) ManagementKey(perms ...string) string {
	e.T.Helper()
	return e.ManagementKeyIn("", perms...)
}

// ManagementKeyIn creates a management key bound to account (""
// for the default account) with the given permissions and returns its
// secret.
func (e *Env) ManagementKeyIn(account string, perms ...string) string {
	e.T.Helper()
	var k struct {
		Secret string `json:"secret"`
	}
	e.nativeIn(account, "POST", "/v1/management-keys", map[string]any{"name": "test " + strings.Join(perms, " "), "permissions": perms}, http.StatusCreated, &k)
	return k.Secret
}

// APIKey creates an API key with fields (name defaults to "api key") in
// account ("" for the default account) through the native API and returns
// its id and secret.
func (e *Env) APIKey(account string, fields map[string]any) (id, secret string) {
	e.T.Helper()
	if fields == nil {
		fields = map[string]any{}
	}
	if _, ok := fields["name"]; !ok {
		fields["name"] = "api key"
	}
	var k struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	e.nativeIn(account, "POST", "/v1/keys", fields, http.StatusCreated, &k)
	return k.ID, k.Secret
}

// Account creates an account with the given catalog template through
// the native API and returns its id.
func (e *Env) Account(name, template string) string {
	e.T.Helper()
	var a struct {
		ID string `json:"id"`
	}
	e.nativeIn("", "POST", "/v1/accounts", map[string]any{"name": name, "catalog_template": template}, http.StatusCreated, &a)
	return a.ID
}

// WriteFirst sends a request of size body bytes over a new TCP connection
// to baseURL the way a client that does not wait for 100 Continue does
// (Python's urllib, for one): the headers ("Name: value"), then the whole
// body (as one Content-Length, or in 64 KiB chunks when chunked), and
// only then reads the answer. An error says where the exchange broke (a
// server that answers and closes without reading the body resets it).
func WriteFirst(baseURL, method, path string, headers []string, size int64, chunked bool) (*Response, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	bw := bufio.NewWriterSize(conn, 64<<10)
	fmt.Fprintf(bw, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, u.Host)
	for _, h := range headers {
		fmt.Fprintf(bw, "%s\r\n", h)
	}
	if chunked {
		fmt.Fprintf(bw, "Transfer-Encoding: chunked\r\n\r\n")
	} else {
		fmt.Fprintf(bw, "Content-Length: %d\r\n\r\n", size)
	}
	block := bytes.Repeat([]byte("a"), 64<<10)
	for left := size; left > 0; {
		n := min(left, int64(len(block)))
		if chunked {
			fmt.Fprintf(bw, "%x\r\n", n)
		}
		bw.Write(block[:n])
		if chunked {
			bw.WriteString("\r\n")
		}
		if bw.Flush() != nil {
			break
		}
		left -= n
	}
	if chunked {
		bw.WriteString("0\r\n\r\n")
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("writing the body: %w", err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer's body: %w", err)
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

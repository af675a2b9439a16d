package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlite"
)

// testEnv is a keyward server on a fresh SQLite file in a temp dir, served
// over real HTTP on loopback, with the bootstrap operator key. Every
// exchange made through do is validated against the OpenAPI document when
// the test ends.
type testEnv struct {
	t      *testing.T
	URL    string
	Op     string // the operator management key's secret
	OpID   string
	DB     *sqlite.DB
	Svc    *service.Service
	Server *khttp.Server

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

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(service.Options{Store: db})
	k, tok, err := svc.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// No lockout here: the matrix tests send hundreds of bad credentials
	// from 127.0.0.1 on purpose; the lockout has tests of its own.
	srv := khttp.NewServer(svc, khttp.Options{Lockout: &khttp.LockoutPolicy{}})
	hs := httptest.NewServer(srv)
	e := &testEnv{t: t, URL: hs.URL, Op: tok.Reveal(), OpID: k.ID, DB: db, Svc: svc, Server: srv}
	t.Cleanup(func() {
		hs.Close()
		svc.Close(context.Background())
		db.Close()
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
		t.Fatalf("response is not a JSON object: %v\n%s", err, r.Body)
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
	Header map[string]string
}

// do sends a request and returns the response, recording the exchange.
func (e *testEnv) do(r req) *resp {
	e.t.Helper()
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
			e.t.Fatal(err)
		}
	}
	hr, err := http.NewRequest(r.Method, e.URL+r.Path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
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
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.exchanges = append(e.exchanges, exchange{r.Method, e.URL + r.Path, hr.Header.Clone(), body, res.StatusCode, res.Header.Clone(), rb})
	e.mu.Unlock()
	return &resp{Status: res.StatusCode, Header: res.Header, Body: rb}
}

// must sends a request and fails the test unless the status is want.
func (e *testEnv) must(want int, r req) *resp {
	e.t.Helper()
	res := e.do(r)
	if res.Status != want {
		e.t.Fatalf("%s %s: status %d, want %d\n%s", r.Method, r.Path, res.Status, want, res.Body)
	}
	return res
}

// problem checks that res is a problem document with the given status and
// code, and returns it.
func (e *testEnv) problem(res *resp, status int, code string) map[string]any {
	e.t.Helper()
	if res.Status != status {
		e.t.Fatalf("status %d, want %d\n%s", res.Status, status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		e.t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	p := res.JSON(e.t)
	if p["code"] != code {
		e.t.Fatalf("code %v, want %s\n%s", p["code"], code, res.Body)
	}
	if p["status"] != float64(status) || p["request_id"] == "" || p["request_id"] != res.Header.Get("X-Request-Id") {
		e.t.Fatalf("problem body inconsistent: %s", res.Body)
	}
	return p
}

// createKey creates an API key with the given body and returns the JSON
// object (with "secret").
func (e *testEnv) createKey(body map[string]any) map[string]any {
	e.t.Helper()
	return e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/keys", Body: body}).JSON(e.t)
}

// verify verifies a token with the operator key and returns the result.
func (e *testEnv) verify(body map[string]any) map[string]any {
	e.t.Helper()
	return e.must(http.StatusOK, req{Method: "POST", Path: "/v1/keys/verify", Body: body}).JSON(e.t)
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

package client_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlite"
)

// ctServer is a real keyward server for the client's tests: a SQLite file
// in a temporary directory, the service with a master key (recoverable
// keys work), the native HTTP API on loopback, and the bootstrap operator
// key. Every request that reaches it is recorded (method, URL, headers)
// so tests can check what the client sent.
type ctServer struct {
	URL  string
	Op   keyward.Token // the operator key's secret
	OpID string
	DB   *sqlite.DB
	Svc  *service.Service
	Srv  *khttp.Server

	mu   sync.Mutex
	seen []*http.Request // clones of the requests received, without bodies
	stop func()
}

// ctServerOptions change the server a test gets.
type ctServerOptions struct {
	Lockout *khttp.LockoutPolicy // nil: no lockout
	Metrics http.Handler         // nil: GET /metrics answers 404
}

// ctStart starts a server in dir; stop closes everything.
func ctStart(dir string, o ctServerOptions) (*ctServer, error) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, sqlite.FileName))
	if err != nil {
		return nil, fmt.Errorf("open SQLite: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	mk, err := keyward.ParseMasterKey([]byte(hex.EncodeToString(raw)))
	if err != nil {
		db.Close()
		return nil, err
	}
	svc := service.New(service.Options{Store: db, MasterKey: mk})
	k, tok, err := svc.Bootstrap(ctx)
	if err != nil {
		svc.Close(ctx)
		db.Close()
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	lock := o.Lockout
	if lock == nil {
		lock = &khttp.LockoutPolicy{}
	}
	srv := khttp.NewServer(svc, khttp.Options{Lockout: lock, Metrics: o.Metrics})
	s := &ctServer{Op: tok, OpID: k.ID, DB: db, Svc: svc, Srv: srv}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.Clone(context.Background()))
		s.mu.Unlock()
		srv.ServeHTTP(w, r)
	}))
	s.URL = hs.URL
	s.stop = func() {
		hs.Close()
		svc.Close(context.Background())
		db.Close()
	}
	return s, nil
}

// ctNewServer starts a server for one test, stopped at its end.
func ctNewServer(t testing.TB, o ctServerOptions) *ctServer {
	t.Helper()
	s, err := ctStart(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// ctOpClient returns a client authenticated with the operator key.
func ctOpClient(t testing.TB, s *ctServer, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(s.URL, append([]client.Option{client.WithToken(s.Op)}, opts...)...)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	return c
}

// requests returns the requests received so far.
func (s *ctServer) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.seen...)
}

// last returns the last request received.
func (s *ctServer) last(t testing.TB) *http.Request {
	t.Helper()
	rs := s.requests()
	if len(rs) == 0 {
		t.Fatal("the server received no request")
	}
	return rs[len(rs)-1]
}

// ctRouteMux returns a mux of the server's own route patterns: its Handler
// method names the pattern ("METHOD /path/{id}") a request matched.
func ctRouteMux(s *ctServer) *http.ServeMux {
	mux := http.NewServeMux()
	for _, p := range s.Srv.Routes() {
		mux.Handle(p, http.NotFoundHandler())
	}
	return mux
}

// ctContains reports whether any of the strings contains the secret.
func ctContains(secret string, ss ...string) bool {
	for _, s := range ss {
		if strings.Contains(s, secret) {
			return true
		}
	}
	return false
}

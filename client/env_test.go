package client_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
)

// ctServer is a real keyward server for the client's tests
// (keywardtest): a SQLite file in a temporary directory, the service with
// a master key (recoverable keys work), the native HTTP API on loopback,
// and the bootstrap operator key. Every request that reaches it is
// recorded (method, URL, headers) so tests can check what the client
// sent.
type ctServer struct {
	URL  string
	Op   keyward.Token // the operator key's secret
	OpID string
	DB   keywardtest.DB
	Svc  *service.Service
	Srv  *khttp.Server

	mu   sync.Mutex
	seen []*http.Request // clones of the requests received, without bodies
}

// ctServerOptions change the server a test gets.
type ctServerOptions struct {
	Lockout *khttp.LockoutPolicy // nil: no lockout
	Metrics http.Handler         // nil: GET /metrics answers 404
}

// ctNewServer starts a server for one test, stopped at its end.
func ctNewServer(t testing.TB, o ctServerOptions) *ctServer {
	t.Helper()
	s := &ctServer{}
	k := keywardtest.Start(t, keywardtest.Options{
		Service: service.Options{MasterKey: keywardtest.MasterKey(t)},
		HTTP:    khttp.Options{Lockout: o.Lockout, Metrics: o.Metrics},
		WrapHandler: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s.mu.Lock()
				s.seen = append(s.seen, r.Clone(context.Background()))
				s.mu.Unlock()
				h.ServeHTTP(w, r)
			})
		},
	})
	s.URL, s.Op, s.OpID, s.DB, s.Svc, s.Srv = k.URL, k.OperatorKey, k.OperatorKeyID, k.DB, k.Service, k.HTTP
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

// ctStart starts a server for one test and returns it with a client
// authenticated with the operator key (and opts), and a context.
func ctStart(t testing.TB, opts ...client.Option) (*ctServer, *client.Client, context.Context) {
	t.Helper()
	s := ctNewServer(t, ctServerOptions{})
	return s, ctOpClient(t, s, opts...), context.Background()
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

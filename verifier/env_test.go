package verifier_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/verifier"
)

// server is a real keyward: a SQLite file in a temporary directory, the
// service, the native HTTP API on loopback, the bootstrap operator key,
// and an operator client acting on the default account.
type server struct {
	URL string
	Op  keyward.Token
	DB  *sqlite.DB
	Svc *service.Service
	C   *client.Client
	hs  *httptest.Server
}

// start starts a server in dir; stop closes it (close remote verifiers
// first: the server waits for open invalidation streams).
func start(dir string) (s *server, stop func(), err error) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, sqlite.FileName))
	if err != nil {
		return nil, nil, fmt.Errorf("open SQLite: %w", err)
	}
	svc := service.New(service.Options{Store: db})
	_, op, err := svc.Bootstrap(ctx)
	if err != nil {
		svc.Close(ctx)
		db.Close()
		return nil, nil, fmt.Errorf("bootstrap: %w", err)
	}
	hs := httptest.NewServer(khttp.NewServer(svc, khttp.Options{Lockout: &khttp.LockoutPolicy{}}))
	c, err := client.New(hs.URL, client.WithToken(op))
	if err != nil {
		return nil, nil, err
	}
	s = &server{URL: hs.URL, Op: op, DB: db, Svc: svc, C: c, hs: hs}
	return s, func() {
		hs.Close()
		svc.Close(context.Background())
		db.Close()
	}, nil
}

// newServer starts a server for one test, stopped when it ends.
func newServer(t testing.TB) *server {
	t.Helper()
	s, stop, err := start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return s
}

// verifyKey creates a management key of the default account that may only
// verify keys: what a service verifying keys should hold.
func (s *server) verifyKey(t testing.TB) keyward.Token {
	t.Helper()
	k, err := s.C.CreateManagementKey(context.Background(), &keyward.KeyFields{
		Name:        keyward.Some("verifier"),
		Permissions: keyward.Some([]string{keyward.PermKeysVerify}),
	})
	if err != nil {
		t.Fatalf("create the verifying management key: %v", err)
	}
	return k.Secret
}

// actor authenticates a management key as the in-process verifier's actor.
func (s *server) actor(t testing.TB, tok keyward.Token) *keyward.Actor {
	t.Helper()
	a, err := s.Svc.Authenticate(context.Background(), service.Credential{Token: tok, ClientIP: "127.0.0.1", AnyAccount: true})
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return a
}

// createKey creates an API key in the default account.
func (s *server) createKey(t testing.TB, in *keyward.KeyFields) *client.KeyWithSecret {
	t.Helper()
	if !in.Name.Set {
		in.Name = keyward.Some("test key")
	}
	k, err := s.C.CreateKey(context.Background(), in)
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	return k
}

// updateKey PATCHes an API key.
func (s *server) updateKey(t testing.TB, id string, in *keyward.KeyFields) {
	t.Helper()
	if _, err := s.C.UpdateKey(context.Background(), id, in); err != nil {
		t.Fatalf("update key %s: %v", id, err)
	}
}

// httpVerify is POST /v1/keys/verify with a raw body, as any client sends
// it, authenticated with tok; it returns the decoded answer.
func (s *server) httpVerify(t testing.TB, tok keyward.Token, body map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", s.URL+"/v1/keys/verify", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+tok.Reveal())
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/keys/verify: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/keys/verify: %d %s", res.StatusCode, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST /v1/keys/verify: %v in %s", err, raw)
	}
	return out
}

// remote returns a remote verifier of the server with the given options,
// authenticated with tok, closed when the test ends; hc (optional) is the
// HTTP client the verifier's client uses.
func (s *server) remote(t testing.TB, tok keyward.Token, o verifier.RemoteOptions, hc *http.Client) *verifier.Remote {
	t.Helper()
	opts := []client.Option{client.WithToken(tok)}
	if hc != nil {
		opts = append(opts, client.WithHTTPClient(hc))
	}
	c, err := client.New(s.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	r := verifier.NewRemote(c, o)
	t.Cleanup(func() { r.Close() })
	return r
}

// waitFor polls cond until it holds, failing the test after timeout: for
// things that happen asynchronously (a stream connecting, an event
// arriving), never as a measure of how fast they happen.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitTrusted waits until the remote verifier uses its cache.
func waitTrusted(t testing.TB, r *verifier.Remote) {
	t.Helper()
	waitFor(t, "the invalidation stream to be up and trusted", 10*time.Second, func() bool { return r.Stats().Trusted })
}

// invalidations records what a remote verifier applied (its OnInvalidate).
type invalidations struct {
	mu   sync.Mutex
	seen []keyward.Invalidation
}

func (iv *invalidations) record(inv keyward.Invalidation) {
	iv.mu.Lock()
	iv.seen = append(iv.seen, inv)
	iv.mu.Unlock()
}

// mark returns how many invalidations were applied so far.
func (iv *invalidations) mark() int {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	return len(iv.seen)
}

// wait waits until an invalidation after mark satisfies match.
func (iv *invalidations) wait(t testing.TB, mark int, what string, match func(keyward.Invalidation) bool) {
	t.Helper()
	waitFor(t, "an invalidation of "+what, 10*time.Second, func() bool {
		iv.mu.Lock()
		defer iv.mu.Unlock()
		for _, inv := range iv.seen[mark:] {
			if match(inv) {
				return true
			}
		}
		return false
	})
}

// ---- a stream we can break ----

// streamRoute is an HTTP transport that sends GET /v1/invalidations
// through a proxy that a test can cut, freeze or make report an unhealthy
// feed, and every other request straight to the server: the stream breaks
// while verification keeps working.
type streamRoute struct {
	proxy     *pgtest.Proxy
	unhealthy atomic.Bool // rewrite feed_healthy:true to false
	base      *http.Transport
}

func newStreamRoute(t testing.TB, target string) *streamRoute {
	t.Helper()
	p := pgtest.NewProxy(t, strings.TrimPrefix(target, "http://"))
	base := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(base.CloseIdleConnections)
	return &streamRoute{proxy: p, base: base}
}

// client returns an http.Client using the route.
func (sr *streamRoute) client() *http.Client {
	return &http.Client{Transport: sr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (sr *streamRoute) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path != "/v1/invalidations" {
		return sr.base.RoundTrip(req)
	}
	r2 := req.Clone(req.Context())
	r2.URL.Host = sr.proxy.Addr()
	res, err := sr.base.RoundTrip(r2)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	body := res.Body
	go func() {
		br := bufio.NewReader(body)
		for {
			line, err := br.ReadString('\n')
			if sr.unhealthy.Load() {
				line = strings.ReplaceAll(line, `"feed_healthy":true`, `"feed_healthy":false`)
			}
			if _, werr := io.WriteString(pw, line); werr != nil {
				body.Close()
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				body.Close()
				return
			}
		}
	}()
	res.Body = pr
	return res, nil
}

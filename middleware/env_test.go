package middleware_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/verifier"
)

// server is a real keyward: a SQLite file in a temporary directory, the
// service, the native HTTP API on loopback, and an operator client acting
// on the default account.
type server struct {
	URL    string
	DB     *sqlite.DB
	Outage *outageStore // the store the service uses: the database, with an outage switch
	Svc    *service.Service
	C      *client.Client
}

// outageStore is the real SQLite store with a switch that makes it
// unreachable, as a database behind a network partition is: every call
// fails with unavailable until it is turned off.
type outageStore struct {
	*sqlite.DB
	down atomic.Bool
}

var _ keyward.Store = (*outageStore)(nil)

func (o *outageStore) err() error {
	if o.down.Load() {
		return &keyward.Error{Code: keyward.ECodeUnavailable, Message: "the database is unavailable (a test outage)"}
	}
	return nil
}

func (o *outageStore) Read(ctx context.Context, fn func(keyward.Tx) error) error {
	if err := o.err(); err != nil {
		return err
	}
	return o.DB.Read(ctx, fn)
}

func (o *outageStore) Write(ctx context.Context, fn func(keyward.Tx) error) error {
	if err := o.err(); err != nil {
		return err
	}
	return o.DB.Write(ctx, fn)
}

func (o *outageStore) Ping(ctx context.Context) error {
	if err := o.err(); err != nil {
		return err
	}
	return o.DB.Ping(ctx)
}

// start starts a server in dir; stop closes it (close remote verifiers
// first: the server waits for open invalidation streams).
func start(dir string) (s *server, stop func(), err error) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, sqlite.FileName))
	if err != nil {
		return nil, nil, fmt.Errorf("open SQLite: %w", err)
	}
	store := &outageStore{DB: db}
	svc := service.New(service.Options{Store: store})
	_, op, err := svc.Bootstrap(ctx)
	if err != nil {
		svc.Close(ctx)
		db.Close()
		return nil, nil, fmt.Errorf("bootstrap: %w", err)
	}
	hs := httptest.NewServer(khttp.NewServer(svc, khttp.Options{Lockout: &khttp.LockoutPolicy{}}))
	c, err := client.New(hs.URL, client.WithToken(op))
	if err != nil {
		hs.Close()
		svc.Close(ctx)
		db.Close()
		return nil, nil, err
	}
	return &server{URL: hs.URL, DB: db, Outage: store, Svc: svc, C: c}, func() {
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

// inProcess returns an in-process verifier acting as the management key
// tok.
func (s *server) inProcess(t testing.TB, tok keyward.Token) *verifier.InProcess {
	t.Helper()
	a, err := s.Svc.Authenticate(context.Background(), service.Credential{Token: tok, ClientIP: "127.0.0.1", AnyAccount: true})
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return verifier.New(s.Svc, a)
}

// remote returns a remote verifier of the server, authenticated with tok,
// closed when the test ends.
func (s *server) remote(t testing.TB, tok keyward.Token) *verifier.Remote {
	t.Helper()
	c, err := client.New(s.URL, client.WithToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	r := verifier.NewRemote(c, verifier.RemoteOptions{})
	t.Cleanup(func() { r.Close() })
	return r
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

// waitFor polls cond until it holds, failing the test after timeout: for
// things that happen asynchronously, never as a measure of how fast.
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

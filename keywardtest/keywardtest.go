// Package keywardtest runs a real keyward server inside a Go program, for
// the tests and runnable examples of programs that use keyward (through
// package client, verifier or middleware), as net/http/httptest does for
// HTTP handlers. keyward's own suites (the native API, the client, the
// verifiers, the middleware and the dialects) start their servers with it
// too.
//
// A Server is keyward itself, not a fake: the service on a new database
// (SQLite in a temporary directory unless PostgreSQL is asked for), the
// native HTTP API on a loopback port, and the operator management key that
// a first start makes. By default it has no failed-authentication lockout
// (a test sends bad keys on purpose) and no master key (recoverable keys
// are refused). It is not for production: run `keyward serve` there.
package keywardtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/metrics"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/verifier"
)

// Server is a keyward server running in this process.
type Server struct {
	// URL is the base URL of the native API, http://127.0.0.1:<port>.
	URL string
	// OperatorKey is the operator management key made when the database
	// was created: it holds every management permission and acts on the
	// account "default" unless X-Account-Id names another.
	OperatorKey keyward.Token
	// OperatorKeyID is the operator key's id.
	OperatorKeyID string
	// Client is a client of the native API authenticated with OperatorKey.
	Client *client.Client
	// Service is the service behind the API, for an in-process verifier
	// (verifier.New) that shares the server's keys and cache.
	Service *service.Service
	// HTTP is the native API's handler (its routes; Mount for a dialect).
	HTTP *khttp.Server
	// DB is the database the server opened, without Options.WrapStore.
	DB DB
	// Location is where DB is: a SQLite file or a PostgreSQL URL whose
	// search_path is the server's schema.
	Location string
	// Metrics are the server's Prometheus metrics (Options.Metrics), nil
	// without them.
	Metrics *metrics.Metrics

	hs   *httptest.Server
	dir  string // removed by Close: NewServer's temporary directory
	once sync.Once
}

// DB is what a test may use of the database under a server: the store
// contract, and the write handle for the few tests that check the
// database itself with raw SQL. Both stores (sqlite.DB, postgres.DB) are
// one.
type DB interface {
	keyward.Store
	WriteDB() *sql.DB
}

var (
	_ DB = (*sqlite.DB)(nil)
	_ DB = (*postgres.DB)(nil)
)

// Store names the database a new server keeps its data in.
type Store int

const (
	// SQLite is a new SQLite file in the test's temporary directory.
	SQLite Store = iota
	// Postgres is a new schema of the database KEYWARD_TEST_POSTGRES_URL
	// names, dropped when the test ends. Without the variable the test
	// is skipped, or fails under CI=true (package pgtest).
	Postgres
)

// StoreVar is the variable by which a run chooses the store of the suites
// that run on both (StoreFromEnv): "sqlite" (or unset) or "postgres".
const StoreVar = "KEYWARD_TEST_STORE"

// StoreFromEnv returns the store StoreVar names. Another value fails the
// test: a typo must not silently run SQLite again.
func StoreFromEnv(t testing.TB) Store {
	t.Helper()
	switch v := os.Getenv(StoreVar); v {
	case "", "sqlite":
		return SQLite
	case "postgres":
		return Postgres
	default:
		t.Fatalf("%s=%q: want sqlite or postgres", StoreVar, v)
		return SQLite
	}
}

// Options change the server Start starts. The zero value is NewServer's
// server.
type Options struct {
	// Store is the database of a new server.
	Store Store
	// Reopen starts the server on the database of an earlier one, with
	// its operator key, instead of a new database: a restart once the
	// earlier one is closed, or a second node beside it (its own handle
	// on the database, service and caches, as another process has).
	Reopen *Server
	// WrapStore, if set, wraps the store the service uses (to count its
	// transactions, or to make it fail).
	WrapStore func(keyward.Store) keyward.Store
	// Service are the service's options (clock, master key, rate-limit
	// backend, cache…). Start sets Store, and Observer with Metrics.
	Service service.Options
	// HTTP are the native API's options. A nil Lockout means none here,
	// not the server's default (ask for &khttp.DefaultLockout).
	HTTP khttp.Options
	// Metrics serves the service's Prometheus metrics on /metrics.
	Metrics bool
	// Mount, if set, mounts what the server serves besides the native API
	// (the dialects: compat.Mount), before it starts.
	Mount func(*khttp.Server, *service.Service)
	// WrapHandler, if set, wraps the server's handler (to record the
	// requests that reach it).
	WrapHandler func(http.Handler) http.Handler
}

// Start starts a server for a test and closes it when the test ends. It
// fails the test if the server cannot start.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	var loc string
	switch {
	case o.Reopen != nil:
		loc = o.Reopen.Location
	case o.Store == Postgres:
		loc = pgtest.URL(t)
	default:
		loc = filepath.Join(t.TempDir(), sqlite.FileName)
	}
	s, err := start(loc, o)
	if err != nil {
		t.Fatal("keywardtest: ", err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a server on a new, empty SQLite database, with the
// options' zero value. It panics if the server cannot start, like
// httptest.NewServer; call Close when done.
func NewServer() *Server {
	dir, err := os.MkdirTemp("", "keywardtest-")
	if err != nil {
		panic("keywardtest: " + err.Error())
	}
	s, err := start(filepath.Join(dir, sqlite.FileName), Options{})
	if err != nil {
		os.RemoveAll(dir)
		panic("keywardtest: " + err.Error())
	}
	s.dir = dir
	return s
}

// Open opens the database at location (a Server's Location) again, for a
// test that reads what it holds with no server on it. The test closes it.
func Open(t testing.TB, location string) DB {
	t.Helper()
	db, err := open(location)
	if err != nil {
		t.Fatal("keywardtest: ", err)
	}
	return db
}

func open(loc string) (DB, error) {
	ctx := context.Background()
	if strings.HasPrefix(loc, "postgres://") || strings.HasPrefix(loc, "postgresql://") {
		// A few connections per server: tests run in parallel on one
		// PostgreSQL, each server holding its own pool and listener.
		db, err := postgres.Open(ctx, loc, postgres.Options{MaxConns: 8, MinConns: 1})
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL: %w", err)
		}
		return db, nil
	}
	db, err := sqlite.Open(ctx, loc)
	if err != nil {
		return nil, fmt.Errorf("open SQLite: %w", err)
	}
	return db, nil
}

// start starts a server on the database at loc; on an error it leaves
// nothing open.
func start(loc string, o Options) (s *Server, err error) {
	ctx := context.Background()
	s = &Server{Location: loc}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.DB, err = open(loc); err != nil {
		return nil, err
	}
	so := o.Service
	so.Store = s.DB
	if o.WrapStore != nil {
		so.Store = o.WrapStore(s.DB)
	}
	ho := o.HTTP
	if o.Metrics {
		s.Metrics = metrics.New()
		so.Observer, ho.Metrics = s.Metrics, s.Metrics
	}
	s.Service = service.New(so)
	if s.Metrics != nil {
		s.Metrics.Watch(s.Service)
	}
	k, tok, err := s.Service.Bootstrap(ctx)
	switch {
	case err != nil:
		return nil, fmt.Errorf("bootstrap: %w", err)
	case !tok.IsZero():
		s.OperatorKey, s.OperatorKeyID = tok, k.ID
	case o.Reopen != nil:
		s.OperatorKey, s.OperatorKeyID = o.Reopen.OperatorKey, o.Reopen.OperatorKeyID
	}
	if ho.Lockout == nil {
		ho.Lockout = &khttp.LockoutPolicy{}
	}
	s.HTTP = khttp.NewServer(s.Service, ho)
	if o.Mount != nil {
		o.Mount(s.HTTP, s.Service)
	}
	var h http.Handler = s.HTTP
	if o.WrapHandler != nil {
		h = o.WrapHandler(h)
	}
	s.hs = httptest.NewServer(h)
	s.URL = s.hs.URL
	if s.Client, err = client.New(s.URL, client.WithToken(s.OperatorKey)); err != nil {
		return nil, err
	}
	return s, nil
}

// Close stops the server: it closes every connection (an open
// invalidation stream of a remote verifier included), waits for the
// requests in flight, writes what the service holds back, closes the
// database and removes NewServer's directory. Calling it again does
// nothing.
func (s *Server) Close() {
	s.once.Do(func() {
		if s.hs != nil {
			s.hs.CloseClientConnections()
			s.hs.Close()
		}
		if s.Service != nil {
			s.Service.Close(context.Background())
		}
		if s.DB != nil {
			s.DB.Close()
		}
		if s.dir != "" {
			os.RemoveAll(s.dir)
		}
	})
}

// RandomHex returns n random bytes as 2n hex characters: ids, tokens and
// keys no other test uses, so tests can share a server or a database.
func RandomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal("keywardtest: ", err)
	}
	return hex.EncodeToString(b)
}

// BadChecksum returns tok with its last checksum character replaced by
// another base62 character: still keyward's format, so it is refused
// without a lookup (NOT_FOUND, even with the database down), where a
// character outside base62 would make it a foreign token that is looked up.
func BadChecksum(tok keyward.Token) keyward.Token {
	s := []byte(tok.Reveal())
	if len(s) == 0 {
		return tok
	}
	if last := &s[len(s)-1]; *last == 'z' {
		*last = 'y'
	} else {
		*last = 'z'
	}
	return keyward.TokenFromString(string(s))
}

// MasterKey returns a new random master key, for a server whose keys may
// be recoverable (Options.Service.MasterKey).
func MasterKey(t testing.TB) *keyward.MasterKey {
	t.Helper()
	mk, err := keyward.ParseMasterKey([]byte(RandomHex(t, keyward.MasterKeySize)))
	if err != nil {
		t.Fatal("keywardtest: ", err)
	}
	return mk
}

// CreateKey creates an API key of the default account with the operator
// key (named "test key" unless in names it) and returns it with its
// secret. It fails the test if the server refuses.
func (s *Server) CreateKey(t testing.TB, in *keyward.KeyFields) *client.KeyWithSecret {
	t.Helper()
	if !in.Name.Set {
		in.Name = keyward.Some("test key")
	}
	k, err := s.Client.CreateKey(context.Background(), in)
	if err != nil {
		t.Fatalf("keywardtest: create key: %v", err)
	}
	return k
}

// CreateManagementKey creates a management key of the default account
// with the operator key and returns it with its secret. It fails the test
// if the server refuses.
func (s *Server) CreateManagementKey(t testing.TB, in *keyward.KeyFields) *client.ManagementKeyWithSecret {
	t.Helper()
	k, err := s.Client.CreateManagementKey(context.Background(), in)
	if err != nil {
		t.Fatalf("keywardtest: create management key: %v", err)
	}
	return k
}

// CreateProject creates a project of the default account with the
// operator key. It fails the test if the server refuses.
func (s *Server) CreateProject(t testing.TB, name string) *client.Project {
	t.Helper()
	p, err := s.Client.CreateProject(context.Background(), &keyward.ProjectFields{Name: keyward.Some(name)})
	if err != nil {
		t.Fatalf("keywardtest: create project: %v", err)
	}
	return p
}

// VerifierKey creates a management key of the default account that may
// only verify keys, what a service that verifies keys holds, and returns
// its secret. It fails the test if the server refuses.
func (s *Server) VerifierKey(t testing.TB) keyward.Token {
	t.Helper()
	return s.CreateManagementKey(t, &keyward.KeyFields{
		Name:        keyward.Some("verifier"),
		Permissions: keyward.Some([]string{keyward.PermKeysVerify}),
	}).Secret
}

// Actor authenticates the management key tok as a client on 127.0.0.1
// would be, for an in-process verifier (verifier.New(s.Service, actor)).
// It fails the test if the key is refused.
func (s *Server) Actor(t testing.TB, tok keyward.Token) *keyward.Actor {
	t.Helper()
	a, err := s.Service.Authenticate(context.Background(), service.Credential{Token: tok, ClientIP: "127.0.0.1", AnyAccount: true})
	if err != nil {
		t.Fatalf("keywardtest: authenticate: %v", err)
	}
	return a
}

// Remote returns a remote verifier of the server authenticated with tok,
// closed when the test ends; opts are its client's further options.
func (s *Server) Remote(t testing.TB, tok keyward.Token, o verifier.RemoteOptions, opts ...client.Option) *verifier.Remote {
	t.Helper()
	c, err := client.New(s.URL, append([]client.Option{client.WithToken(tok)}, opts...)...)
	if err != nil {
		t.Fatal("keywardtest: ", err)
	}
	r := verifier.NewRemote(c, o)
	t.Cleanup(func() { r.Close() })
	return r
}

// Logs is a buffer a server's logger writes to, from any goroutine, while
// the test reads it.
type Logs struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Column returns the first column of every row query returns, as Ts, for
// a test that looks into a database; it fails the test if the query fails.
func Column[T any](t testing.TB, db *sql.DB, query string, args ...any) []T {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query, args...)
	if err != nil {
		t.Fatalf("keywardtest: %s: %v", query, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			t.Fatalf("keywardtest: %s: %v", query, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("keywardtest: %s: %v", query, err)
	}
	return out
}

// WaitFor polls cond until it holds, failing the test after timeout: for
// what happens asynchronously (a stream connecting, a write behind, an
// expiry), never as a measure of how fast it happens.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Package keywardtest runs a real keyward server inside a Go program, for
// the tests and runnable examples of programs that use keyward (through
// package client, verifier or middleware), as net/http/httptest does for
// HTTP handlers.
//
// A Server is keyward itself, not a fake: the service on a new SQLite
// database in a temporary directory, the native HTTP API on a loopback
// port, and the operator management key that a first start makes. It has
// no failed-authentication lockout (a test sends bad keys on purpose) and
// no master key (recoverable keys are refused). It is not for production:
// run `keyward serve` there.
package keywardtest

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/keyward/keyward"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlite"
)

// Server is a keyward server running in this process.
type Server struct {
	// URL is the base URL of the native API, http://127.0.0.1:<port>.
	URL string
	// OperatorKey is the operator management key made when the server
	// started: it holds every management permission and acts on the
	// account "default" unless X-Account-Id names another.
	OperatorKey keyward.Token
	// Service is the service behind the API, for an in-process verifier
	// (verifier.New) that shares the server's keys and cache.
	Service *service.Service

	hs  *httptest.Server
	db  *sqlite.DB
	dir string
}

// NewServer starts a server on a new, empty database. It panics if the
// server cannot start, like httptest.NewServer; call Close when done.
func NewServer() *Server {
	s, err := start()
	if err != nil {
		panic("keywardtest: " + err.Error())
	}
	return s
}

func start() (*Server, error) {
	ctx := context.Background()
	s := &Server{}
	var err error
	if s.dir, err = os.MkdirTemp("", "keywardtest-"); err != nil {
		return nil, err
	}
	if s.db, err = sqlite.Open(ctx, filepath.Join(s.dir, sqlite.FileName)); err != nil {
		s.Close()
		return nil, fmt.Errorf("open the database: %w", err)
	}
	s.Service = service.New(service.Options{Store: s.db})
	if _, s.OperatorKey, err = s.Service.Bootstrap(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	s.hs = httptest.NewServer(khttp.NewServer(s.Service, khttp.Options{Lockout: &khttp.LockoutPolicy{}}))
	s.URL = s.hs.URL
	return s, nil
}

// Close stops the server: it closes every connection (an open
// invalidation stream of a remote verifier included), waits for the
// requests in flight, writes what the service holds back, closes the
// database and removes its directory.
func (s *Server) Close() {
	if s.hs != nil {
		s.hs.CloseClientConnections()
		s.hs.Close()
	}
	if s.Service != nil {
		s.Service.Close(context.Background())
	}
	if s.db != nil {
		s.db.Close()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

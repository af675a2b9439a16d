package middleware_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/verifier"
)

// server is a real keyward (keywardtest) whose service uses its store
// through an outage switch.
type server struct {
	*keywardtest.Server
	C      *client.Client // the operator client, acting on the default account
	Outage *outageStore   // the store the service uses: the database, with an outage switch
}

// outageStore is the real store with a switch that makes it unreachable,
// as a database behind a network partition is: every call fails with
// unavailable until it is turned off.
type outageStore struct {
	keyward.Store
	down atomic.Bool
}

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
	return o.Store.Read(ctx, fn)
}

func (o *outageStore) Write(ctx context.Context, fn func(keyward.Tx) error) error {
	if err := o.err(); err != nil {
		return err
	}
	return o.Store.Write(ctx, fn)
}

func (o *outageStore) Ping(ctx context.Context) error {
	if err := o.err(); err != nil {
		return err
	}
	return o.Store.Ping(ctx)
}

// newServer starts a server for one test, stopped when it ends.
func newServer(t testing.TB) *server {
	t.Helper()
	s := &server{}
	s.Server = keywardtest.Start(t, keywardtest.Options{WrapStore: func(db keyward.Store) keyward.Store {
		s.Outage = &outageStore{Store: db}
		return s.Outage
	}})
	s.C = s.Client
	return s
}

// verifyKey creates a management key of the default account that may only
// verify keys.
func (s *server) verifyKey(t testing.TB) keyward.Token { t.Helper(); return s.VerifierKey(t) }

// inProcess returns an in-process verifier acting as the management key
// tok.
func (s *server) inProcess(t testing.TB, tok keyward.Token) *verifier.InProcess {
	t.Helper()
	return verifier.New(s.Service, s.Actor(t, tok))
}

// remote returns a remote verifier of the server, authenticated with tok,
// closed when the test ends.
func (s *server) remote(t testing.TB, tok keyward.Token) *verifier.Remote {
	t.Helper()
	return s.Remote(t, tok, verifier.RemoteOptions{})
}

// createKey creates an API key in the default account.
func (s *server) createKey(t testing.TB, in *keyward.KeyFields) *client.KeyWithSecret {
	t.Helper()
	return s.CreateKey(t, in)
}

// waitFor polls cond until it holds (keywardtest.WaitFor).
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	keywardtest.WaitFor(t, what, timeout, cond)
}

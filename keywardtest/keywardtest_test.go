package keywardtest

import (
	"context"
	"crypto/rand"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/verifier"
)

// TestServer checks that a Server is a working keyward: ready, its
// operator key creates and verifies keys over HTTP and in process, and
// Close returns even while a remote verifier's invalidation stream is
// open, leaving no directory behind.
func TestServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewServer()
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()

	res, err := http.Get(s.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /readyz: %d", res.StatusCode)
	}

	c, err := client.New(s.URL, client.WithToken(s.OperatorKey))
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("test")})
	if err != nil {
		t.Fatalf("create a key with the operator key: %v", err)
	}
	v, err := c.VerifyKey(ctx, &keyward.VerifyRequest{Key: keyward.Some(k.Secret)})
	if err != nil || !v.Valid {
		t.Fatalf("verify over HTTP: %+v, %v", v, err)
	}
	op, err := s.Service.Authenticate(ctx, service.Credential{Token: s.OperatorKey})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := verifier.New(s.Service, op).Verify(ctx, k.Secret.Reveal(), nil); err != nil || r.Code != keyward.VerifyValid {
		t.Fatalf("verify in process: %+v, %v", r, err)
	}

	// A remote verifier left open: its stream must not hold Close up.
	remote := verifier.NewRemote(c, verifier.RemoteOptions{})
	defer remote.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !remote.Stats().Connected {
		if time.Now().After(deadline) {
			t.Fatal("the remote verifier's stream did not connect")
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() {
		s.Close()
		close(done)
	}()
	select {
	case <-done:
		closed = true
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with an invalidation stream open")
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("the server's directory %s is still there: %v", s.dir, err)
	}
}

// countingStore counts the read transactions of the store it wraps.
type countingStore struct {
	keyward.Store
	reads *atomic.Int64
}

func (s countingStore) Read(ctx context.Context, fn func(keyward.Tx) error) error {
	s.reads.Add(1)
	return s.Store.Read(ctx, fn)
}

// TestStart checks what Start's options change: the service uses the
// wrapped store, metrics are served, the mount function and the handler
// wrapper are called, a lockout applies only when asked for, and a server
// reopened on a closed one's database has its keys and its operator key.
// With Store: Postgres the same runs on a PostgreSQL schema.
func TestStart(t *testing.T) {
	t.Parallel()
	for _, st := range []Store{SQLite, Postgres} {
		t.Run(map[Store]string{SQLite: "sqlite", Postgres: "postgres"}[st], func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var reads, requests atomic.Int64
			mounted := false
			s := Start(t, Options{
				Store:     st,
				WrapStore: func(db keyward.Store) keyward.Store { return countingStore{db, &reads} },
				Metrics:   true,
				Mount:     func(*khttp.Server, *service.Service) { mounted = true },
				WrapHandler: func(h http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1); h.ServeHTTP(w, r) })
				},
			})
			k := s.CreateKey(t, &keyward.KeyFields{})
			if v, err := s.Client.VerifyKey(ctx, &keyward.VerifyRequest{Key: keyward.Some(k.Secret)}); err != nil || !v.Valid {
				t.Fatalf("verify: %+v, %v", v, err)
			}
			if !mounted || requests.Load() < 2 || reads.Load() == 0 {
				t.Errorf("mounted %v, %d requests through the wrapper, %d reads through the wrapped store", mounted, requests.Load(), reads.Load())
			}
			res, err := http.Get(s.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK || s.Metrics == nil {
				t.Errorf("GET /metrics: %d, Metrics %v", res.StatusCode, s.Metrics)
			}
			// No lockout unless asked: bad keys never lock the client out.
			bad, err := client.New(s.URL, client.WithToken(keyward.TokenFromString("kwm_bad")))
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if _, err := bad.Whoami(ctx); keyward.ErrorCode(err) != keyward.ECodeUnauthenticated {
					t.Fatalf("a bad key: %v, want unauthenticated", err)
				}
			}

			s.Close()
			r := Start(t, Options{Reopen: s, HTTP: khttp.Options{Lockout: &khttp.LockoutPolicy{Threshold: 1, Window: time.Minute, Duration: time.Minute}}})
			if r.OperatorKey != s.OperatorKey || r.OperatorKeyID != s.OperatorKeyID || r.Location != s.Location {
				t.Errorf("reopened: operator key %s at %s, want %s at %s", r.OperatorKeyID, r.Location, s.OperatorKeyID, s.Location)
			}
			if got, err := r.Client.GetKey(ctx, k.ID); err != nil || got.ID != k.ID {
				t.Fatalf("the key after a restart: %v, %v", got, err)
			}
			bad, err = client.New(r.URL, client.WithToken(keyward.TokenFromString("kwm_bad")))
			if err != nil {
				t.Fatal(err)
			}
			bad.Whoami(ctx)
			if _, err := r.Client.Whoami(ctx); keyward.ErrorCode(err) != keyward.ECodeLocked {
				t.Errorf("after a failure with a lockout of threshold 1: %v, want locked out", err)
			}
		})
	}
}

// BadChecksum keeps the token in keyward's format whatever its last
// character: flipping a bit of it (the tests' old way) turned 'Z' into '['
// and 'z' into '{', a foreign token that is looked up in the database.
func TestBadChecksum(t *testing.T) {
	seen := map[byte]bool{}
	for tries := 0; len(seen) < 62; tries++ {
		if tries == 100000 {
			t.Fatalf("only %d of 62 last characters in %d tokens", len(seen), tries)
		}
		tok, err := keyward.NewToken("kw", rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s := tok.Reveal()
		if seen[s[len(s)-1]] {
			continue
		}
		seen[s[len(s)-1]] = true
		if got := BadChecksum(tok).Shape(); got != keyward.ShapeBadChecksum {
			t.Errorf("token ending in %q: shape %v, want a bad checksum", s[len(s)-1], got)
		}
	}
}

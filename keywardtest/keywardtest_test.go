package keywardtest

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
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

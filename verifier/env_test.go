package verifier_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/verifier"
)

// server is a real keyward (keywardtest) with an operator client acting
// on the default account (Client).
type server struct{ *keywardtest.Server }

// newServer starts a server for one test, stopped when it ends.
func newServer(t testing.TB) *server {
	t.Helper()
	return &server{keywardtest.Start(t, keywardtest.Options{})}
}

// remote returns a remote verifier of the server with options o, holding
// a new management key that may only verify keys, closed when the test
// ends.
func (s *server) remote(t testing.TB, o verifier.RemoteOptions) *verifier.Remote {
	t.Helper()
	return s.Remote(t, s.VerifierKey(t), o)
}

// badChecksum returns token with another last checksum character.
func badChecksum(t testing.TB, token string) string {
	t.Helper()
	b := []byte(token)
	if b[len(b)-1] == '0' {
		b[len(b)-1] = '1'
	} else {
		b[len(b)-1] = '0'
	}
	if keyward.ShapeOf(string(b)) != keyward.ShapeBadChecksum {
		t.Fatalf("%q is not a bad checksum", b)
	}
	return string(b)
}

// updateKey PATCHes an API key.
func (s *server) updateKey(t testing.TB, id string, in *keyward.KeyFields) {
	t.Helper()
	if _, err := s.Client.UpdateKey(context.Background(), id, in); err != nil {
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

// waitTrusted waits until the remote verifier uses its cache.
func waitTrusted(t testing.TB, r *verifier.Remote) {
	t.Helper()
	keywardtest.WaitFor(t, "the invalidation stream to be up and trusted", 10*time.Second, func() bool { return r.Stats().Trusted })
}

// cachedAs waits until the remote verifier trusts its cache, then checks
// that token verifies as want, first from the server, then from the cache.
func cachedAs(t testing.TB, r *verifier.Remote, token string, want keyward.VerifyCode) {
	t.Helper()
	waitTrusted(t, r)
	wantCode(t, r, token, nil, want, false)
	wantCode(t, r, token, nil, want, true)
}

// streamed starts a server and a remote verifier with options o whose
// invalidation stream goes through a route the test can break (every
// other request goes straight to the server), and an API key whose VALID
// answer the verifier has cached.
func streamed(t testing.TB, o verifier.RemoteOptions) (*server, *streamRoute, *verifier.Remote, *client.KeyWithSecret) {
	t.Helper()
	s := newServer(t)
	route := newStreamRoute(t, s.URL)
	r := s.Remote(t, s.VerifierKey(t), o, client.WithHTTPClient(route.client()))
	k := s.CreateKey(t, &keyward.KeyFields{})
	cachedAs(t, r, k.Secret.Reveal(), keyward.VerifyValid)
	return s, route, r, k
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
	keywardtest.WaitFor(t, "an invalidation of "+what, 10*time.Second, func() bool {
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

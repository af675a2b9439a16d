package verifier_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/netip"
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

// mustVerify verifies and fails the test on an error.
func mustVerify(t testing.TB, v verifier.Verifier, token string, o *verifier.Options) keyward.VerifyResult {
	t.Helper()
	res, err := v.Verify(context.Background(), token, o)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return res
}

// wantCode verifies with the remote verifier and checks the code, and
// whether the answer came from the cache.
func wantCode(t testing.TB, r *verifier.Remote, token string, o *verifier.Options, want keyward.VerifyCode, hit bool) keyward.VerifyResult {
	t.Helper()
	before := r.Stats()
	res := mustVerify(t, r, token, o)
	if res.Code != want {
		t.Fatalf("code %s, want %s", res.Code, want)
	}
	if got := r.Stats().Hits > before.Hits; got != hit {
		t.Fatalf("%s: cache hit %t, want %t", res.Code, got, hit)
	}
	return res
}

func query(t testing.TB, s string) *keyward.Query {
	t.Helper()
	q, err := keyward.ParseQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestRemoteCacheKeys checks that a cached answer only answers the same
// inputs: another permission query, address or project asks the server.
func TestRemoteCacheKeys(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	r := s.remote(t, verifier.RemoteOptions{})
	p1, p2 := s.CreateProject(t, "one"), s.CreateProject(t, "two")
	k := s.CreateKey(t, &keyward.KeyFields{
		PermissionMode: keyward.Some(keyward.ModeRestricted), ProjectID: keyward.Some(p1.ID),
		Scopes:      keyward.Some([]keyward.Scope{{Resource: "documents", Access: keyward.AccessRead, Targets: []string{"*"}}}),
		IPAllowlist: keyward.Some([]string{"10.0.0.0/8"}),
	})
	tok := k.Secret.Reveal()
	waitTrusted(t, r)

	read := &verifier.Options{Query: query(t, "documents:read"), IP: netip.MustParseAddr("10.0.0.1")}
	wantCode(t, r, tok, read, keyward.VerifyValid, false)
	wantCode(t, r, tok, read, keyward.VerifyValid, true)
	// The same query parsed again is the same input.
	wantCode(t, r, tok, &verifier.Options{Query: query(t, "documents:read"), IP: netip.MustParseAddr("10.0.0.1")}, keyward.VerifyValid, true)

	for _, c := range []struct {
		name string
		o    *verifier.Options
		want keyward.VerifyCode
	}{
		{"another query", &verifier.Options{Query: query(t, "documents:write"), IP: read.IP}, keyward.VerifyInsufficientPermissions},
		{"no query", &verifier.Options{IP: read.IP}, keyward.VerifyValid},
		{"another address", &verifier.Options{Query: read.Query, IP: netip.MustParseAddr("192.0.2.1")}, keyward.VerifyForbiddenIP},
		{"no address", &verifier.Options{Query: read.Query}, keyward.VerifyForbiddenIP},
		{"another project", &verifier.Options{Query: read.Query, IP: read.IP, ProjectID: p2.ID}, keyward.VerifyWrongProject},
		{"its project", &verifier.Options{Query: read.Query, IP: read.IP, ProjectID: p1.ID}, keyward.VerifyValid},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, r, tok, c.o, c.want, false)
			wantCode(t, r, tok, c.o, c.want, true)
		})
	}
	// The cost does not change the answer of a key without credits.
	wantCode(t, r, tok, &verifier.Options{Query: read.Query, IP: read.IP, Cost: 7}, keyward.VerifyValid, true)
}

// TestRemoteCountersNotCached checks that answers of keys with a rate
// limit or credits always come from the server: limits and credits hold
// exactly, and the remaining counts are the server's.
func TestRemoteCountersNotCached(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	r := s.remote(t, verifier.RemoteOptions{})
	limited := s.CreateKey(t, &keyward.KeyFields{RateLimit: keyward.Some(keyward.RateLimit{Limit: 3, Window: 3600})})
	funded := s.CreateKey(t, &keyward.KeyFields{Credits: keyward.Some(keyward.Credits{Remaining: 5})})
	waitTrusted(t, r)

	for i, want := range []struct {
		code      keyward.VerifyCode
		remaining int64
	}{{keyward.VerifyValid, 2}, {keyward.VerifyValid, 1}, {keyward.VerifyValid, 0}, {keyward.VerifyRateLimited, 0}, {keyward.VerifyRateLimited, 0}} {
		res := wantCode(t, r, limited.Secret.Reveal(), nil, want.code, false)
		if !res.HasRateLimit || res.RateLimit.Limit != 3 || res.RateLimit.Remaining != want.remaining {
			t.Errorf("verification %d: rate limit %+v (has %t), want 3 with %d remaining", i+1, res.RateLimit, res.HasRateLimit, want.remaining)
		}
	}
	for i, want := range []struct {
		cost      int64
		code      keyward.VerifyCode
		remaining int64
	}{{2, keyward.VerifyValid, 3}, {verifier.NoCost, keyward.VerifyValid, 3}, {2, keyward.VerifyValid, 1}, {2, keyward.VerifyUsageExceeded, 1}, {1, keyward.VerifyValid, 0}, {1, keyward.VerifyUsageExceeded, 0}} {
		res := wantCode(t, r, funded.Secret.Reveal(), &verifier.Options{Cost: want.cost}, want.code, false)
		if !res.HasCredits || res.CreditsRemaining != want.remaining {
			t.Errorf("verification %d (cost %d): credits %d (has %t), want %d", i+1, want.cost, res.CreditsRemaining, res.HasCredits, want.remaining)
		}
	}
	// The server's own view agrees: nothing was spent behind its back.
	if err := s.Service.Close(ctx); err != nil { // gives leased credits back
		t.Fatal(err)
	}
	k, err := s.Client.GetKey(ctx, funded.ID)
	if err != nil {
		t.Fatal(err)
	}
	if k.Credits == nil || k.Credits.Remaining != 0 {
		t.Errorf("the key's credits: %+v, want 0 remaining", k.Credits)
	}
}

// TestRemoteInvalidation checks that a change made through the API reaches
// the remote cache: once the invalidation the change causes has arrived,
// the next verification answers the new code, never the cached one.
func TestRemoteInvalidation(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	vk := s.VerifierKey(t)
	var iv invalidations
	r := s.Remote(t, vk, verifier.RemoteOptions{MaxAge: time.Hour, OnInvalidate: iv.record})
	docsRead := []keyward.Scope{{Resource: "documents", Access: keyward.AccessRead, Targets: []string{"*"}}}
	if _, err := s.Client.CreateRole(ctx, &keyward.RoleFields{Name: keyward.Some("reader"), Scopes: keyward.Some(docsRead)}); err != nil {
		t.Fatal(err)
	}
	waitTrusted(t, r)

	isKey := func(id string) func(keyward.Invalidation) bool {
		return func(inv keyward.Invalidation) bool { return inv.Kind == keyward.InvalidateKey && inv.ID == id }
	}
	for _, c := range []struct {
		name    string
		fields  keyward.KeyFields
		perms   string
		change  func(t *testing.T, k *client.KeyWithSecret) (what string, match func(keyward.Invalidation) bool)
		want    keyward.VerifyCode
		newCode keyward.VerifyCode // the code of the new secret after a rotation
	}{
		{name: "revoke", change: func(t *testing.T, k *client.KeyWithSecret) (string, func(keyward.Invalidation) bool) {
			s.updateKey(t, k.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)})
			return "the key", isKey(k.ID)
		}, want: keyward.VerifyRevoked},
		{name: "disable", change: func(t *testing.T, k *client.KeyWithSecret) (string, func(keyward.Invalidation) bool) {
			s.updateKey(t, k.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusDisabled)})
			return "the key", isKey(k.ID)
		}, want: keyward.VerifyDisabled},
		{name: "rotate", change: func(t *testing.T, k *client.KeyWithSecret) (string, func(keyward.Invalidation) bool) {
			n, err := s.Client.RotateKey(ctx, k.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			// The new secret verifies (and was never NOT_FOUND here).
			wantCode(t, r, n.Secret.Reveal(), nil, keyward.VerifyValid, false)
			return "the key", isKey(k.ID)
		}, want: keyward.VerifyRotated},
		{name: "delete", change: func(t *testing.T, k *client.KeyWithSecret) (string, func(keyward.Invalidation) bool) {
			if err := s.Client.DeleteKey(ctx, k.ID); err != nil {
				t.Fatal(err)
			}
			return "the key", isKey(k.ID)
		}, want: keyward.VerifyNotFound},
		{name: "narrower scopes", fields: keyward.KeyFields{PermissionMode: keyward.Some(keyward.ModeRestricted), Scopes: keyward.Some(docsRead)}, perms: "documents:read",
			change: func(t *testing.T, k *client.KeyWithSecret) (string, func(keyward.Invalidation) bool) {
				s.updateKey(t, k.ID, &keyward.KeyFields{Scopes: keyward.Some([]keyward.Scope{})})
				return "the key", isKey(k.ID)
			}, want: keyward.VerifyInsufficientPermissions},
		{name: "ip allowlist", change: func(t *testing.T, k *client.KeyWithSecret) (string, func(keyward.Invalidation) bool) {
			s.updateKey(t, k.ID, &keyward.KeyFields{IPAllowlist: keyward.Some([]string{"192.0.2.0/24"})})
			return "the key", isKey(k.ID)
		}, want: keyward.VerifyForbiddenIP},
		{name: "role change", fields: keyward.KeyFields{PermissionMode: keyward.Some(keyward.ModeRestricted), Roles: keyward.Some([]string{"reader"})}, perms: "documents:read",
			change: func(t *testing.T, k *client.KeyWithSecret) (string, func(keyward.Invalidation) bool) {
				if _, err := s.Client.UpdateRole(ctx, "reader", &keyward.RoleFields{Scopes: keyward.Some([]keyward.Scope{})}); err != nil {
					t.Fatal(err)
				}
				return "the account", func(inv keyward.Invalidation) bool {
					return inv.Kind == keyward.InvalidateAccount && inv.ID == k.AccountID
				}
			}, want: keyward.VerifyInsufficientPermissions},
		{name: "owner disabled", change: func(t *testing.T, k *client.KeyWithSecret) (string, func(keyward.Invalidation) bool) {
			if _, err := s.Client.UpdateServiceAccount(ctx, k.Owner.ID, &keyward.ServiceAccountFields{Status: keyward.Some(keyward.MemberDisabled)}); err != nil {
				t.Fatal(err)
			}
			return "the owner", func(inv keyward.Invalidation) bool {
				return inv.Kind == keyward.InvalidateOwner && inv.ID == k.Owner.ID
			}
		}, want: keyward.VerifyOwnerInactive},
	} {
		t.Run(c.name, func(t *testing.T) {
			fields := c.fields
			fields.Name = keyward.Some(c.name)
			if c.name == "owner disabled" {
				sa, err := s.Client.CreateServiceAccount(ctx, &keyward.ServiceAccountFields{Name: keyward.Some("robot")})
				if err != nil {
					t.Fatal(err)
				}
				fields.Owner = keyward.Some(keyward.Owner{Type: keyward.OwnerServiceAccount, ID: sa.ID})
			}
			k := s.CreateKey(t, &fields)
			o := &verifier.Options{IP: netip.MustParseAddr("10.9.8.7")}
			if c.perms != "" {
				o.Query = query(t, c.perms)
			}
			tok := k.Secret.Reveal()
			wantCode(t, r, tok, o, keyward.VerifyValid, false)
			wantCode(t, r, tok, o, keyward.VerifyValid, true)

			mark := iv.mark()
			what, match := c.change(t, k)
			iv.wait(t, mark, what, match)
			wantCode(t, r, tok, o, c.want, false)
			// The server agrees. No query is no permissions member: an
			// empty query is malformed (422).
			body := map[string]any{"key": tok, "ip": "10.9.8.7"}
			if c.perms != "" {
				body["permissions"] = c.perms
			}
			if got := s.httpVerify(t, vk, body); got["code"] != string(c.want) {
				t.Errorf("the server answers %v, want %s", got["code"], c.want)
			}
		})
	}

	// A token that was unknown (cached NOT_FOUND) and is then imported:
	// the hash invalidation drops the miss.
	t.Run("import", func(t *testing.T) {
		legacy := "legacy-0123456789abcdefghijklmnopqrstuvwxyz"
		wantCode(t, r, legacy, nil, keyward.VerifyNotFound, false)
		wantCode(t, r, legacy, nil, keyward.VerifyNotFound, true)
		mark := iv.mark()
		h := keyward.HashString(legacy)
		if _, err := s.Client.ImportKeys(ctx, []keyward.ImportItem{{Hash: hex.EncodeToString(h[:]), KeyFields: keyward.KeyFields{Name: keyward.Some("imported")}}}); err != nil {
			t.Fatal(err)
		}
		iv.wait(t, mark, "the token hash", func(inv keyward.Invalidation) bool { return inv.Kind == keyward.InvalidateHash && inv.ID == h.String() })
		wantCode(t, r, legacy, nil, keyward.VerifyValid, false)
	})
}

// TestRemoteStreamCut cuts the invalidation stream while the server stays
// reachable: the verifier stops using its cache, so a key revoked while the
// stream is down verifies REVOKED although its VALID answer was cached and
// the revocation's event never arrived. When the stream is back, the cache
// is flushed and used again.
func TestRemoteStreamCut(t *testing.T) {
	t.Parallel()
	var iv invalidations
	s, route, r, k := streamed(t, verifier.RemoteOptions{MaxAge: time.Hour, OnInvalidate: iv.record})
	tok := k.Secret.Reveal()
	other := s.CreateKey(t, &keyward.KeyFields{})
	wantCode(t, r, other.Secret.Reveal(), nil, keyward.VerifyValid, false)
	connects := r.Stats().Connects

	route.proxy.Cut()
	keywardtest.WaitFor(t, "the verifier to see the stream cut", 10*time.Second, func() bool { return !r.Stats().Connected })
	if st := r.Stats(); st.Trusted || st.Entries != 0 {
		t.Fatalf("after the cut: %+v, want the cache untrusted and flushed", st)
	}
	mark := iv.mark()
	s.updateKey(t, k.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)})
	wantCode(t, r, tok, nil, keyward.VerifyRevoked, false)
	// Nothing is cached while the stream is down.
	wantCode(t, r, other.Secret.Reveal(), nil, keyward.VerifyValid, false)
	wantCode(t, r, other.Secret.Reveal(), nil, keyward.VerifyValid, false)
	if n := r.Stats().Entries; n != 0 {
		t.Errorf("%d answers cached while the stream was down", n)
	}
	iv.mu.Lock()
	for _, inv := range iv.seen[mark:] {
		if inv.Kind == keyward.InvalidateKey {
			t.Errorf("an invalidation arrived through the cut stream: %v", inv)
		}
	}
	iv.mu.Unlock()

	route.proxy.Restore()
	keywardtest.WaitFor(t, "the stream to reconnect", 20*time.Second, func() bool { return r.Stats().Connects > connects })
	cachedAs(t, r, tok, keyward.VerifyRevoked)
}

// TestRemoteStreamSilent freezes the stream (the connection stays open but
// nothing arrives, as behind a stalled proxy): within StreamStaleAfter of
// the last heartbeat the cache is no longer used, so a revocation whose
// event is held back is seen, and the verifier reopens the stream.
func TestRemoteStreamSilent(t *testing.T) {
	t.Parallel()
	s, route, r, k := streamed(t, verifier.RemoteOptions{MaxAge: time.Hour})
	tok := k.Secret.Reveal()

	route.proxy.Freeze()
	s.updateKey(t, k.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)})
	frozeAt := time.Now()
	keywardtest.WaitFor(t, "the cache to stop being trusted", 10*time.Second, func() bool { return !r.Stats().Trusted })
	if d := time.Since(frozeAt); d > verifier.StreamStaleAfter+2*time.Second {
		t.Logf("the cache was trusted %s after the stream went silent", d) // informative only: timing is not asserted
	}
	wantCode(t, r, tok, nil, keyward.VerifyRevoked, false)
	keywardtest.WaitFor(t, "the silent stream to be closed", 10*time.Second, func() bool { return !r.Stats().Connected })

	connects := r.Stats().Connects
	route.proxy.Thaw()
	keywardtest.WaitFor(t, "the stream to reconnect", 30*time.Second, func() bool { return r.Stats().Connects > connects })
	cachedAs(t, r, tok, keyward.VerifyRevoked)
}

// TestRemoteUnhealthyFeed makes the stream report feed_healthy:false (the
// server itself may be missing changes): the cache is flushed and not
// used; when the feed is healthy again it is flushed and used again.
func TestRemoteUnhealthyFeed(t *testing.T) {
	t.Parallel()
	_, route, r, k := streamed(t, verifier.RemoteOptions{})
	tok := k.Secret.Reveal()

	route.unhealthy.Store(true)
	keywardtest.WaitFor(t, "an unhealthy heartbeat", 10*time.Second, func() bool { return !r.Stats().Trusted })
	if st := r.Stats(); !st.Connected || st.Entries != 0 {
		t.Fatalf("with an unhealthy feed: %+v, want connected and flushed", st)
	}
	wantCode(t, r, tok, nil, keyward.VerifyValid, false)
	wantCode(t, r, tok, nil, keyward.VerifyValid, false)

	route.unhealthy.Store(false)
	cachedAs(t, r, tok, keyward.VerifyValid)
}

// TestRemoteTimeBounds checks the answers that change with time: a
// NOT_FOUND is used at most NotFoundMaxAge, and a VALID of an expiring key
// never after its expiry.
func TestRemoteTimeBounds(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	var iv invalidations
	r := s.remote(t, verifier.RemoteOptions{MaxAge: time.Hour, NotFoundMaxAge: 300 * time.Millisecond, OnInvalidate: iv.record})
	unknown, _ := keyward.NewToken("kw", nil)
	waitTrusted(t, r)
	// The key's creation event is awaited: in flight, it could (through a
	// shared generation slot) keep the NOT_FOUND below from being stored.
	mark := iv.mark()
	expiring := s.CreateKey(t, &keyward.KeyFields{ExpiresAt: keyward.Some(time.Now().Add(1500 * time.Millisecond))})
	h := keyward.HashString(expiring.Secret.Reveal())
	iv.wait(t, mark, "the new key's hash", func(inv keyward.Invalidation) bool { return inv.Kind == keyward.InvalidateHash && inv.ID == h.String() })

	sentAt := time.Now()
	wantCode(t, r, unknown.Reveal(), nil, keyward.VerifyNotFound, false)
	missAt := time.Now() // the answer was stored between sentAt and missAt
	// Only what is certain is asserted: a lookup that ended within 300 ms
	// of sentAt is a hit, one that began 300 ms after missAt a miss; a
	// slow machine may leave the first check out.
	before := r.Stats().Hits
	res := mustVerify(t, r, unknown.Reveal(), nil)
	endedAt := time.Now()
	if hit := r.Stats().Hits > before; !hit && endedAt.Before(sentAt.Add(300*time.Millisecond)) {
		t.Errorf("a NOT_FOUND %s old was not answered from the cache", endedAt.Sub(sentAt))
	}
	if res.Code != keyward.VerifyNotFound {
		t.Fatalf("code %s, want NOT_FOUND", res.Code)
	}
	time.Sleep(time.Until(missAt.Add(300 * time.Millisecond)))
	wantCode(t, r, unknown.Reveal(), nil, keyward.VerifyNotFound, false)

	tok := expiring.Secret.Reveal()
	first := wantCode(t, r, tok, nil, keyward.VerifyValid, false)
	if !first.HasExpiry {
		t.Fatal("the answer has no expiry")
	}
	// Until the expiry the cache answers VALID; from it, EXPIRED.
	for {
		now := time.Now()
		res := mustVerify(t, r, tok, nil)
		switch {
		case res.Code == keyward.VerifyValid && !now.Before(first.ExpiresAt):
			t.Fatalf("VALID at %s, after the key expired at %s", now, first.ExpiresAt)
		case res.Code == keyward.VerifyExpired:
			return
		case res.Code != keyward.VerifyValid:
			t.Fatalf("code %s", res.Code)
		}
		if time.Since(first.ExpiresAt) > 10*time.Second {
			t.Fatal("the key never verified EXPIRED")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRemoteConcurrent verifies from many goroutines while the key is
// revoked: once the revocation has been applied, no goroutine gets VALID.
func TestRemoteConcurrent(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	var iv invalidations
	r := s.remote(t, verifier.RemoteOptions{MaxAge: time.Hour, OnInvalidate: iv.record})
	k := s.CreateKey(t, &keyward.KeyFields{})
	tok := k.Secret.Reveal()
	waitTrusted(t, r)
	wantCode(t, r, tok, nil, keyward.VerifyValid, false)

	var (
		done    = make(chan struct{})
		wg      sync.WaitGroup
		revoked = make(chan struct{})
	)
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				select {
				case <-revoked:
					// After the invalidation was applied: never VALID.
					res, err := r.Verify(context.Background(), tok, nil)
					if err != nil || res.Code != keyward.VerifyRevoked {
						t.Errorf("after the revocation: %s, %v", res.Code, err)
						return
					}
				default:
					res, err := r.Verify(context.Background(), tok, nil)
					if err != nil || (res.Code != keyward.VerifyValid && res.Code != keyward.VerifyRevoked) {
						t.Errorf("during the revocation: %s, %v", res.Code, err)
						return
					}
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // let the goroutines hammer the cache
	mark := iv.mark()
	s.updateKey(t, k.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)})
	iv.wait(t, mark, "the key", func(inv keyward.Invalidation) bool { return inv.Kind == keyward.InvalidateKey && inv.ID == k.ID })
	close(revoked)
	time.Sleep(100 * time.Millisecond)
	close(done)
	wg.Wait()
	if st := r.Stats(); st.Hits == 0 {
		t.Errorf("no cache hit at all: %+v", st)
	}
}

// TestRemoteCacheBound checks the size bound: the least recently used
// answers go.
func TestRemoteCacheBound(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	r := s.remote(t, verifier.RemoteOptions{CacheSize: 2})
	var toks []string
	for i := 0; i < 3; i++ {
		toks = append(toks, s.CreateKey(t, &keyward.KeyFields{}).Secret.Reveal())
	}
	waitTrusted(t, r)
	wantCode(t, r, toks[0], nil, keyward.VerifyValid, false)
	wantCode(t, r, toks[1], nil, keyward.VerifyValid, false)
	wantCode(t, r, toks[0], nil, keyward.VerifyValid, true) // toks[1] is now the least recently used
	wantCode(t, r, toks[2], nil, keyward.VerifyValid, false)
	if n := r.Stats().Entries; n != 2 {
		t.Errorf("%d entries, want 2", n)
	}
	wantCode(t, r, toks[0], nil, keyward.VerifyValid, true)
	wantCode(t, r, toks[2], nil, keyward.VerifyValid, true)
	wantCode(t, r, toks[1], nil, keyward.VerifyValid, false)
}

// TestRemoteErrors checks the failures to verify: each is a
// *keyward.Error wrapping the *client.Error, never an outcome.
func TestRemoteErrors(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	k := s.CreateKey(t, &keyward.KeyFields{})
	reader := s.CreateManagementKey(t, &keyward.KeyFields{Name: keyward.Some("reader"), Permissions: keyward.Some([]string{"keys:read"})})
	// The cached answers of a verifier whose own key is revoked or expires
	// stop answering with that key's invalidation or expiry, long before
	// MaxAge.
	gone := s.VerifierKey(t)
	goneRemote := s.Remote(t, gone, verifier.RemoteOptions{MaxAge: time.Hour})
	expiring := s.CreateManagementKey(t, &keyward.KeyFields{
		Name: keyward.Some("expiring verifier"), Permissions: keyward.Some([]string{keyward.PermKeysVerify}),
		ExpiresAt: keyward.Some(time.Now().Add(1500 * time.Millisecond)),
	})
	expiringRemote := s.Remote(t, expiring.Secret, verifier.RemoteOptions{MaxAge: time.Hour})
	for _, r := range []*verifier.Remote{goneRemote, expiringRemote} {
		cachedAs(t, r, k.Secret.Reveal(), keyward.VerifyValid)
	}
	whoami, err := client.New(s.URL, client.WithToken(gone))
	if err != nil {
		t.Fatal(err)
	}
	w, err := whoami.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.UpdateManagementKey(ctx, w.ManagementKey.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name   string
		v      verifier.Verifier
		code   keyward.Code
		status int
	}{
		{"a key without keys:verify", s.Remote(t, reader.Secret, verifier.RemoteOptions{}), keyward.ECodePermissionDenied, 403},
		{"a revoked management key", goneRemote, keyward.ECodeUnauthenticated, 401},
		{"an expired management key", expiringRemote, keyward.ECodeUnauthenticated, 401},
		{"an API key", s.Remote(t, k.Secret, verifier.RemoteOptions{}), keyward.ECodeAPIKeyForbidden, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			// The revoked key's cached answers go with its own
			// invalidation, the expiring key's at its expiry; until then
			// the cache may still answer.
			keywardtest.WaitFor(t, "an error", 10*time.Second, func() bool {
				_, err = c.v.Verify(ctx, k.Secret.Reveal(), nil)
				return err != nil
			})
			var kerr *keyward.Error
			var cerr *client.Error
			if !errors.As(err, &kerr) || kerr.Code != c.code {
				t.Fatalf("error %v, want %s", err, c.code)
			}
			if !errors.As(err, &cerr) || cerr.StatusCode != c.status || cerr.RequestID == "" {
				t.Fatalf("error %v does not wrap the client's error with status %d", err, c.status)
			}
		})
	}

	t.Run("server gone", func(t *testing.T) {
		c, err := client.New("http://127.0.0.1:1", client.WithToken(gone))
		if err != nil {
			t.Fatal(err)
		}
		r := verifier.NewRemote(c, verifier.RemoteOptions{})
		defer r.Close()
		_, err = r.Verify(ctx, k.Secret.Reveal(), nil)
		if keyward.ErrorCode(err) != keyward.ECodeUnavailable {
			t.Fatalf("error %v, want unavailable", err)
		}
		// Malformed tokens and bad checksums need no server.
		badSum := badChecksum(t, k.Secret.Reveal())
		for _, tok := range []string{"not a key", "", badSum} {
			res, err := r.Verify(ctx, tok, nil)
			if err != nil || res.Code != keyward.VerifyNotFound {
				t.Fatalf("%q: %s, %v; want NOT_FOUND without asking", tok, res.Code, err)
			}
		}
		// A token in another format may be an imported key: only the
		// server knows.
		if _, err := r.Verify(ctx, "nope", nil); keyward.ErrorCode(err) != keyward.ECodeUnavailable {
			t.Fatalf("a foreign token: %v, want unavailable", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := r.Verify(cctx, k.Secret.Reveal(), nil); keyward.ErrorCode(err) != keyward.ECodeTimeout || !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled context: %v, want timeout wrapping context.Canceled", err)
		}
	})
}

package middleware_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/middleware"
	"github.com/keyward/keyward/verifier"
)

// protected is what the middleware guards: it answers with the key the
// middleware put in the request's context.
var protected = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	res, ok := middleware.FromContext(r.Context())
	if !ok {
		http.Error(w, "no verified key in the context", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"valid": res.Valid, "code": res.Code, "key_id": res.KeyID, "name": res.Name})
})

// request is what a client sends to a protected route.
type request struct {
	bearer        string // Authorization: Bearer …
	authorization string // the whole Authorization header, instead of bearer
	apiKey        string // X-API-Key
	remoteAddr    string // the connection's peer ("192.0.2.1:1234" when empty)
	forwarded     string // X-Forwarded-For
	requestID     string // X-Request-Id
}

// do sends rq through h.
func do(h http.Handler, rq request) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/documents/1", nil)
	switch {
	case rq.authorization != "":
		req.Header.Set("Authorization", rq.authorization)
	case rq.bearer != "":
		req.Header.Set("Authorization", "Bearer "+rq.bearer)
	}
	if rq.apiKey != "" {
		req.Header.Set("X-API-Key", rq.apiKey)
	}
	if rq.remoteAddr != "" {
		req.RemoteAddr = rq.remoteAddr
	}
	if rq.forwarded != "" {
		req.Header.Set("X-Forwarded-For", rq.forwarded)
	}
	if rq.requestID != "" {
		req.Header.Set("X-Request-Id", rq.requestID)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// wantPassed checks that the request reached the protected handler with
// the key keyID in its context.
func wantPassed(t testing.TB, rec *httptest.ResponseRecorder, keyID string) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("%v in %s", err, rec.Body)
	}
	if got["key_id"] != keyID || got["valid"] != true || got["code"] != string(keyward.VerifyValid) {
		t.Fatalf("the handler saw %v, want the valid key %s", got, keyID)
	}
}

// refusal is what a refused request must get.
type refusal struct {
	status     int
	code       keyward.Code
	verifyCode keyward.VerifyCode // "" when no verification took place
	www        string             // WWW-Authenticate, for a 401
}

// wantRefused checks a refusal: the status, a problem document shaped like
// keyward's own (RFC 9457 members, code, errors, request_id) with the
// verification's code, and the headers that go with the status. It
// returns the document.
func wantRefused(t testing.TB, rec *httptest.ResponseRecorder, want refusal) map[string]any {
	t.Helper()
	body := rec.Body.String()
	if rec.Code != want.status {
		t.Fatalf("status %d, want %d: %s", rec.Code, want.status, body)
	}
	h := rec.Header()
	if ct := h.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	if cc := h.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if cl := h.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %s for a body of %d bytes", cl, len(body))
	}
	var p map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("the body is not JSON: %v in %s", err, body)
	}
	for member, v := range map[string]any{
		"type": "urn:keyward:error:" + string(want.code), "title": http.StatusText(want.status),
		"status": float64(want.status), "code": string(want.code),
	} {
		if p[member] != v {
			t.Errorf("%s: %v, want %v (in %s)", member, p[member], v, body)
		}
	}
	if d, _ := p["detail"].(string); d == "" {
		t.Errorf("no detail in %s", body)
	}
	if e, ok := p["errors"].([]any); !ok || len(e) != 0 {
		t.Errorf("errors: %v, want []", p["errors"])
	}
	if id, _ := p["request_id"].(string); id == "" || id != h.Get("X-Request-Id") {
		t.Errorf("request_id %v, X-Request-Id %q: want the same, not empty", p["request_id"], h.Get("X-Request-Id"))
	}
	if want.verifyCode == "" {
		if v, ok := p["verify_code"]; ok {
			t.Errorf("verify_code %v in a refusal without verification", v)
		}
	} else if p["verify_code"] != string(want.verifyCode) {
		t.Errorf("verify_code %v, want %s", p["verify_code"], want.verifyCode)
	}
	if got := h.Get("WWW-Authenticate"); got != want.www {
		t.Errorf("WWW-Authenticate %q, want %q", got, want.www)
	}
	return p
}

const (
	challenge        = `Bearer realm="api"`
	invalidChallenge = `Bearer realm="api", error="invalid_token"`
)

// retryAfter returns the Retry-After header in seconds, failing the test
// if it is missing or malformed, and checks that the problem says the same.
func retryAfter(t testing.TB, rec *httptest.ResponseRecorder, p map[string]any) int64 {
	t.Helper()
	v := rec.Header().Get("Retry-After")
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil || secs < 1 {
		t.Fatalf("Retry-After %q, want a positive number of seconds", v)
	}
	if p != nil && p["retry_after_seconds"] != float64(secs) {
		t.Errorf("retry_after_seconds %v, Retry-After %d", p["retry_after_seconds"], secs)
	}
	return secs
}

// verifiers returns the two verifiers of s acting as the management key
// tok, by name.
func verifiers(s *server, tok keyward.Token) []struct {
	name string
	make func(t testing.TB) verifier.Verifier
} {
	return []struct {
		name string
		make func(t testing.TB) verifier.Verifier
	}{
		{"in-process", func(t testing.TB) verifier.Verifier { return s.inProcess(t, tok) }},
		{"remote", func(t testing.TB) verifier.Verifier { return s.remote(t, tok) }},
	}
}

// TestMiddleware checks every answer of the middleware against a real
// keyward, through the in-process verifier and the remote one.
func TestMiddleware(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	vk := s.verifyKey(t)

	p1, p2 := s.CreateProject(t, "one"), s.CreateProject(t, "two")
	docsRead := []keyward.Scope{{Resource: "documents", Access: keyward.AccessRead, Targets: []string{"*"}}}
	restricted := func(name, project string, scopes []keyward.Scope, allow ...string) *client.KeyWithSecret {
		f := &keyward.KeyFields{Name: keyward.Some(name), PermissionMode: keyward.Some(keyward.ModeRestricted),
			Scopes: keyward.Some(scopes), ProjectID: keyward.Some(project)}
		if len(allow) > 0 {
			f.IPAllowlist = keyward.Some(allow)
		}
		return s.createKey(t, f)
	}
	valid := s.createKey(t, &keyward.KeyFields{Name: keyward.Some("valid")})
	other := s.createKey(t, &keyward.KeyFields{Name: keyward.Some("other")})
	reader := restricted("reader", p1.ID, docsRead)
	guarded := restricted("guarded", p1.ID, docsRead, "203.0.113.0/24")
	elsewhere := restricted("elsewhere", p2.ID, docsRead)
	powerless := restricted("powerless", p1.ID, []keyward.Scope{})
	revoked := s.createKey(t, &keyward.KeyFields{Name: keyward.Some("revoked")})
	disabled := s.createKey(t, &keyward.KeyFields{Name: keyward.Some("disabled")})
	for k, st := range map[string]keyward.KeyStatus{revoked.ID: keyward.StatusRevoked, disabled.ID: keyward.StatusDisabled} {
		if _, err := s.C.UpdateKey(ctx, k, &keyward.KeyFields{Status: keyward.Some(st)}); err != nil {
			t.Fatal(err)
		}
	}
	rotated := s.createKey(t, &keyward.KeyFields{Name: keyward.Some("rotated")})
	if _, err := s.C.RotateKey(ctx, rotated.ID, nil); err != nil { // grace 0: the old secret ends now
		t.Fatal(err)
	}
	sa, err := s.C.CreateServiceAccount(ctx, &keyward.ServiceAccountFields{Name: keyward.Some("robot")})
	if err != nil {
		t.Fatal(err)
	}
	orphan := s.createKey(t, &keyward.KeyFields{Name: keyward.Some("robot's"), Owner: keyward.Some(keyward.Owner{Type: keyward.OwnerServiceAccount, ID: sa.ID})})
	if _, err := s.C.UpdateServiceAccount(ctx, sa.ID, &keyward.ServiceAccountFields{Status: keyward.Some(keyward.MemberDisabled)}); err != nil {
		t.Fatal(err)
	}
	broke := s.createKey(t, &keyward.KeyFields{Name: keyward.Some("broke"), Credits: keyward.Some(keyward.Credits{Remaining: 0})})
	expiring := s.createKey(t, &keyward.KeyFields{Name: keyward.Some("expiring"), ExpiresAt: keyward.Some(time.Now().Add(time.Second))})
	unknown, _ := keyward.NewToken("kw", nil)
	probe := s.inProcess(t, vk)
	waitFor(t, "the expiring key to expire", 20*time.Second, func() bool {
		res, err := probe.Verify(ctx, expiring.Secret.Reveal(), nil)
		return err == nil && res.Code == keyward.VerifyExpired
	})

	for _, vv := range verifiers(s, vk) {
		t.Run(vv.name, func(t *testing.T) {
			v := vv.make(t)
			plain := middleware.New(v, middleware.Options{})(protected)
			docs := middleware.New(v, middleware.Options{
				Permissions: "documents:read", ProjectID: p1.ID,
				TrustedProxies:    []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
				CreditsRetryAfter: 90 * time.Second,
			})(protected)

			t.Run("passes", func(t *testing.T) {
				for _, c := range []struct {
					name  string
					h     http.Handler
					rq    request
					keyID string
				}{
					{"Authorization: Bearer", plain, request{bearer: valid.Secret.Reveal()}, valid.ID},
					{"X-API-Key", plain, request{apiKey: valid.Secret.Reveal()}, valid.ID},
					{"both with the same key", plain, request{bearer: valid.Secret.Reveal(), apiKey: valid.Secret.Reveal()}, valid.ID},
					{"the scheme in lower case", plain, request{authorization: "bearer " + valid.Secret.Reveal()}, valid.ID},
					{"permissions, project and address", docs, request{bearer: guarded.Secret.Reveal(), remoteAddr: "203.0.113.5:4000"}, guarded.ID},
				} {
					t.Run(c.name, func(t *testing.T) { wantPassed(t, do(c.h, c.rq), c.keyID) })
				}
			})

			t.Run("refused", func(t *testing.T) {
				for _, c := range []struct {
					name string
					h    http.Handler
					rq   request
					want refusal
				}{
					{"two different keys", plain, request{bearer: valid.Secret.Reveal(), apiKey: other.Secret.Reveal()}, refusal{http.StatusBadRequest, keyward.ECodeBadRequest, "", ""}},
					{"no key", plain, request{}, refusal{http.StatusUnauthorized, keyward.ECodeUnauthenticated, "", challenge}},
					{"another Authorization scheme", plain, request{authorization: "Basic dXNlcjpwYXNzd29yZA=="}, refusal{http.StatusUnauthorized, keyward.ECodeUnauthenticated, "", challenge}},
					{"another scheme and X-API-Key", plain, request{authorization: "Basic dXNlcjpwYXNzd29yZA==", apiKey: valid.Secret.Reveal()}, refusal{http.StatusUnauthorized, keyward.ECodeUnauthenticated, "", challenge}},
					{"Bearer without a key", plain, request{authorization: "Bearer"}, refusal{http.StatusUnauthorized, keyward.ECodeUnauthenticated, "", challenge}},
					{"unknown", plain, request{bearer: unknown.Reveal()}, unauth(keyward.VerifyNotFound)},
					{"not a key", plain, request{apiKey: "hunter2"}, unauth(keyward.VerifyNotFound)},
					{"a management key", plain, request{bearer: vk.Reveal()}, unauth(keyward.VerifyNotFound)},
					{"revoked", plain, request{bearer: revoked.Secret.Reveal()}, unauth(keyward.VerifyRevoked)},
					{"disabled", plain, request{apiKey: disabled.Secret.Reveal()}, unauth(keyward.VerifyDisabled)},
					{"expired", plain, request{bearer: expiring.Secret.Reveal()}, unauth(keyward.VerifyExpired)},
					{"rotated", plain, request{bearer: rotated.Secret.Reveal()}, unauth(keyward.VerifyRotated)},
					{"owner inactive", plain, request{bearer: orphan.Secret.Reveal()}, unauth(keyward.VerifyOwnerInactive)},
					{"forbidden address", docs, request{bearer: guarded.Secret.Reveal(), remoteAddr: "192.0.2.1:4000"}, forbidden(keyward.VerifyForbiddenIP)},
					{"wrong project", docs, request{bearer: elsewhere.Secret.Reveal()}, forbidden(keyward.VerifyWrongProject)},
					{"insufficient permissions", docs, request{bearer: powerless.Secret.Reveal()}, forbidden(keyward.VerifyInsufficientPermissions)},
					{"revoked before permissions", docs, request{bearer: revoked.Secret.Reveal()}, unauth(keyward.VerifyRevoked)},
				} {
					t.Run(c.name, func(t *testing.T) {
						rec := do(c.h, c.rq)
						p := wantRefused(t, rec, c.want)
						for _, tok := range []string{c.rq.bearer, c.rq.apiKey} {
							if tok != "" && strings.Contains(rec.Body.String(), tok) {
								t.Errorf("the answer shows the key: %s", rec.Body)
							}
						}
						if c.want.verifyCode == keyward.VerifyInsufficientPermissions && p["required_permissions"] != "documents:read" {
							t.Errorf("required_permissions %v, want documents:read", p["required_permissions"])
						}
					})
				}
			})

			t.Run("rate limited", func(t *testing.T) {
				limited := s.createKey(t, &keyward.KeyFields{RateLimit: keyward.Some(keyward.RateLimit{Limit: 1, Window: 3600})})
				rq := request{bearer: limited.Secret.Reveal()}
				rec := do(plain, rq)
				wantPassed(t, rec, limited.ID)
				if h := rec.Header(); h.Get("X-RateLimit-Limit") != "1" || h.Get("X-RateLimit-Remaining") != "0" || h.Get("X-RateLimit-Reset") == "" {
					t.Errorf("rate limit headers of a pass: %v", h)
				}
				rec = do(plain, rq)
				p := wantRefused(t, rec, refusal{http.StatusTooManyRequests, keyward.ECodeRateLimited, keyward.VerifyRateLimited, ""})
				if secs := retryAfter(t, rec, p); secs > 3600 {
					t.Errorf("Retry-After %d s for a window of 3600 s", secs)
				}
				reset, err := strconv.ParseInt(rec.Header().Get("X-RateLimit-Reset"), 10, 64)
				if err != nil || reset <= time.Now().Unix()-1 || reset > time.Now().Add(3601*time.Second).Unix() {
					t.Errorf("X-RateLimit-Reset %q: want a Unix time within the window", rec.Header().Get("X-RateLimit-Reset"))
				}
			})

			t.Run("usage exceeded", func(t *testing.T) {
				rec := do(plain, request{bearer: broke.Secret.Reveal()})
				p := wantRefused(t, rec, refusal{http.StatusTooManyRequests, keyward.ECodeRateLimited, keyward.VerifyUsageExceeded, ""})
				if secs := retryAfter(t, rec, p); secs != int64(middleware.DefaultCreditsRetryAfter/time.Second) {
					t.Errorf("Retry-After %d, want the default %s", secs, middleware.DefaultCreditsRetryAfter)
				}
				if p["credits_remaining"] != float64(0) {
					t.Errorf("credits_remaining %v, want 0", p["credits_remaining"])
				}
				funded := middleware.New(v, middleware.Options{CreditsRetryAfter: 90 * time.Second})(protected)
				rec = do(funded, request{bearer: broke.Secret.Reveal()})
				p = wantRefused(t, rec, refusal{http.StatusTooManyRequests, keyward.ECodeRateLimited, keyward.VerifyUsageExceeded, ""})
				if secs := retryAfter(t, rec, p); secs != 90 {
					t.Errorf("Retry-After %d, want 90", secs)
				}
			})

			// The client's address: the peer, or what a trusted proxy says
			// it forwarded for; anyone else's X-Forwarded-For is ignored.
			t.Run("trusted proxies", func(t *testing.T) {
				for _, c := range []struct {
					name       string
					remoteAddr string
					forwarded  string
					pass       bool
				}{
					{"from the client", "203.0.113.5:4000", "", true},
					{"an IPv4-mapped peer", "[::ffff:203.0.113.5]:4000", "", true},
					{"through a trusted proxy", "127.0.0.1:4000", "203.0.113.5", true},
					{"through two trusted proxies", "127.0.0.1:4000", "203.0.113.5, 127.0.0.2", true},
					{"through an IPv6 trusted proxy", "[::1]:4000", "203.0.113.5", true},
					{"X-Forwarded-For from an untrusted peer", "192.0.2.1:4000", "203.0.113.5", false},
					{"a spoofed first hop", "127.0.0.1:4000", "203.0.113.5, 198.51.100.1", false},
					{"a trusted proxy for a disallowed client", "127.0.0.1:4000", "198.51.100.1", false},
					{"a trusted proxy without X-Forwarded-For", "127.0.0.1:4000", "", false},
				} {
					t.Run(c.name, func(t *testing.T) {
						rec := do(docs, request{bearer: guarded.Secret.Reveal(), remoteAddr: c.remoteAddr, forwarded: c.forwarded})
						if c.pass {
							wantPassed(t, rec, guarded.ID)
						} else {
							wantRefused(t, rec, forbidden(keyward.VerifyForbiddenIP))
						}
					})
				}
				// Without trusted proxies, X-Forwarded-For counts for nothing.
				rec := do(middleware.New(v, middleware.Options{Permissions: "documents:read"})(protected),
					request{bearer: guarded.Secret.Reveal(), remoteAddr: "127.0.0.1:4000", forwarded: "203.0.113.5"})
				wantRefused(t, rec, forbidden(keyward.VerifyForbiddenIP))
			})

			t.Run("request id", func(t *testing.T) {
				rec := do(plain, request{bearer: revoked.Secret.Reveal(), requestID: "trace-42"})
				if p := wantRefused(t, rec, unauth(keyward.VerifyRevoked)); p["request_id"] != "trace-42" {
					t.Errorf("request_id %v, want the request's X-Request-Id", p["request_id"])
				}
				rec = do(plain, request{bearer: revoked.Secret.Reveal(), requestID: "not\tsane"})
				if p := wantRefused(t, rec, unauth(keyward.VerifyRevoked)); p["request_id"] == "not\tsane" {
					t.Error("an insane X-Request-Id was echoed")
				}
			})

			t.Run("reader", func(t *testing.T) {
				wantPassed(t, do(docs, request{apiKey: reader.Secret.Reveal()}), reader.ID)
			})
		})
	}

	if _, ok := middleware.FromContext(context.Background()); ok {
		t.Error("FromContext found a key in a context that never passed the middleware")
	}
}

// unauth and forbidden are the refusals of a key that is not usable, and
// of a key not usable for this request.
func unauth(vc keyward.VerifyCode) refusal {
	return refusal{http.StatusUnauthorized, keyward.ECodeUnauthenticated, vc, invalidChallenge}
}

func forbidden(vc keyward.VerifyCode) refusal {
	return refusal{http.StatusForbidden, keyward.ECodePermissionDenied, vc, ""}
}

// TestUnavailable checks that a verifier that cannot reach keyward (the
// in-process verifier's database, the remote verifier's server) is a 503
// with Retry-After, and that a verifier that may not verify is a 500 that
// says nothing of why.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	vk := s.verifyKey(t)
	k := s.createKey(t, &keyward.KeyFields{})
	unavailable := refusal{http.StatusServiceUnavailable, keyward.ECodeUnavailable, "", ""}

	t.Run("in-process, database down", func(t *testing.T) {
		h := middleware.New(s.inProcess(t, vk), middleware.Options{})(protected)
		s.Outage.down.Store(true)
		rec := do(h, request{bearer: k.Secret.Reveal()})
		s.Outage.down.Store(false)
		wantRefused(t, rec, unavailable)
		if ra := rec.Header().Get("Retry-After"); ra != "1" {
			t.Errorf("Retry-After %q, want 1", ra)
		}
		wantPassed(t, do(h, request{bearer: k.Secret.Reveal()}), k.ID)
	})

	t.Run("remote, server gone", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there any more
		c, err := client.New("http://"+addr, client.WithToken(vk))
		if err != nil {
			t.Fatal(err)
		}
		r := verifier.NewRemote(c, verifier.RemoteOptions{})
		defer r.Close()
		rec := do(middleware.New(r, middleware.Options{})(protected), request{bearer: k.Secret.Reveal()})
		wantRefused(t, rec, unavailable)
		if ra := rec.Header().Get("Retry-After"); ra != "1" {
			t.Errorf("Retry-After %q, want 1", ra)
		}
	})

	t.Run("remote, credential without keys:verify", func(t *testing.T) {
		mk, err := s.C.CreateManagementKey(context.Background(), &keyward.KeyFields{
			Name: keyward.Some("reader"), Permissions: keyward.Some([]string{"keys:read"}),
		})
		if err != nil {
			t.Fatal(err)
		}
		rec := do(middleware.New(s.remote(t, mk.Secret), middleware.Options{})(protected), request{bearer: k.Secret.Reveal()})
		p := wantRefused(t, rec, refusal{http.StatusInternalServerError, keyward.ECodeInternal, "", ""})
		if d := p["detail"].(string); strings.Contains(d, "keys:verify") || strings.Contains(d, "permission") {
			t.Errorf("the detail tells the client about the verifier's credential: %q", d)
		}
	})
}

// TestNewPanics checks that malformed route requirements are programming
// errors, found when the routes are built.
func TestNewPanics(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	v := s.inProcess(t, s.verifyKey(t))
	for _, c := range []struct {
		name string
		v    verifier.Verifier
		o    middleware.Options
	}{
		{"nil verifier", nil, middleware.Options{}},
		{"malformed permissions", v, middleware.Options{Permissions: "documents:read AND"}},
		{"not a project id", v, middleware.Options{ProjectID: "acme"}},
		{"cost out of range", v, middleware.Options{Cost: -5}},
		{"negative credits retry", v, middleware.Options{CreditsRetryAfter: -time.Second}},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("New did not panic")
				}
			}()
			middleware.New(c.v, c.o)
		})
	}
}

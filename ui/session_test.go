package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/ui"
)

// wantHeaders are the security headers of every dashboard answer.
var wantHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	"X-Frame-Options":         "DENY",
	"Referrer-Policy":         "no-referrer",
	"X-Content-Type-Options":  "nosniff",
	"Cache-Control":           "no-store",
}

func checkHeaders(t *testing.T, what string, p *page) {
	t.Helper()
	for name, want := range wantHeaders {
		if got := p.header.Get(name); got != want {
			t.Errorf("%s: %s is %q, want %q", what, name, got, want)
		}
	}
}

func TestSignInAndOut(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	b := s.browser()
	tok := s.srv.OperatorKey

	b.get("/").redirects(t, "/sign-in")
	p := b.get("/sign-in").is(t, http.StatusOK)
	checkHeaders(t, "GET /sign-in", p)
	p.has(t, `<form id="sign-in" method="post" action="/sign-in">`, `<label for="key">`, `id="key" name="key" type="password"`, `name="csrf"`)

	p = b.post("/sign-in", url.Values{"key": {tok.Reveal()}})
	p.redirects(t, "/")
	checkHeaders(t, "POST /sign-in", p)
	var cookie string
	for _, c := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, ui.CookieName+"=") {
			cookie = c
		}
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("session cookie %q lacks %s", cookie, attr)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("session cookie %q is Secure over plain HTTP: the browser would never send it back", cookie)
	}
	if strings.Contains(cookie, tok.Reveal()) {
		t.Fatal("the session cookie holds the key")
	}

	home := b.get("/").is(t, http.StatusOK)
	checkHeaders(t, "GET /", home)
	home.has(t, `<nav id="nav"`, `href="/keys"`, `<form id="sign-out" method="post" action="/sign-out">`, `id="account-switch"`)
	// Signed in, the sign-in form sends the browser home.
	b.get("/sign-in").redirects(t, "/")

	// The key never shows after sign-in: not in a page, a header or a
	// log line.
	seen := []*page{p, home}
	for _, path := range []string{"/keys", "/keys/new", "/keys/" + s.srv.OperatorKeyID, "/no/such/page"} {
		seen = append(seen, b.get(path))
	}
	b.post("/sign-out", nil).redirects(t, "/sign-in")
	b.get("/").redirects(t, "/sign-in")
	for _, pg := range seen {
		for _, where := range []string{pg.body, fmt.Sprint(pg.header)} {
			if strings.Contains(where, tok.Reveal()) {
				t.Fatalf("the key shows after sign-in:\n%s", where)
			}
		}
	}
	for _, line := range []string{"path=/sign-in status=303", "path=/keys status=200", "path=/keys/" + s.srv.OperatorKeyID + " status=404"} {
		if !strings.Contains(s.logs.String(), line) {
			t.Errorf("the access log lacks %q", line)
		}
	}
	if strings.Contains(s.logs.String(), tok.Reveal()) {
		t.Fatalf("the key is in the log:\n%s", s.logs.String())
	}
	if !strings.Contains(s.logs.String(), "request") {
		t.Fatal("no access log lines: the check above saw nothing")
	}
}

func TestSignInRefusesBadKeys(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	api := s.apiKey(&keyward.KeyFields{Name: keyward.Some("an api key")})
	_, apiTok, err := s.srv.Service.RotateKey(context.Background(), s.system(), keyward.KindAPI, api.ID, 0, keyward.Field[time.Time]{}, "")
	if err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	b.get("/sign-in")
	for _, c := range []struct {
		key    string
		status int
		msg    string
	}{
		{"", http.StatusUnauthorized, "not a valid, active management key"},
		{"kwm_nonsense", http.StatusUnauthorized, "not a valid, active management key"},
		{apiTok.Reveal(), http.StatusForbidden, "API key"},
	} {
		p := b.post("/sign-in", url.Values{"key": {c.key}}).is(t, c.status)
		if got := p.errorOf("key"); !strings.Contains(got, c.msg) {
			t.Errorf("key %q: #key-error %q, want %q", c.key, got, c.msg)
		}
		if c.key != "" {
			p.lacks(t, c.key) // the form comes back empty
		}
	}
	if strings.Contains(s.logs.String(), apiTok.Reveal()) {
		t.Error("a key sent to the sign-in form is in the log")
	}
	// Without the form's CSRF token, nothing is tried.
	b.post("/sign-in", url.Values{"key": {s.srv.OperatorKey.Reveal()}, "csrf": {""}}).is(t, http.StatusForbidden)
	b.get("/").redirects(t, "/sign-in")
}

func TestSignInLockout(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{lockout: &khttp.LockoutPolicy{Threshold: 3, Window: time.Hour, Duration: time.Hour}})
	b := s.browser()
	b.get("/sign-in")
	for range 3 {
		b.post("/sign-in", url.Values{"key": {"kwm_guess"}}).is(t, http.StatusUnauthorized)
	}
	// Locked: the right key is refused too, with the reason next to it.
	p := b.post("/sign-in", url.Values{"key": {s.srv.OperatorKey.Reveal()}}).is(t, http.StatusTooManyRequests)
	if got := p.errorOf("key"); !strings.Contains(got, "too many failed authentications") {
		t.Errorf("#key-error %q", got)
	}
	if p.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	b.get("/").redirects(t, "/sign-in")
	// The lockout is the API's: the address is locked there too.
	req, _ := http.NewRequest("GET", s.srv.URL+"/v1/keys", nil)
	req.Header.Set("Authorization", "Bearer "+s.srv.OperatorKey.Reveal())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("API after dashboard failures: %d, want 429", res.StatusCode)
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	b := s.browser()
	b.signIn(s.srv.OperatorKey)
	other := s.browser()
	other.signIn(s.srv.OperatorKey)

	for _, c := range []struct{ name, csrf string }{
		{"none", ""},
		{"forged", "AAAA"},
		{"another session's", other.csrf},
	} {
		p := b.post("/sign-out", url.Values{"csrf": {c.csrf}}).is(t, http.StatusForbidden)
		checkHeaders(t, "refused POST", p)
		// Nothing changed: still signed in.
		b.get("/").is(t, http.StatusOK)
	}
}

func TestSessionEndsWithItsKey(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	ctx := context.Background()
	for _, change := range []struct {
		name string
		do   func(id string) error
	}{
		{"disabled", func(id string) error {
			_, err := s.srv.Service.UpdateKey(ctx, s.system(), keyward.KindManagement, id,
				&keyward.KeyFields{Status: keyward.Some(keyward.StatusDisabled)}, "")
			return err
		}},
		{"revoked", func(id string) error {
			_, err := s.srv.Service.UpdateKey(ctx, s.system(), keyward.KindManagement, id,
				&keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)}, "")
			return err
		}},
		{"deleted", func(id string) error {
			return s.srv.Service.DeleteKey(ctx, s.system(), keyward.KindManagement, id, "")
		}},
		{"rotated", func(id string) error {
			_, _, err := s.srv.Service.RotateKey(ctx, s.system(), keyward.KindManagement, id, 0, keyward.Field[time.Time]{}, "")
			return err
		}},
		{"restricted to another address", func(id string) error {
			_, err := s.srv.Service.UpdateKey(ctx, s.system(), keyward.KindManagement, id,
				&keyward.KeyFields{IPAllowlist: keyward.Some([]string{"203.0.113.0/24"})}, "")
			return err
		}},
	} {
		t.Run(change.name, func(t *testing.T) {
			k, tok := s.managementKey("ui "+change.name, keyward.PermKeysRead)
			b := s.browser()
			b.signIn(tok)
			b.get("/").is(t, http.StatusOK)
			if err := change.do(k.ID); err != nil {
				t.Fatal(err)
			}
			b.get("/").redirects(t, "/sign-in")
			// Over: making the key usable again does not bring it back.
			b.get("/").redirects(t, "/sign-in")
		})
	}
}

// clock is a clock a test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestSessionTimeouts(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Now()}
	s := startSite(t, siteOptions{ui: ui.Options{IdleTimeout: 30 * time.Minute, MaxAge: 2 * time.Hour, Clock: clk.Now}})

	idle := s.browser()
	idle.signIn(s.srv.OperatorKey)
	busy := s.browser()
	busy.signIn(s.srv.OperatorKey)
	for range 3 {
		clk.add(29 * time.Minute)
		busy.get("/").is(t, http.StatusOK)
	}
	// idle has not been used for 87 minutes.
	idle.get("/").redirects(t, "/sign-in")
	// busy was used every 29 minutes, but 2 hours after sign-in it ends.
	clk.add(29 * time.Minute)
	busy.get("/").is(t, http.StatusOK)
	clk.add(5 * time.Minute)
	busy.get("/").redirects(t, "/sign-in")
}

func TestSecureCookie(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	// The same server over TLS: the cookie is Secure.
	ts := httptest.NewTLSServer(s.srv.HTTP)
	defer ts.Close()
	res, err := ts.Client().Get(ts.URL + "/sign-in")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if c := res.Header.Get("Set-Cookie"); !strings.Contains(c, "Secure") || !strings.Contains(c, "HttpOnly") {
		t.Errorf("over TLS the cookie is %q, want Secure and HttpOnly", c)
	}
	// Behind a proxy that terminates TLS: SecureCookies.
	s2 := startSite(t, siteOptions{ui: ui.Options{SecureCookies: true}})
	b := s2.browser()
	if c := b.get("/sign-in").header.Get("Set-Cookie"); !strings.Contains(c, "Secure") {
		t.Errorf("with SecureCookies the cookie is %q", c)
	}
}

func TestAPIPathsStayTheAPIs(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	for _, path := range []string{"/v1/nope", "/v1", "/compat/nope/x"} {
		res, err := http.Get(s.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var p map[string]any
		err = json.NewDecoder(res.Body).Decode(&p)
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound || err != nil || !strings.Contains(res.Header.Get("Content-Type"), "problem+json") {
			t.Errorf("GET %s: %d %s (%v), want the API's 404 problem", path, res.StatusCode, res.Header.Get("Content-Type"), err)
		}
	}
	res, err := http.Get(s.srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", res.StatusCode)
	}
	// An unknown page is the dashboard's 404 page.
	b := s.browser()
	p := b.get("/no/such/page").is(t, http.StatusNotFound)
	checkHeaders(t, "404 page", p)
	if !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		t.Errorf("404 page is %s", p.header.Get("Content-Type"))
	}

	// Without the dashboard, / is the API's 404.
	bare := keywardtest.Start(t, keywardtest.Options{})
	res, err = http.Get(bare.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || !strings.Contains(res.Header.Get("Content-Type"), "problem+json") {
		t.Errorf("GET / without the dashboard: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

func TestStaticFiles(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	b := s.browser()
	p := b.get("/sign-in")
	for _, name := range []string{"app.css", "app.js"} {
		i := strings.Index(p.body, "/static/"+name+"?v=")
		if i < 0 {
			t.Fatalf("the page does not link %s", name)
		}
		link := p.body[i:]
		link = link[:strings.IndexByte(link, '"')]
		f := b.get(link).is(t, http.StatusOK)
		if cc := f.header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q", link, cc)
		}
		if f.header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: no CSP", link)
		}
	}
	b.get("/static/nope.js").is(t, http.StatusNotFound)
}

func TestAccountBoundKey(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	other, _ := s.account("other")
	_, tok := s.managementKey("bound", keyward.PermKeysRead)
	b := s.browser()
	b.signIn(tok)
	home := b.get("/").is(t, http.StatusOK)
	home.lacks(t, `id="account-switch"`, other.ID)
	// Forcing a switch is refused and changes nothing.
	b.post("/account", url.Values{"account": {other.ID}}).is(t, http.StatusForbidden)
	b.get("/").is(t, http.StatusOK).lacks(t, other.ID)

	// An operator switches.
	op := s.browser()
	op.signIn(s.srv.OperatorKey)
	op.get("/").has(t, `<option value="`+other.ID+`"`)
	op.post("/account", url.Values{"account": {other.ID}}).redirects(t, "/")
	op.get("/").has(t, `<option value="`+other.ID+`" selected>`)
	op.post("/account", url.Values{"account": {"acct_01J00000000000000000000000"}}).is(t, http.StatusNotFound)
}

// An operator may delete the account default: the dashboard still signs
// the operator key in, on another account, and a session whose account is
// deleted under it moves to another one. Before, sign-in answered "there
// is no default account: send X-Account-Id" and no page could be opened.
func TestOperatorWithoutDefaultAccount(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	ctx := context.Background()
	first, _ := s.account("first")
	second, _ := s.account("second")
	op := s.srv.Actor(t, s.srv.OperatorKey)

	// A session on the account default when it is deleted.
	before := s.browser()
	before.signIn(s.srv.OperatorKey)
	if err := s.srv.Service.DeleteAccount(ctx, op, op.AccountID, ""); err != nil {
		t.Fatal(err)
	}
	before.get("/").is(t, http.StatusOK).has(t, `<option value="`+second.ID+`" selected>`)

	// Sign-in with no default account.
	b := s.browser()
	b.signIn(s.srv.OperatorKey)
	b.get("/").is(t, http.StatusOK).has(t, `<option value="`+second.ID+`" selected>`, `<option value="`+first.ID+`"`)
	b.get("/keys").is(t, http.StatusOK)
	b.post("/account", url.Values{"account": {first.ID}}).redirects(t, "/")
	b.get("/").has(t, `<option value="`+first.ID+`" selected>`)

	// The account switched to is deleted: on to the one left.
	all := s.srv.Actor(t, s.srv.OperatorKey)
	all.AccountID = ""
	if err := s.srv.Service.DeleteAccount(ctx, all, first.ID, ""); err != nil {
		t.Fatal(err)
	}
	b.get("/").is(t, http.StatusOK).has(t, `<option value="`+second.ID+`" selected>`)

	// No account at all: signed in, and told how to make one.
	if err := s.srv.Service.DeleteAccount(ctx, all, second.ID, ""); err != nil {
		t.Fatal(err)
	}
	b.get("/").is(t, http.StatusNotFound).has(t, "there is no account: create one")
	fresh := s.browser()
	fresh.get("/sign-in")
	fresh.post("/sign-in", url.Values{"key": {s.srv.OperatorKey.Reveal()}}).redirects(t, "/")
}

package ui_test

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/ui"
)

// site is a keyward server with the dashboard, on a new database (SQLite,
// or PostgreSQL with KEYWARD_TEST_STORE=postgres), whose log lines the
// test can read.
type site struct {
	t    *testing.T
	srv  *keywardtest.Server
	logs *keywardtest.Logs
}

// siteOptions change the server a test starts.
type siteOptions struct {
	lockout *khttp.LockoutPolicy
	ui      ui.Options
}

func startSite(t *testing.T, o siteOptions) *site {
	t.Helper()
	logs := &keywardtest.Logs{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.ui.Logger = log
	if o.ui.BusiestKeysWait == 0 {
		// Tests that read the overview's busiest keys wait for them,
		// however loaded the machine (-race, parallel packages);
		// TestBusiestKeysDeferred sets its own.
		o.ui.BusiestKeysWait = time.Minute
	}
	srv := keywardtest.Start(t, keywardtest.Options{
		Store:   keywardtest.StoreFromEnv(t),
		HTTP:    khttp.Options{Logger: log, Lockout: o.lockout},
		Service: service.Options{Logger: log, UsageFlushInterval: 20 * time.Millisecond},
		Mount:   func(h *khttp.Server, svc *service.Service) { ui.Mount(h, svc, o.ui) },
	})
	return &site{t: t, srv: srv, logs: logs}
}

// system returns keyward's own actor on the default account, to set up
// what a test needs without going through the pages.
func (s *site) system() *keyward.Actor {
	s.t.Helper()
	a, err := s.srv.Service.SystemActor(context.Background(), "default", "req_test")
	if err != nil {
		s.t.Fatal(err)
	}
	return a
}

// managementKey creates a management key of the default account with
// perms.
func (s *site) managementKey(name string, perms ...string) (*keyward.Key, keyward.Token) {
	s.t.Helper()
	k, tok, err := s.srv.Service.CreateKey(context.Background(), s.system(), keyward.KindManagement,
		&keyward.KeyFields{Name: keyward.Some(name), Permissions: keyward.Some(perms)})
	if err != nil {
		s.t.Fatal(err)
	}
	return k, tok
}

// apiKey creates an API key of the default account.
func (s *site) apiKey(in *keyward.KeyFields) *keyward.Key {
	s.t.Helper()
	k, _, err := s.srv.Service.CreateKey(context.Background(), s.system(), keyward.KindAPI, in)
	if err != nil {
		s.t.Fatal(err)
	}
	return k
}

// account creates another account, and returns it with keyward's own
// actor on it.
func (s *site) account(name string) (*keyward.Account, *keyward.Actor) {
	s.t.Helper()
	ctx := context.Background()
	acct, err := s.srv.Service.CreateAccount(ctx, &keyward.Actor{}, &keyward.AccountFields{Name: keyward.Some(name)})
	if err != nil {
		s.t.Fatal(err)
	}
	sys, err := s.srv.Service.SystemActor(ctx, acct.ID, "req_test")
	if err != nil {
		s.t.Fatal(err)
	}
	return acct, sys
}

// key reads a key of the default account as it is now.
func (s *site) key(id string) *keyward.Key {
	s.t.Helper()
	k, err := s.srv.Service.GetKey(context.Background(), s.system(), keyward.KindAPI, id)
	if err != nil {
		s.t.Fatal(err)
	}
	return k
}

// browser is a client that keeps cookies and does not follow redirects,
// as a test must see each answer.
type browser struct {
	t    *testing.T
	site *site
	c    *http.Client
	// csrf is the CSRF token of the last page that had one.
	csrf string
}

func (s *site) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: s.t, site: s, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is an answer of the dashboard.
type page struct {
	status int
	header http.Header
	body   string
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	p := &page{status: res.StatusCode, header: res.Header, body: string(body)}
	if m := csrfInput.FindStringSubmatch(p.body); m != nil {
		b.csrf = m[1]
	}
	return p
}

func (b *browser) get(path string) *page {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.site.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post posts a form with the CSRF token of the last page, unless the
// form carries its own "csrf" (an empty one sends none).
func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	} else if form.Get("csrf") == "" {
		form.Del("csrf")
	}
	req, err := http.NewRequest("POST", b.site.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// signIn signs in with tok and fails the test unless it works.
func (b *browser) signIn(tok keyward.Token) {
	b.t.Helper()
	b.get("/sign-in")
	p := b.post("/sign-in", url.Values{"key": {tok.Reveal()}})
	p.redirects(b.t, "/")
	b.get("/") // the session's CSRF token
}

// redirects fails the test unless p is a 303 to path.
func (p *page) redirects(t *testing.T, path string) {
	t.Helper()
	if p.status != http.StatusSeeOther || p.header.Get("Location") != path {
		t.Fatalf("got %d to %q, want 303 to %s\n%s", p.status, p.header.Get("Location"), path, p.body)
	}
}

// is fails the test unless p has status.
func (p *page) is(t *testing.T, status int) *page {
	t.Helper()
	if p.status != status {
		t.Fatalf("got %d, want %d\n%s", p.status, status, p.body)
	}
	return p
}

// has fails the test unless the page holds every fragment.
func (p *page) has(t *testing.T, fragments ...string) *page {
	t.Helper()
	for _, f := range fragments {
		if !strings.Contains(p.body, f) {
			t.Errorf("page lacks %q\n%s", f, p.body)
		}
	}
	return p
}

// lacks fails the test if the page holds any of the fragments.
func (p *page) lacks(t *testing.T, fragments ...string) *page {
	t.Helper()
	for _, f := range fragments {
		if strings.Contains(p.body, f) {
			t.Errorf("page holds %q\n%s", f, p.body)
		}
	}
	return p
}

// errorOf returns the text of the element #<field>-error.
func (p *page) errorOf(field string) string {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(field) + `-error"[^>]*>([^<]*)<`).FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return m[1]
}

// verify verifies tok as a service would, from 127.0.0.1, and returns
// the outcome.
func (s *site) verify(tok keyward.Token) keyward.VerifyCode {
	s.t.Helper()
	ip := "127.0.0.1"
	res, err := s.srv.Service.Verify(context.Background(), s.system(), &keyward.VerifyRequest{Key: keyward.Some(tok), IP: &ip})
	if err != nil {
		s.t.Fatal(err)
	}
	return res.Code
}

// resource adds a readable and writable resource to the default
// account's catalog.
func (s *site) resource(id string) {
	s.t.Helper()
	if _, _, err := s.srv.Service.PutResource(context.Background(), s.system(), id,
		&keyward.ResourceFields{DisplayName: keyward.Some(id), Readable: keyward.Some(true), Writable: keyward.Some(true)}); err != nil {
		s.t.Fatal(err)
	}
}

// keyCount returns how many API keys the default account has.
func (s *site) keyCount() int {
	s.t.Helper()
	keys, _, err := s.srv.Service.ListKeys(context.Background(), s.system(), keyward.KindAPI, keyward.KeyFilter{Page: keyward.Page{Limit: keyward.MaxPageLimit}})
	if err != nil {
		s.t.Fatal(err)
	}
	return len(keys)
}

var rowID = regexp.MustCompile(`<tr data-key-id="(key_[^"]+)"`)

// keyRows returns the ids of the rows of table#keys, in order.
func (p *page) keyRows() []string {
	i := strings.Index(p.body, `<table id="keys">`)
	if i < 0 {
		return nil
	}
	var ids []string
	for _, m := range rowID.FindAllStringSubmatch(p.body[i:], -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// secret returns the text of #secret, "" when the page shows none.
func (p *page) secret() string {
	m := regexp.MustCompile(`<code id="secret">([^<]+)</code>`).FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

package browser

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/ui"
)

// startKeyward starts keyward with the dashboard for t, on the store
// KEYWARD_TEST_STORE names (SQLite by default, PostgreSQL with
// "postgres"), with the options o (their Store and Mount are set here),
// and stops it when t ends.
func startKeyward(t *testing.T, o keywardtest.Options) *keywardtest.Server {
	t.Helper()
	o.Store = keywardtest.StoreFromEnv(t)
	o.Mount = func(srv *khttp.Server, svc *service.Service) {
		ui.Mount(srv, svc, ui.Options{BusiestKeysWait: time.Minute})
	}
	return keywardtest.Start(t, o)
}

// path is the path of the tab's URL.
func (tb *tab) path() string {
	tb.t.Helper()
	u, err := url.Parse(tb.location())
	if err != nil {
		tb.t.Fatal(err)
	}
	return u.Path
}

// signIn signs in at base with the management key tok, through the
// sign-in form, and fails the test unless it lands on the overview.
func (tb *tab) signIn(base string, tok keyward.Token) {
	tb.t.Helper()
	if status := tb.open(base + "/sign-in"); status != 200 {
		tb.t.Fatalf("GET /sign-in: %d", status)
	}
	tb.fill("form#sign-in input#key", tok.Reveal())
	tb.follow("form#sign-in [type=submit]")
	if p := tb.path(); p != "/" {
		tb.t.Fatalf("signed in, the browser is at %s, want /", p)
	}
	if !tb.has("nav#nav") || !tb.has("form#sign-out") {
		tb.t.Fatal("signed in, the overview has no nav#nav or form#sign-out")
	}
}

// fill replaces the value of the form control sel (CSS) with value, as
// a person typing it would.
func (tb *tab) fill(sel, value string) {
	tb.t.Helper()
	tb.need(sel)
	// chromedp.Clear fails on an empty textarea: empty it in the page.
	tb.eval(fmt.Sprintf("document.querySelector(%s).value = ''", jsString(sel)), nil)
	if value != "" {
		tb.do(chromedp.SendKeys(chromedp.CSS(sel), value))
	}
}

// click clicks the element sel (CSS), a link or a form's button, and
// returns the status of the page the browser lands on.
func (tb *tab) click(sel string) int64 {
	tb.t.Helper()
	tb.need(sel)
	return tb.submit(chromedp.Click(chromedp.CSS(sel)))
}

// follow clicks the element sel (CSS), a link or a form's button, and
// fails the test unless the page it lands on answered 200.
func (tb *tab) follow(sel string) {
	tb.t.Helper()
	if status := tb.click(sel); status != 200 {
		tb.t.Fatalf("%s: the page answered %d (at %s)", sel, status, tb.location())
	}
}

// keyID returns the key id of a key page's URL, /keys/<id>.
func (tb *tab) keyID() string {
	tb.t.Helper()
	p := tb.path()
	id, ok := strings.CutPrefix(p, "/keys/")
	if !ok || id == "" || strings.Contains(id, "/") {
		tb.t.Fatalf("the browser is at %s, not at a key's page", p)
	}
	return id
}

// setStatus opens the key id's page at base, follows its link
// a#<action> (disable, enable, revoke) and confirms, failing the test
// unless #key-status then shows status.
func (tb *tab) setStatus(base, id, action string, status keyward.KeyStatus) {
	tb.t.Helper()
	tb.open(base + "/keys/" + id)
	tb.confirm(action)
	if got := tb.text("#key-status"); !strings.Contains(strings.ToLower(got), string(status)) {
		tb.t.Errorf("#key-status after %s: %q, want %s", action, got, status)
	}
}

// confirm follows the key page's link a#<action> to its confirmation
// page and confirms, failing the test unless it lands back on the key's
// page (or on /keys for delete).
func (tb *tab) confirm(action string) {
	tb.t.Helper()
	id := tb.keyID()
	tb.follow("a#" + action)
	if want := "/keys/" + id + "/" + action; tb.path() != want {
		tb.t.Fatalf("a#%s led to %s, want %s", action, tb.path(), want)
	}
	tb.follow("form#confirm button#confirm")
	want := "/keys/" + id
	if action == "delete" {
		want = "/keys"
	}
	if p := tb.path(); p != want {
		tb.t.Fatalf("confirmed %s, the browser is at %s, want %s", action, p, want)
	}
}

// verify verifies tok through the API (POST /v1/keys/verify, with the
// operator key) with the permission query perms ("" for none) and
// returns the answer's code.
func verify(t *testing.T, s *keywardtest.Server, tok string, perms string) keyward.VerifyCode {
	t.Helper()
	in := &keyward.VerifyRequest{Key: keyward.Some(keyward.TokenFromString(tok))}
	if perms != "" {
		in.Permissions = &perms
	}
	res, err := s.Client.VerifyKey(context.Background(), in)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return res.Code
}

// postForm posts a form built in the page to path, with the fields
// given (name, value pairs), as a browser would submit a form the page
// did not offer, and returns the status of the answer.
func (tb *tab) postForm(path string, fields ...string) int64 {
	tb.t.Helper()
	var js strings.Builder
	fmt.Fprintf(&js, "(() => { const f = document.createElement('form'); f.method = 'post'; f.action = %s;", jsString(path))
	for i := 0; i+1 < len(fields); i += 2 {
		fmt.Fprintf(&js, " { const i = document.createElement('input'); i.type = 'hidden'; i.name = %s; i.value = %s; f.appendChild(i); }",
			jsString(fields[i]), jsString(fields[i+1]))
	}
	js.WriteString(" document.body.appendChild(f); f.submit(); })()")
	return tb.submit(chromedp.Evaluate[chromedp.Void](js.String()))
}

// sessionCookie is the dashboard's session cookie.
const sessionCookie = "keyward_session"

// cookie returns the tab's cookie name for its current URL, nil if it has
// none.
func (tb *tab) cookie(name string) *network.Cookie {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		tb.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// setCookie puts c back into the tab's cookies, for the URL base.
func (tb *tab) setCookie(base string, c *network.Cookie) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	_, err := chromedp.Call(ctx, network.SetCookies, network.SetCookiesParams{Cookies: []*network.CookieParam{{
		Name: c.Name, Value: c.Value, URL: base + "/", Path: c.Path, HTTPOnly: c.HTTPOnly, SameSite: c.SameSite,
	}}})
	if err != nil {
		tb.t.Fatal(err)
	}
}

// grantClipboard lets the tab's pages read and write the clipboard, as a
// person allowing it would.
func (tb *tab) grantClipboard() {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	id := chromedp.FromContext(tb.ctx).BrowserContextID
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, BrowserContextID: id,
		})
		if err != nil {
			tb.t.Fatalf("grant %s: %v", name, err)
		}
	}
}

// csrf returns the page's CSRF token: the sign-out form's, which every
// signed-in page has.
func (tb *tab) csrf() string {
	tb.t.Helper()
	var tok string
	tb.eval(`(document.querySelector('form#sign-out input[name=csrf]') || {}).value || ''`, &tok)
	if tok == "" {
		tb.t.Fatal("the page's form#sign-out has no csrf input")
	}
	return tok
}

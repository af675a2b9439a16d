package browser

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/keywardtest"
)

// TestFlows drives the dashboard as a person does, one flow per subtest,
// and checks through the API that each page did what it said. The
// subtests build on each other (the key the second creates is the one
// the next ones verify, edit, disable, rotate and revoke).
func TestFlows(t *testing.T) {
	b := newBrowser(t)
	s := startKeyward(t, keywardtest.Options{})
	ctx := context.Background()
	main := b.newTab(t)

	t.Run("sign in", func(t *testing.T) {
		tb := main.on(t)
		tb.open(s.URL + "/")
		if p := tb.path(); p != "/sign-in" {
			t.Fatalf("signed out, / led to %s, want /sign-in", p)
		}
		// A wrong key: the form again, the error next to the field.
		tb.fill("form#sign-in input#key", "kwm_not_a_key")
		if status := tb.click("form#sign-in [type=submit]"); status < 400 {
			t.Errorf("a wrong key: %d, want a 4xx", status)
		}
		if msg := tb.text("#key-error"); msg == "" {
			t.Error("a wrong key: #key-error is empty")
		}
		if tb.has("nav#nav") {
			t.Error("a wrong key signed in")
		}
		tb.signIn(s.URL, s.OperatorKey)
		c := tb.cookie(sessionCookie)
		switch {
		case c == nil:
			t.Fatalf("signed in, the browser has no %s cookie", sessionCookie)
		case !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/" || c.Secure:
			t.Errorf("the session cookie: HttpOnly %v, SameSite %q, Path %q, Secure %v; want HttpOnly, Strict, /, not Secure over http",
				c.HTTPOnly, c.SameSite, c.Path, c.Secure)
		case strings.Contains(c.Value, s.OperatorKey.Reveal()):
			t.Error("the session cookie holds the management key")
		}
		var html string
		tb.eval("document.documentElement.outerHTML", &html)
		if strings.Contains(html, s.OperatorKey.Reveal()) {
			t.Error("the page shows the management key it was signed in with")
		}
	})

	var id, secret string
	t.Run("create a key and read its secret once", func(t *testing.T) {
		tb := main.on(t)
		tb.open(s.URL + "/keys/new")
		tb.fill("form#key-form [name=name]", "browser test key")
		tb.fill("form#key-form [name=scopes]", "documents:read\nfiles:write")
		tb.follow("form#key-form [type=submit]")
		id = tb.keyID()
		secret = tb.text("#secret")
		if !strings.HasPrefix(secret, "kw_") {
			t.Fatalf("#secret is %q, want a kw_ token", shortText(secret, 20))
		}
		// The copy button (the dashboard's one script, under its CSP)
		// puts the secret on the clipboard.
		tb.grantClipboard()
		tb.need("button#copy-secret")
		tb.do(chromedp.Click(chromedp.CSS("button#copy-secret")))
		var copied string
		tb.eval(`new Promise((ok, fail) => {
			const b = document.querySelector('button#copy-secret');
			const t = setInterval(() => { if (b.textContent.trim() === 'Copied') { clearInterval(t); ok(); } }, 20);
			setTimeout(() => { clearInterval(t); fail(new Error('the button never says Copied: ' + b.textContent)); }, 10000);
		}).then(() => navigator.clipboard.readText())`, &copied)
		if copied != secret {
			t.Errorf("button#copy-secret copied %q, want the secret", shortText(copied, 20))
		}
		if got := tb.text("#key-name"); got != "browser test key" {
			t.Errorf("#key-name: %q", got)
		}
		tb.open(s.URL + "/keys/" + id)
		if tb.has("#secret") {
			t.Error("reloaded, the key's page still shows #secret")
		}
		var html string
		tb.eval("document.documentElement.outerHTML", &html)
		if strings.Contains(html, secret) {
			t.Error("reloaded, the key's page still holds the secret")
		}
	})
	// The next flows work on that key: without it (the subtest failed, or
	// -run left it out) they have nothing to do.
	needKey := func(t *testing.T) {
		t.Helper()
		if id == "" {
			t.Skip("no key was created by the subtest \"create a key and read its secret once\"")
		}
	}

	t.Run("verify through the API", func(t *testing.T) {
		needKey(t)
		if c := verify(t, s, secret, "documents:read AND files:write"); c != keyward.VerifyValid {
			t.Errorf("the new key verifies as %s, want VALID", c)
		}
	})

	t.Run("edit scopes", func(t *testing.T) {
		needKey(t)
		tb := main.on(t)
		tb.open(s.URL + "/keys/" + id)
		tb.follow("a#edit")
		var scopes string
		tb.eval(`document.querySelector('form#key-form [name=scopes]').value`, &scopes)
		if !strings.Contains(scopes, "documents:read") || !strings.Contains(scopes, "files:write") {
			t.Errorf("the edit form's scopes are %q, want the key's", scopes)
		}
		tb.fill("form#key-form [name=scopes]", "documents:read")
		tb.follow("form#key-form [type=submit]")
		if p := tb.path(); p != "/keys/"+id {
			t.Fatalf("saved, the browser is at %s", p)
		}
		if got := tb.text("#scopes"); strings.Contains(got, "files") {
			t.Errorf("#scopes still names files: %q", got)
		}
		if c := verify(t, s, secret, "files:write"); c != keyward.VerifyInsufficientPermissions {
			t.Errorf("files:write after the edit: %s, want INSUFFICIENT_PERMISSIONS", c)
		}
		if c := verify(t, s, secret, "documents:read"); c != keyward.VerifyValid {
			t.Errorf("documents:read after the edit: %s, want VALID", c)
		}
	})

	t.Run("disable and enable", func(t *testing.T) {
		needKey(t)
		tb := main.on(t)
		tb.setStatus(s.URL, id, "disable", keyward.StatusDisabled)
		if c := verify(t, s, secret, ""); c != keyward.VerifyDisabled {
			t.Errorf("disabled in the page, the API answers %s, want DISABLED", c)
		}
		if tb.has("a#disable") {
			t.Error("a disabled key offers a#disable")
		}
		tb.setStatus(s.URL, id, "enable", keyward.StatusActive)
		if c := verify(t, s, secret, ""); c != keyward.VerifyValid {
			t.Errorf("enabled again, the API answers %s, want VALID", c)
		}
	})

	t.Run("a form without its CSRF token is refused", func(t *testing.T) {
		needKey(t)
		tb := main.on(t)
		tb.open(s.URL + "/keys/" + id + "/edit")
		tb.fill("form#key-form [name=name]", "renamed without a token")
		tb.eval(`document.querySelectorAll('form#key-form input[name=csrf]').forEach(e => e.remove())`, nil)
		if status := tb.click("form#key-form [type=submit]"); status != 403 {
			t.Errorf("an edit without a csrf field: %d, want 403", status)
		}
		tb.open(s.URL + "/keys/" + id + "/disable")
		tb.eval(`document.querySelector('form#confirm input[name=csrf]').value = 'x' + document.querySelector('form#confirm input[name=csrf]').value`, nil)
		if status := tb.click("form#confirm button#confirm"); status != 403 {
			t.Errorf("a disable with a wrong csrf token: %d, want 403", status)
		}
		k, err := s.Client.GetKey(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if k.Name != "browser test key" || k.Status != keyward.StatusActive {
			t.Errorf("refused forms changed the key: name %q, status %s", k.Name, k.Status)
		}
	})

	var rotated string
	t.Run("rotate with a grace period", func(t *testing.T) {
		needKey(t)
		tb := main.on(t)
		tb.open(s.URL + "/keys/" + id)
		tb.follow("a#rotate")
		tb.fill("form#rotate-form [name=grace_period]", "3600")
		tb.follow("form#rotate-form [type=submit]")
		rotated = tb.keyID()
		newSecret := tb.text("#secret")
		if !strings.HasPrefix(newSecret, "kw_") || newSecret == secret {
			t.Fatalf("the rotation's #secret is %q", shortText(newSecret, 20))
		}
		if c := verify(t, s, newSecret, "documents:read"); c != keyward.VerifyValid {
			t.Errorf("the new secret: %s, want VALID", c)
		}
		if c := verify(t, s, secret, ""); c != keyward.VerifyValid {
			t.Errorf("the old secret within its grace period: %s, want VALID", c)
		}
		tb.open(s.URL + "/keys/" + rotated)
		if tb.has("#secret") {
			t.Error("reloaded, the rotated key's page still shows #secret")
		}
		secret = newSecret
	})
	if rotated == "" {
		rotated = id
	}

	t.Run("revoke", func(t *testing.T) {
		needKey(t)
		tb := main.on(t)
		tb.setStatus(s.URL, rotated, "revoke", keyward.StatusRevoked)
		if c := verify(t, s, secret, ""); c != keyward.VerifyRevoked {
			t.Errorf("revoked in the page, the API answers %s, want REVOKED", c)
		}
		for _, a := range []string{"revoke", "disable", "enable", "rotate"} {
			if tb.has("a#" + a) {
				t.Errorf("a revoked key offers a#%s", a)
			}
		}
	})

	t.Run("the audit trail shows each change", func(t *testing.T) {
		needKey(t)
		tb := main.on(t)
		trail := map[string]string{}
		for _, k := range []string{id, rotated} {
			tb.open(s.URL + "/keys/" + k)
			trail[k] = tb.text("table#audit")
		}
		all := trail[id] + "\n" + trail[rotated]
		for _, action := range []string{keyward.ActionKeyCreated, keyward.ActionKeyUpdated, keyward.ActionKeyRotated, keyward.ActionKeyRevoked} {
			if !strings.Contains(all, action) {
				t.Errorf("the audit trails of the key do not show %s:\n%s", action, all)
			}
		}
		// The edit of the scopes, the disable and the enable: three
		// updates of the first key, none from the refused forms.
		if n := strings.Count(trail[id], keyward.ActionKeyUpdated); n != 3 {
			t.Errorf("the key's audit trail shows %d updates, want 3 (scopes, disable, enable):\n%s", n, trail[id])
		}
	})

	t.Run("delete", func(t *testing.T) {
		needKey(t)
		tb := main.on(t)
		tb.open(s.URL + "/keys/" + id)
		tb.confirm("delete")
		if tb.has(fmt.Sprintf(`table#keys tr[data-key-id="%s"]`, id)) {
			t.Error("deleted, the key is still listed")
		}
		if _, err := s.Client.GetKey(ctx, id); keyward.ErrorCode(err) != keyward.ECodeNotFound {
			t.Errorf("deleted in the page, GET /v1/keys/<id> answers %v, want not_found", err)
		}
	})

	t.Run("operator switches accounts", func(t *testing.T) {
		acc, err := s.Client.CreateAccount(ctx, &keyward.AccountFields{Name: keyward.Some("Second account")})
		if err != nil {
			t.Fatal(err)
		}
		other, err := s.Client.With(client.WithAccountID(acc.ID))
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := other.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("a key of the second account")})
		if err != nil {
			t.Fatal(err)
		}
		tb := main.on(t)
		tb.open(s.URL + "/keys")
		if tb.has(fmt.Sprintf(`tr[data-key-id="%s"]`, theirs.ID)) {
			t.Fatal("the default account's list shows the second account's key")
		}
		tb.need(fmt.Sprintf(`form#account-switch select[name=account] option[value="%s"]`, acc.ID))
		var home string
		tb.eval(`document.querySelector('form#account-switch select[name=account]').value`, &home)
		switchTo := func(account string) {
			tb.eval(fmt.Sprintf(`document.querySelector('form#account-switch select[name=account]').value = %s`, jsString(account)), nil)
			tb.follow("form#account-switch [type=submit]")
		}
		switchTo(acc.ID)
		tb.open(s.URL + "/keys")
		if !tb.has(fmt.Sprintf(`table#keys tr[data-key-id="%s"]`, theirs.ID)) {
			t.Error("switched to the second account, /keys does not list its key")
		}
		if status := tb.open(s.URL + "/keys/" + theirs.ID); status != 200 {
			t.Errorf("switched to the second account, its key's page answers %d", status)
		}
		// Back to the default account for the flows that follow.
		switchTo(home)
		tb.open(s.URL + "/keys")
		if tb.has(fmt.Sprintf(`tr[data-key-id="%s"]`, theirs.ID)) {
			t.Error("switched back, the list still shows the second account's key")
		}
	})

	t.Run("keyboard only", func(t *testing.T) {
		tb := b.newTab(t)
		tb.open(s.URL + "/sign-in")
		tb.tabTo("input#key", 10)
		tb.keys(s.OperatorKey.Reveal())
		tb.submit(chromedp.KeyEvent(kb.Enter))
		if p := tb.path(); p != "/" {
			t.Fatalf("signed in by keyboard, the browser is at %s, want /", p)
		}
		tb.tabTo(`a[href="/keys"]`, 20)
		tb.submit(chromedp.KeyEvent(kb.Enter))
		tb.tabTo(`a[href="/keys/new"]`, 40)
		tb.submit(chromedp.KeyEvent(kb.Enter))
		if p := tb.path(); p != "/keys/new" {
			t.Fatalf("Enter on the new key link: at %s", p)
		}
		tb.tabTo("form#key-form [name=name]", 40)
		tb.keys("keyboard key")
		tb.tabTo("form#key-form [name=scopes]", 20)
		tb.keys("documents:read")
		tb.tabTo("form#key-form [type=submit]", 40)
		tb.submit(chromedp.KeyEvent(kb.Enter))
		kid := tb.keyID()
		sec := tb.text("#secret")
		if c := verify(t, s, sec, "documents:read"); c != keyward.VerifyValid {
			t.Errorf("the key made by keyboard verifies as %s", c)
		}
		k, err := s.Client.GetKey(ctx, kid)
		if err != nil {
			t.Fatal(err)
		}
		if k.Name != "keyboard key" {
			t.Errorf("the key made by keyboard is named %q", k.Name)
		}
	})

	t.Run("revoking the signed-in key ends the session", func(t *testing.T) {
		mk := s.CreateManagementKey(t, &keyward.KeyFields{
			Name:        keyward.Some("signed in, then revoked"),
			Permissions: keyward.Some([]string{keyward.PermKeysRead, keyward.PermKeysWrite}),
		})
		tb := b.newTab(t)
		tb.signIn(s.URL, mk.Secret)
		if status := tb.open(s.URL + "/"); status != 200 || tb.path() != "/" {
			t.Fatalf("signed in, /: %d at %s", status, tb.path())
		}
		if _, err := s.Client.UpdateManagementKey(ctx, mk.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)}); err != nil {
			t.Fatal(err)
		}
		tb.open(s.URL + "/")
		if p := tb.path(); p != "/sign-in" {
			t.Errorf("the key revoked, / led to %s, want /sign-in", p)
		}
		if tb.has("nav#nav") {
			t.Error("the key revoked, the page still shows the signed-in layout")
		}
	})

	t.Run("sign out", func(t *testing.T) {
		tb := main.on(t)
		tb.open(s.URL + "/")
		session := tb.cookie(sessionCookie)
		if session == nil {
			t.Fatalf("signed in, the browser has no %s cookie", sessionCookie)
		}
		tb.follow("form#sign-out [type=submit]")
		if p := tb.path(); p != "/sign-in" {
			t.Errorf("signed out, the browser is at %s, want /sign-in", p)
		}
		tb.open(s.URL + "/")
		if p := tb.path(); p != "/sign-in" {
			t.Errorf("signed out, / led to %s, want /sign-in", p)
		}
		// The session ended on the server, not only in this browser: its
		// cookie, sent again, signs nobody in.
		tb.setCookie(s.URL, session)
		if c := tb.cookie(sessionCookie); c == nil || c.Value != session.Value {
			t.Fatal("the old session cookie could not be put back")
		}
		tb.open(s.URL + "/")
		if p := tb.path(); p != "/sign-in" || tb.has("nav#nav") {
			t.Errorf("signed out, the old session cookie still opens / (at %s)", p)
		}
	})
}

// lists are the dashboard's list pages besides the keys'.
var lists = []string{"management-keys", "users", "service-accounts", "roles", "catalog", "projects", "audit"}

// TestLimitedKey signs in with an account-bound management key that may
// read keys, projects and members but change nothing: the pages offer none
// of the changes, the pages it may not read are not in the navigation and
// refused if opened, and a change posted all the same (with a valid CSRF
// token) is refused and changes nothing.
func TestLimitedKey(t *testing.T) {
	b := newBrowser(t)
	s := startKeyward(t, keywardtest.Options{})
	ctx := context.Background()
	k := s.CreateKey(t, &keyward.KeyFields{Name: keyward.Some("someone else's key")})
	fixture(t, s)
	mk := s.CreateManagementKey(t, &keyward.KeyFields{
		Name:        keyward.Some("reader"),
		Permissions: keyward.Some([]string{keyward.PermKeysRead, keyward.PermMembersRead}),
	})
	tb := b.newTab(t)
	tb.signIn(s.URL, mk.Secret)

	tb.open(s.URL + "/keys/" + k.ID)
	if got := tb.text("#key-name"); got != "someone else's key" {
		t.Fatalf("#key-name: %q", got)
	}
	for _, a := range []string{"edit", "rotate", "delete", "disable", "enable", "revoke"} {
		if tb.has("a#" + a) {
			t.Errorf("a key that may only read keys is offered a#%s", a)
		}
	}
	tb.open(s.URL + "/keys")
	if tb.has(`a[href="/keys/new"]`) {
		t.Error("a key that may only read keys is offered a link to create one")
	}
	if tb.has("form#account-switch") {
		t.Error("an account-bound key is offered form#account-switch")
	}

	tok := tb.csrf()
	for _, action := range []string{"revoke", "disable", "delete"} {
		if status := tb.postForm("/keys/"+k.ID+"/"+action, "csrf", tok); status != 403 {
			t.Errorf("a forced POST /keys/<id>/%s: %d, want 403", action, status)
		}
		tb.open(s.URL + "/keys")
	}
	if status := tb.postForm("/keys", "csrf", tok, "name", "forced", "scopes", "documents:read"); status != 403 {
		t.Errorf("a forced POST /keys: %d, want 403", status)
	}
	got, err := s.Client.GetKey(ctx, k.ID)
	if err != nil {
		t.Fatalf("the key after the forced posts: %v", err)
	}
	if got.Status != keyward.StatusActive {
		t.Errorf("the forced posts changed the key's status to %s", got.Status)
	}
	if c := verify(t, s, k.Secret.Reveal(), ""); c != keyward.VerifyValid {
		t.Errorf("the key after the forced posts verifies as %s", c)
	}
	page, err := s.Client.ListKeys(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range page.Data {
		if x.Name == "forced" {
			t.Error("a forced POST /keys created a key")
		}
	}

	// The other lists: readable ones offer no change, the others are
	// neither linked nor shown.
	nav := tb.links("nav#nav a")
	readable := map[string]bool{"users": true, "service-accounts": true, "roles": true, "projects": true}
	for _, kind := range lists {
		t.Run(kind, func(t *testing.T) {
			tb := tb.on(t)
			linked := slices.Contains(nav, "/"+kind)
			status := tb.open(s.URL + "/" + kind)
			if !readable[kind] {
				if linked {
					t.Errorf("nav#nav links to /%s, which the key may not read", kind)
				}
				if status != 403 {
					t.Errorf("GET /%s: %d, want 403", kind, status)
				}
				return
			}
			if !linked || status != 200 {
				t.Fatalf("/%s: linked from nav#nav %v, status %d; want a readable list", kind, linked, status)
			}
			if tb.has(fmt.Sprintf(`a[href="/%s/new"]`, kind)) {
				t.Errorf("/%s offers to create one", kind)
			}
			rows := tb.links(fmt.Sprintf("table#%s tr[data-id] a", kind))
			if len(rows) == 0 {
				t.Fatalf("/%s lists nothing: the fixture made one", kind)
			}
			tb.open(s.URL + rows[0])
			if acts := tb.links("main nav.actions a"); len(acts) != 0 {
				t.Errorf("%s offers %q", rows[0], acts)
			}
		})
	}
	if status := tb.postForm("/users", "csrf", tb.csrf(), "name", "forced", "email", "forced@example.com"); status != 403 {
		t.Errorf("a forced POST /users: %d, want 403", status)
	}
	users, err := s.Client.ListUsers(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users.Data {
		if u.Name != nil && *u.Name == "forced" {
			t.Error("a forced POST /users created a user")
		}
	}
}

package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// maxPageWeight is the most a page may transfer, document and static
// files together, headers included.
const maxPageWeight = 150_000

// page is one page of the dashboard in one state: a URL to open, or the
// steps that reach it (a form's answer cannot be opened again).
type page struct {
	name string
	path string     // GET path, answering 200
	open func(*tab) // instead of path: the steps that show the page
}

// fixture fills a server with one of each thing the pages show: keys in
// every status, with usage, a project, a user, a service account and a
// role. It returns the id of the key with every member set.
func fixture(t *testing.T, s *keywardtest.Server) string {
	t.Helper()
	ctx := context.Background()
	prj := s.CreateProject(t, "Storefront")
	// A user's roles bound what the user's keys may do.
	if _, err := s.Client.CreateRole(ctx, &keyward.RoleFields{Name: keyward.Some("editor"), Scopes: keyward.Some([]keyward.Scope{
		{Resource: "documents", Access: keyward.AccessWrite, Targets: []string{"*"}},
		{Resource: "files", Access: keyward.AccessRead, Targets: []string{"*"}},
	})}); err != nil {
		t.Fatal(err)
	}
	user, err := s.Client.CreateUser(ctx, &keyward.UserFields{Name: keyward.Some("Ada Lovelace"), Email: keyward.Some("ada@example.com"), Roles: keyward.Some([]string{"editor"})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CreateServiceAccount(ctx, &keyward.ServiceAccountFields{Name: keyward.Some("billing-worker")}); err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(3 * 24 * time.Hour).UTC().Truncate(time.Second)
	k := s.CreateKey(t, &keyward.KeyFields{
		Name:           keyward.Some("Storefront production"),
		Description:    keyward.Some("Server-side calls of the storefront"),
		Owner:          keyward.Some(keyward.Owner{Type: keyward.OwnerUser, ID: user.ID}),
		ProjectID:      keyward.Some(prj.ID),
		PermissionMode: keyward.Some(keyward.ModeRestricted),
		Scopes: keyward.Some([]keyward.Scope{
			{Resource: "documents", Access: keyward.AccessWrite, Targets: []string{"*"}},
			{Resource: "files", Access: keyward.AccessRead, Targets: []string{"file_1", "file_2"}},
		}),
		ExpiresAt:   keyward.Some(soon),
		Metadata:    keyward.Some(map[string]json.RawMessage{"tier": json.RawMessage(`"gold"`)}),
		IPAllowlist: keyward.Some([]string{"127.0.0.1/32", "10.0.0.0/8"}),
		RateLimit:   keyward.Some(keyward.RateLimit{Limit: 100, Window: 60}),
		Credits:     keyward.Some(keyward.Credits{Remaining: 5000}),
	})
	// Usage of every kind: passed, refused for its permissions, from an
	// address outside its allowlist.
	for _, v := range []struct {
		perms, ip string
		want      keyward.VerifyCode
	}{
		{"documents:read", "127.0.0.1", keyward.VerifyValid},
		{"files:read:file_1", "10.1.2.3", keyward.VerifyValid},
		{"files:write", "127.0.0.1", keyward.VerifyInsufficientPermissions},
		{"documents:read", "192.0.2.1", keyward.VerifyForbiddenIP},
	} {
		in := &keyward.VerifyRequest{Key: keyward.Some(k.Secret), Permissions: &v.perms, IP: &v.ip, ProjectID: &prj.ID}
		res, err := s.Client.VerifyKey(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if res.Code != v.want {
			t.Fatalf("fixture: %s from %s verifies as %s, want %s", v.perms, v.ip, res.Code, v.want)
		}
	}
	for _, st := range []keyward.KeyStatus{keyward.StatusDisabled, keyward.StatusRevoked} {
		other := s.CreateKey(t, &keyward.KeyFields{Name: keyward.Some("A " + string(st) + " key")})
		if _, err := s.Client.UpdateKey(ctx, other.ID, &keyward.KeyFields{Status: keyward.Some(st)}); err != nil {
			t.Fatal(err)
		}
	}
	return k.ID
}

// pages returns the dashboard's pages, signed in, for the key id.
func pages(base, id string) []page {
	ps := []page{
		{name: "overview", path: "/"},
		{name: "busiest keys", path: "/busiest-keys?range=7d"},
		{name: "keys", path: "/keys"},
		{name: "keys filtered", path: "/keys?status=active&q=Storefront"},
		{name: "key", path: "/keys/" + id},
		{name: "create", path: "/keys/new"},
		{name: "create with a field error", open: func(tb *tab) {
			tb.open(base + "/keys/new")
			tb.fill("form#key-form [name=name]", "bad scopes")
			tb.fill("form#key-form [name=scopes]", "nosuchresource:read")
			if status := tb.click("form#key-form [type=submit]"); status != 422 {
				tb.t.Errorf("a key with an unknown scope: %d, want 422", status)
			}
			if msg := tb.text("#scopes-error"); msg == "" {
				tb.t.Error("a key with an unknown scope: #scopes-error is empty")
			}
		}},
		{name: "create: the secret", open: func(tb *tab) {
			tb.open(base + "/keys/new")
			tb.fill("form#key-form [name=name]", "shown once")
			tb.fill("form#key-form [name=scopes]", "documents:read")
			tb.follow("form#key-form [type=submit]")
			if !tb.has("#secret") {
				tb.t.Error("created, the page shows no #secret")
			}
		}},
		{name: "edit", path: "/keys/" + id + "/edit"},
		{name: "rotate", path: "/keys/" + id + "/rotate"},
	}
	for _, action := range []string{"disable", "revoke", "delete"} {
		ps = append(ps, page{name: "confirm " + action, path: "/keys/" + id + "/" + action})
	}
	return ps
}

// links returns the paths the elements matching sel (CSS: links) point
// at, in the order of the page, once each.
func (tb *tab) links(sel string) []string {
	tb.t.Helper()
	var hrefs []string
	tb.eval(fmt.Sprintf(`[...new Set([...document.querySelectorAll(%s)].map(a => a.getAttribute('href')).filter(h => h && h.startsWith('/')))]`, jsString(sel)), &hrefs)
	return hrefs
}

// TestPages runs axe-core on every page of the dashboard, at 1280 and at
// 375 px wide, in light and in dark, and fails on any serious or critical
// violation; at 375 px no page may scroll sideways; and no page may
// transfer more than 150 KB. The pages are the key pages in each of their
// states, and every page the navigation links to, with the creation form
// and the first object each of those lists links to.
func TestPages(t *testing.T) {
	b := newBrowser(t)
	s := startKeyward(t, keywardtest.Options{})
	id := fixture(t, s)

	check := func(tb *tab, name string) {
		for _, w := range []int64{1280, 375} {
			tb.width(w)
			for _, scheme := range []string{"light", "dark"} {
				tb.scheme(scheme)
				b.checkAxe(tb, fmt.Sprintf("%s at %d px, %s", name, w, scheme))
			}
			if w == 375 {
				tb.checkNoOverflow(name, 375)
			}
		}
		tb.width(1280)
		tb.scheme("light")
	}

	t.Run("sign in", func(t *testing.T) {
		tb := b.newTab(t)
		if status := tb.open(s.URL + "/sign-in"); status != 200 {
			t.Fatalf("GET /sign-in: %d", status)
		}
		check(tb, "sign in")
		if n := tb.weigh(s.URL + "/sign-in"); n > maxPageWeight {
			t.Errorf("/sign-in transfers %d bytes, more than %d", n, maxPageWeight)
		}
		tb.fill("form#sign-in input#key", "kwm_not_a_key")
		tb.click("form#sign-in [type=submit]")
		tb.need("#key-error")
		check(tb, "sign in with a wrong key")
	})

	main := b.newTab(t)
	errs := main.watchErrors()
	main.signIn(s.URL, s.OperatorKey)
	seen := map[string]bool{}
	var visit func(t *testing.T, p page)
	visit = func(t *testing.T, p page) {
		seen[p.path] = true
		t.Run(p.name, func(t *testing.T) {
			tb := main.on(t)
			if p.open != nil {
				p.open(tb)
			} else if status := tb.open(s.URL + p.path); status != 200 {
				t.Fatalf("GET %s: %d", p.path, status)
			}
			check(tb, p.name)
			for _, e := range errs(tb.location()) {
				t.Errorf("%s reported an error: %s", p.name, e)
			}
			if p.path == "" {
				return
			}
			// A list's creation form and its first object.
			var more []string
			if base := p.path; !strings.Contains(base[1:], "/") && !strings.Contains(base, "?") {
				tb.open(s.URL + p.path)
				more = append(tb.links(fmt.Sprintf(`main a[href="%s/new"]`, base)), tb.links(`main table tr[data-id] a`)...)
				if len(more) > 2 {
					more = more[:2]
				}
			}
			if n := tb.weigh(s.URL + p.path); n > maxPageWeight {
				t.Errorf("%s transfers %d bytes, more than %d", p.path, n, maxPageWeight)
			}
			for _, m := range more {
				if !seen[m] {
					visit(t, page{name: strings.TrimPrefix(m, "/"), path: m})
				}
			}
		})
	}
	fixed := pages(s.URL, id)
	for _, p := range fixed {
		seen[p.path] = true
	}
	for _, p := range fixed {
		visit(t, p)
	}
	nav := main.on(t).links("nav#nav a")
	if !slices.Contains(nav, "/keys") {
		t.Errorf("nav#nav has no link to /keys: %q", nav)
	}
	for _, href := range nav {
		if !seen[href] {
			visit(t, page{name: strings.TrimPrefix(href, "/"), path: href})
		}
	}
}

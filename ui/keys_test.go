package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

func TestKeyList(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	ctx := context.Background()
	sys := s.system()
	user, err := s.srv.Service.CreateUser(ctx, sys, &keyward.UserFields{Name: keyward.Some("Ann"), Email: keyward.Some("ann@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	prj, err := s.srv.Service.CreateProject(ctx, sys, &keyward.ProjectFields{Name: keyward.Some("shop")})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	alpha := s.apiKey(&keyward.KeyFields{Name: keyward.Some("alpha one"), ExpiresAt: keyward.Some(now.Add(48 * time.Hour))})
	beta := s.apiKey(&keyward.KeyFields{Name: keyward.Some("beta"), Status: keyward.Some(keyward.StatusDisabled),
		Owner: keyward.Some(keyward.Owner{Type: keyward.OwnerUser, ID: user.ID})})
	gamma := s.apiKey(&keyward.KeyFields{Name: keyward.Some("gamma"), ProjectID: keyward.Some(prj.ID),
		PermissionMode: keyward.Some(keyward.ModeReadOnly), ExpiresAt: keyward.Some(now.Add(20 * 24 * time.Hour))})
	delta := s.apiKey(&keyward.KeyFields{Name: keyward.Some("Alpha two")})
	b := s.browser()
	b.signIn(s.srv.OperatorKey)

	all := b.get("/keys").is(t, http.StatusOK)
	checkHeaders(t, "GET /keys", all)
	all.has(t, `<form id="filters" method="get" action="/keys"`, `name="q"`, `name="status"`, `name="owner"`, `name="project"`,
		`name="mode"`, `name="expires_within"`, `<table id="keys">`, alpha.Start+"…"+alpha.Last4)
	all.lacks(t, `id="next-page"`)
	if got, want := all.keyRows(), []string{delta.ID, gamma.ID, beta.ID, alpha.ID}; !slices.Equal(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"q=alpha", []string{delta.ID, alpha.ID}},
		{"q=ALPHA+t", []string{delta.ID}},
		{"status=disabled", []string{beta.ID}},
		{"status=active", []string{delta.ID, gamma.ID, alpha.ID}},
		{"status=expired", nil},
		{"owner=user", []string{beta.ID}},
		{"owner=" + user.ID, []string{beta.ID}},
		{"owner=account", []string{delta.ID, gamma.ID, alpha.ID}},
		{"project=" + prj.ID, []string{gamma.ID}},
		{"mode=read_only", []string{gamma.ID}},
		{"expires_within=7d", []string{alpha.ID}},
		{"expires_within=30d", []string{gamma.ID, alpha.ID}},
		{"expires_within=1d", nil},
		{"q=&status=&owner=&project=&mode=&expires_within=", []string{delta.ID, gamma.ID, beta.ID, alpha.ID}},
	} {
		p := b.get("/keys?"+c.query).is(t, http.StatusOK)
		if got := p.keyRows(); !slices.Equal(got, c.want) {
			t.Errorf("%s: rows %v, want %v", c.query, got, c.want)
		}
	}
	// A filter the API refuses is an error next to its field.
	for _, c := range []struct{ query, field string }{
		{"project=shop", "project"},
		{"expires_within=5y", "expires_within"},
		{"mode=everything", "mode"},
		{"status=gone", "status"},
		{"after=nope", "after"},
	} {
		p := b.get("/keys?"+c.query).is(t, http.StatusUnprocessableEntity)
		if p.errorOf(c.field) == "" {
			t.Errorf("%s: no #%s-error\n%s", c.query, c.field, p.body)
		}
	}
}

func TestKeyListPagesAndActivity(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	ctx := context.Background()
	var ids []string
	var busy keyward.Token
	for i := range 60 {
		k, tok, err := s.srv.Service.CreateKey(ctx, s.system(), keyward.KindAPI, &keyward.KeyFields{Name: keyward.Some(fmt.Sprintf("page key %02d", i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, k.ID)
		if i == 59 {
			busy = tok
		}
	}
	for range 3 {
		if code := s.verify(busy); code != keyward.VerifyValid {
			t.Fatalf("verify: %s", code)
		}
	}
	slices.Reverse(ids)
	b := s.browser()
	b.signIn(s.srv.OperatorKey)
	// The usage is written behind: wait until the page shows it.
	var first *page
	keywardtest.WaitFor(t, "the 24 h activity to show", 20*time.Second, func() bool {
		first = b.get("/keys").is(t, http.StatusOK)
		return strings.Contains(first.body, `<td class="num">3</td>`)
	})
	if got := first.keyRows(); !slices.Equal(got, ids[:50]) {
		t.Fatalf("first page: %v, want %v", got, ids[:50])
	}
	if len(first.body) > 150<<10 {
		t.Errorf("a page of keys is %d bytes", len(first.body))
	}
	i := strings.Index(first.body, `<a id="next-page" href="`)
	if i < 0 {
		t.Fatal("no a#next-page")
	}
	next := first.body[i+len(`<a id="next-page" href="`):]
	next = html2text(next[:strings.IndexByte(next, '"')])
	second := b.get(next).is(t, http.StatusOK)
	if got := second.keyRows(); !slices.Equal(got, ids[50:]) {
		t.Fatalf("second page: %v, want %v", got, ids[50:])
	}
	second.lacks(t, `id="next-page"`)
}

// html2text undoes the escaping of an attribute value.
func html2text(s string) string { return strings.ReplaceAll(s, "&amp;", "&") }

func TestCreateKey(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	s.resource("documents")
	b := s.browser()
	b.signIn(s.srv.OperatorKey)
	b.get("/keys").has(t, `href="/keys/new"`)
	f := b.get("/keys/new").is(t, http.StatusOK)
	f.has(t, `<form id="key-form" method="post" action="/keys">`)
	for _, name := range []string{"name", "description", "scopes", "project", "owner", "expires_at", "rate_limit", "rate_window", "credits", "ip_allowlist", "metadata"} {
		f.has(t, `name="`+name+`"`, `<label for="`+name+`">`)
	}
	f.has(t, `type="datetime-local"`, `<textarea id="scopes" name="scopes"`)

	// Bad input: the field's error, nothing created.
	for _, c := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"name": {"x"}, "metadata": {"[1, 2]"}}, "metadata"},
		{url.Values{"name": {"x"}, "rate_limit": {"ten"}, "rate_window": {"60"}}, "rate_limit"},
		{url.Values{"name": {"x"}, "rate_limit": {"10"}, "rate_window": {"0"}}, "rate_window"},
		{url.Values{"name": {"x"}, "expires_at": {"2001-01-01T00:00"}}, "expires_at"},
		{url.Values{"name": {"x"}, "expires_at": {"tomorrow"}}, "expires_at"},
		{url.Values{"name": {"x"}, "project": {"prj_01HZX3K8Q4W2N5R7T9V0B1C2D4"}}, "project"},
		{url.Values{"name": {"x"}, "scopes": {"documents"}}, "scopes"},
		{url.Values{"name": {"x"}, "scopes": {"nothere:read"}}, "scopes"},
		{url.Values{"name": {"x"}, "owner": {"bob"}}, "owner"},
		{url.Values{"name": {"x"}, "owner": {"usr_01HZX3K8Q4W2N5R7T9V0B1C2D4"}}, "owner"},
		{url.Values{"name": {"x"}, "ip_allowlist": {"not an address"}}, "ip_allowlist"},
		{url.Values{"name": {"x"}, "credits": {"-5"}}, "credits"},
		{url.Values{"name": {""}}, "name"},
	} {
		p := b.post("/keys", c.form).is(t, http.StatusUnprocessableEntity)
		if p.errorOf(c.field) == "" {
			t.Errorf("%v: no #%s-error\n%s", c.form, c.field, p.body)
		}
		// What was typed comes back.
		if v := c.form.Get(c.field); v != "" && !strings.Contains(p.body, strings.ReplaceAll(v, `"`, "&#34;")) {
			t.Errorf("%v: the form lost %q", c.form, v)
		}
	}
	if n := s.keyCount(); n != 0 {
		t.Fatalf("bad forms created %d keys", n)
	}
	// Without the CSRF token: refused, nothing created.
	b.post("/keys", url.Values{"name": {"forged"}, "csrf": {""}}).is(t, http.StatusForbidden)
	if n := s.keyCount(); n != 0 {
		t.Fatal("a POST without its CSRF token created a key")
	}

	expires := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Minute)
	p := b.post("/keys", url.Values{
		"name": {"created in the page"}, "description": {"for the shop"},
		"scopes":     {"documents:read:doc_1\ndocuments:read:doc_2\ndocuments:write:doc_3"},
		"expires_at": {expires.Format("2006-01-02T15:04")}, "rate_limit": {"100"}, "rate_window": {"60"},
		"credits": {"500"}, "ip_allowlist": {"127.0.0.1\n10.0.0.0/8"}, "metadata": {`{"plan": "pro"}`},
	})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/keys/key_") {
		t.Fatalf("create: %d to %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	id := strings.TrimPrefix(p.header.Get("Location"), "/keys/")
	k := s.key(id)
	if k.Name != "created in the page" || *k.Description != "for the shop" || k.PermissionMode != keyward.ModeRestricted ||
		!k.ExpiresAt.Equal(expires) || k.RateLimit.Limit != 100 || k.RateLimit.Window != 60 || k.Credits.Remaining != 500 ||
		!slices.Equal(k.IPAllowlist, []string{"127.0.0.1/32", "10.0.0.0/8"}) || string(k.Metadata["plan"]) != `"pro"` {
		t.Errorf("created %+v", k)
	}
	if got := scopesOf(k); !slices.Equal(got, []string{"documents:read:doc_1,doc_2", "documents:write:doc_3"}) {
		t.Errorf("scopes %v", got)
	}

	shown := b.get("/keys/"+id).is(t, http.StatusOK)
	shown.has(t, `<button type="button" id="copy-secret"`, "shown this once")
	secret := shown.secret()
	if secret == "" || !strings.HasPrefix(secret, k.Start) {
		t.Fatalf("#secret %q", secret)
	}
	if code := s.verify(keyward.TokenFromString(secret)); code != keyward.VerifyValid {
		t.Errorf("the secret shown verifies as %s", code)
	}
	again := b.get("/keys/"+id).is(t, http.StatusOK)
	if again.secret() != "" || strings.Contains(again.body, secret) {
		t.Fatal("a reload shows the secret again")
	}
	if strings.Contains(s.logs.String(), secret) {
		t.Fatal("the new key's secret is in the log")
	}
}

func scopesOf(k *keyward.Key) []string {
	var out []string
	for _, s := range k.Scopes {
		out = append(out, s.Text())
	}
	return out
}

func TestEditKey(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	s.resource("documents")
	ctx := context.Background()
	prj, err := s.srv.Service.CreateProject(ctx, s.system(), &keyward.ProjectFields{Name: keyward.Some("shop")})
	if err != nil {
		t.Fatal(err)
	}
	k := s.apiKey(&keyward.KeyFields{Name: keyward.Some("before"), ExpiresAt: keyward.Some(time.Now().Add(time.Hour).UTC().Truncate(time.Second)),
		Credits: keyward.Some(keyward.Credits{Remaining: 10}), Metadata: keyward.Some(map[string]json.RawMessage{"a": json.RawMessage(`1`)})})
	b := s.browser()
	b.signIn(s.srv.OperatorKey)
	page := b.get("/keys/"+k.ID).is(t, http.StatusOK)
	page.has(t, `<h1 id="key-name">before</h1>`, `id="key-status"`, `>active</strong>`, `id="scopes"`, `id="usage-chart"`, `<table id="audit">`,
		`id="edit" `, `id="rotate" `, `id="disable" `, `id="revoke" `, `id="delete" `)
	page.lacks(t, `id="enable" `)

	form := b.get("/keys/"+k.ID+"/edit").is(t, http.StatusOK)
	form.has(t, `<form id="key-form" method="post" action="/keys/`+k.ID+`/edit">`, `value="before"`, `value="10"`)

	// Saved untouched: nothing changes, no audit event.
	values := formValues(form.body)
	b.post("/keys/"+k.ID+"/edit", values).redirects(t, "/keys/"+k.ID)
	if got := s.key(k.ID); got.Version != k.Version {
		t.Fatalf("an untouched form changed the key (version %d → %d)", k.Version, got.Version)
	}

	// Bad input: the field's error, nothing changed.
	bad := formValues(form.body)
	bad.Set("name", "renamed")
	bad.Set("rate_limit", "5")
	bad.Set("rate_window", "-1")
	p := b.post("/keys/"+k.ID+"/edit", bad).is(t, http.StatusUnprocessableEntity)
	if p.errorOf("rate_window") == "" {
		t.Errorf("no #rate_window-error\n%s", p.body)
	}
	if got := s.key(k.ID); got.Version != k.Version || got.Name != "before" {
		t.Fatal("a refused form changed the key")
	}

	edit := formValues(form.body)
	edit.Set("name", "after")
	edit.Set("description", "now described")
	// Scopes where there were none, the mode left as it was: restricted.
	edit.Set("scopes", "documents:read")
	edit.Set("project", prj.ID)
	edit.Set("expires_at", "")
	edit.Set("rate_limit", "7")
	edit.Set("rate_window", "60")
	edit.Set("credits", "99")
	edit.Set("ip_allowlist", "192.0.2.0/24")
	edit.Set("metadata", `{"b": true}`)
	b.post("/keys/"+k.ID+"/edit", edit).redirects(t, "/keys/"+k.ID)
	got := s.key(k.ID)
	if got.Name != "after" || *got.Description != "now described" || got.PermissionMode != keyward.ModeRestricted ||
		!slices.Equal(scopesOf(got), []string{"documents:read"}) || *got.ProjectID != prj.ID || got.ExpiresAt != nil ||
		got.RateLimit.Limit != 7 || got.Credits.Remaining != 99 || !slices.Equal(got.IPAllowlist, []string{"192.0.2.0/24"}) ||
		string(got.Metadata["b"]) != "true" || got.Metadata["a"] != nil {
		t.Errorf("after the edit: %+v", got)
	}
	// The edit form was made from the old version: saving it again
	// must not overwrite the change.
	stale := b.post("/keys/"+k.ID+"/edit", values).is(t, http.StatusPreconditionFailed)
	stale.has(t, "changed by someone else")

	// Clearing what was set.
	form = b.get("/keys/" + k.ID + "/edit")
	clear := formValues(form.body)
	for _, name := range []string{"description", "project", "rate_limit", "rate_window", "credits", "ip_allowlist", "metadata"} {
		clear.Set(name, "")
	}
	clear.Set("expires_at", time.Now().Add(48*time.Hour).UTC().Format("2006-01-02T15:04"))
	b.post("/keys/"+k.ID+"/edit", clear).redirects(t, "/keys/"+k.ID)
	got = s.key(k.ID)
	if got.Description != nil || got.ProjectID != nil || got.RateLimit != nil || got.Credits != nil || got.IPAllowlist != nil ||
		len(got.Metadata) != 0 || got.ExpiresAt == nil {
		t.Errorf("after clearing: %+v", got)
	}
	// The audit trail shows each change, made through the dashboard.
	trail := b.get("/keys/"+k.ID).is(t, http.StatusOK)
	if n := strings.Count(trail.body, "<td>key.updated</td>"); n != 2 {
		t.Errorf("the audit trail shows %d updates, want 2\n%s", n, trail.body)
	}
	trail.has(t, "(dashboard)", "name: &#34;before&#34; → &#34;after&#34;")
}

// formValues returns the values a browser would send for the first
// form#key-form of a page (inputs and textareas).
func formValues(body string) url.Values {
	v := url.Values{}
	for _, m := range inputValue.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], html2text(unescape(m[2])))
	}
	for _, m := range textareaValue.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], unescape(m[2]))
	}
	for _, m := range selectedValues(body) {
		v.Set(m[1], m[2])
	}
	return v
}

var (
	inputValue    = regexp.MustCompile(`<input[^>]*\bname="([^"]+)"[^>]*\bvalue="([^"]*)"`)
	textareaValue = regexp.MustCompile(`<textarea[^>]*\bname="([^"]+)"[^>]*>([^<]*)</textarea>`)
	selectStart   = regexp.MustCompile(`<select[^>]*\bname="([^"]+)"[^>]*>`)
	optionChosen  = regexp.MustCompile(`<option value="([^"]*)" selected>`)
)

func unescape(s string) string { return html.UnescapeString(s) }

// selectedValues returns each select's chosen option.
func selectedValues(body string) [][]string {
	var out [][]string
	for _, loc := range selectStart.FindAllStringSubmatchIndex(body, -1) {
		name := body[loc[2]:loc[3]]
		rest := body[loc[1]:]
		rest = rest[:strings.Index(rest, "</select>")]
		if m := optionChosen.FindStringSubmatch(rest); m != nil {
			out = append(out, []string{"", name, m[1]})
		}
	}
	return out
}

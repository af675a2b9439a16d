package ui_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// objectCase describes one kind of object's pages to checkObjectPages.
type objectCase struct {
	kind string // "users": /users, table#users, form#users-form
	// read and write are the management permissions of the kind.
	read, write string
	// create is a valid create form; bad an invalid one, refused with
	// an error in #<badField>-error.
	create, bad url.Values
	badField    string
	// edit is the edit form to post (with the form's etag); the page then
	// shows edited.
	edit   url.Values
	edited string
	// elsewhere makes an object of the kind in another account, as its
	// system actor, and returns its id.
	elsewhere func(s *site, ctx context.Context, a *keyward.Actor) (string, error)
	// count is how many objects of the kind the default account has.
	count func(s *site) int
	// setup prepares the site (the roles a user form offers…); nil for
	// nothing.
	setup func(s *site)
	// status is set for kinds that are disabled and enabled (users,
	// service accounts, management keys): the page's #object-status.
	status bool
	// secret is set when the new object's page shows a secret once.
	secret bool
}

var etagInput = regexp.MustCompile(`name="etag" value="([^"]*)"`)

// checkObjectPages goes through a kind's pages as the operator and as a
// key that may only read the kind: list, create, field errors, CSRF,
// edit, another account's object, forced changes, deletion. It returns
// the site and the id of the object it created and deleted.
func checkObjectPages(t *testing.T, c objectCase) (*site, string) {
	t.Helper()
	s := startSite(t, siteOptions{})
	ctx := context.Background()
	base := "/" + c.kind
	if c.setup != nil {
		c.setup(s)
	}
	_, readerTok := s.managementKey("reader", c.read)
	b := s.browser()
	b.signIn(s.srv.OperatorKey)

	list := b.get(base).is(t, http.StatusOK)
	checkHeaders(t, "GET "+base, list)
	list.has(t, `<table id="`+c.kind+`">`, `id="new" href="`+base+`/new"`, `<a href="`+base+`" aria-current="page">`)
	b.get(base+"/new").is(t, http.StatusOK).has(t, `<form id="`+c.kind+`-form" method="post" action="`+base+`">`, `name="csrf"`)

	before := c.count(s)
	p := b.post(base, c.bad).is(t, http.StatusUnprocessableEntity)
	if p.errorOf(c.badField) == "" {
		t.Errorf("a refused form shows no #%s-error\n%s", c.badField, p.body)
	}
	forged := url.Values{"csrf": {"forged"}}
	for k, v := range c.create {
		forged[k] = v
	}
	b.post(base, forged).is(t, http.StatusForbidden)
	if n := c.count(s); n != before {
		t.Fatalf("refused forms created something: %d, was %d", n, before)
	}

	created := b.post(base, c.create)
	if created.status != http.StatusSeeOther || !strings.HasPrefix(created.header.Get("Location"), base+"/") {
		t.Fatalf("create: %d to %q\n%s", created.status, created.header.Get("Location"), created.body)
	}
	id := strings.TrimPrefix(created.header.Get("Location"), base+"/")
	one := base + "/" + id
	if n := c.count(s); n != before+1 {
		t.Fatalf("%d objects after create, want %d", n, before+1)
	}
	b.get(base).is(t, http.StatusOK).has(t, `<tr data-id="`+id+`">`)
	first := b.get(one).is(t, http.StatusOK).has(t, `id="edit" `, `id="delete" `, `<table id="audit">`, `created`)
	if c.secret {
		if first.secret() == "" || !strings.Contains(first.body, `id="copy-secret"`) {
			t.Errorf("the new object's page shows no #secret\n%s", first.body)
		}
		if b.get(one).secret() != "" {
			t.Error("a reload shows the secret again")
		}
	}
	if c.status {
		first.has(t, `id="disable" `).lacks(t, `id="enable" `)
		b.get(one+"/disable").is(t, http.StatusOK).has(t, `<form id="confirm" method="post" action="`+one+`/disable">`)
		b.post(one+"/disable", url.Values{"csrf": {"forged"}}).is(t, http.StatusForbidden)
		b.get(one).has(t, `<strong id="object-status" class="status-active">`)
		b.post(one+"/disable", nil).redirects(t, one)
		b.get(one).has(t, `<strong id="object-status" class="status-disabled">`, `id="enable" `).lacks(t, `id="disable" `)
		b.post(one+"/disable", nil).is(t, http.StatusNotFound) // not a change that applies
		b.post(one+"/enable", nil).redirects(t, one)
		b.get(one).has(t, `<strong id="object-status" class="status-active">`)
	}

	f := b.get(one+"/edit").is(t, http.StatusOK)
	f.has(t, `<form id="`+c.kind+`-form" method="post" action="`+one+`/edit">`)
	etag := ""
	if m := etagInput.FindStringSubmatch(f.body); m != nil {
		etag = m[1]
	}
	edit := url.Values{"etag": {etag}}
	for k, v := range c.edit {
		edit[k] = v
	}
	b.post(one+"/edit", edit).redirects(t, one)
	b.get(one).is(t, http.StatusOK).has(t, c.edited)
	if etag != "" {
		// The form's version is gone: the change is refused, not lost.
		stale := url.Values{"etag": {etag}}
		for k, v := range c.create {
			stale[k] = v
		}
		b.post(one+"/edit", stale).is(t, http.StatusPreconditionFailed).has(t, "changed by someone else")
		b.get(one).has(t, c.edited)
	}

	// Another account's object is not there.
	_, sysOther := s.account("other")
	other, err := c.elsewhere(s, ctx, sysOther)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{base + "/" + other, base + "/" + other + "/edit", base + "/" + other + "/delete"} {
		b.get(path).is(t, http.StatusNotFound)
	}
	b.post(base+"/"+other+"/delete", nil).is(t, http.StatusNotFound)
	b.post(base+"/"+other+"/edit", c.edit).is(t, http.StatusNotFound)
	b.get(base).lacks(t, other)

	// A key that may only read sees no change offered, and a forced one is
	// refused with 403, changing nothing.
	r := s.browser()
	r.signIn(readerTok)
	r.get(base).is(t, http.StatusOK).has(t, `<tr data-id="`+id+`">`).lacks(t, `id="new"`)
	r.get(one).is(t, http.StatusOK).lacks(t, `id="edit" `, `id="delete" `, `id="disable" `, `id="enable" `, `id="revoke" `)
	for _, path := range []string{base + "/new", one + "/edit", one + "/delete"} {
		r.get(path).is(t, http.StatusForbidden)
	}
	n := c.count(s)
	r.post(base, c.create).is(t, http.StatusForbidden)
	r.post(one+"/edit", c.create).is(t, http.StatusForbidden)
	r.post(one+"/delete", nil).is(t, http.StatusForbidden)
	if c.status {
		r.post(one+"/disable", nil).is(t, http.StatusForbidden)
	}
	if c.count(s) != n {
		t.Fatal("a forced create went through")
	}
	b.get(one).is(t, http.StatusOK).has(t, c.edited)

	// Deletion, confirmed.
	conf := b.get(one+"/delete").is(t, http.StatusOK)
	conf.has(t, `<form id="confirm" method="post" action="`+one+`/delete">`, `<button type="submit" id="confirm"`, `href="`+one+`">Cancel`)
	b.post(one+"/delete", url.Values{"csrf": {"forged"}}).is(t, http.StatusForbidden)
	b.get(one).is(t, http.StatusOK)
	b.post(one+"/delete", nil).redirects(t, base)
	b.get(one).is(t, http.StatusNotFound)
	b.get(one+"/nonsense").is(t, http.StatusNotFound)
	if n := c.count(s); n != before {
		t.Fatalf("%d objects after delete, want %d", n, before)
	}
	return s, id
}

var dataID = regexp.MustCompile(`<tr data-id="([^"]+)"`)

// rows returns the ids of the rows of table#<table>, in order.
func (p *page) rows(table string) []string {
	i := strings.Index(p.body, `<table id="`+table+`">`)
	if i < 0 {
		return nil
	}
	end := strings.Index(p.body[i:], "</table>")
	var ids []string
	for _, m := range dataID.FindAllStringSubmatch(p.body[i:i+end], -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// link returns the href of the link a#<id>, unescaped.
func (p *page) link(id string) string {
	m := regexp.MustCompile(`<a id="` + regexp.QuoteMeta(id) + `" href="([^"]+)"`).FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func itoa(n int) string { return strconv.Itoa(n) }

package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func TestAuditLog(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	ctx := context.Background()
	sys := s.system()
	prj, err := s.srv.Service.CreateProject(ctx, sys, &keyward.ProjectFields{Name: keyward.Some("shop")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 55 {
		if _, err := s.srv.Service.CreateUser(ctx, sys, &keyward.UserFields{Name: keyward.Some("user " + itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	b := s.browser()
	b.signIn(s.srv.OperatorKey)
	// Through the pages: the event names the operator's key.
	b.get("/projects/" + prj.ID + "/edit")
	b.post("/projects/"+prj.ID+"/edit", url.Values{"name": {"store"}, "etag": {prj.ETag()}}).redirects(t, "/projects/"+prj.ID)

	all := b.get("/audit").is(t, http.StatusOK)
	checkHeaders(t, "GET /audit", all)
	all.has(t, `<form id="filters" method="get" action="/audit"`, `name="actor"`, `name="action"`, `name="object"`, `name="since"`, `name="until"`,
		`<a href="/projects/`+prj.ID+`"><code>`+prj.ID+`</code></a>`, "name: &#34;shop&#34; → &#34;store&#34;")
	first := all.rows("audit")
	next := all.link("next-page")
	if len(first) != 50 || next == "" {
		t.Fatalf("first page: %d rows, next %q", len(first), next)
	}
	if len(all.body) > 150<<10 {
		t.Errorf("a page of the audit log is %d bytes", len(all.body))
	}
	second := b.get(next).is(t, http.StatusOK)
	rest := second.rows("audit")
	if len(rest) == 0 || slices.ContainsFunc(rest, func(id string) bool { return slices.Contains(first, id) }) {
		t.Fatalf("second page %v overlaps the first", rest)
	}
	for _, c := range []struct {
		query string
		n     int
	}{
		{"object=" + prj.ID, 2},
		{"action=project.updated", 1},
		{"actor=" + s.srv.OperatorKeyID, 1},
		{"action=project.created&object=" + prj.ID, 1},
		{"since=" + time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04"), 0},
		{"until=" + time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04"), 0},
		{"since=" + time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04") + "&action=project.updated", 1},
	} {
		if got := b.get("/audit?"+c.query).is(t, http.StatusOK).rows("audit"); len(got) != c.n {
			t.Errorf("%s: %d rows, want %d", c.query, len(got), c.n)
		}
	}
	for _, c := range []struct{ query, field string }{
		{"since=yesterday", "since"},
		{"until=2030-13-01T00:00", "until"},
		{"after=evt_nonsense!", "after"},
	} {
		if p := b.get("/audit?"+c.query).is(t, http.StatusUnprocessableEntity); p.errorOf(c.field) == "" {
			t.Errorf("%s: no #%s-error\n%s", c.query, c.field, p.body)
		}
	}
	// A key that may not read the audit log is not offered it.
	_, tok := s.managementKey("keys only", keyward.PermKeysRead)
	r := s.browser()
	r.signIn(tok)
	r.get("/").lacks(t, `<a href="/audit">`)
	r.get("/audit").is(t, http.StatusForbidden)
	r.get("/projects/"+prj.ID).is(t, http.StatusOK).has(t, "may not read the audit log")
}

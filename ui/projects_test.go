package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/keyward/keyward"
)

func TestProjectPages(t *testing.T) {
	t.Parallel()
	s, _ := checkObjectPages(t, objectCase{
		kind: "projects", read: keyward.PermKeysRead, write: keyward.PermKeysWrite,
		create:   url.Values{"name": {"shop"}, "description": {"the web shop"}},
		bad:      url.Values{"name": {""}},
		badField: "name",
		edit:     url.Values{"name": {"store"}, "description": {""}},
		edited:   `<h1 id="object-name">store</h1>`,
		elsewhere: func(s *site, ctx context.Context, a *keyward.Actor) (string, error) {
			p, err := s.srv.Service.CreateProject(ctx, a, &keyward.ProjectFields{Name: keyward.Some("theirs")})
			if err != nil {
				return "", err
			}
			return p.ID, nil
		},
		count: func(s *site) int {
			ps, _, err := s.srv.Service.ListProjects(context.Background(), s.system(), keyward.Page{Limit: keyward.MaxPageLimit})
			if err != nil {
				s.t.Fatal(err)
			}
			return len(ps)
		},
	})
	// A name taken is an error next to the name.
	b := s.browser()
	b.signIn(s.srv.OperatorKey)
	b.post("/projects", url.Values{"name": {"one"}}).is(t, http.StatusSeeOther)
	if p := b.post("/projects", url.Values{"name": {"one"}}).is(t, http.StatusConflict); p.errorOf("name") == "" {
		t.Errorf("no #name-error\n%s", p.body)
	}
	// A deletion confirmed for a version of the project that changed
	// meanwhile is refused on the confirmation (412), nothing deleted.
	created := b.post("/projects", url.Values{"name": {"two"}}).is(t, http.StatusSeeOther).header.Get("Location")
	conf := b.get(created+"/delete").is(t, http.StatusOK)
	m := etagInput.FindStringSubmatch(conf.body)
	if m == nil {
		t.Fatalf("the confirmation carries no etag\n%s", conf.body)
	}
	ctx := context.Background()
	id := created[len("/projects/"):]
	if _, err := s.srv.Service.UpdateProject(ctx, s.system(), id, &keyward.ProjectFields{Name: keyward.Some("three")}, ""); err != nil {
		t.Fatal(err)
	}
	b.post(created+"/delete", url.Values{"etag": {m[1]}}).is(t, http.StatusPreconditionFailed).has(t, `id="form-error"`)
	b.get(created).is(t, http.StatusOK)
}

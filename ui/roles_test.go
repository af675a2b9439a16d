package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/keyward/keyward"
)

func TestRolePages(t *testing.T) {
	t.Parallel()
	s, _ := checkObjectPages(t, objectCase{
		kind: "roles", read: keyward.PermMembersRead, write: keyward.PermMembersWrite,
		setup:    func(s *site) { s.resource("documents") },
		create:   url.Values{"name": {"support"}, "description": {"first line"}, "scopes": {"documents:read"}},
		bad:      url.Values{"name": {"support"}, "scopes": {"nosuch:read"}},
		badField: "scopes",
		edit:     url.Values{"description": {"second line"}, "scopes": {"documents:write\ndocuments:read:doc_1"}},
		edited:   `<code>documents:write</code>`,
		elsewhere: func(s *site, ctx context.Context, a *keyward.Actor) (string, error) {
			r, err := s.srv.Service.CreateRole(ctx, a, &keyward.RoleFields{Name: keyward.Some("theirs"), Scopes: keyward.Some([]keyward.Scope{})})
			if err != nil {
				return "", err
			}
			return r.Name, nil
		},
		count: func(s *site) int {
			rs, err := s.srv.Service.ListRoles(context.Background(), s.system())
			if err != nil {
				s.t.Fatal(err)
			}
			return len(rs)
		},
	})
	ctx := context.Background()
	b := s.browser()
	b.signIn(s.srv.OperatorKey)
	// The scopes editor shows the catalog and refuses what it cannot read.
	b.get("/roles/new").has(t, `<ul id="catalog-resources">`, `<code>documents</code>`)
	p := b.post("/roles", url.Values{"name": {"x"}, "scopes": {"documents"}}).is(t, http.StatusUnprocessableEntity)
	if p.errorOf("scopes") == "" {
		t.Errorf("no #scopes-error\n%s", p.body)
	}
	if p := b.post("/roles", url.Values{"name": {"Not A Name"}}).is(t, http.StatusUnprocessableEntity); p.errorOf("name") == "" {
		t.Errorf("no #name-error\n%s", p.body)
	}
	// A role that a user holds cannot be deleted: the confirmation says
	// why, and the role stays.
	b.post("/roles", url.Values{"name": {"held"}, "scopes": {"documents:read"}}).redirects(t, "/roles/held")
	if _, err := s.srv.Service.CreateUser(ctx, s.system(), &keyward.UserFields{Name: keyward.Some("Ann"), Roles: keyward.Some([]string{"held"})}); err != nil {
		t.Fatal(err)
	}
	b.post("/roles/held/delete", nil).is(t, http.StatusConflict).has(t, `id="form-error"`, "held by 1 user")
	b.get("/roles/held").is(t, http.StatusOK)
	got, err := s.srv.Service.GetRole(ctx, s.system(), "held")
	if err != nil || len(got.Scopes) != 1 {
		t.Fatalf("%v %+v", err, got)
	}
}

package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/keyward/keyward"
)

func TestUserPages(t *testing.T) {
	t.Parallel()
	s, _ := checkObjectPages(t, objectCase{
		kind: "users", read: keyward.PermMembersRead, write: keyward.PermMembersWrite, status: true,
		setup: func(s *site) {
			if _, err := s.srv.Service.CreateRole(context.Background(), s.system(), &keyward.RoleFields{Name: keyward.Some("support"), Scopes: keyward.Some([]keyward.Scope{})}); err != nil {
				s.t.Fatal(err)
			}
		},
		create:   url.Values{"name": {"Ann"}, "email": {"ann@example.com"}, "roles": {"support"}},
		bad:      url.Values{"name": {"Bob"}, "email": {"not an address"}},
		badField: "email",
		edit:     url.Values{"name": {"Ann B"}, "email": {"ann@example.com"}, "external_id": {"crm-7"}},
		edited:   `<h1 id="object-name">Ann B</h1>`,
		elsewhere: func(s *site, ctx context.Context, a *keyward.Actor) (string, error) {
			u, err := s.srv.Service.CreateUser(ctx, a, &keyward.UserFields{Name: keyward.Some("Theirs")})
			if err != nil {
				return "", err
			}
			return u.ID, nil
		},
		count: func(s *site) int {
			us, _, err := s.srv.Service.ListUsers(context.Background(), s.system(), keyward.UserFilter{Page: keyward.Page{Limit: keyward.MaxPageLimit}})
			if err != nil {
				s.t.Fatal(err)
			}
			return len(us)
		},
	})
	ctx := context.Background()
	sys := s.system()
	ann, err := s.srv.Service.CreateUser(ctx, sys, &keyward.UserFields{Name: keyward.Some("Ann"), Email: keyward.Some("ann@example.com"), Roles: keyward.Some([]string{"support"})})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.srv.Service.CreateUser(ctx, sys, &keyward.UserFields{Name: keyward.Some("Bob"), Status: keyward.Some(keyward.MemberDisabled)})
	if err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	b.signIn(s.srv.OperatorKey)
	// The user form offers the account's roles; a role that does not
	// exist is refused next to the field, nothing changed.
	b.get("/users/new").has(t, `<input type="checkbox" name="roles" value="support">`)
	b.get("/users/"+ann.ID+"/edit").has(t, `<input type="checkbox" name="roles" value="support" checked>`)
	p := b.post("/users/"+ann.ID+"/edit", url.Values{"name": {"Ann"}, "email": {"ann@example.com"}, "roles": {"support", "nosuch"}}).is(t, http.StatusUnprocessableEntity)
	if p.errorOf("roles") == "" {
		t.Errorf("no #roles-error\n%s", p.body)
	}
	if got, _ := s.srv.Service.GetUser(ctx, sys, ann.ID); got.Version != ann.Version {
		t.Error("a refused edit changed the user")
	}
	// The API's filters.
	for _, c := range []struct {
		query      string
		want, lack string
	}{
		{"q=ann", ann.ID, bob.ID},
		{"status=disabled", bob.ID, ann.ID},
		{"role=support", ann.ID, bob.ID},
	} {
		b.get("/users?"+c.query).is(t, http.StatusOK).has(t, `<tr data-id="`+c.want+`">`).lacks(t, `<tr data-id="`+c.lack+`">`)
	}
	if b.get("/users?status=gone").is(t, http.StatusUnprocessableEntity).errorOf("status") == "" {
		t.Error("a bad status filter shows no #status-error")
	}
	b.get("/users?after=nonsense").is(t, http.StatusUnprocessableEntity)
	// Pages of 50, by cursor.
	for i := range 55 {
		if _, err := s.srv.Service.CreateUser(ctx, sys, &keyward.UserFields{Name: keyward.Some("user " + itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	first := b.get("/users").is(t, http.StatusOK)
	next := first.link("next-page")
	if next == "" || len(first.rows("users")) != 50 {
		t.Fatalf("first page: %d rows, next %q", len(first.rows("users")), next)
	}
	if len(first.body) > 150<<10 {
		t.Errorf("a page of users is %d bytes", len(first.body))
	}
	second := b.get(next).is(t, http.StatusOK)
	if n := len(second.rows("users")); n != 7 || second.link("next-page") != "" {
		t.Fatalf("second page: %d rows, next %q", n, second.link("next-page"))
	}

	// The operator switches to another account and sees its users only.
	acct, other := s.account("second")
	theirs, err := s.srv.Service.CreateUser(ctx, other, &keyward.UserFields{Name: keyward.Some("Theirs")})
	if err != nil {
		t.Fatal(err)
	}
	b.post("/account", url.Values{"account": {acct.ID}}).redirects(t, "/")
	b.get("/users").is(t, http.StatusOK).has(t, `<tr data-id="`+theirs.ID+`">`).lacks(t, ann.ID)
	b.get("/users/"+ann.ID).is(t, http.StatusNotFound)
	b.get("/users/"+theirs.ID).is(t, http.StatusOK)
}

func TestServiceAccountPages(t *testing.T) {
	t.Parallel()
	checkObjectPages(t, objectCase{
		kind: "service-accounts", read: keyward.PermMembersRead, write: keyward.PermMembersWrite, status: true,
		create:   url.Values{"name": {"ci"}, "description": {"the CI runner"}},
		bad:      url.Values{"name": {"   "}},
		badField: "name",
		edit:     url.Values{"name": {"ci-runner"}, "description": {"builds"}},
		edited:   `<h1 id="object-name">ci-runner</h1>`,
		elsewhere: func(s *site, ctx context.Context, a *keyward.Actor) (string, error) {
			sa, err := s.srv.Service.CreateServiceAccount(ctx, a, &keyward.ServiceAccountFields{Name: keyward.Some("theirs")})
			if err != nil {
				return "", err
			}
			return sa.ID, nil
		},
		count: func(s *site) int {
			l, _, err := s.srv.Service.ListServiceAccounts(context.Background(), s.system(), keyward.ServiceAccountFilter{Page: keyward.Page{Limit: keyward.MaxPageLimit}})
			if err != nil {
				s.t.Fatal(err)
			}
			return len(l)
		},
	})
}

package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/keyward/keyward"
)

func TestCatalogPages(t *testing.T) {
	t.Parallel()
	count := func(s *site) int {
		c, err := s.srv.Service.GetCatalog(context.Background(), s.system())
		if err != nil {
			s.t.Fatal(err)
		}
		return len(c.Resources)
	}
	s, _ := checkObjectPages(t, objectCase{
		kind: "catalog", read: keyward.PermCatalogRead, write: keyward.PermCatalogWrite,
		create:   url.Values{"id": {"reports"}, "display_name": {"Reports"}, "readable": {"on"}, "writable": {"on"}, "project_scopes": {"all", "single"}},
		bad:      url.Values{"id": {"ledger"}, "project_scopes": {"all"}},
		badField: "readable",
		edit:     url.Values{"display_name": {"Docs"}, "readable": {"on"}, "project_scopes": {"all"}},
		edited:   `<h1 id="object-name">Docs</h1>`,
		elsewhere: func(s *site, ctx context.Context, a *keyward.Actor) (string, error) {
			_, _, err := s.srv.Service.PutResource(ctx, a, "theirs", &keyward.ResourceFields{})
			return "theirs", err
		},
		count: count,
	})
	ctx := context.Background()
	b := s.browser()
	b.signIn(s.srv.OperatorKey)
	// The create form starts from a new resource's defaults.
	b.get("/catalog/new").has(t, `name="readable" id="readable" value="on" checked`, `name="writable" id="writable" value="on" checked`,
		`value="all" checked`, `value="single" checked`)
	// Creating over an existing resource is refused, not a replacement.
	s.resource("invoices")
	n := count(s)
	p := b.post("/catalog", url.Values{"id": {"invoices"}, "readable": {"on"}, "project_scopes": {"all"}}).is(t, http.StatusUnprocessableEntity)
	if p.errorOf("id") == "" {
		t.Errorf("no #id-error\n%s", p.body)
	}
	if p := b.post("/catalog", url.Values{"id": {"Bad Id"}, "readable": {"on"}, "project_scopes": {"all"}}).is(t, http.StatusUnprocessableEntity); p.errorOf("id") == "" {
		t.Errorf("no #id-error for a bad id\n%s", p.body)
	}
	if count(s) != n {
		t.Fatal("refused forms changed the catalog")
	}
	// A change that would break a key's grant is refused on the form; a
	// granted resource cannot be deleted.
	s.apiKey(&keyward.KeyFields{Name: keyward.Some("writer"), PermissionMode: keyward.Some(keyward.ModeRestricted),
		Scopes: keyward.Some([]keyward.Scope{{Resource: "invoices", Access: keyward.AccessWrite}})})
	b.post("/catalog/invoices/edit", url.Values{"readable": {"on"}, "project_scopes": {"all", "single"}}).is(t, http.StatusConflict).has(t, `id="form-error"`)
	b.post("/catalog/invoices/delete", nil).is(t, http.StatusConflict).has(t, `id="form-error"`)
	c, err := s.srv.Service.GetCatalog(ctx, s.system())
	if err != nil {
		t.Fatal(err)
	}
	if r := keyward.NewCatalog(c.Resources)["invoices"]; r == nil || !r.Writable {
		t.Fatalf("the refused change went through: %+v", r)
	}
}

package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/keyward/keyward"
)

func mgmtCount(s *site) int {
	ks, _, err := s.srv.Service.ListKeys(context.Background(), s.system(), keyward.KindManagement, keyward.KeyFilter{Page: keyward.Page{Limit: keyward.MaxPageLimit}})
	if err != nil {
		s.t.Fatal(err)
	}
	return len(ks)
}

func TestManagementKeyPages(t *testing.T) {
	t.Parallel()
	s, _ := checkObjectPages(t, objectCase{
		kind: "management-keys", read: keyward.PermManagementKeysRead, write: keyward.PermManagementKeysWrite, status: true, secret: true,
		create:   url.Values{"name": {"ops"}, "permissions": {keyward.PermKeysRead}},
		bad:      url.Values{"name": {"ops"}, "ip_allowlist": {"not an address"}, "permissions": {keyward.PermKeysRead}},
		badField: "ip_allowlist",
		edit:     url.Values{"name": {"ops2"}, "permissions": {keyward.PermKeysRead, keyward.PermAuditRead}},
		edited:   `<code>audit:read</code>`,
		elsewhere: func(s *site, ctx context.Context, a *keyward.Actor) (string, error) {
			k, _, err := s.srv.Service.CreateKey(ctx, a, keyward.KindManagement, &keyward.KeyFields{Name: keyward.Some("theirs"), Permissions: keyward.Some([]string{keyward.PermKeysRead})})
			if err != nil {
				return "", err
			}
			return k.ID, nil
		},
		count: mgmtCount,
	})
	b := s.browser()
	b.signIn(s.srv.OperatorKey)
	// The secret of a new key signs in.
	created := b.post("/management-keys", url.Values{"name": {"mine"}, "permissions": {keyward.PermKeysRead}}).is(t, http.StatusSeeOther).header.Get("Location")
	secret := b.get(created).secret()
	if secret == "" {
		t.Fatal("no secret")
	}
	o := s.browser()
	o.signIn(keyward.TokenFromString(secret))
	o.get("/keys").is(t, http.StatusOK)
	// The operator's own key: deletion offered, changes not (a key never
	// changes itself).
	self := b.get("/management-keys/"+s.srv.OperatorKeyID).is(t, http.StatusOK)
	self.has(t, "the key this session signed in with", `id="delete" `).lacks(t, `id="edit" `, `id="disable" `, `id="revoke" `)
}

// An account-bound key with fewer permissions is offered only what the
// no-escalation rule allows, and a forced change is refused with 403,
// next to the field it is about, changing nothing.
func TestManagementKeyEscalation(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	ctx := context.Background()
	lead, tok := s.managementKey("lead", keyward.PermManagementKeysRead, keyward.PermManagementKeysWrite, keyward.PermKeysRead)
	big, _ := s.managementKey("big", keyward.PermManagementKeysRead, keyward.PermMembersWrite)
	small, _ := s.managementKey("small", keyward.PermKeysRead)
	b := s.browser()
	b.signIn(tok)

	// Nav: only what the key may read.
	home := b.get("/").is(t, http.StatusOK)
	home.has(t, `<a href="/keys">`, `<a href="/management-keys">`).lacks(t, `<a href="/users">`, `<a href="/audit">`, `<a href="/catalog">`, `id="account-switch"`)
	b.get("/users").is(t, http.StatusForbidden)

	f := b.get("/management-keys/new").is(t, http.StatusOK)
	f.has(t, `value="keys:read">`, `value="members:write" disabled>`).lacks(t, `name="operator"`, `value="accounts:read"`)
	n := mgmtCount(s)
	p := b.post("/management-keys", url.Values{"name": {"sneaky"}, "permissions": {keyward.PermMembersWrite}}).is(t, http.StatusForbidden)
	if msg := p.errorOf("permissions"); msg == "" {
		t.Errorf("no #permissions-error\n%s", p.body)
	}
	b.post("/management-keys", url.Values{"name": {"op"}, "permissions": {keyward.PermKeysRead}, "operator": {"on"}}).is(t, http.StatusUnprocessableEntity)
	if mgmtCount(s) != n {
		t.Fatal("a refused key was made")
	}

	// A key with more permissions: nothing offered, forced changes refused.
	bp := b.get("/management-keys/"+big.ID).is(t, http.StatusOK)
	bp.lacks(t, `id="edit" `, `id="disable" `, `id="revoke" `, `id="delete" `)
	for _, path := range []string{"/edit", "/disable", "/revoke", "/delete"} {
		b.get("/management-keys/"+big.ID+path).is(t, http.StatusForbidden)
		b.post("/management-keys/"+big.ID+path, url.Values{"name": {"taken"}}).is(t, http.StatusForbidden)
	}
	if k, _ := s.srv.Service.GetKey(ctx, s.system(), keyward.KindManagement, big.ID); k.Version != big.Version || k.Status != keyward.StatusActive {
		t.Fatalf("forced changes went through: %+v", k)
	}
	// A key within its permissions: managed, but not beyond them.
	sp := b.get("/management-keys/"+small.ID).is(t, http.StatusOK)
	sp.has(t, `id="edit" `, `id="disable" `, `id="delete" `)
	p = b.post("/management-keys/"+small.ID+"/edit", url.Values{"name": {"small"}, "permissions": {keyward.PermKeysRead, keyward.PermAuditRead}})
	p.is(t, http.StatusForbidden)
	if p.errorOf("permissions") == "" {
		t.Errorf("no #permissions-error\n%s", p.body)
	}
	if k, _ := s.srv.Service.GetKey(ctx, s.system(), keyward.KindManagement, small.ID); k.Version != small.Version {
		t.Fatal("a refused edit changed the key")
	}
	b.post("/management-keys/"+small.ID+"/disable", nil).redirects(t, "/management-keys/"+small.ID)

	// Its own key: no change offered or allowed; the operator key is not
	// there at all.
	own := b.get("/management-keys/"+lead.ID).is(t, http.StatusOK)
	own.lacks(t, `id="edit" `, `id="disable" `, `id="revoke" `).has(t, `id="delete" `)
	b.post("/management-keys/"+lead.ID+"/edit", url.Values{"name": {"lead"}, "permissions": {keyward.PermKeysRead}}).is(t, http.StatusForbidden)
	b.post("/management-keys/"+lead.ID+"/disable", nil).is(t, http.StatusForbidden)
	b.get("/management-keys/"+s.srv.OperatorKeyID).is(t, http.StatusNotFound)
	b.get("/management-keys").lacks(t, s.srv.OperatorKeyID)
	// Deleting itself ends the session.
	b.post("/management-keys/"+lead.ID+"/delete", nil).redirects(t, "/management-keys")
	b.get("/management-keys").redirects(t, "/sign-in")
}

package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/ui"
)

func TestKeyStatusChangesAndDelete(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	k, tok, err := s.srv.Service.CreateKey(context.Background(), s.system(), keyward.KindAPI, &keyward.KeyFields{Name: keyward.Some("lifecycle")})
	if err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	b.signIn(s.srv.OperatorKey)
	base := "/keys/" + k.ID
	for _, step := range []struct {
		action, status string
		code           keyward.VerifyCode
		offered        []string
	}{
		{"disable", "disabled", keyward.VerifyDisabled, []string{"enable", "revoke", "delete"}},
		{"enable", "active", keyward.VerifyValid, []string{"disable", "revoke", "delete"}},
		{"revoke", "revoked", keyward.VerifyRevoked, []string{"delete"}},
	} {
		c := b.get(base+"/"+step.action).is(t, http.StatusOK)
		c.has(t, `<form id="confirm" method="post" action="`+base+"/"+step.action+`">`, `<button type="submit" id="confirm"`)
		// Confirmation pages change nothing.
		if code := s.verify(tok); step.action != "enable" && code != keyward.VerifyValid {
			t.Fatalf("before confirming %s: %s", step.action, code)
		}
		// A forged confirmation changes nothing.
		b.post(base+"/"+step.action, url.Values{"csrf": {"forged"}}).is(t, http.StatusForbidden)
		b.post(base+"/"+step.action, nil).redirects(t, base)
		if code := s.verify(tok); code != step.code {
			t.Errorf("after %s: verification says %s, want %s", step.action, code, step.code)
		}
		p := b.get(base).is(t, http.StatusOK)
		p.has(t, `<strong id="key-status" class="status-`+step.status+`">`+step.status+`</strong>`)
		for _, a := range step.offered {
			p.has(t, `id="`+a+`" `)
		}
	}
	// A revoked key cannot change: not offered, and refused if forced.
	p := b.get(base).lacks(t, `id="edit" `, `id="enable" `, `id="rotate" `)
	_ = p
	b.post(base+"/enable", nil).is(t, http.StatusConflict)
	b.get(base+"/explode").is(t, http.StatusNotFound)

	b.get(base+"/delete").is(t, http.StatusOK).has(t, `id="confirm"`)
	b.post(base+"/delete", nil).redirects(t, "/keys")
	b.get(base).is(t, http.StatusNotFound)
	if code := s.verify(tok); code != keyward.VerifyNotFound {
		t.Errorf("after delete: %s", code)
	}
}

func TestRotateKey(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	k, old, err := s.srv.Service.CreateKey(context.Background(), s.system(), keyward.KindAPI, &keyward.KeyFields{Name: keyward.Some("rotating")})
	if err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	b.signIn(s.srv.OperatorKey)
	base := "/keys/" + k.ID
	f := b.get(base+"/rotate").is(t, http.StatusOK)
	f.has(t, `<form id="rotate-form" method="post" action="`+base+`/rotate">`, `name="grace_period"`)
	for _, bad := range []string{"soon", "-1", "604801"} {
		p := b.post(base+"/rotate", url.Values{"grace_period": {bad}}).is(t, http.StatusUnprocessableEntity)
		if p.errorOf("grace_period") == "" {
			t.Errorf("grace %q: no #grace_period-error", bad)
		}
	}
	if got := s.key(k.ID); got.Version != k.Version {
		t.Fatal("a refused rotation changed the key")
	}
	p := b.post(base+"/rotate", url.Values{"grace_period": {"3600"}})
	p.redirects(t, base)
	shown := b.get(base).is(t, http.StatusOK)
	secret := shown.secret()
	if secret == "" {
		t.Fatal("the rotated key's page shows no #secret")
	}
	if code := s.verify(keyward.TokenFromString(secret)); code != keyward.VerifyValid {
		t.Errorf("new secret: %s", code)
	}
	if code := s.verify(old); code != keyward.VerifyValid {
		t.Errorf("old secret within the grace period: %s", code)
	}
	if b.get(base).secret() != "" {
		t.Error("a reload shows the secret again")
	}
	// Grace 0: the secret just shown stops at once.
	b.post(base+"/rotate", url.Values{"grace_period": {"0"}}).redirects(t, base)
	if code := s.verify(keyward.TokenFromString(secret)); code != keyward.VerifyRotated {
		t.Errorf("rotated out with no grace: %s", code)
	}
}

func TestReadOnlyKey(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	ctx := context.Background()
	k := s.apiKey(&keyward.KeyFields{Name: keyward.Some("visible")})
	_, sysOther := s.account("other")
	elsewhere, _, err := s.srv.Service.CreateKey(ctx, sysOther, keyward.KindAPI, &keyward.KeyFields{Name: keyward.Some("elsewhere")})
	if err != nil {
		t.Fatal(err)
	}
	_, tok := s.managementKey("reader", keyward.PermKeysRead)
	b := s.browser()
	b.signIn(tok)

	list := b.get("/keys").is(t, http.StatusOK)
	list.lacks(t, `href="/keys/new"`, elsewhere.ID)
	// Overview without usage:read: no chart offered, no failure.
	b.get("/").is(t, http.StatusOK).has(t, "may not read usage", `id="top-keys"`, `id="expiring"`)
	page := b.get("/keys/"+k.ID).is(t, http.StatusOK)
	page.lacks(t, `id="edit" `, `id="rotate" `, `id="disable" `, `id="revoke" `, `id="delete" `)
	page.has(t, "may not read usage", "may not read the audit log")

	// Forced: refused with 403, nothing changed.
	for _, path := range []string{"/keys/new", "/keys/" + k.ID + "/edit", "/keys/" + k.ID + "/rotate", "/keys/" + k.ID + "/disable", "/keys/" + k.ID + "/delete"} {
		b.get(path).is(t, http.StatusForbidden)
	}
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/keys", url.Values{"name": {"sneaky"}}},
		{"/keys/" + k.ID + "/edit", url.Values{"name": {"renamed"}}},
		{"/keys/" + k.ID + "/rotate", url.Values{"grace_period": {"0"}}},
		{"/keys/" + k.ID + "/disable", nil},
		{"/keys/" + k.ID + "/revoke", nil},
		{"/keys/" + k.ID + "/delete", nil},
	} {
		b.post(c.path, c.form).is(t, http.StatusForbidden)
	}
	if got := s.key(k.ID); got.Version != k.Version || got.Status != keyward.StatusActive {
		t.Fatalf("forced changes went through: %+v", got)
	}
	if n := s.keyCount(); n != 1 {
		t.Fatalf("%d keys", n)
	}
	// Another account's key does not exist here.
	b.get("/keys/"+elsewhere.ID).is(t, http.StatusNotFound)
	b.get("/keys/"+elsewhere.ID+"/edit").is(t, http.StatusForbidden)
}

func TestOverview(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	ctx := context.Background()
	busy, tok, err := s.srv.Service.CreateKey(ctx, s.system(), keyward.KindAPI, &keyward.KeyFields{Name: keyward.Some("busy key"),
		ExpiresAt: keyward.Some(time.Now().Add(48 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	later := s.apiKey(&keyward.KeyFields{Name: keyward.Some("expires later"), ExpiresAt: keyward.Some(time.Now().Add(30 * 24 * time.Hour))})
	for range 4 {
		s.verify(tok)
	}
	if _, err := s.srv.Service.UpdateKey(ctx, s.system(), keyward.KindAPI, busy.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusDisabled)}, ""); err != nil {
		t.Fatal(err)
	}
	s.verify(tok)
	if _, err := s.srv.Service.UpdateKey(ctx, s.system(), keyward.KindAPI, busy.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusActive)}, ""); err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	b.signIn(s.srv.OperatorKey)
	var home *page
	keywardtest.WaitFor(t, "the usage to show", 20*time.Second, func() bool {
		home = b.get("/").is(t, http.StatusOK)
		return strings.Contains(home.body, `class="o-DISABLED"`)
	})
	home.has(t, `<svg id="usage-chart"`, `class="o-VALID"`, `<table id="top-keys">`, `<tr data-key-id="`+busy.ID+`"><td><a href="/keys/`+busy.ID+`">busy key</a></td><td class="num">5</td><td class="num">4</td>`,
		`<table id="expiring">`, `<tr data-key-id="`+busy.ID+`">`)
	home.lacks(t, `<tr data-key-id="`+later.ID+`">`, "<style", "style=", "<script>")
	for _, r := range []string{"7d", "30d"} {
		b.get("/?range="+r).is(t, http.StatusOK).has(t, `<svg id="usage-chart"`, `href="/?range=`+r+`" aria-current="true"`)
	}
	// The key's own chart.
	kp := b.get("/keys/"+busy.ID+"?range=7d").is(t, http.StatusOK)
	kp.has(t, `<svg id="usage-chart"`, `class="o-VALID"`, `class="o-DISABLED"`)
}

// The busiest keys sum every key's usage of the range (seconds when a
// million keys were used in a day): past Options.BusiestKeysWait the
// overview shows the rest of the page and links to the page of the
// busiest keys, which waits for them.
func TestBusiestKeysDeferred(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{ui: ui.Options{BusiestKeysWait: time.Nanosecond}})
	ctx := context.Background()
	busy, tok, err := s.srv.Service.CreateKey(ctx, s.system(), keyward.KindAPI, &keyward.KeyFields{Name: keyward.Some("busy key")})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s.verify(tok)
	}
	b := s.browser()
	b.signIn(s.srv.OperatorKey)
	home := b.get("/?range=7d").is(t, http.StatusOK)
	home.has(t, `<svg id="usage-chart"`, `id="top-keys-deferred"`, `<a href="/busiest-keys?range=7d">`, `<table id="expiring">`)
	home.lacks(t, `<table id="top-keys">`)
	var top *page
	keywardtest.WaitFor(t, "the usage to show", 20*time.Second, func() bool {
		top = b.get("/busiest-keys?range=7d").is(t, http.StatusOK)
		return strings.Contains(top.body, `<tr data-key-id="`+busy.ID+`">`)
	})
	top.has(t, `<h1>Busiest keys</h1>`, `href="/busiest-keys?range=7d" aria-current="true"`,
		`<tr data-key-id="`+busy.ID+`"><td><a href="/keys/`+busy.ID+`">busy key</a></td><td class="num">3</td><td class="num">3</td>`)

	// A key that may not read usage is told so.
	_, keysOnly := s.managementKey("keys only", keyward.PermKeysRead)
	k := s.browser()
	k.signIn(keysOnly)
	k.get("/busiest-keys").is(t, http.StatusOK).has(t, "This key may not read usage.").lacks(t, busy.ID)
}

// The overview lists the ten active keys that expire soonest within 7
// days, soonest first, and links to all of them past ten. Before, it
// showed the window's first ten by id, then sorted them: with more than
// ten, not the soonest.
func TestOverviewExpiringSoonest(t *testing.T) {
	t.Parallel()
	s := startSite(t, siteOptions{})
	var want []string
	// Created latest-expiring first, so that id order is the reverse of
	// expiry order.
	for i := 12; i >= 1; i-- {
		k := s.apiKey(&keyward.KeyFields{Name: keyward.Some(fmt.Sprintf("expires in %d hours", i*10)),
			ExpiresAt: keyward.Some(time.Now().Add(time.Duration(i*10) * time.Hour))})
		want = append([]string{k.ID}, want...)
	}
	b := s.browser()
	b.signIn(s.srv.OperatorKey)
	home := b.get("/").is(t, http.StatusOK)
	var got []string
	table := home.body[strings.Index(home.body, `<table id="expiring">`):]
	for _, m := range regexp.MustCompile(`<tr data-key-id="([^"]+)">`).FindAllStringSubmatch(table[:strings.Index(table, "</table>")], -1) {
		got = append(got, m[1])
	}
	if !slices.Equal(got, want[:10]) {
		t.Errorf("expiring keys %v, want the ten soonest %v", got, want[:10])
	}
	home.has(t, `<a href="/keys?status=active&amp;expires_within=7d">All active keys expiring within 7 days</a>`)
}

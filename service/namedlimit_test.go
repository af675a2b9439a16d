package service_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// TestNamedLimit: a named limit allows Limit requests per window, spread
// as GCRA does, one cell per namespace and identifier; a cost takes
// several units at once or, 0, none; keys:verify is needed.
func TestNamedLimit(t *testing.T) {
	e := newEnv(t)
	a := e.manager(keyward.PermKeysVerify)
	take := func(id string, cost int64) service.NamedLimitResult {
		t.Helper()
		res, err := e.svc.Limit(e.ctx, a, service.NamedLimit{Namespace: "n", Identifier: id, Limit: 2, WindowMs: 1000, Cost: cost})
		e.must(err)
		return res
	}
	for i, want := range []struct {
		allowed   bool
		remaining int64
	}{{true, 1}, {true, 0}, {false, 0}} {
		if got := take("a", 1); got.Allowed != want.allowed || got.Remaining != want.remaining || got.Limit != 2 {
			t.Fatalf("request %d: %+v, want %+v", i, got, want)
		}
	}
	if got := take("b", 2); !got.Allowed || got.Remaining != 0 {
		t.Fatalf("another identifier, cost 2: %+v", got)
	}
	if got := take("b", 0); got.Allowed {
		t.Fatalf("cost 0 on a spent limit: %+v", got)
	}
	e.advance(500 * time.Millisecond)
	if got := take("a", 0); !got.Allowed {
		t.Fatalf("cost 0 after half the window: %+v", got)
	}
	if got := take("a", 1); !got.Allowed || got.Remaining != 0 {
		t.Fatalf("after half the window: %+v", got)
	}
	if got := take("a", 1); got.Allowed || !got.ResetAt.After(e.clock()) {
		t.Fatalf("again: %+v", got)
	}
	// Another account's cell is its own.
	other, err := e.svc.CreateAccount(e.ctx, e.op, &keyward.AccountFields{Name: keyward.Some("other")})
	e.must(err)
	b := *e.op
	b.AccountID = other.ID
	res, err := e.svc.Limit(e.ctx, &b, service.NamedLimit{Namespace: "n", Identifier: "a", Limit: 2, WindowMs: 1000, Cost: 1})
	e.must(err)
	if !res.Allowed || res.Remaining != 1 {
		t.Fatalf("another account: %+v", res)
	}
	for _, in := range []service.NamedLimit{
		{Identifier: "a", Limit: 1, WindowMs: 1000, Cost: 1},
		{Namespace: "n", Limit: 1, WindowMs: 1000, Cost: 1},
		{Namespace: "n", Identifier: "a", Limit: 0, WindowMs: 1000},
		{Namespace: "n", Identifier: "a", Limit: 1, WindowMs: 999},
		{Namespace: "n", Identifier: "a", Limit: 1, WindowMs: service.MaxLimitWindowMs + 1},
		{Namespace: "n", Identifier: "a", Limit: 1, WindowMs: 1000, Cost: 2},
		{Namespace: "n", Identifier: "a", Limit: 1, WindowMs: 1000, Cost: -1},
	} {
		_, err := e.svc.Limit(e.ctx, a, in)
		wantCode(t, "bad named limit", err, keyward.ECodeValidation)
	}
	_, err = e.svc.Limit(e.ctx, e.manager(keyward.PermKeysRead), service.NamedLimit{Namespace: "n", Identifier: "a", Limit: 1, WindowMs: 1000, Cost: 1})
	wantCode(t, "without keys:verify", err, keyward.ECodePermissionDenied)
}

// TestKeyOfTokenAndVerifiedOwner: a key manager finds the key of a token
// of its account, whatever its status and without using it; a verifier
// reads the service account that owns a key it verified.
func TestKeyOfTokenAndVerifiedOwner(t *testing.T) {
	e := newEnv(t)
	sa, err := e.svc.CreateServiceAccount(e.ctx, e.op, &keyward.ServiceAccountFields{Name: keyward.Some("acme")})
	e.must(err)
	in := &keyward.KeyFields{Owner: keyward.Some(keyward.Owner{Type: keyward.OwnerServiceAccount, ID: sa.ID}),
		Status: keyward.Some(keyward.StatusDisabled)}
	k, tok := e.apiKey(e.op, in)
	reader := e.manager(keyward.PermKeysRead)
	got, err := e.svc.KeyOfToken(e.ctx, reader, tok)
	e.must(err)
	if got.ID != k.ID || got.Status != keyward.StatusDisabled || got.LastUsedAt != nil {
		t.Fatalf("KeyOfToken: %+v", got)
	}
	_, err = e.svc.KeyOfToken(e.ctx, reader, keyward.TokenFromString("kw_nope"))
	wantCode(t, "an unknown token", err, keyward.ECodeNotFound)
	_, err = e.svc.KeyOfToken(e.ctx, e.manager(keyward.PermKeysVerify), tok)
	wantCode(t, "without keys:read", err, keyward.ECodePermissionDenied)
	other, err := e.svc.CreateAccount(e.ctx, e.op, &keyward.AccountFields{Name: keyward.Some("other")})
	e.must(err)
	b := *e.op
	b.AccountID = other.ID
	_, err = e.svc.KeyOfToken(e.ctx, &b, tok)
	wantCode(t, "another account", err, keyward.ECodeNotFound)

	e.must(func() error {
		_, err := e.svc.UpdateKey(e.ctx, e.op, keyward.KindAPI, k.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusActive)}, "")
		return err
	}())
	res := e.verify(tok, keyward.VerifyRequest{})
	owner, err := e.svc.VerifiedOwner(e.ctx, e.manager(keyward.PermKeysVerify), &res)
	e.must(err)
	if owner.ID != sa.ID || owner.Name != "acme" {
		t.Fatalf("VerifiedOwner: %+v", owner)
	}
	_, err = e.svc.VerifiedOwner(e.ctx, &b, &res)
	wantCode(t, "another account's result", err, keyward.ECodeNotFound)
	_, err = e.svc.VerifiedOwner(e.ctx, reader, &res)
	wantCode(t, "without keys:verify or members:read", err, keyward.ECodePermissionDenied)
}

// TestNamedLimitCellsBounded: a node keeps at most 100,000 cells; when
// every one is in use, a new identifier makes room by dropping a tenth
// (whose identifiers start afresh), not by failing.
func TestNamedLimitCellsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 100,000 cells")
	}
	e := newEnv(t)
	a := e.manager(keyward.PermKeysVerify)
	const cells = 100_000
	limit := func(id string, cost int64) service.NamedLimitResult {
		res, err := e.svc.Limit(e.ctx, a, service.NamedLimit{Namespace: "n", Identifier: id, Limit: 1, WindowMs: 60_000, Cost: cost})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for i := range cells {
		if !limit(strconv.Itoa(i), 1).Allowed {
			t.Fatalf("identifier %d refused", i)
		}
	}
	if !limit("one more", 1).Allowed {
		t.Fatal("a new identifier on a full node is refused")
	}
	free := 0
	for i := range cells {
		if limit(strconv.Itoa(i), 0).Allowed {
			free++
		}
	}
	if free < cells/20 || free > cells/5 {
		t.Fatalf("%d identifiers start afresh after the node filled up, want about a tenth", free)
	}
}

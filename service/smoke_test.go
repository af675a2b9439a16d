package service_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlite"
)

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := service.New(service.Options{Store: db})
	defer svc.Close(ctx)
	op, tok, err := svc.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("op %s %v", op.ID, tok)
	a, err := svc.Authenticate(ctx, keyward.TokenFromString(tok.Reveal()), "", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	in := &keyward.KeyFields{Name: keyward.Some("k1"), PermissionMode: keyward.Some(keyward.ModeRestricted),
		Scopes: keyward.Some([]keyward.Scope{{Resource: "documents", Access: keyward.AccessWrite, Targets: []string{"d1"}}})}
	k, ktok, err := svc.CreateKey(ctx, a, keyward.KindAPI, in)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("key %+v", k)
	q := "documents:read:d1"
	res, err := svc.Verify(ctx, a, &keyward.VerifyRequest{Key: ktok, Permissions: &q})
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != keyward.VerifyValid {
		t.Fatalf("code %s", res.Code)
	}
	q = "documents:read:d2"
	res, _ = svc.Verify(ctx, a, &keyward.VerifyRequest{Key: ktok, Permissions: &q})
	if res.Code != keyward.VerifyInsufficientPermissions {
		t.Fatalf("code %s", res.Code)
	}
	_, err = svc.UpdateKey(ctx, a, keyward.KindAPI, k.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)}, "")
	if err != nil {
		t.Fatal(err)
	}
	res, _ = svc.Verify(ctx, a, &keyward.VerifyRequest{Key: ktok})
	if res.Code != keyward.VerifyRevoked {
		t.Fatalf("code %s", res.Code)
	}
	evs, _, err := svc.ListAuditEvents(ctx, a, keyward.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		t.Logf("%s %s %s %d", e.ID, e.Action, e.TargetID, len(e.Changes))
	}
}

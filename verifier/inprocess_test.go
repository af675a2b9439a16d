package verifier_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/verifier"
)

// The in-process verifier on a SQLite file that another process (a keyward
// server) writes, as ExampleNew describes: a key revoked through the other
// answers REVOKED here within a second, though VALID was cached (issue 9,
// point 11; before the fix it stayed VALID for as long as the entry lived).
func TestInProcessOnSharedSQLiteFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	open := func() *service.Service {
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		svc := service.New(service.Options{Store: db})
		t.Cleanup(func() { svc.Close(context.Background()) })
		return svc
	}
	server, embedded := open(), open()
	_, tok, err := server.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	op, err := server.Authenticate(ctx, service.Credential{Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	k, secret, err := server.CreateKey(ctx, op, keyward.KindAPI, &keyward.KeyFields{Name: keyward.Some("shared")})
	if err != nil {
		t.Fatal(err)
	}
	v := verifier.New(embedded, &keyward.Actor{AccountID: op.AccountID})
	code := func() keyward.VerifyCode {
		t.Helper()
		res, err := v.Verify(ctx, secret.Reveal(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Code
	}
	for range 3 {
		if got := code(); got != keyward.VerifyValid {
			t.Fatalf("the new key verifies %s", got)
		}
	}
	if _, err := server.UpdateKey(ctx, op, keyward.KindAPI, k.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)}, ""); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for got := code(); got != keyward.VerifyRevoked; got = code() {
		if time.Since(start) > time.Second {
			t.Fatalf("the embedded verifier answers %s %v after the revocation, want REVOKED within 1s", got, time.Since(start).Round(time.Millisecond))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("REVOKED after %v", time.Since(start).Round(time.Millisecond))
}

package verifier_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/verifier"
)

// The in-process verifier on a SQLite file that another process (a keyward
// server) writes, as ExampleNew describes: a key revoked through the other
// answers REVOKED here within a second, though VALID was cached (issue 9,
// point 11; before the fix it stayed VALID for as long as the entry lived).
func TestInProcessOnSharedSQLiteFile(t *testing.T) {
	ctx := context.Background()
	server := keywardtest.Start(t, keywardtest.Options{Store: keywardtest.SQLite})
	db := keywardtest.Open(t, server.Location)
	t.Cleanup(func() { db.Close() })
	embedded := service.New(service.Options{Store: db})
	t.Cleanup(func() { embedded.Close(context.Background()) })
	k := server.CreateKey(t, &keyward.KeyFields{Name: keyward.Some("shared")})
	v := verifier.New(embedded, &keyward.Actor{AccountID: k.AccountID})
	code := func() keyward.VerifyCode {
		t.Helper()
		res, err := v.Verify(ctx, k.Secret.Reveal(), nil)
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
	if _, err := server.Client.UpdateKey(ctx, k.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)}); err != nil {
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

package verifier_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/verifier"
)

// A service that embeds keyward opens keyward's database itself and
// verifies keys in-process: no request leaves the program.
func ExampleNew() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "keyward-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// keyward's store and service, as a keyward server builds them (here
	// on a new SQLite database). sqlite.Open on a running server's file
	// (<data-dir>/keyward.db, on the same machine), or postgres.Open on
	// its database, shares the keys of that server, and the server's
	// changes reach this cache: within 100 ms on SQLite, milliseconds on
	// PostgreSQL.
	db, err := sqlite.Open(ctx, filepath.Join(dir, sqlite.FileName))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	svc := service.New(service.Options{Store: db})
	defer svc.Close(ctx)

	// A new database gets the account "default" and an operator key; act
	// as that key to create an API key that may read documents.
	_, op, err := svc.Bootstrap(ctx)
	if err != nil {
		log.Fatal(err)
	}
	operator, err := svc.Authenticate(ctx, service.Credential{Token: op})
	if err != nil {
		log.Fatal(err)
	}
	_, token, err := svc.CreateKey(ctx, operator, keyward.KindAPI, &keyward.KeyFields{
		Name:           keyward.Some("reader"),
		PermissionMode: keyward.Some(keyward.ModeRestricted),
		Scopes:         keyward.Some([]keyward.Scope{{Resource: "documents", Access: keyward.AccessRead, Targets: []string{"*"}}}),
	})
	if err != nil {
		log.Fatal(err)
	}

	// Verify the default account's keys, as keyward itself.
	v := verifier.New(svc, &keyward.Actor{AccountID: operator.AccountID})
	read, err := keyward.ParseQuery("documents:read")
	if err != nil {
		log.Fatal(err)
	}
	write, err := keyward.ParseQuery("documents:write")
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range []struct {
		token string
		opts  *verifier.Options
	}{
		{token.Reveal(), &verifier.Options{Query: read}},
		{token.Reveal(), &verifier.Options{Query: write}},
		{"kw_not-a-key", nil},
	} {
		res, err := v.Verify(ctx, c.token, c.opts)
		if err != nil {
			log.Fatal(err) // keyward could not answer: not an outcome
		}
		fmt.Println(res.Code, res.Valid, res.Name)
	}
	// Output:
	// VALID true reader
	// INSUFFICIENT_PERMISSIONS false reader
	// NOT_FOUND false
}

// A service that runs beside a keyward server verifies keys through its
// API, with a local cache kept exact by the server's invalidation stream.
func ExampleNewRemote() {
	// A keyward server for the example (a service would have the URL of
	// its keyward), with an API key of the account "default".
	kw := keywardtest.NewServer()
	defer kw.Close()
	ctx := context.Background()
	admin := kw.Client // a client with its operator key
	key, err := admin.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("billing")})
	if err != nil {
		log.Fatal(err)
	}
	// What the service holds: a management key that may only verify keys.
	mk, err := admin.CreateManagementKey(ctx, &keyward.KeyFields{
		Name:        keyward.Some("billing-service"),
		Permissions: keyward.Some([]string{keyward.PermKeysVerify}),
	})
	if err != nil {
		log.Fatal(err)
	}

	c, err := client.New(kw.URL, client.WithToken(mk.Secret))
	if err != nil {
		log.Fatal(err)
	}
	v := verifier.NewRemote(c, verifier.RemoteOptions{})
	defer v.Close()

	for _, token := range []string{key.Secret.Reveal(), key.Secret.Reveal(), "kw_not-a-key"} {
		res, err := v.Verify(ctx, token, nil)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(res.Code, res.KeyID == key.ID)
	}
	if _, err := admin.UpdateKey(ctx, key.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)}); err != nil {
		log.Fatal(err)
	}
	// The revocation reaches the cache with the stream's invalidation
	// event, milliseconds later: until then a cached VALID may still
	// answer (see the package doc).
	for {
		res, err := v.Verify(ctx, key.Secret.Reveal(), nil)
		if err != nil {
			log.Fatal(err)
		}
		if res.Code != keyward.VerifyValid {
			fmt.Println(res.Code)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Output:
	// VALID true
	// VALID true
	// NOT_FOUND false
	// REVOKED
}

package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/keywardtest"
)

// The examples run against a real keyward server started in-process on a
// temporary SQLite database (keywardtest.NewServer); a program would pass the
// server's URL and its management key instead.

// Create an API key restricted to reading documents, then verify its
// token with a permission query.
func Example() {
	srv := keywardtest.NewServer() // a keyward server for the example
	defer srv.Close()
	ctx := context.Background()

	c, err := client.New(srv.URL, client.WithToken(srv.OperatorKey), client.WithUserAgent("billing-service"))
	if err != nil {
		log.Fatal(err)
	}
	k, err := c.CreateKey(ctx, &keyward.KeyFields{
		Name:           keyward.Some("acme production"),
		PermissionMode: keyward.Some(keyward.ModeRestricted),
		Scopes:         keyward.Some([]keyward.Scope{{Resource: "documents", Access: keyward.AccessRead}}),
	}, client.IdempotencyKey(client.NewIdempotencyKey()))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", k.Name, k.Status, k.Prefix)
	fmt.Println("secret printed by accident:", k.Secret) // redacted; k.Secret.Reveal() is the token

	for _, query := range []string{"documents:read", "documents:write"} {
		v, err := c.VerifyKey(ctx, &keyward.VerifyRequest{Key: keyward.Some(k.Secret), Permissions: &query})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(query, "→", v.Valid, v.Code, v.Name == k.Name)
	}
	// Output:
	// created: acme production active kw
	// secret printed by accident: [redacted]
	// documents:read → true VALID true
	// documents:write → false INSUFFICIENT_PERMISSIONS true
}

// List every active key whose name contains "worker", five per request:
// the pager follows the cursors.
func ExampleClient_KeysPager() {
	srv := keywardtest.NewServer() // a keyward server for the example
	defer srv.Close()
	ctx := context.Background()
	c := srv.Client // a client with its operator key
	for i := 1; i <= 12; i++ {
		if _, err := c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some(fmt.Sprintf("worker %02d", i))}); err != nil {
			log.Fatal(err)
		}
	}

	pager := c.KeysPager(&client.KeyListParams{Limit: 5, Status: keyward.StatusActive, Search: "worker"})
	for pager.More() {
		page, err := pager.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("page of %d, from %q to %q\n", len(page.Data), page.Data[0].Name, page.Data[len(page.Data)-1].Name)
	}

	// Or one key at a time.
	n := 0
	for k, err := range c.KeysPager(&client.KeyListParams{Search: "worker"}).All(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		_ = k.Name
		n++
	}
	fmt.Println(n, "keys")
	// Output:
	// page of 5, from "worker 12" to "worker 08"
	// page of 5, from "worker 07" to "worker 03"
	// page of 2, from "worker 02" to "worker 01"
	// 12 keys
}

// A PATCH changes only the members it sets: keyward.Null clears one,
// keyward.Some sets one, and members left zero stay as they are. IfMatch
// makes the change conditional on the version read.
func ExampleClient_UpdateKey() {
	srv := keywardtest.NewServer() // a keyward server for the example
	defer srv.Close()
	ctx := context.Background()
	c := srv.Client // a client with its operator key
	k, err := c.CreateKey(ctx, &keyward.KeyFields{
		Name:        keyward.Some("deploy"),
		Description: keyward.Some("used by the CI"),
		ExpiresAt:   keyward.Some(time.Now().Add(24 * time.Hour)),
	})
	if err != nil {
		log.Fatal(err)
	}

	updated, err := c.UpdateKey(ctx, k.ID, &keyward.KeyFields{
		Description: keyward.Null[string](),               // clear it
		ExpiresAt:   keyward.Null[time.Time](),            // never expires
		Status:      keyward.Some(keyward.StatusDisabled), // set it
	}, client.IfMatch(k.ETag))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(updated.Name, updated.Status, updated.Description == nil, updated.ExpiresAt == nil)

	// The old etag no longer matches.
	_, err = c.UpdateKey(ctx, k.ID, &keyward.KeyFields{Name: keyward.Some("x")}, client.IfMatch(k.ETag))
	fmt.Println(keyward.ErrorCode(err))
	// Output:
	// deploy disabled true true
	// precondition_failed
}

// Errors carry keyward's stable codes: branch on keyward.ErrorCode, and
// use *client.Error for the status, the request id and the fields.
func ExampleError() {
	srv := keywardtest.NewServer() // a keyward server for the example
	defer srv.Close()
	ctx := context.Background()
	c := srv.Client // a client with its operator key

	_, err := c.CreateKey(ctx, &keyward.KeyFields{
		Name:           keyward.Some("billing"),
		Scopes:         keyward.Some([]keyward.Scope{{Resource: "billing", Access: keyward.AccessRead}}),
		PermissionMode: keyward.Some(keyward.ModeRestricted),
	})
	switch keyward.ErrorCode(err) {
	case keyward.ECodeValidation:
		var ce *client.Error
		if errors.As(err, &ce) {
			fmt.Println("status", ce.StatusCode, "request id present:", ce.RequestID != "")
			for _, f := range ce.Err.Fields {
				fmt.Println(f.Field+":", f.Message)
			}
		}
	case keyward.ECodeUnavailable, keyward.ECodeTimeout:
		fmt.Println("retry later")
	}

	_, err = c.GetKey(ctx, "key_01J00000000000000000000000")
	if keyward.ErrorCode(err) == keyward.ECodeNotFound {
		fmt.Println("no such key")
	}
	// Output:
	// status 422 request id present: true
	// scopes[0].resource: "billing" is protected and cannot be granted to an API key
	// no such key
}

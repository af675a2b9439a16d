package keywardtest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/keywardtest"
)

// A test of a program that uses keyward starts a real keyward and talks to
// it as the program would talk to a production server.
func ExampleNewServer() {
	srv := keywardtest.NewServer()
	defer srv.Close()

	c, err := client.New(srv.URL, client.WithToken(srv.OperatorKey))
	if err != nil {
		log.Fatal(err)
	}
	k, err := c.CreateKey(context.Background(), &keyward.KeyFields{Name: keyward.Some("test key")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(k.Name, k.Status, k.Prefix)
	// Output:
	// test key active kw
}

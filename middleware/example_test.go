package middleware_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/middleware"
	"github.com/keyward/keyward/verifier"
)

// A service protects its routes with keyward API keys: each set of routes
// states the permissions a key needs, and the handlers find the verified
// key in the request's context.
func ExampleNew() {
	// A keyward server for the example (a service would have the URL of
	// its keyward), with two API keys of the account "default".
	kw := keywardtest.NewServer()
	defer kw.Close()
	ctx := context.Background()
	admin := kw.Client // a client with its operator key
	docsRead := []keyward.Scope{{Resource: "documents", Access: keyward.AccessRead, Targets: []string{"*"}}}
	reader, err := admin.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("reader"),
		PermissionMode: keyward.Some(keyward.ModeRestricted), Scopes: keyward.Some(docsRead)})
	if err != nil {
		log.Fatal(err)
	}
	nobody, err := admin.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("nobody"),
		PermissionMode: keyward.Some(keyward.ModeRestricted), Scopes: keyward.Some([]keyward.Scope{})})
	if err != nil {
		log.Fatal(err)
	}

	// The service verifies through the keyward server, with a management
	// key that may only verify keys (verifier.New would verify in-process).
	mk, err := admin.CreateManagementKey(ctx, &keyward.KeyFields{Name: keyward.Some("documents-service"),
		Permissions: keyward.Some([]string{keyward.PermKeysVerify})})
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.New(kw.URL, client.WithToken(mk.Secret))
	if err != nil {
		log.Fatal(err)
	}
	v := verifier.NewRemote(c, verifier.RemoteOptions{})
	defer v.Close()

	mux := http.NewServeMux()
	read := middleware.New(v, middleware.Options{Permissions: "documents:read"})
	mux.Handle("GET /documents/{id}", read(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, _ := middleware.FromContext(r.Context())
		fmt.Fprintf(w, "document %s, read with the key %q\n", r.PathValue("id"), key.Name)
	})))
	api := httptest.NewServer(mux)
	defer api.Close()

	get := func(header, value string) {
		req, err := http.NewRequest("GET", api.URL+"/documents/42", nil)
		if err != nil {
			log.Fatal(err)
		}
		if header != "" {
			req.Header.Set(header, value)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			log.Fatal(err)
		}
		if res.StatusCode == http.StatusOK {
			fmt.Printf("%d %s", res.StatusCode, body)
			return
		}
		var problem struct {
			Code       string `json:"code"`
			VerifyCode string `json:"verify_code"`
			Detail     string `json:"detail"`
		}
		if err := json.Unmarshal(body, &problem); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d %s %s: %s\n", res.StatusCode, problem.Code, problem.VerifyCode, problem.Detail)
	}
	get("Authorization", "Bearer "+reader.Secret.Reveal())
	get("X-API-Key", reader.Secret.Reveal())
	get("Authorization", "Bearer "+nobody.Secret.Reveal())
	get("X-API-Key", "kw_forged")
	get("", "")
	// Output:
	// 200 document 42, read with the key "reader"
	// 200 document 42, read with the key "reader"
	// 403 permission_denied INSUFFICIENT_PERMISSIONS: the API key lacks the permissions this request needs
	// 401 unauthenticated NOT_FOUND: the API key is not valid
	// 401 unauthenticated : an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>
}

// A route about one object checks the key's permission on that object: the
// placeholder {id} of the permission query takes the value of the route's
// wildcard {id}, as one target, whatever the request sends.
func ExampleNew_perRequest() {
	// A keyward server for the example, and an API key that may read two
	// documents and no other.
	kw := keywardtest.NewServer()
	defer kw.Close()
	ctx := context.Background()
	admin := kw.Client // a client with its operator key
	key, err := admin.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("two documents"),
		PermissionMode: keyward.Some(keyward.ModeRestricted),
		Scopes:         keyward.Some([]keyward.Scope{{Resource: "documents", Access: keyward.AccessRead, Targets: []string{"doc_1", "doc_2"}}})})
	if err != nil {
		log.Fatal(err)
	}
	mk, err := admin.CreateManagementKey(ctx, &keyward.KeyFields{Name: keyward.Some("documents-service"),
		Permissions: keyward.Some([]string{keyward.PermKeysVerify})})
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.New(kw.URL, client.WithToken(mk.Secret))
	if err != nil {
		log.Fatal(err)
	}
	v := verifier.NewRemote(c, verifier.RemoteOptions{})
	defer v.Close()

	mux := http.NewServeMux()
	readOne := middleware.New(v, middleware.Options{Permissions: "documents:read:{id}"})
	mux.Handle("GET /documents/{id}", readOne(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "document %s\n", r.PathValue("id"))
	})))
	api := httptest.NewServer(mux)
	defer api.Close()

	for _, path := range []string{
		"/documents/doc_1",
		"/documents/doc_3",
		"/documents/doc_3%20OR%20documents:read", // an attempt to widen the check
	} {
		req, err := http.NewRequest("GET", api.URL+path, nil)
		if err != nil {
			log.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key.Secret.Reveal())
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			log.Fatal(err)
		}
		if res.StatusCode == http.StatusOK {
			fmt.Printf("%d %s", res.StatusCode, body)
			continue
		}
		var problem struct {
			Code        string `json:"code"`
			Detail      string `json:"detail"`
			Permissions string `json:"required_permissions"`
		}
		if err := json.Unmarshal(body, &problem); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d %s %q: %s\n", res.StatusCode, problem.Code, problem.Permissions, problem.Detail)
	}
	// Output:
	// 200 document doc_1
	// 403 permission_denied "documents:read:doc_3": the API key lacks the permissions this request needs
	// 400 bad_request "": the request's {id} is empty or not a valid object id (1 to 128 letters, digits and _ . - = @ / + ~)
}

package pulsecrm

import (
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/keyward/keyward/compat/compattest"
)

// fixture is a keyward server with the dialect mounted, an account made
// from the pulsecrm catalog template, and an admin management key bound to
// it (PulseCRM's "account administrator").
type fixture struct {
	*compattest.Env
	acct  string // the account's id, sent as x-account-id
	admin string // a management key of the account with keys:read, keys:write, catalog:read
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e := compattest.New(t, compattest.Dialect(Dialect, New), compattest.Options{})
	acct := e.Account("acme", "pulsecrm")
	return &fixture{Env: e, acct: acct, admin: e.ManagementKeyIn(acct, "keys:read", "keys:write", "catalog:read", "audit:read")}
}

// pulse sends a request to the dialect as the account administrator would:
// Authorization: Bearer and x-account-id.
func (f *fixture) pulse(method, path string, body any, headers ...string) *compattest.Response {
	f.T.Helper()
	return f.Do(method, base+path, body, append([]string{"Authorization: Bearer " + f.admin, "x-account-id: " + f.acct}, headers...)...)
}

// native sends a request to the native API in the fixture's account.
func (f *fixture) native(method, path string, body any) *compattest.Response {
	f.T.Helper()
	return f.Native(method, path, body, "X-Account-Id: "+f.acct)
}

// create makes a key through the dialect and returns it with its secret.
func (f *fixture) create(body any) createdView {
	f.T.Helper()
	res := f.pulse("POST", "/apikeys", body)
	if res.Status != http.StatusCreated {
		f.T.Fatalf("create: %d %s", res.Status, res.Body)
	}
	var k createdView
	res.JSON(f.T, &k)
	return k
}

// get reads a key through the dialect.
func (f *fixture) get(id int64) apiKeyView {
	f.T.Helper()
	res := f.pulse("GET", "/apikeys/"+strconv.FormatInt(id, 10), nil)
	if res.Status != http.StatusOK {
		f.T.Fatalf("get %d: %d %s", id, res.Status, res.Body)
	}
	var k apiKeyView
	res.JSON(f.T, &k)
	return k
}

// nativeKey reads a key through the native API.
func (f *fixture) nativeKey(id string) (k map[string]any) {
	f.T.Helper()
	f.Get(f.acct, "/v1/keys/"+id, &k)
	return k
}

// nativeID returns the keyward id named by an apiKey.
func nativeID(apiKey string) string { return "key_" + apiKey[len(apiKeyPrefix):] }

// apiKeyView is the ApiKey object as a client decodes it.
type apiKeyView struct {
	ID          int64   `json:"id"`
	Description string  `json:"description"`
	ExpiresAt   *string `json:"expiresAt"`
	Permissions []struct {
		ID          int64  `json:"id"`
		Permission  string `json:"permission"`
		Description string `json:"description"`
		Category    string `json:"category"`
	} `json:"permissions"`
	APIKey           string `json:"apiKey"`
	LastFourOfSecret string `json:"lastFourOfSecret"`
	CreatedAt        string `json:"createdAt"`
	UpdatedAt        string `json:"updatedAt"`
}

// names returns the flat permission names of a key, sorted.
func (k apiKeyView) names() []string {
	out := []string{}
	for _, p := range k.Permissions {
		out = append(out, p.Permission)
	}
	slices.Sort(out)
	return out
}

type createdView struct {
	apiKeyView
	APISecret string `json:"apiSecret"`
}

// sorted returns a sorted copy of s.
func sorted(s ...string) []string {
	out := append([]string{}, s...)
	slices.Sort(out)
	return out
}

// wantError checks a PulseCRM api-key error answer: the status and the
// body {"error": …} with nothing else.
func wantError(t *testing.T, res *compattest.Response, status int) string {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d: %s", res.Status, status, res.Body)
	}
	m := res.Map(t)
	msg, ok := m["error"].(string)
	if !ok || msg == "" || len(m) != 1 {
		t.Fatalf("error body %s: want {\"error\": <message>}", res.Body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return msg
}

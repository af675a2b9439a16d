package compat_test

// Issue 9's HTTP edge cases, in every dialect: a query pair that does not
// parse, an over-limit body written before the answer is read, and a
// repeated credential or account header. Each dialect answers in its own
// error format.

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat"
	"github.com/keyward/keyward/compat/compattest"
)

// edgeDialect is what these tests need of a dialect: where its keys are
// listed and created, a body its create accepts, and the headers that
// carry its credential.
type edgeDialect struct {
	name       string
	list       string
	create     string
	createBody string
	// credential returns the headers that authenticate with tok.
	credential func(tok string) [][2]string
}

func edgeDialects() []edgeDialect {
	bearer := func(tok string) [][2]string { return [][2]string{{"Authorization", "Bearer " + tok}} }
	return []edgeDialect{
		{"orq", "/compat/orq/v2/api-keys", "/compat/orq/v2/api-keys", `{"name":"edge"}`, bearer},
		{"discue", "/compat/discue/v1/api_keys", "/compat/discue/v1/api_keys", `{"name":"edge"}`,
			func(tok string) [][2]string { return [][2]string{{"X-API-KEY", tok}} }},
		{"pulsecrm", "/compat/pulsecrm/apikeys", "/compat/pulsecrm/apikeys", `{"description":"edge"}`, bearer},
		{"vectara", "/compat/vectara/v2/api_keys", "/compat/vectara/v2/api_keys", `{"name":"edge","api_key_role":"serving"}`,
			func(tok string) [][2]string { return [][2]string{{"x-api-key", tok}} }},
	}
}

// edgeSend sends a request with headers added in order (a name may
// repeat).
func edgeSend(t *testing.T, e *compattest.Env, method, path, body string, headers [][2]string) *compattest.Response {
	t.Helper()
	h := http.Header{}
	for _, x := range headers {
		h.Add(x[0], x[1])
	}
	var b any
	if body != "" {
		b = body
	}
	return e.Send(method, path, b, h)
}

// edgeBadRequest checks that res is the dialect's own 400 (JSON, not a
// native problem document) and that it names what.
func edgeBadRequest(t *testing.T, res *compattest.Response, status int, what string) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d\n%s", res.Status, status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want the dialect's application/json", ct)
	}
	if !bytes.Contains(bytes.ToLower(res.Body), []byte(strings.ToLower(what))) {
		t.Errorf("the answer does not name %s: %s", what, res.Body)
	}
}

// edgeKeyCount returns how many API keys the default account has.
func edgeKeyCount(t *testing.T, e *compattest.Env) int {
	t.Helper()
	var keys []any
	e.List("", "/v1/keys?limit=200", &keys)
	return len(keys)
}

// TestDialectsRepeatedCredentialHeaders (issue 9 point 9): in every
// dialect, a credential or account header sent twice is a 400 in the
// dialect's format naming the header, whichever copy is valid, and
// nothing is created. Before, the first copy won.
func TestDialectsRepeatedCredentialHeaders(t *testing.T) {
	e := compattest.New(t, compat.Mount, compattest.Options{})
	forged, err := keyward.NewToken("kwm", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bogus := forged.Reveal()
	other := e.Account("other", "default")
	var def string
	var accts struct {
		Data []struct{ ID, Name string } `json:"data"`
	}
	e.Native("GET", "/v1/accounts", nil).JSON(t, &accts)
	for _, a := range accts.Data {
		if a.Name == keyward.DefaultAccountName {
			def = a.ID
		}
	}
	for _, d := range edgeDialects() {
		cred := func(toks ...string) [][2]string {
			var out [][2]string
			for _, tok := range toks {
				out = append(out, d.credential(tok)...)
			}
			return out
		}
		credName := d.credential("")[0][0]
		accountName := "X-Account-Id"
		if d.name == "pulsecrm" {
			accountName = "x-account-id"
		}
		for _, c := range []struct {
			name    string
			headers [][2]string
			header  string
		}{
			{"credential valid then bogus", cred(e.Op, bogus), credName},
			{"credential bogus then valid", cred(bogus, e.Op), credName},
			{"credential twice the same", cred(e.Op, e.Op), credName},
			{"account twice", append(cred(e.Op), [2]string{accountName, def}, [2]string{accountName, other}), accountName},
			{"account twice, other first", append(cred(e.Op), [2]string{accountName, other}, [2]string{accountName, def}), accountName},
		} {
			t.Run(d.name+"/"+c.name, func(t *testing.T) {
				edgeBadRequest(t, edgeSend(t, e, "GET", d.list, "", c.headers), http.StatusBadRequest, c.header)
				before := edgeKeyCount(t, e)
				edgeBadRequest(t, edgeSend(t, e, "POST", d.create, d.createBody, c.headers), http.StatusBadRequest, c.header)
				if after := edgeKeyCount(t, e); after != before {
					t.Errorf("a create with a repeated %s made a key (%d → %d keys)", c.header, before, after)
				}
			})
		}
		if d.name == "vectara" {
			// Vectara also takes Authorization: Bearer.
			t.Run("vectara/Authorization twice", func(t *testing.T) {
				h := [][2]string{{"Authorization", "Bearer " + e.Op}, {"Authorization", "Bearer " + bogus}}
				edgeBadRequest(t, edgeSend(t, e, "GET", d.list, "", h), http.StatusBadRequest, "Authorization")
			})
		}
		// One of each still works.
		if res := edgeSend(t, e, "GET", d.list, "", append(cred(e.Op), [2]string{accountName, def})); res.Status != http.StatusOK {
			t.Errorf("%s with one credential and one account: %d %s", d.name, res.Status, res.Body)
		}
	}
	t.Run("pulsecrm/permissions", func(t *testing.T) {
		h := [][2]string{{"Authorization", "Bearer " + bogus}, {"Authorization", "Bearer " + e.Op}}
		edgeBadRequest(t, edgeSend(t, e, "GET", "/compat/pulsecrm/permissions", "", h), http.StatusBadRequest, "Authorization")
	})
}

// TestDialectsMalformedQuery (issue 9 point 4): every dialect parses its
// query with the native API's one parser, so a pair that does not parse
// is a 400 naming its parameter, where before PulseCRM's permissions
// route dropped it (?detailed; answered the flat list) and the others
// answered a 400 that named no parameter.
func TestDialectsMalformedQuery(t *testing.T) {
	e := compattest.New(t, compat.Mount, compattest.Options{})
	op := func(name string) [][2]string {
		for _, d := range edgeDialects() {
			if d.name == name {
				return d.credential(e.Op)
			}
		}
		return nil
	}
	for _, c := range []struct {
		dialect, path, param string
	}{
		{"orq", "/compat/orq/v2/api-keys?limit=5;", "limit"},
		{"orq", "/compat/orq/v2/api-keys?status=%zz", "status"},
		{"discue", "/compat/discue/v1/api_keys?pretty;", "pretty"},
		{"pulsecrm", "/compat/pulsecrm/permissions?detailed;", "detailed"},
		{"pulsecrm", "/compat/pulsecrm/permissions?accountId=%zz", "accountId"},
		{"vectara", "/compat/vectara/v2/api_keys?limit=5;", "limit"},
	} {
		t.Run(c.path, func(t *testing.T) {
			edgeBadRequest(t, edgeSend(t, e, "GET", c.path, "", op(c.dialect)), http.StatusBadRequest, c.param)
		})
	}
}

// TestDialectsBodyTooLargeWrittenFirst (issue 9 point 6): a client that
// writes an over-limit body in full before reading gets the dialect's
// 413, not a reset connection.
func TestDialectsBodyTooLargeWrittenFirst(t *testing.T) {
	e := compattest.New(t, compat.Mount, compattest.Options{})
	for _, d := range edgeDialects() {
		for _, chunked := range []bool{false, true} {
			name := d.name + "/Content-Length"
			if chunked {
				name = d.name + "/chunked"
			}
			t.Run(name, func(t *testing.T) {
				var headers []string
				for _, h := range d.credential(e.Op) {
					headers = append(headers, h[0]+": "+h[1])
				}
				headers = append(headers, "Content-Type: application/json")
				res, err := compattest.WriteFirst(e.URL, "POST", d.create, headers, 8<<20, chunked)
				if err != nil {
					t.Fatalf("the client does not get the answer: %v", err)
				}
				if res.Status != http.StatusRequestEntityTooLarge {
					t.Fatalf("status %d, want 413\n%s", res.Status, res.Body)
				}
				if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type %q, want the dialect's application/json", ct)
				}
			})
		}
	}
}

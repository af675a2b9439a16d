package middleware_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/middleware"
	"github.com/keyward/keyward/verifier"
)

// route serves h on the ServeMux pattern and sends a GET of path to it
// with the key tok.
func route(pattern string, h http.Handler, path string, tok keyward.Token) *httptest.ResponseRecorder {
	mux := http.NewServeMux()
	mux.Handle(pattern, h)
	req := httptest.NewRequest("GET", "http://api.example"+path, nil)
	req.RemoteAddr = "192.0.2.1:1234"
	if !tok.IsZero() {
		req.Header.Set("Authorization", "Bearer "+tok.Reveal())
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

// TestPermissionsPerRequest checks permission queries with placeholders:
// the target comes from the request (the path's wildcard, or Target), a
// key passes only for the objects its scopes name, and a value that would
// be more than one target (query syntax, a wildcard, a colon) is a 400
// before any verification, never a wider check.
func TestPermissionsPerRequest(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	vk := s.verifyKey(t)
	restricted := func(name string, scopes ...keyward.Scope) *keyward.KeyFields {
		return &keyward.KeyFields{Name: keyward.Some(name), PermissionMode: keyward.Some(keyward.ModeRestricted), Scopes: keyward.Some(scopes)}
	}
	two := s.createKey(t, restricted("two documents", keyward.Scope{Resource: "documents", Access: keyward.AccessRead, Targets: []string{"doc_1", "doc_2"}}))
	all := s.createKey(t, restricted("every document", keyward.Scope{Resource: "documents", Access: keyward.AccessRead, Targets: []string{"*"}}))
	writer := s.createKey(t, restricted("writer",
		keyward.Scope{Resource: "documents", Access: keyward.AccessWrite, Targets: []string{"doc_1"}},
		keyward.Scope{Resource: "files", Access: keyward.AccessRead, Targets: []string{"acme/f_9"}}))
	broke := s.createKey(t, &keyward.KeyFields{Name: keyward.Some("one credit"), Credits: keyward.Some(keyward.Credits{Remaining: 1})})

	for _, vv := range verifiers(s, vk) {
		t.Run(vv.name, func(t *testing.T) {
			v := vv.make(t)
			read := middleware.New(v, middleware.Options{Permissions: "documents:read:{id}"})(protected)
			both := middleware.New(v, middleware.Options{Permissions: "documents:write:doc_{n} AND files:read:{org}/{file}"})(protected)
			byQuery := middleware.New(v, middleware.Options{Permissions: "documents:read:{id}", Target: func(r *http.Request, name string) string {
				return r.URL.Query().Get(name)
			}})(protected)

			t.Run("passes", func(t *testing.T) {
				for _, c := range []struct {
					name, pattern string
					h             http.Handler
					path          string
					tok           keyward.Token
					keyID         string
				}{
					{name: "a named document", pattern: "GET /documents/{id}", h: read, path: "/documents/doc_1", tok: two.Secret, keyID: two.ID},
					{name: "the other named document", pattern: "GET /documents/{id}", h: read, path: "/documents/doc_2", tok: two.Secret, keyID: two.ID},
					{name: "any document with *", pattern: "GET /documents/{id}", h: read, path: "/documents/doc_77", tok: all.Secret, keyID: all.ID},
					{name: "an escaped valid id", pattern: "GET /documents/{id}", h: read, path: "/documents/doc%5F1", tok: two.Secret, keyID: two.ID},
					{name: "literal text and three placeholders", pattern: "GET /orgs/{org}/documents/{n}/files/{file}", h: both, path: "/orgs/acme/documents/1/files/f_9", tok: writer.Secret, keyID: writer.ID},
					{name: "write includes read", pattern: "GET /documents/{id}", h: read, path: "/documents/doc_1", tok: writer.Secret, keyID: writer.ID},
					{name: "a Target function", pattern: "GET /search", h: byQuery, path: "/search?id=doc_2", tok: two.Secret, keyID: two.ID},
				} {
					t.Run(c.name, func(t *testing.T) { wantPassed(t, route(c.pattern, c.h, c.path, c.tok), c.keyID) })
				}
			})

			t.Run("refused", func(t *testing.T) {
				for _, c := range []struct {
					name, pattern string
					h             http.Handler
					path          string
					tok           keyward.Token
					required      string // required_permissions of a 403
				}{
					{"another document", "GET /documents/{id}", read, "/documents/doc_3", two.Secret, "documents:read:doc_3"},
					{"a prefix of a named document", "GET /documents/{id}", read, "/documents/doc_", two.Secret, "documents:read:doc_"},
					{"another file", "GET /orgs/{org}/documents/{n}/files/{file}", both, "/orgs/acme/documents/1/files/f_8", writer.Secret, "documents:write:doc_1 AND files:read:acme/f_8"},
					{"read does not include write", "GET /orgs/{org}/documents/{n}/files/{file}", both, "/orgs/acme/documents/2/files/f_9", writer.Secret, "documents:write:doc_2 AND files:read:acme/f_9"},
					{"a Target function", "GET /search", byQuery, "/search?id=doc_3", two.Secret, "documents:read:doc_3"},
				} {
					t.Run(c.name, func(t *testing.T) {
						p := wantRefused(t, route(c.pattern, c.h, c.path, c.tok), forbidden(keyward.VerifyInsufficientPermissions))
						if p["required_permissions"] != c.required {
							t.Errorf("required_permissions %v, want %q", p["required_permissions"], c.required)
						}
					})
				}
			})

			// Values that are not one target: each would make another
			// query if it were pasted in (OR widens it to any document,
			// * to every one, a colon or parentheses change the atom).
			// The key "two documents" passes documents:read without a
			// target, so a widened check would let it through.
			t.Run("injection", func(t *testing.T) {
				bad := refusal{http.StatusBadRequest, keyward.ECodeBadRequest, "", ""}
				for _, c := range []struct {
					name, pattern string
					h             http.Handler
					path          string
				}{
					{"OR", "GET /documents/{id}", read, "/documents/doc_3%20OR%20documents:read"},
					{"OR with a tab", "GET /documents/{id}", read, "/documents/doc_3%09or%09documents:read"},
					{"parentheses", "GET /documents/{id}", read, "/documents/doc_3)OR(documents:read"},
					{"the wildcard", "GET /documents/{id}", read, "/documents/*"},
					{"a colon", "GET /documents/{id}", read, "/documents/doc_1:x"},
					{"AND into another resource", "GET /documents/{id}", read, "/documents/doc_1%20AND%20files:read"},
					{"empty (a rest wildcard)", "GET /documents/{id...}", read, "/documents/"},
					{"too long", "GET /documents/{id}", read, "/documents/" + longID(keyward.MaxTargetLen+1)},
					{"too long with the text around it", "GET /orgs/{org}/documents/{n}/files/{file}", both, "/orgs/acme/documents/" + longID(keyward.MaxTargetLen) + "/files/f_9"},
					{"a Target function", "GET /search", byQuery, "/search?id=doc_3+OR+documents:read"},
					{"a Target function without the parameter", "GET /search", byQuery, "/search"},
				} {
					t.Run(c.name, func(t *testing.T) {
						p := wantRefused(t, route(c.pattern, c.h, c.path, two.Secret), bad)
						if _, ok := p["verify_code"]; ok {
							t.Errorf("a verification took place: %v", p)
						}
					})
				}
			})

			t.Run("no key before a bad value", func(t *testing.T) {
				wantRefused(t, route("GET /documents/{id}", read, "/documents/*", keyward.Token{}), refusal{http.StatusUnauthorized, keyward.ECodeUnauthenticated, "", challenge})
			})
		})
	}

	// A refused value spends nothing: the key's one credit is still there.
	t.Run("a 400 spends no credit", func(t *testing.T) {
		v := s.inProcess(t, vk)
		h := middleware.New(v, middleware.Options{Permissions: "documents:read:{id}"})(protected)
		wantRefused(t, route("GET /documents/{id}", h, "/documents/doc_1%20OR%20x:read", broke.Secret), refusal{http.StatusBadRequest, keyward.ECodeBadRequest, "", ""})
		wantPassed(t, route("GET /documents/{id}", h, "/documents/doc_1", broke.Secret), broke.ID)
		rec := route("GET /documents/{id}", h, "/documents/doc_1", broke.Secret)
		wantRefused(t, rec, refusal{http.StatusTooManyRequests, keyward.ECodeRateLimited, keyward.VerifyUsageExceeded, ""})
	})

	// Many requests at once, each for its own object, through one
	// middleware: the parsed queries are shared safely (go test -race).
	t.Run("concurrent", func(t *testing.T) {
		v := s.inProcess(t, vk)
		h := middleware.New(v, middleware.Options{Permissions: "documents:read:{id}"})(protected)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 200 {
					id := fmt.Sprintf("doc_%d", (g*200+i)%5)
					rec := route("GET /documents/{id}", h, "/documents/"+id, two.Secret)
					want := http.StatusForbidden
					if id == "doc_1" || id == "doc_2" {
						want = http.StatusOK
					}
					if rec.Code != want {
						t.Errorf("%s: %d, want %d: %s", id, rec.Code, want, rec.Body)
						return
					}
				}
			}()
		}
		wg.Wait()
	})
}

func longID(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a'
	}
	return string(b)
}

// TestPermissionsPatternPanics checks that placeholders outside targets,
// and malformed ones, are programming errors found by New.
func TestPermissionsPatternPanics(t *testing.T) {
	t.Parallel()
	var v verifier.Verifier = nopVerifier{}
	for _, pattern := range []string{
		"{resource}:read",
		"documents:{access}",
		"documents:{access}:doc_1",
		"doc{x}:read:doc_1",
		"documents:read:{id",
		"documents:read:id}",
		"documents:read:{}",
		"documents:read:{1d}",
		"documents:read:{a b}",
		"documents:read:{id} {op} files:read",
		"documents:read:{id} AND",
		"documents:read:*{id}",
	} {
		t.Run(pattern, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("New accepted %q", pattern)
				}
			}()
			middleware.New(v, middleware.Options{Permissions: pattern})
		})
	}
	// And what it accepts.
	for _, pattern := range []string{"documents:read:{id}", "documents:read:doc_{id}", "a:read:{x}/{y} OR (b:write:{y} AND c:read)", "documents:read:{Id_2}"} {
		middleware.New(v, middleware.Options{Permissions: pattern})
	}
}

// nopVerifier is a Verifier for tests that never verify.
type nopVerifier struct{}

func (nopVerifier) Verify(context.Context, string, *verifier.Options) (keyward.VerifyResult, error) {
	return keyward.VerifyResult{}, nil
}

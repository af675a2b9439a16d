package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/middleware"
)

// TestRepeatedCredentialHeaders (issue 9, point 9): a credential header
// sent twice is a 400 before anything is verified, whichever copy is the
// valid one (the old middleware silently took the first).
func TestRepeatedCredentialHeaders(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	valid := s.createKey(t, &keyward.KeyFields{Name: keyward.Some("valid")})
	h := middleware.New(s.inProcess(t, s.verifyKey(t)), middleware.Options{})(protected)
	good, bogus := valid.Secret.Reveal(), "kw_bogus"
	for _, c := range []struct {
		name   string
		header string
		values []string
	}{
		{"Authorization, valid then bogus", "Authorization", []string{"Bearer " + good, "Bearer " + bogus}},
		{"Authorization, bogus then valid", "Authorization", []string{"Bearer " + bogus, "Bearer " + good}},
		{"Authorization twice the same", "Authorization", []string{"Bearer " + good, "Bearer " + good}},
		{"X-API-Key, valid then bogus", "X-API-Key", []string{good, bogus}},
		{"x-api-key, bogus then valid", "x-api-key", []string{bogus, good}},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/documents/1", nil)
			for _, v := range c.values {
				req.Header.Add(c.header, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400\n%s", rec.Code, rec.Body)
			}
		})
	}
}

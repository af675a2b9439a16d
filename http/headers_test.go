package http_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestRepeatedCredentialHeaders (issue 9 point 9): a credential or
// account header sent more than once is a 400 naming it, whichever of its
// values is valid and in whatever order, and the request changes nothing.
// Before, the first value won: (valid, bogus) answered 200 and (bogus,
// valid) 401, so a proxy that appends a header could silently choose the
// credential or the account.
func TestRepeatedCredentialHeaders(t *testing.T) {
	e := newEnv(t)
	apiKey := e.createKey(map[string]any{"name": "repeated"})["secret"].(string)
	bogus := forgeToken(t, "kwm")
	def := defaultAccount(t, e)
	other := account(t, e, "other")
	bearer := func(toks ...string) []string {
		var out []string
		for _, tok := range toks {
			out = append(out, "Bearer "+tok)
		}
		return out
	}
	create := func(r req) req {
		r.Method, r.Path, r.Body = "POST", "/v1/keys", map[string]any{"name": "must not exist"}
		return r
	}
	for _, c := range []struct {
		name   string
		r      req
		header string
	}{
		{"Authorization valid then bogus", req{Method: "GET", Path: "/v1/keys", NoAuth: true, Repeat: http.Header{"Authorization": bearer(e.Op, bogus)}}, "Authorization"},
		{"Authorization bogus then valid", req{Method: "GET", Path: "/v1/keys", NoAuth: true, Repeat: http.Header{"Authorization": bearer(bogus, e.Op)}}, "Authorization"},
		{"Authorization twice the same", req{Method: "GET", Path: "/v1/keys", NoAuth: true, Repeat: http.Header{"Authorization": bearer(e.Op, e.Op)}}, "Authorization"},
		{"Authorization repeated on a change", create(req{NoAuth: true, Repeat: http.Header{"Authorization": bearer(e.Op, bogus)}}), "Authorization"},
		{"X-API-Key valid then bogus", req{Method: "GET", Path: "/v1/keys", NoAuth: true, Repeat: http.Header{"X-API-Key": {e.Op, bogus}}}, "X-API-Key"},
		{"X-API-Key bogus then valid", req{Method: "GET", Path: "/v1/keys", NoAuth: true, Repeat: http.Header{"X-API-Key": {bogus, e.Op}}}, "X-API-Key"},
		{"X-API-Key repeated on a change", create(req{NoAuth: true, Repeat: http.Header{"X-API-Key": {e.Op, e.Op}}}), "X-API-Key"},
		{"X-Account-Id two accounts", req{Method: "GET", Path: "/v1/keys", Repeat: http.Header{"X-Account-Id": {def, other}}}, "X-Account-Id"},
		{"X-Account-Id two accounts, other first", req{Method: "GET", Path: "/v1/keys", Repeat: http.Header{"X-Account-Id": {other, def}}}, "X-Account-Id"},
		{"X-Account-Id twice the same", req{Method: "GET", Path: "/v1/keys", Repeat: http.Header{"X-Account-Id": {def, def}}}, "X-Account-Id"},
		{"X-Account-Id repeated on a change", create(req{Repeat: http.Header{"X-Account-Id": {other, def}}}), "X-Account-Id"},
		{"X-Account-Id repeated on an account route", req{Method: "GET", Path: "/v1/accounts", Repeat: http.Header{"X-Account-Id": {def, other}}}, "X-Account-Id"},
		{"verify with two accounts", req{Method: "POST", Path: "/v1/keys/verify", Body: map[string]any{"key": apiKey}, Repeat: http.Header{"X-Account-Id": {other, def}}}, "X-Account-Id"},
		{"verify with two credentials", req{Method: "POST", Path: "/v1/keys/verify", Body: map[string]any{"key": apiKey}, NoAuth: true, Repeat: http.Header{"X-API-Key": {e.Op, bogus}}}, "X-API-Key"},
		{"whoami with two keys", req{Method: "GET", Path: "/v1/whoami", NoAuth: true, Repeat: http.Header{"X-API-Key": {apiKey, bogus}}}, "X-API-Key"},
		{"whoami with two Authorization", req{Method: "GET", Path: "/v1/whoami", NoAuth: true, Repeat: http.Header{"Authorization": bearer(bogus, apiKey)}}, "Authorization"},
		// (bogus first: before the fix, valid first opened a stream that never ends)
		{"invalidation stream", req{Method: "GET", Path: "/v1/invalidations", NoAuth: true, Repeat: http.Header{"Authorization": bearer(bogus, e.Op)}}, "Authorization"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := dump(t, e)
			p := pxProblem(t, e.do(c.r), http.StatusBadRequest, "invalid_parameter")
			if p == nil {
				return
			}
			if fs := fields(p); len(fs) != 1 || !strings.EqualFold(fs[0], c.header) {
				t.Errorf("the problem names %v, want %s", fs, c.header)
			}
			if d, _ := p["detail"].(string); strings.Contains(d, e.Op) || strings.Contains(d, bogus) || strings.Contains(d, apiKey) {
				t.Errorf("the problem echoes a credential: %q", d)
			}
			unchanged(t, e, before, "a request with a repeated "+c.header)
		})
	}
	// One of each, and Authorization with X-API-Key carrying the same
	// credential (both are documented ways to send it), still work.
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys", Header: map[string]string{"X-API-Key": e.Op, "X-Account-Id": def}})
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/whoami", Token: apiKey})
}

package http

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// CompatPrefix is where the compatibility dialects are served (docs/compatibility.md):
// dialect "orq" answers everything under /compat/orq/.
const CompatPrefix = "/compat/"

// Mount serves a compatibility dialect under /compat/<name>/. The dialect
// gets what every request of the native API gets (a request id, echoed in
// X-Request-Id; recovery from panics; the access log; the client address)
// and nothing of its wire format: no problem documents, no Accept, ?pretty
// or Request-Timeout handling. It authenticates with Server.Authenticate,
// and renders its own errors in its vendor's shape.
//
// Mounted dialects are not part of the native OpenAPI document.
//
// A dialect's requests have the server's request budget, as native
// routes do (Options.RequestTimeout): their waits fail with unavailable
// when it runs out.
func (s *Server) Mount(name string, h http.Handler) {
	budget := s.budget
	s.mux.Handle(CompatPrefix+name+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := keyward.WithBudget(r.Context(), budget)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	}))
	s.dialects = append(s.dialects, name)
}

// Dialects returns the names of the mounted dialects.
func (s *Server) Dialects() []string { return append([]string(nil), s.dialects...) }

// isCompat reports whether the path is served by a mounted dialect.
func isCompat(path string) bool { return strings.HasPrefix(path, CompatPrefix) }

// Authenticate authenticates a dialect's request with tok, exactly as the
// native API does: a credential or account header sent twice refused (see
// CheckCredentialHeaders), the client's failed-authentication lockout
// (423/429 as an error with code locked), the account header
// (accountHeader: "" for none; for an account-bound key it must name the
// key's account), and an API key is never a management credential. The
// actor it returns records dialect as the API of every change it makes
// (the audit log's dialect). It fails with a *keyward.Error:
// invalid_parameter, unauthenticated, api_key_forbidden, account_mismatch,
// locked, unavailable.
func (s *Server) Authenticate(r *http.Request, tok keyward.Token, accountHeader, dialect string) (*keyward.Actor, error) {
	if err := checkCredentialHeaders(r.Header); err != nil {
		return nil, err
	}
	rq := requestOf(r)
	if err := s.lockout.check(rq.clientIP); err != nil {
		return nil, err
	}
	a, err := s.svc.Authenticate(r.Context(), service.Credential{Token: tok, AccountID: strings.TrimSpace(accountHeader), ClientIP: rq.clientIP})
	if keyward.ErrorCode(err) == keyward.ECodeUnauthenticated {
		s.lockout.fail(rq.clientIP)
	}
	if err != nil {
		return nil, err
	}
	a.RequestID, a.ClientIP, a.UserAgent, a.Dialect = rq.id, rq.clientIP, truncate(r.UserAgent(), 512), dialect
	return a, nil
}

// CheckCredentialHeaders fails with an invalid_parameter error naming the
// first credential or account header of r sent more than once
// (Authorization, X-API-Key, X-Account-Id: every dialect's credential and
// account headers are among them, names being case-insensitive), whatever
// its values. Authenticate checks it too; a dialect calls it first when it
// reads its credential header itself, so that a repeated header is
// refused before the dialect's own "missing credential" answer.
func CheckCredentialHeaders(r *http.Request) error { return checkCredentialHeaders(r.Header) }

// ParseQuery parses r's query string as the native API does, with the
// one parser of every route: a pair that does not parse (a ";"
// separator, a malformed %-escape) is an invalid_parameter error naming
// it, never dropped.
func ParseQuery(r *http.Request) (url.Values, error) { return parseQuery(r.URL.RawQuery) }

// RequestID returns the id of a request served by Server (the X-Request-Id
// it answers with), "" for a request it did not see.
func RequestID(r *http.Request) string { return requestOf(r).id }

// Note records err as the outcome of a dialect's request for the access
// log (its code), and logs the cause of an internal or unavailable error
// — the dialect answers with a safe message only. w must be the writer
// Server passed to the dialect.
func Note(w http.ResponseWriter, err error) {
	if rw, ok := w.(*responseWriter); ok && err != nil {
		rw.noted = err
	}
}

// ReadBody reads a JSON request body as the native API does: at most
// MaxBodyBytes (body_too_large beyond), a JSON media type
// (unsupported_media_type), UTF-8. It returns nil for an empty body.
func ReadBody(r *http.Request) ([]byte, error) { return readBody(r) }

// DecodeStrict decodes b into dst as the native API decodes bodies: one
// JSON object, no duplicate or unknown members (malformed_json,
// unknown_field), a member of the wrong type a validation_failed naming it.
func DecodeStrict(b []byte, dst any) error { return decodeBytes(b, dst) }

// WithTimeout bounds the request's context by Request-Timeout (seconds)
// or Request-Timeout-Millis, as on the native API. A malformed value is
// an invalid_parameter error naming the header. The caller must call the
// returned cancel function.
func WithTimeout(r *http.Request) (*http.Request, context.CancelFunc, error) { return withTimeout(r) }

// Dispatch serves r through mux if mux has a route for it, and reports
// true. Otherwise it writes nothing and returns the methods the path
// allows: a caller answers 405 with Allow when there are some, else 404,
// in its own format (the mux's own answers are plain text).
func Dispatch(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) (routed bool, allow string) {
	h, pattern := mux.Handler(r)
	if pattern != "" {
		// ServeHTTP, not h: only the mux sets the path values.
		mux.ServeHTTP(w, r)
		return true, ""
	}
	probe := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		return false, probe.header.Get("Allow")
	}
	return false, ""
}

package http

import (
	"net/http"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
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
// reads the request's id and client address with api.StateOf, bodies,
// queries and Request-Timeout with the readers of package api, and renders
// its own errors in its vendor's shape.
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
// api.CheckCredentialHeaders), the client's failed-authentication lockout
// (423/429 as an error with code locked), the account header
// (accountHeader: "" for none; for an account-bound key it must name the
// key's account), and an API key is never a management credential. The
// actor it returns records dialect as the API of every change it makes
// (the audit log's dialect). It fails with a *keyward.Error:
// invalid_parameter, unauthenticated, api_key_forbidden, account_mismatch,
// locked, unavailable.
func (s *Server) Authenticate(r *http.Request, tok keyward.Token, accountHeader, dialect string) (*keyward.Actor, error) {
	if err := api.CheckCredentialHeaders(r); err != nil {
		return nil, err
	}
	rq := api.StateOf(r)
	if err := s.lockout.check(rq.ClientIP); err != nil {
		return nil, err
	}
	a, err := s.svc.Authenticate(r.Context(), service.Credential{Token: tok, AccountID: strings.TrimSpace(accountHeader), ClientIP: rq.ClientIP})
	if keyward.ErrorCode(err) == keyward.ECodeUnauthenticated {
		s.lockout.fail(rq.ClientIP)
	}
	if err != nil {
		return nil, err
	}
	a.RequestID, a.ClientIP, a.UserAgent, a.Dialect = rq.ID, rq.ClientIP, truncate(r.UserAgent(), 512), dialect
	return a, nil
}

// Note records err as the outcome of a dialect's request for the access
// log (its code), and logs the cause of an internal or unavailable error
// — the dialect answers with a safe message only. w must be the writer
// Server passed to the dialect.
func Note(w http.ResponseWriter, err error) {
	if rw, ok := w.(*responseWriter); ok && err != nil {
		rw.noted = err
	}
}

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

package http

import (
	"net/http"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// CompatPrefix is where the compatibility dialects are served (docs/compatibility.md):
// dialect "orq" answers everything under /compat/orq/.
const CompatPrefix = "/compat/"

// Mount serves a compatibility dialect under /compat/<name>/: newHandler
// is called once with the dialect's Host, and the handler it returns
// answers every request under the mount (full paths), in its vendor's
// wire format. The dialect gets what every request of the native API gets
// (a request id, echoed in X-Request-Id; recovery from panics; the access
// log; the client address, in the request's api.State) and nothing of its
// wire format: no problem documents, no Accept, ?pretty or
// Request-Timeout handling.
//
// A dialect's requests have the server's request budget, as native
// routes do (Options.RequestTimeout): their waits fail with unavailable
// when it runs out. Mounted dialects are not part of the native OpenAPI
// document.
func (s *Server) Mount(name string, newHandler func(Host) http.Handler) {
	h, budget := newHandler(Host{s: s, dialect: name}), s.budget
	s.mux.Handle(CompatPrefix+name+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := keyward.WithBudget(r.Context(), budget)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	}))
}

// isCompat reports whether the path is served by a mounted dialect.
func isCompat(path string) bool { return strings.HasPrefix(path, CompatPrefix) }

// Host is what the server lends a dialect it mounts (Mount): the native
// API's authentication, its lockout included, for changes the audit log
// records under the dialect's name, and the access log's record of the
// dialect's answers. It is all a dialect needs of the server: the request
// id and the client address are in each request's api.State.
type Host struct {
	s       *Server
	dialect string
}

// Authenticate authenticates tok, the management credential a dialect
// read from r, exactly as the native API authenticates its own: a
// credential or account header sent twice refused (see
// api.CheckCredentialHeaders), the client's failed-authentication lockout,
// the account the request names (account: "" for none; for an
// account-bound key it must name the key's account), and an API key is
// never a management credential. The actor it returns records the
// dialect as the API of every change it makes (the audit log's dialect).
// It fails with a *keyward.Error: invalid_parameter, unauthenticated,
// api_key_forbidden, account_mismatch, not_found (the account), locked,
// unavailable.
func (h Host) Authenticate(r *http.Request, tok keyward.Token, account string) (*keyward.Actor, error) {
	return h.s.authenticate(r, func() (keyward.Token, error) { return tok, nil },
		service.Credential{AccountID: strings.TrimSpace(account)}, h.dialect)
}

// Note records err as the outcome of a dialect's request for the access
// log (its code), and has the cause of an internal or unavailable error
// logged: the dialect answers with a safe message only. w must be the
// writer the server passed to the dialect.
func (h Host) Note(w http.ResponseWriter, err error) {
	if rw, ok := w.(*responseWriter); ok && err != nil {
		rw.noted = err
	}
}

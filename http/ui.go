package http

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// UIDialect is the name the dashboard's changes carry in the audit log
// (the event's dialect).
const UIDialect = "dashboard"

// MountUI serves the dashboard (package ui): newHandler is called once
// with the dashboard's Host, and the handler it returns answers every
// request whose path belongs to no API, "/" included. The API's paths
// (/v1/…, /compat/…, /healthz, /readyz, /metrics, /openapi.json) are not
// the dashboard's: an unknown /v1 path is still the API's JSON 404.
// Without MountUI those other paths are 404 problems.
//
// The dashboard gets what every request gets (a request id echoed in
// X-Request-Id, recovery from panics, the access log, the client address
// in its api.State) and renders everything else itself: no problem
// documents, Accept or ?pretty handling, and no request budget (it sets
// its own from Host.Budget).
func (s *Server) MountUI(newHandler func(Host) http.Handler) {
	s.ui = newHandler(Host{s: s, dialect: UIDialect})
}

// isAPI reports whether path is one of the API's (never the dashboard's).
func isAPI(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics", "/openapi.json":
		return true
	}
	return strings.HasPrefix(path, "/v1/") || path == "/v1" || isCompat(path)
}

// AuthenticateHash authenticates a dashboard session: the hash of the
// management key it was signed in with (never the key), for account (""
// for the key's own, or the operator's default). It is Host.Authenticate
// without the token: the same checks by the service
// (service.AuthenticateHash), under the client's lockout, and the actor
// records the request's origin. It fails with a *keyward.Error as
// Authenticate does.
func (h Host) AuthenticateHash(r *http.Request, hash keyward.TokenHash, account string) (*keyward.Actor, error) {
	return h.s.authenticateWith(r, service.Credential{Hash: hash, AccountID: strings.TrimSpace(account)}, h.dialect,
		func(ctx context.Context, c service.Credential) (*keyward.Actor, error) {
			return h.s.svc.AuthenticateHash(ctx, c)
		})
}

// AuthenticateHashAnyAccount is AuthenticateHash for no account in
// particular: an operator key answers with an actor on every account
// (Actor.AllAccounts) and, when the account default is gone, no account
// (AccountID ""), where AuthenticateHash(r, hash, "") answers not_found.
// The dashboard uses it to find an account for an operator whose default
// account was deleted.
func (h Host) AuthenticateHashAnyAccount(r *http.Request, hash keyward.TokenHash) (*keyward.Actor, error) {
	return h.s.authenticateWith(r, service.Credential{Hash: hash, AnyAccount: true}, h.dialect,
		func(ctx context.Context, c service.Credential) (*keyward.Actor, error) {
			return h.s.svc.AuthenticateHash(ctx, c)
		})
}

// Budget returns the server's request budget (Options.RequestTimeout),
// which a mounted handler applies to its own requests.
func (h Host) Budget() time.Duration { return h.s.budget }

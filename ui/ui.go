// Package ui is keyward's dashboard: server-rendered pages (html/template,
// embedded in the binary with the CSS and the little JavaScript that
// enhances them), served by the same http.Server as the API at every path
// that is not the API's (khttp.Server.MountUI). Decisions:
// docs/decisions.md, "Dashboard"; pages and security: docs/dashboard.md.
//
// # Security
//
// A person signs in with a management key, which is exchanged for a
// session kept in this node's memory (session.go). The session holds the
// key's hash, never the key, and every request authenticates that hash
// through the service exactly as the API authenticates a key (the host's
// AuthenticateHash), so a page can do what the key can, for as long as
// the key can. Every page goes out with a strict Content-Security-Policy
// and no caching; every POST carries a CSRF token bound to the session's
// cookie (a POST without it is refused with 403 before anything runs).
// Nothing here decides who may do what: pages call the same service
// methods as the API, and a refusal of the service is what the page shows.
//
// # Adding a page
//
// One handler per page, all routes declared in routes (routes.go):
//
//  1. Write the template ui/templates/<name>.html: it defines "title" and
//     "content" (the layout, layout.html, holds the navigation and the
//     account switch). Use the partials of partials.html: "field" (a
//     labelled input with its #<name>-error), "textarea", "select",
//     "errors" (the form's general error), "csrf" (the hidden token every
//     POST form needs), "pager" (a#next-page) and "chart".
//  2. Write the handler, a pageFunc: func(w, r, *call) error. call.actor
//     is the authenticated actor to pass to the service; return the
//     service's error and the page shows it (404, 403 and 409 as pages of
//     their own). Render with u.render(w, r, c, status, "<name>.html",
//     data); a form re-renders with u.formError(err) → 422 and the field
//     errors of the API's problem (invalid_params → #<field>-error).
//     After a POST that changed something, redirect with seeOther (303).
//  3. Register it in routes with u.page (GET) or u.post (POST: CSRF is
//     checked before the handler runs), and add a link in layout.html's
//     nav if it is a list.
//
// A list page reads one page of objects with one store query (the
// service's List… with Page{Limit, StartingAfter}), shows a#next-page
// when there is more (cursor: the last id), and fetches whatever it shows
// per row for all rows at once (see keys.go's activity: one usage query
// for the page's keys), never per row.
package ui

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/keyward/keyward"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/service"
)

// Options configure the dashboard.
type Options struct {
	// IdleTimeout ends a session not used for this long
	// (DefaultIdleTimeout when zero).
	IdleTimeout time.Duration
	// MaxAge ends a session this long after sign-in, used or not
	// (DefaultMaxAge when zero).
	MaxAge time.Duration
	// SecureCookies marks the session cookie Secure on every request, for
	// a server behind a proxy that terminates TLS; without it the cookie
	// is Secure when the request came over TLS.
	SecureCookies bool
	// Clock is the time of sessions (time.Now when nil).
	Clock func() time.Time
	// Logger logs what went wrong while rendering (nil: discarded).
	Logger *slog.Logger
}

// UI is the dashboard's handler.
type UI struct {
	host     khttp.Host
	svc      *service.Service
	sessions *sessions
	pages    *pages
	static   *static
	mux      *http.ServeMux
	secure   bool
	log      *slog.Logger
	budget   time.Duration
}

// Mount serves the dashboard on api (khttp.Server.MountUI).
func Mount(api *khttp.Server, svc *service.Service, o Options) {
	api.MountUI(func(h khttp.Host) http.Handler { return New(h, svc, o) })
}

// New returns the dashboard served through host.
func New(host khttp.Host, svc *service.Service, o Options) *UI {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	st := newStatic()
	u := &UI{host: host, svc: svc, sessions: newSessions(o.IdleTimeout, o.MaxAge, o.Clock), pages: mustParsePages(st), static: st,
		mux: http.NewServeMux(), secure: o.SecureCookies, log: o.Logger, budget: host.Budget()}
	u.routes()
	return u
}

// csp is the Content-Security-Policy of every answer: no inline script or
// style, nothing from elsewhere, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// ServeHTTP sets the security headers of every answer and routes.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Cookie")
	u.mux.ServeHTTP(w, r)
}

// within bounds the request's waits by the server's request budget.
func (u *UI) within(r *http.Request) (*http.Request, context.CancelFunc) {
	ctx, cancel := keyward.WithBudget(r.Context(), u.budget)
	return r.WithContext(ctx), cancel
}

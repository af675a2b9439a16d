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
// One handler per page, all routes declared in routes (routes.go). For a
// kind of object (the keys are the worked example: keys.go, key.go,
// keyactions.go and their templates):
//
//  1. Templates in ui/templates/<name>.html, each defining "title" and
//     "content" (layout.html holds the navigation, the account switch and
//     sign-out). The partials of partials.html: "csrf" (the hidden token
//     every POST form needs: {{template "csrf" $}}), "field" / "textarea"
//     (a labelled input with its hint and its #<name>-error:
//     {{template "field" field .Form "name" "Name" "text"}}), "select"
//     ({{template "select" options .Form "status" "Status" "" "Any" …}}),
//     "errors" (the form's general error), "pager" (a#next-page) and
//     "usage" (a usage chart with its range links).
//  2. A handler is a pageFunc, func(w, r, *call) error: c.actor is the
//     actor to pass to the service, authenticated for this request.
//     Return the service's error and the page shows it with its status
//     (404, 403, 409…). Render with u.render(w, r, c, status, "<name>.html",
//     data); the template reads data as .Page, and .Can "<permission>" says
//     whether to offer an action (service.Require, the service's own
//     check). A GET page that only leads to a change checks
//     service.Require first, so it is refused as the change would be.
//  3. A form's POST reads r.PostForm (parsed, CSRF already checked) into
//     the service's input type. When the service refuses it,
//     formError(r.PostForm, err, fields) gives the form back with each of
//     the problem's field errors next to its field (fields maps API member
//     names to form field names where they differ), to render with the
//     status 422 Unprocessable Entity. On success, seeOther (303) to the
//     object's page.
//  4. Register the routes in routes: u.page for GET, u.post for POST.
//     The navigation (navigation, in render.go) already links
//     /management-keys, /users, /service-accounts, /roles, /catalog,
//     /projects and /audit; a new section adds its item there.
//
// A list page reads one page of objects with one service call (List…
// with Page{Limit, StartingAfter} from the query's "after"), shows
// a#next-page when there is more (nextPage), puts data-id (keys:
// data-key-id) on each row, and reads what it shows per row for all rows
// at once (keys.go's 24 h activity: one usage read for the page's keys),
// never per row. The tests drive pages over real HTTP with the kit of
// kit_test.go (startSite, browser.signIn, get, post, page.errorOf).
//
// A kind with the usual list, object page, create and edit forms and
// confirmations needs no handlers of its own: fill in an objectPages
// (objects.go; users in members.go are the worked example) and register
// it in objectRoutes; checkObjectPages (objects_test.go) tests it.
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
	// BusiestKeysWait is how long the overview waits for the busiest keys
	// of its range (DefaultBusiestKeysWait when zero); past it the
	// overview links to the page of the busiest keys, which waits as long
	// as a request may. Finding them sums every key's usage of the range:
	// about 2.5 s when a million keys were used in a day
	// (docs/performance.md).
	BusiestKeysWait time.Duration
}

// DefaultBusiestKeysWait is Options.BusiestKeysWait's default: the rest
// of the overview takes up to about 15 ms (PostgreSQL), so the page stays
// within the dashboard's 50 ms, and it shows the busiest keys inline for
// an account that used up to about ten thousand keys in the range
// (docs/performance.md).
const DefaultBusiestKeysWait = 30 * time.Millisecond

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
	// busiestWait: Options.BusiestKeysWait.
	busiestWait time.Duration
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
	if o.BusiestKeysWait <= 0 {
		o.BusiestKeysWait = DefaultBusiestKeysWait
	}
	st := newStatic()
	u := &UI{host: host, svc: svc, sessions: newSessions(o.IdleTimeout, o.MaxAge, o.Clock), pages: mustParsePages(st), static: st,
		mux: http.NewServeMux(), secure: o.SecureCookies, log: o.Logger, budget: host.Budget(),
		busiestWait: o.BusiestKeysWait}
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

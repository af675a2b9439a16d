// Package kit is the scaffold every compatibility dialect shares
// (docs/compatibility.md, "Adding a dialect"): the one authentication of
// a vendor's credential, through the server the dialect is mounted on
// (Server); the adapter from a vendor's handlers, which return errors, to
// net/http, answering errors in the vendor's shape (Dialect), with the
// handlers' common state (Base) and a route table (Routes, Serve); the
// reading and writing of requests and answers the dialects have in common
// (Dialect.Query, WriteJSON, Bearer, BearerCredential; bodies are read
// with api.Decode); and the classification of errors the vendors share
// (StatusOf, Codes, Error).
//
// A dialect package declares what is its vendor's: its routes, its wire
// types, the translation between them and the service's calls, and its
// errors (a Vendor). Envelopes, id and time formats and error bodies are
// wire code of the dialect, never of the kit.
package kit

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/service"
)

// Prefix is where the dialects are served: dialect "orq" answers every
// path under /compat/orq/.
const Prefix = khttp.CompatPrefix

// Server is what the server a dialect is mounted on lends it; the
// khttp.Host that khttp.Server.Mount hands over is one.
type Server interface {
	// Authenticate authenticates tok as a management credential exactly
	// as the native API does (repeated credential headers refused, the
	// client's lockout, the account named by account, API keys refused),
	// recording the dialect as the API of the actor's changes.
	Authenticate(r *http.Request, tok keyward.Token, account string) (*keyward.Actor, error)
	// Note records err as the outcome of the request for the access log,
	// which logs the cause of a 5xx; w is the writer the server passed.
	Note(w http.ResponseWriter, err error)
}

var _ Server = khttp.Host{}

// Handler serves one route of a dialect for an authenticated caller: it
// writes its answer (WriteJSON), or returns the error to answer, having
// written nothing.
type Handler func(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error

// Timeout says whether, and when, a dialect's routes read the
// Request-Timeout and Request-Timeout-Millis headers (api.WithTimeout): a
// request whose own deadline runs out answers timeout.
type Timeout int

const (
	// NoTimeout: the headers are ignored (PulseCRM has neither).
	NoTimeout Timeout = iota
	// TimeoutFirst: read before the credential, as the native API does.
	TimeoutFirst
	// TimeoutAfterAuth: read once the caller is authenticated, so that a
	// bad credential is answered first whatever the headers say (orq, as
	// it always has).
	TimeoutAfterAuth
)

// Vendor is what differs from one dialect to another in the scaffold:
// how its vendor sends a credential and shapes errors. Errors and
// Credential are required.
type Vendor struct {
	// Errors gives err the vendor's status and error body. It may set
	// headers of the answer on h (WWW-Authenticate, …); the kit sets
	// Allow for a 405 and Retry-After (the lockout's or rate limit's
	// seconds, else 1 for a 503), and writes the body (WriteJSON).
	Errors func(r *http.Request, h http.Header, err error) (status int, body any)
	// Credential reads the caller's token from r, or fails with the
	// vendor's answer for a missing or malformed one. An empty token
	// goes to the server, which counts it as a failed authentication.
	Credential func(r *http.Request) (keyward.Token, error)
	// Account reads the account the request names; nil reads
	// X-Account-Id (names are case-insensitive: PulseCRM's x-account-id
	// is the same header). It runs before the credential is read.
	Account func(r *http.Request) (string, error)
	// Refused rewrites an error of the server's authentication in the
	// vendor's words; nil leaves it as it is.
	Refused func(r *http.Request, err error) error
	// Check runs first on every route: the vendor's own checks of any
	// request (discue: its query parameters, Accept). nil checks nothing.
	Check func(r *http.Request) error
	// NoRoute is the error of a request no route takes (allow: the
	// methods its path takes, "" for an unknown path); nil is
	// api.NoRoute.
	NoRoute func(r *http.Request, allow string) error
	// Timeout says whether and when Request-Timeout is read.
	Timeout Timeout
	// Pretty says that ?pretty indents answers, errors included, and is
	// taken by every route (orq, discue).
	Pretty bool
	// Operation is the vendor's word for a route, in Query's messages;
	// "" is "route".
	Operation string
}

// Dialect is one vendor's API under /compat/<vendor>/: an http.Handler
// that routes with the native API's rules (api.Dispatch), takes every
// request through the vendor's steps (Handle) and answers every error,
// unknown paths and methods included, in the vendor's shape.
type Dialect struct {
	srv Server
	v   Vendor
	mux *http.ServeMux
}

// New returns a dialect served with srv, the Host the server hands over
// (khttp.Server.Mount), for v. Its routes are added with Handle.
func New(srv Server, v Vendor) *Dialect {
	if v.NoRoute == nil {
		v.NoRoute = api.NoRoute
	}
	if v.Operation == "" {
		v.Operation = "route"
	}
	return &Dialect{srv: srv, v: v, mux: http.NewServeMux()}
}

// Base is what every dialect's handlers hold: the service they call and
// the dialect they are served on (Query). A dialect's handler type embeds
// it.
type Base struct {
	Svc *service.Service
	Kit *Dialect
}

// Routes is a dialect's route table: a handler for each net/http pattern
// ("METHOD /compat/<vendor>/…", the full path).
type Routes map[string]Handler

// Serve serves each route of routes (Handle) and returns d, the dialect's
// http.Handler.
func (d *Dialect) Serve(routes Routes) *Dialect {
	for pattern, h := range routes {
		d.Handle(pattern, h)
	}
	return d
}

// Handle serves the requests that pattern (a net/http pattern with the
// full path) matches with h, after the steps every route of the dialect
// takes, in this order: Check; Request-Timeout (TimeoutFirst); the
// account, repeated credential headers (a 400, before the vendor reads
// its own header), the credential and the server's authentication;
// Request-Timeout (TimeoutAfterAuth). The first error is answered in the
// vendor's shape, and so is h's.
func (d *Dialect) Handle(pattern string, h Handler) {
	d.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		stop := func() {}
		// After the error's answer: it may depend on the deadline.
		defer func() { stop() }()
		var err error
		if d.v.Check != nil {
			err = d.v.Check(r)
		}
		if err == nil && d.v.Timeout == TimeoutFirst {
			r, stop, err = withTimeout(r)
		}
		var a *keyward.Actor
		if err == nil {
			a, err = d.authenticate(r)
		}
		if err == nil && d.v.Timeout == TimeoutAfterAuth {
			r, stop, err = withTimeout(r)
		}
		if err == nil {
			err = h(w, r, a)
		}
		if err != nil {
			d.fail(w, r, err)
		}
	})
}

// withTimeout is api.WithTimeout with a stop function that is never nil.
func withTimeout(r *http.Request) (*http.Request, func(), error) {
	r2, cancel, err := api.WithTimeout(r)
	if err != nil {
		return r, func() {}, err
	}
	return r2, cancel, nil
}

// authenticate authenticates the vendor's credential with the server:
// the one authentication of every dialect.
func (d *Dialect) authenticate(r *http.Request) (*keyward.Actor, error) {
	account := r.Header.Get("X-Account-Id")
	if d.v.Account != nil {
		var err error
		if account, err = d.v.Account(r); err != nil {
			return nil, err
		}
	}
	if err := api.CheckCredentialHeaders(r); err != nil {
		return nil, err
	}
	tok, err := d.v.Credential(r)
	if err != nil {
		return nil, err
	}
	a, err := d.srv.Authenticate(r, tok, account)
	if err != nil && d.v.Refused != nil {
		return nil, d.v.Refused(r, err)
	}
	return a, err
}

// ServeHTTP routes a request of the dialect. A path no route takes is
// the vendor's 404, a method its path does not take the vendor's 405 with
// Allow: the mux's own answers are plain text.
func (d *Dialect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d.v.Pretty {
		// Read leniently, for every answer, errors included: a query or
		// a ?pretty that Query refuses leaves the answer unindented.
		q, _ := api.ParseQuery(r)
		api.StateOf(r).Pretty, _ = api.Pretty(q)
	}
	routed, allow := api.Dispatch(d.mux, w, r)
	if routed {
		return
	}
	if allow != "" {
		w.Header().Set("Allow", allow)
	}
	d.fail(w, r, d.v.NoRoute(r, allow))
}

// fail answers err in the vendor's shape and notes it for the access log
// (which logs the cause of a 5xx: the client sees a safe message only).
func (d *Dialect) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		// The client went away; the log says so.
		err = &keyward.Error{Code: keyward.ECodeTimeout, Message: "the request was cancelled", Err: err}
	}
	d.srv.Note(w, err)
	status, body := d.v.Errors(r, w.Header(), err)
	if secs, ok := keyward.AsError(err).Details["retry_after_seconds"].(int64); ok {
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	} else if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if WriteJSON(w, r, status, body) != nil {
		// The vendor's error bodies are plain values: a bug.
		w.WriteHeader(http.StatusInternalServerError)
	}
}

// Query returns r's query parameters, refusing with a 400 naming it a
// parameter the route does not take, or one of names given more than
// once (a mistyped filter must not silently list everything): names are
// the route's parameters, repeated those that may repeat. ?pretty is
// taken, and checked first, when the vendor has it (Vendor.Pretty).
func (d *Dialect) Query(r *http.Request, names []string, repeated ...string) (url.Values, error) {
	q, err := api.ParseQuery(r)
	if err != nil {
		return nil, err
	}
	if d.v.Pretty {
		if _, err := api.Pretty(q); err != nil {
			return nil, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(q)) {
		switch {
		case name == "pretty" && d.v.Pretty, slices.Contains(repeated, name):
		case !slices.Contains(names, name):
			return nil, api.BadParam(name, "is not a parameter of this %s", d.v.Operation)
		case len(q[name]) > 1:
			return nil, api.BadParam(name, "is given more than once")
		}
	}
	return q, nil
}

// WriteJSON writes v as the answer with status, as application/json
// (api.WriteJSON: indented when the vendor has ?pretty and the request
// asks for it). A nil v writes no body (a 204). It fails with internal,
// having written nothing, when v does not encode.
func WriteJSON(w http.ResponseWriter, r *http.Request, status int, v any) error {
	if v == nil {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		return nil
	}
	return api.WriteJSON(w, r, status, "application/json", v)
}

// BearerCredential is a Vendor.Credential for a vendor whose credential
// is Authorization: Bearer <token> (Bearer): a missing or malformed header
// fails with missing(), the vendor's own error.
func BearerCredential(missing func() error) func(*http.Request) (keyward.Token, error) {
	return func(r *http.Request) (keyward.Token, error) {
		tok := Bearer(r)
		if tok == "" {
			return keyward.Token{}, missing()
		}
		return keyward.TokenFromString(tok), nil
	}
}

// Bearer returns the token of r's Authorization: Bearer <token> header,
// "" when there is none or the header holds another scheme.
// api.CheckCredentialHeaders refuses a repeated header before it is read.
func Bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// StatusOf is the status of an error code on a dialect whose vendor has
// no 422 (every vendor but discue): api.StatusOf, except that a request
// that breaks a rule is a 400, like a malformed one.
func StatusOf(c keyward.Code) int {
	if status := api.StatusOf(c); status != http.StatusUnprocessableEntity {
		return status
	}
	return http.StatusBadRequest
}

// Error is an error whose status and vendor code the dialect decided
// where its Codes would not (a keyward code that stands for several of the
// vendor's: a missing credential and a bad one are both unauthenticated).
// Err is the keyward error it stands for: its code goes to the access log,
// its message to the client.
type Error struct {
	Status int
	Code   string
	Err    *keyward.Error
}

func (e *Error) Error() string { return e.Code + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Codes is how a vendor whose error bodies carry a code of its own (orq,
// Unkey) classifies keyward's errors: the status is StatusOf's unless
// Status says otherwise, the vendor's code that of the status (ByStatus)
// unless Name gives the keyward code one of its own. A status ByStatus
// does not name is the vendor's 500, Default.
type Codes struct {
	ByStatus map[int]string
	Default  string
	Status   map[keyward.Code]int
	Name     map[keyward.Code]string
}

// Of returns err's status, vendor code and keyward error: those an *Error
// carries, else those of its code.
func (c Codes) Of(err error) (int, string, *keyward.Error) {
	if ve, ok := errors.AsType[*Error](err); ok {
		return ve.Status, ve.Code, ve.Err
	}
	e := keyward.AsError(err)
	status := StatusOf(e.Code)
	if s, ok := c.Status[e.Code]; ok {
		status = s
	}
	code, ok := c.ByStatus[status]
	if !ok {
		return http.StatusInternalServerError, c.Default, e
	}
	if name, ok := c.Name[e.Code]; ok {
		code = name
	}
	return status, code, e
}

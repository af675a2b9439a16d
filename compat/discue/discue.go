// Package discue serves discue.io's API-key API (/v1/api_keys) under
// /compat/discue/, in discue's wire format and backed by keyward's keys, so
// that a client written from discue's documentation works against keyward
// with only its base URL and its X-API-KEY changed (docs/compatibility.md).
//
// The package only translates: discue's ids, statuses, scopes and
// epoch-millisecond times to keyward's KeyFields and back, and keyward's
// errors to discue's {title, status} body. Every rule (validation of
// scopes against the catalog, protected resources, the revoked state,
// authorization, audit) stays in package service.
package discue

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/service"
)

// Dialect is the dialect's name: its mount point (/compat/discue/) and the
// "dialect" the audit log records for changes made through it.
const Dialect = "discue"

// base is the path of discue's API-key collection under the mount point
// (discue's base URL is https://api.discue.io/v1).
const base = khttp.CompatPrefix + Dialect + "/v1/api_keys"

// Authenticator authenticates a management credential as the native API
// does (lockout, account header, API keys refused). *khttp.Server is one.
type Authenticator interface {
	Authenticate(r *http.Request, tok keyward.Token, accountHeader, dialect string) (*keyward.Actor, error)
}

// handler serves the dialect.
type handler struct {
	svc  *service.Service
	auth Authenticator
	mux  *http.ServeMux
}

// New returns the discue dialect's handler, to be mounted with
// (*khttp.Server).Mount("discue", …). It serves every path under
// /compat/discue/; unknown paths and methods get discue-shaped 404 and
// 405 answers.
func New(svc *service.Service, auth Authenticator) http.Handler {
	h := &handler{svc: svc, auth: auth, mux: http.NewServeMux()}
	h.mux.Handle("GET "+base, h.route(h.list))
	h.mux.Handle("POST "+base, h.route(h.create))
	h.mux.Handle("GET "+base+"/{id}", h.route(h.get))
	h.mux.Handle("PUT "+base+"/{id}", h.route(h.update))
	h.mux.Handle("DELETE "+base+"/{id}", h.route(h.delete))
	return h
}

// ServeHTTP routes the request; the mux's own 404 and 405 answers are
// plain text, so they are rendered here in discue's shape instead.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	routed, allow := khttp.Dispatch(h.mux, w, r)
	if routed {
		return
	}
	pretty, _ := prettyParam(r)
	if allow != "" {
		w.Header().Set("Allow", allow)
		writeError(w, r, pretty, keyward.Errorf(keyward.ECodeMethodNotAllowed, "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
		return
	}
	writeError(w, r, pretty, keyward.Errorf(keyward.ECodeNotFound, "no route %s", r.URL.Path))
}

// call is one request to a route: what every handler needs besides the
// request.
type call struct {
	actor  *keyward.Actor
	pretty bool
}

// routeFunc handles an authenticated request; a returned error has not
// been written and is rendered in discue's shape.
type routeFunc func(w http.ResponseWriter, r *http.Request, c *call) error

// route wraps a handler with what discue does on every route, in the
// order the native API does it (so an unauthenticated caller learns
// nothing about a route's body): query parameters (only ?pretty), Accept,
// the request timeout, then the X-API-KEY credential.
func (h *handler) route(fn routeFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{}
		err := func() error {
			var err error
			if c.pretty, err = prettyParam(r); err != nil {
				return err
			}
			if err := onlyPretty(r); err != nil {
				return err
			}
			if !acceptsJSON(r.Header.Values("Accept")) {
				return keyward.Errorf(keyward.ECodeNotAcceptable, "discue answers application/json; the Accept header excludes it")
			}
			r2, cancel, err := api.WithTimeout(r)
			if err != nil {
				return err
			}
			defer cancel()
			r = r2
			if c.actor, err = h.authenticate(r); err != nil {
				return err
			}
			return fn(w, r, c)
		}()
		if err != nil {
			writeError(w, r, c.pretty, err)
		}
	})
}

// authenticate reads discue's credential header. The organization is the
// credential's account ("The target organization for this request will be
// determined by the supplied access token"); an operator key may name
// another with X-Account-Id, as on the native API.
func (h *handler) authenticate(r *http.Request) (*keyward.Actor, error) {
	if err := api.CheckCredentialHeaders(r); err != nil {
		return nil, err
	}
	v := r.Header.Get("X-API-KEY")
	if strings.TrimSpace(v) == "" {
		return nil, keyward.Errorf(keyward.ECodeUnauthenticated, "a management key is required: send it in the X-API-KEY header")
	}
	return h.auth.Authenticate(r, keyward.TokenFromString(v), r.Header.Get("X-Account-Id"), Dialect)
}

// prettyParam reads discue's ?pretty flag: present without a value, true
// or 1 pretty-prints; false or 0 does not; anything else is a 400, and so
// is a query string that does not parse (api.ParseQuery).
func prettyParam(r *http.Request) (bool, error) {
	if r.URL.RawQuery == "" {
		return false, nil
	}
	q, err := api.ParseQuery(r)
	if err != nil {
		return false, err
	}
	v, ok := q["pretty"]
	if !ok {
		return false, nil
	}
	switch strings.ToLower(v[len(v)-1]) {
	case "", "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, badParam("pretty", "must be true or false")
}

// onlyPretty refuses query parameters other than pretty: discue's key
// routes take no other, and a parameter keyward would ignore (a typo, or
// discue's announced but unavailable page/per_page) must not pass as if
// it had been applied.
func onlyPretty(r *http.Request) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	q, err := api.ParseQuery(r)
	if err != nil {
		return err
	}
	for name := range q {
		if name != "pretty" {
			return badParam(name, "is not a parameter of this route")
		}
	}
	return nil
}

// acceptsJSON reports whether the Accept header values allow a JSON
// answer (no header accepts anything).
func acceptsJSON(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
					continue
				}
			}
			switch mt {
			case "*/*", "application/*", "application/json":
				return true
			}
		}
	}
	return false
}

// writeJSON writes v as a JSON response, indented with ?pretty.
func writeJSON(w http.ResponseWriter, r *http.Request, pretty bool, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if pretty {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		// Only values this package builds are encoded: not the client's fault.
		khttp.Note(w, keyward.Internal(err))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"title":"Internal Server Error","status":500}` + "\n"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

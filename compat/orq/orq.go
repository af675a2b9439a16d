// Package orq serves orq.ai's API-key API (/v2/api-keys) under
// /compat/orq/, in orq's wire format and backed by keyward's keys, so that
// a client written from orq's documentation works against keyward with
// only its base URL and credential changed (docs/compatibility.md).
//
// The package only translates: orq's ids, enums, access maps and project
// scopes to keyward's KeyFields and filters and back, and keyward's errors
// to orq's {"error":{code,message}} body. Every rule (validation, the PATCH
// semantics, authorization, audit) stays in package service.
package orq

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/service"
)

// Dialect is the dialect's name: its mount point (/compat/orq/) and the
// "dialect" the audit log records for changes made through it.
const Dialect = "orq"

// base is the path of orq's API-key collection under the mount point.
const base = khttp.CompatPrefix + Dialect + "/v2/api-keys"

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

// New returns the orq dialect's handler, to be mounted with
// (*khttp.Server).Mount("orq", …). It serves every path under
// /compat/orq/; unknown paths and methods get orq-shaped 404 and 405
// answers.
func New(svc *service.Service, auth Authenticator) http.Handler {
	h := &handler{svc: svc, auth: auth, mux: http.NewServeMux()}
	h.mux.Handle("GET "+base, h.route(h.list))
	h.mux.Handle("POST "+base, h.route(h.create))
	h.mux.Handle("GET "+base+"/capabilities", h.route(h.capabilities))
	h.mux.Handle("GET "+base+"/{id}", h.route(h.get))
	h.mux.Handle("PATCH "+base+"/{id}", h.route(h.update))
	h.mux.Handle("DELETE "+base+"/{id}", h.route(h.delete))
	// orq's rotate is POST /v2/api-keys/{api_key_id}:rotate, a custom
	// method (AIP-136) that a path wildcard cannot split off: the handler
	// does.
	h.mux.Handle("POST "+base+"/{id}", h.route(h.rotate))
	return h
}

// ServeHTTP routes the request; the mux's own 404 and 405 answers are
// plain text, so they are rendered here in orq's shape instead.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch routed, allow := khttp.Dispatch(h.mux, w, r); {
	case routed:
	case allow != "":
		w.Header().Set("Allow", allow)
		h.writeError(w, r, methodNotAllowed(r.Method, allow))
	default:
		h.writeError(w, r, errNoRoute(r.URL.Path))
	}
}

// handlerFunc serves one route for an authenticated actor and returns the
// error to render, if any.
type handlerFunc func(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error

// route authenticates the request, applies the Request-Timeout headers
// (a keyward extension: orq has none) and renders the handler's error.
func (h *handler) route(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := h.actor(r)
		if err == nil {
			var cancel context.CancelFunc
			r, cancel, err = api.WithTimeout(r)
			if err == nil {
				defer cancel()
				err = fn(w, r, a)
			}
		}
		if err != nil {
			h.writeError(w, r, err)
		}
	})
}

// actor authenticates orq's credential, Authorization: Bearer <token>.
// A missing or malformed header is orq's authentication_required; a token
// that is not an active management key is invalid_api_key. X-Account-Id
// (keyward's account header, which orq does not have) lets an operator
// key choose the account, as on the native API.
func (h *handler) actor(r *http.Request) (*keyward.Actor, error) {
	if err := api.CheckCredentialHeaders(r); err != nil {
		return nil, err
	}
	hdr := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, tok, _ := strings.Cut(hdr, " ")
	tok = strings.TrimSpace(tok)
	if hdr == "" || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil, &orqError{status: http.StatusUnauthorized, code: codeAuthRequired,
			err: keyward.Errorf(keyward.ECodeUnauthenticated, "send the management key as Authorization: Bearer <token>")}
	}
	return h.auth.Authenticate(r, keyward.TokenFromString(tok), r.Header.Get("X-Account-Id"), Dialect)
}

// query checks the query string: a parameter the route does not take, or
// one given twice, is a 400 (a mistyped filter must not silently list
// everything). Names in repeated are list parameters that may repeat.
// pretty is allowed everywhere.
func query(r *http.Request, allowed []string, repeated ...string) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	v, err := api.ParseQuery(r)
	if err != nil {
		return err
	}
	for name, vals := range v {
		switch {
		case name == "pretty":
			if _, err := prettyValue(vals[len(vals)-1]); err != nil {
				return err
			}
		case slices.Contains(repeated, name):
		case !slices.Contains(allowed, name):
			return badParam(name, "is not a parameter of this route")
		case len(vals) > 1:
			return badParam(name, "is given more than once")
		}
	}
	return nil
}

// prettyValue reads ?pretty (a keyward extension, as on the native API).
func prettyValue(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "", "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, badParam("pretty", "must be true or false")
}

func pretty(r *http.Request) bool {
	if r.URL.RawQuery == "" {
		return false
	}
	v, err := api.ParseQuery(r)
	if err != nil {
		return false
	}
	vals, ok := v["pretty"]
	if !ok {
		return false
	}
	p, _ := prettyValue(vals[len(vals)-1])
	return p
}

// writeJSON writes v with the given status.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if pretty(r) {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		// Only wire structs of strings, bools and maps are encoded here.
		writeErrorBody(w, r, http.StatusInternalServerError, codeInternal, "internal error", nil)
		khttp.Note(w, keyward.Internal(err))
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

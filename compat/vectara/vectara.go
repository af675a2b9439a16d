// Package vectara serves Vectara's API-key API (REST API v2, /v2/api_keys)
// under /compat/vectara/, backed by keyward's keys, so that a client written
// from Vectara's documentation works against keyward with only its base URL
// and credential changed (docs/compatibility.md).
//
// The dialect is a translation layer: it reads Vectara's wire format (the
// x-api-key header, api_key_role and corpus_keys, the PATCH {enabled} body,
// limit/page_key pagination, Request-Timeout headers), calls package service
// exactly as the native API does, and renders keys and errors the way
// Vectara does (aky_ ids, api_policy, {messages, request_id}). Every rule
// about keys stays in service. docs/compatibility.md (Vectara) records each
// mapping decision.
package vectara

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/service"
)

// Dialect is the dialect's name: its mount point (/compat/vectara/) and
// what the audit log records as the API of the changes made through it.
const Dialect = "vectara"

// base is the collection path: Vectara's /v2/api_keys below the mount.
const base = khttp.CompatPrefix + Dialect + "/v2/api_keys"

// Authenticator authenticates a management credential as the native API
// does (lockout, account header, API keys refused); *khttp.Server is one.
type Authenticator interface {
	Authenticate(r *http.Request, tok keyward.Token, accountHeader, dialect string) (*keyward.Actor, error)
}

// server serves the dialect's routes.
type server struct {
	svc  *service.Service
	auth Authenticator
	mux  *http.ServeMux
}

// New returns the handler of the Vectara dialect, to be mounted with
// (*khttp.Server).Mount("vectara", New(svc, srv)). It answers every path
// under /compat/vectara/ itself, unknown ones with Vectara's error body.
func New(svc *service.Service, auth Authenticator) http.Handler {
	s := &server{svc: svc, auth: auth, mux: http.NewServeMux()}
	s.mux.Handle("GET "+base, s.endpoint(s.list))
	s.mux.Handle("POST "+base, s.endpoint(s.create))
	s.mux.Handle("GET "+base+"/{api_key_id}", s.endpoint(s.get))
	s.mux.Handle("PATCH "+base+"/{api_key_id}", s.endpoint(s.update))
	s.mux.Handle("DELETE "+base+"/{api_key_id}", s.endpoint(s.delete))
	return s
}

// ServeHTTP routes a request; a path the dialect does not serve is a 404,
// and a served path with another method a 405 with Allow, both in
// Vectara's error body rather than the mux's plain text.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	routed, allow := khttp.Dispatch(s.mux, w, r)
	switch {
	case routed:
	case allow != "":
		w.Header().Set("Allow", allow)
		s.fail(w, r, keyward.Errorf(keyward.ECodeMethodNotAllowed, "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
	default:
		s.fail(w, r, keyward.Errorf(keyward.ECodeNotFound, "no route %s", r.URL.Path))
	}
}

// result is what an endpoint answers: a status and a body (nil for none).
type result struct {
	status int
	body   any
}

// endpointFunc serves one route for an authenticated actor.
type endpointFunc func(r *http.Request, a *keyward.Actor) (result, error)

// endpoint wraps a route with what every Vectara operation accepts: the
// Request-Timeout and Request-Timeout-Millis headers, then the credential.
// A request whose own timeout ran out answers 504 and changed nothing.
func (s *server) endpoint(fn endpointFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, cancel, err := api.WithTimeout(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		defer cancel()
		a, err := s.authenticate(r)
		if err == nil {
			var res result
			if res, err = fn(r, a); err == nil {
				writeJSON(w, r, res.status, res.body)
				return
			}
		}
		s.fail(w, r, timedOut(r.Context(), err))
	})
}

// authenticate reads the credential from x-api-key (Vectara's header) or
// Authorization: Bearer (Vectara's OAuth form) and authenticates it as a
// management key. X-Account-Id, keyward's account header, lets an operator
// key choose the account (Vectara takes the customer from the key).
func (s *server) authenticate(r *http.Request) (*keyward.Actor, error) {
	if err := api.CheckCredentialHeaders(r); err != nil {
		return nil, err
	}
	apiKey := strings.TrimSpace(r.Header.Get("X-Api-Key"))
	var bearer string
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(rest) == "" {
			return nil, keyward.Errorf(keyward.ECodeUnauthenticated, "the Authorization header must be \"Bearer <key>\"")
		}
		bearer = strings.TrimSpace(rest)
	}
	tok := apiKey
	switch {
	case bearer != "" && apiKey != "" && bearer != apiKey:
		return nil, keyward.Errorf(keyward.ECodeBadRequest, "x-api-key and Authorization carry different credentials: send one")
	case bearer != "":
		tok = bearer
	}
	return s.auth.Authenticate(r, keyward.TokenFromString(tok), r.Header.Get("X-Account-Id"), Dialect)
}

// timedOut turns the failure of a request whose context ended into a
// timeout: the store reports a deadline as an internal error, but the cause
// is the client's own Request-Timeout (or its going away).
func timedOut(ctx context.Context, err error) error {
	if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		return err
	}
	switch keyward.ErrorCode(err) {
	case keyward.ECodeInternal, keyward.ECodeUnavailable, keyward.ECodeTimeout:
		return &keyward.Error{Code: keyward.ECodeTimeout, Message: "the request did not complete within its Request-Timeout", Err: err}
	}
	return err
}

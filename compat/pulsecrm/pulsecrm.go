// Package pulsecrm serves keyward's API keys in PulseCRM's wire format
// under /compat/pulsecrm/ (docs/compatibility.md), so that a client written from the
// PulseCRM API reference works against keyward with only its base URL, its
// credential and its x-account-id changed.
//
// The package only translates: PulseCRM's ApiKeyInput becomes keyward's
// KeyFields (description ↔ name, expiresAt ↔ expires_at, flat permission
// names such as readApplications ↔ restricted scopes of the account's
// catalog), keyward's key becomes PulseCRM's ApiKey (integer id, apiKey,
// lastFourOfSecret), and keyward's errors become PulseCRM's {"error": …}
// bodies. Every rule — who may call, PATCH semantics, validation, audit —
// stays in package service. docs/compatibility.md (PulseCRM) states each
// mapping and difference.
package pulsecrm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/service"
)

// Dialect is the dialect's name: its mount point (/compat/pulsecrm/) and
// what the audit log records as the API of the changes made through it.
const Dialect = "pulsecrm"

// base is the path every route of the dialect starts with.
const base = khttp.CompatPrefix + Dialect

// Authenticator authenticates a management credential the way the native
// API does (lockout, account header, API keys refused); *khttp.Server
// implements it.
type Authenticator interface {
	Authenticate(r *http.Request, tok keyward.Token, accountHeader, dialect string) (*keyward.Actor, error)
}

// handler serves the PulseCRM dialect.
type handler struct {
	svc  *service.Service
	auth Authenticator
	mux  *http.ServeMux
}

// New returns the dialect's handler, to be mounted with
// (*khttp.Server).Mount(Dialect, New(svc, srv)). It sees full paths
// (/compat/pulsecrm/apikeys/…).
func New(svc *service.Service, auth Authenticator) http.Handler {
	h := &handler{svc: svc, auth: auth, mux: http.NewServeMux()}
	h.routes()
	return h
}

// routes declares every route of the dialect, with PulseCRM's own answers
// for unknown paths (404) and wrong methods (405 with Allow).
func (h *handler) routes() {
	keys := func(f handlerFunc) http.Handler { return h.adapt(f, keyErrors) }
	perms := func(f handlerFunc) http.Handler { return h.adapt(f, permissionErrors) }

	h.mux.Handle("GET "+base+"/apikeys", keys(h.listKeys))
	h.mux.Handle("POST "+base+"/apikeys", keys(h.createKey))
	h.mux.Handle(base+"/apikeys", methodNotAllowed("GET, HEAD, POST"))

	h.mux.Handle("GET "+base+"/apikeys/{id}", keys(h.getKey))
	h.mux.Handle("PATCH "+base+"/apikeys/{id}", keys(h.updateKey))
	h.mux.Handle("DELETE "+base+"/apikeys/{id}", keys(h.deleteKey))
	h.mux.Handle(base+"/apikeys/{id}", methodNotAllowed("DELETE, GET, HEAD, PATCH"))

	h.mux.Handle("GET "+base+"/permissions", perms(h.listPermissions))
	h.mux.Handle(base+"/permissions", methodNotAllowed("GET, HEAD"))

	h.mux.Handle(base+"/", h.adapt(func(http.ResponseWriter, *http.Request) error {
		return &keyward.Error{Code: keyward.ECodeNotFound, Message: "Not found"}
	}, keyErrors))
}

// ServeHTTP routes a request of the dialect.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// errorShape says which of PulseCRM's two error bodies a route answers
// with: the api-key routes {"error"}, the permissions route {error, status,
// message}.
type errorShape int

const (
	keyErrors errorShape = iota
	permissionErrors
)

// adapt turns a handler that returns an error into an http.Handler that
// renders the error in PulseCRM's shape.
func (h *handler) adapt(f handlerFunc, shape errorShape) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			writeError(w, r, shape, err)
		}
	})
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := keyward.Errorf(keyward.ECodeMethodNotAllowed, "Method not allowed")
		w.Header().Set("Allow", allow)
		shape := keyErrors
		if strings.HasSuffix(r.URL.Path, "/permissions") {
			shape = permissionErrors
		}
		writeError(w, r, shape, err)
	})
}

// statusOf maps a keyward error code to PulseCRM's status. PulseCRM
// documents 400 for every invalid request ("Bad Request - Invalid
// permissions provided"), so keyward's 422 validation errors are 400 here;
// everything else keeps keyward's status.
func statusOf(c keyward.Code) int {
	switch c {
	case keyward.ECodeValidation, keyward.ECodeInvalidPermission:
		return http.StatusBadRequest
	}
	return api.StatusOf(c)
}

// writeError renders err as PulseCRM does and records it for the access
// log. Internal causes are logged by the server, never sent.
func writeError(w http.ResponseWriter, r *http.Request, shape errorShape, err error) {
	khttp.Note(w, err)
	e := keyward.AsError(err)
	if errors.Is(err, context.Canceled) {
		e = &keyward.Error{Code: keyward.ECodeTimeout, Message: "the request was cancelled", Err: err}
	}
	status := statusOf(e.Code)
	msg := e.Message
	switch {
	case status >= 500 && status != http.StatusServiceUnavailable && status != http.StatusGatewayTimeout:
		msg = "Internal server error"
	case status == http.StatusServiceUnavailable:
		msg = "Service unavailable: the database cannot be reached; retry"
		w.Header().Set("Retry-After", "1")
	case status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyward"`)
	}
	if secs, ok := e.Details["retry_after_seconds"].(int64); ok {
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	var body any = keyError{Error: msg}
	if shape == permissionErrors {
		body = permissionError{Error: http.StatusText(status), Status: status, Message: msg}
	}
	writeJSON(w, r, status, body)
}

// keyError is the error body of PulseCRM's api-key routes:
// {"error":"API key not found"}.
type keyError struct {
	Error string `json:"error"`
}

// permissionError is the error body of PulseCRM's permissions route.
type permissionError struct {
	Error   string `json:"error"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// writeJSON writes v as the JSON answer (no body for HEAD).
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only plain values are encoded here; a failure is a bug.
		khttp.Note(w, keyward.Internal(err))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		if r.Method != http.MethodHead {
			w.Write([]byte(`{"error":"Internal server error"}` + "\n"))
		}
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

// actor authenticates the request: PulseCRM sends its credential as
// Authorization: Bearer <token> and the account as x-account-id. A missing
// or malformed header is passed on as an empty token so it counts towards
// the client's lockout exactly as on the native API.
func (h *handler) actor(r *http.Request, account string) (*keyward.Actor, error) {
	if err := api.CheckCredentialHeaders(r); err != nil {
		return nil, err
	}
	var tok string
	if scheme, rest, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " "); ok && strings.EqualFold(scheme, "Bearer") {
		tok = strings.TrimSpace(rest)
	}
	a, err := h.auth.Authenticate(r, keyward.TokenFromString(tok), account, Dialect)
	if err == nil {
		return a, nil
	}
	e := keyward.AsError(err)
	switch e.Code {
	case keyward.ECodeUnauthenticated:
		msg := "Unauthorized: the credential is not a valid, active management key"
		if tok == "" {
			msg = "Unauthorized: send Authorization: Bearer <management key>"
		}
		return nil, &keyward.Error{Code: e.Code, Message: msg, Err: err}
	case keyward.ECodeNotFound:
		// The only object authentication looks up is the account.
		return nil, &keyward.Error{Code: e.Code, Message: "Account not found", Err: err}
	case keyward.ECodeAPIKeyForbidden:
		return nil, &keyward.Error{Code: e.Code, Message: "Forbidden: API keys cannot manage API keys; use a management key", Err: err}
	case keyward.ECodeAccountMismatch:
		return nil, &keyward.Error{Code: e.Code, Message: "Forbidden: x-account-id names an account this management key is not bound to", Err: err}
	}
	return nil, err
}

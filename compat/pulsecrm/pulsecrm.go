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
	"net/http"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/compat/internal/kit"
	"github.com/keyward/keyward/service"
)

// Dialect is the dialect's name: its mount point (/compat/pulsecrm/) and
// what the audit log records as the API of the changes made through it.
const Dialect = "pulsecrm"

// base is the path every route of the dialect starts with.
const base = kit.Prefix + Dialect

// permissionsRoute is the pattern of GET /permissions, the one route that
// reads a query, and answers errors in the other of PulseCRM's shapes.
const permissionsRoute = "GET " + base + "/permissions"

// handler serves the PulseCRM dialect.
type handler struct{ kit.Base }

// New returns the dialect's handler, served with srv (the Host the server
// hands over when it mounts the dialect at /compat/pulsecrm/). It
// declares every route of the dialect; unknown paths (404) and wrong
// methods (405 with Allow) get PulseCRM's own answers. PulseCRM has no
// Request-Timeout and no ?pretty.
func New(svc *service.Service, srv kit.Server) http.Handler {
	h := &handler{kit.Base{Svc: svc, Kit: kit.New(srv, kit.Vendor{
		Errors: errorBody, Credential: credential, Account: account, Refused: refused, NoRoute: noRoute,
	})}}
	return h.Kit.Serve(kit.Routes{
		"GET " + base + "/apikeys":         h.listKeys,
		"POST " + base + "/apikeys":        h.createKey,
		"GET " + base + "/apikeys/{id}":    h.getKey,
		"PATCH " + base + "/apikeys/{id}":  h.updateKey,
		"DELETE " + base + "/apikeys/{id}": h.deleteKey,
		permissionsRoute:                   h.listPermissions,
	})
}

func noRoute(_ *http.Request, allow string) error {
	if allow != "" {
		return keyward.Errorf(keyward.ECodeMethodNotAllowed, "Method not allowed")
	}
	return &keyward.Error{Code: keyward.ECodeNotFound, Message: "Not found"}
}

// errorBody gives err PulseCRM's status and body, and the kit writes it:
// {"error": <message>} on the api-key routes, {error, status, message}
// on the permissions route (and for a wrong method on its path).
// PulseCRM documents 400 for every invalid request ("Bad Request -
// Invalid permissions provided"), so keyward's 422 validation errors are
// 400 here; everything else keeps keyward's status. Internal causes are
// logged by the server, never sent.
func errorBody(r *http.Request, h http.Header, err error) (int, any) {
	e := keyward.AsError(err)
	status := kit.StatusOf(e.Code)
	msg := e.Message
	switch {
	case status >= 500 && status != http.StatusServiceUnavailable && status != http.StatusGatewayTimeout:
		msg = "Internal server error"
	case status == http.StatusServiceUnavailable:
		msg = "Service unavailable: the database cannot be reached; retry"
	case status == http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="keyward"`)
	}
	if r.Pattern == permissionsRoute || e.Code == keyward.ECodeMethodNotAllowed && strings.HasSuffix(r.URL.Path, "/permissions") {
		return status, permissionError{Error: http.StatusText(status), Status: status, Message: msg}
	}
	return status, keyError{Error: msg}
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

// credential reads PulseCRM's credential, Authorization: Bearer <token>.
// A missing or malformed header is passed on as an empty token, so that
// it counts towards the client's lockout exactly as on the native API.
func credential(r *http.Request) (keyward.Token, error) {
	return keyward.TokenFromString(kit.Bearer(r)), nil
}

// account is the account a request acts in: x-account-id, or on GET
// /permissions its accountId parameter (PulseCRM: super-admin only) when
// given, which names the account as x-account-id does: an operator key
// may name any account, a key bound to an account only its own (else
// 403). A /permissions query that does not parse is a 400 there, before
// the credential is read; the api-key routes read no query at all.
func account(r *http.Request) (string, error) {
	if r.Pattern != permissionsRoute {
		return r.Header.Get("x-account-id"), nil
	}
	q, err := api.ParseQuery(r)
	if err != nil {
		return "", err
	}
	if q.Has("accountId") {
		return q.Get("accountId"), nil
	}
	return r.Header.Get("x-account-id"), nil
}

// refused says in PulseCRM's words why authentication failed.
func refused(r *http.Request, err error) error {
	e := keyward.AsError(err)
	switch e.Code {
	case keyward.ECodeUnauthenticated:
		msg := "Unauthorized: the credential is not a valid, active management key"
		if kit.Bearer(r) == "" {
			msg = "Unauthorized: send Authorization: Bearer <management key>"
		}
		return &keyward.Error{Code: e.Code, Message: msg, Err: err}
	case keyward.ECodeNotFound:
		// The only object authentication looks up is the account.
		return &keyward.Error{Code: e.Code, Message: "Account not found", Err: err}
	case keyward.ECodeAPIKeyForbidden:
		return &keyward.Error{Code: e.Code, Message: "Forbidden: API keys cannot manage API keys; use a management key", Err: err}
	case keyward.ECodeAccountMismatch:
		return &keyward.Error{Code: e.Code, Message: "Forbidden: x-account-id names an account this management key is not bound to", Err: err}
	}
	return err
}

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
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat/internal/kit"
	"github.com/keyward/keyward/service"
)

// Dialect is the dialect's name: its mount point (/compat/orq/) and the
// "dialect" the audit log records for changes made through it.
const Dialect = "orq"

// collection is the path of orq's API-key collection below a rendering's
// base path.
const collection = "/v2/api-keys"

// handler serves the dialect's routes under one base path, answering in
// that path's rendering.
type handler struct {
	kit.Base
	render rendering
}

// New returns the orq dialect's handler, served with srv (the Host the
// server hands over when it mounts the dialect at /compat/orq/). Unknown
// paths and methods get orq-shaped 404 and 405 answers.
//
// Every route reads orq's credential first and then keyward's
// Request-Timeout extension; ?pretty (another extension) indents any
// answer.
//
// The same routes are served under three base paths, one per generation
// of orq's answers (renderings): /compat/orq (orq's REST reference),
// /compat/orq/numeric (its SDKs up to 4.12.22) and /compat/orq/current
// (its SDKs from 4.13.1).
func New(svc *service.Service, srv kit.Server) http.Handler {
	d := kit.New(srv, kit.Vendor{
		Errors: errorBody, Credential: credential, NoRoute: noRoute,
		Timeout: kit.TimeoutAfterAuth, Pretty: true,
	})
	for _, r := range renderings {
		h := &handler{Base: kit.Base{Svc: svc, Kit: d}, render: r.render}
		base := kit.Prefix + Dialect + r.path + collection
		d.Serve(kit.Routes{
			"GET " + base:                   h.list,
			"POST " + base:                  h.create,
			"GET " + base + "/capabilities": h.capabilities,
			"GET " + base + "/{id}":         h.get,
			"PATCH " + base + "/{id}":       h.update,
			"DELETE " + base + "/{id}":      h.delete,
			// orq's rotate is POST /v2/api-keys/{api_key_id}:rotate, a
			// custom method (AIP-136) that a path wildcard cannot split
			// off: the handler does.
			"POST " + base + "/{id}": h.rotate,
		})
	}
	return d
}

// noRoute is orq's answer to a path the dialect does not serve, or a
// method its path does not take.
func noRoute(r *http.Request, allow string) error {
	if allow != "" {
		return methodNotAllowed(r.Method, allow)
	}
	return errNoRoute(r.URL.Path)
}

// credential reads orq's credential, Authorization: Bearer <token>. A
// missing or malformed header is orq's authentication_required; a token
// that is not an active management key is invalid_api_key. X-Account-Id
// (keyward's account header, which orq does not have) lets an operator
// key choose the account, as on the native API.
var credential = kit.BearerCredential(func() error {
	return &kit.Error{Status: http.StatusUnauthorized, Code: codeAuthRequired,
		Err: keyward.Errorf(keyward.ECodeUnauthenticated, "send the management key as Authorization: Bearer <token>")}
})

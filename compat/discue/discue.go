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
	"net/http"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/compat/internal/kit"
	"github.com/keyward/keyward/service"
)

// Dialect is the dialect's name: its mount point (/compat/discue/) and the
// "dialect" the audit log records for changes made through it.
const Dialect = "discue"

// base is the path of discue's API-key collection under the mount point
// (discue's base URL is https://api.discue.io/v1).
const base = kit.Prefix + Dialect + "/v1/api_keys"

// handler serves the dialect.
type handler struct{ kit.Base }

// New returns the discue dialect's handler, served with srv (the Host
// the server hands over when it mounts the dialect at /compat/discue/).
// Unknown paths and methods get discue-shaped 404 and 405 answers.
//
// Every route checks, in the order the native API does (so that an
// unauthenticated caller learns nothing about a route's body): the query
// (only ?pretty), Accept, the request timeout, then the X-API-KEY
// credential.
func New(svc *service.Service, srv kit.Server) http.Handler {
	h := &handler{kit.Base{Svc: svc}}
	h.Kit = kit.New(srv, kit.Vendor{
		Errors: errorBody, Credential: credential, Check: h.check,
		Timeout: kit.TimeoutFirst, Pretty: true,
	})
	return h.Kit.Serve(kit.Routes{
		"GET " + base:              h.list,
		"POST " + base:             h.create,
		"GET " + base + "/{id}":    h.get,
		"PUT " + base + "/{id}":    h.update,
		"DELETE " + base + "/{id}": h.delete,
	})
}

// check refuses query parameters other than pretty (discue's key routes
// take no other, and a parameter keyward would ignore, a typo or discue's
// announced but unavailable page/per_page, must not pass as if it had
// been applied) and an Accept that excludes discue's application/json,
// read strictly (api.Accepts) as this dialect always has.
func (h *handler) check(r *http.Request) error {
	if _, err := h.Kit.Query(r, nil); err != nil {
		return err
	}
	if !api.Accepts(r, true, "application/json") {
		return keyward.Errorf(keyward.ECodeNotAcceptable, "discue answers application/json; the Accept header excludes it")
	}
	return nil
}

// credential reads discue's credential header. The organization is the
// credential's account ("The target organization for this request will be
// determined by the supplied access token"); an operator key may name
// another with X-Account-Id, as on the native API.
func credential(r *http.Request) (keyward.Token, error) {
	v := r.Header.Get("X-API-KEY")
	if strings.TrimSpace(v) == "" {
		return keyward.Token{}, keyward.Errorf(keyward.ECodeUnauthenticated, "a management key is required: send it in the X-API-KEY header")
	}
	return keyward.TokenFromString(v), nil
}

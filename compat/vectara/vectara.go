// Package vectara serves Vectara's API-key API (REST API v2, /v2/api_keys)
// under /compat/vectara/, backed by keyward's keys, so that a client written
// from Vectara's documentation works against keyward with only its base URL
// and credential changed (docs/compatibility.md).
//
// The dialect is a translation layer: it reads Vectara's wire format (the
// x-api-key header, the role members api_roles, corpus_roles and
// agent_roles and the deprecated api_key_role and corpus_keys, the PATCH
// {enabled} body, limit/page_key pagination, Request-Timeout headers),
// calls package service exactly as the native API does, and renders keys
// and errors the way Vectara does (aky_ ids, roles, api_policy, {messages,
// request_id}). Every rule about keys stays in service. docs/compatibility.md (Vectara) records each
// mapping decision.
package vectara

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat/internal/kit"
	"github.com/keyward/keyward/service"
)

// Dialect is the dialect's name: its mount point (/compat/vectara/) and
// what the audit log records as the API of the changes made through it.
const Dialect = "vectara"

// base is the collection path: Vectara's /v2/api_keys below the mount.
const base = kit.Prefix + Dialect + "/v2/api_keys"

// server serves the dialect's routes.
type server struct{ kit.Base }

// New returns the handler of the Vectara dialect, served with srv (the
// Host the server hands over when it mounts the dialect at
// /compat/vectara/). It answers every path under /compat/vectara/
// itself, unknown ones with Vectara's error body. Every operation reads
// the Request-Timeout and Request-Timeout-Millis headers, then the
// credential: a request whose own timeout ran out answers 504 and
// changed nothing.
func New(svc *service.Service, srv kit.Server) http.Handler {
	s := &server{kit.Base{Svc: svc, Kit: kit.New(srv, vendor)}}
	return s.Kit.Serve(kit.Routes{
		"GET " + base:                      s.list,
		"POST " + base:                     s.create,
		"GET " + base + "/{api_key_id}":    s.get,
		"PATCH " + base + "/{api_key_id}":  s.update,
		"DELETE " + base + "/{api_key_id}": s.delete,
	})
}

// vendor is how Vectara sends credentials and shapes errors.
var vendor = kit.Vendor{Errors: errorBody, Credential: credential, Timeout: kit.TimeoutFirst, Operation: "operation"}

// credential reads the credential from x-api-key (Vectara's header) or
// Authorization: Bearer (Vectara's OAuth form). X-Account-Id, keyward's
// account header, lets an operator key choose the account (Vectara takes
// the customer from the key).
func credential(r *http.Request) (keyward.Token, error) {
	apiKey, bearer := strings.TrimSpace(r.Header.Get("X-Api-Key")), kit.Bearer(r)
	switch {
	case bearer == "" && r.Header.Get("Authorization") != "":
		return keyward.Token{}, keyward.Errorf(keyward.ECodeUnauthenticated, "the Authorization header must be \"Bearer <key>\"")
	case bearer != "" && apiKey != "" && bearer != apiKey:
		return keyward.Token{}, keyward.Errorf(keyward.ECodeBadRequest, "x-api-key and Authorization carry different credentials: send one")
	case bearer != "":
		return keyward.TokenFromString(bearer), nil
	}
	return keyward.TokenFromString(apiKey), nil
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

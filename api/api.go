// Package api is the wire contract of keyward's native HTTP API
// (docs/api.md; the OpenAPI document http/openapi.json is its description):
// the JSON shape of every object the API answers with, the problem
// document of its errors with the one table from error codes to HTTP
// status, and the rules of reading a request that the native API and the
// compatibility dialects share (strict JSON bodies, the query parser, the
// credential headers, Request-Timeout).
//
// The server (package http) builds these values from domain values with
// the constructors here (KeyOf, AccountOf…); the Go client (package client)
// decodes its answers into the same types; middleware and client render and
// read problems through Problem. It imports only the root package and the
// standard library, so a program embedding the client carries nothing of
// the server.
//
// Request bodies are not declared here when they are the domain's own
// change requests: keyward.KeyFields, keyward.AccountFields,
// keyward.UserFields, keyward.ServiceAccountFields, keyward.RoleFields,
// keyward.ProjectFields, keyward.ResourceFields, keyward.ImportItem and
// keyward.VerifyRequest say, member by member, absent, null or a value
// (keyward.Field), and the rules read them as they are. The root package
// therefore keeps the json tags of those, and of the values that are the
// same on the wire and in the domain, which the types here embed
// (keyward.Scope, Owner, RateLimit, Credits, Refill, Change, FieldError,
// Resource, ManagementPermission; keyward.Token always marshals redacted:
// WithSecret is the one place a secret is written). The objects of the
// domain (keyward.Key, Account, User…) carry no wire format: their shape
// on the wire is declared here and nowhere else.
package api

import (
	"bytes"
	"encoding/json"
)

// marshal is json.Marshal without HTML escaping. The MarshalJSON methods
// of this package use it so that the encoder around them decides: the
// server's writes "<" as is (it never escapes HTML), json.Marshal escapes
// it, exactly as for a struct without a MarshalJSON method.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

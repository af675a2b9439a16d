package client

import "github.com/keyward/keyward/api"

// The objects of the native API are the wire types of package api, where
// each is declared once for the server, this client and the command line;
// these aliases give them their names in this package.
type (
	Key            = api.Key            // an API key (kind "api"), never with its secret: see KeyWithSecret
	ManagementKey  = api.ManagementKey  // a management key (kind "management")
	KeyCommon      = api.KeyCommon      // what both kinds of key show
	Page[T any]    = api.Page[T]        // one page of a list, newest first
	VerifyResult   = api.VerifyResult   // the answer of POST /v1/keys/verify
	RateLimitState = api.RateLimitState // a key's rate limit as a verification left it
	Whoami         = api.Whoami         // the answer of GET /v1/whoami
	RotateRequest  = api.RotateRequest  // the body of a rotation
	CreditsChange  = api.CreditsChange  // the body of POST /v1/keys/{id}/credits
	Account        = api.Account        // a tenant (operator keys only)
	User           = api.User           // a member of an account
	ServiceAccount = api.ServiceAccount // a non-human owner of keys
	Role           = api.Role           // a named list of scopes of an account
	Project        = api.Project        // a subdivision of an account
	Catalog        = api.Catalog        // an account's permission catalog
	Preset         = api.Preset         // a permission mode, as the catalog describes it
	AuditEvent     = api.AuditEvent     // one change, as the audit log records it
	AuditRef       = api.AuditRef       // the actor or the target of an audit event
	Status         = api.Status         // the answer of the health routes
)

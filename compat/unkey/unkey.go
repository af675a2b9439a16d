// Package unkey serves Unkey's API (v2: POST /v2/<service>.<procedure>)
// under /compat/unkey/, backed by keyward's keys, so that Unkey's SDKs and
// middlewares work against keyward with only their base URL and root key
// changed (docs/compatibility.md, "Unkey").
//
// The package only translates: Unkey's apis are keyward projects, its
// identities service accounts, its permissions catalog resources, its
// roles keyward roles, and its keys ordinary keyward API keys; its
// {meta, data} envelopes, unix-millisecond times, verification codes,
// permission queries and {meta, error} bodies are rendered here. Every
// rule (validation, authorization, audit, verification) stays in package
// service.
package unkey

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/compat/internal/kit"
	"github.com/keyward/keyward/service"
)

// Dialect is the dialect's name: its mount point (/compat/unkey/) and the
// API the audit log records for changes made through it.
const Dialect = "unkey"

// base is where Unkey's procedures are served: the SDKs' base URL is
// /compat/unkey and their paths start /v2/.
const base = kit.Prefix + Dialect + "/v2/"

// server serves the dialect's procedures.
type server struct{ kit.Base }

// New returns the Unkey dialect's handler, served with srv (the Host the
// server hands over when it mounts the dialect at /compat/unkey/). Every
// procedure is POST /v2/<service>.<procedure> with a JSON body and the
// root key (a keyward management key) as Authorization: Bearer; GET
// /v2/liveness needs no credential. Unknown paths and methods get
// Unkey-shaped 404 and 405 answers.
func New(svc *service.Service, srv kit.Server) http.Handler {
	s := &server{kit.Base{Svc: svc, Kit: kit.New(srv, kit.Vendor{Errors: errorBody, Credential: credential, Check: noQuery, Operation: "procedure"})}}
	for name, h := range map[string]kit.Handler{
		"keys.createKey":               procedure(s.createKey),
		"keys.verifyKey":               procedure(s.verifyKey),
		"keys.getKey":                  keyProcedure(s.getKey),
		"keys.whoami":                  procedure(s.whoami),
		"keys.updateKey":               keyProcedure(s.updateKey),
		"keys.deleteKey":               keyProcedure(s.deleteKey),
		"keys.rerollKey":               keyProcedure(s.rerollKey),
		"keys.updateCredits":           keyProcedure(s.updateCredits),
		"keys.addPermissions":          s.keyPermissions(opAdd),
		"keys.removePermissions":       s.keyPermissions(opRemove),
		"keys.setPermissions":          s.keyPermissions(opSet),
		"keys.addRoles":                s.keyRoles(opAdd),
		"keys.removeRoles":             s.keyRoles(opRemove),
		"keys.setRoles":                s.keyRoles(opSet),
		"keys.migrateKeys":             procedure(s.migrateKeys),
		"apis.createApi":               procedure(s.createAPI),
		"apis.getApi":                  procedure(s.getAPI),
		"apis.listKeys":                procedure(s.listKeys),
		"apis.deleteApi":               procedure(s.deleteAPI),
		"permissions.createPermission": procedure(s.createPermission),
		"permissions.getPermission":    procedure(s.getPermission),
		"permissions.listPermissions":  procedure(s.listPermissions),
		"permissions.deletePermission": procedure(s.deletePermission),
		"permissions.createRole":       procedure(s.createRole),
		"permissions.getRole":          procedure(s.getRole),
		"permissions.listRoles":        procedure(s.listRoles),
		"permissions.deleteRole":       procedure(s.deleteRole),
		"identities.createIdentity":    procedure(s.createIdentity),
		"identities.getIdentity":       procedure(s.getIdentity),
		"identities.listIdentities":    procedure(s.listIdentities),
		"identities.updateIdentity":    procedure(s.updateIdentity),
		"identities.deleteIdentity":    procedure(s.deleteIdentity),
		"ratelimit.limit":              procedure(s.limit),
	} {
		s.Kit.Handle("POST "+base+name, h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == base+"liveness" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			liveness(w, r)
			return
		}
		s.Kit.ServeHTTP(w, r)
	})
}

// liveness answers GET /v2/liveness, Unkey's health check, without a
// credential.
func liveness(w http.ResponseWriter, r *http.Request) {
	kit.WriteJSON(w, r, http.StatusOK, envelope{Meta: metaOf(r), Data: map[string]string{"message": "OK"}})
}

// credential reads the root key from Authorization: Bearer <key>. A
// missing or malformed header is Unkey's authentication/missing error;
// X-Account-Id (keyward's account header) lets an operator key choose the
// account.
var credential = kit.BearerCredential(func() error {
	return &kit.Error{Status: http.StatusUnauthorized, Code: typeAuthMissing,
		Err: keyward.Errorf(keyward.ECodeUnauthenticated, "send the root key as Authorization: Bearer <key>")}
})

// noQuery refuses a query string: Unkey's procedures take every
// parameter in the JSON body, and a parameter sent in the URL would
// otherwise be silently ignored.
func noQuery(r *http.Request) error {
	q, err := api.ParseQuery(r)
	if err != nil {
		return err
	}
	for name := range q {
		return api.BadParam(name, "is not a parameter: Unkey's procedures take their parameters in the JSON body")
	}
	return nil
}

// envelope is Unkey's answer: {meta: {requestId}, data}, with pagination
// on lists.
type envelope struct {
	Meta       meta        `json:"meta"`
	Data       any         `json:"data"`
	Pagination *pagination `json:"pagination,omitempty"`
}

type meta struct {
	RequestID string `json:"requestId"`
}

type pagination struct {
	Cursor  string `json:"cursor,omitempty"`
	HasMore bool   `json:"hasMore"`
}

func metaOf(r *http.Request) meta { return meta{RequestID: api.RequestID(r)} }

// reply writes data in Unkey's envelope with 200.
func reply(w http.ResponseWriter, r *http.Request, data any) error {
	return kit.WriteJSON(w, r, http.StatusOK, envelope{Meta: metaOf(r), Data: data})
}

// replyPage writes a page of a list.
func replyPage(w http.ResponseWriter, r *http.Request, data any, cursor string, more bool) error {
	p := &pagination{HasMore: more}
	if more {
		p.Cursor = cursor
	}
	return kit.WriteJSON(w, r, http.StatusOK, envelope{Meta: metaOf(r), Data: data, Pagination: p})
}

// deleted answers a deletion that ended with err: Unkey's empty answer,
// or err with Unkey's type for the object not found.
func deleted(w http.ResponseWriter, r *http.Request, err error, notFoundType string) error {
	if err != nil {
		return withType(err, notFoundType, "")
	}
	return reply(w, r, empty{})
}

// empty is Unkey's EmptyResponse.
type empty struct{}

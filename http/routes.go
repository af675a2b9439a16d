package http

import (
	"net/http"
	"slices"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// Query parameters the list routes take (checked before their handlers
// run; see managed). Every other route takes none but ?pretty.
var (
	pageParams     = []string{"limit", "starting_after", "ending_before"}
	keyListParams  = append(slices.Clip(pageParams), "status", "owner_type", "owner_id", "project_id", "permission_mode", "resource", "role", "search", "expired", "created_after", "created_before", "last_used_before")
	userListParams = append(slices.Clip(pageParams), "status", "role", "external_id", "search")
	saListParams   = append(slices.Clip(pageParams), "status")
	auditParams    = append(slices.Clip(pageParams), "target_id", "actor_id", "action", "since", "until")
)

// registerRoutes declares every route of the native API in one place,
// with the query parameters each takes. creating marks the POSTs that
// create something: they honour Idempotency-Key.
func (s *Server) registerRoutes() {
	s.handle("GET /healthz", s.healthz)
	s.handleWithin("GET /readyz", probeBudget, s.readyz)
	s.handle("GET /openapi.json", s.openapi)
	s.handle("GET /metrics", s.serveMetrics)

	s.handle("GET /v1/whoami", s.whoami)

	api := keyHandlers{s: s, kind: keyward.KindAPI}
	// A verification waits for the database 1 s in all, authentication
	// included; the invalidation stream lives as long as its client (it
	// bounds its own checks).
	s.handleWithin("POST /v1/keys/verify", service.VerifyBudget, s.global(s.verify))
	s.handleWithin("GET /v1/invalidations", 0, s.global(s.invalidations))
	// /v1/keys/{id} would match /v1/keys/verify and /v1/keys/import for
	// other methods: those paths exist only for POST, so they get 405,
	// not "key not found".
	for _, path := range []string{"/v1/keys/verify", "/v1/keys/import"} {
		for _, m := range []string{"GET", "PUT", "PATCH", "DELETE"} {
			s.mux.Handle(m+" "+path, handlerFunc(func(w http.ResponseWriter, r *http.Request) error { return errMethod(w, "POST") }))
		}
	}
	s.handle("POST /v1/keys/import", s.creating(s.importKeys))
	s.handle("GET /v1/keys", s.managed(api.list, keyListParams...))
	s.handle("POST /v1/keys", s.creating(api.create))
	s.handle("GET /v1/keys/{id}", s.managed(api.get))
	s.handle("PATCH /v1/keys/{id}", s.managed(api.update))
	s.handle("PUT /v1/keys/{id}", s.managed(api.replace))
	s.handle("DELETE /v1/keys/{id}", s.managed(api.delete))
	s.handle("POST /v1/keys/{id}/rotate", s.creating(api.rotate))
	s.handle("GET /v1/keys/{id}/secret", s.managed(s.revealSecret))
	s.handle("POST /v1/keys/{id}/credits", s.managed(s.changeCredits))
	s.handle("GET /v1/keys/{id}/usage", s.managed(s.keyUsage, keyUsageParams...))
	s.handle("GET /v1/usage", s.managed(s.accountUsage, accountUsageParams...))

	mgmt := keyHandlers{s: s, kind: keyward.KindManagement}
	s.handle("GET /v1/management-keys", s.managed(mgmt.list, keyListParams...))
	s.handle("POST /v1/management-keys", s.creating(mgmt.create))
	s.handle("GET /v1/management-keys/{id}", s.managed(mgmt.get))
	s.handle("PATCH /v1/management-keys/{id}", s.managed(mgmt.update))
	s.handle("PUT /v1/management-keys/{id}", s.managed(mgmt.replace))
	s.handle("DELETE /v1/management-keys/{id}", s.managed(mgmt.delete))
	s.handle("POST /v1/management-keys/{id}/rotate", s.creating(mgmt.rotate))

	s.handle("GET /v1/accounts", s.global(s.listAccounts, pageParams...))
	s.handle("POST /v1/accounts", s.global(func(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
		return s.idempotent(w, r, a, s.createAccount)
	}))
	s.handle("GET /v1/accounts/{id}", s.global(s.getAccount))
	s.handle("PATCH /v1/accounts/{id}", s.global(s.updateAccount))
	s.handle("DELETE /v1/accounts/{id}", s.global(s.deleteAccount))

	s.handle("GET /v1/users", s.managed(s.listUsers, userListParams...))
	s.handle("POST /v1/users", s.creating(s.createUser))
	s.handle("GET /v1/users/{id}", s.managed(s.getUser))
	s.handle("PATCH /v1/users/{id}", s.managed(s.updateUser))
	s.handle("DELETE /v1/users/{id}", s.managed(s.deleteUser))

	s.handle("GET /v1/service-accounts", s.managed(s.listServiceAccounts, saListParams...))
	s.handle("POST /v1/service-accounts", s.creating(s.createServiceAccount))
	s.handle("GET /v1/service-accounts/{id}", s.managed(s.getServiceAccount))
	s.handle("PATCH /v1/service-accounts/{id}", s.managed(s.updateServiceAccount))
	s.handle("DELETE /v1/service-accounts/{id}", s.managed(s.deleteServiceAccount))

	s.handle("GET /v1/roles", s.managed(s.listRoles))
	s.handle("POST /v1/roles", s.creating(s.createRole))
	s.handle("GET /v1/roles/{name}", s.managed(s.getRole))
	s.handle("PATCH /v1/roles/{name}", s.managed(s.updateRole))
	s.handle("DELETE /v1/roles/{name}", s.managed(s.deleteRole))

	s.handle("GET /v1/projects", s.managed(s.listProjects, pageParams...))
	s.handle("POST /v1/projects", s.creating(s.createProject))
	s.handle("GET /v1/projects/{id}", s.managed(s.getProject))
	s.handle("PATCH /v1/projects/{id}", s.managed(s.updateProject))
	s.handle("DELETE /v1/projects/{id}", s.managed(s.deleteProject))

	s.handle("GET /v1/catalog", s.managed(s.getCatalog))
	s.handle("PUT /v1/catalog/resources/{id}", s.managed(s.putResource))
	s.handle("DELETE /v1/catalog/resources/{id}", s.managed(s.deleteResource))

	s.handle("GET /v1/audit-events", s.managed(s.listAuditEvents, auditParams...))
}

// managedFunc is a handler of an authenticated management request.
type managedFunc func(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error

// managed authenticates a management request before its handler runs, so a
// missing or bad credential is a 401 whatever else is wrong with the
// request; then it checks the query's names against params, the ones the
// route takes (the handler reads their values with query).
func (s *Server) managed(h managedFunc, params ...string) handlerFunc {
	return s.authenticated(h, true, params)
}

// global is managed for the routes that do not act inside one account
// (accounts, and verify across accounts): an operator key reaches them
// even when the account default no longer exists.
func (s *Server) global(h managedFunc, params ...string) handlerFunc {
	return s.authenticated(h, false, params)
}

func (s *Server) authenticated(h managedFunc, needAccount bool, params []string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.actor(r, needAccount)
		if err != nil {
			return err
		}
		if err := checkQuery(r, params); err != nil {
			return err
		}
		return h(w, r, a)
	}
}

// creating is managed for the POSTs that create: with an Idempotency-Key
// header, the request runs at most once and retries get its answer.
func (s *Server) creating(h managedFunc) handlerFunc {
	return s.managed(func(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
		return s.idempotent(w, r, a, h)
	})
}

package http

import (
	"net/http"
	"slices"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/service"
)

// Query parameters the list routes take (checked before their handlers
// run; see managed). Every other route takes none but ?pretty.
var (
	pageParams     = []string{"limit", "starting_after", "ending_before"}
	keyListParams  = append(slices.Clip(pageParams), "status", "owner_type", "owner_id", "project_id", "permission_mode", "resource", "role", "search", "expired", "created_after", "created_before", "last_used_before", "expires_after", "expires_before")
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
	keyHandlers{s: s, kind: keyward.KindAPI}.register("/v1/keys")
	s.handle("GET /v1/keys/{id}/secret", s.managed(s.revealSecret))
	s.handle("POST /v1/keys/{id}/credits", s.managed(s.changeCredits))
	s.handle("GET /v1/keys/{id}/usage", s.managed(s.keyUsage, keyUsageParams...))
	s.handle("GET /v1/usage", s.managed(s.accountUsage, accountUsageParams...))
	keyHandlers{s: s, kind: keyward.KindManagement}.register("/v1/management-keys")

	(&objectRoutes[*keyward.Account, keyward.AccountFields, api.Account]{s: s, path: "/v1/accounts", param: "id", global: true,
		id: func(a *keyward.Account) string { return a.ID }, view: api.AccountOf,
		list: listPaged(s, keyward.PrefixAccount, s.svc.ListAccounts, api.AccountOf), params: pageParams,
		create: s.svc.CreateAccount, get: s.svc.GetAccount, update: s.svc.UpdateAccount, delete: s.svc.DeleteAccount,
	}).register()
	(&objectRoutes[*keyward.User, keyward.UserFields, api.User]{s: s, path: "/v1/users", param: "id",
		id: func(u *keyward.User) string { return u.ID }, view: api.UserOf,
		list: s.listUsers, params: userListParams,
		create: s.svc.CreateUser, get: s.svc.GetUser, update: s.svc.UpdateUser, delete: revoking(s.svc.DeleteUser),
	}).register()
	(&objectRoutes[*keyward.ServiceAccount, keyward.ServiceAccountFields, api.ServiceAccount]{s: s, path: "/v1/service-accounts", param: "id",
		id: func(sa *keyward.ServiceAccount) string { return sa.ID }, view: api.ServiceAccountOf,
		list: s.listServiceAccounts, params: saListParams,
		create: s.svc.CreateServiceAccount, get: s.svc.GetServiceAccount, update: s.svc.UpdateServiceAccount,
		delete: revoking(s.svc.DeleteServiceAccount),
	}).register()
	(&objectRoutes[*keyward.Role, keyward.RoleFields, api.Role]{s: s, path: "/v1/roles", param: "name",
		id: func(r *keyward.Role) string { return r.Name }, view: api.RoleOf,
		list:   s.listRoles,
		create: s.svc.CreateRole, get: s.svc.GetRole, update: s.svc.UpdateRole, delete: s.svc.DeleteRole,
	}).register()
	(&objectRoutes[*keyward.Project, keyward.ProjectFields, api.Project]{s: s, path: "/v1/projects", param: "id",
		id: func(p *keyward.Project) string { return p.ID }, view: api.ProjectOf,
		list: listPaged(s, keyward.PrefixProject, s.svc.ListProjects, api.ProjectOf), params: pageParams,
		create: s.svc.CreateProject, get: s.svc.GetProject, update: s.svc.UpdateProject, delete: revoking(s.svc.DeleteProject),
	}).register()

	s.handle("GET /v1/catalog", s.managed(s.getCatalog))
	s.handle("PUT /v1/catalog/resources/{id}", s.managed(s.putResource))
	s.handle("DELETE /v1/catalog/resources/{id}", s.managed(s.deleteResource))

	s.handle("GET /v1/audit-events", s.managed(s.listAuditEvents, auditParams...))
}

// register declares the routes of h's kind of key at path.
func (h keyHandlers) register(path string) {
	s, one := h.s, path+"/{id}"
	s.handle("GET "+path, s.managed(h.list, keyListParams...))
	s.handle("POST "+path, s.creating(h.create))
	s.handle("GET "+one, s.managed(h.get))
	s.handle("PATCH "+one, s.managed(h.update))
	s.handle("PUT "+one, s.managed(h.replace))
	s.handle("DELETE "+one, s.managed(h.delete))
	s.handle("POST "+one+"/rotate", s.creating(h.rotate))
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

package http

import (
	"net/http"

	"github.com/keyward/keyward"
)

// registerRoutes declares every route of the native API in one place.
func (s *Server) registerRoutes() {
	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	s.handle("GET /openapi.json", s.openapi)

	s.handle("GET /v1/whoami", s.whoami)

	api := keyHandlers{s: s, kind: keyward.KindAPI}
	s.handle("POST /v1/keys/verify", s.managed(s.verify))
	// /v1/keys/{id} would match /v1/keys/verify for other methods: the
	// path exists only for POST, so they get 405, not "key not found".
	for _, m := range []string{"GET", "PUT", "PATCH", "DELETE"} {
		s.mux.Handle(m+" /v1/keys/verify", handlerFunc(func(w http.ResponseWriter, r *http.Request) error { return errMethod(w, "POST") }))
	}
	s.handle("GET /v1/keys", s.managed(api.list))
	s.handle("POST /v1/keys", s.managed(api.create))
	s.handle("GET /v1/keys/{id}", s.managed(api.get))
	s.handle("PATCH /v1/keys/{id}", s.managed(api.update))
	s.handle("PUT /v1/keys/{id}", s.managed(api.replace))
	s.handle("DELETE /v1/keys/{id}", s.managed(api.delete))
	s.handle("POST /v1/keys/{id}/rotate", s.managed(api.rotate))

	s.handle("GET /v1/projects", s.managed(s.listProjects))
	s.handle("POST /v1/projects", s.managed(s.createProject))
	s.handle("GET /v1/projects/{id}", s.managed(s.getProject))
	s.handle("PATCH /v1/projects/{id}", s.managed(s.updateProject))
	s.handle("DELETE /v1/projects/{id}", s.managed(s.deleteProject))

	s.handle("GET /v1/catalog", s.managed(s.getCatalog))
	s.handle("PUT /v1/catalog/resources/{id}", s.managed(s.putResource))
	s.handle("DELETE /v1/catalog/resources/{id}", s.managed(s.deleteResource))

	s.handle("GET /v1/audit-events", s.managed(s.listAuditEvents))
}

// managed authenticates a management request before its handler runs, so a
// missing or bad credential is a 401 whatever else is wrong with the request.
func (s *Server) managed(h func(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.actor(r)
		if err != nil {
			return err
		}
		return h(w, r, a)
	}
}

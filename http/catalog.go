package http

// The permission catalog (/v1/catalog).

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

func (s *Server) getCatalog(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	c, err := s.svc.GetCatalog(r.Context(), a)
	if err != nil {
		return err
	}
	return s.writeJSON(w, r, http.StatusOK, api.CatalogOf(c.Resources, c.AccessLevels, c.Roles, c.ManagementPermissions))
}

func (s *Server) putResource(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in keyward.ResourceFields
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	res, created, err := s.svc.PutResource(r.Context(), a, r.PathValue("id"), &in)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return s.writeJSON(w, r, status, res)
}

func (s *Server) deleteResource(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	if err := s.svc.DeleteResource(r.Context(), a, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

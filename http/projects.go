package http

// Projects (/v1/projects).

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	p := query(r)
	pg, err := p.page(keyward.PrefixProject)
	if err != nil {
		return err
	}
	items, more, err := s.svc.ListProjects(r.Context(), a, pg)
	if err != nil {
		return err
	}
	return s.writeJSON(w, r, http.StatusOK, api.PageOf(items, more, api.ProjectOf))
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in keyward.ProjectFields
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	p, err := s.svc.CreateProject(r.Context(), a, &in)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", `"`+p.ETag()+`"`)
	w.Header().Set("Location", "/v1/projects/"+p.ID)
	return s.writeJSON(w, r, http.StatusCreated, api.ProjectOf(p))
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	p, err := s.svc.GetProject(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", `"`+p.ETag()+`"`)
	return s.writeJSON(w, r, http.StatusOK, api.ProjectOf(p))
}

func (s *Server) updateProject(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in keyward.ProjectFields
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	p, err := s.svc.UpdateProject(r.Context(), a, r.PathValue("id"), &in, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", `"`+p.ETag()+`"`)
	return s.writeJSON(w, r, http.StatusOK, api.ProjectOf(p))
}

func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	if _, err := s.svc.DeleteProject(r.Context(), a, r.PathValue("id"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

package http

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return s.writeJSON(w, r, http.StatusOK, api.Status{Status: "ok"})
}

// readyz answers 200 when the database answers, else 503 with Retry-After.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := s.svc.Ready(r.Context()); err != nil {
		return &keyward.Error{Code: keyward.ECodeUnavailable, Message: "the database does not answer", Err: err}
	}
	return s.writeJSON(w, r, http.StatusOK, api.Status{Status: "ready"})
}

// serveMetrics serves the Prometheus metrics. Like /healthz it needs no
// credential: restrict it at the network or the proxy.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	if s.metrics == nil {
		return keyward.Errorf(keyward.ECodeNotFound, "metrics are not enabled on this server")
	}
	s.metrics.ServeHTTP(w, r)
	return nil
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, err := w.Write(OpenAPI())
	return err
}

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

func (s *Server) listAuditEvents(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	p := query(r)
	var f keyward.AuditFilter
	var err error
	if f.Page, err = p.page(keyward.PrefixAuditEvent); err != nil {
		return err
	}
	for _, t := range []struct {
		name string
		dst  *string
	}{{"target_id", &f.TargetID}, {"actor_id", &f.ActorID}, {"action", &f.Action}} {
		if *t.dst, err = p.text(t.name, 128); err != nil {
			return err
		}
	}
	if f.Since, err = p.time("since"); err != nil {
		return err
	}
	if f.Until, err = p.time("until"); err != nil {
		return err
	}
	items, more, err := s.svc.ListAuditEvents(r.Context(), a, f)
	if err != nil {
		return err
	}
	return s.writeJSON(w, r, http.StatusOK, api.PageOf(items, more, api.AuditEventOf))
}

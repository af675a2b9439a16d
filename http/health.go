package http

// The routes of the server itself: liveness, readiness, metrics and the
// OpenAPI document.

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

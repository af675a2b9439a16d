package http

// The audit log (/v1/audit-events).

import (
	"net/http"
	"net/url"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

func (s *Server) listAuditEvents(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	f, err := AuditFilterOf(query(r).v)
	if err != nil {
		return err
	}
	items, more, err := s.svc.ListAuditEvents(r.Context(), a, *f)
	return writePage(s, w, r, items, more, err, api.AuditEventOf)
}

// AuditFilterOf reads the query parameters of GET /v1/audit-events from v
// exactly as the API does, for the dashboard's audit log.
func AuditFilterOf(v url.Values) (*keyward.AuditFilter, error) {
	p := params{v: v}
	var f keyward.AuditFilter
	var err error
	if f.Page, err = p.page(keyward.PrefixAuditEvent); err != nil {
		return nil, err
	}
	for _, t := range []struct {
		name string
		dst  *string
	}{{"target_id", &f.TargetID}, {"actor_id", &f.ActorID}, {"action", &f.Action}} {
		if *t.dst, err = p.text(t.name, 128); err != nil {
			return nil, err
		}
	}
	if f.Since, err = p.time("since"); err != nil {
		return nil, err
	}
	if f.Until, err = p.time("until"); err != nil {
		return nil, err
	}
	return &f, nil
}

package http

// Usage analytics (/v1/keys/{id}/usage, /v1/usage).

import (
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// Query parameters of the usage routes.
var (
	keyUsageParams     = []string{"from", "to", "granularity"}
	accountUsageParams = []string{"from", "to", "granularity", "group_by", "limit"}
)

// usageQuery reads from, to and granularity, resolved on the buckets
// (keyward.UsageRange.Resolve): a bad one is a 400 naming it.
func (s *Server) usageQuery(p params) (keyward.UsageQuery, error) {
	var rg keyward.UsageRange
	g, err := p.enum("granularity", "minute", "hour", "day")
	if err != nil {
		return keyward.UsageQuery{}, err
	}
	rg.Granularity = keyward.Granularity(g)
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &rg.From}, {"to", &rg.To}} {
		v, err := p.time(t.name)
		if err != nil {
			return keyward.UsageQuery{}, err
		}
		if v != nil {
			*t.dst = *v
		}
	}
	q, param, problem := rg.Resolve(s.svc.Now())
	if param != "" {
		return q, api.BadParam(param, "%s", problem)
	}
	return q, nil
}

func (s *Server) keyUsage(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	q, err := s.usageQuery(query(r))
	if err != nil {
		return err
	}
	series, err := s.svc.KeyUsage(r.Context(), a, r.PathValue("id"), q)
	if err != nil {
		return err
	}
	return s.writeJSON(w, r, http.StatusOK, api.UsageSeriesOf(series))
}

func (s *Server) accountUsage(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	p := query(r)
	q, err := s.usageQuery(p)
	if err != nil {
		return err
	}
	by, err := p.enum("group_by", "key", "outcome", "owner", "project")
	if err != nil {
		return err
	}
	if by == "" {
		by = string(keyward.GroupByKey)
	}
	limit := keyward.DefaultUsageLimit
	if p.v.Has("limit") {
		n, err := strconv.Atoi(p.v.Get("limit"))
		if err != nil || n < 1 || n > keyward.MaxUsageLimit {
			return api.BadParam("limit", "must be an integer from 1 to %d", keyward.MaxUsageLimit)
		}
		limit = n
	}
	sum, err := s.svc.AccountUsage(r.Context(), a, q, keyward.UsageGroup(by), limit)
	if err != nil {
		return err
	}
	return s.writeJSON(w, r, http.StatusOK, api.UsageSummaryOf(sum))
}

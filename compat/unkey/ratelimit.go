package unkey

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

type limitRequest struct {
	Namespace  keyward.Field[string] `json:"namespace"`
	Cost       keyward.Field[int64]  `json:"cost"`
	Duration   keyward.Field[int64]  `json:"duration"`
	Identifier keyward.Field[string] `json:"identifier"`
	Limit      keyward.Field[int64]  `json:"limit"`
}

// limit serves ratelimit.limit on keyward's named limits (the service's
// GCRA, per account, namespace and identifier; keys:verify). Unkey's
// namespaces need no creation; its overrides are not served.
func (s *server) limit(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *limitRequest) error {
	ns, err := required("namespace", in.Namespace)
	if err != nil {
		return err
	}
	id, err := required("identifier", in.Identifier)
	if err != nil {
		return err
	}
	for name, f := range map[string]keyward.Field[int64]{"limit": in.Limit, "duration": in.Duration} {
		if !f.HasValue() {
			return badInput(name, "is required: an integer")
		}
	}
	cost := int64(1)
	if in.Cost.Set {
		if in.Cost.Null {
			return badInput("cost", "must be an integer")
		}
		cost = in.Cost.Value
	}
	res, err := s.Svc.Limit(r.Context(), a, service.NamedLimit{Namespace: ns, Identifier: id, Limit: in.Limit.Value,
		WindowMs: in.Duration.Value, Cost: cost})
	if err != nil {
		return err
	}
	return reply(w, r, map[string]any{"limit": res.Limit, "remaining": res.Remaining, "reset": ms(res.ResetAt), "success": res.Allowed})
}

package orq

import (
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat/internal/kit"
)

// domain is orq's Domain: one entry of the capability catalog.
type domain struct {
	ID            string   `json:"id"`
	DisplayName   string   `json:"display_name"`
	Group         any      `json:"group,omitempty"`
	AllowedScopes []string `json:"allowed_scopes"`
	Readable      bool     `json:"readable"`
	Writable      bool     `json:"writable"`
}

type capabilitiesResponse struct {
	Domains []domain `json:"domains"`
}

// groups maps keyward's catalog groups (the orq template's) to orq's
// DomainGroup, in orq's order: workspace-admin, platform, gateway. Other
// groups (an account on another template, or resources added later) are
// DOMAIN_GROUP_UNSPECIFIED and come last.
var groups = []struct{ keyward, orq string }{
	{keyward.OrqGroupWorkspaceAdmin, "DOMAIN_GROUP_WORKSPACE_ADMIN"},
	{keyward.OrqGroupPlatform, "DOMAIN_GROUP_PLATFORM"},
	{keyward.OrqGroupGateway, "DOMAIN_GROUP_GATEWAY"},
}

func groupRank(g string) (int, string) {
	for i, x := range groups {
		if x.keyward == g {
			return i, x.orq
		}
	}
	return len(groups), "DOMAIN_GROUP_UNSPECIFIED"
}

// capabilities serves GET /v2/api-keys/capabilities → 200 {domains}: the
// account's catalog in orq's shape and order ("workspace-admin first, then
// platform, then gateway; within a group, alphabetically by
// display_name"). Protected resources are left out: they can never be
// granted to an API key, and the catalog lists what can.
func (h *handler) capabilities(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	if _, err := h.Kit.Query(r, nil); err != nil {
		return err
	}
	c, err := h.Svc.GetCatalog(r.Context(), a)
	if err != nil {
		return err
	}
	type ranked struct {
		rank  int
		group string // keyward's, to keep unknown groups together
		d     domain
	}
	var list []ranked
	for _, res := range c.Resources {
		if res.Protected {
			continue
		}
		rank, g := groupRank(res.Group)
		d := domain{ID: res.ID, DisplayName: res.DisplayName, Group: h.render.group(g), AllowedScopes: []string{},
			Readable: res.Readable, Writable: res.Writable}
		for _, s := range res.ProjectScopes {
			switch s {
			case keyward.ProjectScopeAll:
				d.AllowedScopes = append(d.AllowedScopes, "SCOPE_MODE_ALL")
			case keyward.ProjectScopeSingle:
				d.AllowedScopes = append(d.AllowedScopes, "SCOPE_MODE_SINGLE")
			}
		}
		list = append(list, ranked{rank, res.Group, d})
	}
	slices.SortFunc(list, func(x, y ranked) int {
		if x.rank != y.rank {
			return x.rank - y.rank
		}
		if c := strings.Compare(x.group, y.group); c != 0 {
			return c
		}
		if c := strings.Compare(strings.ToLower(x.d.DisplayName), strings.ToLower(y.d.DisplayName)); c != 0 {
			return c
		}
		return strings.Compare(x.d.ID, y.d.ID)
	})
	out := capabilitiesResponse{Domains: make([]domain, 0, len(list))}
	for _, x := range list {
		out.Domains = append(out.Domains, x.d)
	}
	return kit.WriteJSON(w, r, http.StatusOK, out)
}

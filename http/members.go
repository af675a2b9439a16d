package http

import (
	"net/http"
	"net/url"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// The lists of users, service accounts and roles, with their filters; the
// rest of their routes, and those of accounts and projects, are
// objectRoutes.

// memberPage reads what both member lists take: the page, of ids that
// start with prefix, and the status.
func memberPage(p params, prefix string) (keyward.Page, keyward.MemberStatus, error) {
	pg, err := p.page(prefix)
	if err != nil {
		return pg, "", err
	}
	st, err := p.enum("status", "active", "disabled")
	return pg, keyward.MemberStatus(st), err
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	f, err := userFilter(query(r))
	if err != nil {
		return err
	}
	items, more, err := s.svc.ListUsers(r.Context(), a, *f)
	return writePage(s, w, r, items, more, err, api.UserOf)
}

// UserFilterOf reads the query parameters of GET /v1/users from v exactly
// as the API does, for the dashboard's list of users.
func UserFilterOf(v url.Values) (*keyward.UserFilter, error) { return userFilter(params{v: v}) }

func userFilter(p params) (*keyward.UserFilter, error) {
	var f keyward.UserFilter
	var err error
	if f.Page, f.Status, err = memberPage(p, keyward.PrefixUser); err != nil {
		return nil, err
	}
	if p.v.Has("role") {
		if f.Role = p.str("role"); !keyward.ValidRoleName(f.Role) {
			return nil, api.BadParam("role", "must be a role name")
		}
	}
	if f.ExternalID, err = p.text("external_id", 255); err != nil {
		return nil, err
	}
	if f.Search, err = p.text("search", 255); err != nil {
		return nil, err
	}
	return &f, nil
}

func (s *Server) listServiceAccounts(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	f, err := ServiceAccountFilterOf(query(r).v)
	if err != nil {
		return err
	}
	items, more, err := s.svc.ListServiceAccounts(r.Context(), a, *f)
	return writePage(s, w, r, items, more, err, api.ServiceAccountOf)
}

// ServiceAccountFilterOf reads the query parameters of GET
// /v1/service-accounts from v exactly as the API does, for the dashboard.
func ServiceAccountFilterOf(v url.Values) (*keyward.ServiceAccountFilter, error) {
	var f keyward.ServiceAccountFilter
	var err error
	if f.Page, f.Status, err = memberPage(params{v: v}, keyward.PrefixService); err != nil {
		return nil, err
	}
	return &f, nil
}

func (s *Server) listRoles(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	roles, err := s.svc.ListRoles(r.Context(), a)
	return writePage(s, w, r, roles, false, err, api.RoleOf)
}

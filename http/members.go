package http

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// The handlers of accounts, users, service accounts and roles. Each reads
// its parameters and body strictly, calls the service (which checks the
// management permission), and renders the view with its ETag.

func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, status int, etag string, v any) error {
	w.Header().Set("ETag", `"`+etag+`"`)
	return s.writeJSON(w, r, status, v)
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	p := query(r)
	pg, err := p.page(keyward.PrefixAccount)
	if err != nil {
		return err
	}
	items, more, err := s.svc.ListAccounts(r.Context(), a, pg)
	if err != nil {
		return err
	}
	return s.writeJSON(w, r, http.StatusOK, api.PageOf(items, more, api.AccountOf))
}

func (s *Server) createAccount(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in keyward.AccountFields
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	acct, err := s.svc.CreateAccount(r.Context(), a, &in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/accounts/"+acct.ID)
	return s.writeObject(w, r, http.StatusCreated, acct.ETag(), api.AccountOf(acct))
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	acct, err := s.svc.GetAccount(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.writeObject(w, r, http.StatusOK, acct.ETag(), api.AccountOf(acct))
}

func (s *Server) updateAccount(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in keyward.AccountFields
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	acct, err := s.svc.UpdateAccount(r.Context(), a, r.PathValue("id"), &in, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return s.writeObject(w, r, http.StatusOK, acct.ETag(), api.AccountOf(acct))
}

func (s *Server) deleteAccount(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	if err := s.svc.DeleteAccount(r.Context(), a, r.PathValue("id"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	p := query(r)
	var f keyward.UserFilter
	var err error
	if f.Page, err = p.page(keyward.PrefixUser); err != nil {
		return err
	}
	st, err := p.enum("status", "active", "disabled")
	if err != nil {
		return err
	}
	f.Status = keyward.MemberStatus(st)
	if p.v.Has("role") {
		if f.Role = p.str("role"); !keyward.ValidRoleName(f.Role) {
			return api.BadParam("role", "must be a role name")
		}
	}
	if f.ExternalID, err = p.text("external_id", 255); err != nil {
		return err
	}
	if f.Search, err = p.text("search", 255); err != nil {
		return err
	}
	items, more, err := s.svc.ListUsers(r.Context(), a, f)
	if err != nil {
		return err
	}
	return s.writeJSON(w, r, http.StatusOK, api.PageOf(items, more, api.UserOf))
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in keyward.UserFields
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	u, err := s.svc.CreateUser(r.Context(), a, &in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/users/"+u.ID)
	return s.writeObject(w, r, http.StatusCreated, u.ETag(), api.UserOf(u))
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	u, err := s.svc.GetUser(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.writeObject(w, r, http.StatusOK, u.ETag(), api.UserOf(u))
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in keyward.UserFields
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	u, err := s.svc.UpdateUser(r.Context(), a, r.PathValue("id"), &in, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return s.writeObject(w, r, http.StatusOK, u.ETag(), api.UserOf(u))
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	if _, err := s.svc.DeleteUser(r.Context(), a, r.PathValue("id"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listServiceAccounts(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	p := query(r)
	var f keyward.ServiceAccountFilter
	var err error
	if f.Page, err = p.page(keyward.PrefixService); err != nil {
		return err
	}
	st, err := p.enum("status", "active", "disabled")
	if err != nil {
		return err
	}
	f.Status = keyward.MemberStatus(st)
	items, more, err := s.svc.ListServiceAccounts(r.Context(), a, f)
	if err != nil {
		return err
	}
	return s.writeJSON(w, r, http.StatusOK, api.PageOf(items, more, api.ServiceAccountOf))
}

func (s *Server) createServiceAccount(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in keyward.ServiceAccountFields
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	sa, err := s.svc.CreateServiceAccount(r.Context(), a, &in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/service-accounts/"+sa.ID)
	return s.writeObject(w, r, http.StatusCreated, sa.ETag(), api.ServiceAccountOf(sa))
}

func (s *Server) getServiceAccount(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	sa, err := s.svc.GetServiceAccount(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.writeObject(w, r, http.StatusOK, sa.ETag(), api.ServiceAccountOf(sa))
}

func (s *Server) updateServiceAccount(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in keyward.ServiceAccountFields
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	sa, err := s.svc.UpdateServiceAccount(r.Context(), a, r.PathValue("id"), &in, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return s.writeObject(w, r, http.StatusOK, sa.ETag(), api.ServiceAccountOf(sa))
}

func (s *Server) deleteServiceAccount(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	if _, err := s.svc.DeleteServiceAccount(r.Context(), a, r.PathValue("id"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listRoles(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	roles, err := s.svc.ListRoles(r.Context(), a)
	if err != nil {
		return err
	}
	return s.writeJSON(w, r, http.StatusOK, api.PageOf(roles, false, api.RoleOf))
}

func (s *Server) createRole(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in keyward.RoleFields
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	role, err := s.svc.CreateRole(r.Context(), a, &in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/roles/"+role.Name)
	return s.writeObject(w, r, http.StatusCreated, role.ETag(), api.RoleOf(role))
}

func (s *Server) getRole(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	role, err := s.svc.GetRole(r.Context(), a, r.PathValue("name"))
	if err != nil {
		return err
	}
	return s.writeObject(w, r, http.StatusOK, role.ETag(), api.RoleOf(role))
}

func (s *Server) updateRole(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in keyward.RoleFields
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	role, err := s.svc.UpdateRole(r.Context(), a, r.PathValue("name"), &in, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return s.writeObject(w, r, http.StatusOK, role.ETag(), api.RoleOf(role))
}

func (s *Server) deleteRole(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	if err := s.svc.DeleteRole(r.Context(), a, r.PathValue("name"), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

package unkey

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat/internal/kit"
	"github.com/keyward/keyward/service"
)

// Unkey's permissions are catalog resources: the slug is the resource id
// (keyward's [a-z][a-z0-9_.-]*, at most 64 characters), the name its
// display name. A permission made here supports read only: holding it is
// holding the resource. Its roles are keyward roles, named as Unkey's.

type createPermissionRequest struct {
	Name        keyward.Field[string] `json:"name"`
	Slug        keyward.Field[string] `json:"slug"`
	Description keyward.Field[string] `json:"description"`
}

// catalog reads the account's catalog (catalog:read) as the expansion
// the views take.
func (s *server) catalog(ctx context.Context, a *keyward.Actor) (*service.ScopeExpansion, error) {
	c, err := s.Svc.GetCatalog(ctx, a)
	if err != nil {
		return nil, err
	}
	x := &service.ScopeExpansion{Catalog: keyward.NewCatalog(c.Resources), Resources: c.Resources, RoleScopes: map[string][]keyward.Scope{}}
	for _, r := range c.Roles {
		x.RoleScopes[r.Name] = r.Scopes
	}
	return x, nil
}

// createPermission serves permissions.createPermission: a catalog
// resource, read only, usable by keys of one project.
func (s *server) createPermission(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *createPermissionRequest) error {
	name, err := required("name", in.Name)
	if err != nil {
		return err
	}
	slug, err := requiredName("slug", in.Slug, keyward.ValidResourceID, "keyward permission slugs are catalog resource ids, ")
	if err != nil {
		return err
	}
	if in.Description.Null {
		return badInput("description", "must be a string")
	}
	x, err := s.catalog(r.Context(), a)
	if err != nil {
		return err
	}
	if x.Catalog[slug] != nil {
		return &kit.Error{Status: http.StatusConflict, Code: typePermExists,
			Err: keyward.Errorf(keyward.ECodeDuplicate, "a permission with slug %q already exists", slug)}
	}
	rf := &keyward.ResourceFields{DisplayName: keyward.Some(name), Readable: keyward.Some(true), Writable: keyward.Some(false)}
	if in.Description.Set {
		rf.Description = in.Description
	}
	if _, _, err := s.Svc.PutResource(r.Context(), a, slug, rf); err != nil {
		return mapFields(mapFields(err, renamer("display_name", "name")), renamer("id", "slug"))
	}
	return reply(w, r, map[string]string{"permissionId": permPrefix + slug})
}

// ensurePermissions creates the permissions slugs name that do not exist
// (bare slugs that are resource ids; a resource:access form must name an
// existing resource): Unkey's addPermissions, setPermissions and
// createRole make missing permissions when the root key may
// (catalog:write), and fail with 403 when it may not. x's catalog gains
// what is made; the slugs made are returned for undoPermissions, should
// the request fail after.
func (s *server) ensurePermissions(ctx context.Context, a *keyward.Actor, slugs []string, x *service.ScopeExpansion) ([]string, error) {
	var made []string
	for _, slug := range slugs {
		if x.Catalog[slug] != nil || strings.Contains(slug, ":") || !keyward.ValidResourceID(slug) {
			continue
		}
		rf := &keyward.ResourceFields{DisplayName: keyward.Some(slug), Readable: keyward.Some(true), Writable: keyward.Some(false)}
		res, _, err := s.Svc.PutResource(ctx, a, slug, rf)
		if err != nil {
			s.undoPermissions(ctx, a, made)
			return nil, err
		}
		made = append(made, res.ID)
		x.Catalog[res.ID] = res
	}
	return made, nil
}

// undoPermissions removes the permissions a failed request made, so that
// it changes nothing (one a key holds meanwhile stays: the catalog
// refuses to remove it).
func (s *server) undoPermissions(ctx context.Context, a *keyward.Actor, made []string) {
	for _, id := range made {
		// Best effort: the request's own error is the answer.
		_ = s.Svc.DeleteResource(context.WithoutCancel(ctx), a, id)
	}
}

type permissionRequest struct {
	Permission keyward.Field[string] `json:"permission"`
}

// resource finds the resource a permission id (perm_<slug>) or slug names.
func resourceOf(x *service.ScopeExpansion, p string) *keyward.Resource {
	if slug, ok := strings.CutPrefix(p, permPrefix); ok && x.Catalog[slug] != nil {
		return x.Catalog[slug]
	}
	return x.Catalog[p]
}

// permission is the resource the body of a procedure on one permission
// names, and the catalog.
func (s *server) permission(r *http.Request, a *keyward.Actor, in *permissionRequest) (*keyward.Resource, *service.ScopeExpansion, error) {
	p, err := required("permission", in.Permission)
	if err != nil {
		return nil, nil, err
	}
	x, err := s.catalog(r.Context(), a)
	if err != nil {
		return nil, nil, err
	}
	res := resourceOf(x, p)
	if res == nil {
		return nil, nil, notFound("permission", typePermNotFound, p)
	}
	return res, x, nil
}

// getPermission serves permissions.getPermission, by id or slug.
func (s *server) getPermission(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *permissionRequest) error {
	res, x, err := s.permission(r, a, in)
	if err != nil {
		return err
	}
	return reply(w, r, permissionView(res.ID, x.Catalog))
}

// deletePermission serves permissions.deletePermission: the resource goes
// if no key holds it (else 412, naming the keys).
func (s *server) deletePermission(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *permissionRequest) error {
	res, _, err := s.permission(r, a, in)
	if err != nil {
		return err
	}
	return deleted(w, r, s.Svc.DeleteResource(r.Context(), a, res.ID), typePermNotFound)
}

type listRequest struct {
	Limit  keyward.Field[int64]  `json:"limit"`
	Cursor keyward.Field[string] `json:"cursor"`
	Search keyward.Field[string] `json:"search"`
}

// window returns the page of names (sorted) after the cursor.
func window(names []string, in *listRequest) ([]string, bool, error) {
	limit, err := listLimit(in.Limit)
	if err != nil {
		return nil, false, err
	}
	for name, f := range map[string]keyward.Field[string]{"cursor": in.Cursor, "search": in.Search} {
		if f.Null {
			return nil, false, badInput(name, "must be a string")
		}
	}
	slices.Sort(names)
	if in.Cursor.Set {
		i, found := slices.BinarySearch(names, in.Cursor.Value)
		if found {
			i++
		}
		names = names[i:]
	}
	if len(names) > limit {
		return names[:limit], true, nil
	}
	return names, false, nil
}

func matches(search string, texts ...string) bool {
	if search == "" {
		return true
	}
	for _, t := range texts {
		if strings.Contains(strings.ToLower(t), strings.ToLower(search)) {
			return true
		}
	}
	return false
}

// listPermissions serves permissions.listPermissions: every resource of
// the catalog, by slug; search matches slug or name.
func (s *server) listPermissions(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *listRequest) error {
	x, err := s.catalog(r.Context(), a)
	if err != nil {
		return err
	}
	var names []string
	for _, res := range x.Resources {
		if matches(in.Search.Value, res.ID, res.DisplayName) {
			names = append(names, res.ID)
		}
	}
	page, more, err := window(names, in)
	if err != nil {
		return err
	}
	out := permissionViews(page, x.Catalog)
	return replyPage(w, r, out, last(page), more)
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

type createRoleRequest struct {
	Name        keyward.Field[string]   `json:"name"`
	Description keyward.Field[string]   `json:"description"`
	Permissions keyward.Field[[]string] `json:"permissions"`
}

// createRole serves permissions.createRole: a keyward role whose scopes
// are the permissions.
func (s *server) createRole(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *createRoleRequest) error {
	name, err := requiredName("name", in.Name, keyward.ValidRoleName, "keyward role names are ")
	if err != nil {
		return err
	}
	if in.Permissions.Null {
		return badInput("permissions", "must be an array of permission slugs")
	}
	x, err := s.catalog(r.Context(), a)
	if err != nil {
		return err
	}
	made, err := s.ensurePermissions(r.Context(), a, in.Permissions.Value, x)
	if err != nil {
		return err
	}
	scopes, err := scopesOf("permissions", in.Permissions.Value, x.Catalog)
	if err != nil {
		s.undoPermissions(r.Context(), a, made)
		return err
	}
	rf := &keyward.RoleFields{Name: keyward.Some(name), Scopes: keyward.Some(scopes)}
	if in.Description.Set {
		rf.Description = in.Description
	}
	if _, err := s.Svc.CreateRole(r.Context(), a, rf); err != nil {
		s.undoPermissions(r.Context(), a, made)
		return withType(renamed(err), "", typeRoleExists)
	}
	return reply(w, r, map[string]string{"roleId": rolePrefix + name})
}

type roleRequest struct {
	Role keyward.Field[string] `json:"role"`
}

// role reads the role a request names, by id (role_<name>) or name.
func (s *server) role(r *http.Request, a *keyward.Actor, in *roleRequest) (*keyward.Role, error) {
	name, err := required("role", in.Role)
	if err != nil {
		return nil, err
	}
	if n, ok := strings.CutPrefix(name, rolePrefix); ok {
		if ro, err := s.Svc.GetRole(r.Context(), a, n); err == nil {
			return ro, nil
		}
	}
	if !keyward.ValidRoleName(name) {
		return nil, notFound("role", typeRoleNotFound, name)
	}
	ro, err := s.Svc.GetRole(r.Context(), a, name)
	if err != nil {
		return nil, withType(err, typeRoleNotFound, "")
	}
	return ro, nil
}

// getRole serves permissions.getRole, by id or name.
func (s *server) getRole(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *roleRequest) error {
	ro, err := s.role(r, a, in)
	if err != nil {
		return err
	}
	x, err := s.catalog(r.Context(), a)
	if err != nil {
		return err
	}
	return reply(w, r, roleView(ro.Name, ro.Description, x))
}

// deleteRole serves permissions.deleteRole: a role a key holds stays (412,
// naming the keys).
func (s *server) deleteRole(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *roleRequest) error {
	ro, err := s.role(r, a, in)
	if err != nil {
		return err
	}
	return deleted(w, r, s.Svc.DeleteRole(r.Context(), a, ro.Name, ""), typeRoleNotFound)
}

// listRoles serves permissions.listRoles, by name; search matches name or
// description.
func (s *server) listRoles(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *listRequest) error {
	roles, err := s.Svc.ListRoles(r.Context(), a)
	if err != nil {
		return err
	}
	x, err := s.catalog(r.Context(), a)
	if err != nil {
		return err
	}
	desc := map[string]*string{}
	var names []string
	for _, ro := range roles {
		d := ""
		if ro.Description != nil {
			d = *ro.Description
		}
		if matches(in.Search.Value, ro.Name, d) {
			names = append(names, ro.Name)
			desc[ro.Name] = ro.Description
			x.RoleScopes[ro.Name] = ro.Scopes
		}
	}
	page, more, err := window(names, in)
	if err != nil {
		return err
	}
	out := make([]roleData, 0, len(page))
	for _, n := range page {
		out = append(out, roleView(n, desc[n], x))
	}
	return replyPage(w, r, out, last(page), more)
}

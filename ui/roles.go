package ui

import (
	"context"
	"net/http"
	"net/url"

	"github.com/keyward/keyward"
)

// rolePages are the pages of roles (members:read, members:write), whose
// name is their id. The scopes editor is the key form's: one scope per
// line, with the account's catalog beside it.
func (u *UI) rolePages() *objectPages[*keyward.Role] {
	svc := u.svc
	values := func(x *keyward.Role, ok bool) url.Values {
		v := url.Values{}
		if ok {
			v.Set("name", x.Name)
			v.Set("description", deref(x.Description))
			v.Set("scopes", scopesText(x.Scopes))
			v.Set("etag", x.ETag())
		}
		return v
	}
	read := func(v url.Values, cur *keyward.Role) (*keyward.RoleFields, map[string]string) {
		was := values(cur, cur != nil)
		in := &keyward.RoleFields{}
		if cur == nil {
			textChange(&in.Name, v, was, "name")
		}
		textChange(&in.Description, v, was, "description")
		scopes, msg := parseScopes(lines(v.Get("scopes")))
		if msg != "" {
			return nil, map[string]string{"scopes": msg}
		}
		if cur == nil || scopesText(scopes) != scopesText(cur.Scopes) {
			in.Scopes = keyward.Some(scopes)
		}
		return in, nil
	}
	return &objectPages[*keyward.Role]{
		kind: "roles", noun: "role", write: keyward.PermMembersWrite,
		id:   func(x *keyward.Role) string { return x.Name },
		name: func(x *keyward.Role) string { return x.Name },
		// Roles are few (the API lists them all at once): one read, no
		// pages.
		list: func(r *http.Request, c *call, _ url.Values) ([]*keyward.Role, bool, error) {
			roles, err := svc.ListRoles(r.Context(), c.actor)
			return roles, false, err
		},
		get:    svc.GetRole,
		values: values,
		create: func(ctx context.Context, c *call, v url.Values) (*keyward.Role, map[string]string, error) {
			in, errs := read(v, nil)
			if errs != nil {
				return nil, errs, nil
			}
			x, err := svc.CreateRole(ctx, c.actor, in)
			return x, nil, err
		},
		update: func(ctx context.Context, c *call, cur *keyward.Role, v url.Values) (map[string]string, error) {
			in, errs := read(v, cur)
			if errs != nil {
				return errs, nil
			}
			_, err := svc.UpdateRole(ctx, c.actor, cur.Name, in, v.Get("etag"))
			return nil, err
		},
		formExtra: u.catalogResources,
		del: func(ctx context.Context, a *keyward.Actor, x *keyward.Role, etag string) error {
			return svc.DeleteRole(ctx, a, x.Name, etag)
		},
		etag:       func(x *keyward.Role) string { return x.ETag() },
		deleteNote: "A role that users or keys hold cannot be deleted: take it off them first.",
		taken:      "name",
	}
}

// catalogResources are the account's catalog resources, shown beside a
// scopes editor (none when the key may not read the catalog).
func (u *UI) catalogResources(r *http.Request, c *call) (any, error) {
	if !can(c.actor, keyward.PermCatalogRead) {
		return []*keyward.Resource(nil), nil
	}
	cat, err := u.svc.GetCatalog(r.Context(), c.actor)
	if err != nil {
		return nil, err
	}
	return cat.Resources, nil
}

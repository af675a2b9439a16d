package ui

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyward/keyward"
)

// resourcePages are the pages of the catalog's resources (catalog:read,
// catalog:write). The API puts a resource whole (PUT
// /v1/catalog/resources/{id}, which creates or replaces it): the edit
// form sends every member, and the create form refuses an id that exists
// rather than replacing that resource. Resources have no version, so
// the forms carry no etag.
func (u *UI) resourcePages() *objectPages[*keyward.Resource] {
	svc := u.svc
	flag := func(v url.Values, name string, b bool) {
		if b {
			v.Set(name, "on")
		}
	}
	values := func(x *keyward.Resource, ok bool) url.Values {
		v := url.Values{}
		if !ok {
			// A new resource's defaults (keyward.NewResource).
			x = &keyward.Resource{Readable: true, Writable: true, ProjectScopes: []string{keyward.ProjectScopeAll, keyward.ProjectScopeSingle}}
		} else {
			v.Set("id", x.ID)
			v.Set("display_name", x.DisplayName)
		}
		v.Set("group", x.Group)
		v.Set("description", x.Description)
		flag(v, "readable", x.Readable)
		flag(v, "writable", x.Writable)
		flag(v, "protected", x.Protected)
		v["project_scopes"] = append([]string{}, x.ProjectScopes...)
		return v
	}
	read := func(v url.Values) *keyward.ResourceFields {
		in := &keyward.ResourceFields{
			Group:         keyward.Some(strings.TrimSpace(v.Get("group"))),
			Description:   keyward.Some(strings.TrimSpace(v.Get("description"))),
			Readable:      keyward.Some(v.Get("readable") != ""),
			Writable:      keyward.Some(v.Get("writable") != ""),
			Protected:     keyward.Some(v.Get("protected") != ""),
			ProjectScopes: keyward.Some(append([]string{}, v["project_scopes"]...)),
		}
		if s := strings.TrimSpace(v.Get("display_name")); s != "" {
			in.DisplayName = keyward.Some(s)
		}
		return in
	}
	get := func(ctx context.Context, a *keyward.Actor, id string) (*keyward.Resource, error) {
		cat, err := svc.GetCatalog(ctx, a)
		if err != nil {
			return nil, err
		}
		if r := keyward.NewCatalog(cat.Resources)[id]; r != nil {
			return r, nil
		}
		return nil, keyward.NotFound("catalog resource", id)
	}
	return &objectPages[*keyward.Resource]{
		kind: "catalog", noun: "resource", write: keyward.PermCatalogWrite,
		id:   func(x *keyward.Resource) string { return x.ID },
		name: func(x *keyward.Resource) string { return x.DisplayName },
		// The catalog is one read, whole (as GET /v1/catalog answers it).
		list: func(r *http.Request, c *call, _ url.Values) ([]*keyward.Resource, bool, error) {
			cat, err := svc.GetCatalog(r.Context(), c.actor)
			if err != nil {
				return nil, false, err
			}
			return cat.Resources, false, nil
		},
		get:    get,
		values: values,
		create: func(ctx context.Context, c *call, v url.Values) (*keyward.Resource, map[string]string, error) {
			id := strings.TrimSpace(v.Get("id"))
			if _, err := get(ctx, c.actor, id); err == nil {
				return nil, map[string]string{"id": "the catalog has a resource " + id + " already: edit it instead"}, nil
			} else if !isCode(err, keyward.ECodeNotFound) {
				return nil, nil, err
			}
			x, _, err := svc.PutResource(ctx, c.actor, id, read(v))
			return x, nil, err
		},
		update: func(ctx context.Context, c *call, cur *keyward.Resource, v url.Values) (map[string]string, error) {
			_, _, err := svc.PutResource(ctx, c.actor, cur.ID, read(v))
			return nil, err
		},
		formFields: map[string]string{"project_scopes": "project_scopes"},
		del: func(ctx context.Context, a *keyward.Actor, x *keyward.Resource, _ string) error {
			return svc.DeleteResource(ctx, a, x.ID)
		},
		deleteNote: "A resource that keys or roles are granted cannot be deleted: take it out of their scopes first.",
	}
}

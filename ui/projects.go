package ui

import (
	"context"
	"net/http"
	"net/url"

	"github.com/keyward/keyward"
	khttp "github.com/keyward/keyward/http"
)

// projectPages are the pages of projects (keys:read, keys:write, as the
// API guards them).
func (u *UI) projectPages() *objectPages[*keyward.Project] {
	svc := u.svc
	values := func(x *keyward.Project, ok bool) url.Values {
		v := url.Values{}
		if ok {
			v.Set("name", x.Name)
			v.Set("description", deref(x.Description))
			v.Set("etag", x.ETag())
		}
		return v
	}
	read := func(v url.Values, cur *keyward.Project) *keyward.ProjectFields {
		was := values(cur, cur != nil)
		in := &keyward.ProjectFields{}
		textChange(&in.Name, v, was, "name")
		textChange(&in.Description, v, was, "description")
		return in
	}
	return &objectPages[*keyward.Project]{
		kind: "projects", noun: "project", write: keyward.PermKeysWrite,
		id:   func(x *keyward.Project) string { return x.ID },
		name: func(x *keyward.Project) string { return x.Name },
		list: func(r *http.Request, c *call, q url.Values) ([]*keyward.Project, bool, error) {
			pg, err := khttp.PageOf(listQuery(q, nil), keyward.PrefixProject)
			if err != nil {
				return nil, false, err
			}
			return svc.ListProjects(r.Context(), c.actor, pg)
		},
		listFields: map[string]string{"starting_after": "after"},
		get:        svc.GetProject,
		values:     values,
		create: func(ctx context.Context, c *call, v url.Values) (*keyward.Project, map[string]string, error) {
			x, err := svc.CreateProject(ctx, c.actor, read(v, nil))
			return x, nil, err
		},
		update: func(ctx context.Context, c *call, cur *keyward.Project, v url.Values) (map[string]string, error) {
			_, err := svc.UpdateProject(ctx, c.actor, cur.ID, read(v, cur), v.Get("etag"))
			return nil, err
		},
		del: func(ctx context.Context, a *keyward.Actor, x *keyward.Project, etag string) error {
			_, err := svc.DeleteProject(ctx, a, x.ID, etag)
			return err
		},
		etag:       func(x *keyward.Project) string { return x.ETag() },
		deleteNote: "Every key scoped to the project is revoked.",
		taken:      "name",
	}
}

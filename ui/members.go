package ui

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/keyward/keyward"
	khttp "github.com/keyward/keyward/http"
)

// The pages of users and service accounts (members:read, members:write),
// and the form reading they share with the other object pages.

// textChange sets f from the form's field name when its text differs
// from was (the object's current value; "" for a new object): the new
// text, or null when it was emptied.
func textChange(f *keyward.Field[string], v, was url.Values, name string) {
	now, before := strings.TrimSpace(v.Get(name)), strings.TrimSpace(was.Get(name))
	switch {
	case now == before:
	case now == "":
		*f = keyward.Null[string]()
	default:
		*f = keyward.Some(now)
	}
}

// Has reports whether the form's values of name include value (a
// checkbox of a list).
func (f *form) Has(name, value string) bool { return slices.Contains(f.Values[name], value) }

// Checks is the list of checkboxes name offering opts (partial
// "checks"), ticked as the form's values say.
func (f *form) Checks(name, label string, opts []option) selectView {
	return selectView{Form: f, Name: name, Label: label, Options: opts}
}

// listQuery is the API's list parameters of a filter form: the form's
// fields renamed (names: form field → API parameter; the cursor "after"
// is starting_after), empty ones left out, one page's limit.
func listQuery(q url.Values, names map[string]string) url.Values {
	v := url.Values{}
	for field, param := range names {
		if s := strings.TrimSpace(q.Get(field)); s != "" {
			v.Set(param, s)
		}
	}
	if s := q.Get("after"); s != "" {
		v.Set("starting_after", s)
	}
	v.Set("limit", itoa(listPageSize))
	return v
}

// userPages are the pages of users.
func (u *UI) userPages() *objectPages[*keyward.User] {
	svc := u.svc
	values := func(x *keyward.User, ok bool) url.Values {
		v := url.Values{}
		if !ok {
			return v
		}
		v.Set("name", deref(x.Name))
		v.Set("email", deref(x.Email))
		v.Set("external_id", deref(x.ExternalID))
		v["roles"] = slices.Clone(x.Roles)
		v.Set("etag", x.ETag())
		return v
	}
	read := func(v url.Values, cur *keyward.User) *keyward.UserFields {
		was := values(cur, cur != nil)
		in := &keyward.UserFields{}
		textChange(&in.Name, v, was, "name")
		textChange(&in.Email, v, was, "email")
		textChange(&in.ExternalID, v, was, "external_id")
		roles := slices.Sorted(slices.Values(v["roles"]))
		if cur == nil || !slices.Equal(roles, slices.Sorted(slices.Values(cur.Roles))) {
			in.Roles = keyward.Some(append([]string{}, roles...))
		}
		return in
	}
	setStatus := func(ctx context.Context, a *keyward.Actor, x *keyward.User, st keyward.MemberStatus) error {
		_, err := svc.UpdateUser(ctx, a, x.ID, &keyward.UserFields{Status: keyward.Some(st)}, "")
		return err
	}
	return &objectPages[*keyward.User]{
		kind: "users", noun: "user", write: keyward.PermMembersWrite,
		id: func(x *keyward.User) string { return x.ID },
		name: func(x *keyward.User) string {
			if x.Name != nil {
				return *x.Name
			}
			return x.ID
		},
		list: func(r *http.Request, c *call, q url.Values) ([]*keyward.User, bool, error) {
			f, err := khttp.UserFilterOf(listQuery(q, map[string]string{"q": "search", "status": "status", "role": "role", "external_id": "external_id"}))
			if err != nil {
				return nil, false, err
			}
			return svc.ListUsers(r.Context(), c.actor, *f)
		},
		listFields: map[string]string{"search": "q", "starting_after": "after"},
		get:        svc.GetUser,
		values:     values,
		create: func(ctx context.Context, c *call, v url.Values) (*keyward.User, map[string]string, error) {
			x, err := svc.CreateUser(ctx, c.actor, read(v, nil))
			return x, nil, err
		},
		update: func(ctx context.Context, c *call, cur *keyward.User, v url.Values) (map[string]string, error) {
			_, err := svc.UpdateUser(ctx, c.actor, cur.ID, read(v, cur), v.Get("etag"))
			return nil, err
		},
		formExtra: func(r *http.Request, c *call) (any, error) {
			roles, err := svc.ListRoles(r.Context(), c.actor)
			opts := make([]option, len(roles))
			for i, x := range roles {
				opts[i] = option{Value: x.Name, Label: x.Name}
				if x.Description != nil {
					opts[i].Label += " — " + *x.Description
				}
			}
			return opts, err
		},
		confirmations: func(action string, x *keyward.User) (objectChange[*keyward.User], bool) {
			return memberStatusChange(action, x.Status, "user", setStatus)
		},
		del: func(ctx context.Context, a *keyward.Actor, x *keyward.User, etag string) error {
			_, err := svc.DeleteUser(ctx, a, x.ID, etag)
			return err
		},
		etag:       func(x *keyward.User) string { return x.ETag() },
		deleteNote: "Every key the user owns is revoked.",
		taken:      "external_id",
	}
}

// serviceAccountPages are the pages of service accounts.
func (u *UI) serviceAccountPages() *objectPages[*keyward.ServiceAccount] {
	svc := u.svc
	values := func(x *keyward.ServiceAccount, ok bool) url.Values {
		v := url.Values{}
		if ok {
			v.Set("name", x.Name)
			v.Set("description", deref(x.Description))
			v.Set("etag", x.ETag())
		}
		return v
	}
	read := func(v url.Values, cur *keyward.ServiceAccount) *keyward.ServiceAccountFields {
		was := values(cur, cur != nil)
		in := &keyward.ServiceAccountFields{}
		textChange(&in.Name, v, was, "name")
		textChange(&in.Description, v, was, "description")
		return in
	}
	setStatus := func(ctx context.Context, a *keyward.Actor, x *keyward.ServiceAccount, st keyward.MemberStatus) error {
		_, err := svc.UpdateServiceAccount(ctx, a, x.ID, &keyward.ServiceAccountFields{Status: keyward.Some(st)}, "")
		return err
	}
	return &objectPages[*keyward.ServiceAccount]{
		kind: "service-accounts", noun: "service-account", write: keyward.PermMembersWrite,
		id:   func(x *keyward.ServiceAccount) string { return x.ID },
		name: func(x *keyward.ServiceAccount) string { return x.Name },
		list: func(r *http.Request, c *call, q url.Values) ([]*keyward.ServiceAccount, bool, error) {
			f, err := khttp.ServiceAccountFilterOf(listQuery(q, map[string]string{"status": "status"}))
			if err != nil {
				return nil, false, err
			}
			return svc.ListServiceAccounts(r.Context(), c.actor, *f)
		},
		listFields: map[string]string{"starting_after": "after"},
		get:        svc.GetServiceAccount,
		values:     values,
		create: func(ctx context.Context, c *call, v url.Values) (*keyward.ServiceAccount, map[string]string, error) {
			x, err := svc.CreateServiceAccount(ctx, c.actor, read(v, nil))
			return x, nil, err
		},
		update: func(ctx context.Context, c *call, cur *keyward.ServiceAccount, v url.Values) (map[string]string, error) {
			_, err := svc.UpdateServiceAccount(ctx, c.actor, cur.ID, read(v, cur), v.Get("etag"))
			return nil, err
		},
		confirmations: func(action string, x *keyward.ServiceAccount) (objectChange[*keyward.ServiceAccount], bool) {
			return memberStatusChange(action, x.Status, "service account", setStatus)
		},
		del: func(ctx context.Context, a *keyward.Actor, x *keyward.ServiceAccount, etag string) error {
			_, err := svc.DeleteServiceAccount(ctx, a, x.ID, etag)
			return err
		},
		etag:       func(x *keyward.ServiceAccount) string { return x.ETag() },
		deleteNote: "Every key the service account owns is revoked.",
		taken:      "name",
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

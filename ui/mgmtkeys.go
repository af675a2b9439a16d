package ui

import (
	"context"
	"net/http"
	"net/url"
	"slices"

	"github.com/keyward/keyward"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/service"
)

// managementKeyPages are the pages of management keys
// (management_keys:read, management_keys:write). A management key's form
// is the API key form's members that management keys have (name,
// description, expiry, IP allowlist, metadata, read by keyForm) and its
// management permissions, one checkbox each. What a page offers follows
// the service's no-escalation rule (service.MayChangeKey): a key manages
// only keys within its own permissions and constraints, and never changes
// itself; a permission the session's key lacks is shown but cannot be
// ticked, and a form forced past that is refused by the service, its
// message next to the field it is about (403, as the API answers).
func (u *UI) managementKeyPages() *objectPages[*keyward.Key] {
	svc := u.svc
	values := func(k *keyward.Key, ok bool) url.Values {
		if !ok {
			return url.Values{}
		}
		v := keyFormValues(k)
		v["permissions"] = slices.Clone(k.Permissions)
		return v
	}
	read := func(c *call, v url.Values, cur *keyward.Key) (*keyward.KeyFields, map[string]string) {
		in, errs := keyForm(v, cur)
		perms := slices.Sorted(slices.Values(v["permissions"]))
		if cur == nil || !slices.Equal(perms, slices.Sorted(slices.Values(cur.Permissions))) {
			in.Permissions = keyward.Some(append([]string{}, perms...))
		}
		if cur == nil && v.Get("operator") != "" {
			in.Operator = keyward.Some(true)
		}
		return in, errs
	}
	setStatus := func(st keyward.KeyStatus) func(ctx context.Context, a *keyward.Actor, k *keyward.Key) error {
		return func(ctx context.Context, a *keyward.Actor, k *keyward.Key) error {
			_, err := svc.UpdateKey(ctx, a, keyward.KindManagement, k.ID, &keyward.KeyFields{Status: keyward.Some(st)}, "")
			return err
		}
	}
	return &objectPages[*keyward.Key]{
		kind: "management-keys", noun: "management-key", write: keyward.PermManagementKeysWrite,
		id:   func(k *keyward.Key) string { return k.ID },
		name: func(k *keyward.Key) string { return k.Name },
		list: func(r *http.Request, c *call, q url.Values) ([]*keyward.Key, bool, error) {
			f, err := khttp.KeyFilterOf(listQuery(q, map[string]string{"q": "search", "status": "status"}))
			if err != nil {
				return nil, false, err
			}
			return svc.ListKeys(r.Context(), c.actor, keyward.KindManagement, *f)
		},
		listFields: map[string]string{"search": "q", "starting_after": "after"},
		get: func(ctx context.Context, a *keyward.Actor, id string) (*keyward.Key, error) {
			return svc.GetKey(ctx, a, keyward.KindManagement, id)
		},
		values: values,
		create: func(ctx context.Context, c *call, v url.Values) (*keyward.Key, map[string]string, error) {
			in, errs := read(c, v, nil)
			if len(errs) > 0 {
				return nil, errs, nil
			}
			k, tok, err := svc.CreateKey(ctx, c.actor, keyward.KindManagement, in)
			if err != nil {
				return nil, nil, err
			}
			u.sessions.keep(c.sess.id, k.ID, tok)
			return k, nil, nil
		},
		update: func(ctx context.Context, c *call, cur *keyward.Key, v url.Values) (map[string]string, error) {
			in, errs := read(c, v, cur)
			if len(errs) > 0 || in.Empty() {
				return errs, nil
			}
			_, err := svc.UpdateKey(ctx, c.actor, keyward.KindManagement, cur.ID, in, v.Get("etag"))
			return nil, err
		},
		formFields: keyFormFields,
		formExtra: func(_ *http.Request, c *call) (any, error) {
			return permissionChoices(c.actor), nil
		},
		may: func(c *call, k *keyward.Key, selfChange bool) error {
			return service.MayChangeKey(c.actor, keyward.KindManagement, k, selfChange)
		},
		confirmations: func(action string, k *keyward.Key) (objectChange[*keyward.Key], bool) {
			if k.Status == keyward.StatusRevoked {
				return objectChange[*keyward.Key]{}, false
			}
			switch {
			case action == "disable" && k.Status == keyward.StatusActive:
				return objectChange[*keyward.Key]{Label: "Disable", Question: "Requests made with this management key are refused (401), and its dashboard sessions end, until it is enabled again.", apply: setStatus(keyward.StatusDisabled)}, true
			case action == "enable" && k.Status == keyward.StatusDisabled:
				return objectChange[*keyward.Key]{Label: "Enable", Question: "Requests made with this management key work again.", apply: setStatus(keyward.StatusActive)}, true
			case action == "revoke":
				return objectChange[*keyward.Key]{Label: "Revoke", Question: "Requests made with this management key are refused from now on, and its dashboard sessions end. A revoked key can never be used or changed again.", Danger: true, apply: setStatus(keyward.StatusRevoked)}, true
			}
			return objectChange[*keyward.Key]{}, false
		},
		del: func(ctx context.Context, a *keyward.Actor, k *keyward.Key, etag string) error {
			return svc.DeleteKey(ctx, a, keyward.KindManagement, k.ID, etag)
		},
		etag:       func(k *keyward.Key) string { return k.ETag() },
		deleteNote: "Requests made with it are refused, and its dashboard sessions end. Its audit trail stays.",
	}
}

// permissionChoice is a management permission as the form offers it.
type permissionChoice struct {
	keyward.ManagementPermission
	// Held is set when the session's key holds the permission: only then
	// may it give it (the no-escalation rule).
	Held bool
}

// managementKeyForm is what the management key form shows beside the key.
type managementKeyForm struct {
	Permissions []permissionChoice
	// Operator is set for an operator key, which may make operator keys
	// and give the operator-only permissions.
	Operator bool
}

func permissionChoices(a *keyward.Actor) managementKeyForm {
	op := a.Key == nil || a.Key.Operator
	out := managementKeyForm{Operator: op}
	for _, p := range keyward.ManagementPermissions() {
		if p.OperatorOnly && !op {
			continue
		}
		out.Permissions = append(out.Permissions, permissionChoice{ManagementPermission: p, Held: a.Key == nil || slices.Contains(a.Key.Permissions, p.ID)})
	}
	return out
}

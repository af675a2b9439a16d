package service_test

import (
	"reflect"
	"testing"

	"github.com/keyward/keyward"
)

// A user's key may do only what both the key and the user's roles grant:
// the intersection (targets intersect, write meets read as read), which is
// also what the verify answer shows. A service account's key is bounded by
// nothing but its status.
func TestOwnerBounding(t *testing.T) {
	e := newEnv(t)
	read, write := keyward.AccessRead, keyward.AccessWrite
	on := func(resource string, access keyward.Access, targets ...string) keyward.Scope {
		return keyward.Scope{Resource: resource, Access: access, Targets: targets}
	}
	all := &keyward.KeyFields{PermissionMode: keyward.Some(keyward.ModeAll)}
	tests := []struct {
		name    string
		key     *keyward.KeyFields
		roles   []keyward.Scope // of the user; nil: the owner is a service account
		noRoles bool            // a user without roles
		allowed []string        // queries VALID
		refused []string        // queries INSUFFICIENT_PERMISSIONS
		scopes  []keyward.Scope // the effective scopes answered
	}{
		{"both grant read", restricted(scope("documents", read)), []keyward.Scope{scope("documents", read)}, false,
			[]string{"documents:read"}, nil, []keyward.Scope{scope("documents", read)}},
		{"key write, owner read: read", restricted(scope("documents", write)), []keyward.Scope{scope("documents", read)}, false,
			[]string{"documents:read"}, []string{"documents:write"}, []keyward.Scope{scope("documents", read)}},
		{"targets intersect", restricted(on("documents", read, "d1", "d2")), []keyward.Scope{on("documents", read, "d2", "d3")}, false,
			[]string{"documents:read:d2"}, []string{"documents:read:d1", "documents:read:d3"}, []keyward.Scope{on("documents", read, "d2")}},
		{"disjoint targets grant nothing", restricted(on("documents", read, "d1")), []keyward.Scope{on("documents", read, "d2")}, false,
			nil, []string{"documents:read:d1", "documents:read:d2", "documents:read"}, []keyward.Scope{}},
		{"mode all is bounded too", all, []keyward.Scope{scope("files", read)}, false,
			[]string{"files:read"}, []string{"documents:read", "files:write"}, []keyward.Scope{scope("files", read)}},
		{"a user without roles grants nothing", all, nil, true,
			nil, []string{"documents:read"}, []keyward.Scope{}},
		{"a service account's key is not bounded", restricted(scope("documents", write)), nil, false,
			[]string{"documents:write", "documents:read"}, nil, []keyward.Scope{scope("documents", write)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			owner := keyward.Owner{Type: keyward.OwnerUser}
			switch {
			case tc.roles != nil:
				role, err := e.svc.CreateRole(e.ctx, e.op, &keyward.RoleFields{Name: keyward.Some(e.unique("role")), Scopes: keyward.Some(tc.roles)})
				e.must(err)
				u, err := e.svc.CreateUser(e.ctx, e.op, &keyward.UserFields{Name: keyward.Some("u"), Roles: keyward.Some([]string{role.Name})})
				e.must(err)
				owner.ID = u.ID
			case tc.noRoles:
				u, err := e.svc.CreateUser(e.ctx, e.op, &keyward.UserFields{Name: keyward.Some("u")})
				e.must(err)
				owner.ID = u.ID
			default:
				sa, err := e.svc.CreateServiceAccount(e.ctx, e.op, &keyward.ServiceAccountFields{Name: keyward.Some(e.unique("sa"))})
				e.must(err)
				owner = keyward.Owner{Type: keyward.OwnerServiceAccount, ID: sa.ID}
			}
			in := *tc.key
			in.Owner = keyward.Some(owner)
			_, tok := e.apiKey(e.op, &in)
			for _, q := range tc.allowed {
				if res := e.verify(tok, keyward.VerifyRequest{Permissions: str(q)}); res.Code != keyward.VerifyValid {
					t.Errorf("%s: %s, want VALID", q, res.Code)
				}
			}
			for _, q := range tc.refused {
				if res := e.verify(tok, keyward.VerifyRequest{Permissions: str(q)}); res.Code != keyward.VerifyInsufficientPermissions {
					t.Errorf("%s: %s, want INSUFFICIENT_PERMISSIONS", q, res.Code)
				}
			}
			if got := e.verify(tok, keyward.VerifyRequest{}).Scopes; !reflect.DeepEqual(got, tc.scopes) {
				t.Errorf("scopes = %v, want %v", got, tc.scopes)
			}
		})
	}
}

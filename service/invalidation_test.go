package service_test

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// owned is what a change acts on: a user with a role, holding a key scoped
// to a project; a service account's key; and a key of the account in mode
// all. Each key has been verified once, so it is in the cache.
type owned struct {
	role, user, sa, project string
	key, saKey, acctKey     *keyward.Key
	tok, saTok, acctTok     keyward.Token
}

func (e *env) owned() *owned {
	e.t.Helper()
	o := &owned{role: e.unique("role")}
	_, err := e.svc.CreateRole(e.ctx, e.op, &keyward.RoleFields{Name: keyward.Some(o.role), Scopes: keyward.Some([]keyward.Scope{scope("documents", keyward.AccessRead)})})
	e.must(err)
	u, err := e.svc.CreateUser(e.ctx, e.op, &keyward.UserFields{Name: keyward.Some("u"), Roles: keyward.Some([]string{o.role})})
	e.must(err)
	sa, err := e.svc.CreateServiceAccount(e.ctx, e.op, &keyward.ServiceAccountFields{Name: keyward.Some(e.unique("sa"))})
	e.must(err)
	p, err := e.svc.CreateProject(e.ctx, e.op, &keyward.ProjectFields{Name: keyward.Some(e.unique("project"))})
	e.must(err)
	o.user, o.sa, o.project = u.ID, sa.ID, p.ID
	in := restricted(scope("documents", keyward.AccessRead))
	in.Owner, in.ProjectID = keyward.Some(keyward.Owner{Type: keyward.OwnerUser, ID: u.ID}), keyward.Some(p.ID)
	in.Credits = keyward.Some(keyward.Credits{Remaining: 100})
	o.key, o.tok = e.apiKey(e.op, in)
	in = restricted(scope("documents", keyward.AccessRead))
	in.Owner = keyward.Some(keyward.Owner{Type: keyward.OwnerServiceAccount, ID: sa.ID})
	o.saKey, o.saTok = e.apiKey(e.op, in)
	o.acctKey, o.acctTok = e.apiKey(e.op, &keyward.KeyFields{PermissionMode: keyward.Some(keyward.ModeAll)})
	return o
}

// A change is seen by the very next verification on the same service:
// every change that bears on a verification invalidates what the cache
// holds.
func TestChangeSeenByNextVerification(t *testing.T) {
	e := newEnv(t)
	patch := func(id string, in *keyward.KeyFields) {
		_, err := e.svc.UpdateKey(e.ctx, e.op, keyward.KindAPI, id, in, "")
		e.must(err)
	}
	user, sa, account := "user", "service account", "account"
	tests := []struct {
		name   string
		key    string // whose key is verified
		query  string
		ip     string
		change func(o *owned)
		after  keyward.VerifyCode
		before keyward.VerifyCode // VALID when empty
	}{
		{"key disabled", user, "", "", func(o *owned) { patch(o.key.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusDisabled)}) }, keyward.VerifyDisabled, ""},
		{"key revoked", user, "", "", func(o *owned) { patch(o.key.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)}) }, keyward.VerifyRevoked, ""},
		{"key expires", user, "", "", func(o *owned) {
			patch(o.key.ID, &keyward.KeyFields{ExpiresAt: keyward.Some(e.clock().Add(time.Hour))}) // a day ago by the wall clock
		}, keyward.VerifyExpired, ""},
		{"key's scopes narrowed", user, "documents:read", "", func(o *owned) {
			patch(o.key.ID, &keyward.KeyFields{Scopes: keyward.Some([]keyward.Scope{scope("files", keyward.AccessRead)})})
		}, keyward.VerifyInsufficientPermissions, ""},
		{"key limited to addresses", user, "", "192.168.1.1", func(o *owned) {
			patch(o.key.ID, &keyward.KeyFields{IPAllowlist: keyward.Some([]string{"10.0.0.0/8"})})
		}, keyward.VerifyForbiddenIP, ""},
		{"key rotated without grace", user, "", "", func(o *owned) {
			_, _, err := e.svc.RotateKey(e.ctx, e.op, keyward.KindAPI, o.key.ID, 0, keyward.Field[time.Time]{}, "")
			e.must(err)
		}, keyward.VerifyRotated, ""},
		{"credits emptied", user, "", "", func(o *owned) {
			_, err := e.svc.ChangeCredits(e.ctx, e.op, o.key.ID, keyward.CreditsOp{Action: keyward.CreditsSet, Amount: 0}, "")
			e.must(err)
		}, keyward.VerifyUsageExceeded, ""},
		{"key deleted", user, "", "", func(o *owned) { e.must(e.svc.DeleteKey(e.ctx, e.op, keyward.KindAPI, o.key.ID, "")) }, keyward.VerifyNotFound, ""},
		{"owner disabled", user, "", "", func(o *owned) {
			_, err := e.svc.UpdateUser(e.ctx, e.op, o.user, &keyward.UserFields{Status: keyward.Some(keyward.MemberDisabled)}, "")
			e.must(err)
		}, keyward.VerifyOwnerInactive, ""},
		{"owner's role taken away", user, "documents:read", "", func(o *owned) {
			_, err := e.svc.UpdateUser(e.ctx, e.op, o.user, &keyward.UserFields{Roles: keyward.Some([]string{})}, "")
			e.must(err)
		}, keyward.VerifyInsufficientPermissions, ""},
		{"owner's role changed", user, "documents:read", "", func(o *owned) {
			_, err := e.svc.UpdateRole(e.ctx, e.op, o.role, &keyward.RoleFields{Scopes: keyward.Some([]keyward.Scope{scope("files", keyward.AccessRead)})}, "")
			e.must(err)
		}, keyward.VerifyInsufficientPermissions, ""},
		{"owner deleted", user, "", "", func(o *owned) {
			_, err := e.svc.DeleteUser(e.ctx, e.op, o.user, "")
			e.must(err)
		}, keyward.VerifyRevoked, ""},
		{"project deleted", user, "", "", func(o *owned) {
			_, err := e.svc.DeleteProject(e.ctx, e.op, o.project, "")
			e.must(err)
		}, keyward.VerifyRevoked, ""},
		{"service account disabled", sa, "", "", func(o *owned) {
			_, err := e.svc.UpdateServiceAccount(e.ctx, e.op, o.sa, &keyward.ServiceAccountFields{Status: keyward.Some(keyward.MemberDisabled)}, "")
			e.must(err)
		}, keyward.VerifyOwnerInactive, ""},
		{"resource added to the catalog", account, "reports:read", "", func(o *owned) {
			_, _, err := e.svc.PutResource(e.ctx, e.op, "reports", &keyward.ResourceFields{Readable: keyward.Some(true)})
			e.must(err)
		}, keyward.VerifyValid, keyward.VerifyInsufficientPermissions},
		{"resource removed from the catalog", account, "search:read", "", func(o *owned) {
			e.must(e.svc.DeleteResource(e.ctx, e.op, "search"))
		}, keyward.VerifyInsufficientPermissions, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := e.owned()
			tok := map[string]keyward.Token{user: o.tok, sa: o.saTok, account: o.acctTok}[tc.key]
			req := keyward.VerifyRequest{}
			if tc.query != "" {
				req.Permissions = &tc.query
			}
			if tc.ip != "" {
				req.IP = &tc.ip
			}
			before := tc.before
			if before == "" {
				before = keyward.VerifyValid
			}
			if got := e.verify(tok, req).Code; got != before {
				t.Fatalf("before the change: %s, want %s", got, before)
			}
			tc.change(o)
			if got := e.verify(tok, req).Code; got != tc.after {
				t.Fatalf("after the change: %s, want %s", got, tc.after)
			}
		})
	}
}

// A change of a key reaches every one of its secrets the cache holds: the
// current one and an old one still in its grace period (in one shard of
// the cache: a small cache has one).
func TestChangeSeenByEverySecret(t *testing.T) {
	e := newEnvWith(t, service.Options{CacheSize: 100})
	k, old := e.apiKey(e.op, &keyward.KeyFields{})
	grace := keyward.MaxGracePeriod
	_, current, err := e.svc.RotateKey(e.ctx, e.op, keyward.KindAPI, k.ID, grace, keyward.Field[time.Time]{}, "")
	e.must(err)
	for _, tok := range []keyward.Token{old, current} {
		if got := e.verify(tok, keyward.VerifyRequest{}).Code; got != keyward.VerifyValid {
			t.Fatalf("before the change: %s", got)
		}
	}
	e.setStatus(k.ID, keyward.StatusDisabled)
	for name, tok := range map[string]keyward.Token{"old": old, "current": current} {
		if got := e.verify(tok, keyward.VerifyRequest{}).Code; got != keyward.VerifyDisabled {
			t.Errorf("the %s secret after the change: %s, want DISABLED", name, got)
		}
	}
}

package service_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
)

// objects are what an operation acts on, made by the operator.
type objects struct {
	key, mgmt  *keyward.Key // mgmt holds management_keys:write only
	user, sa   string
	project    string
	role       string
	account    string // an account other than the default
	importHash string
}

func (e *env) objects(t *testing.T) *objects {
	t.Helper()
	o := &objects{role: e.unique("role")}
	o.key, _ = e.apiKey(e.op, &keyward.KeyFields{Credits: keyward.Some(keyward.Credits{Remaining: 10})})
	o.mgmt, _ = e.mgmtKey([]string{keyward.PermManagementKeysWrite})
	u, err := e.svc.CreateUser(e.ctx, e.op, &keyward.UserFields{Name: keyward.Some("u")})
	e.must(err)
	sa, err := e.svc.CreateServiceAccount(e.ctx, e.op, &keyward.ServiceAccountFields{Name: keyward.Some(e.unique("sa"))})
	e.must(err)
	p, err := e.svc.CreateProject(e.ctx, e.op, &keyward.ProjectFields{Name: keyward.Some(e.unique("project"))})
	e.must(err)
	_, err = e.svc.CreateRole(e.ctx, e.op, &keyward.RoleFields{Name: keyward.Some(o.role), Scopes: keyward.Some([]keyward.Scope{scope("documents", keyward.AccessRead)})})
	e.must(err)
	acct, err := e.svc.CreateAccount(e.ctx, e.op, &keyward.AccountFields{Name: keyward.Some(e.unique("account"))})
	e.must(err)
	o.user, o.sa, o.project, o.account = u.ID, sa.ID, p.ID, acct.ID
	o.importHash = strings.Repeat("ab", 32)
	return o
}

// Every operation needs its management permission: a key holding every
// permission but that one is refused with permission_denied naming it, and
// a key holding only that one gets past the check. Account operations
// need an operator key as well.
func TestAuthorization(t *testing.T) {
	e := newEnv(t)
	type op struct {
		name     string
		perm     string
		operator bool
		call     func(a *keyward.Actor, o *objects) error
	}
	api, mgmt := keyward.KindAPI, keyward.KindManagement
	rename := &keyward.KeyFields{Name: keyward.Some("renamed")}
	ops := []op{
		{"create key", keyward.PermKeysWrite, false, func(a *keyward.Actor, o *objects) error {
			_, _, err := e.svc.CreateKey(e.ctx, a, api, &keyward.KeyFields{Name: keyward.Some("k")})
			return err
		}},
		{"get key", keyward.PermKeysRead, false, func(a *keyward.Actor, o *objects) error { _, err := e.svc.GetKey(e.ctx, a, api, o.key.ID); return err }},
		{"list keys", keyward.PermKeysRead, false, func(a *keyward.Actor, o *objects) error {
			_, _, err := e.svc.ListKeys(e.ctx, a, api, keyward.KeyFilter{})
			return err
		}},
		{"update key", keyward.PermKeysWrite, false, func(a *keyward.Actor, o *objects) error {
			_, err := e.svc.UpdateKey(e.ctx, a, api, o.key.ID, rename, "")
			return err
		}},
		{"replace key", keyward.PermKeysWrite, false, func(a *keyward.Actor, o *objects) error {
			_, err := e.svc.ReplaceKey(e.ctx, a, api, o.key.ID, rename, "")
			return err
		}},
		{"rotate key", keyward.PermKeysWrite, false, func(a *keyward.Actor, o *objects) error {
			_, _, err := e.svc.RotateKey(e.ctx, a, api, o.key.ID, 0, keyward.Field[time.Time]{}, "")
			return err
		}},
		{"change credits", keyward.PermKeysWrite, false, func(a *keyward.Actor, o *objects) error {
			_, err := e.svc.ChangeCredits(e.ctx, a, o.key.ID, keyward.CreditsOp{Action: keyward.CreditsAdd, Amount: 1}, "")
			return err
		}},
		{"delete key", keyward.PermKeysWrite, false, func(a *keyward.Actor, o *objects) error { return e.svc.DeleteKey(e.ctx, a, api, o.key.ID, "") }},
		{"import keys", keyward.PermKeysWrite, false, func(a *keyward.Actor, o *objects) error {
			_, err := e.svc.ImportKeys(e.ctx, a, []keyward.ImportItem{{Hash: o.importHash, KeyFields: keyward.KeyFields{Name: keyward.Some("imported")}}})
			return err
		}},
		{"reveal secret", keyward.PermKeysReveal, false, func(a *keyward.Actor, o *objects) error {
			_, _, err := e.svc.RevealSecret(e.ctx, a, o.key.ID)
			return err
		}},
		{"verify", keyward.PermKeysVerify, false, func(a *keyward.Actor, o *objects) error {
			_, err := e.svc.Verify(e.ctx, a, &keyward.VerifyRequest{Key: keyward.Some(keyward.TokenFromString("kw_unknown"))})
			return err
		}},
		{"create management key", keyward.PermManagementKeysWrite, false, func(a *keyward.Actor, o *objects) error {
			_, _, err := e.svc.CreateKey(e.ctx, a, mgmt, &keyward.KeyFields{Name: keyward.Some("m"), Permissions: keyward.Some([]string{keyward.PermManagementKeysWrite})})
			return err
		}},
		{"get management key", keyward.PermManagementKeysRead, false, func(a *keyward.Actor, o *objects) error {
			_, err := e.svc.GetKey(e.ctx, a, mgmt, o.mgmt.ID)
			return err
		}},
		{"list management keys", keyward.PermManagementKeysRead, false, func(a *keyward.Actor, o *objects) error {
			_, _, err := e.svc.ListKeys(e.ctx, a, mgmt, keyward.KeyFilter{})
			return err
		}},
		{"update management key", keyward.PermManagementKeysWrite, false, func(a *keyward.Actor, o *objects) error {
			_, err := e.svc.UpdateKey(e.ctx, a, mgmt, o.mgmt.ID, rename, "")
			return err
		}},
		{"rotate management key", keyward.PermManagementKeysWrite, false, func(a *keyward.Actor, o *objects) error {
			_, _, err := e.svc.RotateKey(e.ctx, a, mgmt, o.mgmt.ID, 0, keyward.Field[time.Time]{}, "")
			return err
		}},
		{"delete management key", keyward.PermManagementKeysWrite, false, func(a *keyward.Actor, o *objects) error {
			return e.svc.DeleteKey(e.ctx, a, mgmt, o.mgmt.ID, "")
		}},
		{"create user", keyward.PermMembersWrite, false, func(a *keyward.Actor, o *objects) error {
			_, err := e.svc.CreateUser(e.ctx, a, &keyward.UserFields{Name: keyward.Some("v")})
			return err
		}},
		{"get user", keyward.PermMembersRead, false, func(a *keyward.Actor, o *objects) error { _, err := e.svc.GetUser(e.ctx, a, o.user); return err }},
		{"list users", keyward.PermMembersRead, false, func(a *keyward.Actor, o *objects) error {
			_, _, err := e.svc.ListUsers(e.ctx, a, keyward.UserFilter{})
			return err
		}},
		{"update user", keyward.PermMembersWrite, false, func(a *keyward.Actor, o *objects) error {
			_, err := e.svc.UpdateUser(e.ctx, a, o.user, &keyward.UserFields{Name: keyward.Some("w")}, "")
			return err
		}},
		{"delete user", keyward.PermMembersWrite, false, func(a *keyward.Actor, o *objects) error {
			_, err := e.svc.DeleteUser(e.ctx, a, o.user, "")
			return err
		}},
		{"get service account", keyward.PermMembersRead, false, func(a *keyward.Actor, o *objects) error {
			_, err := e.svc.GetServiceAccount(e.ctx, a, o.sa)
			return err
		}},
		{"delete service account", keyward.PermMembersWrite, false, func(a *keyward.Actor, o *objects) error {
			_, err := e.svc.DeleteServiceAccount(e.ctx, a, o.sa, "")
			return err
		}},
		{"list roles", keyward.PermMembersRead, false, func(a *keyward.Actor, o *objects) error { _, err := e.svc.ListRoles(e.ctx, a); return err }},
		{"update role", keyward.PermMembersWrite, false, func(a *keyward.Actor, o *objects) error {
			_, err := e.svc.UpdateRole(e.ctx, a, o.role, &keyward.RoleFields{Description: keyward.Some("d")}, "")
			return err
		}},
		{"delete role", keyward.PermMembersWrite, false, func(a *keyward.Actor, o *objects) error { return e.svc.DeleteRole(e.ctx, a, o.role, "") }},
		{"get project", keyward.PermKeysRead, false, func(a *keyward.Actor, o *objects) error { _, err := e.svc.GetProject(e.ctx, a, o.project); return err }},
		{"create project", keyward.PermKeysWrite, false, func(a *keyward.Actor, o *objects) error {
			_, err := e.svc.CreateProject(e.ctx, a, &keyward.ProjectFields{Name: keyward.Some(e.unique("project"))})
			return err
		}},
		{"delete project", keyward.PermKeysWrite, false, func(a *keyward.Actor, o *objects) error {
			_, err := e.svc.DeleteProject(e.ctx, a, o.project, "")
			return err
		}},
		{"get catalog", keyward.PermCatalogRead, false, func(a *keyward.Actor, o *objects) error { _, err := e.svc.GetCatalog(e.ctx, a); return err }},
		{"put resource", keyward.PermCatalogWrite, false, func(a *keyward.Actor, o *objects) error {
			_, _, err := e.svc.PutResource(e.ctx, a, "reports", &keyward.ResourceFields{Readable: keyward.Some(true)})
			return err
		}},
		{"list audit events", keyward.PermAuditRead, false, func(a *keyward.Actor, o *objects) error {
			_, _, err := e.svc.ListAuditEvents(e.ctx, a, keyward.AuditFilter{})
			return err
		}},
		{"get account", keyward.PermAccountsRead, true, func(a *keyward.Actor, o *objects) error { _, err := e.svc.GetAccount(e.ctx, a, o.account); return err }},
		{"update account", keyward.PermAccountsWrite, true, func(a *keyward.Actor, o *objects) error {
			_, err := e.svc.UpdateAccount(e.ctx, a, o.account, &keyward.AccountFields{RequireExpiry: keyward.Some(false)}, "")
			return err
		}},
		{"delete account", keyward.PermAccountsWrite, true, func(a *keyward.Actor, o *objects) error {
			return e.svc.DeleteAccount(e.ctx, a, o.account, "")
		}},
	}
	// actor returns the actor of a new management key with perms,
	// an operator key when operator is set.
	actor := func(perms []string, operator bool) *keyward.Actor {
		if !operator {
			perms = allBut(keyward.PermAccountsRead, perms...)
			perms = allBut(keyward.PermAccountsWrite, perms...)
		}
		_, tok := e.mgmtKey(perms, func(in *keyward.KeyFields) { in.Operator = keyward.Some(operator) })
		return e.authenticate(service.Credential{Token: tok, ClientIP: "127.0.0.1"})
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			denied := op.call(actor(allBut(op.perm, keyward.AllManagementPermissions()...), op.operator), e.objects(t))
			d := keyward.AsError(denied)
			if d.Code != keyward.ECodePermissionDenied || d.Details["missing_permission"] != op.perm {
				t.Fatalf("without %s: %v (details %v), want permission_denied naming it", op.perm, denied, d.Details)
			}
			if err := op.call(actor([]string{op.perm}, op.operator), e.objects(t)); keyward.ErrorCode(err) == keyward.ECodePermissionDenied {
				t.Fatalf("with only %s: %v", op.perm, err)
			}
			if op.operator {
				// An account-bound key holding everything it can hold.
				err := op.call(actor(keyward.AllManagementPermissions(), false), e.objects(t))
				if keyward.ErrorCode(err) != keyward.ECodePermissionDenied {
					t.Fatalf("an account-bound key: %v, want permission_denied", err)
				}
			}
		})
	}
}

// Authenticate turns a credential into the actor and its account, or the
// one answer for each kind of refusal.
func TestAuthenticate(t *testing.T) {
	e := newEnv(t)
	_, opTok, err := e.svc.CreateKey(e.ctx, e.op, keyward.KindManagement, &keyward.KeyFields{
		Name: keyward.Some("operator 2"), Operator: keyward.Some(true), Permissions: keyward.Some(keyward.AllManagementPermissions()),
	})
	e.must(err)
	other, err := e.svc.CreateAccount(e.ctx, e.op, &keyward.AccountFields{Name: keyward.Some("other")})
	e.must(err)
	_, bound := e.mgmtKey([]string{keyward.PermKeysRead})
	_, apiTok := e.apiKey(e.op, &keyward.KeyFields{})
	_, limited := e.mgmtKey([]string{keyward.PermKeysRead}, func(in *keyward.KeyFields) { in.IPAllowlist = keyward.Some([]string{"10.0.0.0/8"}) })
	disabledKey, disabled := e.mgmtKey([]string{keyward.PermKeysRead})
	_, err = e.svc.UpdateKey(e.ctx, e.op, keyward.KindManagement, disabledKey.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusDisabled)}, "")
	e.must(err)
	revokedKey, revoked := e.mgmtKey([]string{keyward.PermKeysRead})
	_, err = e.svc.UpdateKey(e.ctx, e.op, keyward.KindManagement, revokedKey.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)}, "")
	e.must(err)
	rotatedKey, rotated := e.mgmtKey([]string{keyward.PermKeysRead})
	_, _, err = e.svc.RotateKey(e.ctx, e.op, keyward.KindManagement, rotatedKey.ID, 0, keyward.Field[time.Time]{}, "")
	e.must(err)
	_, expiring := e.mgmtKey([]string{keyward.PermKeysRead}, func(in *keyward.KeyFields) { in.ExpiresAt = keyward.Some(e.clock().Add(time.Hour)) })
	forged := keywardtest.BadChecksum(bound)
	def := e.op.AccountID

	tests := []struct {
		name    string
		cred    service.Credential
		code    keyward.Code
		account string        // the account acted on, when authenticated
		later   time.Duration // the clock moved on first
	}{
		{"operator without X-Account-Id acts on default", service.Credential{Token: opTok}, "", def, 0},
		{"operator names an account", service.Credential{Token: opTok, AccountID: other.ID}, "", other.ID, 0},
		{"operator names an unknown account", service.Credential{Token: opTok, AccountID: "acc_01HZX3K8Q4W2N5R7T9V0B1C2D3"}, keyward.ECodeNotFound, "", 0},
		{"operator names a malformed account", service.Credential{Token: opTok, AccountID: "default"}, keyward.ECodeNotFound, "", 0},
		{"bound key without X-Account-Id", service.Credential{Token: bound}, "", def, 0},
		{"bound key names its account", service.Credential{Token: bound, AccountID: def}, "", def, 0},
		{"bound key names another account", service.Credential{Token: bound, AccountID: other.ID}, keyward.ECodeAccountMismatch, "", 0},
		{"API key", service.Credential{Token: apiTok}, keyward.ECodeAPIKeyForbidden, "", 0},
		{"no credential", service.Credential{}, keyward.ECodeUnauthenticated, "", 0},
		{"malformed", service.Credential{Token: keyward.TokenFromString("bad token")}, keyward.ECodeUnauthenticated, "", 0},
		{"forged checksum", service.Credential{Token: forged}, keyward.ECodeUnauthenticated, "", 0},
		{"unknown", service.Credential{Token: keyward.TokenFromString("sk_unknown_foreign_token")}, keyward.ECodeUnauthenticated, "", 0},
		{"disabled", service.Credential{Token: disabled}, keyward.ECodeUnauthenticated, "", 0},
		{"revoked", service.Credential{Token: revoked}, keyward.ECodeUnauthenticated, "", 0},
		{"rotated out", service.Credential{Token: rotated}, keyward.ECodeUnauthenticated, "", 0},
		{"inside its IP allowlist", service.Credential{Token: limited, ClientIP: "10.1.2.3"}, "", def, 0},
		{"outside its IP allowlist", service.Credential{Token: limited, ClientIP: "192.168.1.1"}, keyward.ECodePermissionDenied, "", 0},
		{"before its expiry", service.Credential{Token: expiring}, "", def, 0},
		{"after its expiry", service.Credential{Token: expiring}, keyward.ECodeUnauthenticated, "", 2 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.advance(tc.later)
			if tc.cred.ClientIP == "" {
				tc.cred.ClientIP = "127.0.0.1"
			}
			a, err := e.svc.Authenticate(e.ctx, tc.cred)
			wantCode(t, "Authenticate", err, tc.code)
			if err == nil && a.AccountID != tc.account {
				t.Fatalf("acts on %q, want %q", a.AccountID, tc.account)
			}
		})
	}
}

// Another account's objects are not_found to a key bound to this one,
// whatever it holds: the store's getters take the account, so no operation
// can reach them, and a new key cannot refer to them.
func TestTenantScoping(t *testing.T) {
	e := newEnv(t)
	theirs := e.objects(t) // objects of the default account
	other := theirs.account
	opThere := e.authenticate(service.Credential{Token: e.opToken, AccountID: other, ClientIP: "127.0.0.1"})
	everything := allBut(keyward.PermAccountsWrite, allBut(keyward.PermAccountsRead, keyward.AllManagementPermissions()...)...)
	k, tok, err := e.svc.CreateKey(e.ctx, opThere, keyward.KindManagement, &keyward.KeyFields{Name: keyward.Some("there"), Permissions: keyward.Some(everything)})
	e.must(err)
	if k.AccountID != other {
		t.Fatalf("the key was made in %s, want %s", k.AccountID, other)
	}
	a := e.authenticate(service.Credential{Token: tok, ClientIP: "127.0.0.1"})
	_, apiTok := e.apiKey(e.op, &keyward.KeyFields{})
	api, mgmt := keyward.KindAPI, keyward.KindManagement
	for name, call := range map[string]func() error{
		"get key": func() error { _, err := e.svc.GetKey(e.ctx, a, api, theirs.key.ID); return err },
		"update key": func() error {
			_, err := e.svc.UpdateKey(e.ctx, a, api, theirs.key.ID, &keyward.KeyFields{}, "")
			return err
		},
		"rotate key": func() error {
			_, _, err := e.svc.RotateKey(e.ctx, a, api, theirs.key.ID, 0, keyward.Field[time.Time]{}, "")
			return err
		},
		"change credits": func() error {
			_, err := e.svc.ChangeCredits(e.ctx, a, theirs.key.ID, keyward.CreditsOp{Action: keyward.CreditsAdd, Amount: 1}, "")
			return err
		},
		"delete key":            func() error { return e.svc.DeleteKey(e.ctx, a, api, theirs.key.ID, "") },
		"get management key":    func() error { _, err := e.svc.GetKey(e.ctx, a, mgmt, theirs.mgmt.ID); return err },
		"delete management key": func() error { return e.svc.DeleteKey(e.ctx, a, mgmt, theirs.mgmt.ID, "") },
		"get user":              func() error { _, err := e.svc.GetUser(e.ctx, a, theirs.user); return err },
		"delete user":           func() error { _, err := e.svc.DeleteUser(e.ctx, a, theirs.user, ""); return err },
		"update service account": func() error {
			_, err := e.svc.UpdateServiceAccount(e.ctx, a, theirs.sa, &keyward.ServiceAccountFields{}, "")
			return err
		},
		"get project":    func() error { _, err := e.svc.GetProject(e.ctx, a, theirs.project); return err },
		"delete project": func() error { _, err := e.svc.DeleteProject(e.ctx, a, theirs.project, ""); return err },
		"get role":       func() error { _, err := e.svc.GetRole(e.ctx, a, theirs.role); return err },
	} {
		t.Run(name, func(t *testing.T) { wantCode(t, name, call(), keyward.ECodeNotFound) })
	}
	for field, in := range map[string]*keyward.KeyFields{
		"owner.id":   {Name: keyward.Some("k"), Owner: keyward.Some(keyward.Owner{Type: keyward.OwnerUser, ID: theirs.user})},
		"project_id": {Name: keyward.Some("k"), ProjectID: keyward.Some(theirs.project)},
		"roles[0]":   {Name: keyward.Some("k"), PermissionMode: keyward.Some(keyward.ModeRestricted), Roles: keyward.Some([]string{theirs.role})},
	} {
		_, _, err := e.svc.CreateKey(e.ctx, a, api, in)
		if f := keyward.AsError(err).Fields; len(f) != 1 || f[0].Field != field {
			t.Errorf("a new key naming their %s: %v, want a validation error of %s", field, err, field)
		}
	}
	res, err := e.svc.Verify(e.ctx, a, &keyward.VerifyRequest{Key: keyward.Some(apiTok)})
	if err != nil || res.Code != keyward.VerifyNotFound {
		t.Fatalf("verifying another account's key: %v %v, want NOT_FOUND", res.Code, err)
	}
}

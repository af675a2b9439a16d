package service_test

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// A management key cannot make or reshape a key more powerful or less
// constrained than itself (service/keys.go guardManagementKey,
// withinConstraints): the caller must hold every permission of the target
// key before and after the change, expire no later and be limited to
// addresses no wider; it never changes its own settings, and only operator
// keys manage operator keys.
func TestEscalation(t *testing.T) {
	e := newEnv(t)
	read, write, reveal := keyward.PermKeysRead, keyward.PermKeysWrite, keyward.PermKeysReveal
	mw, mr := keyward.PermManagementKeysWrite, keyward.PermManagementKeysRead
	mgmt := keyward.KindManagement
	deadline := e.clock().Add(24 * time.Hour)

	// caller is a management key: its fields, its actor and its key.
	type caller struct {
		key   *keyward.Key
		actor *keyward.Actor
	}
	newCaller := func(perms []string, mods ...func(*keyward.KeyFields)) caller {
		k, tok := e.mgmtKey(perms, mods...)
		return caller{k, e.authenticate(service.Credential{Token: tok, ClientIP: "10.1.2.3"})}
	}
	perms := func(p ...string) *keyward.KeyFields {
		return &keyward.KeyFields{Name: keyward.Some("target"), Permissions: keyward.Some(p)}
	}
	expiring := func(in *keyward.KeyFields) { in.ExpiresAt = keyward.Some(deadline) }
	internal := func(in *keyward.KeyFields) { in.IPAllowlist = keyward.Some([]string{"10.0.0.0/8"}) }
	target := func(p ...string) *keyward.Key { k, _ := e.mgmtKey(p); return k }
	tests := []struct {
		name   string
		caller caller
		act    func(c caller) error
		code   keyward.Code
		detail string // the missing_permission or constraint named
	}{
		{"create within its permissions", newCaller([]string{mw, read}), func(c caller) error {
			_, _, err := e.svc.CreateKey(e.ctx, c.actor, mgmt, perms(read))
			return err
		}, "", ""},
		{"create with a permission it lacks", newCaller([]string{mw, read}), func(c caller) error {
			_, _, err := e.svc.CreateKey(e.ctx, c.actor, mgmt, perms(read, reveal))
			return err
		}, keyward.ECodePermissionDenied, reveal},
		{"change a key holding a permission it lacks", newCaller([]string{mw, read}), func(c caller) error {
			_, err := e.svc.UpdateKey(e.ctx, c.actor, mgmt, target(read, reveal).ID, &keyward.KeyFields{Name: keyward.Some("x")}, "")
			return err
		}, keyward.ECodePermissionDenied, reveal},
		{"add a permission it lacks", newCaller([]string{mw, read}), func(c caller) error {
			_, err := e.svc.UpdateKey(e.ctx, c.actor, mgmt, target(read).ID, &keyward.KeyFields{Permissions: keyward.Some([]string{read, write})}, "")
			return err
		}, keyward.ECodePermissionDenied, write},
		{"delete a key holding a permission it lacks", newCaller([]string{mw}), func(c caller) error {
			return e.svc.DeleteKey(e.ctx, c.actor, mgmt, target(mr).ID, "")
		}, keyward.ECodePermissionDenied, mr},
		{"rotate a key holding a permission it lacks (the secret would go to it)", newCaller([]string{mw}), func(c caller) error {
			_, _, err := e.svc.RotateKey(e.ctx, c.actor, mgmt, target(mr).ID, 0, keyward.Field[time.Time]{}, "")
			return err
		}, keyward.ECodePermissionDenied, mr},
		{"change itself, even to less", newCaller([]string{mw, read}), func(c caller) error {
			_, err := e.svc.UpdateKey(e.ctx, c.actor, mgmt, c.key.ID, &keyward.KeyFields{Permissions: keyward.Some([]string{mw})}, "")
			return err
		}, keyward.ECodePermissionDenied, ""},
		{"rotate itself", newCaller([]string{mw}), func(c caller) error {
			_, _, err := e.svc.RotateKey(e.ctx, c.actor, mgmt, c.key.ID, 0, keyward.Field[time.Time]{}, "")
			return err
		}, "", ""},
		{"delete itself", newCaller([]string{mw}), func(c caller) error { return e.svc.DeleteKey(e.ctx, c.actor, mgmt, c.key.ID, "") }, "", ""},
		{"see an operator key", newCaller([]string{mw, mr}), func(c caller) error {
			_, err := e.svc.GetKey(e.ctx, c.actor, mgmt, e.op.Key.ID)
			return err
		}, keyward.ECodeNotFound, ""},
		{"create an operator key", newCaller([]string{mw}), func(c caller) error {
			in := perms(mw)
			in.Operator = keyward.Some(true)
			_, _, err := e.svc.CreateKey(e.ctx, c.actor, mgmt, in)
			return err
		}, keyward.ECodeValidation, ""},
		{"expiring: create a key that never expires", newCaller([]string{mw}, expiring), func(c caller) error {
			_, _, err := e.svc.CreateKey(e.ctx, c.actor, mgmt, perms(mw))
			return err
		}, keyward.ECodePermissionDenied, "expires_at"},
		{"expiring: create a key that expires later", newCaller([]string{mw}, expiring), func(c caller) error {
			in := perms(mw)
			in.ExpiresAt = keyward.Some(deadline.Add(time.Second))
			_, _, err := e.svc.CreateKey(e.ctx, c.actor, mgmt, in)
			return err
		}, keyward.ECodePermissionDenied, "expires_at"},
		{"expiring: create a key that expires with it", newCaller([]string{mw}, expiring), func(c caller) error {
			in := perms(mw)
			in.ExpiresAt = keyward.Some(deadline)
			_, _, err := e.svc.CreateKey(e.ctx, c.actor, mgmt, in)
			return err
		}, "", ""},
		{"expiring: rotate a key that never expires", newCaller([]string{mw}, expiring), func(c caller) error {
			_, _, err := e.svc.RotateKey(e.ctx, c.actor, mgmt, target(mw).ID, 0, keyward.Field[time.Time]{}, "")
			return err
		}, keyward.ECodePermissionDenied, "expires_at"},
		{"limited to 10/8: create a key usable anywhere", newCaller([]string{mw}, internal), func(c caller) error {
			_, _, err := e.svc.CreateKey(e.ctx, c.actor, mgmt, perms(mw))
			return err
		}, keyward.ECodePermissionDenied, "ip_allowlist"},
		{"limited to 10/8: create a key for 192.168/16", newCaller([]string{mw}, internal), func(c caller) error {
			in := perms(mw)
			in.IPAllowlist = keyward.Some([]string{"192.168.0.0/16"})
			_, _, err := e.svc.CreateKey(e.ctx, c.actor, mgmt, in)
			return err
		}, keyward.ECodePermissionDenied, "ip_allowlist"},
		{"limited to 10/8: create a key for 10.1/16", newCaller([]string{mw}, internal), func(c caller) error {
			in := perms(mw)
			in.IPAllowlist = keyward.Some([]string{"10.1.0.0/16"})
			_, _, err := e.svc.CreateKey(e.ctx, c.actor, mgmt, in)
			return err
		}, "", ""},
		{"limited to 10/8: widen a key's allowlist", newCaller([]string{mw}, internal), func(c caller) error {
			k, _ := e.mgmtKey([]string{mw}, internal)
			_, err := e.svc.UpdateKey(e.ctx, c.actor, mgmt, k.ID, &keyward.KeyFields{IPAllowlist: keyward.Some([]string{})}, "")
			return err
		}, keyward.ECodePermissionDenied, "ip_allowlist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.act(tc.caller)
			wantCode(t, "the change", err, tc.code)
			if tc.detail == "" {
				return
			}
			d := keyward.AsError(err).Details
			if d["missing_permission"] != tc.detail && d["constraint"] != tc.detail {
				t.Fatalf("details %v, want %s named", d, tc.detail)
			}
		})
	}
}

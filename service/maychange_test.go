package service_test

import (
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// MayChangeKey answers as the change itself would: the write permission,
// then the no-escalation rule for management keys.
func TestMayChangeKey(t *testing.T) {
	e := newEnv(t)
	read, mw := keyward.PermKeysRead, keyward.PermManagementKeysWrite
	mgmt := keyward.KindManagement
	own, tok := e.mgmtKey([]string{mw, read})
	a := e.authenticate(service.Credential{Token: tok, ClientIP: "10.1.2.3"})
	small, _ := e.mgmtKey([]string{read})
	big, _ := e.mgmtKey([]string{read, keyward.PermAuditRead})
	api, _, err := e.svc.CreateKey(e.ctx, e.op, keyward.KindAPI, &keyward.KeyFields{Name: keyward.Some("api")})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		kind       keyward.KeyKind
		k          *keyward.Key
		selfChange bool
		detail     string // the missing permission; "" for allowed
	}{
		{"a key within its permissions", mgmt, small, true, ""},
		{"a key with more permissions", mgmt, big, false, keyward.PermAuditRead},
		{"its own settings", mgmt, own, true, "self"},
		{"its own deletion", mgmt, own, false, ""},
		{"an API key without keys:write", keyward.KindAPI, api, true, keyward.PermKeysWrite},
	} {
		err := service.MayChangeKey(a, c.kind, c.k, c.selfChange)
		switch {
		case c.detail == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.detail == "":
		case keyward.ErrorCode(err) != keyward.ECodePermissionDenied:
			t.Errorf("%s: %v, want permission_denied", c.name, err)
		case c.detail != "self" && keyward.AsError(err).Details["missing_permission"] != c.detail:
			t.Errorf("%s: %v, want %s missing", c.name, err, c.detail)
		}
	}
}

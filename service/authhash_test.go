package service_test

import (
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// AuthenticateHash (a dashboard session's hash) answers as Authenticate
// answers for the key itself, in every case.
func TestAuthenticateHash(t *testing.T) {
	e := newEnv(t)
	mgmt, tok := e.mgmtKey([]string{keyward.PermKeysRead})
	_, apiTok := e.apiKey(e.op, &keyward.KeyFields{})
	limited, limitedTok := e.mgmtKey([]string{keyward.PermKeysRead}, func(in *keyward.KeyFields) {
		in.IPAllowlist = keyward.Some([]string{"192.0.2.0/24"})
	})
	acct, err := e.svc.CreateAccount(e.ctx, e.op, &keyward.AccountFields{Name: keyward.Some(e.unique("account"))})
	e.must(err)
	check := func(name string, c service.Credential) {
		t.Helper()
		want, werr := e.svc.Authenticate(e.ctx, c)
		c.Hash, c.Token = c.Token.Hash(), keyward.Token{}
		got, gerr := e.svc.AuthenticateHash(e.ctx, c)
		if keyward.ErrorCode(gerr) != keyward.ErrorCode(werr) {
			t.Fatalf("%s: AuthenticateHash %v, Authenticate %v", name, gerr, werr)
		}
		if werr == nil && (got.Key.ID != want.Key.ID || got.AccountID != want.AccountID) {
			t.Fatalf("%s: AuthenticateHash acts as %s on %s, Authenticate as %s on %s", name, got.Key.ID, got.AccountID, want.Key.ID, want.AccountID)
		}
	}
	check("management key", service.Credential{Token: tok, ClientIP: "127.0.0.1"})
	check("account-bound key naming another account", service.Credential{Token: tok, AccountID: acct.ID})
	check("API key", service.Credential{Token: apiTok})
	check("unknown key", service.Credential{Token: keyward.TokenFromString("kwm_unknown")})
	check("outside the allowlist", service.Credential{Token: limitedTok, ClientIP: "127.0.0.1"})
	check("inside the allowlist", service.Credential{Token: limitedTok, ClientIP: "192.0.2.7"})
	_, err = e.svc.UpdateKey(e.ctx, e.op, keyward.KindManagement, mgmt.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusDisabled)}, "")
	e.must(err)
	check("disabled", service.Credential{Token: tok})
	e.must(e.svc.DeleteKey(e.ctx, e.op, keyward.KindManagement, limited.ID, ""))
	check("deleted", service.Credential{Token: limitedTok, ClientIP: "192.0.2.7"})
	if _, err := e.svc.AuthenticateHash(e.ctx, service.Credential{}); keyward.ErrorCode(err) != keyward.ECodeUnauthenticated {
		t.Fatalf("the zero hash: %v", err)
	}
}

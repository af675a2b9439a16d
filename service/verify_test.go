package service_test

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
)

// verifyOrder is the order of the verification checks (docs/api.md).
var verifyOrder = []keyward.VerifyCode{
	keyward.VerifyRevoked, keyward.VerifyDisabled, keyward.VerifyExpired, keyward.VerifyRotated,
	keyward.VerifyOwnerInactive, keyward.VerifyForbiddenIP, keyward.VerifyWrongProject,
	keyward.VerifyInsufficientPermissions, keyward.VerifyRateLimited, keyward.VerifyUsageExceeded,
}

// A key failing a check and every check after it answers that check: each
// row builds a key that fails exactly the checks from its code on (REVOKED
// and DISABLED are one status, so a revoked key is not also disabled), and
// a key failing none is VALID.
func TestVerifyDecision(t *testing.T) {
	for i := range len(verifyOrder) + 1 {
		want := keyward.VerifyValid
		if i < len(verifyOrder) {
			want = verifyOrder[i]
		}
		t.Run(string(want), func(t *testing.T) {
			e := newEnv(t)
			fails := map[keyward.VerifyCode]bool{}
			for _, c := range verifyOrder[i:] {
				fails[c] = true
			}
			if want == keyward.VerifyRevoked {
				fails[keyward.VerifyDisabled] = false
			}
			tok, req := e.failing(fails)
			if got := e.verify(tok, req); got.Code != want || got.Valid != (want == keyward.VerifyValid) {
				t.Fatalf("Code = %s (valid %v), want %s", got.Code, got.Valid, want)
			}
		})
	}
}

// failing builds a key of a user, failing the checks in fails, and returns
// the token and request to verify it with.
func (e *env) failing(fails map[keyward.VerifyCode]bool) (keyward.Token, keyward.VerifyRequest) {
	e.t.Helper()
	pick := func(c keyward.VerifyCode, bad, good string) *string {
		if fails[c] {
			return &bad
		}
		return &good
	}
	_, err := e.svc.CreateRole(e.ctx, e.op, &keyward.RoleFields{Name: keyward.Some("reader"),
		Scopes: keyward.Some([]keyward.Scope{scope("documents", keyward.AccessRead)})})
	e.must(err)
	u, err := e.svc.CreateUser(e.ctx, e.op, &keyward.UserFields{Name: keyward.Some("u"), Roles: keyward.Some([]string{"reader"})})
	e.must(err)
	var projects [2]string
	for i := range projects {
		p, err := e.svc.CreateProject(e.ctx, e.op, &keyward.ProjectFields{Name: keyward.Some(e.unique("project"))})
		e.must(err)
		projects[i] = p.ID
	}
	limit, credits := int64(1000), int64(1000)
	if fails[keyward.VerifyRateLimited] {
		limit = 1
	}
	if fails[keyward.VerifyUsageExceeded] {
		credits = 1
	}
	in := restricted(scope("documents", keyward.AccessRead))
	in.Owner = keyward.Some(keyward.Owner{Type: keyward.OwnerUser, ID: u.ID})
	in.ProjectID = keyward.Some(projects[0])
	in.IPAllowlist = keyward.Some([]string{"10.0.0.0/8"})
	in.RateLimit = keyward.Some(keyward.RateLimit{Limit: limit, Window: 3600})
	in.Credits = keyward.Some(keyward.Credits{Remaining: credits})
	in.ExpiresAt = keyward.Some(e.clock().Add(48 * time.Hour))
	k, tok := e.apiKey(e.op, in)
	good := keyward.VerifyRequest{Permissions: str("documents:read"), ProjectID: &projects[0], IP: str("10.1.2.3")}

	if fails[keyward.VerifyRateLimited] || fails[keyward.VerifyUsageExceeded] {
		if res := e.verify(tok, good); res.Code != keyward.VerifyValid {
			e.t.Fatalf("spending the key's one verification: %s", res.Code)
		}
	}
	if fails[keyward.VerifyExpired] {
		// An hour after its creation: a day ago by the wall clock, which
		// verification reads.
		_, err := e.svc.UpdateKey(e.ctx, e.op, keyward.KindAPI, k.ID, &keyward.KeyFields{ExpiresAt: keyward.Some(e.clock().Add(time.Hour))}, "")
		e.must(err)
	}
	if fails[keyward.VerifyRotated] {
		// The old secret's grace ends a minute after the rotation, a day
		// ago by the wall clock.
		grace := time.Minute
		_, _, err := e.svc.RotateKey(e.ctx, e.op, keyward.KindAPI, k.ID, grace, keyward.Field[time.Time]{}, "")
		e.must(err)
	}
	if fails[keyward.VerifyOwnerInactive] {
		_, err := e.svc.UpdateUser(e.ctx, e.op, u.ID, &keyward.UserFields{Status: keyward.Some(keyward.MemberDisabled)}, "")
		e.must(err)
	}
	switch {
	case fails[keyward.VerifyRevoked]:
		e.setStatus(k.ID, keyward.StatusRevoked)
	case fails[keyward.VerifyDisabled]:
		e.setStatus(k.ID, keyward.StatusDisabled)
	}
	return tok, keyward.VerifyRequest{
		Permissions: pick(keyward.VerifyInsufficientPermissions, "documents:write", "documents:read"),
		ProjectID:   pick(keyward.VerifyWrongProject, projects[1], projects[0]),
		IP:          pick(keyward.VerifyForbiddenIP, "192.168.1.1", "10.1.2.3"),
	}
}

func (e *env) setStatus(keyID string, status keyward.KeyStatus) {
	e.t.Helper()
	_, err := e.svc.UpdateKey(e.ctx, e.op, keyward.KindAPI, keyID, &keyward.KeyFields{Status: keyward.Some(status)}, "")
	e.must(err)
}

// A refused verification spends nothing: a rate-limited one takes no
// credits, an insufficient one neither a rate-limit slot nor credits.
func TestVerifySpendsOnlyWhenValid(t *testing.T) {
	e := newEnv(t)
	in := restricted(scope("documents", keyward.AccessRead))
	in.RateLimit = keyward.Some(keyward.RateLimit{Limit: 2, Window: 3600})
	in.Credits = keyward.Some(keyward.Credits{Remaining: 5})
	_, tok := e.apiKey(e.op, in)
	read, write := keyward.VerifyRequest{Permissions: str("documents:read")}, keyward.VerifyRequest{Permissions: str("documents:write")}
	for i, step := range []struct {
		req     keyward.VerifyRequest
		code    keyward.VerifyCode
		credits int64
	}{
		{write, keyward.VerifyInsufficientPermissions, 5},
		{read, keyward.VerifyValid, 4},
		{write, keyward.VerifyInsufficientPermissions, 4},
		{read, keyward.VerifyValid, 3},
		{read, keyward.VerifyRateLimited, 3},
	} {
		res := e.verify(tok, step.req)
		if res.Code != step.code || !res.HasCredits || res.CreditsRemaining != step.credits {
			t.Fatalf("step %d: %s with %d credits, want %s with %d", i, res.Code, res.CreditsRemaining, step.code, step.credits)
		}
	}
}

// NOT_FOUND is the one answer for every token that is not an API key the
// actor may verify, so a caller learns nothing about which it was.
func TestVerifyNotFound(t *testing.T) {
	e := newEnv(t)
	deleted, deletedTok := e.apiKey(e.op, &keyward.KeyFields{})
	e.must(e.svc.DeleteKey(e.ctx, e.op, keyward.KindAPI, deleted.ID, ""))
	_, good := e.apiKey(e.op, &keyward.KeyFields{})
	forged := keywardtest.BadChecksum(good)
	_, mgmtTok := e.mgmtKey([]string{keyward.PermKeysRead})
	other, err := e.svc.CreateAccount(e.ctx, e.op, &keyward.AccountFields{Name: keyward.Some("other")})
	e.must(err)
	opThere := e.authenticate(service.Credential{Token: e.opToken, AccountID: other.ID, ClientIP: "127.0.0.1"})
	_, theirs := e.apiKey(opThere, &keyward.KeyFields{})
	verifier := e.manager(keyward.PermKeysVerify)
	unknown, err := keyward.NewToken("kw", rand.Reader)
	e.must(err)

	for name, tok := range map[string]keyward.Token{
		"unknown keyward token": unknown,
		"unknown foreign token": keyward.TokenFromString("sk_live_unknown"),
		"forged checksum":       forged,
		"malformed":             keyward.TokenFromString("two words"),
		"empty":                 keyward.TokenFromString(""),
		"deleted key":           deletedTok,
		"management key":        mgmtTok,
		"another account's key": theirs,
	} {
		t.Run(name, func(t *testing.T) {
			res, err := e.svc.Verify(e.ctx, verifier, &keyward.VerifyRequest{Key: keyward.Some(tok)})
			if err != nil || res.Code != keyward.VerifyNotFound || res.Valid || res.KeyID != "" {
				t.Fatalf("%+v, %v: want NOT_FOUND and nothing else", res, err)
			}
		})
	}
	if res := e.verify(good, keyward.VerifyRequest{}); res.Code != keyward.VerifyValid {
		t.Fatalf("the good key: %s", res.Code)
	}
}

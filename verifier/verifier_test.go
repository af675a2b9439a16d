package verifier_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/verifier"
)

// server is a real keyward (keywardtest) with an operator client acting
// on the default account (Client).
type server struct{ *keywardtest.Server }

// newServer starts a server for one test, stopped when it ends.
func newServer(t testing.TB) *server {
	t.Helper()
	return &server{keywardtest.Start(t, keywardtest.Options{})}
}

// remote returns a remote verifier of the server with options o, holding
// a new management key that may only verify keys, closed when the test
// ends.
func (s *server) remote(t testing.TB, o verifier.RemoteOptions) *verifier.Remote {
	t.Helper()
	return s.Remote(t, s.VerifierKey(t), o)
}

// badChecksum returns token with another last checksum character.
func badChecksum(t testing.TB, token string) string {
	t.Helper()
	b := []byte(token)
	if b[len(b)-1] == '0' {
		b[len(b)-1] = '1'
	} else {
		b[len(b)-1] = '0'
	}
	if keyward.ShapeOf(string(b)) != keyward.ShapeBadChecksum {
		t.Fatalf("%q is not a bad checksum", b)
	}
	return string(b)
}

// updateKey PATCHes an API key.
func (s *server) updateKey(t testing.TB, id string, in *keyward.KeyFields) {
	t.Helper()
	if _, err := s.Client.UpdateKey(context.Background(), id, in); err != nil {
		t.Fatalf("update key %s: %v", id, err)
	}
}

// httpVerify is POST /v1/keys/verify with a raw body, as any client sends
// it, authenticated with tok; it returns the decoded answer.
func (s *server) httpVerify(t testing.TB, tok keyward.Token, body map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", s.URL+"/v1/keys/verify", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+tok.Reveal())
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/keys/verify: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/keys/verify: %d %s", res.StatusCode, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST /v1/keys/verify: %v in %s", err, raw)
	}
	return out
}

// waitTrusted waits until the remote verifier uses its cache.
func waitTrusted(t testing.TB, r *verifier.Remote) {
	t.Helper()
	keywardtest.WaitFor(t, "the invalidation stream to be up and trusted", 10*time.Second, func() bool { return r.Stats().Trusted })
}

// view renders a result as POST /v1/keys/verify shows it, and
// normalizes it through JSON like an answer of the server.
func view(t testing.TB, r keyward.VerifyResult) map[string]any {
	t.Helper()
	var v any
	if r.Code == keyward.VerifyNotFound {
		v = map[string]any{"valid": r.Valid, "code": r.Code}
	} else {
		m := map[string]any{
			"valid": r.Valid, "code": r.Code, "key_id": r.KeyID, "account_id": r.AccountID, "name": r.Name,
			"owner": r.Owner, "project_id": nil, "permission_mode": r.PermissionMode, "scopes": r.Scopes,
			"roles": r.Roles, "expires_at": nil, "metadata": r.Metadata, "credits_remaining": nil, "rate_limit": nil,
		}
		if r.ProjectID != "" {
			m["project_id"] = r.ProjectID
		}
		if r.Scopes == nil {
			m["scopes"] = []keyward.Scope{}
		}
		if r.Roles == nil {
			m["roles"] = []string{}
		}
		if r.HasExpiry {
			m["expires_at"] = r.ExpiresAt
		}
		if r.HasCredits {
			m["credits_remaining"] = r.CreditsRemaining
		}
		if r.HasRateLimit {
			m["rate_limit"] = map[string]any{"limit": r.RateLimit.Limit, "remaining": r.RateLimit.Remaining, "reset_at": r.RateLimit.ResetAt}
		}
		v = m
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return normalize(out)
}

// normalize writes the times of an answer in one form (UTC, nanoseconds).
func normalize(m map[string]any) map[string]any {
	fix := func(v any) any {
		s, ok := v.(string)
		if !ok {
			return v
		}
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return v
		}
		return tm.UTC().Format(time.RFC3339Nano)
	}
	if v, ok := m["expires_at"]; ok {
		m["expires_at"] = fix(v)
	}
	if rl, ok := m["rate_limit"].(map[string]any); ok {
		rl["reset_at"] = fix(rl["reset_at"])
	}
	return m
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// verifyCase is one verification, as verifier options and as the body of
// POST /v1/keys/verify.
type verifyCase struct {
	name    string
	token   string
	perms   string
	project string
	ip      string
	cost    *int64 // nil: absent
	want    keyward.VerifyCode
}

func (c *verifyCase) body() map[string]any {
	b := map[string]any{"key": c.token}
	if c.perms != "" {
		b["permissions"] = c.perms
	}
	if c.project != "" {
		b["project_id"] = c.project
	}
	if c.ip != "" {
		b["ip"] = c.ip
	}
	if c.cost != nil {
		b["cost"] = *c.cost
	}
	return b
}

func (c *verifyCase) options(t testing.TB) *verifier.Options {
	t.Helper()
	o := &verifier.Options{ProjectID: c.project}
	if c.perms != "" {
		q, err := keyward.ParseQuery(c.perms)
		if err != nil {
			t.Fatal(err)
		}
		o.Query = q
	}
	if c.ip != "" {
		o.IP = netip.MustParseAddr(c.ip)
	}
	if c.cost != nil {
		o.Cost = *c.cost
		if *c.cost == 0 {
			o.Cost = verifier.NoCost
		}
	}
	return o
}

func costOf(n int64) *int64 { return &n }

// TestSameAnswers checks that the in-process verifier and the remote one
// (cached, twice, and uncached) answer exactly as POST /v1/keys/verify,
// for every verification code.
func TestSameAnswers(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	vk := s.VerifierKey(t)
	verifiers := []struct {
		name string
		v    verifier.Verifier
	}{
		{"in-process", verifier.New(s.Service, s.Actor(t, vk))},
		{"remote", s.Remote(t, vk, verifier.RemoteOptions{})},
		{"remote again", nil}, // the same remote verifier, answering from its cache where it can
		{"remote without cache", s.Remote(t, vk, verifier.RemoteOptions{CacheSize: -1})},
	}
	verifiers[2].v = verifiers[1].v
	remote := verifiers[1].v.(*verifier.Remote)

	p1, p2 := s.CreateProject(t, "one"), s.CreateProject(t, "two")
	docsRead := []keyward.Scope{{Resource: "documents", Access: keyward.AccessRead, Targets: []string{"*"}}}
	meta := keyward.Some(map[string]json.RawMessage{"plan": json.RawMessage(`"pro"`), "seats": json.RawMessage(`3`)})

	valid := s.CreateKey(t, &keyward.KeyFields{Name: keyward.Some("valid"), Metadata: meta, ExpiresAt: keyward.Some(time.Now().Add(time.Hour))})
	guarded := s.CreateKey(t, &keyward.KeyFields{
		Name: keyward.Some("guarded"), PermissionMode: keyward.Some(keyward.ModeRestricted), Scopes: keyward.Some(docsRead),
		ProjectID: keyward.Some(p1.ID), IPAllowlist: keyward.Some([]string{"10.0.0.0/8"}), Metadata: meta,
	})
	revoked := s.CreateKey(t, &keyward.KeyFields{Name: keyward.Some("revoked")})
	s.updateKey(t, revoked.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)})
	disabled := s.CreateKey(t, &keyward.KeyFields{Name: keyward.Some("disabled")})
	s.updateKey(t, disabled.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusDisabled)})
	rotated := s.CreateKey(t, &keyward.KeyFields{Name: keyward.Some("rotated")})
	rotatedNew, err := s.Client.RotateKey(ctx, rotated.ID, nil) // grace 0: the old secret ends now
	if err != nil {
		t.Fatal(err)
	}
	graced := s.CreateKey(t, &keyward.KeyFields{Name: keyward.Some("graced")})
	if _, err := s.Client.RotateKey(ctx, graced.ID, &client.RotateRequest{GracePeriodSeconds: keyward.Some(int64(3600))}); err != nil {
		t.Fatal(err)
	}
	sa, err := s.Client.CreateServiceAccount(ctx, &keyward.ServiceAccountFields{Name: keyward.Some("robot")})
	if err != nil {
		t.Fatal(err)
	}
	orphan := s.CreateKey(t, &keyward.KeyFields{Name: keyward.Some("robot's"), Owner: keyward.Some(keyward.Owner{Type: keyward.OwnerServiceAccount, ID: sa.ID})})
	if _, err := s.Client.UpdateServiceAccount(ctx, sa.ID, &keyward.ServiceAccountFields{Status: keyward.Some(keyward.MemberDisabled)}); err != nil {
		t.Fatal(err)
	}
	limited := s.CreateKey(t, &keyward.KeyFields{Name: keyward.Some("limited"), RateLimit: keyward.Some(keyward.RateLimit{Limit: 1, Window: 3600})})
	s.httpVerify(t, vk, map[string]any{"key": limited.Secret.Reveal()}) // takes the only one
	broke := s.CreateKey(t, &keyward.KeyFields{Name: keyward.Some("broke"), Credits: keyward.Some(keyward.Credits{Remaining: 0})})
	funded := s.CreateKey(t, &keyward.KeyFields{Name: keyward.Some("funded"), Credits: keyward.Some(keyward.Credits{Remaining: 100})})
	deleted := s.CreateKey(t, &keyward.KeyFields{Name: keyward.Some("deleted")})
	if err := s.Client.DeleteKey(ctx, deleted.ID); err != nil {
		t.Fatal(err)
	}
	other, err := s.Client.CreateAccount(ctx, &keyward.AccountFields{Name: keyward.Some("other")})
	if err != nil {
		t.Fatal(err)
	}
	oc, err := s.Client.With(client.WithAccountID(other.ID))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := oc.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("other account's")})
	if err != nil {
		t.Fatal(err)
	}
	expiring := s.CreateKey(t, &keyward.KeyFields{Name: keyward.Some("expiring"), ExpiresAt: keyward.Some(time.Now().Add(1500 * time.Millisecond))})
	unknown, _ := keyward.NewToken("kw", nil)
	badSum := badChecksum(t, valid.Secret.Reveal())

	keywardtest.WaitFor(t, "the expiring key to expire", 20*time.Second, func() bool {
		return s.httpVerify(t, vk, map[string]any{"key": expiring.Secret.Reveal()})["code"] == "EXPIRED"
	})
	waitTrusted(t, remote)

	cases := []verifyCase{
		{name: "unknown", token: unknown.Reveal(), want: keyward.VerifyNotFound},
		{name: "bad checksum", token: badSum, want: keyward.VerifyNotFound},
		{name: "garbage", token: "not a key", want: keyward.VerifyNotFound},
		{name: "empty", token: "", want: keyward.VerifyNotFound},
		{name: "foreign format", token: "sk_live_0123456789abcdef", want: keyward.VerifyNotFound},
		{name: "management key", token: vk.Reveal(), want: keyward.VerifyNotFound},
		{name: "deleted", token: deleted.Secret.Reveal(), want: keyward.VerifyNotFound},
		{name: "another account's", token: foreign.Secret.Reveal(), want: keyward.VerifyNotFound},
		{name: "revoked", token: revoked.Secret.Reveal(), want: keyward.VerifyRevoked},
		{name: "disabled", token: disabled.Secret.Reveal(), want: keyward.VerifyDisabled},
		{name: "expired", token: expiring.Secret.Reveal(), want: keyward.VerifyExpired},
		{name: "rotated", token: rotated.Secret.Reveal(), want: keyward.VerifyRotated},
		{name: "owner inactive", token: orphan.Secret.Reveal(), want: keyward.VerifyOwnerInactive},
		{name: "forbidden ip", token: guarded.Secret.Reveal(), ip: "192.0.2.1", want: keyward.VerifyForbiddenIP},
		{name: "no ip for an allowlist", token: guarded.Secret.Reveal(), want: keyward.VerifyForbiddenIP},
		{name: "wrong project", token: guarded.Secret.Reveal(), ip: "10.1.2.3", project: p2.ID, want: keyward.VerifyWrongProject},
		{name: "insufficient permissions", token: guarded.Secret.Reveal(), ip: "10.1.2.3", perms: "documents:write", want: keyward.VerifyInsufficientPermissions},
		{name: "rate limited", token: limited.Secret.Reveal(), want: keyward.VerifyRateLimited},
		{name: "usage exceeded", token: broke.Secret.Reveal(), want: keyward.VerifyUsageExceeded},
		{name: "valid", token: valid.Secret.Reveal(), want: keyward.VerifyValid},
		{name: "valid with every input", token: guarded.Secret.Reveal(), ip: "10.1.2.3", project: p1.ID, perms: "documents:read OR documents:write", want: keyward.VerifyValid},
		{name: "valid, IPv4-mapped address", token: guarded.Secret.Reveal(), ip: "::ffff:10.1.2.3", want: keyward.VerifyValid},
		{name: "rotated, new secret", token: rotatedNew.Secret.Reveal(), want: keyward.VerifyValid},
		{name: "old secret within its grace", token: graced.Secret.Reveal(), want: keyward.VerifyValid},
		{name: "credits, cost 0", token: funded.Secret.Reveal(), cost: costOf(0), want: keyward.VerifyValid},
		{name: "revoked before the other checks", token: revoked.Secret.Reveal(), ip: "192.0.2.1", project: p2.ID, perms: "documents:write", want: keyward.VerifyRevoked},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := normalize(s.httpVerify(t, vk, c.body()))
			if want["code"] != string(c.want) {
				t.Fatalf("POST /v1/keys/verify answered %v, the test expects %s", want["code"], c.want)
			}
			for _, v := range verifiers {
				before := remote.Stats()
				res, err := v.v.Verify(ctx, c.token, c.options(t))
				if err != nil {
					t.Fatalf("%s: %v", v.name, err)
				}
				if v.name == "remote again" {
					// The second remote answer comes from the cache exactly
					// when it carries no counter.
					shape := keyward.ShapeOf(c.token)
					lookable := shape == keyward.ShapeKeyward || shape == keyward.ShapeForeign
					wantHit := lookable && !res.HasCredits && !res.HasRateLimit
					if hit := remote.Stats().Hits > before.Hits; hit != wantHit {
						t.Errorf("remote again: cache hit %t, want %t", hit, wantHit)
					}
				}
				if got := view(t, res); !reflect.DeepEqual(got, want) {
					t.Errorf("%s answered\n %s\nPOST /v1/keys/verify answered\n %s", v.name, jsonString(got), jsonString(want))
				}
				if res.Valid != (res.Code == keyward.VerifyValid) {
					t.Errorf("%s: valid %t with code %s", v.name, res.Valid, res.Code)
				}
			}
		})
	}
}

// TestOptionErrors checks that malformed options are validation errors,
// as the same request is a 422 for the HTTP API, and not outcomes.
func TestOptionErrors(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	vk := s.VerifierKey(t)
	k := s.CreateKey(t, &keyward.KeyFields{})
	verifiers := map[string]verifier.Verifier{
		"in-process": verifier.New(s.Service, s.Actor(t, vk)),
		"remote":     s.Remote(t, vk, verifier.RemoteOptions{}),
	}
	for _, c := range []struct {
		name  string
		opts  verifier.Options
		field string
	}{
		{"negative cost", verifier.Options{Cost: -2}, "cost"},
		{"cost too high", verifier.Options{Cost: keyward.MaxVerifyCost + 1}, "cost"},
		{"not a project id", verifier.Options{ProjectID: "acme"}, "project_id"},
		{"another kind of id", verifier.Options{ProjectID: k.ID}, "project_id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.opts.Validate(); keyward.ErrorCode(err) != keyward.ECodeValidation {
				t.Errorf("Validate: %v, want validation_failed", err)
			}
			for name, v := range verifiers {
				_, err := v.Verify(context.Background(), k.Secret.Reveal(), &c.opts)
				var kerr *keyward.Error
				if !errors.As(err, &kerr) || kerr.Code != keyward.ECodeValidation || len(kerr.Fields) != 1 || kerr.Fields[0].Field != c.field {
					t.Errorf("%s: %v, want validation_failed naming %s", name, err, c.field)
				}
			}
		})
	}
	// The edges are accepted.
	for _, o := range []verifier.Options{{Cost: verifier.NoCost}, {Cost: keyward.MaxVerifyCost}, {}} {
		if err := o.Validate(); err != nil {
			t.Errorf("Validate(%+v): %v", o, err)
		}
	}
	var nilOpts *verifier.Options
	if err := nilOpts.Validate(); err != nil {
		t.Errorf("nil options: %v", err)
	}
}

// TestInProcessCredentials checks the actor's power: keys of other
// accounts are NOT_FOUND, and an actor without keys:verify may not verify.
func TestInProcessCredentials(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	k := s.CreateKey(t, &keyward.KeyFields{})

	reader := s.CreateManagementKey(t, &keyward.KeyFields{Name: keyward.Some("reader"), Permissions: keyward.Some([]string{"keys:read"})})
	_, err := verifier.New(s.Service, s.Actor(t, reader.Secret)).Verify(ctx, k.Secret.Reveal(), nil)
	if keyward.ErrorCode(err) != keyward.ECodePermissionDenied {
		t.Errorf("an actor without keys:verify: %v, want permission_denied", err)
	}

	other, err := s.Client.CreateAccount(ctx, &keyward.AccountFields{Name: keyward.Some("other")})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		actor *keyward.Actor
		want  keyward.VerifyCode
	}{
		{"the key's account", &keyward.Actor{AccountID: k.AccountID}, keyward.VerifyValid},
		{"another account", &keyward.Actor{AccountID: other.ID}, keyward.VerifyNotFound},
		{"every account", &keyward.Actor{AllAccounts: true}, keyward.VerifyValid},
		{"the operator key", s.Actor(t, s.OperatorKey), keyward.VerifyValid},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := verifier.New(s.Service, c.actor).Verify(ctx, k.Secret.Reveal(), nil)
			if err != nil || res.Code != c.want {
				t.Errorf("got %s, %v; want %s", res.Code, err, c.want)
			}
		})
	}
}

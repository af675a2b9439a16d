package keyward

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// Fixed ids and time of the key-rule tests.
const (
	dtAccountID = "acc_01HZX3K8Q4W2N5R7T9V0B1C2D3"
	dtProjectID = "prj_01HZX3K8Q4W2N5R7T9V0B1C2D4"
	dtOtherPrj  = "prj_01HZX3K8Q4W2N5R7T9V0B1C2D5"
	dtUserID    = "usr_01HZX3K8Q4W2N5R7T9V0B1C2D6"
	dtSAID      = "sa_01HZX3K8Q4W2N5R7T9V0B1C2D7"
	dtKeyID     = "key_01HZX3K8Q4W2N5R7T9V0B1C2D8"
)

var dtNow = time.Date(2025, 6, 1, 12, 0, 0, 123_000_000, time.UTC)

// dtAt returns dtNow+d as an RFC 3339 JSON string.
func dtAt(d time.Duration) string { return `"` + dtNow.Add(d).Format(time.RFC3339Nano) + `"` }

func dtI64(v int64) *int64 { return &v }

func dtStr(s string) *string { return &s }

func dtTimeP(t time.Time) *time.Time { return &t }

// dtEnv returns the env of an account with the default settings, the
// dtCatalog, one project, one user, one service account and the roles
// "reader", "writer" and any name starting with "role". mods change the
// account.
func dtEnv(mods ...func(*Account)) *KeyEnv {
	a := &Account{ID: dtAccountID, Name: "acme", DefaultPrefix: "kw", CatalogTemplate: TemplateDefault, DefaultPermissionMode: ModeAll}
	for _, m := range mods {
		m(a)
	}
	return &KeyEnv{
		Account: a,
		Catalog: dtCatalog(),
		Now:     dtNow,
		ProjectExists: func(id string) (bool, error) {
			return id == dtProjectID, nil
		},
		OwnerExists: func(o Owner) (bool, error) {
			return o == Owner{Type: OwnerUser, ID: dtUserID} || o == Owner{Type: OwnerServiceAccount, ID: dtSAID}, nil
		},
		RoleScopes: func(name string) ([]Scope, bool, error) {
			switch {
			case name == "reader":
				return []Scope{dtScope("docs", AccessRead)}, true, nil
			case name == "writer":
				return []Scope{dtScope("docs", AccessWrite)}, true, nil
			case strings.HasPrefix(name, "role"):
				return nil, true, nil
			}
			return nil, false, nil
		},
	}
}

func dtMasterKey(e *KeyEnv) *KeyEnv { e.MasterKey = true; return e }

// dtFields decodes a JSON body the way the HTTP layer does.
func dtFields(t testing.TB, body string) *KeyFields {
	t.Helper()
	var in KeyFields
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return &in
}

// dtErrFields returns the sorted, distinct fields of a validation error, failing the
// test if err is not one.
func dtErrFields(t testing.TB, err error) []string {
	t.Helper()
	var ke *Error
	if !errors.As(err, &ke) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if ke.Code != ECodeValidation {
		t.Fatalf("error code = %s (%v), want %s", ke.Code, err, ECodeValidation)
	}
	var out []string
	for _, f := range ke.Fields {
		if f.Message == "" {
			t.Errorf("field %s has no message", f.Field)
		}
		out = append(out, f.Field)
	}
	sort.Strings(out)
	// One field may carry two messages (name: null is both required and
	// not nullable); the cases name each failing field once.
	return slices.Compact(out)
}

func dtSorted(s ...string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// dtRuleCase is one create, PATCH or PUT case: a JSON body (or Go fields
// for what JSON cannot carry), and either the fields that must fail or a
// check of the resulting key.
type dtRuleCase struct {
	name    string
	body    string
	in      *KeyFields // used instead of body when set
	env     *KeyEnv    // default dtEnv()
	fields  []string   // expected failing fields (validation_failed)
	code    Code       // expected error code other than validation_failed
	changed *bool      // PATCH/PUT: expected change flag
	check   func(t *testing.T, k *Key)
}

func (c *dtRuleCase) input(t *testing.T) *KeyFields {
	t.Helper()
	if c.in != nil {
		return c.in
	}
	return dtFields(t, c.body)
}

func (c *dtRuleCase) environment() *KeyEnv {
	if c.env != nil {
		return c.env
	}
	return dtEnv()
}

// verdict checks the outcome of a rule against the case.
func (c *dtRuleCase) verdict(t *testing.T, k *Key, changed bool, err error) {
	t.Helper()
	switch {
	case c.code != "":
		if ErrorCode(err) != c.code {
			t.Fatalf("err = %v, want code %s", err, c.code)
		}
		if k != nil {
			t.Fatalf("failed rule returned a key")
		}
	case c.fields != nil:
		if err == nil {
			t.Fatalf("no error, want failing fields %v", c.fields)
		}
		if got := dtErrFields(t, err); !slices.Equal(got, dtSorted(c.fields...)) {
			t.Fatalf("failing fields = %v, want %v (%v)", got, dtSorted(c.fields...), err)
		}
		if k != nil {
			t.Fatalf("failed rule returned a key")
		}
	default:
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		if c.changed != nil && changed != *c.changed {
			t.Fatalf("changed = %v, want %v", changed, *c.changed)
		}
		if c.check != nil {
			c.check(t, k)
		}
	}
}

var (
	dtTrue  = func() *bool { b := true; return &b }()
	dtFalse = func() *bool { b := false; return &b }()
)

func dtRaw(s string) json.RawMessage { return json.RawMessage(s) }

func TestDtNewKeyAPI(t *testing.T) {
	tests := []dtRuleCase{
		{name: "minimal", body: `{"name":"k"}`, check: func(t *testing.T, k *Key) {
			want := &Key{Kind: KindAPI, AccountID: dtAccountID, Name: "k", Status: StatusActive, Prefix: "kw",
				Owner: Owner{Type: OwnerAccount, ID: dtAccountID}, PermissionMode: ModeAll}
			if !reflect.DeepEqual(k, want) {
				t.Fatalf("key = %+v\nwant  %+v", k, want)
			}
		}},
		{name: "explicit kind", body: `{"name":"k","kind":"api"}`, check: func(t *testing.T, k *Key) {}},
		{name: "account default permission mode", body: `{"name":"k"}`, env: dtEnv(func(a *Account) { a.DefaultPermissionMode = ModeReadOnly }),
			check: func(t *testing.T, k *Key) {
				if k.PermissionMode != ModeReadOnly {
					t.Fatalf("mode = %s, want read_only", k.PermissionMode)
				}
			}},
		{name: "account default prefix", body: `{"name":"k"}`, env: dtEnv(func(a *Account) { a.DefaultPrefix = "acme" }),
			check: func(t *testing.T, k *Key) {
				if k.Prefix != "acme" {
					t.Fatalf("prefix = %q", k.Prefix)
				}
			}},
		{name: "own prefix", body: `{"name":"k","prefix":"zz9"}`, check: func(t *testing.T, k *Key) {
			if k.Prefix != "zz9" {
				t.Fatalf("prefix = %q", k.Prefix)
			}
		}},
		{name: "disabled", body: `{"name":"k","status":"disabled"}`, check: func(t *testing.T, k *Key) {
			if k.Status != StatusDisabled {
				t.Fatalf("status = %s", k.Status)
			}
		}},
		{name: "user owner", body: `{"name":"k","owner":{"type":"user","id":"` + dtUserID + `"}}`, check: func(t *testing.T, k *Key) {
			if k.Owner != (Owner{Type: OwnerUser, ID: dtUserID}) {
				t.Fatalf("owner = %+v", k.Owner)
			}
		}},
		{name: "service account owner", body: `{"name":"k","owner":{"type":"service_account","id":"` + dtSAID + `"}}`, check: func(t *testing.T, k *Key) {
			if k.Owner != (Owner{Type: OwnerServiceAccount, ID: dtSAID}) {
				t.Fatalf("owner = %+v", k.Owner)
			}
		}},
		{name: "account owner by id", body: `{"name":"k","owner":{"type":"account","id":"` + dtAccountID + `"}}`, check: func(t *testing.T, k *Key) {
			if k.Owner != (Owner{Type: OwnerAccount, ID: dtAccountID}) {
				t.Fatalf("owner = %+v", k.Owner)
			}
		}},
		{name: "account owner without id", body: `{"name":"k","owner":{"type":"account"}}`, check: func(t *testing.T, k *Key) {
			if k.Owner != (Owner{Type: OwnerAccount, ID: dtAccountID}) {
				t.Fatalf("owner = %+v", k.Owner)
			}
		}},
		{name: "recoverable with master key", body: `{"name":"k","recoverable":true}`, env: dtMasterKey(dtEnv()), check: func(t *testing.T, k *Key) {
			if !k.Recoverable {
				t.Fatal("not recoverable")
			}
		}},
		{name: "recoverable false", body: `{"name":"k","recoverable":false}`, check: func(t *testing.T, k *Key) {
			if k.Recoverable {
				t.Fatal("recoverable")
			}
		}},
		{name: "legacy id", body: `{"name":"k","legacy_key_id":"old-1"}`, check: func(t *testing.T, k *Key) {
			if k.LegacyKeyID == nil || *k.LegacyKeyID != "old-1" {
				t.Fatalf("legacy = %v", k.LegacyKeyID)
			}
		}},
		{name: "description with newline and tab", body: `{"name":"k","description":"line 1\n\tline 2"}`, check: func(t *testing.T, k *Key) {
			if k.Description == nil || *k.Description != "line 1\n\tline 2" {
				t.Fatalf("description = %v", k.Description)
			}
		}},
		{name: "null optionals", body: `{"name":"k","description":null,"expires_at":null,"metadata":null,"ip_allowlist":null,"rate_limit":null,"credits":null,"project_id":null}`,
			check: func(t *testing.T, k *Key) {
				if k.Description != nil || k.ExpiresAt != nil || k.Metadata != nil || k.IPAllowlist != nil || k.RateLimit != nil || k.Credits != nil || k.ProjectID != nil {
					t.Fatalf("null optionals set something: %+v", k)
				}
			}},
		{name: "name of 255 multibyte characters", body: `{"name":"` + strings.Repeat("é", MaxNameLen) + `"}`, check: func(t *testing.T, k *Key) {}},
		{name: "restricted with scopes and roles", body: `{"name":"k","permission_mode":"restricted",
			"scopes":[{"resource":"docs","access":"read"},{"resource":"files","access":"write","targets":["f1","f1","f2"]}],
			"roles":["reader","writer","reader"]}`, check: func(t *testing.T, k *Key) {
			want := []Scope{dtScope("docs", AccessRead), dtScope("files", AccessWrite, "f1", "f2")}
			if k.PermissionMode != ModeRestricted || !reflect.DeepEqual(k.Scopes, want) || !slices.Equal(k.Roles, []string{"reader", "writer"}) {
				t.Fatalf("mode %s scopes %v roles %v", k.PermissionMode, k.Scopes, k.Roles)
			}
		}},
		{name: "restricted with no scopes", body: `{"name":"k","permission_mode":"restricted","scopes":[]}`, check: func(t *testing.T, k *Key) {
			if k.Scopes == nil || len(k.Scopes) != 0 || k.Roles == nil || len(k.Roles) != 0 {
				t.Fatalf("scopes %#v roles %#v, want empty non-nil", k.Scopes, k.Roles)
			}
		}},
		{name: "restricted with roles only", body: `{"name":"k","permission_mode":"restricted","roles":["reader"]}`, check: func(t *testing.T, k *Key) {
			if k.Scopes == nil || len(k.Scopes) != 0 || !slices.Equal(k.Roles, []string{"reader"}) {
				t.Fatalf("scopes %#v roles %#v", k.Scopes, k.Roles)
			}
		}},
		{name: "account default restricted with scopes", body: `{"name":"k","scopes":[{"resource":"docs","access":"read"}]}`,
			env: dtEnv(func(a *Account) { a.DefaultPermissionMode = ModeRestricted }), check: func(t *testing.T, k *Key) {
				if k.PermissionMode != ModeRestricted || len(k.Scopes) != 1 {
					t.Fatalf("mode %s scopes %v", k.PermissionMode, k.Scopes)
				}
			}},
		{name: "project", body: `{"name":"k","project_id":"` + dtProjectID + `","permission_mode":"restricted","scopes":[{"resource":"docs","access":"read"}]}`,
			check: func(t *testing.T, k *Key) {
				if k.ProjectID == nil || *k.ProjectID != dtProjectID {
					t.Fatalf("project = %v", k.ProjectID)
				}
			}},
		{name: "project with mode all", body: `{"name":"k","project_id":"` + dtProjectID + `"}`, check: func(t *testing.T, k *Key) {
			if k.ProjectID == nil || k.PermissionMode != ModeAll {
				t.Fatalf("project %v mode %s", k.ProjectID, k.PermissionMode)
			}
		}},
		{name: "expiry truncated to milliseconds", body: `{"name":"k","expires_at":"2025-06-02T12:00:00.123456789Z"}`, check: func(t *testing.T, k *Key) {
			want := time.Date(2025, 6, 2, 12, 0, 0, 123_000_000, time.UTC)
			if k.ExpiresAt == nil || !k.ExpiresAt.Equal(want) || k.ExpiresAt.Location() != time.UTC {
				t.Fatalf("expires_at = %v, want %v in UTC", k.ExpiresAt, want)
			}
		}},
		{name: "expiry in another zone is stored in UTC", body: `{"name":"k","expires_at":"2025-06-02T14:00:00+02:00"}`, check: func(t *testing.T, k *Key) {
			if k.ExpiresAt == nil || k.ExpiresAt.Location() != time.UTC || k.ExpiresAt.Hour() != 12 {
				t.Fatalf("expires_at = %v", k.ExpiresAt)
			}
		}},
		{name: "expiry within max lifetime", body: `{"name":"k","expires_at":` + dtAt(time.Hour) + `}`,
			env: dtEnv(func(a *Account) { a.MaxKeyLifetime = dtI64(3600) }), check: func(t *testing.T, k *Key) {
				if k.ExpiresAt == nil || !k.ExpiresAt.Equal(dtNow.Add(time.Hour)) {
					t.Fatalf("expires_at = %v", k.ExpiresAt)
				}
			}},
		{name: "default key lifetime", body: `{"name":"k"}`, env: dtEnv(func(a *Account) { a.DefaultKeyLifetime = dtI64(86400) }),
			check: func(t *testing.T, k *Key) {
				if k.ExpiresAt == nil || !k.ExpiresAt.Equal(dtNow.Add(24*time.Hour)) {
					t.Fatalf("expires_at = %v, want now+1d", k.ExpiresAt)
				}
			}},
		{name: "default key lifetime satisfies require_expiry", body: `{"name":"k"}`,
			env: dtEnv(func(a *Account) { a.DefaultKeyLifetime = dtI64(60); a.RequireExpiry = true }), check: func(t *testing.T, k *Key) {
				if k.ExpiresAt == nil {
					t.Fatal("no expiry")
				}
			}},
		{name: "clear_expires_at overrides default lifetime", body: `{"name":"k","clear_expires_at":true}`,
			env: dtEnv(func(a *Account) { a.DefaultKeyLifetime = dtI64(60) }), check: func(t *testing.T, k *Key) {
				if k.ExpiresAt != nil {
					t.Fatalf("expires_at = %v", k.ExpiresAt)
				}
			}},
		{name: "explicit expiry beats default lifetime", body: `{"name":"k","expires_at":` + dtAt(time.Minute) + `}`,
			env: dtEnv(func(a *Account) { a.DefaultKeyLifetime = dtI64(86400) }), check: func(t *testing.T, k *Key) {
				if k.ExpiresAt == nil || !k.ExpiresAt.Equal(dtNow.Add(time.Minute)) {
					t.Fatalf("expires_at = %v", k.ExpiresAt)
				}
			}},
		{name: "metadata compacted", body: `{"name":"k","metadata":{"a": { "b" : [1, 2] }, "s":"x", "n":null}}`, check: func(t *testing.T, k *Key) {
			want := map[string]json.RawMessage{"a": dtRaw(`{"b":[1,2]}`), "s": dtRaw(`"x"`), "n": dtRaw(`null`)}
			if !reflect.DeepEqual(k.Metadata, want) {
				t.Fatalf("metadata = %s", dtJSON(k.Metadata))
			}
		}},
		{name: "empty metadata is none", body: `{"name":"k","metadata":{}}`, check: func(t *testing.T, k *Key) {
			if k.Metadata != nil {
				t.Fatalf("metadata = %#v, want nil", k.Metadata)
			}
		}},
		{name: "ip allowlist normalised", body: `{"name":"k","ip_allowlist":["10.0.0.1","10.1.2.3/8","::1","2001:db8::1/32","::ffff:10.9.8.7","10.0.0.1/32","10.0.0.0/8"]}`,
			check: func(t *testing.T, k *Key) {
				want := []string{"10.0.0.1/32", "10.0.0.0/8", "::1/128", "2001:db8::/32", "10.9.8.7/32"}
				if !slices.Equal(k.IPAllowlist, want) {
					t.Fatalf("ip_allowlist = %q, want %q", k.IPAllowlist, want)
				}
			}},
		{name: "empty ip allowlist is any", body: `{"name":"k","ip_allowlist":[]}`, check: func(t *testing.T, k *Key) {
			if k.IPAllowlist != nil {
				t.Fatalf("ip_allowlist = %#v, want nil (any address)", k.IPAllowlist)
			}
		}},

		// Failures.
		{name: "name absent", body: `{}`, fields: []string{"name"}},
		{name: "name null", body: `{"name":null}`, fields: []string{"name"}},
		{name: "name empty", body: `{"name":""}`, fields: []string{"name"}},
		{name: "name blank", body: `{"name":" \t "}`, fields: []string{"name"}},
		{name: "name too long", body: `{"name":"` + strings.Repeat("é", MaxNameLen+1) + `"}`, fields: []string{"name"}},
		{name: "name with newline", body: `{"name":"a\nb"}`, fields: []string{"name"}},
		{name: "name with NUL", body: `{"name":"a\u0000b"}`, fields: []string{"name"}},
		{name: "name with DEL", body: `{"name":"a\u007fb"}`, fields: []string{"name"}},
		{name: "name invalid UTF-8", in: &KeyFields{Name: Some("a\xffb")}, fields: []string{"name"}},
		{name: "description too long", body: `{"name":"k","description":"` + strings.Repeat("d", MaxDescriptionLen+1) + `"}`, fields: []string{"description"}},
		{name: "description with bell", body: `{"name":"k","description":"a\u0007"}`, fields: []string{"description"}},
		{name: "status revoked", body: `{"name":"k","status":"revoked"}`, fields: []string{"status"}},
		{name: "status unknown", body: `{"name":"k","status":"paused"}`, fields: []string{"status"}},
		{name: "status null", body: `{"name":"k","status":null}`, fields: []string{"status"}},
		{name: "kind management on the API route", body: `{"name":"k","kind":"management"}`, fields: []string{"kind"}},
		{name: "kind null", body: `{"name":"k","kind":null}`, fields: []string{"kind"}},
		{name: "prefix upper case", body: `{"name":"k","prefix":"Acme"}`, fields: []string{"prefix"}},
		{name: "prefix empty", body: `{"name":"k","prefix":""}`, fields: []string{"prefix"}},
		{name: "prefix null", body: `{"name":"k","prefix":null}`, fields: []string{"prefix"}},
		{name: "prefix too long", body: `{"name":"k","prefix":"abcdefghijklmnopq"}`, fields: []string{"prefix"}},
		{name: "unknown user", body: `{"name":"k","owner":{"type":"user","id":"usr_01HZX3K8Q4W2N5R7T9V0B1C2DZ"}}`, fields: []string{"owner.id"}},
		{name: "unknown owner type", body: `{"name":"k","owner":{"type":"team","id":"x"}}`, fields: []string{"owner.type"}},
		{name: "another account as owner", body: `{"name":"k","owner":{"type":"account","id":"acc_01HZX3K8Q4W2N5R7T9V0B1C2DZ"}}`, fields: []string{"owner.id"}},
		{name: "owner null", body: `{"name":"k","owner":null}`, fields: []string{"owner"}},
		{name: "recoverable without master key", body: `{"name":"k","recoverable":true}`, fields: []string{"recoverable"}},
		{name: "recoverable null", body: `{"name":"k","recoverable":null}`, env: dtMasterKey(dtEnv()), fields: []string{"recoverable"}},
		{name: "legacy id empty", body: `{"name":"k","legacy_key_id":""}`, fields: []string{"legacy_key_id"}},
		{name: "legacy id too long", body: `{"name":"k","legacy_key_id":"` + strings.Repeat("x", MaxLegacyIDLen+1) + `"}`, fields: []string{"legacy_key_id"}},
		{name: "permission mode unknown", body: `{"name":"k","permission_mode":"admin"}`, fields: []string{"permission_mode"}},
		{name: "permission mode null", body: `{"name":"k","permission_mode":null}`, fields: []string{"permission_mode"}},
		{name: "restricted without scopes or roles", body: `{"name":"k","permission_mode":"restricted"}`, fields: []string{"permission_mode"}},
		{name: "account default restricted without scopes", body: `{"name":"k"}`,
			env: dtEnv(func(a *Account) { a.DefaultPermissionMode = ModeRestricted }), fields: []string{"permission_mode"}},
		{name: "scopes with mode all", body: `{"name":"k","permission_mode":"all","scopes":[]}`, fields: []string{"scopes"}},
		{name: "scopes with default mode", body: `{"name":"k","scopes":[{"resource":"docs","access":"read"}]}`, fields: []string{"scopes"}},
		{name: "roles with read_only", body: `{"name":"k","permission_mode":"read_only","roles":["reader"]}`, fields: []string{"roles"}},
		{name: "scopes null", body: `{"name":"k","permission_mode":"restricted","scopes":null}`, fields: []string{"scopes"}},
		{name: "roles null", body: `{"name":"k","permission_mode":"restricted","scopes":[],"roles":null}`, fields: []string{"roles"}},
		{name: "unknown role", body: `{"name":"k","permission_mode":"restricted","roles":["reader","ghost"]}`, fields: []string{"roles[1]"}},
		{name: "too many roles", body: `{"name":"k","permission_mode":"restricted","roles":` + dtJSON(dtNames("role", MaxRoles+1)) + `}`, fields: []string{"roles"}},
		{name: "as many roles as allowed", body: `{"name":"k","permission_mode":"restricted","roles":` + dtJSON(dtNames("role", MaxRoles)) + `}`, check: func(t *testing.T, k *Key) {}},
		{name: "scope on unknown resource", body: `{"name":"k","permission_mode":"restricted","scopes":[{"resource":"ghost","access":"read"}]}`, fields: []string{"scopes[0].resource"}},
		{name: "scope on protected resource", body: `{"name":"k","permission_mode":"restricted","scopes":[{"resource":"billing","access":"read"}]}`, fields: []string{"scopes[0].resource"}},
		{name: "scope with unsupported access", body: `{"name":"k","permission_mode":"restricted","scopes":[{"resource":"docs","access":"read"},{"resource":"search","access":"write"}]}`, fields: []string{"scopes[1].access"}},
		{name: "scope with unknown access", body: `{"name":"k","permission_mode":"restricted","scopes":[{"resource":"docs","access":"admin"}]}`, fields: []string{"scopes[0].access"}},
		{name: "all-only resource on a single-project key", body: `{"name":"k","project_id":"` + dtProjectID + `","permission_mode":"restricted","scopes":[{"resource":"usage","access":"read"}]}`,
			fields: []string{"scopes[0].resource"}},
		{name: "permissions on an API key", body: `{"name":"k","permissions":["keys:read"]}`, fields: []string{"permissions"}},
		{name: "project id malformed", body: `{"name":"k","project_id":"p1"}`, fields: []string{"project_id"}},
		{name: "project unknown", body: `{"name":"k","project_id":"` + dtOtherPrj + `"}`, fields: []string{"project_id"}},
		{name: "expiry in the past", body: `{"name":"k","expires_at":` + dtAt(-time.Second) + `}`, fields: []string{"expires_at"}},
		{name: "expiry now", body: `{"name":"k","expires_at":` + dtAt(0) + `}`, fields: []string{"expires_at"}},
		{name: "expiry beyond max lifetime", body: `{"name":"k","expires_at":` + dtAt(time.Hour+time.Millisecond) + `}`,
			env: dtEnv(func(a *Account) { a.MaxKeyLifetime = dtI64(3600) }), fields: []string{"expires_at"}},
		{name: "no expiry beyond max lifetime", body: `{"name":"k"}`,
			env: dtEnv(func(a *Account) { a.MaxKeyLifetime = dtI64(3600) }), fields: []string{"expires_at"}},
		{name: "require_expiry without expiry", body: `{"name":"k"}`, env: dtEnv(func(a *Account) { a.RequireExpiry = true }), fields: []string{"expires_at"}},
		{name: "require_expiry with null expiry", body: `{"name":"k","expires_at":null}`, env: dtEnv(func(a *Account) { a.RequireExpiry = true }), fields: []string{"expires_at"}},
		{name: "require_expiry with clear_expires_at", body: `{"name":"k","clear_expires_at":true}`,
			env: dtEnv(func(a *Account) { a.RequireExpiry = true; a.DefaultKeyLifetime = dtI64(60) }), fields: []string{"expires_at"}},
		{name: "clear_expires_at with expires_at", body: `{"name":"k","clear_expires_at":true,"expires_at":` + dtAt(time.Hour) + `}`, fields: []string{"clear_expires_at"}},
		{name: "clear_expires_at null", body: `{"name":"k","clear_expires_at":null}`, fields: []string{"clear_expires_at"}},
		{name: "metadata with too many members", body: `{"name":"k","metadata":` + dtMetadata(MaxMetadataKeys+1, 1) + `}`, fields: []string{"metadata"}},
		{name: "metadata at member limit", body: `{"name":"k","metadata":` + dtMetadata(MaxMetadataKeys, 1) + `}`, check: func(t *testing.T, k *Key) {}},
		{name: "metadata too large", body: `{"name":"k","metadata":` + dtMetadata(2, MaxMetadataBytes/2) + `}`, fields: []string{"metadata"}},
		{name: "metadata empty member name", body: `{"name":"k","metadata":{"":1}}`, fields: []string{"metadata"}},
		{name: "metadata not JSON", in: &KeyFields{Name: Some("k"), Metadata: Some(map[string]json.RawMessage{"a": dtRaw("{")})}, fields: []string{"metadata"}},
		{name: "ip allowlist entries", body: `{"name":"k","ip_allowlist":["nope","10.0.0.1","10.0.0.0/33","1.2.3.4/-1",""]}`,
			fields: []string{"ip_allowlist[0]", "ip_allowlist[2]", "ip_allowlist[3]", "ip_allowlist[4]"}},
		{name: "ip allowlist too long", body: `{"name":"k","ip_allowlist":` + dtJSON(dtIPs(MaxIPAllowlist+1)) + `}`, fields: []string{"ip_allowlist"}},
		{name: "ip allowlist at limit", body: `{"name":"k","ip_allowlist":` + dtJSON(dtIPs(MaxIPAllowlist)) + `}`, check: func(t *testing.T, k *Key) {
			if len(k.IPAllowlist) != MaxIPAllowlist {
				t.Fatalf("%d entries", len(k.IPAllowlist))
			}
		}},
		{name: "rate limit", body: `{"name":"k","rate_limit":{"limit":10,"window":60}}`},
		{name: "rate limit 0", body: `{"name":"k","rate_limit":{"limit":0,"window":60}}`, fields: []string{"rate_limit.limit"}},
		{name: "rate limit window 0", body: `{"name":"k","rate_limit":{"limit":1,"window":0}}`, fields: []string{"rate_limit.window"}},
		{name: "rate limit window too long", body: `{"name":"k","rate_limit":{"limit":1,"window":2678401}}`, fields: []string{"rate_limit.window"}},
		{name: "credits", body: `{"name":"k","credits":{"remaining":10,"refill":null}}`},
		{name: "credits with refill", body: `{"name":"k","credits":{"remaining":10,"refill":{"amount":100,"interval":3600}}}`},
		{name: "credits negative", body: `{"name":"k","credits":{"remaining":-1,"refill":null}}`, fields: []string{"credits.remaining"}},
		{name: "credits refill 0", body: `{"name":"k","credits":{"remaining":1,"refill":{"amount":0,"interval":0}}}`, fields: []string{"credits.refill.amount", "credits.refill.interval"}},
		{name: "every problem at once", body: `{"name":"","status":"revoked","prefix":"X","kind":"management","recoverable":true,"expires_at":` + dtAt(-time.Hour) + `,"ip_allowlist":["x"]}`,
			fields: []string{"name", "status", "prefix", "kind", "recoverable", "expires_at", "ip_allowlist[0]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewKey(KindAPI, tc.input(t), tc.environment())
			tc.verdict(t, k, true, err)
		})
	}
}

func TestDtNewKeyManagement(t *testing.T) {
	tests := []dtRuleCase{
		{name: "minimal", body: `{"name":"m","permissions":["keys:read","keys:write","keys:read"]}`, check: func(t *testing.T, k *Key) {
			want := &Key{Kind: KindManagement, AccountID: dtAccountID, Name: "m", Status: StatusActive, Prefix: DefaultManagementPrefix,
				Owner: Owner{Type: OwnerAccount, ID: dtAccountID}, Permissions: []string{"keys:read", "keys:write"}}
			if !reflect.DeepEqual(k, want) {
				t.Fatalf("key = %+v\nwant  %+v", k, want)
			}
		}},
		{name: "every account permission", body: `{"name":"m","permissions":` + dtJSON(dtAccountPerms()) + `}`, check: func(t *testing.T, k *Key) {
			if !slices.Equal(k.Permissions, dtAccountPerms()) {
				t.Fatalf("permissions = %v", k.Permissions)
			}
		}},
		{name: "own prefix", body: `{"name":"m","prefix":"ops","permissions":["keys:read"]}`, check: func(t *testing.T, k *Key) {
			if k.Prefix != "ops" {
				t.Fatalf("prefix %q", k.Prefix)
			}
		}},
		{name: "kind management", body: `{"name":"m","kind":"management","permissions":["keys:read"]}`, check: func(t *testing.T, k *Key) {}},
		{name: "permissions absent", body: `{"name":"m"}`, fields: []string{"permissions"}},
		{name: "permissions empty", body: `{"name":"m","permissions":[]}`, fields: []string{"permissions"}},
		{name: "permissions null", body: `{"name":"m","permissions":null}`, fields: []string{"permissions"}},
		{name: "unknown permission", body: `{"name":"m","permissions":["keys:read","keys:admin"]}`, fields: []string{"permissions[1]"}},
		{name: "catalog resource as permission", body: `{"name":"m","permissions":["docs:read"]}`, fields: []string{"permissions[0]"}},
		{name: "operator-only permission", body: `{"name":"m","permissions":["accounts:read","accounts:write"]}`, fields: []string{"permissions[0]", "permissions[1]"}},
		{name: "kind api", body: `{"name":"m","kind":"api","permissions":["keys:read"]}`, fields: []string{"kind"}},
		{name: "user owner", body: `{"name":"m","permissions":["keys:read"],"owner":{"type":"user","id":"` + dtUserID + `"}}`, fields: []string{"owner.type"}},
		{name: "API key fields", body: `{"name":"m","permissions":["keys:read"],"permission_mode":"all","scopes":[],"roles":[],"project_id":"` + dtProjectID + `"}`,
			fields: []string{"permission_mode", "scopes", "roles", "project_id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewKey(KindManagement, tc.input(t), tc.environment())
			tc.verdict(t, k, true, err)
		})
	}
}

// Null targets are refused by the decoder, before the rules; absent
// targets mean every object.
func TestDtScopeTargetsDecoding(t *testing.T) {
	var in KeyFields
	if err := json.Unmarshal([]byte(`{"scopes":[{"resource":"docs","access":"read","targets":null}]}`), &in); err == nil {
		t.Fatal("null targets decoded")
	}
	in = *dtFields(t, `{"scopes":[{"resource":"docs","access":"read"},{"resource":"files","access":"read","targets":[]}]}`)
	want := []Scope{dtScope("docs", AccessRead), {Resource: "files", Access: AccessRead, Targets: []string{}}}
	if !reflect.DeepEqual(in.Scopes.Value, want) {
		t.Fatalf("scopes = %#v, want %#v", in.Scopes.Value, want)
	}
	if err := json.Unmarshal([]byte(`{"scopes":[{"resource":"docs","access":"read","extra":1}]}`), &in); err == nil {
		t.Fatal("unknown scope member decoded")
	}
}

// A failing lookup is the server's problem, not a validation error.
func TestDtNewKeyLookupFailure(t *testing.T) {
	boom := errors.New("dt: database down")
	env := dtEnv()
	env.OwnerExists = func(Owner) (bool, error) { return false, boom }
	env.ProjectExists = func(string) (bool, error) { return false, boom }
	env.RoleScopes = func(string) ([]Scope, bool, error) { return nil, false, boom }
	for _, body := range []string{
		`{"name":"k","owner":{"type":"user","id":"` + dtUserID + `"}}`,
		`{"name":"k","project_id":"` + dtProjectID + `"}`,
		`{"name":"k","permission_mode":"restricted","roles":["reader"]}`,
		`{"name":"","project_id":"` + dtProjectID + `"}`,
	} {
		_, err := NewKey(KindAPI, dtFields(t, body), env)
		if !errors.Is(err, boom) {
			t.Errorf("%s: err = %v, want the lookup failure", body, err)
		}
	}
}

// dtAPIKey is a stored API key with every optional field set.
func dtAPIKey() *Key {
	exp := dtNow.Add(24 * time.Hour)
	return &Key{
		ID: dtKeyID, AccountID: dtAccountID, Kind: KindAPI, Name: "k", Description: dtStr("d"), Status: StatusActive,
		Prefix: "kw", Start: "kw_abcd", Last4: "wxyz", Owner: Owner{Type: OwnerAccount, ID: dtAccountID},
		PermissionMode: ModeAll, ExpiresAt: &exp, Metadata: map[string]json.RawMessage{"a": dtRaw(`1`)},
		IPAllowlist: []string{"10.0.0.0/8"}, LegacyKeyID: dtStr("legacy-1"),
		CreatedAt: dtNow.Add(-time.Hour), UpdatedAt: dtNow.Add(-time.Hour), CreatedByID: "key_x", UpdatedByID: "key_x", Version: 3,
	}
}

func dtRestrictedKey() *Key {
	k := dtAPIKey()
	k.PermissionMode = ModeRestricted
	k.Scopes = []Scope{dtScope("docs", AccessRead), dtScope("usage", AccessRead)}
	k.Roles = []string{"reader"}
	return k
}

func dtMgmtKey() *Key {
	k := dtAPIKey()
	k.Kind, k.Prefix, k.PermissionMode = KindManagement, "kwm", ""
	k.Permissions = []string{PermKeysRead}
	return k
}

func dtWith(k *Key, f func(*Key)) *Key { f(k); return k }

type dtPatchCase struct {
	dtRuleCase
	cur *Key
}

func TestDtPatchKey(t *testing.T) {
	tests := []dtPatchCase{
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "empty is a no-op", body: `{}`, changed: dtFalse}},
		{cur: dtWith(dtAPIKey(), func(k *Key) { k.Status = StatusRevoked }), dtRuleCase: dtRuleCase{name: "empty on a revoked key", body: `{}`, changed: dtFalse}},
		{cur: dtWith(dtAPIKey(), func(k *Key) { k.Status = StatusRevoked }), dtRuleCase: dtRuleCase{name: "revoked key", body: `{"name":"x"}`, code: ECodeKeyRevoked}},
		{cur: dtWith(dtAPIKey(), func(k *Key) { k.Status = StatusRevoked }), dtRuleCase: dtRuleCase{name: "revoked to active", body: `{"status":"active"}`, code: ECodeKeyRevoked}},
		{cur: dtWith(dtAPIKey(), func(k *Key) { k.Status = StatusRevoked }), dtRuleCase: dtRuleCase{name: "revoked to revoked", body: `{"status":"revoked"}`, code: ECodeKeyRevoked}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "rename", body: `{"name":"new"}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if k.Name != "new" {
				t.Fatalf("name %q", k.Name)
			}
		}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "same values change nothing", changed: dtFalse,
			body: `{"name":"k","description":"d","status":"active","permission_mode":"all","metadata":{"a":1},"ip_allowlist":["10.1.1.1/8"],
				"expires_at":` + dtAt(24*time.Hour) + `,"kind":"api","prefix":"kw","owner":{"type":"account"},"recoverable":false,"legacy_key_id":"legacy-1","rate_limit":null,"credits":null}`}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "name null", body: `{"name":null}`, fields: []string{"name"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "status null", body: `{"status":null}`, fields: []string{"status"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "permission_mode null", body: `{"permission_mode":null}`, fields: []string{"permission_mode"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "description cleared", body: `{"description":null}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if k.Description != nil {
				t.Fatal("description kept")
			}
		}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "description replaced", body: `{"description":"e"}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if k.Description == nil || *k.Description != "e" {
				t.Fatal("description not replaced")
			}
		}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "disable", body: `{"status":"disabled"}`, changed: dtTrue, check: dtStatus(StatusDisabled)}},
		{cur: dtWith(dtAPIKey(), func(k *Key) { k.Status = StatusDisabled }), dtRuleCase: dtRuleCase{name: "enable", body: `{"status":"active"}`, changed: dtTrue, check: dtStatus(StatusActive)}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "revoke active", body: `{"status":"revoked"}`, changed: dtTrue, check: dtStatus(StatusRevoked)}},
		{cur: dtWith(dtAPIKey(), func(k *Key) { k.Status = StatusDisabled }), dtRuleCase: dtRuleCase{name: "revoke disabled", body: `{"status":"revoked"}`, changed: dtTrue, check: dtStatus(StatusRevoked)}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "status unknown", body: `{"status":"paused"}`, fields: []string{"status"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "expiry cleared by null", body: `{"expires_at":null}`, changed: dtTrue, check: dtNoExpiry}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "expiry cleared by clear_expires_at", body: `{"clear_expires_at":true}`, changed: dtTrue, check: dtNoExpiry}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "clear_expires_at false", body: `{"clear_expires_at":false}`, changed: dtFalse}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "clear_expires_at with expires_at", body: `{"clear_expires_at":true,"expires_at":` + dtAt(time.Hour) + `}`, fields: []string{"clear_expires_at"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "clear_expires_at with null expires_at", body: `{"clear_expires_at":true,"expires_at":null}`, fields: []string{"clear_expires_at"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "expiry moved", body: `{"expires_at":` + dtAt(time.Hour) + `}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if k.ExpiresAt == nil || !k.ExpiresAt.Equal(dtNow.Add(time.Hour)) {
				t.Fatalf("expires_at %v", k.ExpiresAt)
			}
		}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "expiry in the past", body: `{"expires_at":` + dtAt(-time.Hour) + `}`, fields: []string{"expires_at"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "expiry beyond max lifetime", body: `{"expires_at":` + dtAt(2*time.Hour) + `}`,
			env: dtEnv(func(a *Account) { a.MaxKeyLifetime = dtI64(3600) }), fields: []string{"expires_at"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "clearing expiry under require_expiry", body: `{"expires_at":null}`,
			env: dtEnv(func(a *Account) { a.RequireExpiry = true }), fields: []string{"expires_at"}}},
		{cur: dtWith(dtAPIKey(), func(k *Key) { k.ExpiresAt = nil }), dtRuleCase: dtRuleCase{name: "require_expiry is not retroactive", body: `{"name":"n"}`,
			env: dtEnv(func(a *Account) { a.RequireExpiry = true; a.MaxKeyLifetime = dtI64(1) }), changed: dtTrue}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "metadata replaced wholesale", body: `{"metadata":{"b":2}}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if !reflect.DeepEqual(k.Metadata, map[string]json.RawMessage{"b": dtRaw("2")}) {
				t.Fatalf("metadata %s", dtJSON(k.Metadata))
			}
		}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "metadata cleared by {}", body: `{"metadata":{}}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if k.Metadata != nil {
				t.Fatal("metadata kept")
			}
		}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "metadata cleared by null", body: `{"metadata":null}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if k.Metadata != nil {
				t.Fatal("metadata kept")
			}
		}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "ip allowlist cleared by []", body: `{"ip_allowlist":[]}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if k.IPAllowlist != nil {
				t.Fatal("allowlist kept")
			}
		}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "ip allowlist cleared by null", body: `{"ip_allowlist":null}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if k.IPAllowlist != nil {
				t.Fatal("allowlist kept")
			}
		}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "ip allowlist replaced", body: `{"ip_allowlist":["192.168.1.7"]}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if !slices.Equal(k.IPAllowlist, []string{"192.168.1.7/32"}) {
				t.Fatalf("allowlist %v", k.IPAllowlist)
			}
		}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "credits value", body: `{"credits":{"remaining":1,"refill":null}}`}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "credits bad", body: `{"credits":{"remaining":1,"refill":{"amount":1,"interval":99999999}}}`, fields: []string{"credits.refill.interval"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "rate limit value", body: `{"rate_limit":{"limit":1,"window":1}}`}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "rate limit bad", body: `{"rate_limit":{"limit":-5,"window":1}}`, fields: []string{"rate_limit.limit"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "to restricted without scopes", body: `{"permission_mode":"restricted"}`, fields: []string{"permission_mode"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "to restricted with no scopes", body: `{"permission_mode":"restricted","scopes":[]}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if k.PermissionMode != ModeRestricted || k.Scopes == nil || len(k.Scopes) != 0 || k.Roles == nil || len(k.Roles) != 0 {
				t.Fatalf("mode %s scopes %#v roles %#v", k.PermissionMode, k.Scopes, k.Roles)
			}
		}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "to restricted with roles", body: `{"permission_mode":"restricted","roles":["reader"]}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if !slices.Equal(k.Roles, []string{"reader"}) || k.Scopes == nil || len(k.Scopes) != 0 {
				t.Fatalf("scopes %#v roles %#v", k.Scopes, k.Roles)
			}
		}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "scopes while mode stays all", body: `{"scopes":[]}`, fields: []string{"scopes"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "roles while mode stays all", body: `{"roles":[]}`, fields: []string{"roles"}}},
		{cur: dtRestrictedKey(), dtRuleCase: dtRuleCase{name: "restricted to all drops scopes and roles", body: `{"permission_mode":"all"}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if k.PermissionMode != ModeAll || k.Scopes != nil || k.Roles != nil {
				t.Fatalf("mode %s scopes %#v roles %#v", k.PermissionMode, k.Scopes, k.Roles)
			}
		}}},
		{cur: dtRestrictedKey(), dtRuleCase: dtRuleCase{name: "scopes to read_only", body: `{"permission_mode":"read_only","scopes":[]}`, fields: []string{"scopes"}}},
		{cur: dtRestrictedKey(), dtRuleCase: dtRuleCase{name: "scopes replaced, roles kept", body: `{"scopes":[{"resource":"files","access":"write","targets":["f1"]}]}`, changed: dtTrue,
			check: func(t *testing.T, k *Key) {
				if !reflect.DeepEqual(k.Scopes, []Scope{dtScope("files", AccessWrite, "f1")}) || !slices.Equal(k.Roles, []string{"reader"}) {
					t.Fatalf("scopes %v roles %v", k.Scopes, k.Roles)
				}
			}}},
		{cur: dtRestrictedKey(), dtRuleCase: dtRuleCase{name: "roles replaced, scopes kept", body: `{"roles":["writer"]}`, changed: dtTrue,
			check: func(t *testing.T, k *Key) {
				if len(k.Scopes) != 2 || !slices.Equal(k.Roles, []string{"writer"}) {
					t.Fatalf("scopes %v roles %v", k.Scopes, k.Roles)
				}
			}}},
		{cur: dtRestrictedKey(), dtRuleCase: dtRuleCase{name: "restricted stays restricted", body: `{"permission_mode":"restricted"}`, changed: dtFalse}},
		{cur: dtRestrictedKey(), dtRuleCase: dtRuleCase{name: "scopes null", body: `{"scopes":null}`, fields: []string{"scopes"}}},
		{cur: dtRestrictedKey(), dtRuleCase: dtRuleCase{name: "scoping to a project rechecks every scope", body: `{"project_id":"` + dtProjectID + `"}`, fields: []string{"scopes[1].resource"}}},
		{cur: dtRestrictedKey(), dtRuleCase: dtRuleCase{name: "bad scope", body: `{"scopes":[{"resource":"billing","access":"write"}]}`, fields: []string{"scopes[0].resource"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "project set", body: `{"project_id":"` + dtProjectID + `"}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if k.ProjectID == nil || *k.ProjectID != dtProjectID {
				t.Fatal("project not set")
			}
		}}},
		{cur: dtWith(dtAPIKey(), func(k *Key) { k.ProjectID = dtStr(dtProjectID) }), dtRuleCase: dtRuleCase{name: "project cleared", body: `{"project_id":null}`, changed: dtTrue,
			check: func(t *testing.T, k *Key) {
				if k.ProjectID != nil {
					t.Fatal("project kept")
				}
			}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "unknown project", body: `{"project_id":"` + dtOtherPrj + `"}`, fields: []string{"project_id"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "permissions on an API key", body: `{"permissions":["keys:read"]}`, fields: []string{"permissions"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "kind", body: `{"kind":"management"}`, fields: []string{"kind"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "kind null", body: `{"kind":null}`, fields: []string{"kind"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "prefix", body: `{"prefix":"other"}`, fields: []string{"prefix"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "owner type", body: `{"owner":{"type":"user","id":"` + dtUserID + `"}}`, fields: []string{"owner"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "owner id", body: `{"owner":{"type":"account","id":"acc_01HZX3K8Q4W2N5R7T9V0B1C2DZ"}}`, fields: []string{"owner"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "owner same", body: `{"owner":{"type":"account","id":"` + dtAccountID + `"}}`, changed: dtFalse}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "owner null", body: `{"owner":null}`, fields: []string{"owner"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "recoverable", body: `{"recoverable":true}`, env: dtMasterKey(dtEnv()), fields: []string{"recoverable"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "recoverable null", body: `{"recoverable":null}`, fields: []string{"recoverable"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "recoverable restated", body: `{"recoverable":false}`, changed: dtFalse}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "legacy id", body: `{"legacy_key_id":"other"}`, fields: []string{"legacy_key_id"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "legacy id null", body: `{"legacy_key_id":null}`, fields: []string{"legacy_key_id"}}},
		{cur: dtWith(dtAPIKey(), func(k *Key) { k.LegacyKeyID = nil }), dtRuleCase: dtRuleCase{name: "legacy id added", body: `{"legacy_key_id":"x"}`, fields: []string{"legacy_key_id"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "several problems", body: `{"name":null,"prefix":"zz","kind":"management","status":"x","ip_allowlist":["y"]}`,
			fields: []string{"name", "prefix", "kind", "status", "ip_allowlist[0]"}}},
		{cur: dtMgmtKey(), dtRuleCase: dtRuleCase{name: "management permissions replaced", body: `{"permissions":["keys:write","audit:read"]}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if !slices.Equal(k.Permissions, []string{"keys:write", "audit:read"}) {
				t.Fatalf("permissions %v", k.Permissions)
			}
		}}},
		{cur: dtMgmtKey(), dtRuleCase: dtRuleCase{name: "management rename keeps permissions", body: `{"name":"n"}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if !slices.Equal(k.Permissions, []string{PermKeysRead}) {
				t.Fatalf("permissions %v", k.Permissions)
			}
		}}},
		{cur: dtMgmtKey(), dtRuleCase: dtRuleCase{name: "management permissions empty", body: `{"permissions":[]}`, fields: []string{"permissions"}}},
		{cur: dtMgmtKey(), dtRuleCase: dtRuleCase{name: "management permissions null", body: `{"permissions":null}`, fields: []string{"permissions"}}},
		{cur: dtMgmtKey(), dtRuleCase: dtRuleCase{name: "management operator permission", body: `{"permissions":["accounts:write"]}`, fields: []string{"permissions[0]"}}},
		{cur: dtWith(dtMgmtKey(), func(k *Key) { k.Operator, k.AccountID = true, "" }), dtRuleCase: dtRuleCase{name: "operator key may hold account permissions",
			body: `{"permissions":["accounts:write","accounts:read"]}`, changed: dtTrue}},
		{cur: dtMgmtKey(), dtRuleCase: dtRuleCase{name: "management API fields", body: `{"scopes":[],"project_id":null,"permission_mode":"all","roles":[]}`,
			fields: []string{"scopes", "project_id", "permission_mode", "roles"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.cur.Clone()
			next, changed, err := PatchKey(tc.cur, tc.input(t), tc.environment())
			if !reflect.DeepEqual(before, tc.cur) {
				t.Fatalf("PatchKey changed the current key:\n%+v\nwas\n%+v", tc.cur, before)
			}
			tc.verdict(t, next, changed, err)
			if err == nil && !changed && !reflect.DeepEqual(next, tc.cur) {
				t.Fatalf("unchanged PATCH returned a different key:\n%+v\nwant\n%+v", next, tc.cur)
			}
			if err == nil && changed {
				for _, f := range []struct{ got, want any }{{next.ID, tc.cur.ID}, {next.Version, tc.cur.Version}, {next.CreatedAt, tc.cur.CreatedAt}, {next.Start, tc.cur.Start}} {
					if f.got != f.want {
						t.Fatalf("PatchKey changed a field the rules do not own: %v, was %v", f.got, f.want)
					}
				}
			}
		})
	}
}

func dtStatus(s KeyStatus) func(t *testing.T, k *Key) {
	return func(t *testing.T, k *Key) {
		t.Helper()
		if k.Status != s {
			t.Fatalf("status = %s, want %s", k.Status, s)
		}
	}
}

func dtNoExpiry(t *testing.T, k *Key) {
	t.Helper()
	if k.ExpiresAt != nil {
		t.Fatalf("expires_at = %v, want none", k.ExpiresAt)
	}
}

func TestDtReplaceKey(t *testing.T) {
	// The key a new key created from {"name":"k"} would be, stored.
	fresh := func(env *KeyEnv) *Key {
		k, err := NewKey(KindAPI, &KeyFields{Name: Some("k")}, env)
		if err != nil {
			panic(err)
		}
		k.ID, k.Version = dtKeyID, 1
		return k
	}
	disabledRestricted := dtWith(dtRestrictedKey(), func(k *Key) {
		k.Status = StatusDisabled
		k.ProjectID = dtStr(dtProjectID)
		k.Scopes = []Scope{dtScope("docs", AccessRead)}
	})
	tests := []dtPatchCase{
		{cur: dtWith(dtAPIKey(), func(k *Key) { k.Status = StatusRevoked }), dtRuleCase: dtRuleCase{name: "revoked", body: `{"name":"k"}`, code: ECodeKeyRevoked}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "name absent", body: `{"description":"x"}`, fields: []string{"name"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "name null", body: `{"name":null}`, fields: []string{"name"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "empty body", body: `{}`, fields: []string{"name"}}},
		{cur: disabledRestricted, dtRuleCase: dtRuleCase{name: "omitted fields reset", body: `{"name":"k2"}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			want := dtWith(disabledRestricted.Clone(), func(w *Key) {
				w.Name, w.Description, w.Status, w.ProjectID, w.PermissionMode = "k2", nil, StatusActive, nil, ModeAll
				w.Scopes, w.Roles, w.ExpiresAt, w.Metadata, w.IPAllowlist = nil, nil, nil, nil, nil
			})
			if !reflect.DeepEqual(k, want) {
				t.Fatalf("key =\n%+v\nwant\n%+v", k, want)
			}
		}}},
		{cur: disabledRestricted, dtRuleCase: dtRuleCase{name: "omitted fields take the account defaults", body: `{"name":"k"}`, changed: dtTrue,
			env: dtEnv(func(a *Account) { a.DefaultPermissionMode = ModeReadOnly; a.DefaultKeyLifetime = dtI64(3600) }), check: func(t *testing.T, k *Key) {
				if k.PermissionMode != ModeReadOnly || k.ExpiresAt == nil || !k.ExpiresAt.Equal(dtNow.Add(time.Hour)) {
					t.Fatalf("mode %s expires_at %v", k.PermissionMode, k.ExpiresAt)
				}
			}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "clear_expires_at beats the default lifetime", body: `{"name":"k","clear_expires_at":true}`,
			env: dtEnv(func(a *Account) { a.DefaultKeyLifetime = dtI64(3600) }), check: dtNoExpiry}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "require_expiry", body: `{"name":"k"}`,
			env: dtEnv(func(a *Account) { a.RequireExpiry = true }), fields: []string{"expires_at"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "account default restricted needs scopes", body: `{"name":"k"}`,
			env: dtEnv(func(a *Account) { a.DefaultPermissionMode = ModeRestricted }), fields: []string{"permission_mode"}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "restricted without scopes or roles", body: `{"name":"k","permission_mode":"restricted"}`, fields: []string{"permission_mode"}}},
		{cur: dtRestrictedKey(), dtRuleCase: dtRuleCase{name: "restricted with scopes only clears roles", body: `{"name":"k","permission_mode":"restricted","scopes":[{"resource":"files","access":"read"}]}`,
			changed: dtTrue, check: func(t *testing.T, k *Key) {
				if !reflect.DeepEqual(k.Scopes, []Scope{dtScope("files", AccessRead)}) || k.Roles == nil || len(k.Roles) != 0 {
					t.Fatalf("scopes %v roles %#v", k.Scopes, k.Roles)
				}
			}}},
		{cur: dtRestrictedKey(), dtRuleCase: dtRuleCase{name: "restricted with roles only clears scopes", body: `{"name":"k","permission_mode":"restricted","roles":["writer"]}`,
			changed: dtTrue, check: func(t *testing.T, k *Key) {
				if k.Scopes == nil || len(k.Scopes) != 0 || !slices.Equal(k.Roles, []string{"writer"}) {
					t.Fatalf("scopes %#v roles %v", k.Scopes, k.Roles)
				}
			}}},
		{cur: dtRestrictedKey(), dtRuleCase: dtRuleCase{name: "scopes without mode", body: `{"name":"k","scopes":[]}`, fields: []string{"scopes"}}},
		{cur: fresh(dtEnv()), dtRuleCase: dtRuleCase{name: "the state a new key gets changes nothing", body: `{"name":"k"}`, changed: dtFalse}},
		{cur: fresh(dtEnv()), dtRuleCase: dtRuleCase{name: "every field stated", changed: dtTrue, body: `{"name":"k","description":"d","status":"disabled","project_id":"` + dtProjectID + `",
			"permission_mode":"restricted","scopes":[{"resource":"docs","access":"read"}],"roles":["reader"],"expires_at":` + dtAt(time.Hour) + `,
			"metadata":{"m":true},"ip_allowlist":["::1"],"rate_limit":null,"credits":null}`, check: func(t *testing.T, k *Key) {
			if *k.Description != "d" || k.Status != StatusDisabled || *k.ProjectID != dtProjectID || len(k.Scopes) != 1 || len(k.Roles) != 1 ||
				k.ExpiresAt == nil || len(k.Metadata) != 1 || !slices.Equal(k.IPAllowlist, []string{"::1/128"}) {
				t.Fatalf("key = %+v", k)
			}
		}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "immutables may be restated", body: `{"name":"k","kind":"api","prefix":"kw","owner":{"type":"account","id":"` + dtAccountID + `"},"legacy_key_id":"legacy-1"}`,
			check: func(t *testing.T, k *Key) {
				if k.LegacyKeyID == nil || *k.LegacyKeyID != "legacy-1" || k.Prefix != "kw" {
					t.Fatalf("immutables changed: %+v", k)
				}
			}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "omitted immutables are kept", body: `{"name":"k"}`, check: func(t *testing.T, k *Key) {
			if k.LegacyKeyID == nil || k.Prefix != "kw" || k.Owner.ID != dtAccountID || k.Kind != KindAPI {
				t.Fatalf("immutables changed: %+v", k)
			}
		}}},
		{cur: dtAPIKey(), dtRuleCase: dtRuleCase{name: "immutables changed", body: `{"name":"k","prefix":"zz","owner":{"type":"user","id":"` + dtUserID + `"}}`, fields: []string{"prefix", "owner"}}},
		{cur: dtMgmtKey(), dtRuleCase: dtRuleCase{name: "management key with permissions", body: `{"name":"m","permissions":["audit:read"]}`, changed: dtTrue, check: func(t *testing.T, k *Key) {
			if !slices.Equal(k.Permissions, []string{"audit:read"}) || k.Description != nil || k.Metadata != nil || k.PermissionMode != "" || k.Scopes != nil {
				t.Fatalf("key %+v", k)
			}
		}}},
		// permissions is required on a new management key; a full
		// replacement that omits it states no permissions, so it must be
		// refused like a missing name rather than keep the old value.
		{cur: dtMgmtKey(), dtRuleCase: dtRuleCase{name: "management key without permissions", body: `{"name":"m"}`, fields: []string{"permissions"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.cur.Clone()
			next, changed, err := ReplaceKey(tc.cur, tc.input(t), tc.environment())
			if !reflect.DeepEqual(before, tc.cur) {
				t.Fatalf("ReplaceKey changed the current key")
			}
			tc.verdict(t, next, changed, err)
		})
	}
}

// Empty must know every member of KeyFields: a member it forgets would
// turn a PATCH carrying only that member into a silent no-op.
func TestDtKeyFieldsEmpty(t *testing.T) {
	var zero KeyFields
	if !zero.Empty() {
		t.Fatal("zero KeyFields is not Empty")
	}
	typ := reflect.TypeFor[KeyFields]()
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		t.Run(f.Name, func(t *testing.T) {
			set, ok := f.Type.FieldByName("Set")
			if !ok || set.Type.Kind() != reflect.Bool {
				t.Fatalf("KeyFields.%s is %s, not a Field[T]", f.Name, f.Type)
			}
			for _, null := range []bool{false, true} {
				var in KeyFields
				fv := reflect.ValueOf(&in).Elem().Field(i)
				fv.FieldByName("Set").SetBool(true)
				fv.FieldByName("Null").SetBool(null)
				if in.Empty() {
					t.Fatalf("Empty() is true with only %s set (null=%v)", f.Name, null)
				}
			}
			// And the JSON member of the field makes a decoded body non-empty.
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			if name == "" {
				t.Fatalf("KeyFields.%s has no json name", f.Name)
			}
			if dtFields(t, `{"`+name+`":null}`).Empty() {
				t.Fatalf(`{"%s":null} decodes as Empty`, name)
			}
		})
	}
}

func TestDtCheckScopes(t *testing.T) {
	cat := dtCatalog()
	scopes := []Scope{
		dtScope("docs", AccessRead),                                                       // 0 fine
		{Resource: "", Access: AccessRead, Targets: []string{"*"}},                        // 1 resource required
		dtScope("ghost", AccessRead),                                                      // 2 not in catalog
		dtScope("billing", AccessRead),                                                    // 3 protected
		dtScope("search", AccessWrite),                                                    // 4 unsupported access
		dtScope("files", Access("admin")),                                                 // 5 unknown access
		{Resource: "files", Access: AccessRead, Targets: []string{}},                      // 6 empty targets
		{Resource: "events", Access: AccessWrite, Targets: []string{"*", "e1"}},           // 7 wildcard mixed
		{Resource: "docs", Access: AccessWrite, Targets: []string{"ok", "bad id", "a:b"}}, // 8 bad targets
		dtScope("docs", AccessRead, "d1"),                                                 // 9 duplicates 0
		dtScope("usage", AccessRead),                                                      // 10 fine for all projects
	}
	got := CheckScopes("roles[2].scopes", scopes, cat, false)
	var fields []string
	for _, fe := range got {
		fields = append(fields, fe.Field)
	}
	want := []string{
		"roles[2].scopes[1].resource", "roles[2].scopes[2].resource", "roles[2].scopes[3].resource",
		"roles[2].scopes[4].access", "roles[2].scopes[5].access", "roles[2].scopes[6].targets",
		"roles[2].scopes[7].targets[0]", "roles[2].scopes[8].targets[1]", "roles[2].scopes[8].targets[2]", "roles[2].scopes[9]",
	}
	if !slices.Equal(dtSorted(fields...), dtSorted(want...)) {
		t.Fatalf("fields = %q\nwant     %q", fields, want)
	}
	for _, fe := range got {
		if fe.Message == "" {
			t.Errorf("%s has no message", fe.Field)
		}
	}
	if fe := CheckScopes("scopes", []Scope{dtScope("usage", AccessRead)}, cat, true); len(fe) != 1 || fe[0].Field != "scopes[0].resource" {
		t.Fatalf("single-project usage: %v", fe)
	}
	if fe := CheckScopes("scopes", []Scope{dtScope("docs", AccessRead, dtNames("t", MaxTargets+1)...)}, cat, false); len(fe) != 1 || fe[0].Field != "scopes[0].targets" {
		t.Fatalf("too many targets: %v", fe)
	}
	if fe := CheckScopes("scopes", []Scope{dtScope("docs", AccessRead, dtNames("t", MaxTargets)...)}, cat, false); len(fe) != 0 {
		t.Fatalf("targets at the limit: %v", fe)
	}
	many := make([]Scope, MaxScopes+1)
	for i := range many {
		many[i] = dtScope("docs", AccessRead)
	}
	if fe := CheckScopes("scopes", many, cat, false); len(fe) != 1 || fe[0].Field != "scopes" {
		t.Fatalf("too many scopes: %v", fe)
	}
	if fe := CheckScopes("scopes", nil, cat, false); fe != nil {
		t.Fatalf("no scopes: %v", fe)
	}
}

func TestDtCheckText(t *testing.T) {
	tests := []struct {
		s        string
		max      int
		required bool
		bad      bool
	}{
		{"name", 10, true, false},
		{"", 10, true, true},
		{"", 10, false, false},
		{"   ", 10, true, true},
		{"   ", 10, false, false},
		{"ééééé", 5, true, false},
		{"éééééé", 5, true, true},
		{"a\tb", 10, true, false},
		{"a\nb", 10, true, true},
		{"a\nb", 10, false, false},
		{"a\rb", 10, false, true},
		{"a\x00b", 10, false, true},
		{"a\u0085b", 10, false, true}, // NEL is a control character
		{"a\xffb", 10, false, true},
		{"日本語の名前", 6, true, false},
	}
	for _, tc := range tests {
		msg := CheckText(tc.s, tc.max, tc.required)
		if (msg != "") != tc.bad {
			t.Errorf("CheckText(%q, %d, %v) = %q, want bad=%v", tc.s, tc.max, tc.required, msg, tc.bad)
		}
	}
}

func TestDtParseAllowEntry(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"10.0.0.1", "10.0.0.1/32"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"10.1.2.3/32", "10.1.2.3/32"},
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"::1", "::1/128"},
		{"2001:db8::1/32", "2001:db8::/32"},
		{"2001:DB8::1", "2001:db8::1/128"},
		{"::/0", "::/0"},
		{"::ffff:10.9.8.7", "10.9.8.7/32"},
		// An IPv4-mapped prefix must match IPv4 clients: verification
		// unmaps client addresses, so the prefix must be unmapped too.
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"::ffff:10.1.2.3/128", "10.1.2.3/32"},
	}
	for _, tc := range tests {
		p, err := ParseAllowEntry(tc.in)
		if err != nil || p.String() != tc.want {
			t.Errorf("ParseAllowEntry(%q) = %v, %v; want %s", tc.in, p, err, tc.want)
		}
	}
	for _, bad := range []string{"", "nope", "10.0.0", "10.0.0.0/33", "::/129", "10.0.0.1/", "/8", "10.0.0.0/8/8", "1.2.3.4 ", "010.0.0.1"} {
		if p, err := ParseAllowEntry(bad); err == nil {
			t.Errorf("ParseAllowEntry(%q) = %v, want an error", bad, p)
		}
	}
}

func TestDtKeyFieldMap(t *testing.T) {
	api := KeyFieldMap(dtRestrictedKey())
	for _, name := range []string{"name", "description", "status", "prefix", "owner", "project_id", "permission_mode", "scopes", "roles", "expires_at", "metadata", "ip_allowlist", "rate_limit", "credits", "recoverable", "legacy_key_id"} {
		if _, ok := api[name]; !ok {
			t.Errorf("KeyFieldMap of an API key lacks %q", name)
		}
	}
	if _, ok := api["permissions"]; ok {
		t.Error("KeyFieldMap of an API key has permissions")
	}
	mgmt := KeyFieldMap(dtMgmtKey())
	if _, ok := mgmt["permissions"]; !ok {
		t.Error("KeyFieldMap of a management key lacks permissions")
	}
	for _, name := range []string{"scopes", "roles", "permission_mode", "project_id"} {
		if _, ok := mgmt[name]; ok {
			t.Errorf("KeyFieldMap of a management key has %q", name)
		}
	}
	if KeyFieldMap(nil) != nil {
		t.Error("KeyFieldMap(nil) is not nil")
	}
}

func dtJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func dtNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func dtIPs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.0.%d.%d", i/256, i%256)
	}
	return out
}

// dtMetadata returns a JSON object of n members, each a string of size bytes.
func dtMetadata(n, size int) string {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"m%d":"%s"`, i, strings.Repeat("v", size))
	}
	b.WriteByte('}')
	return b.String()
}

func dtAccountPerms() []string {
	var out []string
	for _, p := range ManagementPermissions() {
		if !p.OperatorOnly {
			out = append(out, p.ID)
		}
	}
	return out
}

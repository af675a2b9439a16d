package keyward

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// Issue 9, point 14: PUT and create take the same defaults for what the
// body omits (docs/api.md: "an omitted optional field takes the value a
// new key would get"). The old code applied them in two places, and a PUT
// with clear_expires_at: false kept the old expiry where a create got the
// account's default lifetime.
func TestDtReplaceTakesNewKeyDefaults(t *testing.T) {
	lifetime := func(a *Account) { a.DefaultKeyLifetime = dtI64(3600) }
	strict := func(a *Account) { a.DefaultKeyLifetime, a.MaxKeyLifetime = dtI64(3600), dtI64(7200) }
	restricted := func(a *Account) { a.DefaultPermissionMode = ModeRestricted }
	// A key with every member away from its default.
	cur := func(kind KeyKind) *Key {
		exp := dtNow.Add(90 * time.Minute)
		desc, prj := "d", dtProjectID
		k := &Key{ID: dtKeyID, AccountID: dtAccountID, Kind: kind, Name: "a", Description: &desc, Status: StatusDisabled,
			Prefix: "kw", Owner: Owner{Type: OwnerAccount, ID: dtAccountID}, ExpiresAt: &exp,
			Metadata: map[string]json.RawMessage{"a": json.RawMessage("1")}, IPAllowlist: []string{"10.0.0.1/32"}, Version: 3}
		if kind == KindAPI {
			k.ProjectID, k.PermissionMode, k.Scopes, k.Roles = &prj, ModeRestricted, []Scope{dtScope("docs", AccessRead)}, []string{"reader"}
			k.RateLimit = &RateLimit{Limit: 5, Window: 60}
			k.Credits = &Credits{Remaining: 9}
		} else {
			k.Prefix, k.Permissions = DefaultManagementPrefix, []string{PermKeysRead, PermKeysWrite}
		}
		return k
	}
	for _, c := range []struct {
		name string
		kind KeyKind
		mods []func(*Account)
		body string
	}{
		{"name only", KindAPI, nil, `{"name":"b"}`},
		{"name only, default lifetime", KindAPI, []func(*Account){lifetime}, `{"name":"b"}`},
		{"clear_expires_at false, default lifetime", KindAPI, []func(*Account){lifetime}, `{"name":"b","clear_expires_at":false}`},
		{"clear_expires_at true, default lifetime", KindAPI, []func(*Account){lifetime}, `{"name":"b","clear_expires_at":true}`},
		{"clear_expires_at true, max lifetime", KindAPI, []func(*Account){strict}, `{"name":"b","clear_expires_at":true}`},
		{"restricted account, scopes only", KindAPI, []func(*Account){restricted}, `{"name":"b","scopes":[]}`},
		{"restricted account, roles only", KindAPI, []func(*Account){restricted}, `{"name":"b","roles":["reader"]}`},
		{"restricted account, neither", KindAPI, []func(*Account){restricted}, `{"name":"b"}`},
		{"mode restricted, roles only", KindAPI, nil, `{"name":"b","permission_mode":"restricted","roles":["writer"]}`},
		{"status disabled", KindAPI, nil, `{"name":"b","status":"disabled"}`},
		{"no name", KindAPI, nil, `{"description":"x"}`},
		{"management, permissions", KindManagement, []func(*Account){lifetime}, `{"name":"b","permissions":["keys:read"]}`},
		{"management, no permissions", KindManagement, nil, `{"name":"b"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := dtEnv(c.mods...)
			created, cerr := NewKey(c.kind, dtFields(t, c.body), env)
			replaced, _, rerr := ReplaceKey(cur(c.kind), dtFields(t, c.body), env)
			if (cerr == nil) != (rerr == nil) {
				t.Fatalf("create: %v; PUT: %v", cerr, rerr)
			}
			if cerr != nil {
				if c, r := dtErrFields(t, cerr), dtErrFields(t, rerr); !reflect.DeepEqual(c, r) {
					t.Fatalf("create refused %v, PUT refused %v", c, r)
				}
				return
			}
			want, got := KeyFieldMap(created), KeyFieldMap(replaced)
			for _, same := range []string{"id", "owner", "prefix", "kind", "account_id", "recoverable", "legacy_key_id", "created_at", "updated_at",
				"created_by_id", "updated_by_id", "last_used_at", "rotated_at", "start", "last4", "operator"} {
				delete(want, same)
				delete(got, same)
			}
			if !reflect.DeepEqual(want, got) {
				t.Errorf("create and PUT with %s disagree:\ncreate %v\nPUT    %v", c.body, want, got)
			}
		})
	}
}

// Issue 9, point 15: field errors come in one order, whatever the run
// (a map range once decided it).
func TestDtFieldErrorOrderStable(t *testing.T) {
	body := `{"name":"m","permissions":["keys:read"],"project_id":"` + dtProjectID + `","permission_mode":"all","scopes":[],"roles":[]}`
	var first []FieldError
	for i := range 50 {
		_, err := NewKey(KindManagement, dtFields(t, body), dtEnv())
		e := AsError(err)
		if e.Code != ECodeValidation {
			t.Fatalf("NewKey: %v, want validation_failed", err)
		}
		if i == 0 {
			first = e.Fields
			continue
		}
		if !reflect.DeepEqual(e.Fields, first) {
			t.Fatalf("run %d: errors %v, run 0: %v", i, e.Fields, first)
		}
	}
	if len(first) != 4 {
		t.Fatalf("errors %v, want one per member", first)
	}
}

package keyward

import (
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const dtAcctDay = int64(24 * 3600)

// dtAcctCur is a stored account with every setting away from its default.
func dtAcctCur() *Account {
	return &Account{ID: dtAccountID, Name: "acme", DefaultPrefix: "acme", CatalogTemplate: TemplateOrq,
		DefaultPermissionMode: ModeRestricted, MaxKeyLifetime: dtI64(90 * dtAcctDay), RequireExpiry: true,
		DefaultKeyLifetime: dtI64(30 * dtAcctDay), CreatedAt: dtNow, UpdatedAt: dtNow, Version: 5}
}

func dtAcctClone(a *Account) *Account {
	c := *a
	if a.MaxKeyLifetime != nil {
		c.MaxKeyLifetime = dtI64(*a.MaxKeyLifetime)
	}
	if a.DefaultKeyLifetime != nil {
		c.DefaultKeyLifetime = dtI64(*a.DefaultKeyLifetime)
	}
	return &c
}

func TestDtApplyAccount(t *testing.T) {
	n := strconv.FormatInt
	maxS := n(MaxLifetimeSeconds, 10)
	over := n(MaxLifetimeSeconds+1, 10)
	created := func(f func(a *Account)) func(a *Account) {
		return func(a *Account) {
			a.DefaultPrefix, a.CatalogTemplate, a.DefaultPermissionMode = DefaultPrefix, TemplateDefault, ModeAll
			f(a)
		}
	}
	tests := []struct {
		name     string
		creating bool
		body     string
		fields   []string
		want     func(a *Account) // expected changes from the account before
	}{
		{name: "create with defaults", creating: true, body: `{"name":"acme"}`, want: created(func(a *Account) { a.Name = "acme" })},
		{name: "create every setting", creating: true,
			body: `{"name":"Acme é","default_prefix":"acme","catalog_template":"vectara","default_permission_mode":"read_only","max_key_lifetime":7776000,"require_expiry":true,"default_key_lifetime":86400}`,
			want: func(a *Account) {
				a.Name, a.DefaultPrefix, a.CatalogTemplate, a.DefaultPermissionMode = "Acme é", "acme", TemplateVectara, ModeReadOnly
				a.MaxKeyLifetime, a.RequireExpiry, a.DefaultKeyLifetime = dtI64(7776000), true, dtI64(86400)
			}},
		{name: "create with null lifetimes", creating: true, body: `{"name":"a","max_key_lifetime":null,"default_key_lifetime":null,"require_expiry":false}`,
			want: created(func(a *Account) { a.Name = "a" })},
		{name: "create without name", creating: true, body: `{}`, fields: []string{"name"}},
		{name: "create name null", creating: true, body: `{"name":null}`, fields: []string{"name"}},
		{name: "create name empty", creating: true, body: `{"name":""}`, fields: []string{"name"}},
		{name: "create name blank", creating: true, body: `{"name":"  "}`, fields: []string{"name"}},
		{name: "create name with newline", creating: true, body: `{"name":"a\nb"}`, fields: []string{"name"}},
		{name: "create name too long", creating: true, body: `{"name":"` + strings.Repeat("a", MaxNameLen+1) + `"}`, fields: []string{"name"}},
		{name: "create prefix 16 characters", creating: true, body: `{"name":"a","default_prefix":"a123456789abcdef"}`,
			want: created(func(a *Account) { a.Name, a.DefaultPrefix = "a", "a123456789abcdef" })},
		{name: "create prefix 17 characters", creating: true, body: `{"name":"a","default_prefix":"a123456789abcdefg"}`, fields: []string{"default_prefix"}},
		{name: "create prefix upper case", creating: true, body: `{"name":"a","default_prefix":"Acme"}`, fields: []string{"default_prefix"}},
		{name: "create prefix with underscore", creating: true, body: `{"name":"a","default_prefix":"ac_me"}`, fields: []string{"default_prefix"}},
		{name: "create prefix starting with a digit", creating: true, body: `{"name":"a","default_prefix":"1ab"}`, fields: []string{"default_prefix"}},
		{name: "create prefix empty", creating: true, body: `{"name":"a","default_prefix":""}`, fields: []string{"default_prefix"}},
		{name: "create prefix null", creating: true, body: `{"name":"a","default_prefix":null}`, fields: []string{"default_prefix"}},
		{name: "create template unknown", creating: true, body: `{"name":"a","catalog_template":"stripe"}`, fields: []string{"catalog_template"}},
		{name: "create template wrong case", creating: true, body: `{"name":"a","catalog_template":"Orq"}`, fields: []string{"catalog_template"}},
		{name: "create template empty", creating: true, body: `{"name":"a","catalog_template":""}`, fields: []string{"catalog_template"}},
		{name: "create template null", creating: true, body: `{"name":"a","catalog_template":null}`, fields: []string{"catalog_template"}},
		{name: "create mode unknown", creating: true, body: `{"name":"a","default_permission_mode":"none"}`, fields: []string{"default_permission_mode"}},
		{name: "create mode null", creating: true, body: `{"name":"a","default_permission_mode":null}`, fields: []string{"default_permission_mode"}},
		{name: "create require_expiry null", creating: true, body: `{"name":"a","require_expiry":null}`, fields: []string{"require_expiry"}},
		{name: "create max lifetime 0", creating: true, body: `{"name":"a","max_key_lifetime":0}`, fields: []string{"max_key_lifetime"}},
		{name: "create max lifetime negative", creating: true, body: `{"name":"a","max_key_lifetime":-86400}`, fields: []string{"max_key_lifetime"}},
		{name: "create max lifetime 1 second", creating: true, body: `{"name":"a","max_key_lifetime":1}`,
			want: created(func(a *Account) { a.Name, a.MaxKeyLifetime = "a", dtI64(1) })},
		{name: "create max lifetime 100 years", creating: true, body: `{"name":"a","max_key_lifetime":` + maxS + `}`,
			want: created(func(a *Account) { a.Name, a.MaxKeyLifetime = "a", dtI64(MaxLifetimeSeconds) })},
		{name: "create max lifetime beyond 100 years", creating: true, body: `{"name":"a","max_key_lifetime":` + over + `}`, fields: []string{"max_key_lifetime"}},
		{name: "create default lifetime 0", creating: true, body: `{"name":"a","default_key_lifetime":0}`, fields: []string{"default_key_lifetime"}},
		{name: "create default lifetime beyond 100 years", creating: true, body: `{"name":"a","default_key_lifetime":` + over + `}`, fields: []string{"default_key_lifetime"}},
		{name: "create default lifetime 100 years", creating: true, body: `{"name":"a","default_key_lifetime":` + maxS + `}`,
			want: created(func(a *Account) { a.Name, a.DefaultKeyLifetime = "a", dtI64(MaxLifetimeSeconds) })},
		{name: "create default equal to max", creating: true, body: `{"name":"a","max_key_lifetime":3600,"default_key_lifetime":3600}`,
			want: created(func(a *Account) { a.Name, a.MaxKeyLifetime, a.DefaultKeyLifetime = "a", dtI64(3600), dtI64(3600) })},
		{name: "create default above max", creating: true, body: `{"name":"a","max_key_lifetime":3600,"default_key_lifetime":3601}`, fields: []string{"default_key_lifetime"}},
		{name: "create everything wrong", creating: true,
			body:   `{"default_prefix":"X","catalog_template":"x","default_permission_mode":"x","max_key_lifetime":0,"require_expiry":null,"default_key_lifetime":-1}`,
			fields: []string{"name", "default_prefix", "catalog_template", "default_permission_mode", "max_key_lifetime", "require_expiry", "default_key_lifetime"}},

		{name: "patch empty", body: `{}`, want: func(a *Account) {}},
		{name: "patch rename", body: `{"name":"acme 2"}`, want: func(a *Account) { a.Name = "acme 2" }},
		{name: "patch name null", body: `{"name":null}`, fields: []string{"name"}},
		{name: "patch name empty", body: `{"name":""}`, fields: []string{"name"}},
		{name: "patch prefix", body: `{"default_prefix":"kw2"}`, want: func(a *Account) { a.DefaultPrefix = "kw2" }},
		{name: "patch prefix null", body: `{"default_prefix":null}`, fields: []string{"default_prefix"}},
		{name: "patch template restated", body: `{"catalog_template":"orq"}`, want: func(a *Account) {}},
		{name: "patch template changed", body: `{"catalog_template":"discue"}`, fields: []string{"catalog_template"}},
		{name: "patch template changed to default", body: `{"catalog_template":"default"}`, fields: []string{"catalog_template"}},
		{name: "patch template unknown", body: `{"catalog_template":"stripe"}`, fields: []string{"catalog_template"}},
		{name: "patch template null", body: `{"catalog_template":null}`, fields: []string{"catalog_template"}},
		{name: "patch mode", body: `{"default_permission_mode":"all"}`, want: func(a *Account) { a.DefaultPermissionMode = ModeAll }},
		{name: "patch mode null", body: `{"default_permission_mode":null}`, fields: []string{"default_permission_mode"}},
		{name: "patch require_expiry off", body: `{"require_expiry":false}`, want: func(a *Account) { a.RequireExpiry = false }},
		{name: "patch require_expiry null", body: `{"require_expiry":null}`, fields: []string{"require_expiry"}},
		{name: "patch max lifetime null clears", body: `{"max_key_lifetime":null}`, want: func(a *Account) { a.MaxKeyLifetime = nil }},
		{name: "patch default lifetime null clears", body: `{"default_key_lifetime":null}`, want: func(a *Account) { a.DefaultKeyLifetime = nil }},
		{name: "patch both lifetimes null", body: `{"max_key_lifetime":null,"default_key_lifetime":null}`, want: func(a *Account) {
			a.MaxKeyLifetime, a.DefaultKeyLifetime = nil, nil
		}},
		{name: "patch max lowered to the default", body: `{"max_key_lifetime":2592000}`, want: func(a *Account) { a.MaxKeyLifetime = dtI64(30 * dtAcctDay) }},
		// The stored default must stay within the new maximum; the rule is
		// reported on default_key_lifetime, the setting that breaks it.
		{name: "patch max lowered below the default", body: `{"max_key_lifetime":86400}`, fields: []string{"default_key_lifetime"}},
		{name: "patch default raised above the max", body: `{"default_key_lifetime":7862400}`, fields: []string{"default_key_lifetime"}},
		{name: "patch both lowered together", body: `{"max_key_lifetime":86400,"default_key_lifetime":3600}`, want: func(a *Account) {
			a.MaxKeyLifetime, a.DefaultKeyLifetime = dtI64(86400), dtI64(3600)
		}},
		{name: "patch invalid max keeps the old one for the default check", body: `{"max_key_lifetime":0}`, fields: []string{"max_key_lifetime"}},
		{name: "patch max lifetime beyond 100 years", body: `{"max_key_lifetime":` + over + `}`, fields: []string{"max_key_lifetime"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := dtAcctCur()
			if tc.creating {
				a = &Account{ID: dtAccountID}
			}
			want := dtAcctClone(a)
			var in AccountFields
			dtMemDecode(t, tc.body, &in)
			err := ApplyAccount(a, &in, tc.creating)
			dtMemVerdict(t, err, tc.fields)
			if err != nil {
				return
			}
			tc.want(want)
			if !reflect.DeepEqual(a, want) {
				t.Fatalf("account = %s\nwant      %s", dtJSON(AccountFieldMap(a)), dtJSON(AccountFieldMap(want)))
			}
		})
	}
}

// Every template name Templates lists is accepted at creation, and
// nothing else is.
func TestDtApplyAccountTemplates(t *testing.T) {
	for _, name := range Templates() {
		a := &Account{}
		if err := ApplyAccount(a, &AccountFields{Name: Some("a"), CatalogTemplate: Some(name)}, true); err != nil {
			t.Fatalf("template %s: %v", name, err)
		}
		if a.CatalogTemplate != name {
			t.Fatalf("template %s stored as %q", name, a.CatalogTemplate)
		}
		// After creation the same name is accepted (a restatement) and any other refused.
		for _, other := range Templates() {
			b := dtAcctClone(a)
			err := ApplyAccount(b, &AccountFields{CatalogTemplate: Some(other)}, false)
			if (err == nil) != (other == name) {
				t.Errorf("account of template %s, PATCH catalog_template %s: err = %v", name, other, err)
			}
		}
	}
}

func TestDtAccountFieldMap(t *testing.T) {
	if AccountFieldMap(nil) != nil {
		t.Fatal("AccountFieldMap(nil) is not nil")
	}
	a := dtAcctCur()
	m := AccountFieldMap(a)
	var names []string
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{"catalog_template", "default_key_lifetime", "default_permission_mode", "default_prefix", "max_key_lifetime", "name", "require_expiry"}
	if !slices.Equal(names, want) {
		t.Fatalf("AccountFieldMap has %v, want the API names %v (no id, times or version)", names, want)
	}
	if got := dtJSON(m); got != `{"catalog_template":"orq","default_key_lifetime":2592000,"default_permission_mode":"restricted","default_prefix":"acme","max_key_lifetime":7776000,"name":"acme","require_expiry":true}` {
		t.Fatalf("AccountFieldMap = %s", got)
	}
	// Unset lifetimes are null, as the API shows them.
	a.MaxKeyLifetime, a.DefaultKeyLifetime = nil, nil
	if got := dtJSON(AccountFieldMap(a)); !strings.Contains(got, `"max_key_lifetime":null`) || !strings.Contains(got, `"default_key_lifetime":null`) {
		t.Fatalf("AccountFieldMap without lifetimes = %s", got)
	}

	// The audit diff of a PATCH names exactly the settings that changed.
	before := dtAcctCur()
	after := dtAcctClone(before)
	var in AccountFields
	dtMemDecode(t, `{"name":"acme","default_prefix":"new","max_key_lifetime":null,"require_expiry":true}`, &in)
	if err := ApplyAccount(after, &in, false); err != nil {
		t.Fatal(err)
	}
	d := Diff(AccountFieldMap(before), AccountFieldMap(after))
	var changed []string
	for n := range d {
		changed = append(changed, n)
	}
	sort.Strings(changed)
	if !slices.Equal(changed, []string{"default_prefix", "max_key_lifetime"}) {
		t.Fatalf("diff names %v, want [default_prefix max_key_lifetime]", changed)
	}
	if string(d["max_key_lifetime"].Before) != "7776000" || string(d["max_key_lifetime"].After) != "null" {
		t.Fatalf("max_key_lifetime change = %s → %s", d["max_key_lifetime"].Before, d["max_key_lifetime"].After)
	}
}

// Operator keys (docs/permissions.md): only management keys, only created by an
// operator key, and immutable afterwards.
func TestDtKeyOperatorRules(t *testing.T) {
	opEnv := func() *KeyEnv { e := dtEnv(); e.OperatorAllowed = true; return e }
	wantOperator := func(t *testing.T, k *Key) {
		t.Helper()
		if !k.Operator || k.AccountID != "" {
			t.Fatalf("operator %v, account %q: want an operator key bound to no account", k.Operator, k.AccountID)
		}
		if k.Owner != (Owner{Type: OwnerAccount, ID: dtAccountID}) {
			t.Fatalf("owner = %+v, want the acting account", k.Owner)
		}
	}
	wantBound := func(t *testing.T, k *Key) {
		t.Helper()
		if k.Operator || k.AccountID != dtAccountID {
			t.Fatalf("operator %v, account %q: want a key of %s", k.Operator, k.AccountID, dtAccountID)
		}
	}
	create := []struct {
		name   string
		kind   KeyKind
		env    *KeyEnv
		body   string
		fields []string
		check  func(t *testing.T, k *Key)
	}{
		{"api key operator true", KindAPI, opEnv(), `{"name":"k","operator":true}`, []string{"operator"}, nil},
		{"api key operator false", KindAPI, dtEnv(), `{"name":"k","operator":false}`, nil, wantBound},
		{"api key operator null", KindAPI, dtEnv(), `{"name":"k","operator":null}`, []string{"operator"}, nil},
		{"management operator by a non-operator", KindManagement, dtEnv(), `{"name":"m","operator":true,"permissions":["keys:read"]}`, []string{"operator"}, nil},
		{"management operator by a non-operator with account permissions", KindManagement, dtEnv(),
			`{"name":"m","operator":true,"permissions":["accounts:read"]}`, []string{"operator", "permissions[0]"}, nil},
		{"management operator by an operator", KindManagement, opEnv(), `{"name":"m","operator":true,"permissions":["keys:read"]}`, nil, wantOperator},
		{"operator key with every permission", KindManagement, opEnv(), `{"name":"m","operator":true,"permissions":` + dtJSON(AllManagementPermissions()) + `}`, nil,
			func(t *testing.T, k *Key) {
				wantOperator(t, k)
				if !slices.Equal(k.Permissions, AllManagementPermissions()) {
					t.Fatalf("permissions = %v", k.Permissions)
				}
			}},
		{"operator creating a bound key", KindManagement, opEnv(), `{"name":"m","operator":false,"permissions":["keys:read"]}`, nil, wantBound},
		{"operator creating a key without operator member", KindManagement, opEnv(), `{"name":"m","permissions":["keys:read"]}`, nil, wantBound},
		{"bound key cannot hold account permissions even when an operator creates it", KindManagement, opEnv(),
			`{"name":"m","permissions":["keys:read","accounts:write"]}`, []string{"permissions[1]"}, nil},
		{"management operator null", KindManagement, opEnv(), `{"name":"m","operator":null,"permissions":["keys:read"]}`, []string{"operator"}, nil},
	}
	for _, tc := range create {
		t.Run("create/"+tc.name, func(t *testing.T) {
			k, err := NewKey(tc.kind, dtFields(t, tc.body), tc.env)
			dtMemVerdict(t, err, tc.fields)
			if err == nil {
				tc.check(t, k)
			}
		})
	}

	opKey := func() *Key { return dtWith(dtMgmtKey(), func(k *Key) { k.Operator, k.AccountID = true, "" }) }
	patch := []struct {
		name    string
		cur     *Key
		body    string
		fields  []string
		changed bool
	}{
		{"operator key made bound", opKey(), `{"operator":false}`, []string{"operator"}, false},
		{"bound key made operator", dtMgmtKey(), `{"operator":true}`, []string{"operator"}, false},
		{"operator restated", opKey(), `{"operator":true}`, nil, false},
		{"bound restated", dtMgmtKey(), `{"operator":false}`, nil, false},
		{"operator null", opKey(), `{"operator":null}`, []string{"operator"}, false},
		{"api key made operator", dtAPIKey(), `{"operator":true}`, []string{"operator"}, false},
		{"operator key renamed stays operator", opKey(), `{"name":"renamed"}`, nil, true},
	}
	for _, tc := range patch {
		for _, env := range []*KeyEnv{dtEnv(), opEnv()} {
			t.Run("patch/"+tc.name+"/operator caller "+strconv.FormatBool(env.OperatorAllowed), func(t *testing.T) {
				cur := tc.cur.Clone()
				next, changed, err := PatchKey(cur, dtFields(t, tc.body), env)
				dtMemVerdict(t, err, tc.fields)
				if err != nil {
					return
				}
				if changed != tc.changed {
					t.Fatalf("changed = %v, want %v", changed, tc.changed)
				}
				if next.Operator != tc.cur.Operator || next.AccountID != tc.cur.AccountID {
					t.Fatalf("operator %v account %q after PATCH, was %v %q", next.Operator, next.AccountID, tc.cur.Operator, tc.cur.AccountID)
				}
			})
		}
	}

	// PUT: an omitted operator member keeps the key what it is.
	next, _, err := ReplaceKey(opKey(), dtFields(t, `{"name":"n","permissions":["accounts:read"]}`), opEnv())
	if err != nil {
		t.Fatalf("PUT of an operator key: %v", err)
	}
	if !next.Operator || next.AccountID != "" {
		t.Fatalf("PUT without operator made the key operator=%v account=%q", next.Operator, next.AccountID)
	}
	_, _, err = ReplaceKey(opKey(), dtFields(t, `{"name":"n","operator":false,"permissions":["keys:read"]}`), opEnv())
	dtMemVerdict(t, err, []string{"operator"})
}

func TestDtRotationExpiry(t *testing.T) {
	in := func(d time.Duration) *time.Time { return dtTimeP(dtNow.Add(d)) }
	policy := func(f func(a *Account)) *KeyEnv { return dtEnv(f) }
	none := dtEnv()
	require := policy(func(a *Account) { a.RequireExpiry = true })
	max7 := policy(func(a *Account) { a.MaxKeyLifetime = dtI64(7 * dtAcctDay) })
	defaultOnly := policy(func(a *Account) { a.DefaultKeyLifetime = dtI64(dtAcctDay) })
	week := 7 * 24 * time.Hour
	tests := []struct {
		name      string
		env       *KeyEnv
		keyExpiry *time.Time // the key's expiry before the rotation
		expiresAt *time.Time // the rotation's expires_at
		fail      bool
		want      *time.Time // the key's expiry after
	}{
		{"no policy, no expiry", none, nil, nil, false, nil},
		{"no policy, expiry kept", none, in(24 * time.Hour), nil, false, in(24 * time.Hour)},
		{"no policy, new expiry", none, nil, in(48*time.Hour + 123456789), false, dtTimeP(Timestamp(dtNow.Add(48*time.Hour + 123456789)))},
		{"no policy, new expiry replaces the old", none, in(time.Hour), in(2 * time.Hour), false, in(2 * time.Hour)},
		{"expiry now", none, nil, in(0), true, nil},
		{"expiry in the past", none, in(time.Hour), in(-time.Second), true, in(time.Hour)},
		{"an expired key keeps its expiry", none, in(-time.Hour), nil, false, in(-time.Hour)},
		{"require, key without expiry", require, nil, nil, true, nil},
		{"require, key with expiry", require, in(time.Hour), nil, false, in(time.Hour)},
		{"require, new expiry", require, nil, in(time.Hour), false, in(time.Hour)},
		{"max, key without expiry", max7, nil, nil, true, nil},
		{"max, key expiry within", max7, in(24 * time.Hour), nil, false, in(24 * time.Hour)},
		// The policy was tightened after the key got its expiry: rotating
		// it needs a nearer one.
		{"max, key expiry beyond", max7, in(30 * 24 * time.Hour), nil, true, in(30 * 24 * time.Hour)},
		{"max, key expiry beyond, nearer one sent", max7, in(30 * 24 * time.Hour), in(24 * time.Hour), false, in(24 * time.Hour)},
		{"max, new expiry at the maximum", max7, nil, in(week), false, in(week)},
		{"max, new expiry beyond", max7, in(time.Hour), in(week + time.Millisecond), true, in(time.Hour)},
		// default_key_lifetime applies to new keys only: a rotation does
		// not give an existing key an expiry.
		{"default lifetime only", defaultOnly, nil, nil, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := dtAPIKey()
			k.ExpiresAt = tc.keyExpiry
			err := RotationExpiry(k, tc.expiresAt, tc.env)
			if tc.fail {
				dtMemVerdict(t, err, []string{"expires_at"})
			} else if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			switch {
			case tc.want == nil && k.ExpiresAt != nil:
				t.Fatalf("expires_at = %v, want none", *k.ExpiresAt)
			case tc.want != nil && (k.ExpiresAt == nil || !k.ExpiresAt.Equal(*tc.want)):
				t.Fatalf("expires_at = %v, want %v", k.ExpiresAt, *tc.want)
			}
		})
	}
}

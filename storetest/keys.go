package storetest

import (
	"encoding/json"
	"reflect"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

var keyTests = []test{
	{"RoundTripEveryField", testKeyRoundTrip},
	{"NilAndEmptyKept", testKeyNilAndEmpty},
	{"TimesInUTCMilliseconds", testKeyTimes},
	{"MetadataJSON", testKeyMetadataJSON},
	{"GetUnknown", testKeyGetUnknown},
	{"DuplicateID", testKeyDuplicateID},
	{"DuplicateSecret", testKeyDuplicateSecret},
	{"FindByHash", testFindKeyByHash},
	{"RotateKeepsOldSecretsUntilGraceEnds", testRotate},
	{"RotateCapsEarlierSecrets", testRotateCaps},
	{"RotateDuplicateSecret", testRotateDuplicate},
	{"Update", testUpdateKey},
	{"UpdateWrongVersion", testUpdateKeyConflict},
	{"Delete", testDeleteKey},
	{"KeysInProject", testKeysInProject},
	{"KeysUsingResource", testKeysUsingResource},
	{"TouchKeys", testTouchKeys},
}

// fullAPIKey returns an API key with every field an API key can have set.
func (e *env) fullAPIKey(a *keyward.Account) *keyward.Key {
	at := e.now()
	return &keyward.Key{
		ID: e.ids.New(keyward.PrefixKey), AccountID: a.ID, Kind: keyward.KindAPI,
		Name: "Full key é 日本", Description: ptr("two\nlines"), Status: keyward.StatusDisabled,
		Prefix: "acme", Start: "acme_AbCd", Last4: "Wx9z",
		Owner:          keyward.Owner{Type: keyward.OwnerUser, ID: "usr_01HZX3K8Q4W2N5R7T9V0B1C2D6"},
		ProjectID:      ptr("prj_01HZX3K8Q4W2N5R7T9V0B1C2D4"),
		PermissionMode: keyward.ModeRestricted,
		Scopes: []keyward.Scope{
			{Resource: "docs", Access: keyward.AccessRead, Targets: []string{"*"}},
			{Resource: "files", Access: keyward.AccessWrite, Targets: []string{"f1", "f/2=x"}},
		},
		Roles:        []string{"reader", "writer"},
		ExpiresAt:    ptr(at.Add(90 * 24 * time.Hour)),
		Metadata:     map[string]json.RawMessage{"plan": json.RawMessage(`"pro"`), "limits": json.RawMessage(`{"a":[1,2.5,true,null]}`), "n": json.RawMessage(`-3`)},
		IPAllowlist:  []string{"10.0.0.0/8", "2001:db8::/32", "192.168.1.7/32"},
		RateLimit:    &keyward.RateLimit{Limit: 100, Window: 60},
		Credits:      &keyward.Credits{Remaining: 42, Refill: &keyward.Refill{Amount: 1000, Interval: 86400}, PeriodStart: at.Add(-time.Hour), Epoch: 3},
		Recoverable:  true,
		SealedSecret: []byte{1, 2, 3, 0, 255},
		LegacyKeyID:  ptr("legacy-123"),
		CreatedAt:    at, UpdatedAt: at.Add(time.Minute),
		CreatedByID: "key_01HZX3K8Q4W2N5R7T9V0B1C2D8", UpdatedByID: "system",
		LastUsedAt: ptr(at.Add(2 * time.Minute)), RotatedAt: ptr(at.Add(3 * time.Minute)),
		Verifications: 1234,
		Version:       7,
	}
}

// fullOperatorKey returns an operator management key: no account, the
// management-only fields set.
func (e *env) fullOperatorKey() *keyward.Key {
	at := e.now()
	return &keyward.Key{
		ID: e.ids.New(keyward.PrefixKey), AccountID: "", Kind: keyward.KindManagement, Operator: true,
		Name: "operator", Status: keyward.StatusActive, Prefix: "kwm", Start: "kwm_0000", Last4: "zzzz",
		Owner:       keyward.Owner{Type: keyward.OwnerAccount, ID: ""},
		Permissions: keyward.AllManagementPermissions(),
		CreatedAt:   at, UpdatedAt: at, CreatedByID: "system", UpdatedByID: "system", Version: 1,
	}
}

func testKeyRoundTrip(e *env) {
	a := e.account("acme")
	full, op := e.fullAPIKey(a), e.fullOperatorKey()

	// Between them, the two fixtures set every field of Key: a field added
	// to Key and forgotten by a store fails here.
	kt := reflect.TypeFor[keyward.Key]()
	for i := 0; i < kt.NumField(); i++ {
		if reflect.ValueOf(*full).Field(i).IsZero() && reflect.ValueOf(*op).Field(i).IsZero() {
			e.t.Fatalf("the round-trip fixtures leave Key.%s unset: set it so the suite checks it", kt.Field(i).Name)
		}
	}
	for _, k := range []*keyward.Key{full, op} {
		want := k.Clone()
		h := e.create(k)
		same(e.t, "GetKey after CreateKey", e.getKey(k.AccountID, k.ID), want)
		same(e.t, "the key passed to CreateKey", k, want)
		e.read(func(tx keyward.Tx) error {
			m, err := tx.FindKeyByHash(e.ctx, h)
			if err != nil {
				return err
			}
			// FindKeyByHash reads no usage (verification needs none).
			bare := want.Clone()
			bare.LastUsedAt, bare.Verifications = nil, 0
			same(e.t, "FindKeyByHash", m.Key, bare)
			return nil
		})
		if k.Kind == keyward.KindAPI {
			e.read(func(tx keyward.Tx) error {
				keys, _, err := tx.ListKeys(e.ctx, &keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindAPI})
				if err != nil {
					return err
				}
				if len(keys) != 1 {
					e.t.Fatalf("ListKeys = %v", keyIDs(keys))
				}
				same(e.t, "ListKeys", keys[0], want)
				return nil
			})
		}
	}
}

// Nil and empty are different values of a key and the store keeps them apart.
func testKeyNilAndEmpty(e *env) {
	a := e.account("acme")
	empty := e.apiKey(a, func(k *keyward.Key) {
		k.PermissionMode = keyward.ModeRestricted
		k.Scopes, k.Roles, k.Permissions = []keyward.Scope{}, []string{}, []string{}
		k.Metadata, k.IPAllowlist = map[string]json.RawMessage{}, []string{}
		k.Description, k.LegacyKeyID, k.ProjectID = ptr(""), ptr(""), ptr("")
		k.Credits = &keyward.Credits{Remaining: 0, Refill: nil}
		k.RateLimit = &keyward.RateLimit{}
		k.Scopes = []keyward.Scope{{Resource: "docs", Access: keyward.AccessRead, Targets: []string{}}}
	})
	none := e.apiKey(a) // every optional field nil
	for _, k := range []*keyward.Key{empty, none} {
		want := k.Clone()
		e.create(k)
		same(e.t, "GetKey", e.getKey(k.AccountID, k.ID), want)
	}
	// Changing from empty to nil and back is stored too.
	next := e.getKey(empty.AccountID, empty.ID)
	next.Scopes, next.Roles, next.Permissions, next.Metadata, next.IPAllowlist = nil, nil, nil, nil, nil
	next.Description, next.LegacyKeyID, next.ProjectID, next.Credits, next.RateLimit = nil, nil, nil, nil, nil
	next.Version++
	e.write(func(tx keyward.Tx) error { return tx.UpdateKey(e.ctx, next) })
	same(e.t, "GetKey after clearing", e.getKey(empty.AccountID, empty.ID), next)
	back := next.Clone()
	back.Scopes, back.Roles, back.Metadata, back.IPAllowlist = []keyward.Scope{}, []string{}, map[string]json.RawMessage{}, []string{}
	back.Version++
	e.write(func(tx keyward.Tx) error { return tx.UpdateKey(e.ctx, back) })
	same(e.t, "GetKey after emptying", e.getKey(empty.AccountID, empty.ID), back)
}

func testKeyTimes(e *env) {
	a := e.account("acme")
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	at := time.Date(2025, 7, 4, 10, 11, 12, 345_678_901, zone)
	k := e.apiKey(a, func(k *keyward.Key) {
		k.CreatedAt, k.UpdatedAt = at, at.Add(time.Nanosecond)
		k.ExpiresAt, k.LastUsedAt, k.RotatedAt = ptr(at.Add(time.Hour)), ptr(at.Add(999_999*time.Nanosecond)), ptr(at.Add(-time.Hour))
	})
	e.create(k)
	got := e.getKey(k.AccountID, k.ID)
	for _, c := range []struct {
		name      string
		got, want time.Time
	}{
		{"created_at", got.CreatedAt, at},
		{"updated_at", got.UpdatedAt, at},
		{"expires_at", *got.ExpiresAt, at.Add(time.Hour)},
		{"last_used_at", *got.LastUsedAt, at.Add(999_999 * time.Nanosecond)},
		{"rotated_at", *got.RotatedAt, at.Add(-time.Hour)},
	} {
		if !c.got.Equal(ms(c.want)) || c.got.Location() != time.UTC {
			e.t.Errorf("%s = %s, want %s: UTC, truncated to the millisecond", c.name, show(c.got), show(ms(c.want)))
		}
	}
}

// Metadata comes back as the same JSON; characters encoding/json escapes
// by default may come back escaped, but the value must not change.
func testKeyMetadataJSON(e *env) {
	a := e.account("acme")
	meta := map[string]json.RawMessage{
		"html":    json.RawMessage(`"<a href='x'>&amp;</a>"`),
		"unicode": json.RawMessage(`"é 日本 \u2028 😀"`),
		"big":     json.RawMessage(`12345678901234567890`),
		"float":   json.RawMessage(`1.50`),
		"nested":  json.RawMessage(`{"z":1,"a":[{"b":null}]}`),
	}
	k := e.apiKey(a, func(k *keyward.Key) { k.Metadata = meta })
	e.create(k)
	got := e.getKey(k.AccountID, k.ID).Metadata
	if len(got) != len(meta) {
		e.t.Fatalf("metadata has %d members, want %d", len(got), len(meta))
	}
	for n, raw := range meta {
		var want, have any
		dec := func(b []byte, v *any) {
			d := json.NewDecoder(bytesReader(b))
			d.UseNumber()
			if err := d.Decode(v); err != nil {
				e.t.Fatalf("metadata %q = %s is not JSON: %v", n, b, err)
			}
		}
		dec(raw, &want)
		dec(got[n], &have)
		if !reflect.DeepEqual(want, have) {
			e.t.Errorf("metadata %q = %s, want %s", n, got[n], raw)
		}
	}
}

func testKeyGetUnknown(e *env) {
	a := e.account("acme")
	for _, id := range []string{"key_01HZX3K8Q4W2N5R7T9V0B1C2D8", "", "nope", "key_'; DROP TABLE keys; --"} {
		gone(e, keyOf, a.ID, id)
		err := e.s.Read(e.ctx, func(tx keyward.Tx) error {
			_, err := tx.GetOperatorKey(e.ctx, id)
			return err
		})
		wantCode(e.t, err, keyward.ECodeNotFound)
	}
}

func testKeyDuplicateID(e *env) {
	a := e.account("acme")
	k := e.apiKey(a)
	e.create(k)
	dup := e.apiKey(a, func(d *keyward.Key) { d.ID, d.Name = k.ID, "other" })
	err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.CreateKey(e.ctx, dup, randomHash(e.t)) })
	wantCode(e.t, err, keyward.ECodeDuplicate)
	if got := e.getKey(k.AccountID, k.ID); got.Name != "key" {
		e.t.Fatalf("the duplicate replaced the key: name %q", got.Name)
	}
}

// Two keys cannot share a secret; the second one is not created.
func testKeyDuplicateSecret(e *env) {
	a := e.account("acme")
	k := e.apiKey(a)
	h := e.create(k)
	second := e.apiKey(a)
	err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.CreateKey(e.ctx, second, h) })
	wantCode(e.t, err, keyward.ECodeDuplicate)
	gone(e, keyOf, second.AccountID, second.ID)
	e.read(func(tx keyward.Tx) error {
		m, err := tx.FindKeyByHash(e.ctx, h)
		if err != nil {
			return err
		}
		if m.Key.ID != k.ID {
			e.t.Fatalf("the secret now finds %s, want %s", m.Key.ID, k.ID)
		}
		return nil
	})
}

// findHash returns what FindKeyByHash answers for h.
func (e *env) findHash(h keyward.TokenHash) (*keyward.KeyMatch, error) {
	var m *keyward.KeyMatch
	err := e.s.Read(e.ctx, func(tx keyward.Tx) (err error) {
		m, err = tx.FindKeyByHash(e.ctx, h)
		return err
	})
	return m, err
}

// wantSecret fails unless h finds key id with the given end of validity (nil: current).
func (e *env) wantSecret(h keyward.TokenHash, id string, until *time.Time) {
	e.t.Helper()
	m, err := e.findHash(h)
	if err != nil {
		e.t.Fatalf("FindKeyByHash: %v", err)
	}
	if m.Key.ID != id {
		e.t.Fatalf("FindKeyByHash found %s, want %s", m.Key.ID, id)
	}
	switch {
	case until == nil && m.ValidUntil != nil:
		e.t.Fatalf("ValidUntil = %s, want nil (the current secret)", show(*m.ValidUntil))
	case until != nil && (m.ValidUntil == nil || !m.ValidUntil.Equal(ms(*until)) || m.ValidUntil.Location() != time.UTC):
		e.t.Fatalf("ValidUntil = %s, want %s", show(m.ValidUntil), show(ms(*until)))
	}
}

func testFindKeyByHash(e *env) {
	a, b := e.account("a"), e.account("b")
	ka, kb := e.apiKey(a), e.apiKey(b)
	ha, hb := e.create(ka), e.create(kb)
	e.wantSecret(ha, ka.ID, nil)
	e.wantSecret(hb, kb.ID, nil)
	_, err := e.findHash(randomHash(e.t))
	wantCode(e.t, err, keyward.ECodeNotFound)
	_, err = e.findHash(keyward.TokenHash{})
	wantCode(e.t, err, keyward.ECodeNotFound)
}

func (e *env) rotate(id string, h keyward.TokenHash, now, until time.Time) {
	e.t.Helper()
	e.write(func(tx keyward.Tx) error { return tx.RotateKeySecret(e.ctx, id, h, now, until) })
}

func testRotate(e *env) {
	a := e.account("acme")
	k := e.apiKey(a)
	h1 := e.create(k)
	now := e.now()
	until := now.Add(time.Hour + 123*time.Millisecond)
	h2 := randomHash(e.t)
	e.rotate(k.ID, h2, now, until)
	e.wantSecret(h1, k.ID, &until)
	e.wantSecret(h2, k.ID, nil)
	// Rotation does not touch the key itself: the caller updates it.
	same(e.t, "key after RotateKeySecret", e.getKey(k.AccountID, k.ID), k)
}

func testRotateCaps(e *env) {
	a := e.account("acme")
	k := e.apiKey(a)
	other := e.apiKey(a)
	h1 := e.create(k)
	ho := e.create(other)
	now := e.now()

	// Rotate with a long grace, then with a shorter one: the first secret
	// is cut to the shorter grace.
	h2, long := randomHash(e.t), now.Add(24*time.Hour)
	e.rotate(k.ID, h2, now, long)
	h3, short := randomHash(e.t), now.Add(10*time.Minute)
	e.rotate(k.ID, h3, now, short)
	e.wantSecret(h1, k.ID, &short)
	e.wantSecret(h2, k.ID, &short)
	e.wantSecret(h3, k.ID, nil)

	// A later rotation with a longer grace never extends earlier secrets.
	h4, longer := randomHash(e.t), now.Add(48*time.Hour)
	e.rotate(k.ID, h4, now.Add(time.Minute), longer)
	e.wantSecret(h1, k.ID, &short)
	e.wantSecret(h2, k.ID, &short)
	e.wantSecret(h3, k.ID, &longer)
	e.wantSecret(h4, k.ID, nil)

	// Rotation with no grace ends every old secret at once.
	h5, end := randomHash(e.t), now.Add(2*time.Minute)
	e.rotate(k.ID, h5, end, end)
	for _, h := range []keyward.TokenHash{h1, h2, h3, h4} {
		e.wantSecret(h, k.ID, &end)
	}
	e.wantSecret(h5, k.ID, nil)
	// Other keys' secrets are untouched.
	e.wantSecret(ho, other.ID, nil)
}

func testRotateDuplicate(e *env) {
	a := e.account("acme")
	k1, k2 := e.apiKey(a), e.apiKey(a)
	h1 := e.create(k1)
	h2 := e.create(k2)
	now := e.now()
	err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.RotateKeySecret(e.ctx, k2.ID, h1, now, now) })
	wantCode(e.t, err, keyward.ECodeDuplicate)
	// The failed rotation changed nothing.
	e.wantSecret(h1, k1.ID, nil)
	e.wantSecret(h2, k2.ID, nil)
}

func testUpdateKey(e *env) {
	a := e.account("acme")
	k := e.apiKey(a)
	e.create(k)
	used := e.now().Add(-time.Minute).Truncate(time.Millisecond)
	e.write(func(tx keyward.Tx) error {
		return tx.TouchKeys(e.ctx, map[string]keyward.KeyUsage{k.ID: {LastUsed: used, Verifications: 7}})
	})
	next := e.fullAPIKey(a)
	next.ID, next.Version, next.CreatedAt = k.ID, k.Version+1, k.CreatedAt
	want := next.Clone()
	// Usage is TouchKeys' alone: UpdateKey leaves the stored one.
	want.LastUsedAt, want.Verifications = &used, 7
	e.write(func(tx keyward.Tx) error { return tx.UpdateKey(e.ctx, next) })
	same(e.t, "GetKey after UpdateKey", e.getKey(k.AccountID, k.ID), want)

	// Twice more, each from the version just written.
	for i := 0; i < 2; i++ {
		cur := e.getKey(k.AccountID, k.ID)
		cur.Name, cur.Version = name("renamed", i), cur.Version+1
		e.write(func(tx keyward.Tx) error { return tx.UpdateKey(e.ctx, cur) })
		same(e.t, "GetKey after rename", e.getKey(k.AccountID, k.ID), cur)
	}
}

// An update from a stale version is a conflict and writes nothing, even
// when the transaction goes on and commits.
func testUpdateKeyConflict(e *env) {
	a := e.account("acme")
	k := e.apiKey(a, func(k *keyward.Key) { k.Version = 5 })
	e.create(k)
	for _, v := range []int64{5, 7, 4, 1, 0, -1} {
		stale := k.Clone()
		stale.Name, stale.Version = "stale", v
		stale.Scopes, stale.PermissionMode = []keyward.Scope{{Resource: "docs", Access: keyward.AccessRead, Targets: []string{"*"}}}, keyward.ModeRestricted
		wantCode(e.t, e.tryWrite(func(tx keyward.Tx) error { return tx.UpdateKey(e.ctx, stale) }), keyward.ECodeConflict)
		same(e.t, "key after a conflicting update", e.getKey(k.AccountID, k.ID), k)
		if ids := readOne(e, func(tx keyward.Tx) ([]string, error) { return tx.KeysUsingResource(e.ctx, a.ID, "docs", 10) }); len(ids) != 0 {
			e.t.Fatalf("a conflicting update indexed the key's scopes: %v", ids)
		}
	}
	// Updating a key that does not exist fails too.
	ghost := e.apiKey(a)
	ghost.Version = 2
	err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.UpdateKey(e.ctx, ghost) })
	if c := keyward.ErrorCode(err); c != keyward.ECodeConflict && c != keyward.ECodeNotFound {
		e.t.Fatalf("UpdateKey of an unknown key: %v, want conflict or not_found", err)
	}
	gone(e, keyOf, ghost.AccountID, ghost.ID)
}

func testDeleteKey(e *env) {
	a := e.account("acme")
	k := e.apiKey(a, func(k *keyward.Key) {
		k.PermissionMode = keyward.ModeRestricted
		k.Scopes = []keyward.Scope{{Resource: "docs", Access: keyward.AccessRead, Targets: []string{"*"}}}
		k.Roles = []string{}
	})
	keep := e.apiKey(a)
	h1 := e.create(k)
	hk := e.create(keep)
	now := e.now()
	h2 := randomHash(e.t)
	e.rotate(k.ID, h2, now, now.Add(time.Hour))

	e.write(func(tx keyward.Tx) error { return tx.DeleteKey(e.ctx, k.ID) })
	gone(e, keyOf, k.AccountID, k.ID)
	for _, h := range []keyward.TokenHash{h1, h2} {
		_, err := e.findHash(h)
		wantCode(e.t, err, keyward.ECodeNotFound)
	}
	err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.DeleteKey(e.ctx, k.ID) })
	wantCode(e.t, err, keyward.ECodeNotFound)
	err = e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.DeleteKey(e.ctx, "key_01HZX3K8Q4W2N5R7T9V0B1C2D8") })
	wantCode(e.t, err, keyward.ECodeNotFound)

	e.read(func(tx keyward.Tx) error {
		ids, err := tx.KeysUsingResource(e.ctx, a.ID, "docs", 10)
		if err != nil {
			return err
		}
		if len(ids) != 0 {
			e.t.Fatalf("KeysUsingResource lists a deleted key: %v", ids)
		}
		keys, _, err := tx.ListKeys(e.ctx, &keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindAPI})
		if err != nil {
			return err
		}
		if !slices.Equal(keyIDs(keys), []string{keep.ID}) {
			e.t.Fatalf("ListKeys after delete = %v, want only %s", keyIDs(keys), keep.ID)
		}
		return nil
	})
	e.wantSecret(hk, keep.ID, nil)

	// A key with the deleted key's id can be created again, with a new secret.
	again := e.apiKey(a, func(n *keyward.Key) { n.ID = k.ID })
	h3 := e.create(again)
	e.wantSecret(h3, k.ID, nil)
	_, err = e.findHash(h1)
	wantCode(e.t, err, keyward.ECodeNotFound)
}

func testKeysInProject(e *env) {
	a, b := e.account("a"), e.account("b")
	p1, p2 := "prj_01HZX3K8Q4W2N5R7T9V0B1C2D4", "prj_01HZX3K8Q4W2N5R7T9V0B1C2D5"
	in1 := e.apiKey(a, func(k *keyward.Key) { k.ProjectID = ptr(p1) })
	in2 := e.apiKey(a, func(k *keyward.Key) { k.ProjectID = ptr(p1); k.Status = keyward.StatusDisabled })
	revoked := e.apiKey(a, func(k *keyward.Key) { k.ProjectID = ptr(p1); k.Status = keyward.StatusRevoked })
	otherProject := e.apiKey(a, func(k *keyward.Key) { k.ProjectID = ptr(p2) })
	allProjects := e.apiKey(a)
	otherAccount := e.apiKey(b, func(k *keyward.Key) { k.ProjectID = ptr(p1) })
	for _, k := range []*keyward.Key{in2, otherAccount, revoked, in1, otherProject, allProjects} {
		e.create(k)
	}
	e.read(func(tx keyward.Tx) error {
		keys, err := tx.KeysInProject(e.ctx, a.ID, p1)
		if err != nil {
			return err
		}
		want := []string{in1.ID, in2.ID}
		slices.Sort(want)
		if !slices.Equal(keyIDs(keys), want) {
			e.t.Fatalf("KeysInProject = %v, want %v (not revoked, this account and project, by id)", keyIDs(keys), want)
		}
		same(e.t, "a key from KeysInProject", keys[slices.Index(want, in1.ID)], in1)
		none, err := tx.KeysInProject(e.ctx, a.ID, "prj_01HZX3K8Q4W2N5R7T9V0B1C2D9")
		if err != nil {
			return err
		}
		if len(none) != 0 {
			e.t.Fatalf("KeysInProject of an empty project = %v", keyIDs(none))
		}
		return nil
	})
	// Inside a write transaction too (the service revokes them there).
	keys := writeOne(e, func(tx keyward.Tx) ([]*keyward.Key, error) { return tx.KeysInProject(e.ctx, b.ID, p1) })
	if !slices.Equal(keyIDs(keys), []string{otherAccount.ID}) {
		e.t.Fatalf("KeysInProject(b) = %v", keyIDs(keys))
	}
}

func testKeysUsingResource(e *env) {
	a, b := e.account("a"), e.account("b")
	scoped := func(res ...string) func(*keyward.Key) {
		return func(k *keyward.Key) {
			k.PermissionMode, k.Roles = keyward.ModeRestricted, []string{}
			k.Scopes = []keyward.Scope{}
			for _, r := range res {
				k.Scopes = append(k.Scopes, keyward.Scope{Resource: r, Access: keyward.AccessRead, Targets: []string{"*"}})
			}
		}
	}
	var docs []string
	for i := 0; i < 4; i++ {
		k := e.apiKey(a, scoped("docs", "files"))
		e.create(k)
		docs = append(docs, k.ID)
	}
	twice := e.apiKey(a, func(k *keyward.Key) {
		scoped("docs")(k)
		k.Scopes = append(k.Scopes, keyward.Scope{Resource: "docs", Access: keyward.AccessWrite, Targets: []string{"d1"}})
	})
	e.create(twice)
	docs = append(docs, twice.ID)
	e.create(e.apiKey(a, scoped("files")))
	e.create(e.apiKey(a)) // mode all: no explicit scope
	e.create(e.apiKey(b, scoped("docs")))
	slices.Sort(docs)

	using := func(account, res string, limit int) []string {
		var ids []string
		e.read(func(tx keyward.Tx) (err error) {
			ids, err = tx.KeysUsingResource(e.ctx, account, res, limit)
			return err
		})
		return ids
	}
	if got := using(a.ID, "docs", 100); !slices.Equal(got, docs) {
		e.t.Fatalf("KeysUsingResource(docs) = %v, want %v (each key once, by id)", got, docs)
	}
	if got := using(a.ID, "docs", 2); !slices.Equal(got, docs[:2]) {
		e.t.Fatalf("KeysUsingResource(docs, limit 2) = %v, want %v", got, docs[:2])
	}
	if got := using(a.ID, "search", 10); len(got) != 0 {
		e.t.Fatalf("KeysUsingResource(search) = %v", got)
	}
	if got := using(b.ID, "docs", 10); len(got) != 1 {
		e.t.Fatalf("KeysUsingResource(b, docs) = %v", got)
	}
	// The index follows updates.
	k := e.getKey(a.ID, docs[0])
	scoped("search")(k)
	k.Version++
	e.write(func(tx keyward.Tx) error { return tx.UpdateKey(e.ctx, k) })
	if got := using(a.ID, "docs", 100); !slices.Equal(got, docs[1:]) {
		e.t.Fatalf("after update, KeysUsingResource(docs) = %v, want %v", got, docs[1:])
	}
	if got := using(a.ID, "search", 10); !slices.Equal(got, []string{k.ID}) {
		e.t.Fatalf("after update, KeysUsingResource(search) = %v", got)
	}
}

func testTouchKeys(e *env) {
	a := e.account("acme")
	k1, k2 := e.apiKey(a), e.apiKey(a)
	e.create(k1)
	e.create(k2)
	t0 := e.now()
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	touch := func(m map[string]keyward.KeyUsage) {
		e.t.Helper()
		e.write(func(tx keyward.Tx) error { return tx.TouchKeys(e.ctx, m) })
	}
	use := func(at time.Time, n int64) keyward.KeyUsage { return keyward.KeyUsage{LastUsed: at, Verifications: n} }
	lastUsed := func(id string) *time.Time { return e.getKey(a.ID, id).LastUsedAt }

	touch(map[string]keyward.KeyUsage{k1.ID: use(t1, 3), "key_01HZX3K8Q4W2N5R7T9V0B1C2D8": use(t1, 1)})
	if got := lastUsed(k1.ID); got == nil || !got.Equal(t1) {
		e.t.Fatalf("last_used_at = %s, want %s", show(got), show(t1))
	}
	if got := lastUsed(k2.ID); got != nil {
		e.t.Fatalf("an untouched key has last_used_at %s", show(got))
	}
	touch(map[string]keyward.KeyUsage{k1.ID: use(t0, 2), k2.ID: use(t2, 1)}) // t0 is older: k1's time stays
	if got := lastUsed(k1.ID); got == nil || !got.Equal(t1) {
		e.t.Fatalf("last_used_at moved back to %s, want %s", show(got), show(t1))
	}
	touch(map[string]keyward.KeyUsage{k1.ID: use(t2, 0)})
	if got := lastUsed(k1.ID); got == nil || !got.Equal(t2) {
		e.t.Fatalf("last_used_at = %s, want %s", show(got), show(t2))
	}
	touch(map[string]keyward.KeyUsage{})
	// Counts add up; nothing else of the key changes: not its version,
	// not updated_at.
	got := e.getKey(k1.AccountID, k1.ID)
	want := k1.Clone()
	want.LastUsedAt = ptr(t2)
	want.Verifications = 5
	same(e.t, "key after TouchKeys", got, want)
	if n := e.getKey(k2.AccountID, k2.ID).Verifications; n != 1 {
		e.t.Fatalf("k2 verifications = %d, want 1", n)
	}
}

var listKeyTests = []test{
	{"Filters", testListKeyFilters},
	{"ExpiringKeys", testExpiringKeys},
	{"EmptyStore", func(e *env) {
		a := e.account("acme")
		checkEmptyPages(e.t, e.keyLister(&keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindAPI}))
	}},
	{"Pagination", func(e *env) {
		a := e.account("acme")
		var ids []string
		for i := 0; i < 7; i++ {
			k := e.apiKey(a, func(k *keyward.Key) { k.Name = name("key", i) })
			e.create(k)
			ids = append(ids, k.ID)
		}
		// Objects that must never show up in the pages.
		b := e.account("other")
		e.create(e.apiKey(b))
		e.create(e.apiKey(a, func(k *keyward.Key) {
			k.Kind, k.PermissionMode, k.Permissions = keyward.KindManagement, "", []string{keyward.PermKeysRead}
		}))
		checkPages(e.t, reversed(ids), e.keyLister(&keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindAPI}))
	}},
	{"PaginationWithFilter", func(e *env) {
		a := e.account("acme")
		var ids []string
		for i := 0; i < 10; i++ {
			k := e.apiKey(a)
			if i%2 == 0 {
				k.Status = keyward.StatusDisabled
				ids = append(ids, k.ID)
			}
			e.create(k)
		}
		checkPages(e.t, reversed(ids), e.keyLister(&keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindAPI, Status: keyward.StatusDisabled}))
	}},
	{"DefaultLimit", func(e *env) {
		a := e.account("acme")
		var ids []string
		for i := 0; i < keyward.DefaultPageLimit+1; i++ {
			k := e.apiKey(a)
			e.create(k)
			ids = append(ids, k.ID)
		}
		checkDefaultLimit(e.t, reversed(ids), e.keyLister(&keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindAPI}))
	}},
	{"OrderIsByIDNotTime", func(e *env) {
		// Lists are ordered by id; created_at does not reorder them.
		a := e.account("acme")
		older := e.apiKey(a)
		newer := e.apiKey(a, func(k *keyward.Key) { k.CreatedAt = older.CreatedAt.Add(-time.Hour) })
		e.create(newer)
		e.create(older)
		ids, _, err := e.keyLister(&keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindAPI})(keyward.Page{})
		if err != nil {
			e.t.Fatal(err)
		}
		if !slices.Equal(ids, []string{newer.ID, older.ID}) {
			e.t.Fatalf("ListKeys = %v, want by id, newest first: %v", ids, []string{newer.ID, older.ID})
		}
	}},
}

// keyLister lists keys with filter f and the page.
func (e *env) keyLister(f *keyward.KeyFilter) lister {
	return idLister(e, keyward.Tx.ListKeys, f, func(f *keyward.KeyFilter) *keyward.Page { return &f.Page },
		func(k *keyward.Key) string { return k.ID })
}

func testListKeyFilters(e *env) {
	a, b := e.account("a"), e.account("b")
	p1, p2 := "prj_01HZX3K8Q4W2N5R7T9V0B1C2D4", "prj_01HZX3K8Q4W2N5R7T9V0B1C2D5"
	u1, u2, s1 := "usr_01HZX3K8Q4W2N5R7T9V0B1C2D6", "usr_01HZX3K8Q4W2N5R7T9V0B1C2D7", "sa_01HZX3K8Q4W2N5R7T9V0B1C2D7"
	now := e.now()
	scope := func(res string) keyward.Scope {
		return keyward.Scope{Resource: res, Access: keyward.AccessRead, Targets: []string{"*"}}
	}
	t0 := e.now()
	k1 := e.apiKey(a, func(k *keyward.Key) {
		k.Name, k.ProjectID, k.PermissionMode = "Alpha Key", ptr(p1), keyward.ModeRestricted
		k.Scopes, k.Roles = []keyward.Scope{scope("docs"), scope("files")}, []string{"reader"}
		k.ExpiresAt, k.LastUsedAt = ptr(now.Add(-time.Hour)), ptr(t0.Add(-time.Hour))
	})
	k2 := e.apiKey(a, func(k *keyward.Key) {
		k.Name, k.Status, k.Owner = "beta", keyward.StatusDisabled, keyward.Owner{Type: keyward.OwnerUser, ID: u1}
	})
	k3 := e.apiKey(a, func(k *keyward.Key) {
		k.Name, k.Status, k.Owner = "GAMMA alpha", keyward.StatusRevoked, keyward.Owner{Type: keyward.OwnerServiceAccount, ID: s1}
		k.ProjectID, k.PermissionMode, k.ExpiresAt = ptr(p2), keyward.ModeReadOnly, ptr(now.Add(time.Hour))
		k.LastUsedAt = ptr(t0.Add(time.Hour))
	})
	k4 := e.apiKey(a, func(k *keyward.Key) {
		k.Name, k.Owner, k.ProjectID, k.PermissionMode = "50% off_sale", keyward.Owner{Type: keyward.OwnerUser, ID: u2}, ptr(p1), keyward.ModeRestricted
		k.Scopes, k.Roles = []keyward.Scope{scope("files")}, []string{"writer", "reader"}
		k.ExpiresAt = ptr(now) // expired exactly at now
	})
	k5 := e.apiKey(a, func(k *keyward.Key) {
		k.Name, k.LastUsedAt = `under_score Äpfel \ back`, ptr(t0)
		k.Scopes = nil
	})
	m1 := e.apiKey(a, func(k *keyward.Key) {
		k.Kind, k.Name, k.Prefix, k.PermissionMode, k.Permissions = keyward.KindManagement, "alpha mgmt", "kwm", "", []string{keyward.PermKeysRead}
	})
	b1 := e.apiKey(b, func(k *keyward.Key) {
		k.Name, k.ProjectID, k.PermissionMode = "Alpha Key", ptr(p1), keyward.ModeRestricted
		k.Scopes, k.Roles = []keyward.Scope{scope("docs"), scope("files")}, []string{"reader"}
		k.Owner = keyward.Owner{Type: keyward.OwnerUser, ID: u1}
	})
	for _, k := range []*keyward.Key{k1, k2, k3, k4, k5, m1, b1} {
		e.create(k)
	}
	ids := func(keys ...*keyward.Key) []string { return keyIDs(keys) }
	api := func(f keyward.KeyFilter) *keyward.KeyFilter {
		f.AccountID, f.Kind = a.ID, keyward.KindAPI
		if f.Now.IsZero() {
			f.Now = now
		}
		return &f
	}
	tests := []filterCase[keyward.KeyFilter]{
		{"no filter", api(keyward.KeyFilter{}), ids(k5, k4, k3, k2, k1)},
		{"status active", api(keyward.KeyFilter{Status: keyward.StatusActive}), ids(k5, k4, k1)},
		{"status disabled", api(keyward.KeyFilter{Status: keyward.StatusDisabled}), ids(k2)},
		{"status revoked", api(keyward.KeyFilter{Status: keyward.StatusRevoked}), ids(k3)},
		{"owner type user", api(keyward.KeyFilter{OwnerType: keyward.OwnerUser}), ids(k4, k2)},
		{"owner type account", api(keyward.KeyFilter{OwnerType: keyward.OwnerAccount}), ids(k5, k1)},
		{"owner type service account", api(keyward.KeyFilter{OwnerType: keyward.OwnerServiceAccount}), ids(k3)},
		{"owner id", api(keyward.KeyFilter{OwnerID: u1}), ids(k2)},
		{"owner type and id", api(keyward.KeyFilter{OwnerType: keyward.OwnerUser, OwnerID: u2}), ids(k4)},
		{"project", api(keyward.KeyFilter{ProjectID: p1}), ids(k4, k1)},
		{"other project", api(keyward.KeyFilter{ProjectID: p2}), ids(k3)},
		{"permission mode restricted", api(keyward.KeyFilter{PermissionMode: keyward.ModeRestricted}), ids(k4, k1)},
		{"permission mode all", api(keyward.KeyFilter{PermissionMode: keyward.ModeAll}), ids(k5, k2)},
		{"resource docs", api(keyward.KeyFilter{Resource: "docs"}), ids(k1)},
		{"resource files", api(keyward.KeyFilter{Resource: "files"}), ids(k4, k1)},
		{"resource nobody has", api(keyward.KeyFilter{Resource: "search"}), ids()},
		{"search lower case", api(keyward.KeyFilter{Search: "alpha"}), ids(k3, k1)},
		{"search upper case", api(keyward.KeyFilter{Search: "ALPHA"}), ids(k3, k1)},
		{"search percent is literal", api(keyward.KeyFilter{Search: "%"}), ids(k4)},
		{"search underscore is literal", api(keyward.KeyFilter{Search: "_"}), ids(k5, k4)},
		{"search backslash is literal", api(keyward.KeyFilter{Search: `\`}), ids(k5)},
		{"search non-ASCII case-insensitively", api(keyward.KeyFilter{Search: "äPF"}), ids(k5)},
		{"search matches nothing", api(keyward.KeyFilter{Search: "zzz"}), ids()},
		{"expired", api(keyward.KeyFilter{Expired: ptr(true)}), ids(k4, k1)},
		{"not expired", api(keyward.KeyFilter{Expired: ptr(false)}), ids(k5, k3, k2)},
		{"expired later", api(keyward.KeyFilter{Expired: ptr(true), Now: now.Add(2 * time.Hour)}), ids(k4, k3, k1)},
		{"created after", api(keyward.KeyFilter{CreatedAfter: ptr(k2.CreatedAt)}), ids(k5, k4, k3)},
		{"created before", api(keyward.KeyFilter{CreatedBefore: ptr(k3.CreatedAt)}), ids(k2, k1)},
		{"created between", api(keyward.KeyFilter{CreatedAfter: ptr(k1.CreatedAt), CreatedBefore: ptr(k4.CreatedAt)}), ids(k3, k2)},
		{"last used before (never used included)", api(keyward.KeyFilter{LastUsedBefore: ptr(t0)}), ids(k4, k2, k1)},
		{"last used before, later", api(keyward.KeyFilter{LastUsedBefore: ptr(t0.Add(2 * time.Hour))}), ids(k5, k4, k3, k2, k1)},
		{"expires after (never-expiring keys excluded)", api(keyward.KeyFilter{ExpiresAfter: ptr(now)}), ids(k3)},
		{"expires before (never-expiring keys excluded)", api(keyward.KeyFilter{ExpiresBefore: ptr(now)}), ids(k1)},
		{"expires between", api(keyward.KeyFilter{ExpiresAfter: ptr(now.Add(-2 * time.Hour)), ExpiresBefore: ptr(now.Add(2 * time.Hour))}), ids(k4, k3, k1)},
		{"expires after, exclusive", api(keyward.KeyFilter{ExpiresAfter: ptr(now.Add(-time.Hour))}), ids(k4, k3)},
		{"expires within, active", api(keyward.KeyFilter{Status: keyward.StatusActive, ExpiresAfter: ptr(now.Add(-time.Minute)), ExpiresBefore: ptr(now.Add(2 * time.Hour))}), ids(k4)},
		{"several filters", api(keyward.KeyFilter{Status: keyward.StatusActive, OwnerType: keyward.OwnerAccount, Search: "alpha"}), ids(k1)},
		{"filters that exclude each other", api(keyward.KeyFilter{Status: keyward.StatusRevoked, ProjectID: p1}), ids()},
		{"management keys", &keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindManagement}, ids(m1)},
		{"other account", &keyward.KeyFilter{AccountID: b.ID, Kind: keyward.KindAPI}, ids(b1)},
		{"other account, filtered", &keyward.KeyFilter{AccountID: b.ID, Kind: keyward.KindAPI, OwnerID: u1, Resource: "docs"}, ids(b1)},
		{"unknown account", &keyward.KeyFilter{AccountID: "acc_01HZX3K8Q4W2N5R7T9V0B1C2D3", Kind: keyward.KindAPI}, ids()},
		// KeyFilter: "Zero fields do not filter".
		{"every account", &keyward.KeyFilter{Kind: keyward.KindAPI, Search: "alpha key"}, ids(b1, k1)},
		{"every kind", &keyward.KeyFilter{AccountID: a.ID, Search: "alpha"}, ids(m1, k3, k1)},
	}
	names := map[string]string{}
	for n, k := range map[string]*keyward.Key{"k1": k1, "k2": k2, "k3": k3, "k4": k4, "k5": k5, "m1": m1, "b1": b1} {
		names[k.ID] = n
	}
	checkFilters(e, "ListKeys", e.keyLister, tests, namedBy(names))
}

// ExpiringKeys: the account's active keys of the kind whose expiry is in
// the open window, soonest first (ties by id), at most the limit.
func testExpiringKeys(e *env) {
	a, b := e.account("acme"), e.account("other")
	now := e.now()
	at := func(d time.Duration) func(*keyward.Key) {
		return func(k *keyward.Key) { k.ExpiresAt = ptr(now.Add(d)) }
	}
	// Created in an order unlike their expiry, so id order is not it.
	late := e.apiKey(a, at(6*24*time.Hour))
	soon := e.apiKey(a, at(time.Hour))
	tieB := e.apiKey(a, at(3*time.Hour))
	tieA := e.apiKey(a, at(3*time.Hour))
	mid := e.apiKey(a, at(2*24*time.Hour))
	past := e.apiKey(a, at(-time.Minute))
	after := e.apiKey(a, at(8*24*time.Hour))
	never := e.apiKey(a)
	disabled := e.apiKey(a, at(2*time.Hour), func(k *keyward.Key) { k.Status = keyward.StatusDisabled })
	mgmt := e.apiKey(a, at(2*time.Hour), func(k *keyward.Key) {
		k.Kind, k.Prefix, k.PermissionMode, k.Permissions = keyward.KindManagement, "kwm", "", []string{keyward.PermKeysRead}
	})
	theirs := e.apiKey(b, at(2*time.Hour))
	for _, k := range []*keyward.Key{late, soon, tieB, tieA, mid, past, after, never, disabled, mgmt, theirs} {
		e.create(k)
	}
	ties := []string{tieA.ID, tieB.ID}
	slices.Sort(ties)
	week := now.Add(7 * 24 * time.Hour)
	for _, c := range []struct {
		name          string
		kind          keyward.KeyKind
		after, before time.Time
		limit         int
		want          []string
	}{
		{"the week", keyward.KindAPI, now, week, 10, []string{soon.ID, ties[0], ties[1], mid.ID, late.ID}},
		{"the limit keeps the soonest", keyward.KindAPI, now, week, 2, []string{soon.ID, ties[0]}},
		{"bounds are exclusive", keyward.KindAPI, *soon.ExpiresAt, *late.ExpiresAt, 10, []string{ties[0], ties[1], mid.ID}},
		{"management keys", keyward.KindManagement, now, week, 10, []string{mgmt.ID}},
		{"an empty window", keyward.KindAPI, week, week.Add(time.Hour), 10, nil},
	} {
		var got []string
		e.read(func(tx keyward.Tx) error {
			keys, err := tx.ExpiringKeys(e.ctx, a.ID, c.kind, c.after, c.before, c.limit)
			for _, k := range keys {
				got = append(got, k.ID)
			}
			return err
		})
		if !slices.Equal(got, c.want) {
			e.t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

package keyward

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// dtFailing names the checks after NOT_FOUND in the order of docs/api.md.
type dtFailing struct {
	status        KeyStatus
	expired       bool
	rotated       bool
	ownerInactive bool
	badIP         bool
	wrongProject  bool
	noPermission  bool
}

// want returns the code of the first failing check.
func (f dtFailing) want() VerifyCode {
	switch {
	case f.status == StatusRevoked:
		return VerifyRevoked
	case f.status == StatusDisabled:
		return VerifyDisabled
	case f.expired:
		return VerifyExpired
	case f.rotated:
		return VerifyRotated
	case f.ownerInactive:
		return VerifyOwnerInactive
	case f.badIP:
		return VerifyForbiddenIP
	case f.wrongProject:
		return VerifyWrongProject
	case f.noPermission:
		return VerifyInsufficientPermissions
	}
	return VerifyValid
}

// build returns a request and check input that fail exactly the checks f names.
func (f dtFailing) build(t *testing.T) (*PreparedVerify, *dtCheckInput) {
	t.Helper()
	now := dtNow
	exp := now.Add(time.Hour)
	if f.expired {
		exp = now.Add(-time.Millisecond)
	}
	k := &Key{ID: dtKeyID, Kind: KindAPI, Status: f.status, ExpiresAt: &exp, IPAllowlist: []string{"10.0.0.0/8"}, ProjectID: dtStr(dtProjectID)}
	m := &KeyMatch{Key: k}
	if f.rotated {
		m.ValidUntil = dtTimeP(now.Add(-time.Millisecond))
	}
	ip, project := "10.1.2.3", dtProjectID
	if f.badIP {
		ip = "192.168.0.1"
	}
	if f.wrongProject {
		project = dtOtherPrj
	}
	perm := "docs:read:d1"
	req := &VerifyRequest{Key: Some(TokenFromString("kw_x")), Permissions: &perm, IP: &ip, ProjectID: &project}
	p, err := req.Prepare()
	if err != nil {
		t.Fatal(err)
	}
	scope := dtScope("docs", AccessRead, "d1")
	if f.noPermission {
		scope = dtScope("docs", AccessRead, "d2")
	}
	return p, &dtCheckInput{Match: m, Now: now, OwnerActive: !f.ownerInactive, Grants: NewGrants([]Scope{scope})}
}

// dtCheckInput is what the ordered checks after NOT_FOUND need.
type dtCheckInput struct {
	Match       *KeyMatch
	Now         time.Time
	OwnerActive bool
	Grants      Checker
}

func (in *dtCheckInput) compile() *CompiledKey {
	return CompileKey(in.Match, in.OwnerActive, in.Grants)
}

// dtCheck runs the checks after NOT_FOUND as a verification does.
func dtCheck(p *PreparedVerify, in *dtCheckInput) VerifyCode {
	return in.compile().Check(p, in.Now.UnixMilli())
}

// Every combination of failing checks answers with the first in the documented
// order, and the credential is usable exactly when none of the credential
// checks (revoked, disabled, expired, rotated) fails.

func TestDtCheckOrder(t *testing.T) {
	n := 0
	for _, status := range []KeyStatus{StatusActive, StatusDisabled, StatusRevoked} {
		for bits := 0; bits < 1<<6; bits++ {
			f := dtFailing{
				status: status, expired: bits&1 != 0, rotated: bits&2 != 0, ownerInactive: bits&4 != 0,
				badIP: bits&8 != 0, wrongProject: bits&16 != 0, noPermission: bits&32 != 0,
			}
			p, in := f.build(t)
			if got := dtCheck(p, in); got != f.want() {
				t.Errorf("%+v: Check = %s, want %s", f, got, f.want())
			}
			credentialFails := f.status != StatusActive || f.expired || f.rotated
			if got := in.compile().Usable(in.Now.UnixMilli()); got == credentialFails {
				t.Errorf("%+v: Usable = %v", f, got)
			}
			n++
		}
	}
	if n != 192 {
		t.Fatalf("ran %d combinations", n)
	}
}

func TestDtCheckEdges(t *testing.T) {
	now := dtNow
	active := func(mod func(k *Key, m *KeyMatch)) *dtCheckInput {
		k := &Key{ID: dtKeyID, Kind: KindAPI, Status: StatusActive}
		m := &KeyMatch{Key: k}
		if mod != nil {
			mod(k, m)
		}
		return &dtCheckInput{Match: m, Now: now, OwnerActive: true, Grants: NewGrants(nil)}
	}
	prep := func(r VerifyRequest) *PreparedVerify {
		r.Key = Some(TokenFromString("kw_x"))
		p, err := r.Prepare()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ip := func(s string) *string { return &s }
	tests := []struct {
		name string
		req  VerifyRequest
		in   *dtCheckInput
		want VerifyCode
	}{
		{"plain key", VerifyRequest{}, active(nil), VerifyValid},
		{"expires exactly now", VerifyRequest{}, active(func(k *Key, _ *KeyMatch) { k.ExpiresAt = dtTimeP(now) }), VerifyExpired},
		{"expires a millisecond later", VerifyRequest{}, active(func(k *Key, _ *KeyMatch) { k.ExpiresAt = dtTimeP(now.Add(time.Millisecond)) }), VerifyValid},
		{"grace ends exactly now", VerifyRequest{}, active(func(_ *Key, m *KeyMatch) { m.ValidUntil = dtTimeP(now) }), VerifyRotated},
		{"inside the grace period", VerifyRequest{}, active(func(_ *Key, m *KeyMatch) { m.ValidUntil = dtTimeP(now.Add(time.Millisecond)) }), VerifyValid},
		{"allowlist without a client address", VerifyRequest{}, active(func(k *Key, _ *KeyMatch) { k.IPAllowlist = []string{"0.0.0.0/0"} }), VerifyForbiddenIP},
		{"allowlist with a client address", VerifyRequest{IP: ip("8.8.8.8")}, active(func(k *Key, _ *KeyMatch) { k.IPAllowlist = []string{"0.0.0.0/0"} }), VerifyValid},
		{"mapped client address on an IPv4 allowlist", VerifyRequest{IP: ip("::ffff:10.0.0.9")}, active(func(k *Key, _ *KeyMatch) { k.IPAllowlist = []string{"10.0.0.0/8"} }), VerifyValid},
		{"IPv6 client on an IPv4 allowlist", VerifyRequest{IP: ip("2001:db8::1")}, active(func(k *Key, _ *KeyMatch) { k.IPAllowlist = []string{"0.0.0.0/0"} }), VerifyForbiddenIP},
		{"key of all projects, project asked", VerifyRequest{ProjectID: dtStr(dtProjectID)}, active(nil), VerifyValid},
		{"project key, no project asked", VerifyRequest{}, active(func(k *Key, _ *KeyMatch) { k.ProjectID = dtStr(dtProjectID) }), VerifyValid},
		{"project key, its project", VerifyRequest{ProjectID: dtStr(dtProjectID)}, active(func(k *Key, _ *KeyMatch) { k.ProjectID = dtStr(dtProjectID) }), VerifyValid},
		{"project key, another project", VerifyRequest{ProjectID: dtStr(dtOtherPrj)}, active(func(k *Key, _ *KeyMatch) { k.ProjectID = dtStr(dtProjectID) }), VerifyWrongProject},
		{"no permission query, no grants", VerifyRequest{}, active(nil), VerifyValid},
		{"permission query, no grants", VerifyRequest{Permissions: dtStr("docs:read")}, active(nil), VerifyInsufficientPermissions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := dtCheck(prep(tc.req), tc.in); got != tc.want {
				t.Fatalf("Check = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestDtIPAllowed(t *testing.T) {
	addr := netip.MustParseAddr
	tests := []struct {
		list    []string
		addr    string // "" = no address given
		allowed bool
	}{
		{nil, "", true},
		{nil, "10.0.0.1", true},
		{[]string{"10.0.0.0/8"}, "", false},
		{[]string{"10.0.0.0/8"}, "10.255.0.1", true},
		{[]string{"10.0.0.0/8"}, "11.0.0.1", false},
		{[]string{"10.0.0.1/32"}, "10.0.0.1", true},
		{[]string{"10.0.0.1/32"}, "10.0.0.2", false},
		{[]string{"192.168.0.0/16", "10.0.0.1/32"}, "10.0.0.1", true},
		{[]string{"2001:db8::/32"}, "2001:db8:1::5", true},
		{[]string{"2001:db8::/32"}, "2001:db9::5", false},
		{[]string{"::/0"}, "10.0.0.1", false},
		{[]string{"0.0.0.0/0"}, "::1", false},
		{[]string{"not an entry", "10.0.0.0/8"}, "10.0.0.1", true},
		{[]string{"not an entry"}, "10.0.0.1", false},
		// An IPv4-mapped allowlist entry matches the IPv4 client it names.
		{[]string{"::ffff:10.0.0.0/104"}, "10.0.0.1", true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v/%s", tc.list, tc.addr), func(t *testing.T) {
			var a netip.Addr
			if tc.addr != "" {
				a = addr(tc.addr)
			}
			if got := IPAllowed(tc.list, a, tc.addr != ""); got != tc.allowed {
				t.Fatalf("IPAllowed = %v, want %v", got, tc.allowed)
			}
		})
	}
	if IPAllowed([]string{"0.0.0.0/0"}, netip.Addr{}, true) {
		t.Fatal("an invalid address passes an allowlist")
	}
}

func TestDtPrepare(t *testing.T) {
	str := func(s string) *string { return &s }
	i64 := func(v int64) *int64 { return &v }
	key := Some(TokenFromString("kw_x"))
	t.Run("defaults", func(t *testing.T) {
		p, err := (&VerifyRequest{Key: key}).Prepare()
		if err != nil {
			t.Fatal(err)
		}
		if p.Cost != 1 || p.Query != nil || p.ProjectID != "" || p.HasIP || p.IP.IsValid() {
			t.Fatalf("defaults = %+v", p)
		}
	})
	t.Run("empty or malformed token verifies as NOT_FOUND, not 422", func(t *testing.T) {
		for _, s := range []string{"", " ", "x", strings.Repeat("a", MaxTokenLen+1)} {
			p, err := (&VerifyRequest{Key: Some(TokenFromString(s))}).Prepare()
			if err != nil || p == nil {
				t.Fatalf("Prepare with token %q: %v", s, err)
			}
		}
	})
	t.Run("values", func(t *testing.T) {
		tok := dtMustToken(t, "kw")
		p, err := (&VerifyRequest{Key: Some(tok), Permissions: str("a:read OR b:write"), ProjectID: str(dtProjectID), IP: str("::ffff:10.0.0.1"), Cost: i64(0)}).Prepare()
		if err != nil {
			t.Fatal(err)
		}
		if p.Query == nil || !slices.Equal(p.Query.atoms(), []string{"a:read", "b:write"}) ||
			p.ProjectID != dtProjectID || !p.HasIP || p.IP != netip.MustParseAddr("10.0.0.1") || p.Cost != 0 {
			t.Fatalf("prepared = %+v", p)
		}
	})
	t.Run("largest cost", func(t *testing.T) {
		if _, err := (&VerifyRequest{Key: key, Cost: i64(MaxVerifyCost)}).Prepare(); err != nil {
			t.Fatal(err)
		}
	})
	tests := []struct {
		name   string
		req    VerifyRequest
		code   Code
		fields []string
	}{
		{"key absent", VerifyRequest{}, ECodeValidation, []string{"key"}},
		{"key null", VerifyRequest{Key: Null[Token]()}, ECodeValidation, []string{"key"}},
		{"bad query", VerifyRequest{Key: key, Permissions: str("a:read AND")}, ECodeInvalidPermission, nil},
		{"empty query", VerifyRequest{Key: key, Permissions: str("")}, ECodeInvalidPermission, nil},
		{"bad project", VerifyRequest{Key: key, ProjectID: str("p1")}, ECodeValidation, []string{"project_id"}},
		{"key id as project", VerifyRequest{Key: key, ProjectID: str(dtKeyID)}, ECodeValidation, []string{"project_id"}},
		{"bad ip", VerifyRequest{Key: key, IP: str("nope")}, ECodeValidation, []string{"ip"}},
		{"prefix as ip", VerifyRequest{Key: key, IP: str("10.0.0.0/8")}, ECodeValidation, []string{"ip"}},
		{"empty ip", VerifyRequest{Key: key, IP: str("")}, ECodeValidation, []string{"ip"}},
		{"negative cost", VerifyRequest{Key: key, Cost: i64(-1)}, ECodeValidation, []string{"cost"}},
		{"cost too high", VerifyRequest{Key: key, Cost: i64(MaxVerifyCost + 1)}, ECodeValidation, []string{"cost"}},
		{"several", VerifyRequest{Key: key, ProjectID: str("p"), IP: str("x"), Cost: i64(-5)}, ECodeValidation, []string{"cost", "ip", "project_id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.req.Prepare()
			if err == nil {
				t.Fatalf("Prepare = %+v, want an error", p)
			}
			if ErrorCode(err) != tc.code {
				t.Fatalf("code = %s (%v), want %s", ErrorCode(err), err, tc.code)
			}
			if tc.fields != nil {
				if got := dtErrFields(t, err); !slices.Equal(got, tc.fields) {
					t.Fatalf("fields = %v, want %v", got, tc.fields)
				}
			}
		})
	}
	t.Run("from JSON", func(t *testing.T) {
		var r VerifyRequest
		if err := json.Unmarshal([]byte(`{"key":"kw_abc","permissions":"x:read","project_id":null,"ip":"10.0.0.1","cost":3}`), &r); err != nil {
			t.Fatal(err)
		}
		p, err := r.Prepare()
		if err != nil {
			t.Fatal(err)
		}
		if r.Key.Value.Reveal() != "kw_abc" || p.Query == nil || p.ProjectID != "" || p.Cost != 3 || !p.HasIP {
			t.Fatalf("prepared = %+v", p)
		}
		for _, body := range []string{`{}`, `{"key":null}`} {
			var r VerifyRequest
			if err := json.Unmarshal([]byte(body), &r); err != nil {
				t.Fatal(err)
			}
			_, err := r.Prepare()
			if fields := dtErrFields(t, err); !slices.Equal(fields, []string{"key"}) {
				t.Fatalf("%s: fields %v, want [key]", body, fields)
			}
		}
	})
}

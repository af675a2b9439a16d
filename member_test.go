package keyward

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// dtMemEnv is a MemberEnv whose account has the roles "reader", "writer"
// and "ops.team-1".
func dtMemEnv() *MemberEnv {
	return &MemberEnv{RoleExists: func(name string) (bool, error) {
		return name == "reader" || name == "writer" || name == "ops.team-1", nil
	}}
}

// dtMemDecode decodes a JSON body into dst the way the HTTP layer does
// (unknown members refused).
func dtMemDecode(t testing.TB, body string, dst any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

// dtMemVerdict checks a rule's error against the expected failing fields
// (nil: success).
func dtMemVerdict(t *testing.T, err error, fields []string) {
	t.Helper()
	if fields == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want failing fields %v", fields)
	}
	if got := dtErrFields(t, err); !slices.Equal(got, dtSorted(fields...)) {
		t.Fatalf("failing fields = %v, want %v (%v)", got, dtSorted(fields...), err)
	}
}

// dtMemUser is a stored user with every field set.
func dtMemUser() *User {
	return &User{ID: dtUserID, AccountID: dtAccountID, ExternalID: dtStr("ext-1"), Email: dtStr("ann@example.com"),
		Name: dtStr("Ann"), Roles: []string{"reader"}, Status: MemberActive, CreatedAt: dtNow, UpdatedAt: dtNow, Version: 2}
}

func TestDtApplyUser(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	email := func(local string, n int) string { return local + "@" + long(n-len(local)-5) + ".com" }
	tests := []struct {
		name     string
		creating bool
		cur      *User // default: a blank user when creating, dtMemUser otherwise
		body     string
		fields   []string
		want     func(u *User) // changes expected from cur
	}{
		// Create.
		{name: "create empty body", creating: true, body: `{}`, want: func(u *User) {
			u.Status, u.Roles = MemberActive, []string{}
		}},
		{name: "create every field", creating: true, body: `{"external_id":"e-1","email":"a.b+c@example.co.uk","name":"Ann Lee é","roles":["writer","reader","writer"],"status":"disabled"}`,
			want: func(u *User) {
				u.ExternalID, u.Email, u.Name = dtStr("e-1"), dtStr("a.b+c@example.co.uk"), dtStr("Ann Lee é")
				u.Roles, u.Status = []string{"writer", "reader"}, MemberDisabled
			}},
		{name: "create nulls", creating: true, body: `{"external_id":null,"email":null,"name":null}`, want: func(u *User) {
			u.Status, u.Roles = MemberActive, []string{}
		}},
		{name: "create role names with dots and dashes", creating: true, body: `{"roles":["ops.team-1"]}`, want: func(u *User) {
			u.Status, u.Roles = MemberActive, []string{"ops.team-1"}
		}},
		{name: "create status null", creating: true, body: `{"status":null}`, fields: []string{"status"}},
		{name: "create status unknown", creating: true, body: `{"status":"revoked"}`, fields: []string{"status"}},
		{name: "create status wrong case", creating: true, body: `{"status":"Active"}`, fields: []string{"status"}},
		{name: "create roles null", creating: true, body: `{"roles":null}`, fields: []string{"roles"}},
		{name: "create unknown role", creating: true, body: `{"roles":["reader","admin"]}`, fields: []string{"roles[1]"}},
		{name: "create invalid role name", creating: true, body: `{"roles":["Reader","a b",""]}`, fields: []string{"roles[0]", "roles[1]", "roles[2]"}},
		{name: "create too many roles", creating: true, body: `{"roles":` + dtJSON(dtNames("role", MaxRoles+1)) + `}`, fields: []string{"roles"}},
		{name: "create repeated roles count once", creating: true, body: `{"roles":` + dtJSON(append(slices.Repeat([]string{"reader"}, MaxRoles), "writer")) + `}`,
			want: func(u *User) { u.Status, u.Roles = MemberActive, []string{"reader", "writer"} }},

		// email.
		{name: "email without at", creating: true, body: `{"email":"ann.example.com"}`, fields: []string{"email"}},
		{name: "email with display name", creating: true, body: `{"email":"Ann <ann@example.com>"}`, fields: []string{"email"}},
		{name: "email in angle brackets", creating: true, body: `{"email":"<ann@example.com>"}`, fields: []string{"email"}},
		{name: "email with spaces around", creating: true, body: `{"email":" ann@example.com "}`, fields: []string{"email"}},
		{name: "email two addresses", creating: true, body: `{"email":"a@example.com, b@example.com"}`, fields: []string{"email"}},
		{name: "email empty", creating: true, body: `{"email":""}`, fields: []string{"email"}},
		{name: "email blank", creating: true, body: `{"email":"  "}`, fields: []string{"email"}},
		{name: "email with newline", creating: true, body: `{"email":"ann@example.com\n"}`, fields: []string{"email"}},
		{name: "email at 254 characters", creating: true, body: `{"email":"` + email("a", 254) + `"}`, want: func(u *User) {
			u.Status, u.Roles, u.Email = MemberActive, []string{}, dtStr(email("a", 254))
		}},
		{name: "email over 254 characters", creating: true, body: `{"email":"` + email("a", 255) + `"}`, fields: []string{"email"}},

		// external_id and name.
		{name: "external id empty", creating: true, body: `{"external_id":""}`, fields: []string{"external_id"}},
		{name: "external id blank", creating: true, body: `{"external_id":" \t"}`, fields: []string{"external_id"}},
		{name: "external id control character", creating: true, body: `{"external_id":"a\u0000b"}`, fields: []string{"external_id"}},
		{name: "external id 255", creating: true, body: `{"external_id":"` + long(255) + `"}`, want: func(u *User) {
			u.Status, u.Roles, u.ExternalID = MemberActive, []string{}, dtStr(long(255))
		}},
		{name: "external id 256", creating: true, body: `{"external_id":"` + long(256) + `"}`, fields: []string{"external_id"}},
		{name: "name empty", creating: true, body: `{"name":""}`, fields: []string{"name"}},
		{name: "name with newline", creating: true, body: `{"name":"a\nb"}`, fields: []string{"name"}},
		{name: "name too long", creating: true, body: `{"name":"` + long(MaxNameLen+1) + `"}`, fields: []string{"name"}},
		{name: "name at the limit in runes", creating: true, body: `{"name":"` + strings.Repeat("é", MaxNameLen) + `"}`, want: func(u *User) {
			u.Status, u.Roles, u.Name = MemberActive, []string{}, dtStr(strings.Repeat("é", MaxNameLen))
		}},
		{name: "every field wrong", creating: true, body: `{"external_id":"","email":"x","name":"","roles":["nope"],"status":"gone"}`,
			fields: []string{"external_id", "email", "name", "roles[0]", "status"}},

		// PATCH.
		{name: "patch empty keeps everything", body: `{}`, want: func(u *User) {}},
		{name: "patch nulls clear", body: `{"external_id":null,"email":null,"name":null}`, want: func(u *User) {
			u.ExternalID, u.Email, u.Name = nil, nil, nil
		}},
		{name: "patch replaces", body: `{"email":"bob@example.com","name":"Bob","external_id":"ext-2"}`, want: func(u *User) {
			u.Email, u.Name, u.ExternalID = dtStr("bob@example.com"), dtStr("Bob"), dtStr("ext-2")
		}},
		{name: "patch disable", body: `{"status":"disabled"}`, want: func(u *User) { u.Status = MemberDisabled }},
		{name: "patch enable", cur: func() *User { u := dtMemUser(); u.Status = MemberDisabled; return u }(), body: `{"status":"active"}`,
			want: func(u *User) { u.Status = MemberActive }},
		{name: "patch roles replaced", body: `{"roles":["writer"]}`, want: func(u *User) { u.Roles = []string{"writer"} }},
		{name: "patch roles emptied", body: `{"roles":[]}`, want: func(u *User) { u.Roles = []string{} }},
		{name: "patch roles null", body: `{"roles":null}`, fields: []string{"roles"}},
		{name: "patch status null", body: `{"status":null}`, fields: []string{"status"}},
		{name: "patch unknown role", body: `{"roles":["writer","ghost"]}`, fields: []string{"roles[1]"}},
		{name: "patch bad email", body: `{"email":"nope"}`, fields: []string{"email"}},
		{name: "patch keeps status and roles when absent", cur: func() *User { u := dtMemUser(); u.Status = MemberDisabled; return u }(),
			body: `{"name":"N"}`, want: func(u *User) { u.Name = dtStr("N") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur := tc.cur
			if cur == nil && tc.creating {
				cur = &User{ID: dtUserID, AccountID: dtAccountID}
			} else if cur == nil {
				cur = dtMemUser()
			}
			want := *cur
			want.Roles = slices.Clone(cur.Roles)
			u := *cur
			u.Roles = slices.Clone(cur.Roles)
			var in UserFields
			dtMemDecode(t, tc.body, &in)
			err := ApplyUser(&u, &in, dtMemEnv(), tc.creating)
			dtMemVerdict(t, err, tc.fields)
			if err != nil {
				return
			}
			tc.want(&want)
			if !reflect.DeepEqual(u, want) {
				t.Fatalf("user = %+v\nwant   %+v", u, want)
			}
		})
	}
}

// The roles a user gets are looked up in the account; a failing lookup is
// the server's problem, not a validation error, and an unknown role is
// named by its position.
func TestDtApplyUserRoleLookup(t *testing.T) {
	var asked []string
	env := &MemberEnv{RoleExists: func(name string) (bool, error) {
		asked = append(asked, name)
		return name == "b", nil
	}}
	u := &User{}
	err := ApplyUser(u, &UserFields{Roles: Some([]string{"a", "b", "a", "c"})}, env, true)
	dtMemVerdict(t, err, []string{"roles[0]", "roles[2]"}) // after de-duplication: a, b, c
	if !slices.Equal(asked, []string{"a", "b", "c"}) {
		t.Fatalf("looked up %v, want each distinct role once", asked)
	}
	var ke *Error
	errors.As(err, &ke)
	if !strings.Contains(ke.Fields[0].Message, `"a"`) {
		t.Fatalf("message %q does not name the role", ke.Fields[0].Message)
	}

	boom := errors.New("dt: database down")
	env.RoleExists = func(string) (bool, error) { return false, boom }
	err = ApplyUser(&User{}, &UserFields{Roles: Some([]string{"a"}), Email: Some("bad")}, env, true)
	if !errors.Is(err, boom) || ErrorCode(err) == ECodeValidation {
		t.Fatalf("err = %v, want the lookup failure", err)
	}
	// A nil lookup knows no role.
	err = ApplyUser(&User{}, &UserFields{Roles: Some([]string{"a"})}, &MemberEnv{}, true)
	dtMemVerdict(t, err, []string{"roles[0]"})
	// No roles asked for: no lookup at all.
	if err := ApplyUser(&User{}, &UserFields{Name: Some("n")}, &MemberEnv{}, true); err != nil {
		t.Fatal(err)
	}
}

func TestDtApplyServiceAccount(t *testing.T) {
	cur := func() *ServiceAccount {
		return &ServiceAccount{ID: dtSAID, AccountID: dtAccountID, Name: "ci", Description: dtStr("the CI job"), Status: MemberActive,
			CreatedAt: dtNow, UpdatedAt: dtNow, Version: 4}
	}
	tests := []struct {
		name     string
		creating bool
		body     string
		fields   []string
		want     func(s *ServiceAccount)
	}{
		{name: "create minimal", creating: true, body: `{"name":"backend"}`, want: func(s *ServiceAccount) {
			*s = ServiceAccount{ID: dtSAID, AccountID: dtAccountID, Name: "backend", Status: MemberActive}
		}},
		{name: "create every field", creating: true, body: `{"name":"backend","description":"two\nlines","status":"disabled"}`, want: func(s *ServiceAccount) {
			*s = ServiceAccount{ID: dtSAID, AccountID: dtAccountID, Name: "backend", Description: dtStr("two\nlines"), Status: MemberDisabled}
		}},
		{name: "create empty description", creating: true, body: `{"name":"b","description":""}`, want: func(s *ServiceAccount) {
			*s = ServiceAccount{ID: dtSAID, AccountID: dtAccountID, Name: "b", Description: dtStr(""), Status: MemberActive}
		}},
		{name: "create without name", creating: true, body: `{}`, fields: []string{"name"}},
		{name: "create name null", creating: true, body: `{"name":null}`, fields: []string{"name"}},
		{name: "create name empty", creating: true, body: `{"name":""}`, fields: []string{"name"}},
		{name: "create name blank", creating: true, body: `{"name":"   "}`, fields: []string{"name"}},
		{name: "create name with newline", creating: true, body: `{"name":"a\nb"}`, fields: []string{"name"}},
		{name: "create name too long", creating: true, body: `{"name":"` + strings.Repeat("n", MaxNameLen+1) + `"}`, fields: []string{"name"}},
		{name: "create description too long", creating: true, body: `{"name":"b","description":"` + strings.Repeat("d", MaxDescriptionLen+1) + `"}`, fields: []string{"description"}},
		{name: "create description control character", creating: true, body: `{"name":"b","description":"a\u0007"}`, fields: []string{"description"}},
		{name: "create status null", creating: true, body: `{"name":"b","status":null}`, fields: []string{"status"}},
		{name: "create status unknown", creating: true, body: `{"name":"b","status":"revoked"}`, fields: []string{"status"}},
		{name: "create everything wrong", creating: true, body: `{"description":"` + strings.Repeat("d", MaxDescriptionLen+1) + `","status":"x"}`,
			fields: []string{"name", "description", "status"}},

		{name: "patch empty", body: `{}`, want: func(s *ServiceAccount) {}},
		{name: "patch rename", body: `{"name":"deploy"}`, want: func(s *ServiceAccount) { s.Name = "deploy" }},
		{name: "patch name null", body: `{"name":null}`, fields: []string{"name"}},
		{name: "patch name empty", body: `{"name":""}`, fields: []string{"name"}},
		{name: "patch description null clears", body: `{"description":null}`, want: func(s *ServiceAccount) { s.Description = nil }},
		{name: "patch description replaced", body: `{"description":"new"}`, want: func(s *ServiceAccount) { s.Description = dtStr("new") }},
		{name: "patch disable", body: `{"status":"disabled"}`, want: func(s *ServiceAccount) { s.Status = MemberDisabled }},
		{name: "patch status null", body: `{"status":null}`, fields: []string{"status"}},
		{name: "patch status unknown", body: `{"status":"paused"}`, fields: []string{"status"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sa := cur()
			if tc.creating {
				sa = &ServiceAccount{ID: dtSAID, AccountID: dtAccountID}
			}
			want := *sa
			var in ServiceAccountFields
			dtMemDecode(t, tc.body, &in)
			err := ApplyServiceAccount(sa, &in, tc.creating)
			dtMemVerdict(t, err, tc.fields)
			if err != nil {
				return
			}
			tc.want(&want)
			if !reflect.DeepEqual(*sa, want) {
				t.Fatalf("service account = %+v\nwant              %+v", *sa, want)
			}
		})
	}
}

func TestDtApplyRole(t *testing.T) {
	cur := func() *Role {
		return &Role{AccountID: dtAccountID, Name: "reader", Description: dtStr("reads"), Scopes: []Scope{dtScope("docs", AccessRead)},
			CreatedAt: dtNow, UpdatedAt: dtNow, Version: 3}
	}
	tests := []struct {
		name     string
		creating bool
		body     string
		fields   []string
		want     func(r *Role)
	}{
		{name: "create minimal", creating: true, body: `{"name":"viewer"}`, want: func(r *Role) {
			*r = Role{AccountID: dtAccountID, Name: "viewer", Scopes: []Scope{}}
		}},
		{name: "create every field", creating: true,
			body: `{"name":"ops.team-1","description":"ops","scopes":[{"resource":"docs","access":"write","targets":["d1","d2","d1"]},{"resource":"search","access":"read"}]}`,
			want: func(r *Role) {
				*r = Role{AccountID: dtAccountID, Name: "ops.team-1", Description: dtStr("ops"),
					Scopes: []Scope{dtScope("docs", AccessWrite, "d1", "d2"), dtScope("search", AccessRead)}}
			}},
		{name: "create empty scopes", creating: true, body: `{"name":"none","scopes":[]}`, want: func(r *Role) {
			*r = Role{AccountID: dtAccountID, Name: "none", Scopes: []Scope{}}
		}},
		{name: "create without name", creating: true, body: `{"scopes":[]}`, fields: []string{"name"}},
		{name: "create name null", creating: true, body: `{"name":null}`, fields: []string{"name"}},
		{name: "create name empty", creating: true, body: `{"name":""}`, fields: []string{"name"}},
		{name: "create name upper case", creating: true, body: `{"name":"Reader"}`, fields: []string{"name"}},
		{name: "create name with space", creating: true, body: `{"name":"read er"}`, fields: []string{"name"}},
		{name: "create name starting with a digit", creating: true, body: `{"name":"1reader"}`, fields: []string{"name"}},
		{name: "create name 64 characters", creating: true, body: `{"name":"` + strings.Repeat("r", 64) + `"}`, want: func(r *Role) {
			*r = Role{AccountID: dtAccountID, Name: strings.Repeat("r", 64), Scopes: []Scope{}}
		}},
		{name: "create name 65 characters", creating: true, body: `{"name":"` + strings.Repeat("r", 65) + `"}`, fields: []string{"name"}},
		{name: "create scopes null", creating: true, body: `{"name":"r","scopes":null}`, fields: []string{"scopes"}},
		{name: "create protected resource", creating: true, body: `{"name":"r","scopes":[{"resource":"billing","access":"read"}]}`, fields: []string{"scopes[0].resource"}},
		{name: "create resource not in catalog", creating: true, body: `{"name":"r","scopes":[{"resource":"docs","access":"read"},{"resource":"ghost","access":"read"}]}`,
			fields: []string{"scopes[1].resource"}},
		{name: "create access not supported", creating: true, body: `{"name":"r","scopes":[{"resource":"search","access":"write"},{"resource":"events","access":"read"}]}`,
			fields: []string{"scopes[0].access", "scopes[1].access"}},
		{name: "create access unknown", creating: true, body: `{"name":"r","scopes":[{"resource":"docs","access":"none"}]}`, fields: []string{"scopes[0].access"}},
		{name: "create empty targets", creating: true, body: `{"name":"r","scopes":[{"resource":"docs","access":"read","targets":[]}]}`, fields: []string{"scopes[0].targets"}},
		{name: "create wildcard with ids", creating: true, body: `{"name":"r","scopes":[{"resource":"docs","access":"read","targets":["*","d1"]}]}`, fields: []string{"scopes[0].targets[0]"}},
		{name: "create bad target", creating: true, body: `{"name":"r","scopes":[{"resource":"docs","access":"read","targets":["a b"]}]}`, fields: []string{"scopes[0].targets[0]"}},
		{name: "create duplicate scope", creating: true, body: `{"name":"r","scopes":[{"resource":"docs","access":"read"},{"resource":"docs","access":"read","targets":["x"]}]}`,
			fields: []string{"scopes[1]"}},
		// A role is not tied to a project: a resource of all projects only is fine.
		{name: "create all-projects resource", creating: true, body: `{"name":"r","scopes":[{"resource":"usage","access":"read"}]}`, want: func(r *Role) {
			*r = Role{AccountID: dtAccountID, Name: "r", Scopes: []Scope{dtScope("usage", AccessRead)}}
		}},
		{name: "create description too long", creating: true, body: `{"name":"r","description":"` + strings.Repeat("d", MaxDescriptionLen+1) + `"}`, fields: []string{"description"}},
		{name: "create everything wrong", creating: true, body: `{"name":"R","scopes":[{"resource":"secrets","access":"read"}],"description":"` + strings.Repeat("d", MaxDescriptionLen+1) + `"}`,
			fields: []string{"name", "description", "scopes[0].resource"}},

		{name: "patch empty", body: `{}`, want: func(r *Role) {}},
		{name: "patch name restated", body: `{"name":"reader"}`, want: func(r *Role) {}},
		{name: "patch rename refused", body: `{"name":"viewer"}`, fields: []string{"name"}},
		{name: "patch name null refused", body: `{"name":null}`, fields: []string{"name"}},
		{name: "patch scopes replaced", body: `{"scopes":[{"resource":"files","access":"write","targets":["f"]}]}`, want: func(r *Role) {
			r.Scopes = []Scope{dtScope("files", AccessWrite, "f")}
		}},
		{name: "patch scopes emptied", body: `{"scopes":[]}`, want: func(r *Role) { r.Scopes = []Scope{} }},
		{name: "patch scopes null", body: `{"scopes":null}`, fields: []string{"scopes"}},
		{name: "patch protected scope", body: `{"scopes":[{"resource":"docs","access":"read"},{"resource":"secrets","access":"write"}]}`, fields: []string{"scopes[1].resource"}},
		{name: "patch description null clears", body: `{"description":null}`, want: func(r *Role) { r.Description = nil }},
		{name: "patch description replaced", body: `{"description":""}`, want: func(r *Role) { r.Description = dtStr("") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := cur()
			if tc.creating {
				r = &Role{AccountID: dtAccountID}
			}
			want := *r
			want.Scopes = CloneScopes(r.Scopes)
			var in RoleFields
			dtMemDecode(t, tc.body, &in)
			err := ApplyRole(r, &in, dtCatalog(), tc.creating)
			dtMemVerdict(t, err, tc.fields)
			if err != nil {
				return
			}
			tc.want(&want)
			if !reflect.DeepEqual(*r, want) {
				t.Fatalf("role = %+v\nwant   %+v", *r, want)
			}
		})
	}
}

// A role's scopes are checked against the catalog it is given: what one
// template protects, another may not have at all.
func TestDtApplyRoleCatalogs(t *testing.T) {
	resOf := func(name string) Catalog {
		res, _, ok := CatalogTemplate(name, dtNow)
		if !ok {
			t.Fatalf("template %s missing", name)
		}
		return NewCatalog(res)
	}
	tests := []struct {
		template string
		scopes   string
		fields   []string
	}{
		{TemplateDiscue, `[{"resource":"queues","access":"write","targets":["q_1"]},{"resource":"messages","access":"read"}]`, nil},
		{TemplateDiscue, `[{"resource":"api_clients","access":"read"},{"resource":"api_keys","access":"write"},{"resource":"subscriptions","access":"read"}]`,
			[]string{"scopes[0].resource", "scopes[1].resource", "scopes[2].resource"}},
		{TemplateOrq, `[{"resource":"agent","access":"write"},{"resource":"model","access":"read"},{"resource":"chat_completions","access":"write"}]`, nil},
		{TemplateOrq, `[{"resource":"model","access":"write"},{"resource":"chat_completions","access":"read"},{"resource":"sso","access":"read"}]`,
			[]string{"scopes[0].access", "scopes[1].access", "scopes[2].resource"}},
		{TemplatePulseCRM, `[{"resource":"applications","access":"read"},{"resource":"applications","access":"write"}]`, nil},
		{TemplatePulseCRM, `[{"resource":"api_keys","access":"write"}]`, []string{"scopes[0].resource"}},
		{TemplateDefault, `[{"resource":"queues","access":"read"}]`, []string{"scopes[0].resource"}},
	}
	for _, tc := range tests {
		t.Run(tc.template+" "+tc.scopes, func(t *testing.T) {
			var in RoleFields
			dtMemDecode(t, `{"name":"r","scopes":`+tc.scopes+`}`, &in)
			err := ApplyRole(&Role{}, &in, resOf(tc.template), true)
			dtMemVerdict(t, err, tc.fields)
		})
	}
}

func TestDtMemberETags(t *testing.T) {
	u, sa := dtMemUser(), &ServiceAccount{ID: dtSAID, Version: 4}
	r1 := &Role{AccountID: dtAccountID, Name: "reader", Version: 3}
	r2 := &Role{AccountID: "acc_01HZX3K8Q4W2N5R7T9V0B1C2D9", Name: "reader", Version: 3}
	tags := map[string]string{"user": u.ETag(), "service account": sa.ETag(), "role": r1.ETag(), "same role in another account": r2.ETag()}
	seen := map[string]string{}
	for what, tag := range tags {
		if tag == "" {
			t.Fatalf("%s has an empty etag", what)
		}
		if prev, dup := seen[tag]; dup {
			t.Fatalf("%s and %s share the etag %s", what, prev, tag)
		}
		seen[tag] = what
	}
	before := r1.ETag()
	r1.Version++
	if r1.ETag() == before {
		t.Fatal("a role's etag does not change with its version")
	}
	before = u.ETag()
	u.Version++
	if u.ETag() == before {
		t.Fatal("a user's etag does not change with its version")
	}
}

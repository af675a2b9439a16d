package keyward

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// dtAtoms is a Checker that allows exactly the listed atoms, written as
// resource:access or resource:access:target.
type dtAtoms map[string]bool

func (a dtAtoms) Allows(resource string, access Access, target string) bool {
	s := resource + ":" + string(access)
	if target != "" {
		s += ":" + target
	}
	return a[s]
}

func dtAllow(atoms ...string) dtAtoms {
	m := dtAtoms{}
	for _, a := range atoms {
		m[a] = true
	}
	return m
}

func dtMustParse(t testing.TB, s string) *Query {
	t.Helper()
	q, err := ParseQuery(s)
	if err != nil {
		t.Fatalf("ParseQuery(%q): %v", s, err)
	}
	return q
}

func TestDtParseQueryEval(t *testing.T) {
	tests := []struct {
		query string
		allow []string
		want  bool
	}{
		{"a:read", []string{"a:read"}, true},
		{"a:read", []string{"a:write"}, false},
		{"a:read", nil, false},
		// AND binds tighter than OR.
		{"a:read OR b:read AND c:read", []string{"a:read"}, true},
		{"a:read OR b:read AND c:read", []string{"b:read"}, false},
		{"a:read OR b:read AND c:read", []string{"b:read", "c:read"}, true},
		{"b:read AND c:read OR a:read", []string{"a:read"}, true},
		{"b:read AND c:read OR a:read", []string{"c:read"}, false},
		{"(a:read OR b:read) AND c:read", []string{"a:read"}, false},
		{"(a:read OR b:read) AND c:read", []string{"a:read", "c:read"}, true},
		{"a:read AND (b:read OR c:read)", []string{"a:read", "c:read"}, true},
		{"a:read AND (b:read OR c:read)", []string{"b:read", "c:read"}, false},
		{"((a:read))", []string{"a:read"}, true},
		{"(a:read)AND(b:read)", []string{"a:read", "b:read"}, true},
		{"(a:read)AND(b:read)", []string{"a:read"}, false},
		// Keywords in any case; whitespace of every kind.
		{"a:read and b:read", []string{"a:read"}, false},
		{"a:read and b:read", []string{"a:read", "b:read"}, true},
		{"a:read Or b:read", []string{"b:read"}, true},
		{"a:read AnD b:read oR c:read", []string{"c:read"}, true},
		{"\ta:read\nAND\r\nb:read  ", []string{"a:read", "b:read"}, true},
		// Targets, including the wildcard.
		{"queues:write:q_1 AND (messages:read OR stats:read)", []string{"queues:write:q_1", "stats:read"}, true},
		{"queues:write:q_1 AND (messages:read OR stats:read)", []string{"queues:write:q_2", "stats:read"}, false},
		{"docs:read:*", []string{"docs:read:*"}, true},
		{"docs:read:a.b-c=d@e/f+g~h_i", []string{"docs:read:a.b-c=d@e/f+g~h_i"}, true},
		{"my.res-1_x:write", []string{"my.res-1_x:write"}, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%v", tc.query, tc.allow), func(t *testing.T) {
			q := dtMustParse(t, tc.query)
			if got := q.Eval(dtAllow(tc.allow...)); got != tc.want {
				t.Fatalf("Eval = %v, want %v", got, tc.want)
			}
			if q.String() != tc.query {
				t.Fatalf("String() = %q, want the query as written %q", q.String(), tc.query)
			}
		})
	}
}

func TestDtParseQueryAtoms(t *testing.T) {
	q := dtMustParse(t, "queues:write:q_1 AND (messages:read OR stats:read:*) or x:write")
	want := []string{"queues:write:q_1", "messages:read", "stats:read:*", "x:write"}
	if got := q.atoms(); !slices.Equal(got, want) {
		t.Fatalf("atoms() = %q, want %q", got, want)
	}
}

func TestDtParseQueryErrors(t *testing.T) {
	tests := []struct {
		query string
		want  string // a substring of the message, often the position
	}{
		{"", "empty"},
		{"   \t\n", "empty"},
		{"a", "position 1"},
		{"a:", "position 1"},
		{":read", "position 1"},
		{"a:admin", "access must be read or write"},
		{"a:none", "access must be read or write"},
		{"a:READ", "access must be read or write"},
		{"A:read", "not a resource id"},
		{"1a:read", "not a resource id"},
		{"a b:read", "position 1"},
		{"a:read:", "not a valid target"},
		{"a:read:x:y", "not a valid target"},
		{"a:read:" + strings.Repeat("t", MaxTargetLen+1), "not a valid target"},
		{"a:read AND", "position 11"},
		{"AND a:read", "position 1"},
		{"a:read OR OR b:read", "position 11"},
		{"a:read AND AND b:read", "position 12"},
		{"(a:read", "expected ')' at position 8"},
		{"a:read)", "unexpected ')' at position 7"},
		{"()", "position 2"},
		{"(", "position 2"},
		{")", "position 1"},
		{"a:read b:read", "unexpected \"b:read\" at position 8"},
		{"a:read (b:read)", "position 8"},
		{"a:read OR", "end of query"},
		{"x:write AND y:read OR", "position 22"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			q, err := ParseQuery(tc.query)
			if err == nil {
				t.Fatalf("ParseQuery(%q) = %v, want an error", tc.query, q.atoms())
			}
			var ke *Error
			if !errors.As(err, &ke) || ke.Code != ECodeInvalidPermission {
				t.Fatalf("error %v is not an *Error with code %s", err, ECodeInvalidPermission)
			}
			if len(ke.Fields) != 1 || ke.Fields[0].Field != "permissions" {
				t.Fatalf("error fields = %+v, want one naming permissions", ke.Fields)
			}
			if !strings.Contains(ke.Message, tc.want) {
				t.Fatalf("message %q does not contain %q", ke.Message, tc.want)
			}
		})
	}
}

func TestDtParseQueryLimits(t *testing.T) {
	atoms := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf("r%d:read", i)
		}
		return strings.Join(parts, " OR ")
	}
	nest := func(n int) string { return strings.Repeat("(", n) + "a:read" + strings.Repeat(")", n) }
	// Whitespace counts towards the length.
	long := func(n int) string { return "a:read" + strings.Repeat(" ", n-len("a:read")) }
	tests := []struct {
		name  string
		query string
		ok    bool
		want  string
	}{
		{"atoms at limit", atoms(MaxQueryAtoms), true, ""},
		{"atoms over limit", atoms(MaxQueryAtoms + 1), false, fmt.Sprintf("more than %d", MaxQueryAtoms)},
		{"depth at limit", nest(MaxQueryDepth), true, ""},
		{"depth over limit", nest(MaxQueryDepth + 1), false, fmt.Sprintf("deeper than %d", MaxQueryDepth)},
		{"deep nesting does not overflow", nest(2000), false, "deeper"},
		{"length at limit", long(MaxQueryLen), true, ""},
		{"length over limit", long(MaxQueryLen + 1), false, fmt.Sprintf("longer than %d", MaxQueryLen)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParseQuery(tc.query)
			if tc.ok {
				if err != nil {
					t.Fatalf("len %d: %v", len(tc.query), err)
				}
				if !q.Eval(dtAllow("a:read", "r0:read")) {
					t.Fatal("query at the limit does not evaluate")
				}
				return
			}
			if err == nil || ErrorCode(err) != ECodeInvalidPermission || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("len %d: err = %v, want invalid_permission_query containing %q", len(tc.query), err, tc.want)
			}
		})
	}
}

func TestDtGrantsAllows(t *testing.T) {
	g := NewGrants([]Scope{
		{Resource: "docs", Access: AccessWrite, Targets: []string{"*"}},
		{Resource: "files", Access: AccessRead, Targets: []string{"f1", "f2"}},
		{Resource: "queues", Access: AccessWrite, Targets: []string{"q1"}},
		{Resource: "queues", Access: AccessRead, Targets: []string{"q2"}},
		{Resource: "stats", Access: AccessRead, Targets: []string{"*"}},
		{Resource: "empty", Access: AccessRead, Targets: []string{}},
		{Resource: "bogus", Access: Access("admin"), Targets: []string{"*"}},
	})
	tests := []struct {
		resource string
		access   Access
		target   string
		want     bool
	}{
		{"docs", AccessWrite, "", true},
		{"docs", AccessRead, "", true}, // write implies read
		{"docs", AccessRead, "d9", true},
		{"docs", AccessWrite, "*", true},
		{"docs", AccessRead, "*", true},
		{"files", AccessRead, "f1", true},
		{"files", AccessRead, "f3", false},
		{"files", AccessRead, "", true},   // any scope on the resource at the level
		{"files", AccessRead, "*", false}, // the target * needs a wildcard scope
		{"files", AccessWrite, "", false}, // read does not imply write
		{"files", AccessWrite, "f1", false},
		{"queues", AccessWrite, "q1", true},
		{"queues", AccessRead, "q1", true}, // write on q1 implies read on q1
		{"queues", AccessRead, "q2", true},
		{"queues", AccessWrite, "q2", false},
		{"queues", AccessWrite, "", true},
		{"queues", AccessRead, "q3", false},
		{"stats", AccessRead, "anything", true},
		{"stats", AccessWrite, "", false},
		{"empty", AccessRead, "", false},
		{"empty", AccessRead, "x", false},
		{"bogus", AccessRead, "", false},
		{"nothing", AccessRead, "", false},
		{"docs", AccessNone, "", false},
		{"docs", Access(""), "", false},
		{"docs", Access("admin"), "", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s:%s:%s", tc.resource, tc.access, tc.target), func(t *testing.T) {
			if got := g.Allows(tc.resource, tc.access, tc.target); got != tc.want {
				t.Fatalf("Allows = %v, want %v", got, tc.want)
			}
		})
	}
	if NewGrants(nil).Allows("docs", AccessRead, "") {
		t.Fatal("empty grants allow something")
	}
}

func dtCatalog() Catalog {
	both := []string{ProjectScopeAll, ProjectScopeSingle}
	all := []string{ProjectScopeAll}
	return NewCatalog([]*Resource{
		{ID: "docs", Readable: true, Writable: true, ProjectScopes: both},
		{ID: "files", Readable: true, Writable: true, ProjectScopes: both},
		{ID: "search", Readable: true, ProjectScopes: both},
		{ID: "events", Writable: true, ProjectScopes: both},
		{ID: "usage", Readable: true, ProjectScopes: all},
		{ID: "billing", Readable: true, Writable: true, ProjectScopes: all, Protected: true},
		{ID: "secrets", Readable: true, Writable: true, ProjectScopes: both, Protected: true},
	})
}

func dtScope(res string, a Access, targets ...string) Scope {
	if len(targets) == 0 {
		targets = []string{Wildcard}
	}
	return Scope{Resource: res, Access: a, Targets: targets}
}

func TestDtEffectiveScopes(t *testing.T) {
	project := "prj_01J00000000000000000000000"
	tests := []struct {
		name  string
		key   Key
		roles []Scope
		want  []Scope
	}{
		{
			name: "all",
			key:  Key{PermissionMode: ModeAll},
			want: []Scope{dtScope("docs", AccessWrite), dtScope("events", AccessWrite), dtScope("files", AccessWrite), dtScope("search", AccessRead), dtScope("usage", AccessRead)},
		},
		{
			name: "all, single project",
			key:  Key{PermissionMode: ModeAll, ProjectID: &project},
			want: []Scope{dtScope("docs", AccessWrite), dtScope("events", AccessWrite), dtScope("files", AccessWrite), dtScope("search", AccessRead)},
		},
		{
			name: "read_only",
			key:  Key{PermissionMode: ModeReadOnly},
			want: []Scope{dtScope("docs", AccessRead), dtScope("files", AccessRead), dtScope("search", AccessRead), dtScope("usage", AccessRead)},
		},
		{
			name: "read_only, single project",
			key:  Key{PermissionMode: ModeReadOnly, ProjectID: &project},
			want: []Scope{dtScope("docs", AccessRead), dtScope("files", AccessRead), dtScope("search", AccessRead)},
		},
		{
			name: "restricted: key and role scopes, sorted, filtered",
			key: Key{PermissionMode: ModeRestricted, Scopes: []Scope{
				dtScope("files", AccessWrite, "f1", "f2"),
				dtScope("docs", AccessRead, "d1"),
				dtScope("removed", AccessRead),    // no longer in the catalog
				dtScope("billing", AccessRead),    // protected
				dtScope("search", AccessWrite),    // access the resource no longer supports
				dtScope("usage", AccessRead),      // fine for all projects
				dtScope("docs", AccessWrite, "*"), // same resource, other access
			}},
			roles: []Scope{dtScope("events", AccessWrite), dtScope("docs", AccessRead, "d2"), dtScope("secrets", AccessWrite)},
			want: []Scope{
				dtScope("docs", AccessRead, "d1"), dtScope("docs", AccessRead, "d2"), dtScope("docs", AccessWrite),
				dtScope("events", AccessWrite), dtScope("files", AccessWrite, "f1", "f2"), dtScope("usage", AccessRead),
			},
		},
		{
			name:  "restricted, single project drops all-only resources",
			key:   Key{PermissionMode: ModeRestricted, ProjectID: &project, Scopes: []Scope{dtScope("usage", AccessRead), dtScope("docs", AccessRead)}},
			roles: []Scope{dtScope("usage", AccessRead)},
			want:  []Scope{dtScope("docs", AccessRead)},
		},
		{
			name: "restricted, nothing",
			key:  Key{PermissionMode: ModeRestricted, Scopes: []Scope{}, Roles: []string{}},
			want: []Scope{},
		},
		{
			name: "unknown mode grants nothing",
			key:  Key{PermissionMode: "bogus"},
			want: []Scope{},
		},
		{
			name: "read_only ignores stray scopes",
			key:  Key{PermissionMode: ModeReadOnly, Scopes: []Scope{dtScope("docs", AccessWrite)}},
			want: []Scope{dtScope("docs", AccessRead), dtScope("files", AccessRead), dtScope("search", AccessRead), dtScope("usage", AccessRead)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.key.Clone()
			got := EffectiveScopes(&tc.key, dtCatalog(), tc.roles)
			if got == nil {
				t.Fatal("EffectiveScopes returned nil, want a non-nil slice")
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("EffectiveScopes =\n %v\nwant\n %v", got, tc.want)
			}
			// The result must not alias the key's own scopes.
			for i := range got {
				for j := range got[i].Targets {
					got[i].Targets[j] = "mutated"
				}
			}
			if !reflect.DeepEqual(before, &tc.key) {
				t.Fatal("mutating the result changed the key")
			}
		})
	}
}

// FuzzParseQuery checks that the parser never panics, and that a query
// that parses means the same when parsed again: from its text, and from
// its atoms, each of which parses alone to itself.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"a:read", "a:read OR b:write AND c:read", "(a:read OR b:read) AND c:write:x",
		"queues:write:q_1 AND (messages:read OR stats:read)", "x:read:*", "((a:read))", "a:read and b:read",
		"(", ")", "a:read)", "AND", "a:", "", " ", "a:read:x:y", "a:read\tOR\nb:read", strings.Repeat("(", 40) + "a:read",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuery(s)
		if err != nil {
			if q != nil {
				t.Fatalf("ParseQuery(%q) returned a query and an error", s)
			}
			if ErrorCode(err) != ECodeInvalidPermission {
				t.Fatalf("ParseQuery(%q): error code %q, want %q", s, ErrorCode(err), ECodeInvalidPermission)
			}
			return
		}
		atoms := q.atoms()
		if len(atoms) == 0 || len(atoms) > MaxQueryAtoms {
			t.Fatalf("ParseQuery(%q) has %d atoms", s, len(atoms))
		}
		again, err := ParseQuery(q.String())
		if err != nil || !slices.Equal(again.atoms(), atoms) {
			t.Fatalf("re-parsing %q: %v, atoms %v, want %v", q.String(), err, again, atoms)
		}
		for _, a := range atoms {
			one, err := ParseQuery(a)
			if err != nil {
				t.Fatalf("atom %q of %q does not parse alone: %v", a, s, err)
			}
			if got := one.atoms(); len(got) != 1 || got[0] != a {
				t.Fatalf("atom %q of %q parses alone as %q", a, s, got)
			}
			if !one.Eval(dtAllow(a)) {
				t.Fatalf("atom %q is not allowed by a checker allowing exactly it", a)
			}
		}
		if joined := strings.Join(atoms, " AND "); len(joined) <= MaxQueryLen {
			and := dtMustParse(t, joined)
			if !slices.Equal(and.atoms(), atoms) {
				t.Fatalf("atoms of %q joined with AND parse as %q", s, and.atoms())
			}
		}
		// Without NOT, a query is monotone: allowing every atom satisfies
		// it, allowing none does not.
		if !q.Eval(dtAllow(atoms...)) {
			t.Fatalf("%q is not satisfied by all of its atoms", s)
		}
		if q.Eval(dtAllow()) {
			t.Fatalf("%q is satisfied by no atom", s)
		}
		if !again.Eval(dtAllow(atoms...)) || again.Eval(dtAllow()) {
			t.Fatalf("re-parsed %q evaluates differently", s)
		}
		// Each single atom alone: the original and the re-parsed query agree.
		for _, a := range atoms {
			c := dtAllow(a)
			if q.Eval(c) != again.Eval(c) {
				t.Fatalf("%q and its re-parse disagree when only %q is allowed", s, a)
			}
		}
	})
}

// Resource ids in the catalog and in queries follow one rule.
func TestDtValidResourceIDAndTarget(t *testing.T) {
	for id, want := range map[string]bool{
		"a": true, "docs": true, "a.b-c_d9": true, strings.Repeat("a", 64): true,
		"": false, "A": false, "9a": false, "_a": false, "a:b": false, "a b": false, strings.Repeat("a", 65): false, "é": false,
	} {
		if got := ValidResourceID(id); got != want {
			t.Errorf("ValidResourceID(%q) = %v, want %v", id, got, want)
		}
	}
	for tg, want := range map[string]bool{
		"q_1": true, "a.b-c=d@e/f+g~h": true, "ABC": true, strings.Repeat("t", MaxTargetLen): true,
		"": false, "*": false, "a:b": false, "a b": false, "a(b": false, "a)b": false, strings.Repeat("t", MaxTargetLen+1): false, "é": false,
	} {
		if got := ValidTarget(tg); got != want {
			t.Errorf("ValidTarget(%q) = %v, want %v", tg, got, want)
		}
	}
}

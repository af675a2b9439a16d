package keyward

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestDtIntersectScopes(t *testing.T) {
	s := dtScope
	tests := []struct {
		name string
		a, b []Scope
		want []Scope
	}{
		{"both empty", nil, nil, []Scope{}},
		{"one side empty", []Scope{s("docs", AccessWrite)}, []Scope{}, []Scope{}},
		{"wildcard both sides", []Scope{s("docs", AccessWrite)}, []Scope{s("docs", AccessWrite)}, []Scope{s("docs", AccessWrite)}},
		{"read both sides", []Scope{s("docs", AccessRead)}, []Scope{s("docs", AccessRead)}, []Scope{s("docs", AccessRead)}},
		{"write meets read: read", []Scope{s("docs", AccessWrite)}, []Scope{s("docs", AccessRead)}, []Scope{s("docs", AccessRead)}},
		{"read meets write: read", []Scope{s("docs", AccessRead)}, []Scope{s("docs", AccessWrite)}, []Scope{s("docs", AccessRead)}},
		{"targets meet", []Scope{s("docs", AccessRead, "x", "y")}, []Scope{s("docs", AccessRead, "y", "z")}, []Scope{s("docs", AccessRead, "y")}},
		{"wildcard meets targets", []Scope{s("docs", AccessWrite)}, []Scope{s("docs", AccessWrite, "d2", "d1")}, []Scope{s("docs", AccessWrite, "d1", "d2")}},
		{"targets meet wildcard", []Scope{s("docs", AccessWrite, "d1")}, []Scope{s("docs", AccessWrite)}, []Scope{s("docs", AccessWrite, "d1")}},
		{"disjoint targets: nothing", []Scope{s("docs", AccessWrite, "x")}, []Scope{s("docs", AccessWrite, "y")}, []Scope{}},
		{"disjoint resources: nothing", []Scope{s("docs", AccessWrite)}, []Scope{s("files", AccessWrite)}, []Scope{}},
		{"write on targets meets read on all: read on the targets", []Scope{s("docs", AccessWrite, "x")}, []Scope{s("docs", AccessRead)}, []Scope{s("docs", AccessRead, "x")}},
		{"write and read on one side", []Scope{s("docs", AccessWrite, "x"), s("docs", AccessRead)}, []Scope{s("docs", AccessWrite)},
			[]Scope{s("docs", AccessRead), s("docs", AccessWrite, "x")}},
		// Read keeps the targets where only read meets; write's targets are
		// readable too, so they appear in both lists.
		{"write on some, read on more", []Scope{s("docs", AccessWrite, "x", "y")}, []Scope{s("docs", AccessRead, "x"), s("docs", AccessWrite, "y")},
			[]Scope{s("docs", AccessRead, "x", "y"), s("docs", AccessWrite, "y")}},
		{"write on all meets write on some and read on all", []Scope{s("docs", AccessWrite)}, []Scope{s("docs", AccessWrite, "y"), s("docs", AccessRead)},
			[]Scope{s("docs", AccessRead), s("docs", AccessWrite, "y")}},
		{"scopes split over several entries", []Scope{s("docs", AccessRead, "a"), s("docs", AccessRead, "b")}, []Scope{s("docs", AccessRead, "b", "c"), s("docs", AccessRead, "a")},
			[]Scope{s("docs", AccessRead, "a", "b")}},
		{"empty targets grant nothing", []Scope{{Resource: "docs", Access: AccessWrite, Targets: []string{}}}, []Scope{s("docs", AccessWrite)}, []Scope{}},
		{"multiple resources, sorted", []Scope{s("search", AccessRead), s("files", AccessWrite, "f"), s("docs", AccessWrite), s("usage", AccessRead)},
			[]Scope{s("usage", AccessRead), s("docs", AccessRead), s("search", AccessWrite), s("files", AccessWrite)},
			[]Scope{s("docs", AccessRead), s("files", AccessWrite, "f"), s("search", AccessRead), s("usage", AccessRead)}},
		{"unknown access ignored", []Scope{{Resource: "docs", Access: "admin", Targets: []string{"*"}}}, []Scope{s("docs", AccessWrite)}, []Scope{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := CloneScopes(tc.a), CloneScopes(tc.b)
			got := IntersectScopes(a, b)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("IntersectScopes = %v, want %v", got, tc.want)
			}
			if !reflect.DeepEqual(a, tc.a) || !reflect.DeepEqual(b, tc.b) {
				t.Fatal("IntersectScopes changed its arguments")
			}
			if rev := IntersectScopes(b, a); !reflect.DeepEqual(rev, got) {
				t.Fatalf("not symmetric: IntersectScopes(b, a) = %v", rev)
			}
		})
	}
}

// dtIxUniverse is what the random scope lists are drawn from: a target
// that no list ever names ("t9") and the wildcard are queried too.
var (
	dtIxResources = []string{"docs", "files", "search"}
	dtIxTargets   = []string{"t1", "t2", "t3", "t4"}
)

func dtIxRandomScopes(r *rand.Rand) []Scope {
	n := r.IntN(5)
	out := make([]Scope, 0, n)
	for i := 0; i < n; i++ {
		sc := Scope{Resource: dtIxResources[r.IntN(len(dtIxResources))], Access: AccessRead}
		if r.IntN(2) == 0 {
			sc.Access = AccessWrite
		}
		switch k := r.IntN(10); {
		case k < 3:
			sc.Targets = []string{Wildcard}
		case k == 3:
			sc.Targets = []string{}
		default:
			for _, t := range dtIxTargets {
				if r.IntN(2) == 0 {
					sc.Targets = append(sc.Targets, t)
				}
			}
			if len(sc.Targets) == 0 {
				sc.Targets = []string{dtIxTargets[r.IntN(len(dtIxTargets))]}
			}
		}
		out = append(out, sc)
	}
	return out
}

// The intersection grants exactly what both sides grant, atom by atom,
// for every atom that names a target (the wildcard target included).
//
// For an atom without a target the intersection is stricter than "each
// side allows it": a side allows resource:access when it holds any scope
// on the resource at that level, so {docs:read:x} and {docs:read:y} each
// allow docs:read while their intersection holds nothing. What holds
// instead, and is checked here: the intersection allows resource:access
// exactly when some object (or every object, "*") is allowed by both
// sides; so it never allows more than both sides, and it allows an atom
// whenever the sides have an object in common. This is what bounding a key
// by its owner (docs/permissions.md) needs: the caller filters objects by the returned
// scopes, and there must be an object both may reach.
func TestDtIntersectScopesProperty(t *testing.T) {
	const seed, rounds = 20250601, 20000
	r := rand.New(rand.NewPCG(seed, 3))
	cat := NewCatalog([]*Resource{
		{ID: "docs", Readable: true, Writable: true, ProjectScopes: []string{ProjectScopeAll}},
		{ID: "files", Readable: true, Writable: true, ProjectScopes: []string{ProjectScopeAll}},
		{ID: "search", Readable: true, Writable: true, ProjectScopes: []string{ProjectScopeAll}},
	})
	objects := append(slices.Clone(dtIxTargets), "t9", Wildcard)
	for i := 0; i < rounds; i++ {
		a, b := dtIxRandomScopes(r), dtIxRandomScopes(r)
		ix := IntersectScopes(a, b)
		ga, gb, gi := NewGrants(a), NewGrants(b), NewGrants(ix)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("round %d (seed %d)\n a = %v\n b = %v\n a∩b = %v\n%s", i, seed, a, b, ix, fmt.Sprintf(format, args...))
		}
		// The result is a well-formed scope list: sorted, one entry per
		// resource and access, targets sorted and either "*" alone or ids.
		if errs := CheckScopes("scopes", ix, cat, false); len(errs) > 0 {
			fail("the intersection is not a valid scope list: %v", errs)
		}
		if !slices.IsSortedFunc(ix, func(x, y Scope) int {
			if x.Resource != y.Resource {
				return strings.Compare(x.Resource, y.Resource)
			}
			return strings.Compare(string(x.Access), string(y.Access))
		}) {
			fail("the intersection is not sorted by resource, then access")
		}
		for _, sc := range ix {
			if !slices.IsSorted(sc.Targets) {
				fail("targets of %s:%s not sorted", sc.Resource, sc.Access)
			}
		}
		if rev := IntersectScopes(b, a); !reflect.DeepEqual(rev, ix) {
			fail("not symmetric: b∩a = %v", rev)
		}
		for _, res := range append(slices.Clone(dtIxResources), "usage") {
			for _, acc := range []Access{AccessRead, AccessWrite} {
				common := false
				for _, obj := range objects {
					both := ga.Allows(res, acc, obj) && gb.Allows(res, acc, obj)
					common = common || both
					if got := gi.Allows(res, acc, obj); got != both {
						fail("%s:%s:%s: a∩b allows %v, a %v, b %v", res, acc, obj, got, ga.Allows(res, acc, obj), gb.Allows(res, acc, obj))
					}
				}
				got := gi.Allows(res, acc, "")
				if got != common {
					fail("%s:%s (no target): a∩b allows %v, but an object allowed by both exists: %v", res, acc, got, common)
				}
				if got && !(ga.Allows(res, acc, "") && gb.Allows(res, acc, "")) {
					fail("%s:%s (no target): a∩b allows what a side does not", res, acc)
				}
			}
		}
		// Intersecting with itself changes nothing a check can see, and
		// intersecting again with either side changes nothing at all.
		if again := IntersectScopes(ix, a); !reflect.DeepEqual(again, ix) {
			fail("(a∩b)∩a = %v", again)
		}
		gs := NewGrants(IntersectScopes(a, a))
		for _, res := range dtIxResources {
			for _, acc := range []Access{AccessRead, AccessWrite} {
				for _, obj := range append(slices.Clone(objects), "") {
					if gs.Allows(res, acc, obj) != ga.Allows(res, acc, obj) {
						fail("a∩a differs from a on %s:%s:%s", res, acc, obj)
					}
				}
			}
		}
	}
}

// The stricter target-less rule, spelled out.
func TestDtIntersectScopesNoTarget(t *testing.T) {
	a := []Scope{dtScope("docs", AccessRead, "x")}
	b := []Scope{dtScope("docs", AccessRead, "y")}
	if !NewGrants(a).Allows("docs", AccessRead, "") || !NewGrants(b).Allows("docs", AccessRead, "") {
		t.Fatal("each side should allow docs:read")
	}
	if NewGrants(IntersectScopes(a, b)).Allows("docs", AccessRead, "") {
		t.Fatal("docs:read allowed by the intersection of two scopes with no object in common")
	}
	b = append(b, dtScope("docs", AccessWrite, "x"))
	if !NewGrants(IntersectScopes(a, b)).Allows("docs", AccessRead, "") {
		t.Fatal("docs:read refused although both sides reach object x")
	}
}

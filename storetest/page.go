package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/keyward/keyward"
)

// lister lists one page of some kind of object and returns their ids.
type lister func(p keyward.Page) ([]string, bool, error)

// listPage reads one page of a list with the store's lister of its kind
// (keyward.Tx.ListUsers…): the filter f, with the page p at page(f).
func listPage[F, T any](e *env, list func(keyward.Tx, context.Context, *F) ([]*T, bool, error), f *F, page func(*F) *keyward.Page, p keyward.Page) ([]*T, bool, error) {
	ff := *f
	*page(&ff) = p
	var (
		items []*T
		more  bool
	)
	err := e.s.Read(e.ctx, func(tx keyward.Tx) (err error) {
		items, more, err = list(tx, e.ctx, &ff)
		return err
	})
	return items, more, err
}

// idLister is a lister of the ids (which id reads) of the objects of a
// list, as listPage reads them.
func idLister[F, T any](e *env, list func(keyward.Tx, context.Context, *F) ([]*T, bool, error), f *F, page func(*F) *keyward.Page, id func(*T) string) lister {
	return func(p keyward.Page) ([]string, bool, error) {
		items, more, err := listPage(e, list, f, page, p)
		return idsOf(items, id), more, err
	}
}

// filterCase is a filter of a list and the ids it lists, newest first.
type filterCase[F any] struct {
	name string
	f    *F
	want []string
}

// checkFilters lists one page of 50 with each case's filter and wants
// exactly its ids; list names the list in failures, where named (if not
// nil) shows the ids.
func checkFilters[F any](e *env, list string, lister func(*F) lister, cases []filterCase[F], named func([]string) []string) {
	e.t.Helper()
	if named == nil {
		named = func(ids []string) []string { return ids }
	}
	for _, tc := range cases {
		got, more, err := lister(tc.f)(keyward.Page{Limit: 50})
		if err != nil {
			e.t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(got, tc.want) || more {
			e.t.Errorf("%s: %s = %v (has_more %v), want %v", tc.name, list, named(got), more, named(tc.want))
		}
	}
}

// namedBy shows ids by the names given them.
func namedBy(names map[string]string) func([]string) []string {
	return func(ids []string) []string {
		out := []string{}
		for _, id := range ids {
			out = append(out, names[id])
		}
		return out
	}
}

// checkEmptyPages checks a list over no objects.
func checkEmptyPages(t *testing.T, list lister) {
	t.Helper()
	for _, p := range []keyward.Page{{}, {Limit: 1}, {Limit: 10, StartingAfter: "key_7ZZZZZZZZZZZZZZZZZZZZZZZZZ"}, {Limit: 10, EndingBefore: "a"}} {
		ids, more, err := list(p)
		if err != nil {
			t.Fatalf("page %+v: %v", p, err)
		}
		if len(ids) != 0 || more {
			t.Fatalf("page %+v of an empty list = %v, has_more %v", p, ids, more)
		}
	}
}

// checkPages checks keyset pagination over want, the ids of every listed
// object, newest first (at least 4 of them).
func checkPages(t *testing.T, want []string, list lister) {
	t.Helper()
	n := len(want)
	if n < 4 {
		t.Fatalf("checkPages needs at least 4 objects, got %d", n)
	}
	page := func(p keyward.Page, wantIDs []string, wantMore bool) {
		t.Helper()
		ids, more, err := list(p)
		if err != nil {
			t.Fatalf("page %+v: %v", p, err)
		}
		if ids == nil {
			ids = []string{}
		}
		if !slices.Equal(ids, wantIDs) || more != wantMore {
			t.Fatalf("page %+v = %v, has_more %v\nwant          %v, has_more %v\n(all, newest first: %v)", p, ids, more, wantIDs, wantMore, want)
		}
	}
	page(keyward.Page{Limit: n}, want, false)          // exactly limit items
	page(keyward.Page{Limit: n + 1}, want, false)      // fewer than limit
	page(keyward.Page{Limit: n - 1}, want[:n-1], true) // limit+1 items
	page(keyward.Page{Limit: 1}, want[:1], true)
	page(keyward.Page{Limit: n - 1, StartingAfter: want[n-2]}, want[n-1:], false)
	page(keyward.Page{Limit: n, StartingAfter: want[0]}, want[1:], false)
	page(keyward.Page{Limit: n, StartingAfter: want[n-1]}, []string{}, false) // after the last
	page(keyward.Page{Limit: n, EndingBefore: want[0]}, []string{}, false)    // before the first
	page(keyward.Page{Limit: n, EndingBefore: want[n-1]}, want[:n-1], false)
	// ending_before returns the objects just before the cursor, still
	// newest first, and has_more says newer ones exist.
	page(keyward.Page{Limit: 2, EndingBefore: want[n-1]}, want[n-3:n-1], true)
	page(keyward.Page{Limit: 2, EndingBefore: want[2]}, want[:2], false)
	page(keyward.Page{Limit: 2, StartingAfter: want[0]}, want[1:3], n > 3)

	// A cursor need not be an existing id: it is a position in the order.
	// want[i]+"0" sorts just after want[i] (newer than it, older than want[i-1]).
	i := n / 2
	between := want[i] + "0"
	page(keyward.Page{Limit: n, StartingAfter: between}, want[i:], false)
	page(keyward.Page{Limit: n, EndingBefore: between}, want[:i], false)
	page(keyward.Page{Limit: n, StartingAfter: "~"}, want, false) // after every id
	page(keyward.Page{Limit: n, EndingBefore: "~"}, []string{}, false)
	page(keyward.Page{Limit: n, StartingAfter: "0"}, []string{}, false) // before every id
	page(keyward.Page{Limit: n, EndingBefore: "0"}, want, false)
	page(keyward.Page{Limit: 2, EndingBefore: "0"}, want[n-2:], true)

	// Walking forward and backward with a small page visits every object
	// once, in order.
	for _, limit := range []int{1, 2, 3} {
		for _, backward := range []bool{false, true} {
			if got, dir := walk(t, list, limit, n, backward); !slices.Equal(got, want) {
				t.Fatalf("%s walk with limit %d = %v, want %v", dir, limit, got, want)
			}
		}
	}
}

// walk follows the pages of limit objects from the first (backward, from
// the last) to the end, and returns every id it saw, newest first, and
// the direction's name; n is how many objects there are.
func walk(t *testing.T, list lister, limit, n int, backward bool) ([]string, string) {
	t.Helper()
	dir, p := "forward", keyward.Page{Limit: limit}
	if backward {
		dir, p.EndingBefore = "backward", "0"
	}
	var got []string
	for steps := 0; ; steps++ {
		if steps > n+1 {
			t.Fatalf("%s walk with limit %d does not end", dir, limit)
		}
		ids, more, err := list(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) > limit {
			t.Fatalf("page of limit %d has %d items", limit, len(ids))
		}
		if backward {
			got = append(slices.Clone(ids), got...)
		} else {
			got = append(got, ids...)
		}
		if !more {
			return got, dir
		}
		if backward {
			p = keyward.Page{Limit: limit, EndingBefore: ids[0]}
		} else {
			p = keyward.Page{Limit: limit, StartingAfter: ids[len(ids)-1]}
		}
	}
}

// checkDefaultLimit checks that a zero limit lists DefaultPageLimit objects.
func checkDefaultLimit(t *testing.T, want []string, list lister) {
	t.Helper()
	ids, more, err := list(keyward.Page{})
	if err != nil {
		t.Fatal(err)
	}
	wantMore := len(want) > keyward.DefaultPageLimit
	if len(want) > keyward.DefaultPageLimit {
		want = want[:keyward.DefaultPageLimit]
	}
	if !slices.Equal(ids, want) || more != wantMore {
		t.Fatalf("default page = %d ids (has_more %v), want %d (has_more %v)", len(ids), more, len(want), wantMore)
	}
}

// reversed returns ids in reverse order (creation order to newest first).
func reversed(ids []string) []string {
	out := slices.Clone(ids)
	slices.Reverse(out)
	return out
}

func name(prefix string, i int) string { return fmt.Sprintf("%s-%02d", prefix, i) }

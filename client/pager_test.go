package client_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// TestPager follows the cursors over several pages, forward and backward,
// keeping the filters on every page.
func TestPager(t *testing.T) {
	s, c, ctx := ctStart(t)

	var ids []string // oldest first
	for i := range 7 {
		k, err := c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some(fmt.Sprintf("paged %d", i))})
		ctCheck(t, "CreateKey", err)
		ids = append(ids, k.ID)
	}
	_, err := c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("not matching the search")})
	ctCheck(t, "CreateKey", err)
	newestFirst := slices.Clone(ids)
	slices.Reverse(newestFirst)

	t.Run("page by page", func(t *testing.T) {
		p := c.KeysPager(&client.KeyListParams{Limit: 3, Search: "paged"})
		var sizes []int
		var got []string
		for p.More() {
			page, err := p.Next(ctx)
			ctCheck(t, "Next", err)
			sizes = append(sizes, len(page.Data))
			for _, k := range page.Data {
				got = append(got, k.ID)
			}
		}
		if !slices.Equal(sizes, []int{3, 3, 1}) || !slices.Equal(got, newestFirst) {
			t.Errorf("pages of %v = %v, want [3 3 1] of %v", sizes, got, newestFirst)
		}
		if _, err := p.Next(ctx); !errors.Is(err, client.ErrNoMorePages) {
			t.Errorf("Next after the last page: %v, want ErrNoMorePages", err)
		}
		for _, r := range s.requests()[len(s.requests())-3:] {
			if q := r.URL.Query(); q.Get("search") != "paged" || q.Get("limit") != "3" {
				t.Errorf("a page request lost its filters: %s", r.URL.RawQuery)
			}
		}
	})

	t.Run("iterator", func(t *testing.T) {
		var got []string
		for k, err := range c.KeysPager(&client.KeyListParams{Limit: 2, Search: "paged"}).All(ctx) {
			ctCheck(t, "All", err)
			got = append(got, k.ID)
		}
		if !slices.Equal(got, newestFirst) {
			t.Errorf("All = %v, want %v", got, newestFirst)
		}
	})

	t.Run("stop early", func(t *testing.T) {
		before := len(s.requests())
		var got []string
		for k, err := range c.KeysPager(&client.KeyListParams{Limit: 2, Search: "paged"}).All(ctx) {
			ctCheck(t, "All", err)
			got = append(got, k.ID)
			if len(got) == 3 {
				break
			}
		}
		if !slices.Equal(got, newestFirst[:3]) || len(s.requests())-before != 2 {
			t.Errorf("stopping after 3 keys: %v in %d requests, want %v in 2", got, len(s.requests())-before, newestFirst[:3])
		}
	})

	t.Run("from a cursor", func(t *testing.T) {
		var got []string
		for k, err := range c.KeysPager(&client.KeyListParams{Limit: 2, Search: "paged", StartingAfter: newestFirst[2]}).All(ctx) {
			ctCheck(t, "All", err)
			got = append(got, k.ID)
		}
		if !slices.Equal(got, newestFirst[3:]) {
			t.Errorf("after %s: %v, want %v", newestFirst[2], got, newestFirst[3:])
		}
	})

	t.Run("backward", func(t *testing.T) {
		// From the oldest key towards the newest: pages of newer keys, each
		// newest first.
		p := c.KeysPager(&client.KeyListParams{Limit: 2, Search: "paged", EndingBefore: ids[0]})
		var pages [][]string
		for p.More() {
			page, err := p.Next(ctx)
			ctCheck(t, "Next", err)
			var ks []string
			for _, k := range page.Data {
				ks = append(ks, k.ID)
			}
			pages = append(pages, ks)
		}
		want := [][]string{{ids[2], ids[1]}, {ids[4], ids[3]}, {ids[6], ids[5]}}
		if fmt.Sprint(pages) != fmt.Sprint(want) {
			t.Errorf("backward pages = %v, want %v", pages, want)
		}
	})

	t.Run("error stops the iterator", func(t *testing.T) {
		n := 0
		for k, err := range c.KeysPager(&client.KeyListParams{Status: "bogus"}).All(ctx) {
			n++
			if k != nil || keyward.ErrorCode(err) != keyward.ECodeInvalidParameter {
				t.Errorf("yielded %v, %v; want nil and invalid_parameter", k, err)
			}
		}
		if n != 1 {
			t.Errorf("the iterator yielded %d times, want once (the error)", n)
		}
	})
}

package client

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"net/url"
)

// ErrNoMorePages is returned by Pager.Next after the last page.
var ErrNoMorePages = errors.New("keyward client: no more pages")

// Pager walks a list page by page, following the cursors: forward
// (older objects, starting_after = the last id of a page) by default, or
// backward (newer objects, ending_before = the first id of a page) when the
// list parameters set EndingBefore. Every page is newest first. A Pager is
// not safe for concurrent use.
//
//	p := c.KeysPager(&client.KeyListParams{Status: keyward.StatusActive})
//	for k, err := range p.All(ctx) { … }
type Pager[T any] struct {
	c        *Client
	path     string
	q        url.Values
	opts     []CallOption
	id       func(*T) string
	backward bool
	done     bool
}

func newPager[T any](c *Client, path string, q url.Values, opts []CallOption, id func(*T) string) *Pager[T] {
	return &Pager[T]{c: c, path: path, q: q, opts: opts, id: id, backward: q.Get("ending_before") != ""}
}

// More reports whether Next may return another page (it is true until a
// page says has_more: false).
func (p *Pager[T]) More() bool { return !p.done }

// Next returns the next page. An error leaves the pager where it was, so
// Next may be called again to retry; after the last page it returns
// ErrNoMorePages.
func (p *Pager[T]) Next(ctx context.Context) (*Page[T], error) {
	if p.done {
		return nil, ErrNoMorePages
	}
	var page Page[T]
	if _, err := p.c.do(ctx, request{method: http.MethodGet, path: segs(p.path), query: p.q, out: &page}, p.opts); err != nil {
		return nil, err
	}
	if !page.HasMore || len(page.Data) == 0 {
		p.done = true
		return &page, nil
	}
	q := url.Values{}
	for k, v := range p.q {
		q[k] = v
	}
	if p.backward {
		q.Set("ending_before", p.id(&page.Data[0]))
	} else {
		q.Set("starting_after", p.id(&page.Data[len(page.Data)-1]))
	}
	p.q = q
	return &page, nil
}

// All returns an iterator over every object of the remaining pages. It
// stops after the first error, which it yields with a nil object.
func (p *Pager[T]) All(ctx context.Context) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		for p.More() {
			page, err := p.Next(ctx)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range page.Data {
				if !yield(&page.Data[i], nil) {
					return
				}
			}
		}
	}
}

package http

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// params are the query parameters of a request, parsed once by
// api.ParseQuery (in preflight) and checked against the names the route
// declares (routes.go) before its handler runs.
type params struct {
	v url.Values
}

// query returns the request's query parameters.
func query(r *http.Request) params { return params{v: api.StateOf(r).Query} }

// checkQuery refuses a parameter the route does not take (allowed; pretty
// is everywhere), or one given twice, with a 400 naming it: a mistyped
// filter must not silently list everything.
func checkQuery(r *http.Request, allowed []string) error {
	q := api.StateOf(r).Query
	if len(q) == 0 {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(q)) {
		switch {
		case name == "pretty":
		case !slices.Contains(allowed, name):
			return api.BadParam(name, "is not a parameter of this route")
		case len(q[name]) > 1:
			return api.BadParam(name, "is given more than once")
		}
	}
	return nil
}

func (p params) str(name string) string { return p.v.Get(name) }

// page reads limit, starting_after and ending_before; cursors must be ids
// with the given prefix.
func (p params) page(prefix string) (keyward.Page, error) {
	pg := keyward.Page{Limit: keyward.DefaultPageLimit}
	if s := p.v.Get("limit"); s != "" || p.v.Has("limit") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > keyward.MaxPageLimit {
			return pg, api.BadParam("limit", "must be an integer from 1 to %d", keyward.MaxPageLimit)
		}
		pg.Limit = n
	}
	for _, c := range []struct {
		name string
		dst  *string
	}{{"starting_after", &pg.StartingAfter}, {"ending_before", &pg.EndingBefore}} {
		if !p.v.Has(c.name) {
			continue
		}
		s := p.v.Get(c.name)
		if !keyward.ValidID(prefix, s) {
			return pg, api.BadParam(c.name, "must be an id starting with %q", prefix)
		}
		*c.dst = s
	}
	if pg.StartingAfter != "" && pg.EndingBefore != "" {
		return pg, api.BadParam("ending_before", "cannot be combined with starting_after")
	}
	return pg, nil
}

// enum reads a parameter that must be one of the allowed values.
func (p params) enum(name string, allowed ...string) (string, error) {
	if !p.v.Has(name) {
		return "", nil
	}
	s := p.v.Get(name)
	if !slices.Contains(allowed, s) {
		return "", api.BadParam(name, "must be one of %s", strings.Join(allowed, ", "))
	}
	return s, nil
}

// id reads a parameter that must be an id with the given prefix.
func (p params) id(name, prefix string) (string, error) {
	if !p.v.Has(name) {
		return "", nil
	}
	s := p.v.Get(name)
	if !keyward.ValidID(prefix, s) {
		return "", api.BadParam(name, "must be an id starting with %q", prefix)
	}
	return s, nil
}

func (p params) boolean(name string) (*bool, error) {
	if !p.v.Has(name) {
		return nil, nil
	}
	b, err := strconv.ParseBool(p.v.Get(name))
	if err != nil {
		return nil, api.BadParam(name, "must be true or false")
	}
	return &b, nil
}

func (p params) time(name string) (*time.Time, error) {
	if !p.v.Has(name) {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, p.v.Get(name))
	if err != nil {
		return nil, api.BadParam(name, "must be an RFC 3339 timestamp")
	}
	return &t, nil
}

// text reads a free-text parameter of bounded length: valid UTF-8 without
// control characters, as the same text in a body must be.
func (p params) text(name string, max int) (string, error) {
	s := p.v.Get(name)
	if len(s) > max {
		return "", api.BadParam(name, "must be at most %d bytes", max)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return "", api.BadParam(name, "must be UTF-8 text without control characters")
	}
	return s, nil
}

// PageOf reads the page parameters of a list route (limit,
// starting_after, ending_before; cursors ids with prefix) from v exactly
// as the API does, for the dashboard's lists.
func PageOf(v url.Values, prefix string) (keyward.Page, error) { return params{v: v}.page(prefix) }

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
)

// parseQuery is the one query parser of keyward's HTTP API, native
// routes and dialects alike: url.ParseQuery, except that a pair that does
// not parse (a ";" separator, a malformed %-escape) is a 400
// invalid_parameter naming it. url.ParseQuery and URL.Query drop such a
// pair silently, so ?status=revoked; would list every status.
func parseQuery(raw string) (url.Values, error) {
	v, err := url.ParseQuery(raw)
	if err == nil {
		return v, nil
	}
	for pair := range strings.SplitSeq(raw, "&") {
		if _, perr := url.ParseQuery(pair); perr != nil {
			return nil, malformedPair(pair)
		}
	}
	// Every pair parses alone: the string as a whole is refused (more
	// pairs than url.ParseQuery takes).
	return nil, badParam("query", "%v", err)
}

// malformedPair names the parameter of a pair that does not parse, and
// quotes the pair, cut short (it is the client's own text).
func malformedPair(pair string) error {
	name := pair
	if i := strings.IndexAny(name, "=;"); i >= 0 {
		name = name[:i]
	}
	if n, err := url.QueryUnescape(name); err == nil {
		name = n
	}
	if name == "" {
		name = "query"
	}
	reason := "it holds a malformed %-escape"
	if strings.Contains(pair, ";") {
		reason = `";" does not separate parameters (use "&", and %3B for a ";" in a value)`
	}
	return badParam(truncate(name, 64), "the pair %q does not parse: %s", truncate(pair, 100), reason)
}

// params are the query parameters of a request, parsed once by
// parseQuery (in preflight) and checked against the names the route
// declares (routes.go) before its handler runs.
type params struct {
	v url.Values
}

// query returns the request's query parameters.
func query(r *http.Request) params { return params{v: requestOf(r).query} }

// checkQuery refuses a parameter the route does not take (allowed; pretty
// is everywhere), or one given twice, with a 400 naming it: a mistyped
// filter must not silently list everything.
func checkQuery(r *http.Request, allowed []string) error {
	q := requestOf(r).query
	if len(q) == 0 {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(q)) {
		switch {
		case name == "pretty":
		case !slices.Contains(allowed, name):
			return badParam(name, "is not a parameter of this route")
		case len(q[name]) > 1:
			return badParam(name, "is given more than once")
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
			return pg, badParam("limit", "must be an integer from 1 to %d", keyward.MaxPageLimit)
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
			return pg, badParam(c.name, "must be an id starting with %q", prefix)
		}
		*c.dst = s
	}
	if pg.StartingAfter != "" && pg.EndingBefore != "" {
		return pg, badParam("ending_before", "cannot be combined with starting_after")
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
		return "", badParam(name, "must be one of %s", strings.Join(allowed, ", "))
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
		return "", badParam(name, "must be an id starting with %q", prefix)
	}
	return s, nil
}

func (p params) boolean(name string) (*bool, error) {
	if !p.v.Has(name) {
		return nil, nil
	}
	b, err := strconv.ParseBool(p.v.Get(name))
	if err != nil {
		return nil, badParam(name, "must be true or false")
	}
	return &b, nil
}

func (p params) time(name string) (*time.Time, error) {
	if !p.v.Has(name) {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, p.v.Get(name))
	if err != nil {
		return nil, badParam(name, "must be an RFC 3339 timestamp")
	}
	return &t, nil
}

// text reads a free-text parameter of bounded length: valid UTF-8 without
// control characters, as the same text in a body must be.
func (p params) text(name string, max int) (string, error) {
	s := p.v.Get(name)
	if len(s) > max {
		return "", badParam(name, "must be at most %d bytes", max)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return "", badParam(name, "must be UTF-8 text without control characters")
	}
	return s, nil
}

package http

import (
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

// params reads query parameters strictly: a parameter the route does not
// take, or one given twice, is a 400 naming it. pretty is always allowed.
type params struct {
	v url.Values
}

func queryParams(r *http.Request, allowed ...string) (*params, error) {
	if r.URL.RawQuery == "" {
		return &params{}, nil
	}
	v := r.URL.Query()
	for name, vals := range v {
		if name == "pretty" {
			continue
		}
		if !slices.Contains(allowed, name) {
			return nil, badParam(name, "is not a parameter of this route")
		}
		if len(vals) > 1 {
			return nil, badParam(name, "is given more than once")
		}
	}
	return &params{v: v}, nil
}

func (p *params) str(name string) string { return p.v.Get(name) }

// page reads limit, starting_after and ending_before; cursors must be ids
// with the given prefix.
func (p *params) page(prefix string) (keyward.Page, error) {
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
func (p *params) enum(name string, allowed ...string) (string, error) {
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
func (p *params) id(name, prefix string) (string, error) {
	if !p.v.Has(name) {
		return "", nil
	}
	s := p.v.Get(name)
	if !keyward.ValidID(prefix, s) {
		return "", badParam(name, "must be an id starting with %q", prefix)
	}
	return s, nil
}

func (p *params) boolean(name string) (*bool, error) {
	if !p.v.Has(name) {
		return nil, nil
	}
	b, err := strconv.ParseBool(p.v.Get(name))
	if err != nil {
		return nil, badParam(name, "must be true or false")
	}
	return &b, nil
}

func (p *params) time(name string) (*time.Time, error) {
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
func (p *params) text(name string, max int) (string, error) {
	s := p.v.Get(name)
	if len(s) > max {
		return "", badParam(name, "must be at most %d bytes", max)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return "", badParam(name, "must be UTF-8 text without control characters")
	}
	return s, nil
}

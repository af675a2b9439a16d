package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyward/keyward"
)

// ParseQuery is the one query parser of keyward's HTTP API, native routes
// and dialects alike: url.ParseQuery of r's query string, except that a
// pair that does not parse (a ";" separator, a malformed %-escape) is an
// invalid_parameter error (400) naming its parameter and quoting the pair,
// never dropped. url.ParseQuery and URL.Query drop such a pair silently,
// so ?status=revoked; would list every status.
func ParseQuery(r *http.Request) (url.Values, error) {
	raw := r.URL.RawQuery
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
	return nil, BadParam("query", "%v", err)
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
	return BadParam(truncate(name, 64), "the pair %q does not parse: %s", truncate(pair, 100), reason)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// BadParam returns the invalid_parameter error (400) of a query parameter
// or header: "name: message", and one field error naming it.
func BadParam(name, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	e := keyward.Errorf(keyward.ECodeInvalidParameter, "%s: %s", name, msg)
	e.Fields = []keyward.FieldError{{Field: name, Message: msg}}
	return e
}

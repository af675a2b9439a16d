package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// State is what the server knows of a request it serves, kept in the
// request's context (WithState) for the rules of this package, the
// server's handlers and the dialects mounted on it.
type State struct {
	// ID is the request id: echoed in X-Request-Id, written in problems,
	// log lines and audit events.
	ID string
	// ClientIP is the client's address: the TCP peer, or what a trusted
	// proxy says it is.
	ClientIP string
	// Pretty is set by ?pretty: JSON answers are indented.
	Pretty bool
	// Query is the query string as ParseQuery read it, nil when empty.
	Query url.Values

	// drain is set when ReadBody refused the body as too large: the rest
	// is read before the answer goes out (Drain).
	drain bool
}

type stateKey struct{}

// WithState returns r with s as its State.
func WithState(r *http.Request, s *State) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), stateKey{}, s))
}

// StateOf returns the State of r, or a new empty one for a request the
// server did not see.
func StateOf(r *http.Request) *State {
	if s, ok := r.Context().Value(stateKey{}).(*State); ok {
		return s
	}
	return &State{}
}

// RequestID returns the id of a request the server serves (the
// X-Request-Id it answers with), "" for one it did not see.
func RequestID(r *http.Request) string { return StateOf(r).ID }

// RequestIDFrom returns the client's X-Request-Id if it is sane (1–128
// characters of [A-Za-z0-9._:-]), else a new request id.
func RequestIDFrom(header string) string {
	if n := len(header); n > 0 && n <= 128 {
		ok := true
		for i := 0; i < n && ok; i++ {
			c := header[i]
			ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-'
		}
		if ok {
			return header
		}
	}
	return keyward.NewRequestID()
}

// credentialHeaders are the headers that carry a credential or name the
// account, on the native API and in every dialect, with the key net/http
// files each under. Names are case-insensitive: discue's X-API-KEY and
// Vectara's x-api-key are X-API-Key, PulseCRM's x-account-id is
// X-Account-Id.
var credentialHeaders = [...]struct{ name, key string }{
	{"Authorization", "Authorization"},
	{"X-API-Key", "X-Api-Key"},
	{"X-Account-Id", "X-Account-Id"},
}

// CheckCredentialHeaders fails with invalid_parameter (400) naming the
// first credential or account header of r sent more than once
// (Authorization, X-API-Key, X-Account-Id: every dialect's credential and
// account headers are among them), whatever its values, the same value
// twice included: which copy wins differs from one parser to the next, so
// a proxy or a client library that adds a copy could choose the
// credential or the account; keyward takes neither. It looks at no value,
// so a credential never reaches the message. The server's authentication
// checks it, and the dialect kit before a dialect reads its own
// credential header, so that a repeated header is refused before the
// dialect's own "missing credential" answer.
func CheckCredentialHeaders(r *http.Request) error {
	for _, c := range credentialHeaders {
		if n := len(r.Header[c.key]); n > 1 {
			return BadParam(c.name, "is sent %d times: send it once", n)
		}
	}
	return nil
}

// maxRequestTimeout is the largest Request-Timeout honoured; larger values
// are refused, not cut.
const maxRequestTimeout = 3_600_000

// WithTimeout bounds r's context by Request-Timeout (seconds) or
// Request-Timeout-Millis (Vectara's), the shorter when both are sent: when
// it runs out, the request's waits fail with timeout (504). A value that is
// not an integer from 1 to 3600000 is an invalid_parameter error naming
// the header. The caller must call the returned cancel function.
func WithTimeout(r *http.Request) (*http.Request, context.CancelFunc, error) {
	var d time.Duration
	for _, h := range []struct {
		name string
		unit time.Duration
	}{{"Request-Timeout-Millis", time.Millisecond}, {"Request-Timeout", time.Second}} {
		v := r.Header.Get(h.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 1 || n > maxRequestTimeout {
			return r, nil, BadParam(h.name, "must be an integer between 1 and %d", maxRequestTimeout)
		}
		if dd := time.Duration(n) * h.unit; d == 0 || dd < d {
			d = min(dd, time.Hour)
		}
	}
	if d == 0 {
		return r, func() {}, nil
	}
	ctx, cancel := keyward.WithClientTimeout(r.Context(), d)
	return r.WithContext(ctx), cancel, nil
}

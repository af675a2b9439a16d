// Package middleware protects net/http handlers with keyward API keys. New
// returns a middleware that reads the key a request carries, verifies it
// with a verifier.Verifier (in-process or remote), and either passes the
// request on with the verified key in its context (FromContext) or answers
// with an RFC 9457 problem (application/problem+json), shaped like
// keyward's own errors: {type, title, status, detail, code, errors,
// request_id}, plus verify_code naming the verification outcome.
//
// The key is read from "Authorization: Bearer <key>" or "X-API-Key: <key>",
// as keyward itself reads credentials: both headers with different keys
// are a 400, and an Authorization header with another scheme is a 401.
//
// Statuses:
//
//	400 bad_request        Authorization and X-API-Key carry different keys, or
//	                       a placeholder of Permissions has no valid value
//	                       (see "Permissions per request")
//	401 unauthenticated    no key, another Authorization scheme, NOT_FOUND,
//	                       REVOKED, DISABLED, EXPIRED, ROTATED, OWNER_INACTIVE
//	403 permission_denied  FORBIDDEN_IP, WRONG_PROJECT, INSUFFICIENT_PERMISSIONS
//	429 rate_limited       RATE_LIMITED (Retry-After until rate_limit.reset_at),
//	                       USAGE_EXCEEDED (Retry-After: Options.CreditsRetryAfter)
//	503 unavailable        keyward could not answer in time (Retry-After: 1)
//	500 internal           the verifier failed otherwise (its credential may not
//	                       verify keys, the database failed…)
//
// 401 means the key is not usable at all, whatever the request: that
// includes OWNER_INACTIVE, since a key whose user or service account is
// disabled can do nothing until the owner is re-enabled (keyward's own
// whoami answers 401 for it too). 403 means the key is good but not for
// this request (this address, this project, this route's permissions).
// Exhausted credits are a 429, not a 402: 402 is reserved by RFC 9110 and
// clients do not act on it, while 429 tells them to back off; credits
// that refill make it a matter of time like a rate limit. A 429 carries
// retry_after_seconds in its body as well as the Retry-After header. Every
// 401 carries WWW-Authenticate: Bearer (with error="invalid_token" when a
// key was sent, RFC 6750).
//
// The client's address, which a key's IP allowlist is checked against, is
// the connection's peer unless Options.TrustedProxies says otherwise.
//
// Responses from a key with a rate limit carry X-RateLimit-Limit,
// X-RateLimit-Remaining and X-RateLimit-Reset (Unix seconds).
//
// # Permissions per request
//
// Options.Permissions may name the object a request is about as the
// target of an atom, with a placeholder: on the route "GET /documents/{id}",
// the query "documents:read:{id}" checks documents:read:42 for
// GET /documents/42, so a key whose scope names documents doc_1 and doc_2
// reads those two and no other. A placeholder takes its value from the
// request's path wildcard of the same name (r.PathValue), or from
// Options.Target. Placeholders may stand only in targets, and a value is
// always exactly one target, never query syntax: a value that is empty or
// not a valid target (keyward.ValidTarget: 1–128 letters, digits and
// _ . - = @ / + ~; no spaces, colons, parentheses or "*") is refused with
// a 400 before any verification, so a path such as
// /documents/doc_3%20OR%20documents:read cannot widen the check. Queries are
// parsed once per distinct value and cached (a bounded cache).
package middleware

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/verifier"
)

// Options configure a middleware; the zero value checks the key alone.
type Options struct {
	// Permissions is the permission query a key must satisfy on the routes
	// the middleware wraps ("documents:read AND search:read"); "" checks
	// none. It is parsed once, by New. Use one middleware per set of
	// routes that need the same permissions.
	//
	// A target may be a placeholder {name} filled in from each request
	// ("documents:read:{id}", or "documents:write:doc_{id}"): see
	// "Permissions per request" in the package doc.
	Permissions string
	// Target returns the value of the placeholder {name} of Permissions
	// for a request; nil takes r.PathValue(name), the wildcard of the
	// route's ServeMux pattern. It is called once per placeholder and
	// request, and must not keep r.
	Target func(r *http.Request, name string) string
	// ProjectID, if set, is the project the routes belong to: a key scoped
	// to another project is refused (403).
	ProjectID string
	// Cost is what a request spends of a key's credits (see
	// verifier.Options.Cost: 0 is 1, verifier.NoCost is none).
	Cost int64
	// TrustedProxies are the addresses whose X-Forwarded-For is believed:
	// a request from one of them is from the nearest address in that
	// header that is not itself a trusted proxy. From anyone else the
	// client is the connection's peer (r.RemoteAddr), or any client could
	// choose its address and pass an IP allowlist.
	TrustedProxies []netip.Prefix
	// Realm is the realm of WWW-Authenticate ("api" when empty).
	Realm string
	// CreditsRetryAfter is the Retry-After of a key that has used its
	// credits (USAGE_EXCEEDED). keyward's answer does not say when a key's
	// credits refill: set it to the refill interval your keys use. 0 means
	// DefaultCreditsRetryAfter; it is rounded up to whole seconds.
	CreditsRetryAfter time.Duration
	// Logger receives verification failures (never a token); nil
	// discards them.
	Logger *slog.Logger
}

// DefaultCreditsRetryAfter is the Retry-After of USAGE_EXCEEDED when
// Options.CreditsRetryAfter is 0.
const DefaultCreditsRetryAfter = time.Hour

type ctxKey struct{}

// FromContext returns the verified key of a request that passed the
// middleware, and false for any other context.
func FromContext(ctx context.Context) (keyward.VerifyResult, bool) {
	res, ok := ctx.Value(ctxKey{}).(*keyward.VerifyResult)
	if !ok {
		return keyward.VerifyResult{}, false
	}
	return *res, true
}

type middleware struct {
	v            verifier.Verifier
	opts         verifier.Options
	query        string   // the query, as written (with its placeholders)
	pattern      *pattern // the query's placeholders; nil when it has none
	target       func(*http.Request, string) string
	queries      queryCache
	proxies      []netip.Prefix
	realm        string
	creditsRetry int64 // seconds
	log          *slog.Logger
	now          func() time.Time
}

// New returns a middleware that lets through only requests with a valid
// key satisfying o (see the package doc for the answers to the others).
// New panics if v is nil, Permissions does not parse, ProjectID or Cost is
// malformed, or CreditsRetryAfter is negative: a route's requirements are
// part of the program, like a ServeMux pattern.
func New(v verifier.Verifier, o Options) func(http.Handler) http.Handler {
	if v == nil {
		panic("middleware.New: nil verifier")
	}
	m := &middleware{v: v, query: o.Permissions, proxies: o.TrustedProxies, realm: o.Realm, log: o.Logger, now: time.Now,
		opts: verifier.Options{ProjectID: o.ProjectID, Cost: o.Cost}, target: o.Target}
	if m.target == nil {
		m.target = (*http.Request).PathValue
	}
	if o.Permissions != "" {
		p, err := parsePattern(o.Permissions)
		if err != nil {
			panic("middleware.New: " + err.Error())
		}
		if p.names == nil {
			q, err := keyward.ParseQuery(o.Permissions)
			if err != nil {
				panic("middleware.New: " + err.Error())
			}
			m.opts.Query = q
		} else {
			m.pattern = p
		}
	}
	if err := m.opts.Validate(); err != nil {
		panic("middleware.New: " + err.Error())
	}
	if m.realm == "" {
		m.realm = "api"
	}
	switch d := o.CreditsRetryAfter; {
	case d < 0:
		panic("middleware.New: negative CreditsRetryAfter")
	case d == 0:
		d = DefaultCreditsRetryAfter
		fallthrough
	default:
		m.creditsRetry = max(1, int64((d+time.Second-1)/time.Second))
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m.serve(w, r, next)
		})
	}
}

func (m *middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	tok, bad := credential(r)
	if bad != nil {
		m.problem(w, r, bad, false)
		return
	}
	if tok == "" {
		m.problem(w, r, keyward.Errorf(keyward.ECodeUnauthenticated, "an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>"), false)
		return
	}
	opts := m.opts
	query := m.query
	if m.pattern != nil {
		q, bad := m.requestQuery(r)
		if bad != nil {
			m.problem(w, r, bad, true)
			return
		}
		opts.Query, query = q, q.String()
	}
	opts.IP = m.clientIP(r)
	res, err := m.v.Verify(r.Context(), tok, &opts)
	if err != nil {
		code := keyward.ErrorCode(err)
		if code == keyward.ECodeUnavailable || code == keyward.ECodeTimeout {
			m.log.Warn("API key verification unavailable", "code", code, "err", err)
			m.problem(w, r, keyward.Errorf(keyward.ECodeUnavailable, "the API key cannot be verified right now: retry shortly"), true)
			return
		}
		m.log.Error("API key verification failed", "code", code, "err", err)
		m.problem(w, r, keyward.Errorf(keyward.ECodeInternal, "the API key could not be verified"), true)
		return
	}
	if res.HasRateLimit {
		h := w.Header()
		h.Set("X-RateLimit-Limit", strconv.FormatInt(res.RateLimit.Limit, 10))
		h.Set("X-RateLimit-Remaining", strconv.FormatInt(res.RateLimit.Remaining, 10))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(res.RateLimit.ResetAt.Unix(), 10))
	}
	if !res.Valid {
		m.refuse(w, r, &res, opts.IP, query)
		return
	}
	next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, &res)))
}

// unauthenticated are the messages of the outcomes that refuse a key as
// no credential (401).
var unauthenticated = map[keyward.VerifyCode]string{
	keyward.VerifyNotFound:      "the API key is not valid",
	keyward.VerifyRevoked:       "the API key has been revoked",
	keyward.VerifyDisabled:      "the API key is disabled",
	keyward.VerifyExpired:       "the API key has expired",
	keyward.VerifyRotated:       "the API key has been replaced by a newer secret",
	keyward.VerifyOwnerInactive: "the API key's owner is disabled",
}

// refuse answers a verification that did not pass; query is the
// permission query it checked.
func (m *middleware) refuse(w http.ResponseWriter, r *http.Request, res *keyward.VerifyResult, ip netip.Addr, query string) {
	code, msg := keyward.ECodeUnauthenticated, ""
	var extra map[string]any
	switch res.Code {
	case keyward.VerifyNotFound, keyward.VerifyRevoked, keyward.VerifyDisabled, keyward.VerifyExpired,
		keyward.VerifyRotated, keyward.VerifyOwnerInactive:
		msg = unauthenticated[res.Code]
	case keyward.VerifyForbiddenIP:
		code = keyward.ECodePermissionDenied
		if ip.IsValid() {
			msg = "the API key may not be used from " + ip.String()
		} else {
			msg = "the API key may be used only from allowed addresses, and this request's address is unknown"
		}
	case keyward.VerifyWrongProject:
		code, msg = keyward.ECodePermissionDenied, "the API key belongs to another project"
	case keyward.VerifyInsufficientPermissions:
		code, msg = keyward.ECodePermissionDenied, "the API key lacks the permissions this request needs"
		extra = map[string]any{"required_permissions": query}
	case keyward.VerifyRateLimited:
		code = keyward.ECodeRateLimited
		secs := retryAfter(res.RateLimit.ResetAt, m.now())
		msg = "the API key's rate limit is exhausted: retry in " + strconv.FormatInt(secs, 10) + " s"
		extra = map[string]any{"retry_after_seconds": secs}
	case keyward.VerifyUsageExceeded:
		code, msg = keyward.ECodeRateLimited, "the API key has used its credits"
		extra = map[string]any{"retry_after_seconds": m.creditsRetry, "credits_remaining": res.CreditsRemaining}
	default:
		// An outcome this version does not know: refuse.
		code, msg = keyward.ECodePermissionDenied, "the API key may not be used for this request"
	}
	if extra == nil {
		extra = map[string]any{}
	}
	extra["verify_code"] = res.Code
	m.problem(w, r, &keyward.Error{Code: code, Message: msg, Details: extra}, true)
}

// retryAfter is the whole seconds until reset, at least 1.
func retryAfter(reset, now time.Time) int64 {
	secs := int64(math.Ceil(reset.Sub(now).Seconds()))
	if secs < 1 {
		secs = 1
	}
	return secs
}

// problem writes e as a problem document. sent says a key was presented
// (a 401 then says the token is invalid). Members of e.Details are added
// to the document; the standard members win over them.
func (m *middleware) problem(w http.ResponseWriter, r *http.Request, e *keyward.Error, sent bool) {
	p := api.ProblemOf(e, api.RequestIDFrom(r.Header.Get("X-Request-Id")))
	b, err := json.Marshal(p)
	if err != nil {
		b = []byte(`{"code":"internal"}`)
	}
	h := w.Header()
	switch p.Status {
	case http.StatusUnauthorized:
		v := `Bearer realm="` + m.realm + `"`
		if sent {
			v += `, error="invalid_token"`
		}
		h.Set("WWW-Authenticate", v)
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	case http.StatusTooManyRequests:
		if secs, ok := e.Details["retry_after_seconds"].(int64); ok {
			h.Set("Retry-After", strconv.FormatInt(secs, 10))
		}
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Request-Id", p.RequestID)
	w.WriteHeader(p.Status)
	w.Write(append(b, '\n'))
}

// credential reads the key from Authorization: Bearer or X-API-Key ("" if
// neither is sent), as keyward reads its own credentials. Two different
// keys are a 400, another Authorization scheme a 401: no key of this API
// was presented, so it answers like a missing key.
func credential(r *http.Request) (tok string, err *keyward.Error) {
	// A header sent twice is refused, whatever the copies say: which one
	// would win differs between parsers and proxies (keyward's own API
	// does the same).
	for _, name := range []string{"Authorization", "X-Api-Key"} {
		if n := len(r.Header[name]); n > 1 {
			return "", keyward.Errorf(keyward.ECodeBadRequest, "the %s header is sent %d times: send it once", name, n)
		}
	}
	var bearer string
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(rest) == "" {
			return "", keyward.Errorf(keyward.ECodeUnauthenticated, "the Authorization header must be \"Bearer <key>\"")
		}
		bearer = strings.TrimSpace(rest)
	}
	apiKey := strings.TrimSpace(r.Header.Get("X-API-Key"))
	switch {
	case bearer != "" && apiKey != "" && bearer != apiKey:
		return "", keyward.Errorf(keyward.ECodeBadRequest, "Authorization and X-API-Key carry different keys: send one")
	case bearer != "":
		return bearer, nil
	}
	return apiKey, nil
}

// clientIP is the connection's peer, unless the peer is a trusted proxy:
// then the nearest address in X-Forwarded-For that is not itself a trusted
// proxy (a malformed hop stops the walk at the last address trusted). The
// zero Addr when the peer address does not parse.
func (m *middleware) clientIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !m.trusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !m.trusted(a) {
			return a
		}
		peer = a
	}
	return peer
}

func (m *middleware) trusted(a netip.Addr) bool {
	for _, p := range m.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// pattern is a permission query with placeholders in targets: lits[0]
// {names[0]} lits[1] … {names[n-1]} lits[n].
type pattern struct {
	lits  []string
	names []string
}

// parsePattern splits a permission query at its placeholders {name}
// (name: a Go identifier, as ServeMux wildcards are) and checks that each
// stands in the target of an atom and that the query parses once they are
// filled in. A query without placeholders gives a pattern without names.
func parsePattern(s string) (*pattern, error) {
	p := &pattern{}
	var probe strings.Builder // the query with every placeholder filled in
	rest := s
	for {
		i := strings.IndexAny(rest, "{}")
		if i < 0 || rest[i] == '}' {
			if i >= 0 {
				return nil, keyward.Errorf(keyward.ECodeInvalidPermission, "invalid permission query: %q has a '}' without '{'", s)
			}
			p.lits = append(p.lits, rest)
			probe.WriteString(rest)
			break
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return nil, keyward.Errorf(keyward.ECodeInvalidPermission, "invalid permission query: %q has a '{' without '}'", s)
		}
		name := rest[i+1 : i+end]
		if !identifier(name) {
			return nil, keyward.Errorf(keyward.ECodeInvalidPermission, "invalid permission query: {%s} in %q: a placeholder is {name}, name a Go identifier", name, s)
		}
		p.lits = append(p.lits, rest[:i])
		p.names = append(p.names, name)
		probe.WriteString(rest[:i])
		probe.WriteString("x")
		rest = rest[i+end+1:]
	}
	// Each placeholder must be in an atom's target: in the tokens of the
	// query (split as keyward splits them), only after the second colon.
	for _, tok := range strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '(' || r == ')'
	}) {
		if !strings.Contains(tok, "{") {
			continue
		}
		parts := strings.SplitN(tok, ":", 3)
		if len(parts) < 3 || strings.ContainsAny(parts[0], "{}") || strings.ContainsAny(parts[1], "{}") {
			return nil, keyward.Errorf(keyward.ECodeInvalidPermission, "invalid permission query: %q in %q: a placeholder may stand only in a target (resource:access:{name})", tok, s)
		}
	}
	if _, err := keyward.ParseQuery(probe.String()); err != nil {
		return nil, err
	}
	return p, nil
}

// identifier reports whether s is a Go identifier (ASCII).
func identifier(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// requestQuery fills in the placeholders of the pattern from r and returns
// the parsed query, or the 400 of a request whose value is not one valid
// target.
func (m *middleware) requestQuery(r *http.Request) (*keyward.Query, *keyward.Error) {
	var b strings.Builder
	b.Grow(len(m.query) + 16*len(m.pattern.names))
	for i, name := range m.pattern.names {
		v := m.target(r, name)
		if !keyward.ValidTarget(v) {
			return nil, keyward.Errorf(keyward.ECodeBadRequest,
				"the request's {%s} is empty or not a valid object id (1 to %d letters, digits and _ . - = @ / + ~)", name, keyward.MaxTargetLen)
		}
		b.WriteString(m.pattern.lits[i])
		b.WriteString(v)
	}
	b.WriteString(m.pattern.lits[len(m.pattern.names)])
	q, err := m.queries.get(b.String())
	if err != nil {
		// Only a target made too long by the text around its value
		// ("doc_{id}") or a query over keyward.MaxQueryLen gets here.
		return nil, keyward.Errorf(keyward.ECodeBadRequest,
			"the request's object ids do not make a valid permission query (a target is at most %d characters)", keyward.MaxTargetLen)
	}
	return q, nil
}

// queryCacheSize bounds the parsed queries a middleware keeps: values come
// from requests, so their number is the client's choice.
const queryCacheSize = 4096

// queryCache keeps parsed queries by text, safe for concurrent use. When
// full, an arbitrary entry makes room (parsing again costs microseconds).
type queryCache struct {
	mu sync.RWMutex
	m  map[string]*keyward.Query
}

func (c *queryCache) get(text string) (*keyward.Query, error) {
	c.mu.RLock()
	q := c.m[text]
	c.mu.RUnlock()
	if q != nil {
		return q, nil
	}
	q, err := keyward.ParseQuery(text)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]*keyward.Query)
	}
	if len(c.m) >= queryCacheSize {
		for k := range c.m { // map order is random: a random victim
			delete(c.m, k)
			break
		}
	}
	c.m[text] = q
	c.mu.Unlock()
	return q, nil
}

// len returns the number of cached queries.
func (c *queryCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

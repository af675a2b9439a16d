// Package http serves keyward's native HTTP API (docs/api.md) over net/http.
// Handlers return errors; one adapter renders them as RFC 9457 problems
// (api.ProblemOf, with the status from the one table of package api).
// Answers are the wire types of package api, built from domain values.
package http

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/service"
)

// Options configure a Server.
type Options struct {
	Logger *slog.Logger
	// Lockout is the failed-authentication lockout; nil means DefaultLockout.
	Lockout *LockoutPolicy
	// TrustedProxies are the addresses whose X-Forwarded-For header is
	// believed; from any other peer the TCP address is the client.
	TrustedProxies []netip.Prefix
	// Metrics serves GET /metrics (Prometheus); nil answers 404.
	Metrics http.Handler
	// RequestTimeout is every request's time budget for what it waits on
	// (the database, the writer), DefaultRequestTimeout when zero. A
	// request that runs out of it answers 503 unavailable with
	// Retry-After; a client's shorter Request-Timeout answers 504.
	// Verification and /readyz have a budget of their own (1 s).
	RequestTimeout time.Duration
}

// DefaultRequestTimeout is the time budget of a request (Options.RequestTimeout).
const DefaultRequestTimeout = 15 * time.Second

// probeBudget bounds /readyz: a probe must answer promptly, ready or not.
const probeBudget = time.Second

// Server is keyward's HTTP API.
type Server struct {
	svc     *service.Service
	log     *slog.Logger
	mux     *http.ServeMux
	lockout *lockout
	proxies []netip.Prefix
	metrics http.Handler
	budget  time.Duration
	queries queryCache
	handler http.Handler
	// ui serves the paths of no API (the dashboard, MountUI); nil: 404.
	ui http.Handler
	// routes lists "METHOD /pattern" of every route, for the OpenAPI check.
	routes []string
}

// NewHTTPServer returns the net/http server keyward serve runs h behind:
// its timeouts and header limit, and its errors logged as warnings.
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// NewServer returns the API server for svc.
func NewServer(svc *service.Service, o Options) *Server {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lock := DefaultLockout
	if o.Lockout != nil {
		lock = *o.Lockout
	}
	budget := o.RequestTimeout
	if budget <= 0 {
		budget = DefaultRequestTimeout
	}
	s := &Server{svc: svc, log: log, mux: http.NewServeMux(),
		lockout: newLockout(lock, time.Now), proxies: o.TrustedProxies, metrics: o.Metrics, budget: budget}
	s.registerRoutes()
	s.handler = http.HandlerFunc(s.serve)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Routes returns "METHOD /pattern" for every route served.
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

// handlerFunc is a handler that returns an error instead of writing one.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle registers a route under the server's request budget.
func (s *Server) handle(pattern string, h handlerFunc) { s.handleWithin(pattern, s.budget, h) }

// handleWithin registers a route whose requests wait at most budget in
// all (0: no budget, for a long-lived stream, which bounds its own
// waits).
func (s *Server) handleWithin(pattern string, budget time.Duration, h handlerFunc) {
	s.routes = append(s.routes, pattern)
	if budget > 0 {
		h = within(budget, h)
	}
	s.mux.Handle(pattern, h)
}

// within bounds a request's context by a time budget: when it runs out,
// the waits of the request fail with unavailable (keyward.WithBudget). A
// client's shorter Request-Timeout still wins, and answers 504.
func within(budget time.Duration, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx, cancel := keyward.WithBudget(r.Context(), budget)
		defer cancel()
		err := h(w, r.WithContext(ctx))
		if err == nil && ctx.Err() != nil && w.(*responseWriter).status == 0 {
			err = keyward.ContextError(ctx)
		}
		return err
	}
}

// ServeHTTP lets a handlerFunc be registered directly; the error rendering
// happens in serve, which wraps the whole mux.
func (h handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := w.(*responseWriter)
	if err := h(w, r); err != nil {
		rw.err = err
	}
}

// responseWriter records the status and an error a handler returned.
type responseWriter struct {
	http.ResponseWriter
	status int
	err    error
	// noted is the error a compatibility dialect rendered itself (Note).
	noted error
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (flushes and
// write deadlines of the invalidation stream).
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// serve is the middleware chain: request id, recovery, pretty, Accept,
// timeout, routing (404/405 as problems), error rendering and the access log.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rq := &api.State{ID: api.RequestIDFrom(r.Header.Get("X-Request-Id")), ClientIP: s.clientIP(r)}
	w.Header().Set("X-Request-Id", rq.ID)
	rw := &responseWriter{ResponseWriter: w}
	r = api.WithState(r, rq)

	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic serving request", "request_id", rq.ID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if rw.status == 0 {
				s.writeProblem(rw, r, keyward.Internal(fmt.Errorf("panic: %v", p)))
			}
		}
		s.logRequest(r, rw, rq, time.Since(start))
	}()

	if s.ui != nil && !isAPI(r.URL.Path) {
		// The dashboard renders its own pages, errors included.
		s.ui.ServeHTTP(rw, r)
		return
	}
	if isCompat(r.URL.Path) {
		// A dialect renders its own errors and reads its own headers.
		s.route(rw, r)
		if rw.err != nil && rw.status == 0 {
			s.writeProblem(rw, r, rw.err) // no route under /compat/
		}
		return
	}
	err := s.preflight(rw, r, rq)
	if err == nil {
		var cancel context.CancelFunc
		r, cancel, err = api.WithTimeout(r)
		if err == nil {
			defer cancel()
			s.route(rw, r)
			err = rw.err
			if err == nil && r.Context().Err() != nil && rw.status == 0 {
				err = keyward.ContextError(r.Context())
			}
		}
	}
	if err != nil {
		if rw.status != 0 {
			// The handler wrote a response and then failed: too late to
			// change it; log it.
			s.log.Error("handler failed after writing", "request_id", rq.ID, "err", err)
			return
		}
		rw.err = err
		s.writeProblem(rw, r, err)
	}
}

// preflight checks what applies to every route before routing: the query
// string (parsed once, for every route: a pair that does not parse is a
// 400 here), ?pretty and Accept.
func (s *Server) preflight(w *responseWriter, r *http.Request, rq *api.State) error {
	var err error
	if r.URL.RawQuery != "" {
		if rq.Query, err = api.ParseQuery(r); err != nil {
			return err
		}
	}
	if rq.Pretty, err = api.Pretty(rq.Query); err != nil {
		return err
	}
	if r.URL.Path == "/metrics" {
		return nil // the Prometheus text format, not JSON
	}
	if !api.Accepts(r, false, "application/json", "application/problem+json") {
		return keyward.Errorf(keyward.ECodeNotAcceptable, "keyward answers application/json (and application/problem+json); the Accept header excludes both")
	}
	return nil
}

// route dispatches through the mux, turning its own 404 and 405 answers
// into problems (with Allow for 405). A body the handler refused as too
// large is drained (api.Drain) before the answer goes out.
func (s *Server) route(w *responseWriter, r *http.Request) {
	routed, allow := api.Dispatch(s.mux, w, r)
	api.Drain(w, r)
	if routed {
		return
	}
	if allow != "" {
		w.Header().Set("Allow", allow)
	}
	w.err = api.NoRoute(r, allow)
}

// clientIP is the peer address of the connection, unless the peer is a
// trusted proxy: then it is the nearest address in X-Forwarded-For that is
// not itself a trusted proxy. X-Forwarded-For from anyone else is ignored,
// or any client could choose its address.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: stop at the last address we can trust
		}
		if !s.trusted(a.Unmap()) {
			return a.Unmap().String()
		}
		peer = a
	}
	return peer.Unmap().String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// writeJSON writes v as the response body with the given status.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) error {
	return api.WriteJSON(w, r, status, "application/json", v)
}

// writeProblem renders err as a problem document; internal causes are
// logged, never sent.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	rq := api.StateOf(r)
	p := api.ProblemOf(err, rq.ID)
	if p.Status >= 500 && p.Status != http.StatusGatewayTimeout {
		s.log.Error("request failed", "request_id", rq.ID, "method", r.Method, "path", loggablePath(r), "code", p.Code, "err", err)
	}
	if secs, ok := p.Extra["retry_after_seconds"].(int64); ok {
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	switch p.Status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyward"`)
	}
	api.WriteJSON(w, r, p.Status, "application/problem+json", p)
}

func (s *Server) logRequest(r *http.Request, w *responseWriter, rq *api.State, d time.Duration) {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	attrs := []any{"request_id", rq.ID, "method", r.Method, "path", loggablePath(r), "status", status,
		"duration_ms", float64(d.Microseconds()) / 1000, "client_ip", rq.ClientIP}
	if w.err != nil {
		attrs = append(attrs, "code", keyward.ErrorCode(w.err))
	} else if w.noted != nil {
		attrs = append(attrs, "code", keyward.ErrorCode(w.noted))
		if status >= 500 && status != http.StatusGatewayTimeout {
			s.log.Error("request failed", "request_id", rq.ID, "method", r.Method, "path", loggablePath(r), "code", keyward.ErrorCode(w.noted), "err", w.noted)
		}
	}
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelWarn
	case status == http.StatusOK && r.Pattern == "POST /v1/keys/verify":
		// The hot path: verifications are counted by the metrics, and a
		// log line each would cost more than the verification itself.
		level = slog.LevelDebug
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	s.log.Log(r.Context(), level, "request", attrs...)
}

// loggablePath returns the request path in a form safe to log: the route
// pattern, with each path value filled in only when it is a well-formed
// object id. A client that pastes a secret where an id belongs must not get
// it written to the log; unmatched paths are not logged at all.
func loggablePath(r *http.Request) string {
	if r.Pattern == "" {
		return "[unmatched]"
	}
	_, path, ok := strings.Cut(r.Pattern, " ")
	if !ok {
		// A mounted dialect ("/compat/orq/"): what follows the mount is
		// the dialect's, and may hold anything a client pasted.
		return r.Pattern + "…"
	}
	var b strings.Builder
	for len(path) > 0 {
		i := strings.IndexByte(path, '{')
		if i < 0 {
			b.WriteString(path)
			break
		}
		j := strings.IndexByte(path[i:], '}')
		if j < 0 {
			b.WriteString(path)
			break
		}
		b.WriteString(path[:i])
		name := path[i+1 : i+j]
		if v := r.PathValue(name); looksLikeID(v) {
			b.WriteString(v)
		} else {
			b.WriteString(path[i : i+j+1])
		}
		path = path[i+j+1:]
	}
	return b.String()
}

// looksLikeID reports whether s is a type-prefixed ULID (key_01J…).
func looksLikeID(s string) bool {
	prefix, _, ok := strings.Cut(s, "_")
	return ok && len(prefix) <= 4 && keyward.ValidID(prefix+"_", s)
}

// token reads the credential from Authorization: Bearer or X-API-Key.
// Sending two different credentials is a 400; any other Authorization
// scheme is a 401.
func token(r *http.Request) (keyward.Token, error) {
	var bearer string
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(rest) == "" {
			return keyward.Token{}, keyward.Errorf(keyward.ECodeUnauthenticated, "the Authorization header must be \"Bearer <key>\"")
		}
		bearer = strings.TrimSpace(rest)
	}
	apiKey := strings.TrimSpace(r.Header.Get("X-API-Key"))
	switch {
	case bearer != "" && apiKey != "" && bearer != apiKey:
		return keyward.Token{}, keyward.Errorf(keyward.ECodeBadRequest, "Authorization and X-API-Key carry different credentials: send one")
	case bearer != "":
		return keyward.TokenFromString(bearer), nil
	}
	return keyward.TokenFromString(apiKey), nil
}

// actor authenticates a management request of the native API, its
// credential in Authorization: Bearer or X-API-Key and its account in
// X-Account-Id. needAccount is false on routes that do not act inside one
// account.
func (s *Server) actor(r *http.Request, needAccount bool) (*keyward.Actor, error) {
	return s.authenticate(r, func() (keyward.Token, error) { return token(r) },
		service.Credential{AccountID: strings.TrimSpace(r.Header.Get("X-Account-Id")), AnyAccount: !needAccount}, "native")
}

// authenticate authenticates the management credential that tok reads
// from r, for c's account, as every API of the server does (the native
// one and each dialect, through Host): a credential or account header
// sent twice is refused first; a client address locked out after repeated
// failures gets 429 before its credential is even read; a failed
// authentication counts towards the lockout. The actor records dialect
// ("native" for the native API) as the API of the changes it makes.
func (s *Server) authenticate(r *http.Request, tok func() (keyward.Token, error), c service.Credential, dialect string) (*keyward.Actor, error) {
	if err := api.CheckCredentialHeaders(r); err != nil {
		return nil, err
	}
	return s.authenticateWith(r, c, dialect, func(ctx context.Context, c service.Credential) (*keyward.Actor, error) {
		t, err := tok()
		if err != nil {
			return nil, err
		}
		c.Token = t
		return s.svc.Authenticate(ctx, c)
	})
}

// authenticateWith runs auth, the service's authentication of c, under
// the lockout of the client's address and the request's budget, and
// completes the actor with what the request says of its origin.
func (s *Server) authenticateWith(r *http.Request, c service.Credential, dialect string, auth func(context.Context, service.Credential) (*keyward.Actor, error)) (*keyward.Actor, error) {
	rq := api.StateOf(r)
	if err := s.lockout.check(rq.ClientIP); err != nil {
		return nil, err
	}
	ctx := r.Context()
	if _, ok := ctx.Deadline(); !ok {
		// A route without a budget (the stream) still authenticates
		// within one.
		var cancel context.CancelFunc
		ctx, cancel = keyward.WithBudget(ctx, s.budget)
		defer cancel()
	}
	c.ClientIP = rq.ClientIP
	a, err := auth(ctx, c)
	if keyward.ErrorCode(err) == keyward.ECodeUnauthenticated {
		s.lockout.fail(rq.ClientIP)
	}
	if err != nil {
		return nil, err
	}
	a.RequestID, a.ClientIP, a.UserAgent, a.Dialect = rq.ID, rq.ClientIP, truncate(r.UserAgent(), 512), dialect
	return a, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// errMethod is returned by handlers that see a path they own with a method
// it does not take.
func errMethod(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return keyward.Errorf(keyward.ECodeMethodNotAllowed, "allowed: %s", allow)
}

// Package client is the Go client of keyward's native HTTP API (/v1,
// docs/api.md). Go programs use it to manage keys, accounts, members,
// projects and the catalog, and to verify keys against a keyward server;
// the remote verifier, the net/http middleware and keyward's own command
// line are built on it.
//
// A Client holds no global state: everything it needs is passed to New,
// and every call takes a context. It never puts the credential in a URL,
// an error or its own printed form.
//
// Answers decode into the wire types of package api, which the server
// encodes from (Key, Account, VerifyResult… are aliases of them). Request
// bodies reuse keyward's own request types (keyward.KeyFields,
// keyward.UserFields, keyward.VerifyRequest…), whose keyward.Field members
// say whether a member is absent, null or a value, so a PATCH can clear a
// field (keyward.Null) as well as set one (keyward.Some). Failed requests
// return an *Error that unwraps to a *keyward.Error, so keyward.ErrorCode
// works on every error this package returns; a request that got no answer
// says why (Error.Network), and whether it never reached the server.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// maxResponseBytes bounds how much of an answer the client reads.
const maxResponseBytes = 32 << 20

// maxRequestTimeout is the largest Request-Timeout the server accepts.
const maxRequestTimeout = time.Hour

// DefaultUserAgent is sent when no WithUserAgent option is given.
const DefaultUserAgent = "keyward-go-client"

// Client talks to one keyward server. It is safe for concurrent use; its
// settings do not change after New (With returns a changed copy).
type Client struct {
	base      *url.URL
	token     keyward.Token
	hc        *http.Client
	accountID string
	userAgent string
	timeout   time.Duration
}

// Option configures a Client in New or With.
type Option func(*Client) error

// WithToken sets the credential sent with every request as
// "Authorization: Bearer": a management key for the management routes, or
// any key for Whoami. It is never printed.
func WithToken(t keyward.Token) Option {
	return func(c *Client) error {
		c.token = t
		return nil
	}
}

// WithHTTPClient sets the *http.Client requests go through (its Transport,
// Timeout and redirect policy apply). The default is a client that does
// not follow redirects, so a PATCH cannot silently become a GET.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("keyward client: WithHTTPClient(nil)")
		}
		c.hc = hc
		return nil
	}
}

// WithAccountID sends X-Account-Id with every request: the account an
// operator key acts on (an account-bound key may only name its own).
// "" sends none.
func WithAccountID(id string) Option {
	return headerOption("the account id", id, func(c *Client) { c.accountID = id })
}

// WithUserAgent sets the User-Agent header (recorded in audit events).
func WithUserAgent(ua string) Option {
	return headerOption("the user agent", ua, func(c *Client) { c.userAgent = ua })
}

// headerOption is an option that sets a header's value v with set; what
// names it in the error of a value with a line break.
func headerOption(what, v string, set func(*Client)) Option {
	return func(c *Client) error {
		if strings.ContainsAny(v, "\r\n") {
			return errors.New("keyward client: " + what + " contains a line break")
		}
		set(c)
		return nil
	}
}

// WithRequestTimeout sends Request-Timeout-Millis with every request: the
// server stops working on a request after d and answers 504 timeout,
// having changed nothing. It bounds the server's work, not the wait: use
// the context for that. d is rounded up to a millisecond; 0 sends none.
func WithRequestTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 || d > maxRequestTimeout {
			return fmt.Errorf("keyward client: request timeout %s is not between 0 and %s", d, maxRequestTimeout)
		}
		c.timeout = d
		return nil
	}
}

// New returns a client of the keyward server at baseURL (such as
// http://127.0.0.1:8420; a path prefix is kept). It fails if baseURL is
// not an absolute http(s) URL without credentials, query or fragment, or
// if an option is invalid; the error never contains a secret.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("keyward client: the base URL must be an absolute http or https URL, such as http://127.0.0.1:8420")
	}
	if u.User != nil {
		return nil, fmt.Errorf("keyward client: the base URL %s must not carry credentials: use WithToken", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("keyward client: the base URL %s must not have a query or fragment", u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	c := &Client{
		base:      u,
		userAgent: DefaultUserAgent,
		hc: &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// With returns a copy of c with the options applied on top of c's
// settings, for example another account: c.With(WithAccountID(id)).
func (c *Client) With(opts ...Option) (*Client, error) {
	cp := *c
	u := *c.base
	cp.base = &u
	for _, o := range opts {
		if err := o(&cp); err != nil {
			return nil, err
		}
	}
	return &cp, nil
}

// BaseURL returns the server's base URL.
func (c *Client) BaseURL() string { return c.base.String() }

// String describes the client without its credential.
func (c *Client) String() string {
	s := "keyward client " + c.base.String()
	if c.accountID != "" {
		s += " account " + c.accountID
	}
	if !c.token.IsZero() {
		s += " token [redacted]"
	}
	return s
}

// GoString is String: %#v must not print the credential either.
func (c *Client) GoString() string { return "client.Client{" + c.String() + "}" }

// Format makes every fmt verb print String.
func (c *Client) Format(f fmt.State, _ rune) { io.WriteString(f, c.String()) }

// LogValue keeps the credential out of structured logs.
func (c *Client) LogValue() slog.Value { return slog.StringValue(c.String()) }

// NewIdempotencyKey returns a fresh random Idempotency-Key (32 hex
// characters). Keep it to retry a create: the retry gets the first answer
// (the same secret for a key) instead of creating a second object.
func NewIdempotencyKey() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// CallOption sets something on one call only.
type CallOption func(*call)

type call struct {
	ifMatch     string
	idempotency string
	requestID   string
	accountID   *string
	timeout     *time.Duration
	capture     *Response
}

// IfMatch sends If-Match: the change happens only if the object's etag is
// still etag (else 412 precondition_failed). A bare etag is quoted; "*"
// and quoted or weak etags are sent as they are.
func IfMatch(etag string) CallOption {
	return func(c *call) {
		if etag != "*" && !strings.HasPrefix(etag, `"`) && !strings.HasPrefix(etag, "W/") {
			etag = `"` + etag + `"`
		}
		c.ifMatch = etag
	}
}

// IdempotencyKey sends Idempotency-Key on a creating POST (16–255
// printable ASCII characters; see NewIdempotencyKey): a retry with the same
// key and request gets the first answer again, marked as replayed.
func IdempotencyKey(key string) CallOption { return func(c *call) { c.idempotency = key } }

// RequestID sends X-Request-Id, which the server echoes and records in
// logs, errors and audit events (1–128 characters of [A-Za-z0-9._:-]).
func RequestID(id string) CallOption { return func(c *call) { c.requestID = id } }

// AccountID sends X-Account-Id on this call instead of the client's
// (WithAccountID); "" sends none.
func AccountID(id string) CallOption { return func(c *call) { c.accountID = &id } }

// RequestTimeout bounds the server's work on this call instead of the
// client's WithRequestTimeout; 0 sends none.
func RequestTimeout(d time.Duration) CallOption { return func(c *call) { c.timeout = &d } }

// Capture stores the answer's status, headers and raw body in r when the
// call gets an answer (successful or not).
func Capture(r *Response) CallOption { return func(c *call) { c.capture = r } }

// Response is what a call's answer carried besides the decoded value.
type Response struct {
	StatusCode int
	Header     http.Header
	// RequestID is the X-Request-Id of the answer.
	RequestID string
	// ETag is the ETag header without its quotes ("" when absent).
	ETag string
	// Replayed is set when the answer repeats an earlier request's
	// (Idempotent-Replayed: true).
	Replayed bool
	// Body is the raw body as received.
	Body []byte
}

func newResponse(res *http.Response, body []byte) *Response {
	return &Response{
		StatusCode: res.StatusCode,
		Header:     res.Header,
		RequestID:  res.Header.Get("X-Request-Id"),
		ETag:       strings.Trim(strings.TrimPrefix(res.Header.Get("ETag"), "W/"), `"`),
		Replayed:   res.Header.Get("Idempotent-Replayed") == "true",
		Body:       body,
	}
}

// request is one API call.
type request struct {
	method string
	path   []string // path segments below the base URL, unescaped
	query  url.Values
	body   any    // nil: no body; else encoded with encodeBody
	out    any    // nil: the answer body is not decoded
	accept string // "": application/json
}

// do sends r and decodes the answer into r.out. A non-2xx answer is an
// *Error with the problem; a failure to reach the server or read its
// answer is an *Error with StatusCode 0 and its Network failure (code
// timeout when the context ended or the answer took too long, else
// unavailable).
func (c *Client) do(ctx context.Context, r request, opts []CallOption) (*Response, error) {
	res, cl, raw, err := c.send(ctx, r, opts)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes+1))
	if err == nil && len(body) > maxResponseBytes {
		err = fmt.Errorf("the answer is larger than %d bytes", maxResponseBytes)
	}
	if err != nil {
		return nil, transportError(ctx, r.method, raw, err)
	}
	resp := newResponse(res, body)
	if cl.capture != nil {
		*cl.capture = *resp
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return resp, problemError(r.method, raw, resp)
	}
	if r.out != nil {
		if err := json.Unmarshal(body, r.out); err != nil {
			return resp, fmt.Errorf("keyward client: %s %s: the answer (status %d) is not the JSON keyward sends: %w", r.method, raw, res.StatusCode, err)
		}
	}
	return resp, nil
}

// send builds and sends r; the caller reads and closes the answer's body.
// It also returns the call's options and the escaped path, for errors.
func (c *Client) send(ctx context.Context, r request, opts []CallOption) (*http.Response, *call, string, error) {
	var cl call
	for _, o := range opts {
		o(&cl)
	}
	path, raw, err := joinPath(r.path)
	if err != nil {
		return nil, nil, "", err
	}
	u := *c.base
	u.RawPath = c.base.EscapedPath() + raw
	u.Path = c.base.Path + path
	u.RawQuery = r.query.Encode()

	var rd io.Reader
	if r.body != nil {
		b, err := encodeBody(r.body)
		if err != nil {
			return nil, nil, "", fmt.Errorf("keyward client: %s %s: encode request: %w", r.method, raw, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), rd)
	if err != nil {
		return nil, nil, "", fmt.Errorf("keyward client: %s %s: %w", r.method, raw, err)
	}
	h := req.Header
	if !c.token.IsZero() {
		h.Set("Authorization", "Bearer "+c.token.Reveal())
	}
	if r.accept != "" {
		h.Set("Accept", r.accept)
	} else {
		h.Set("Accept", "application/json")
	}
	h.Set("User-Agent", c.userAgent)
	if r.body != nil {
		h.Set("Content-Type", "application/json")
	}
	account := c.accountID
	if cl.accountID != nil {
		account = *cl.accountID
	}
	if account != "" {
		h.Set("X-Account-Id", account)
	}
	timeout := c.timeout
	if cl.timeout != nil {
		timeout = *cl.timeout
	}
	if timeout > 0 {
		ms := (timeout + time.Millisecond - 1) / time.Millisecond
		h.Set("Request-Timeout-Millis", strconv.FormatInt(int64(ms), 10))
	}
	for name, v := range map[string]string{"If-Match": cl.ifMatch, "Idempotency-Key": cl.idempotency, "X-Request-Id": cl.requestID} {
		if strings.ContainsAny(v, "\r\n") {
			return nil, nil, "", fmt.Errorf("keyward client: %s %s: the %s header contains a line break", r.method, raw, name)
		}
		if v != "" {
			h.Set(name, v)
		}
	}

	res, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, "", transportError(ctx, r.method, raw, err)
	}
	return res, &cl, raw, nil
}

// joinPath returns the path of the segments, unescaped and escaped. An id
// segment that is empty, "." or ".." would name another route, and one
// that is a keyward token (a secret pasted where an id belongs) must not
// travel in a URL, where proxies log it: either is a not_found error
// without a request, as the server would answer for any other malformed
// id. The error does not repeat the token.
func joinPath(segments []string) (path, raw string, err error) {
	var p, e strings.Builder
	for _, s := range segments {
		if s == "" || s == "." || s == ".." {
			return "", "", fmt.Errorf("keyward client: %w", keyward.Errorf(keyward.ECodeNotFound, "%q is not an id", s))
		}
		if keyward.TokenFromString(s).Shape() == keyward.ShapeKeyward {
			return "", "", fmt.Errorf("keyward client: %w", keyward.Errorf(keyward.ECodeNotFound, "a key's secret was given where an id belongs; it was not sent"))
		}
		p.WriteString("/" + s)
		e.WriteString("/" + url.PathEscape(s))
	}
	return p.String(), e.String(), nil
}

// segs splits a fixed route path ("/v1/keys") into segments; ids are
// appended to it separately so they are escaped.
func segs(route string, ids ...string) []string {
	return append(strings.Split(strings.TrimPrefix(route, "/"), "/"), ids...)
}

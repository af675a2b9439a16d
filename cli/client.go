package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// The client of a running server lives here, unexported, rather than in
// package http: the CLI prints the server's JSON verbatim (--json) and
// renders its tables from that same JSON, so all it needs is a transport
// that authenticates, decodes problems and classifies network failures. A
// typed, exported Go client is an API of its own and is better designed
// with the embeddable verifier that will use it.

// maxResponse bounds what the client reads from the server.
const maxResponse = 32 << 20

// client talks to one keyward server with one management key.
type client struct {
	base      *url.URL
	token     string // the management key; never printed
	accountID string
	hc        *http.Client
	timeout   time.Duration
}

// newClient checks the connection settings; its errors are usage errors
// and never contain the token.
func newClient(c *connFlags) (*client, error) {
	u, err := url.Parse(strings.TrimSpace(c.url))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, usagef("--url (KEYWARD_URL) must be the server's base URL, such as http://127.0.0.1:8420, not %q", redactURL(c.url))
	}
	if u.User != nil {
		return nil, usagef("--url (KEYWARD_URL) must not carry credentials: set the management key in KEYWARD_TOKEN")
	}
	tok := strings.TrimSpace(c.token)
	if tok == "" {
		return nil, usagef("no management key: set KEYWARD_TOKEN (or --token) to a management key's secret")
	}
	if c.timeout <= 0 {
		return nil, usagef("--timeout must be positive, not %s", c.timeout)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return &client{
		base:      u,
		token:     tok,
		accountID: strings.TrimSpace(c.accountID),
		timeout:   c.timeout,
		hc: &http.Client{
			Timeout: c.timeout,
			// A redirect would silently turn a PATCH into a GET; the user
			// should point --url at the server itself.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// redactURL returns s with any password replaced, for error messages.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

// response is a successful answer: status, headers and the raw JSON body.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request. body, if not nil, is sent as JSON. A non-2xx
// answer is an *apiError; a server that cannot be reached is an
// *unreachableError; both unwrap to a *keyward.Error with the matching code
// so ExitCode can classify them.
func (c *client) do(ctx context.Context, method, path string, query url.Values, body any, header http.Header) (*response, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "keyward-cli/"+Version)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.accountID != "" {
		req.Header.Set("X-Account-Id", c.accountID)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, c.transportError(method, &u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return nil, c.transportError(method, &u, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil, problemError(res, b)
	}
	if len(b) > 0 && !json.Valid(b) {
		return nil, fmt.Errorf("the server answered %s %s with a body that is not JSON (is --url a keyward server?)", method, u.Redacted())
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// json sends a request and decodes the JSON answer into out.
func (c *client) json(ctx context.Context, method, path string, query url.Values, body any, header http.Header, out any) (*response, error) {
	res, err := c.do(ctx, method, path, query, body, header)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := json.Unmarshal(res.body, out); err != nil {
			return nil, fmt.Errorf("the server's answer to %s %s is not what keyward sends: %v", method, path, err)
		}
	}
	return res, nil
}

func (c *client) transportError(method string, u *url.URL, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the URL
	}
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || netTimeout(err):
		return &keyward.Error{Code: keyward.ECodeTimeout,
			Message: fmt.Sprintf("no answer from %s within %s (--timeout)", c.base.Redacted(), c.timeout)}
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s %s: cancelled", method, u.Path)
	case errors.As(err, &dns), errors.As(err, &op) && op.Op == "dial":
		return &unreachableError{url: c.base.Redacted(), err: err}
	}
	return fmt.Errorf("%s %s failed: %v", method, u.Redacted(), err)
}

func netTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// unreachableError is a server that does not answer at all.
type unreachableError struct {
	url string
	err error
}

func (u *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach the keyward server at %s: %v (is it running? set --url or KEYWARD_URL)", u.url, u.err)
}

func (u *unreachableError) Unwrap() error {
	return &keyward.Error{Code: keyward.ECodeUnavailable, Message: "server unreachable"}
}

// apiError is a problem document the server answered with.
type apiError struct {
	Status    int                  `json:"status"`
	Code      keyward.Code         `json:"code"`
	Detail    string               `json:"detail"`
	Errors    []keyward.FieldError `json:"errors"`
	RequestID string               `json:"request_id"`
}

// Error renders the problem for a person: the detail, the code and the
// status on the first line, then one line per offending field.
func (p *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, HTTP %d)", p.Detail, p.Code, p.Status)
	for _, f := range p.Errors {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Message)
	}
	return b.String()
}

func (p *apiError) Unwrap() error { return &keyward.Error{Code: p.Code, Message: p.Detail} }

// problemError reads a non-2xx answer. Anything but a keyward problem
// document (a proxy's HTML page, a redirect) is described by its status.
func problemError(res *http.Response, body []byte) error {
	p := &apiError{}
	if err := json.Unmarshal(body, p); err != nil || p.Code == "" {
		p = &apiError{Code: "http_error", Detail: fmt.Sprintf("the server answered %s", res.Status)}
		if loc := res.Header.Get("Location"); loc != "" && res.StatusCode >= 300 && res.StatusCode < 400 {
			p.Detail = fmt.Sprintf("the server redirects to %s: set --url to the address it redirects to", redactURL(loc))
		}
		switch res.StatusCode {
		case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
			p.Code = keyward.ECodeUnavailable
		}
	}
	p.Status = res.StatusCode
	return p
}

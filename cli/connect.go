package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// The client commands (keys, users, …) drive a running server through
// package client, keyward's Go client, and nothing else: this file turns
// the connection flags into a *client.Client, and what the client returns
// into the CLI's output, messages and exit statuses.

// connFlags are the flags every client command shares: where the server is,
// which management key to use, and how to print.
type connFlags struct {
	url       string
	token     string
	accountID string
	json      bool
	timeout   time.Duration
	userAgent string // the binary's (Build.userAgent), not a flag
}

// connect checks the connection settings and returns the client of the
// server they name; its errors are usage errors and never contain the
// token.
func (c *connFlags) connect() (*client.Client, error) {
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
	cl, err := client.New(u.String(),
		client.WithToken(keyward.TokenFromString(tok)),
		client.WithAccountID(strings.TrimSpace(c.accountID)),
		client.WithUserAgent(c.userAgent),
		client.WithHTTPClient(&http.Client{
			Timeout: c.timeout,
			// A redirect would silently turn a PATCH into a GET; the user
			// should point --url at the server itself.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}))
	if err != nil {
		return nil, usagef("%v", err)
	}
	return cl, nil
}

// redactURL returns s with any password replaced, for error messages.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

// remote is one command's connection to the server: the client, and the
// answer to its last call, which --json prints as it came.
type remote struct {
	*client.Client
	conn *connFlags
	res  client.Response
}

// capture returns the options of a call with the capture of its answer.
func (r *remote) capture(opts ...client.CallOption) []client.CallOption {
	return append(opts, client.Capture(&r.res))
}

// run connects, then calls f with the command's context; the errors of
// its calls are given the CLI's words and exit statuses (explain).
func (e *env) run(cmd *cobra.Command, c *connFlags, f func(ctx context.Context, r *remote) error) error {
	cl, err := c.connect()
	if err != nil {
		return err
	}
	r := &remote{Client: cl, conn: c}
	return r.explain(f(cmd.Context(), r))
}

// print prints the answer to r's last call: the server's JSON with --json,
// else what draw writes.
func (e *env) print(r *remote, draw func(io.Writer) error) error {
	if r.conn.json {
		return printJSON(e.stdout, r.res.Body)
	}
	return draw(e.stdout)
}

// show prints v, the answer to r's last call (or returns err, the call's
// failure): the server's JSON with --json, else draw's table.
func show[T any](e *env, r *remote, v *T, err error, draw func(io.Writer, *T) error) error {
	if err != nil {
		return err
	}
	return e.print(r, func(w io.Writer) error { return draw(w, v) })
}

// explain turns a failed call into what the CLI prints: the server's
// refusal (exit 1; 3 when the server says it is unavailable, or a proxy
// answers 502, 503 or 504 for it), a server that cannot be reached (exit
// 3), no answer within --timeout (exit 1). Other errors pass unchanged.
func (r *remote) explain(err error) error {
	var ce *client.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce) && ce.StatusCode != 0:
		return refusalOf(ce)
	case errors.As(err, &ce):
		return r.unreached(ce)
	case r.res.StatusCode/100 == 2 && len(r.res.Body) > 0 && !json.Valid(r.res.Body):
		return fmt.Errorf("the server at %s answered with a body that is not JSON (is --url a keyward server?)", r.BaseURL())
	}
	return err
}

// unreached explains a call that got no answer.
func (r *remote) unreached(ce *client.Error) error {
	base := r.BaseURL()
	cause := ce.Err.Err
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err // its text repeats the URL
	}
	switch ce.Network {
	case client.NetTimeout:
		return &keyward.Error{Code: keyward.ECodeTimeout, Message: fmt.Sprintf("no answer from %s within %s (--timeout)", base, r.conn.timeout)}
	case client.NetCancelled:
		return fmt.Errorf("%s %s: cancelled", ce.Method, ce.Path)
	case client.NetUnreachable:
		return &unreachableError{url: base, err: cause}
	case client.NetPlainHTTP:
		return &unreachableError{url: base, err: cause, hint: "the server speaks plain HTTP: use http:// in --url or KEYWARD_URL"}
	case client.NetTLS:
		return &unreachableError{url: base, err: cause,
			hint: "no TLS connection could be made: check that the server speaks HTTPS and that its certificate is trusted"}
	}
	return fmt.Errorf("%s %s%s failed: %v", ce.Method, base, ce.Path, cause)
}

// unreachableError is a server that does not answer at all, or not in the
// protocol --url names.
type unreachableError struct {
	url  string
	err  error
	hint string // what to do; by default, check that the server runs
}

func (u *unreachableError) Error() string {
	hint := u.hint
	if hint == "" {
		hint = "is it running? set --url or KEYWARD_URL"
	}
	return fmt.Sprintf("cannot reach the keyward server at %s: %v (%s)", u.url, u.err, hint)
}

func (u *unreachableError) Unwrap() error {
	return &keyward.Error{Code: keyward.ECodeUnavailable, Message: "server unreachable"}
}

// refusal is an answer of the server that is not a success, as the CLI
// prints it.
type refusal struct {
	status int
	code   keyward.Code
	detail string
	fields []keyward.FieldError
	extra  [][2]string // the problem's other members: name and text, by name
}

// httpError is the code of an answer that is no problem document of
// keyward's (a proxy's page, a redirect).
const httpError keyward.Code = "http_error"

// refusalOf reads the problem the server answered with. An answer without
// one is described by its status; a proxy's 502, 503 or 504 means that
// keyward cannot be reached behind it (unavailable).
func refusalOf(ce *client.Error) *refusal {
	rf := &refusal{status: ce.StatusCode}
	p := ce.Problem()
	if p == nil {
		rf.code = httpError
		rf.detail = strings.TrimSpace(fmt.Sprintf("the server answered %d %s", ce.StatusCode, http.StatusText(ce.StatusCode)))
		if loc := ce.Header.Get("Location"); loc != "" && ce.StatusCode >= 300 && ce.StatusCode < 400 {
			rf.detail = fmt.Sprintf("the server redirects to %s: set --url to the address it redirects to", redactURL(loc))
		}
		switch ce.StatusCode {
		case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
			rf.code = keyward.ECodeUnavailable
		}
		return rf
	}
	rf.code, rf.detail, rf.fields = p.Code, p.Detail, p.Errors
	for name := range p.Extra {
		var raw json.RawMessage
		if ok, _ := p.Member(name, &raw); ok {
			if text := extraText(raw); text != "" {
				rf.extra = append(rf.extra, [2]string{name, text})
			}
		}
	}
	slices.SortFunc(rf.extra, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return rf
}

// Error renders the problem for a person: the detail, the code and the
// status on the first line, then one line per offending field, then one
// line per extra member (such as "  key_ids: key_1, key_2").
func (p *refusal) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, HTTP %d)", p.detail, p.code, p.status)
	for _, f := range p.fields {
		// The server's detail of a request with one bad field is that
		// field's line: print it once.
		if line := f.Field + ": " + f.Message; line != p.detail {
			fmt.Fprintf(&b, "\n  %s", line)
		}
	}
	for _, x := range p.extra {
		fmt.Fprintf(&b, "\n  %s: %s", cell(x[0]), cell(x[1]))
	}
	return b.String()
}

func (p *refusal) Unwrap() error { return &keyward.Error{Code: p.code, Message: p.detail} }

// extraText renders an extra problem member: a list of strings as
// "a, b", an empty list as "none", a string as itself, anything else as
// compact JSON; null as "".
func extraText(raw json.RawMessage) string {
	var list []string
	var s string
	switch {
	case string(raw) == "null":
		return ""
	case json.Unmarshal(raw, &list) == nil:
		if len(list) == 0 {
			return "none"
		}
		return strings.Join(list, ", ")
	case json.Unmarshal(raw, &s) == nil:
		return s
	}
	var c bytes.Buffer
	if json.Compact(&c, raw) != nil {
		return string(raw)
	}
	return c.String()
}

package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
	case errors.Is(err, http.ErrSchemeMismatch):
		return &unreachableError{url: c.base.Redacted(), err: err,
			hint: "the server speaks plain HTTP: use http:// in --url or KEYWARD_URL"}
	case tlsFailure(err):
		return &unreachableError{url: c.base.Redacted(), err: err,
			hint: "no TLS connection could be made: check that the server speaks HTTPS and that its certificate is trusted"}
	}
	return fmt.Errorf("%s %s failed: %v", method, u.Redacted(), err)
}

func netTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// tlsFailure reports whether err is a failed TLS handshake: no secure
// connection to the server exists, so it is as unreachable as a closed
// port.
func tlsFailure(err error) bool {
	var (
		rec   tls.RecordHeaderError
		alert tls.AlertError
		cert  *tls.CertificateVerificationError
		ua    x509.UnknownAuthorityError
		host  x509.HostnameError
		inv   x509.CertificateInvalidError
	)
	return errors.As(err, &rec) || errors.As(err, &alert) || errors.As(err, &cert) ||
		errors.As(err, &ua) || errors.As(err, &host) || errors.As(err, &inv)
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

// apiError is a problem document the server answered with.
type apiError struct {
	Status    int                  `json:"status"`
	Code      keyward.Code         `json:"code"`
	Detail    string               `json:"detail"`
	Errors    []keyward.FieldError `json:"errors"`
	RequestID string               `json:"request_id"`
	// Extra holds the members beyond the standard ones, which say more
	// about the problem: missing_permission, the user_ids and key_ids that
	// hold a role…
	Extra map[string]json.RawMessage `json:"-"`
}

// standardProblemMember reports whether every problem document has the
// member name; the others are printed as extra lines.
func standardProblemMember(name string) bool {
	switch name {
	case "type", "title", "status", "detail", "code", "errors", "request_id":
		return true
	}
	return false
}

// Error renders the problem for a person: the detail, the code and the
// status on the first line, then one line per offending field, then one
// line per extra member (such as "  key_ids: key_1, key_2").
func (p *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, HTTP %d)", p.Detail, p.Code, p.Status)
	for _, f := range p.Errors {
		// The server's detail of a request with one bad field is that
		// field's line: print it once.
		if line := f.Field + ": " + f.Message; line != p.Detail {
			fmt.Fprintf(&b, "\n  %s", line)
		}
	}
	names := make([]string, 0, len(p.Extra))
	for k := range p.Extra {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if v := extraText(p.Extra[k]); v != "" {
			fmt.Fprintf(&b, "\n  %s: %s", cell(k), cell(v))
		}
	}
	return b.String()
}

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

func (p *apiError) Unwrap() error { return &keyward.Error{Code: p.Code, Message: p.Detail} }

// problemError reads a non-2xx answer. Anything but a keyward problem
// document (a proxy's HTML page, a redirect) is described by its status.
func problemError(res *http.Response, body []byte) error {
	p := &apiError{}
	if err := json.Unmarshal(body, p); err == nil && p.Code != "" {
		var all map[string]json.RawMessage
		_ = json.Unmarshal(body, &all)
		for k, v := range all {
			if !standardProblemMember(k) {
				if p.Extra == nil {
					p.Extra = map[string]json.RawMessage{}
				}
				p.Extra[k] = v
			}
		}
	} else {
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

// ---- the command groups of the client -----------------------------------

// connFlags are the flags every client command shares: where the server is,
// which management key to use, and how to print.
type connFlags struct {
	url       string
	token     string
	accountID string
	json      bool
	timeout   time.Duration
}

// help is the help text of one command.
type help struct{ short, long, example string }

// clientLong returns the help of a client command group: its intro, then
// how every client command connects, prints and exits. exitNote, if not
// empty, follows the exit statuses.
func clientLong(intro, exitNote string) string {
	return intro + `

The server is named by --url (KEYWARD_URL, default http://127.0.0.1:8420) and
the management key by KEYWARD_TOKEN (or --token; the variable keeps the key out
of your shell history and process list). An operator key acts on the account
"default" unless --account-id (KEYWARD_ACCOUNT_ID) names another.

Output is a table for people; --json prints the server's JSON for scripts.

Only the connection flags (--url, --token, --account-id, --json, --timeout)
are read from KEYWARD_* environment variables; the flags of each command are
not, so an exported variable never changes what a command does.

Exit status: 0 on success, 1 when the server refuses the request, 2 for
bad usage (nothing was sent), 3 when the server cannot be reached.` + exitNote
}

// clientGroup returns a command group (keys, users, …) whose subcommands
// are clients of a running server. It declares the connection flags they
// share, and binds only those to KEYWARD_* variables.
func (e *env) clientGroup(use string, h help, subs func(c *connFlags) []*cobra.Command) *cobra.Command {
	c := &connFlags{}
	cmd := &cobra.Command{
		Use:     use,
		Short:   h.short,
		Long:    h.long,
		Example: h.example,
		// Run's strictArgs refuses words that name no subcommand.
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&c.url, "url", "http://127.0.0.1:8420", "base URL of the keyward server (KEYWARD_URL)")
	pf.StringVar(&c.token, "token", "", "management key to authenticate with; prefer the KEYWARD_TOKEN variable, which stays out of shell history")
	pf.StringVar(&c.accountID, "account-id", "", "account to act on, for operator keys (sent as X-Account-Id; KEYWARD_ACCOUNT_ID)")
	pf.BoolVar(&c.json, "json", false, "print the server's JSON instead of a table (KEYWARD_JSON)")
	pf.DurationVar(&c.timeout, "timeout", 30*time.Second, "how long to wait for each answer of the server (KEYWARD_TIMEOUT)")

	// The root binds every flag of the command that runs to KEYWARD_*; the
	// client commands replace that with the connection flags alone (see
	// clientLong). A command's own PersistentPreRunE takes precedence over
	// the root's.
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		conn := &cobra.Command{}
		conn.Flags().AddFlagSet(pf)
		if err := e.bindEnv(conn); err != nil {
			return usagef("%v", err)
		}
		return nil
	}
	cmd.AddCommand(subs(c)...)
	return cmd
}

// commandName is the command's path without the program's name, as the
// errors main prints after "keyward: " name it: "keys get".
func commandName(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// argsNone accepts no positional argument: the command takes only flags.
func argsNone() cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("%s takes no arguments, only flags (got %q; quote a flag's value if it has spaces)", commandName(cmd), args[0])
		}
		return nil
	}
}

// argOne accepts exactly one positional argument, which what describes:
// "the key id".
func argOne(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usagef("%s takes exactly one argument, %s (got %d)", commandName(cmd), what, len(args))
		}
		if strings.TrimSpace(args[0]) == "" {
			return usagef("%s: %s must not be empty", commandName(cmd), what)
		}
		return nil
	}
}

// run prepares the client, then calls f with the command's context.
func (e *env) run(cmd *cobra.Command, c *connFlags, f func(ctx context.Context, cl *client) error) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	return f(cmd.Context(), cl)
}

// object is a kind of object the client commands manage through one
// collection of the API: /v1/users and /v1/users/{id}.
type object struct {
	noun   string                                          // in messages: "user", "service account"
	plural string                                          // "users"
	path   string                                          // the collection: "/v1/users"
	arg    string                                          // what names one object on the command line: ID (NAME for roles)
	member string                                          // the JSON member that names one: id (name for roles)
	show   func(w io.Writer, raw []byte) error             // one object, as a table
	table  func(w io.Writer, raws []json.RawMessage) error // objects, one row each
}

func (o *object) itemPath(id string) string { return o.path + "/" + url.PathEscape(id) }

// argText describes the argument that names one object: "the key id".
func (o *object) argText() string { return "the " + o.noun + " " + strings.ToLower(o.arg) }

// answer prints what the server answered: its JSON with --json, else the
// table show draws.
func (e *env) answer(c *connFlags, res *response, show func(io.Writer, []byte) error) error {
	if c.json {
		return printJSON(e.stdout, res.body)
	}
	return show(e.stdout, res.body)
}

// send makes one request and prints the object the server answers with.
func (e *env) send(cmd *cobra.Command, c *connFlags, method, path string, body any, hdr http.Header, show func(io.Writer, []byte) error) error {
	return e.run(cmd, c, func(ctx context.Context, cl *client) error {
		res, err := cl.do(ctx, method, path, nil, body, hdr)
		if err != nil {
			return err
		}
		return e.answer(c, res, show)
	})
}

// getCommand is "get ID": one object, as a table or JSON.
func (e *env) getCommand(c *connFlags, o *object, h help) *cobra.Command {
	return &cobra.Command{
		Use:     "get " + o.arg,
		Short:   h.short,
		Long:    h.long,
		Example: h.example,
		Args:    argOne(o.argText()),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.send(cmd, c, http.MethodGet, o.itemPath(args[0]), nil, nil, o.show)
		},
	}
}

// deleteCommand is "delete ID". It asks first when a person is at the
// terminal (--yes does not ask). With mustConfirm, a deletion that cannot
// be asked about needs --yes, and mustConfirm says why.
func (e *env) deleteCommand(c *connFlags, o *object, h help, mustConfirm string) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:     "delete " + o.arg,
		Short:   h.short,
		Long:    h.long + confirmNote(mustConfirm),
		Example: h.example,
		Args:    argOne(o.argText()),
		RunE: func(cmd *cobra.Command, args []string) error {
			question := fmt.Sprintf("Delete %s %s?", o.noun, args[0])
			if mustConfirm != "" {
				question = fmt.Sprintf("Delete %s %s (%s)?", o.noun, args[0], mustConfirm)
			}
			return e.run(cmd, c, func(ctx context.Context, cl *client) error {
				if err := e.confirm(yes, mustConfirm, question); err != nil {
					return err
				}
				if _, err := cl.do(ctx, http.MethodDelete, o.itemPath(args[0]), nil, nil, nil); err != nil {
					return err
				}
				if c.json {
					b, _ := json.Marshal(map[string]any{o.member: args[0], "deleted": true})
					return printJSON(e.stdout, b)
				}
				_, err := fmt.Fprintf(e.stdout, "Deleted %s %s\n", o.noun, args[0])
				return err
			})
		},
	}
	addYesFlag(cmd.Flags(), &yes, "delete", mustConfirm != "")
	return cmd
}

// addYesFlag declares --yes, which skips the question a change that
// cannot be undone asks at a terminal; with needed, a script needs it.
func addYesFlag(f *pflag.FlagSet, yes *bool, verb string, needed bool) {
	usage := verb + " without asking first (it asks only when standard input is a terminal)"
	if needed {
		usage = verb + " without asking first (it asks when standard input is a terminal, and is needed when it is not)"
	}
	f.BoolVarP(yes, "yes", "y", false, usage)
}

// confirmNote is the help text of a command that confirms: how it asks.
func confirmNote(mustConfirm string) string {
	if mustConfirm != "" {
		return `

At a terminal the command asks before it acts; --yes does not ask. When
standard input is not a terminal (a script), it needs --yes.`
	}
	return `

At a terminal the command asks before it acts; --yes does not ask. When
standard input is not a terminal (a script), it does not ask.`
}

// confirm returns nil when a change that cannot be undone may go ahead:
// with yes; else, when a person is at the terminal, if they answer the
// question with y or yes; else (a script) unless mustConfirm says why it
// needs --yes. Commands call it once the connection settings are checked,
// so that nobody answers a question for a command that cannot run, and
// send nothing before it returns.
func (e *env) confirm(yes bool, mustConfirm, question string) error {
	switch {
	case yes:
		return nil
	case !e.stdinIsTerminal() && mustConfirm != "":
		return usagef("%s: add --yes to go ahead", mustConfirm)
	case !e.stdinIsTerminal():
		return nil
	}
	fmt.Fprintf(e.stderr, "%s [y/N] ", question)
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil {
		fmt.Fprintln(e.stderr) // end the question's line
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	// Not a usage error: the person refused the operation (exit 1).
	return errors.New("not confirmed: nothing was changed")
}

// addIfMatchFlag declares --if-match for a change of one object.
func addIfMatchFlag(f *pflag.FlagSet, v *string, noun string) {
	f.StringVar(v, "if-match", "", "change the "+noun+" only if its etag is still this one")
}

// ifMatchHeader returns the If-Match header of --if-match, or nil when the
// flag is not given. A bare etag is quoted.
func ifMatchHeader(f *pflag.FlagSet, v, command string) (http.Header, error) {
	if !f.Changed("if-match") {
		return nil, nil
	}
	tag := strings.TrimSpace(v)
	if tag == "" {
		return nil, usagef("--if-match needs an etag (the ETAG row of %s get)", command)
	}
	if tag != "*" && !strings.HasPrefix(tag, `"`) && !strings.HasPrefix(tag, "W/") {
		tag = `"` + tag + `"`
	}
	return http.Header{"If-Match": {tag}}, nil
}

// ---- lists --------------------------------------------------------------

// filter is a flag of a list command that becomes a query parameter of the
// same name (dashes as underscores).
type filter struct {
	name, usage string
	// check returns the value to send, or a usage error; nil sends the
	// text as given (trimmed).
	check func(flag, v string) (string, error)
}

// enumFilter accepts one of values.
func enumFilter(values ...string) func(string, string) (string, error) {
	return func(flag, v string) (string, error) { return v, oneOf(flag, v, values...) }
}

// validFilter accepts what valid accepts; what names it in the error.
func validFilter(what string, valid func(string) bool) func(string, string) (string, error) {
	return func(flag, v string) (string, error) {
		if !valid(v) {
			return "", usagef("%s %q is not %s", flag, v, what)
		}
		return v, nil
	}
}

func boolFilter(flag, v string) (string, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return "", usagef("%s must be true or false, not %q", flag, v)
	}
	return strconv.FormatBool(b), nil
}

func timeFilter(flag, v string) (string, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return "", usagef("%s %q is not an RFC 3339 time (such as 2030-01-02T15:04:05Z)", flag, v)
	}
	return t.UTC().Format(time.RFC3339Nano), nil
}

// listCommand is "list": a table of the objects, or the server's JSON.
// paged lists are read one page at a time (--limit, --starting-after,
// --ending-before, --all); the others come whole.
func (e *env) listCommand(c *connFlags, o *object, h help, paged bool, filters ...filter) *cobra.Command {
	var (
		all   bool
		limit int
	)
	if paged {
		filters = append(filters,
			filter{name: "starting-after", usage: "the page after this " + o.noun + " id (the last id of the previous page)"},
			filter{name: "ending-before", usage: "the page before this " + o.noun + " id"},
		)
	}
	vals := make([]*string, len(filters))
	cmd := &cobra.Command{
		Use:     "list [flags]",
		Short:   h.short,
		Long:    h.long,
		Example: h.example,
		Args:    argsNone(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			query, err := listQuery(cmd.Flags(), filters, vals, all, limit, paged)
			if err != nil {
				return err
			}
			return e.run(cmd, c, func(ctx context.Context, cl *client) error {
				return e.listPages(ctx, cl, c, o, query, all)
			})
		},
	}
	f := cmd.Flags()
	for i, fl := range filters {
		vals[i] = f.String(fl.name, "", fl.usage)
	}
	if paged {
		f.IntVar(&limit, "limit", 0, fmt.Sprintf("%s per page, 1–%d (default 25; %d with --all)", o.plural, keyward.MaxPageLimit, keyward.MaxPageLimit))
		f.BoolVar(&all, "all", false, "follow the pages to the last "+o.noun)
	}
	return cmd
}

func listQuery(f *pflag.FlagSet, filters []filter, vals []*string, all bool, limit int, paged bool) (url.Values, error) {
	v := url.Values{}
	for i, fl := range filters {
		if !f.Changed(fl.name) {
			continue
		}
		val := strings.TrimSpace(*vals[i])
		if fl.check != nil {
			var err error
			if val, err = fl.check("--"+fl.name, val); err != nil {
				return nil, err
			}
		}
		v.Set(strings.ReplaceAll(fl.name, "-", "_"), val)
	}
	if !paged {
		return v, nil
	}
	if f.Changed("limit") {
		if limit < 1 || limit > keyward.MaxPageLimit {
			return nil, usagef("--limit must be from 1 to %d, not %d", keyward.MaxPageLimit, limit)
		}
		v.Set("limit", strconv.Itoa(limit))
	} else if all {
		v.Set("limit", strconv.Itoa(keyward.MaxPageLimit))
	}
	if all && v.Has("ending_before") {
		return nil, usagef("--all reads forward: it cannot be combined with --ending-before")
	}
	if v.Has("starting_after") && v.Has("ending_before") {
		return nil, usagef("give --starting-after or --ending-before, not both")
	}
	return v, nil
}

// pageOut is a page of a list as the server sends it.
type pageOut struct {
	Data    []json.RawMessage `json:"data"`
	HasMore bool              `json:"has_more"`
}

// listPages prints one page of o, or with all every page: as a table (with
// a hint on stderr when there are more), or as the server's JSON (with all,
// one document {data, has_more: false} holding every object).
func (e *env) listPages(ctx context.Context, cl *client, c *connFlags, o *object, query url.Values, all bool) error {
	var (
		raws []json.RawMessage
		more bool
		last string
	)
	for {
		var page pageOut
		res, err := cl.json(ctx, http.MethodGet, o.path, query, nil, nil, &page)
		if err != nil {
			return err
		}
		if !all && c.json {
			return printJSON(e.stdout, res.body)
		}
		raws = append(raws, page.Data...)
		more = page.HasMore
		if len(page.Data) > 0 {
			var m map[string]any
			_ = json.Unmarshal(page.Data[len(page.Data)-1], &m)
			if last, _ = m[o.member].(string); last == "" {
				return fmt.Errorf("the server's page has a %s without %s", o.noun, o.member)
			}
		}
		if !all || !more || len(page.Data) == 0 {
			break
		}
		query.Set("starting_after", last)
	}
	if c.json {
		if raws == nil {
			raws = []json.RawMessage{}
		}
		b, err := json.Marshal(pageOut{Data: raws, HasMore: more})
		if err != nil {
			return err
		}
		return printJSON(e.stdout, b)
	}
	if err := o.table(e.stdout, raws); err != nil {
		return err
	}
	if more && last != "" {
		fmt.Fprintf(e.stderr, "more %s: run again with --starting-after %s, or use --all\n", o.plural, last)
	}
	return nil
}

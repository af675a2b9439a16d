package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
)

// connFlags are the flags every keys command shares: where the server is
// and which management key to use.
type connFlags struct {
	url       string
	token     string
	accountID string
	json      bool
	timeout   time.Duration
}

const keysLong = `Manage the API keys of a running keyward server through its HTTP API.

The server is named by --url (KEYWARD_URL, default http://127.0.0.1:8420) and
the management key by KEYWARD_TOKEN (or --token; the variable keeps the key out
of your shell history and process list). An operator key acts on the account
"default" unless --account-id (KEYWARD_ACCOUNT_ID) names another.

Output is a table for people; --json prints the server's JSON for scripts.

Only the connection flags (--url, --token, --account-id, --json, --timeout)
are read from KEYWARD_* environment variables; the flags of each command are
not, so an exported variable never changes what a command does to a key.

Exit status: 0 on success, 1 when the server refuses the request (or, for
"keys verify", when the key is not VALID), 2 for bad usage (nothing was sent),
3 when the server cannot be reached.`

func (e *env) keysCommand() *cobra.Command {
	c := &connFlags{}
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage API keys on a running keyward server",
		Long:  keysLong,
		Example: `  export KEYWARD_URL=http://127.0.0.1:8420
  export KEYWARD_TOKEN="$(cat operator.key)"
  keyward keys create --name "CI deploy" --scope documents:read
  keyward keys list --status active
  keyward keys revoke key_01J00000000000000000000000`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q (see %s --help)", args[0], cmd.CommandPath(), cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&c.url, "url", "http://127.0.0.1:8420", "base URL of the keyward server (KEYWARD_URL)")
	pf.StringVar(&c.token, "token", "", "management key to authenticate with; prefer the KEYWARD_TOKEN variable, which stays out of shell history")
	pf.StringVar(&c.accountID, "account-id", "", "account to act on, for operator keys (sent as X-Account-Id; KEYWARD_ACCOUNT_ID)")
	pf.BoolVar(&c.json, "json", false, "print the server's JSON instead of a table (KEYWARD_JSON)")
	pf.DurationVar(&c.timeout, "timeout", 30*time.Second, "how long to wait for each answer of the server (KEYWARD_TIMEOUT)")

	// The root binds every flag of the command that runs to KEYWARD_*; the
	// keys commands replace that with the connection flags alone (see
	// keysLong). A command's own PersistentPreRunE takes precedence over
	// the root's.
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		conn := &cobra.Command{}
		conn.Flags().AddFlagSet(pf)
		if err := e.bindEnv(conn); err != nil {
			return usagef("%v", err)
		}
		return nil
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v", err) })

	cmd.AddCommand(
		e.keysCreateCommand(c), e.keysListCommand(c), e.keysGetCommand(c), e.keysUpdateCommand(c),
		e.keysRotateCommand(c), e.keysRevokeCommand(c), e.keysDeleteCommand(c), e.keysVerifyCommand(c),
	)
	return cmd
}

// argsExactly accepts exactly the named positional arguments.
func argsExactly(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usagef("%s takes %d argument(s): %s (got %d; see --help)", cmd.CommandPath(), len(names), strings.Join(names, " "), len(args))
		}
		for i, a := range args {
			if strings.TrimSpace(a) == "" {
				return usagef("%s: %s must not be empty", cmd.CommandPath(), names[i])
			}
		}
		return nil
	}
}

// run prepares the client, then calls f with a context bounded by the
// command's own.
func (e *env) run(cmd *cobra.Command, c *connFlags, f func(ctx context.Context, cl *client) error) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	return f(cmd.Context(), cl)
}

func keyPath(id string) string { return "/v1/keys/" + url.PathEscape(id) }

// keyBody is a create or PATCH body: only members the user gave are sent.
type keyBody map[string]any

// ---- create -------------------------------------------------------------

type keyFlags struct {
	name, description, prefix, projectID, mode string
	status                                     string
	scopes, roles, metadata, ips               []string
	expiresAt, expiresIn                       string
}

// addKeyFlags declares the flags create and update share.
func addKeyFlags(f *pflag.FlagSet, k *keyFlags, update bool) {
	f.StringVar(&k.name, "name", "", "name of the key")
	f.StringVar(&k.description, "description", "", "free-text description")
	f.StringVar(&k.projectID, "project-id", "", "scope the key to one project (prj_…); default: all projects")
	f.StringVar(&k.mode, "permission-mode", "", "all, read_only or restricted (restricted grants exactly --scope and --role)")
	f.StringArrayVar(&k.scopes, "scope", nil, "grant resource:access or resource:access:target1,target2 (access read or write); repeatable")
	f.StringArrayVar(&k.roles, "role", nil, "grant the scopes of a role; repeatable")
	f.StringVar(&k.expiresAt, "expires-at", "", "expiry as an RFC 3339 time, such as 2030-01-02T15:04:05Z")
	f.StringVar(&k.expiresIn, "expires-in", "", "expiry as a duration from now, such as 90d, 12h or 1d12h")
	f.StringArrayVar(&k.metadata, "metadata", nil, "metadata entry key=value (a string) or key:=JSON (any JSON value); repeatable")
	f.StringArrayVar(&k.ips, "ip", nil, "allow only this IP address or CIDR prefix to use the key; repeatable")
	if update {
		f.StringVar(&k.status, "status", "", "active or disabled (or revoked, which is final: see keys revoke)")
	} else {
		f.StringVar(&k.prefix, "prefix", "", "token prefix, [a-z][a-z0-9]{0,15} (default: the account's, usually kw)")
	}
}

func (e *env) keysCreateCommand(c *connFlags) *cobra.Command {
	k := &keyFlags{}
	cmd := &cobra.Command{
		Use:   "create --name NAME [flags]",
		Short: "Create an API key and print its secret once",
		Long: `Create an API key. The key's secret is printed once, labelled, above the
key's table (with --json, it is the "secret" member of the server's JSON).
keyward keeps only a hash of it: store it right away.

Without --permission-mode the key gets the account's default mode (usually
"all"); --scope or --role alone make a restricted key.

--metadata takes key=value for a string and key:=JSON for any JSON value
(numbers, booleans, objects).`,
		Example: `  keyward keys create --name "billing export"
  keyward keys create --name reader --scope documents:read --scope files:read:f_1,f_2 \
      --expires-in 90d --metadata team=data --metadata tier:=3 --ip 10.0.0.0/8
  keyward keys create --name ci --json | jq -r .secret`,
		Args: argsExactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := createBody(cmd.Flags(), k)
			if err != nil {
				return err
			}
			return e.run(cmd, c, func(ctx context.Context, cl *client) error {
				var out keyOut
				res, err := cl.json(ctx, http.MethodPost, "/v1/keys", nil, body, nil, &out)
				if err != nil {
					return err
				}
				if c.json {
					return printJSON(e.stdout, res.body)
				}
				printSecret(e.stdout, "Secret", out.Secret)
				return printKey(e.stdout, &out)
			})
		},
	}
	addKeyFlags(cmd.Flags(), k, false)
	return cmd
}

func createBody(f *pflag.FlagSet, k *keyFlags) (keyBody, error) {
	if strings.TrimSpace(k.name) == "" {
		return nil, usagef("--name is required")
	}
	body := keyBody{"name": k.name}
	if f.Changed("description") {
		body["description"] = k.description
	}
	if f.Changed("prefix") {
		if !keyward.ValidPrefix(k.prefix) {
			return nil, usagef("--prefix must match [a-z][a-z0-9]{0,15}, not %q", k.prefix)
		}
		body["prefix"] = k.prefix
	}
	if f.Changed("project-id") {
		body["project_id"] = k.projectID
	}
	if err := permissionMembers(f, k, body); err != nil {
		return nil, err
	}
	if _, ok := body["permission_mode"]; !ok && (len(k.scopes) > 0 || len(k.roles) > 0) {
		body["permission_mode"] = "restricted"
	}
	if err := commonMembers(f, k, body); err != nil {
		return nil, err
	}
	return body, nil
}

// permissionMembers reads --permission-mode, --scope and --role.
func permissionMembers(f *pflag.FlagSet, k *keyFlags, body keyBody) error {
	if f.Changed("permission-mode") {
		if err := oneOf("--permission-mode", k.mode, "all", "read_only", "restricted"); err != nil {
			return err
		}
		body["permission_mode"] = k.mode
	}
	if f.Changed("scope") {
		scopes := make([]map[string]any, 0, len(k.scopes))
		for _, s := range k.scopes {
			sc, err := parseScope(s)
			if err != nil {
				return err
			}
			scopes = append(scopes, sc)
		}
		body["scopes"] = scopes
	}
	if f.Changed("role") {
		for _, r := range k.roles {
			if strings.TrimSpace(r) == "" {
				return usagef("--role must not be empty")
			}
		}
		body["roles"] = k.roles
	}
	return nil
}

// commonMembers reads the expiry, metadata and IP allowlist flags.
func commonMembers(f *pflag.FlagSet, k *keyFlags, body keyBody) error {
	exp, set, err := parseExpiry(f, k, time.Now())
	if err != nil {
		return err
	}
	if set {
		body["expires_at"] = exp
	}
	if f.Changed("metadata") {
		md, err := parseMetadata(k.metadata)
		if err != nil {
			return err
		}
		body["metadata"] = md
	}
	if f.Changed("ip") {
		for _, ip := range k.ips {
			if _, err := keyward.ParseAllowEntry(strings.TrimSpace(ip)); err != nil {
				return usagef("--ip %q is not an IP address or CIDR prefix (such as 203.0.113.7 or 10.0.0.0/8)", ip)
			}
		}
		body["ip_allowlist"] = k.ips
	}
	return nil
}

func oneOf(flag, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return usagef("%s must be one of %s, not %q", flag, strings.Join(allowed, ", "), v)
}

// parseScope reads resource:access or resource:access:target1,target2.
func parseScope(s string) (map[string]any, error) {
	bad := func(why string) error {
		return usagef("--scope %q: %s (want resource:access or resource:access:target1,target2, such as documents:read)", s, why)
	}
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 {
		return nil, bad("missing the access level")
	}
	if !keyward.ValidResourceID(parts[0]) {
		return nil, bad("the resource must match [a-z][a-z0-9_.-]*")
	}
	if parts[1] != string(keyward.AccessRead) && parts[1] != string(keyward.AccessWrite) {
		return nil, bad("the access level must be read or write")
	}
	sc := map[string]any{"resource": parts[0], "access": parts[1]}
	if len(parts) == 3 {
		targets := strings.Split(parts[2], ",")
		for _, t := range targets {
			if t != keyward.Wildcard && !keyward.ValidTarget(t) {
				return nil, bad(fmt.Sprintf("target %q is not an object id", t))
			}
		}
		sc["targets"] = targets
	}
	return sc, nil
}

// parseExpiry reads --expires-at or --expires-in as an RFC 3339 time.
func parseExpiry(f *pflag.FlagSet, k *keyFlags, now time.Time) (string, bool, error) {
	at, in := f.Changed("expires-at"), f.Changed("expires-in")
	switch {
	case at && in:
		return "", false, usagef("give --expires-at or --expires-in, not both")
	case at:
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(k.expiresAt))
		if err != nil {
			return "", false, usagef("--expires-at %q is not an RFC 3339 time (such as 2030-01-02T15:04:05Z)", k.expiresAt)
		}
		return t.UTC().Format(time.RFC3339Nano), true, nil
	case in:
		d, err := parseDuration(k.expiresIn)
		if err != nil || d <= 0 {
			return "", false, usagef("--expires-in %q is not a positive duration (such as 90d, 12h or 1d12h)", k.expiresIn)
		}
		return now.Add(d).UTC().Truncate(time.Second).Format(time.RFC3339), true, nil
	}
	return "", false, nil
}

// parseDuration is time.ParseDuration that also takes a leading number of
// days: 90d, 1d12h.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 32)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad number of days in %q", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		if s = s[i+1:]; s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if days > 0 && d < 0 {
		return 0, fmt.Errorf("bad duration")
	}
	return days + d, nil
}

// parseMetadata reads key=value (a string) and key:=JSON entries.
func parseMetadata(entries []string) (map[string]json.RawMessage, error) {
	md := make(map[string]json.RawMessage, len(entries))
	for _, ent := range entries {
		i := strings.IndexByte(ent, '=')
		if i <= 0 {
			return nil, usagef("--metadata %q: want key=value or key:=JSON", ent)
		}
		name, val := ent[:i], ent[i+1:]
		var raw json.RawMessage
		if strings.HasSuffix(name, ":") {
			name = name[:len(name)-1]
			if !json.Valid([]byte(val)) {
				return nil, usagef("--metadata %q: the value after := must be JSON (strings in double quotes)", ent)
			}
			raw = json.RawMessage(val)
		} else {
			b, _ := json.Marshal(val)
			raw = b
		}
		if name == "" {
			return nil, usagef("--metadata %q: the key is empty", ent)
		}
		if _, dup := md[name]; dup {
			return nil, usagef("--metadata: key %q is given twice", name)
		}
		md[name] = raw
	}
	return md, nil
}

// ---- list ---------------------------------------------------------------

func (e *env) keysListCommand(c *connFlags) *cobra.Command {
	var (
		all   bool
		limit int
		q     = map[string]*string{}
	)
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "List API keys, newest first",
		Long: `List API keys, newest first, one page at a time (25 keys unless --limit).
When there are more, a hint on stderr names the --starting-after to use; --all
follows the pages to the end.

With --json, the server's page {data, has_more} is printed; with --all, one
document holding every key, {data: [...], has_more: false}.`,
		Example: `  keyward keys list
  keyward keys list --status active --search deploy --limit 100
  keyward keys list --expired true --all --json | jq -r '.data[].id'`,
		Args: argsExactly(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			query, err := listQuery(cmd.Flags(), q, all, limit)
			if err != nil {
				return err
			}
			return e.run(cmd, c, func(ctx context.Context, cl *client) error {
				return e.listKeys(ctx, cl, c, query, all)
			})
		},
	}
	f := cmd.Flags()
	for _, fl := range []struct{ name, usage string }{
		{"status", "only keys with this status: active, disabled or revoked"},
		{"project-id", "only keys scoped to this project"},
		{"owner-type", "only keys owned by: account, user or service_account"},
		{"owner-id", "only keys of this owner"},
		{"permission-mode", "only keys with this mode: all, read_only or restricted"},
		{"resource", "only restricted keys whose scopes name this catalog resource"},
		{"search", "only keys whose name contains this text (case-insensitive)"},
		{"expired", "true: only expired keys; false: only keys not expired"},
		{"created-after", "only keys created after this RFC 3339 time"},
		{"created-before", "only keys created before this RFC 3339 time"},
		{"last-used-before", "only keys last used before this RFC 3339 time"},
		{"starting-after", "the page after this key id (the last id of the previous page)"},
		{"ending-before", "the page before this key id"},
	} {
		q[fl.name] = f.String(fl.name, "", fl.usage)
	}
	f.IntVar(&limit, "limit", 0, "keys per page, 1–200 (default 25; 200 with --all)")
	f.BoolVar(&all, "all", false, "follow the pages to the last key")
	return cmd
}

func listQuery(f *pflag.FlagSet, q map[string]*string, all bool, limit int) (url.Values, error) {
	v := url.Values{}
	for name, p := range q {
		if !f.Changed(name) {
			continue
		}
		val := strings.TrimSpace(*p)
		var err error
		switch name {
		case "status":
			err = oneOf("--status", val, "active", "disabled", "revoked")
		case "owner-type":
			err = oneOf("--owner-type", val, "account", "user", "service_account")
		case "permission-mode":
			err = oneOf("--permission-mode", val, "all", "read_only", "restricted")
		case "expired":
			b, perr := strconv.ParseBool(val)
			if perr != nil {
				err = usagef("--expired must be true or false, not %q", val)
			}
			val = strconv.FormatBool(b)
		case "created-after", "created-before", "last-used-before":
			t, perr := time.Parse(time.RFC3339Nano, val)
			if perr != nil {
				err = usagef("--%s %q is not an RFC 3339 time (such as 2030-01-02T15:04:05Z)", name, val)
			}
			val = t.UTC().Format(time.RFC3339Nano)
		}
		if err != nil {
			return nil, err
		}
		v.Set(strings.ReplaceAll(name, "-", "_"), val)
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

func (e *env) listKeys(ctx context.Context, cl *client, c *connFlags, query url.Values, all bool) error {
	var (
		raws []json.RawMessage
		more bool
	)
	for {
		var page keyListOut
		res, err := cl.json(ctx, http.MethodGet, "/v1/keys", query, nil, nil, &page)
		if err != nil {
			return err
		}
		if !all && c.json {
			return printJSON(e.stdout, res.body)
		}
		raws = append(raws, page.Data...)
		more = page.HasMore
		if !all || !more || len(page.Data) == 0 {
			break
		}
		var last struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(page.Data[len(page.Data)-1], &last); err != nil || last.ID == "" {
			return fmt.Errorf("the server's page has a key without an id")
		}
		query.Set("starting_after", last.ID)
	}
	if c.json {
		if raws == nil {
			raws = []json.RawMessage{}
		}
		b, err := json.Marshal(keyListOut{Data: raws, HasMore: more})
		if err != nil {
			return err
		}
		return printJSON(e.stdout, b)
	}
	keys := make([]*keyOut, len(raws))
	for i, r := range raws {
		keys[i] = &keyOut{}
		if err := json.Unmarshal(r, keys[i]); err != nil {
			return fmt.Errorf("the server's page is not what keyward sends: %v", err)
		}
	}
	if err := printKeyList(e.stdout, keys); err != nil {
		return err
	}
	if more && len(keys) > 0 {
		fmt.Fprintf(e.stderr, "more keys: run again with --starting-after %s, or use --all\n", keys[len(keys)-1].ID)
	}
	return nil
}

// ---- get, update, revoke, delete ----------------------------------------

// printKeyAnswer prints a key the server answered with: its JSON, or its
// table.
func (e *env) printKeyAnswer(c *connFlags, res *response, k *keyOut) error {
	if c.json {
		return printJSON(e.stdout, res.body)
	}
	return printKey(e.stdout, k)
}

func (e *env) keysGetCommand(c *connFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one API key (never its secret)",
		Long: `Show one API key by id. keyward never shows a secret again after create and
rotate. The ETAG row is what "keys update --if-match" takes.`,
		Example: `  keyward keys get key_01J00000000000000000000000
  keyward keys get key_01J00000000000000000000000 --json | jq .scopes`,
		Args: argsExactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.run(cmd, c, func(ctx context.Context, cl *client) error {
				var k keyOut
				res, err := cl.json(ctx, http.MethodGet, keyPath(args[0]), nil, nil, nil, &k)
				if err != nil {
					return err
				}
				return e.printKeyAnswer(c, res, &k)
			})
		},
	}
}

type updateFlags struct {
	keyFlags
	clearDescription, clearExpires, clearProject, clearMetadata, clearIPs bool
	noScopes, noRoles                                                     bool
	ifMatch                                                               string
}

func (e *env) keysUpdateCommand(c *connFlags) *cobra.Command {
	u := &updateFlags{}
	cmd := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change an API key; only the flags you give are changed",
		Long: `Change an API key with a partial update (PATCH): only the flags given are sent,
everything else stays as it is. --scope, --role, --metadata and --ip replace
the whole list or map; the --clear-* flags and --no-scopes / --no-roles empty
them.

Changing --permission-mode to restricted needs --scope, --role or --no-scopes
in the same command. A revoked key cannot be changed any more, only deleted.
--if-match ETAG (from "keys get") makes the update fail with HTTP 412 if the
key changed in the meantime.`,
		Example: `  keyward keys update key_01J00000000000000000000000 --name "CI deploy (old)" --status disabled
  keyward keys update key_01J00000000000000000000000 --permission-mode restricted \
      --scope documents:write --scope search:read --expires-in 30d
  keyward keys update key_01J00000000000000000000000 --clear-expires --clear-metadata --no-scopes`,
		Args: argsExactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := updateBody(cmd.Flags(), u)
			if err != nil {
				return err
			}
			var hdr http.Header
			if cmd.Flags().Changed("if-match") {
				tag := strings.TrimSpace(u.ifMatch)
				if tag == "" {
					return usagef("--if-match needs an etag (the ETAG row of keys get)")
				}
				if tag != "*" && !strings.HasPrefix(tag, `"`) && !strings.HasPrefix(tag, "W/") {
					tag = `"` + tag + `"`
				}
				hdr = http.Header{"If-Match": {tag}}
			}
			return e.run(cmd, c, func(ctx context.Context, cl *client) error {
				var k keyOut
				res, err := cl.json(ctx, http.MethodPatch, keyPath(args[0]), nil, body, hdr, &k)
				if err != nil {
					return err
				}
				return e.printKeyAnswer(c, res, &k)
			})
		},
	}
	f := cmd.Flags()
	addKeyFlags(f, &u.keyFlags, true)
	f.BoolVar(&u.clearDescription, "clear-description", false, "remove the description")
	f.BoolVar(&u.clearExpires, "clear-expires", false, "remove the expiry: the key never expires")
	f.BoolVar(&u.clearProject, "clear-project", false, "scope the key to all projects again")
	f.BoolVar(&u.clearMetadata, "clear-metadata", false, "remove all metadata")
	f.BoolVar(&u.clearIPs, "clear-ip-allowlist", false, "remove the IP allowlist: any address may use the key")
	f.BoolVar(&u.noScopes, "no-scopes", false, "remove every scope (sends scopes: [])")
	f.BoolVar(&u.noRoles, "no-roles", false, "remove every role (sends roles: [])")
	f.StringVar(&u.ifMatch, "if-match", "", "update only if the key's etag is still this one")
	return cmd
}

func updateBody(f *pflag.FlagSet, u *updateFlags) (keyBody, error) {
	for _, pair := range [][2]string{
		{"description", "clear-description"}, {"expires-at", "clear-expires"}, {"expires-in", "clear-expires"},
		{"project-id", "clear-project"}, {"metadata", "clear-metadata"}, {"ip", "clear-ip-allowlist"},
		{"scope", "no-scopes"}, {"role", "no-roles"},
	} {
		if f.Changed(pair[0]) && f.Changed(pair[1]) {
			return nil, usagef("give --%s or --%s, not both", pair[0], pair[1])
		}
	}
	body := keyBody{}
	if f.Changed("name") {
		if strings.TrimSpace(u.name) == "" {
			return nil, usagef("--name must not be empty")
		}
		body["name"] = u.name
	}
	if f.Changed("status") {
		if err := oneOf("--status", u.status, "active", "disabled", "revoked"); err != nil {
			return nil, err
		}
		body["status"] = u.status
	}
	if f.Changed("description") {
		body["description"] = u.description
	}
	if f.Changed("project-id") {
		body["project_id"] = u.projectID
	}
	if err := permissionMembers(f, &u.keyFlags, body); err != nil {
		return nil, err
	}
	if err := commonMembers(f, &u.keyFlags, body); err != nil {
		return nil, err
	}
	for _, cl := range []struct {
		set    bool
		member string
		value  any
	}{
		{u.clearDescription, "description", nil},
		{u.clearExpires, "clear_expires_at", true},
		{u.clearProject, "project_id", nil},
		{u.clearMetadata, "metadata", nil},
		{u.clearIPs, "ip_allowlist", nil},
		{u.noScopes, "scopes", []any{}},
		{u.noRoles, "roles", []any{}},
	} {
		if cl.set {
			body[cl.member] = cl.value
		}
	}
	if len(body) == 0 {
		return nil, usagef("nothing to change: give at least one flag (see keyward keys update --help)")
	}
	return body, nil
}

func (e *env) keysRevokeCommand(c *connFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key for good",
		Long: `Revoke an API key: it fails verification (REVOKED) from now on, on every node.
Revocation is final: a revoked key cannot be re-enabled or changed, only
deleted. To stop a key for a while, use "keys update ID --status disabled".`,
		Example: `  keyward keys revoke key_01J00000000000000000000000`,
		Args:    argsExactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.run(cmd, c, func(ctx context.Context, cl *client) error {
				var k keyOut
				res, err := cl.json(ctx, http.MethodPatch, keyPath(args[0]), nil, keyBody{"status": "revoked"}, nil, &k)
				if err != nil {
					return err
				}
				return e.printKeyAnswer(c, res, &k)
			})
		},
	}
}

func (e *env) keysDeleteCommand(c *connFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an API key",
		Long: `Delete an API key. It fails verification at once (NOT_FOUND); its audit trail
stays. With --json, prints {"id": ID, "deleted": true}.`,
		Example: `  keyward keys delete key_01J00000000000000000000000`,
		Args:    argsExactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.run(cmd, c, func(ctx context.Context, cl *client) error {
				if _, err := cl.do(ctx, http.MethodDelete, keyPath(args[0]), nil, nil, nil); err != nil {
					return err
				}
				if c.json {
					b, _ := json.Marshal(map[string]any{"id": args[0], "deleted": true})
					return printJSON(e.stdout, b)
				}
				_, err := fmt.Fprintf(e.stdout, "Deleted key %s\n", args[0])
				return err
			})
		},
	}
}

// ---- rotate -------------------------------------------------------------

func (e *env) keysRotateCommand(c *connFlags) *cobra.Command {
	var grace string
	cmd := &cobra.Command{
		Use:   "rotate ID [--grace DURATION]",
		Short: "Give an API key a new secret and print it once",
		Long: `Give an API key a new secret; its id and settings stay. The new secret is
printed once, labelled. The old secret stops working at once, or after --grace
(at most 7d), so clients can switch over; once the grace ends it verifies as
ROTATED. Rotating again with no grace ends every old secret at once.`,
		Example: `  keyward keys rotate key_01J00000000000000000000000 --grace 24h
  keyward keys rotate key_01J00000000000000000000000 --json | jq -r .secret`,
		Args: argsExactly("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body any
			var d time.Duration
			if cmd.Flags().Changed("grace") {
				var err error
				d, err = parseDuration(grace)
				if err != nil || d < 0 || d%time.Second != 0 {
					return usagef("--grace %q is not a duration of whole seconds, such as 0, 90s, 24h or 7d", grace)
				}
				body = map[string]int64{"grace_period_seconds": int64(d / time.Second)}
			}
			return e.run(cmd, c, func(ctx context.Context, cl *client) error {
				var k keyOut
				res, err := cl.json(ctx, http.MethodPost, keyPath(args[0])+"/rotate", nil, body, nil, &k)
				if err != nil {
					return err
				}
				if c.json {
					return printJSON(e.stdout, res.body)
				}
				printSecret(e.stdout, "New secret", k.Secret)
				if d > 0 {
					fmt.Fprintf(e.stdout, "The previous secret keeps working for %s.\n\n", d)
				} else {
					fmt.Fprintf(e.stdout, "The previous secret no longer works.\n\n")
				}
				return printKey(e.stdout, &k)
			})
		},
	}
	cmd.Flags().StringVar(&grace, "grace", "", "keep the old secret valid this long, such as 1h or 7d (default 0: not at all)")
	return cmd
}

// ---- verify -------------------------------------------------------------

// notValidError is a verification that answered something else than VALID.
type notValidError struct{ code string }

func (n notValidError) Error() string { return "the key is not valid: " + n.code }

// maxTokenInput bounds what keys verify reads from stdin.
const maxTokenInput = 64 << 10

func (e *env) keysVerifyCommand(c *connFlags) *cobra.Command {
	var permissions, projectID, ip string
	cmd := &cobra.Command{
		Use:   "verify [TOKEN | -]",
		Short: "Verify an API key as a service would; exit 0 only if VALID",
		Long: `Verify an API key the way a service does on every request, and print the
result's code (VALID, NOT_FOUND, REVOKED, DISABLED, EXPIRED, ROTATED,
OWNER_INACTIVE, FORBIDDEN_IP, WRONG_PROJECT, INSUFFICIENT_PERMISSIONS, …) and,
in table mode, what the server says about the key.

The key to verify is read from standard input when the argument is "-" or
missing: prefer that, so the secret stays out of your shell history. (The
management key doing the verification comes from KEYWARD_TOKEN, as for every
keys command; it needs the keys:verify permission.)

Exit status: 0 when the code is VALID, 1 for any other code or a refused
request, 2 for bad usage, 3 when the server cannot be reached.`,
		Example: `  printf '%s' "$CUSTOMER_KEY" | keyward keys verify -
  keyward keys verify - --permissions 'documents:read AND (files:read OR search:read)' < key.txt
  keyward keys verify - --project-id prj_01J00000000000000000000000 --ip 203.0.113.7 --json < key.txt`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("%s takes at most one argument, the key or - for standard input", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := e.readToken(args)
			if err != nil {
				return err
			}
			body := map[string]any{"key": tok}
			f := cmd.Flags()
			if f.Changed("permissions") {
				if strings.TrimSpace(permissions) == "" {
					return usagef("--permissions must not be empty")
				}
				body["permissions"] = permissions
			}
			if f.Changed("project-id") {
				body["project_id"] = projectID
			}
			if f.Changed("ip") {
				body["ip"] = ip
			}
			return e.run(cmd, c, func(ctx context.Context, cl *client) error {
				var v verifyOut
				res, err := cl.json(ctx, http.MethodPost, "/v1/keys/verify", nil, body, nil, &v)
				if err != nil {
					return err
				}
				if c.json {
					err = printJSON(e.stdout, res.body)
				} else {
					err = printVerify(e.stdout, &v)
				}
				if err != nil {
					return err
				}
				if v.Code != string(keyward.VerifyValid) || !v.Valid {
					return notValidError{code: v.Code}
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&permissions, "permissions", "", "permission query the key must satisfy, such as 'documents:read AND files:write:f_1'")
	f.StringVar(&projectID, "project-id", "", "the project the request is for")
	f.StringVar(&ip, "ip", "", "the client IP address the request came from (checked against the key's allowlist)")
	return cmd
}

// readToken returns the key to verify: the argument, or standard input
// for "-" or no argument.
func (e *env) readToken(args []string) (string, error) {
	if len(args) == 1 && args[0] != "-" {
		if strings.TrimSpace(args[0]) == "" {
			return "", usagef("the key to verify is empty")
		}
		return strings.TrimSpace(args[0]), nil
	}
	if f, ok := e.stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 && len(args) == 0 {
			return "", usagef("give the key to verify on standard input (printf '%%s' \"$KEY\" | keyward keys verify -) or as an argument")
		}
	}
	if e.stdin == nil {
		return "", usagef("no key to verify: standard input is closed")
	}
	b, err := io.ReadAll(io.LimitReader(bufio.NewReader(e.stdin), maxTokenInput+1))
	if err != nil {
		return "", fmt.Errorf("read the key from standard input: %w", err)
	}
	if len(b) > maxTokenInput {
		return "", usagef("standard input is too long to be a key")
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", usagef("no key to verify: standard input is empty")
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", usagef("standard input holds more than one word: give only the key")
	}
	return tok, nil
}

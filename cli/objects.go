package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/client"
)

// help is the help text of one command.
type help struct{ short, long, example string }

// command is the command h describes: use is its usage line, args checks
// its arguments and run runs it.
func (h help) command(use string, args cobra.PositionalArgs, run func(cmd *cobra.Command, args []string) error) *cobra.Command {
	return &cobra.Command{Use: use, Short: h.short, Long: h.long, Example: h.example, Args: args, RunE: run}
}

// more is h with note after its long help.
func (h help) more(note string) help {
	h.long += note
	return h
}

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
	c := &connFlags{userAgent: e.build.userAgent()}
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

// object is a kind of object the client commands manage, of the client's
// type T: its words, the calls that get and delete one, and its tables.
type object[T any] struct {
	noun   string // in messages: "user", "service account"
	plural string // "users"
	arg    string // what names one object on the command line: ID (NAME for roles)
	member string // the JSON member that names one: id (name for roles)
	id     func(*T) string
	get    func(*client.Client, context.Context, string, ...client.CallOption) (*T, error)
	remove func(*client.Client, context.Context, string, ...client.CallOption) error
	show   func(io.Writer, *T) error  // one object, as a table
	table  func(io.Writer, []T) error // objects, one row each
}

// argText describes the argument that names one object: "the key id".
func (o *object[T]) argText() string { return "the " + o.noun + " " + strings.ToLower(o.arg) }

// getCommand is "get ID": one object, as a table or JSON.
func getCommand[T any](e *env, c *connFlags, o *object[T], h help) *cobra.Command {
	return h.command("get "+o.arg, argOne(o.argText()), func(cmd *cobra.Command, args []string) error {
		return e.run(cmd, c, func(ctx context.Context, r *remote) error {
			v, err := o.get(r.Client, ctx, args[0], r.capture()...)
			return show(e, r, v, err, o.show)
		})
	})
}

// deleteCommand is "delete ID". It asks first when a person is at the
// terminal (--yes does not ask). With mustConfirm, a deletion that cannot
// be asked about needs --yes, and mustConfirm says why.
func deleteCommand[T any](e *env, c *connFlags, o *object[T], h help, mustConfirm string) *cobra.Command {
	var yes bool
	cmd := h.more(confirmNote(mustConfirm)).command("delete "+o.arg, argOne(o.argText()), func(cmd *cobra.Command, args []string) error {
		question := fmt.Sprintf("Delete %s %s?", o.noun, args[0])
		if mustConfirm != "" {
			question = fmt.Sprintf("Delete %s %s (%s)?", o.noun, args[0], mustConfirm)
		}
		return e.run(cmd, c, func(ctx context.Context, r *remote) error {
			if err := e.confirm(yes, mustConfirm, question); err != nil {
				return err
			}
			if err := o.remove(r.Client, ctx, args[0], r.capture()...); err != nil {
				return err
			}
			if c.json {
				b, _ := json.Marshal(map[string]any{o.member: args[0], "deleted": true})
				return printJSON(e.stdout, b)
			}
			_, err := fmt.Fprintf(e.stdout, "Deleted %s %s\n", o.noun, args[0])
			return err
		})
	})
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

// ifMatch returns the options of a change with --if-match (none when the
// flag is not given); command names the group whose get shows the etag.
func ifMatch(f *pflag.FlagSet, v, command string) ([]client.CallOption, error) {
	if !f.Changed("if-match") {
		return nil, nil
	}
	tag := strings.TrimSpace(v)
	if tag == "" {
		return nil, usagef("--if-match needs an etag (the ETAG row of %s get)", command)
	}
	return []client.CallOption{client.IfMatch(tag)}, nil
}

// patch is what an update checks before it is sent: that it changes
// something, and the etag of --if-match.
type patch struct {
	empty   bool
	ifMatch string
}

// change makes a create or, with p, an update (refused as bad usage when
// it changes nothing), and prints the object the server answers with, as
// draw does or as JSON.
func change[T any](e *env, cmd *cobra.Command, c *connFlags, draw func(io.Writer, *T) error, p *patch,
	call func(context.Context, *remote, []client.CallOption) (*T, error)) error {
	var opts []client.CallOption
	if p != nil {
		group := cmd.Parent().Name()
		if p.empty {
			return usagef("nothing to change: give at least one flag (see keyward %s update --help)", group)
		}
		var err error
		if opts, err = ifMatch(cmd.Flags(), p.ifMatch, group); err != nil {
			return err
		}
	}
	return e.run(cmd, c, func(ctx context.Context, r *remote) error {
		v, err := call(ctx, r, r.capture(opts...))
		return show(e, r, v, err, draw)
	})
}

// ---- lists --------------------------------------------------------------

// filter is a flag of a list command that sets one of the list's
// parameters.
type filter struct {
	name, usage string
	// set checks the flag's value (trimmed) and stores it in the
	// parameters, or returns a usage error.
	set func(flag, v string) error
}

// textFilter takes any text but none.
func textFilter(name, usage string, dst *string) filter {
	return filter{name, usage, func(flag, v string) error {
		if v == "" {
			return usagef("%s must not be empty", flag)
		}
		*dst = v
		return nil
	}}
}

// enumFilter takes one of values.
func enumFilter[S ~string](name, usage string, dst *S, values ...S) filter {
	return filter{name, usage, func(flag, v string) error {
		if err := oneOf(flag, v, values...); err != nil {
			return err
		}
		*dst = S(v)
		return nil
	}}
}

// validFilter takes what valid accepts; what names it in the error.
func validFilter(name, usage, what string, valid func(string) bool, dst *string) filter {
	return filter{name, usage, func(flag, v string) error {
		if !valid(v) {
			return usagef("%s %q is not %s", flag, v, what)
		}
		*dst = v
		return nil
	}}
}

// boolFilter takes true or false.
func boolFilter(name, usage string, dst **bool) filter {
	return filter{name, usage, func(flag, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return usagef("%s must be true or false, not %q", flag, v)
		}
		*dst = &b
		return nil
	}}
}

// timeFilter takes an RFC 3339 time.
func timeFilter(name, usage string, dst *time.Time) filter {
	return filter{name, usage, func(flag, v string) error {
		t, err := parseTime(flag, v)
		*dst = t
		return err
	}}
}

func parseTime(flag, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, usagef("%s %q is not an RFC 3339 time (such as 2030-01-02T15:04:05Z)", flag, v)
	}
	return t.UTC(), nil
}

// sinceFilter takes a time as RFC 3339, or as a duration back from now
// (24h, 7d).
func sinceFilter(name, usage string, dst *time.Time) filter {
	return filter{name, usage, func(flag, v string) error {
		if d, err := parseDuration(v); err == nil && d >= 0 {
			*dst = time.Now().Add(-d).UTC()
			return nil
		}
		if t, err := parseTime(flag, v); err == nil {
			*dst = t
			return nil
		}
		return usagef("%s %q is not an RFC 3339 time (such as 2030-01-02T15:04:05Z) or a duration ago (such as 24h or 7d)", flag, v)
	}}
}

// cursor points at the paging parameters of a paged list.
type cursor struct {
	limit         *int
	after, before *string
}

// pages is a list as the client reads it: a page, and the next while More
// (client.Pager).
type pages[T any] interface {
	More() bool
	Next(context.Context) (*client.Page[T], error)
}

// onePage is a list that comes whole, as a pages.
type onePage[T any] struct {
	read func(context.Context) ([]T, error)
	done bool
}

func (p *onePage[T]) More() bool { return !p.done }

func (p *onePage[T]) Next(ctx context.Context) (*client.Page[T], error) {
	items, err := p.read(ctx)
	if err != nil {
		return nil, err
	}
	p.done = true
	return &client.Page[T]{Data: items}, nil
}

// listCommand is "list": a table of the objects, or the server's JSON.
// With a cursor, the list is read one page at a time (--limit,
// --starting-after, --ending-before, --all); without, it comes whole. The
// filters set the list's parameters, and open starts reading with them.
func listCommand[T any](e *env, c *connFlags, o *object[T], h help, cur *cursor, open func(*remote) pages[T], filters ...filter) *cobra.Command {
	var all bool
	if cur != nil {
		filters = append(filters,
			textFilter("starting-after", "the page after this "+o.noun+" id (the last id of the previous page)", cur.after),
			textFilter("ending-before", "the page before this "+o.noun+" id", cur.before),
		)
	}
	vals := make([]*string, len(filters))
	cmd := h.command("list [flags]", argsNone(), func(cmd *cobra.Command, _ []string) error {
		if err := setFilters(cmd.Flags(), filters, vals, cur, all); err != nil {
			return err
		}
		return e.run(cmd, c, func(ctx context.Context, r *remote) error {
			return listPages(ctx, e, r, o, open(r), all)
		})
	})
	f := cmd.Flags()
	for i, fl := range filters {
		vals[i] = f.String(fl.name, "", fl.usage)
	}
	if cur != nil {
		f.IntVar(cur.limit, "limit", 0, fmt.Sprintf("%s per page, 1–%d (default 25; %d with --all)", o.plural, keyward.MaxPageLimit, keyward.MaxPageLimit))
		f.BoolVar(&all, "all", false, "follow the pages to the last "+o.noun)
	}
	return cmd
}

// setFilters stores the filters given and checks the cursor.
func setFilters(f *pflag.FlagSet, filters []filter, vals []*string, cur *cursor, all bool) error {
	for i, fl := range filters {
		if f.Changed(fl.name) {
			if err := fl.set("--"+fl.name, strings.TrimSpace(*vals[i])); err != nil {
				return err
			}
		}
	}
	if cur == nil {
		return nil
	}
	if f.Changed("limit") {
		if *cur.limit < 1 || *cur.limit > keyward.MaxPageLimit {
			return usagef("--limit must be from 1 to %d, not %d", keyward.MaxPageLimit, *cur.limit)
		}
	} else if all {
		*cur.limit = keyward.MaxPageLimit
	}
	if all && f.Changed("ending-before") {
		return usagef("--all reads forward: it cannot be combined with --ending-before")
	}
	if f.Changed("starting-after") && f.Changed("ending-before") {
		return usagef("give --starting-after or --ending-before, not both")
	}
	return nil
}

// listPages prints one page of o, or with all every page: as a table (with
// a hint on stderr when there are more), or as the server's JSON (with all,
// one document {data, has_more: false} holding every object).
func listPages[T any](ctx context.Context, e *env, r *remote, o *object[T], pg pages[T], all bool) error {
	var (
		items []T
		raws  []json.RawMessage
		more  bool
	)
	for {
		page, err := pg.Next(ctx)
		if err != nil {
			return err
		}
		if !all && r.conn.json {
			return printJSON(e.stdout, r.res.Body)
		}
		if r.conn.json {
			var rp api.Page[json.RawMessage]
			if err := json.Unmarshal(r.res.Body, &rp); err != nil {
				return fmt.Errorf("the server's page is not what keyward sends: %v", err)
			}
			raws = append(raws, rp.Data...)
		}
		items = append(items, page.Data...)
		more = page.HasMore
		if !all || !pg.More() {
			break
		}
	}
	if r.conn.json {
		if raws == nil {
			raws = []json.RawMessage{}
		}
		b, err := json.Marshal(api.Page[json.RawMessage]{Data: raws, HasMore: more})
		if err != nil {
			return err
		}
		return printJSON(e.stdout, b)
	}
	if err := o.table(e.stdout, items); err != nil {
		return err
	}
	if len(items) > 0 && more {
		if last := o.id(&items[len(items)-1]); last != "" {
			fmt.Fprintf(e.stderr, "more %s: run again with --starting-after %s, or use --all\n", o.plural, last)
		}
	}
	return nil
}

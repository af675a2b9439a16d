package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

func printAccount(w io.Writer, a *client.Account) error {
	return printRows(w, [][2]string{
		{"ID", a.ID},
		{"NAME", a.Name},
		{"DEFAULT PREFIX", a.DefaultPrefix},
		{"CATALOG TEMPLATE", a.CatalogTemplate},
		{"DEFAULT MODE", string(a.DefaultPermissionMode)},
		{"MAX KEY LIFETIME", lifetimeText(a.MaxKeyLifetime)},
		{"DEFAULT KEY LIFETIME", lifetimeText(a.DefaultKeyLifetime)},
		{"REQUIRE EXPIRY", yesNo(a.RequireExpiry)},
		{"CREATED", timeText(a.CreatedAt)},
		{"UPDATED", timeText(a.UpdatedAt)},
		{"ETAG", a.ETag},
	})
}

func accountObject() *object[client.Account] {
	return &object[client.Account]{noun: "account", plural: "accounts", arg: "ID", member: "id",
		id:  func(a *client.Account) string { return a.ID },
		get: (*client.Client).GetAccount, remove: (*client.Client).DeleteAccount,
		show: printAccount,
		table: func(w io.Writer, accounts []client.Account) error {
			return printTable(w, accounts, []string{"ID", "NAME", "PREFIX", "TEMPLATE", "MODE", "MAX LIFETIME", "REQUIRE EXPIRY", "CREATED"},
				func(a *client.Account) []string {
					return []string{a.ID, a.Name, a.DefaultPrefix, a.CatalogTemplate, string(a.DefaultPermissionMode),
						lifetimeText(a.MaxKeyLifetime), yesNo(a.RequireExpiry), timeText(a.CreatedAt)}
				})
		},
	}
}

func (e *env) accountsCommand() *cobra.Command {
	o := accountObject()
	p := &client.PageParams{}
	return e.clientGroup("accounts", help{
		short: "Manage the accounts (tenants) of a running keyward server",
		long: clientLong(`Manage the accounts of a running keyward server: the tenants everything else
belongs to. These commands need an operator key (with accounts:read and
accounts:write); an account-bound management key gets HTTP 403.

To act inside an account with the other commands, give its id to
--account-id (KEYWARD_ACCOUNT_ID).`, ""),
		example: `  keyward accounts create --name acme --catalog-template orq --max-key-lifetime 365d
  keyward accounts list
  KEYWARD_ACCOUNT_ID=acc_01J00000000000000000000000 keyward keys list`,
	}, func(c *connFlags) []*cobra.Command {
		return []*cobra.Command{
			listCommand(e, c, o, help{
				short: "List accounts, newest first",
				long: `List accounts, newest first, one page at a time (25 unless --limit). When
there are more, a hint on stderr names the --starting-after to use; --all
follows the pages to the end. With --json, the server's page {data, has_more}.`,
				example: `  keyward accounts list
  keyward accounts list --all --json | jq -r '.data[] | .id + " " + .name'`,
			}, &cursor{&p.Limit, &p.StartingAfter, &p.EndingBefore},
				func(r *remote) pages[client.Account] { return r.AccountsPager(p, r.capture()...) }),
			getCommand(e, c, o, help{
				short: "Show one account and its settings",
				long: `Show one account by id: its settings and its ETAG, which
"accounts update --if-match" takes. Lifetimes are shown as durations (90d).`,
				example: `  keyward accounts get acc_01J00000000000000000000000
  keyward accounts get acc_01J00000000000000000000000 --json | jq .max_key_lifetime`,
			}),
			e.accountsCreateCommand(c, o),
			e.accountsUpdateCommand(c, o),
			deleteCommand(e, c, o, help{
				short: "Delete an account and everything in it",
				long: `Delete an account with everything in it: keys, management keys, users, service
accounts, roles, projects and its catalog. Its keys stop verifying at once.
This cannot be undone.`,
				example: `  keyward accounts delete acc_01J00000000000000000000000 --yes`,
			}, "deleting an account deletes every key, user, role and project in it for good"),
		}
	})
}

// accountFlags are the settings of an account.
type accountFlags struct {
	name, prefix, template, mode                string
	maxLifetime, defaultLifetime, requireExpiry string
	clearMaxLifetime, clearDefaultLifetime      bool
	ifMatch                                     string
}

func addAccountFlags(f *pflag.FlagSet, a *accountFlags, update bool) {
	f.StringVar(&a.name, "name", "", "name of the account")
	f.StringVar(&a.prefix, "default-prefix", "", "token prefix of its new keys, [a-z][a-z0-9]{0,15} (default kw)")
	if !update {
		f.StringVar(&a.template, "catalog-template", "", "the catalog it starts from: "+strings.Join(keyward.Templates(), ", ")+" (default default; cannot change later)")
	}
	f.StringVar(&a.mode, "default-permission-mode", "", "mode of keys created without one: all, read_only or restricted (default all)")
	f.StringVar(&a.maxLifetime, "max-key-lifetime", "", "longest lifetime a key may have, such as 365d or 12h (default none)")
	f.StringVar(&a.defaultLifetime, "default-key-lifetime", "", "lifetime of keys created without an expiry, such as 90d (default none)")
	f.StringVar(&a.requireExpiry, "require-expiry", "", "true: every key must have an expiry; false: keys may never expire")
	if update {
		f.BoolVar(&a.clearMaxLifetime, "clear-max-key-lifetime", false, "remove the longest lifetime: keys may live for ever")
		f.BoolVar(&a.clearDefaultLifetime, "clear-default-key-lifetime", false, "remove the default lifetime: keys created without an expiry never expire")
		addIfMatchFlag(f, &a.ifMatch, "account")
	}
}

// accountFields reads the account flags of a create or PATCH.
func accountFields(f *pflag.FlagSet, a *accountFlags) (*keyward.AccountFields, error) {
	if err := exclusive(f, [2]string{"max-key-lifetime", "clear-max-key-lifetime"}, [2]string{"default-key-lifetime", "clear-default-key-lifetime"}); err != nil {
		return nil, err
	}
	in := &keyward.AccountFields{}
	if err := nameFlag(f, a.name, &in.Name); err != nil {
		return nil, err
	}
	if f.Changed("default-prefix") {
		if !keyward.ValidPrefix(a.prefix) {
			return nil, usagef("--default-prefix must match [a-z][a-z0-9]{0,15}, not %q", a.prefix)
		}
		in.DefaultPrefix = keyward.Some(a.prefix)
	}
	if f.Changed("catalog-template") {
		if err := oneOf("--catalog-template", a.template, keyward.Templates()...); err != nil {
			return nil, err
		}
		in.CatalogTemplate = keyward.Some(a.template)
	}
	if f.Changed("default-permission-mode") {
		if err := oneOf("--default-permission-mode", a.mode, keyward.ModeAll, keyward.ModeReadOnly, keyward.ModeRestricted); err != nil {
			return nil, err
		}
		in.DefaultPermissionMode = keyward.Some(keyward.PermissionMode(a.mode))
	}
	for _, l := range []struct {
		flag, v string
		dst     *keyward.Field[int64]
	}{{"max-key-lifetime", a.maxLifetime, &in.MaxKeyLifetime}, {"default-key-lifetime", a.defaultLifetime, &in.DefaultKeyLifetime}} {
		if !f.Changed(l.flag) {
			continue
		}
		secs, err := parseLifetime("--"+l.flag, l.v)
		if err != nil {
			return nil, err
		}
		*l.dst = keyward.Some(secs)
	}
	if f.Changed("require-expiry") {
		b, err := strconv.ParseBool(strings.TrimSpace(a.requireExpiry))
		if err != nil {
			return nil, usagef("--require-expiry must be true or false, not %q", a.requireExpiry)
		}
		in.RequireExpiry = keyward.Some(b)
	}
	nullIf(a.clearMaxLifetime, &in.MaxKeyLifetime)
	nullIf(a.clearDefaultLifetime, &in.DefaultKeyLifetime)
	return in, nil
}

// parseLifetime reads a lifetime flag as whole seconds.
func parseLifetime(flag, v string) (int64, error) {
	d, err := parseDuration(v)
	if err != nil || d < time.Second || d%time.Second != 0 || d/time.Second > keyward.MaxLifetimeSeconds {
		return 0, usagef("%s %q is not a lifetime: a duration of whole seconds from 1s to 36500d, such as 90d, 12h or 1d12h", flag, v)
	}
	return int64(d / time.Second), nil
}

func (e *env) accountsCreateCommand(c *connFlags, o *object[client.Account]) *cobra.Command {
	a := &accountFlags{}
	cmd := &cobra.Command{
		Use:   "create --name NAME [flags]",
		Short: "Create an account",
		Long: fmt.Sprintf(`Create an account. Its catalog starts from --catalog-template (%s),
which cannot change afterwards; the catalog itself can be edited with the
catalog commands.

The expiry policy applies to every key created, changed or rotated in the
account: --max-key-lifetime bounds how far ahead an expiry may be,
--require-expiry true refuses keys without one, --default-key-lifetime gives
one to keys created without. Lifetimes are durations such as 90d, 12h or
1d12h, sent as seconds.`, strings.Join(keyward.Templates(), ", ")),
		Example: `  keyward accounts create --name acme
  keyward accounts create --name "Globex" --catalog-template discue --default-prefix gx \
      --max-key-lifetime 365d --default-key-lifetime 90d --require-expiry true
  keyward accounts create --name initech --json | jq -r .id`,
		Args: argsNone(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(a.name) == "" {
				return usagef("--name is required")
			}
			in, err := accountFields(cmd.Flags(), a)
			if err != nil {
				return err
			}
			return change(e, cmd, c, o.show, nil, func(ctx context.Context, r *remote, opts []client.CallOption) (*client.Account, error) {
				return r.CreateAccount(ctx, in, opts...)
			})
		},
	}
	addAccountFlags(cmd.Flags(), a, false)
	return cmd
}

func (e *env) accountsUpdateCommand(c *connFlags, o *object[client.Account]) *cobra.Command {
	a := &accountFlags{}
	cmd := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change an account's settings; only the flags you give are changed",
		Long: `Change an account's settings with a partial update (PATCH): only the flags
given are sent. The --clear-* flags remove a lifetime. The catalog template is
chosen at creation and cannot change.

A new expiry policy applies to keys created, changed or rotated from now on.
--if-match ETAG (from "accounts get") makes the update fail with HTTP 412 if
the account changed in the meantime.`,
		Example: `  keyward accounts update acc_01J00000000000000000000000 --name "Acme Inc." --require-expiry true --max-key-lifetime 90d
  keyward accounts update acc_01J00000000000000000000000 --clear-max-key-lifetime --clear-default-key-lifetime`,
		Args: argOne(o.argText()),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := accountFields(cmd.Flags(), a)
			if err != nil {
				return err
			}
			return change(e, cmd, c, o.show, &patch{*in == (keyward.AccountFields{}), a.ifMatch}, func(ctx context.Context, r *remote, opts []client.CallOption) (*client.Account, error) {
				return r.UpdateAccount(ctx, args[0], in, opts...)
			})
		},
	}
	addAccountFlags(cmd.Flags(), a, true)
	return cmd
}

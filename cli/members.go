package cli

import (
	"context"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// The members of an account: users, service accounts and roles.

// ---- users --------------------------------------------------------------

func printUser(w io.Writer, u *client.User) error {
	return printRows(w, [][2]string{
		{"ID", u.ID},
		{"EXTERNAL ID", orDash(u.ExternalID)},
		{"EMAIL", orDash(u.Email)},
		{"NAME", orDash(u.Name)},
		{"ROLES", listText(u.Roles)},
		{"STATUS", string(u.Status)},
		{"CREATED", timeText(u.CreatedAt)},
		{"UPDATED", timeText(u.UpdatedAt)},
		{"ETAG", u.ETag},
	})
}

func userObject() *object[client.User] {
	return &object[client.User]{noun: "user", plural: "users", arg: "ID", member: "id",
		id:  func(u *client.User) string { return u.ID },
		get: (*client.Client).GetUser, remove: (*client.Client).DeleteUser,
		show: printUser,
		table: func(w io.Writer, users []client.User) error {
			return printTable(w, users, []string{"ID", "EXTERNAL ID", "EMAIL", "NAME", "ROLES", "STATUS", "CREATED"},
				func(u *client.User) []string {
					return []string{u.ID, orDash(u.ExternalID), orDash(u.Email), orDash(u.Name), strings.ReplaceAll(listText(u.Roles), " ", ""),
						string(u.Status), timeText(u.CreatedAt)}
				})
		},
	}
}

func (e *env) usersCommand() *cobra.Command {
	o := userObject()
	p := &client.UserListParams{}
	return e.clientGroup("users", help{
		short: "Manage the users of an account on a running keyward server",
		long: clientLong(`Manage the users of an account: the people its keys may belong to. A key owned
by a user (keys create --owner-type user --owner-id ID) never does more than
the user's current roles allow; disabling the user makes their keys fail with
OWNER_INACTIVE, and deleting the user revokes every key they own.

These commands need members:read and members:write.`, ""),
		example: `  keyward users create --external-id u-1842 --email alice@example.com --name Alice --role support
  keyward users list --role support
  keyward users update usr_01J00000000000000000000000 --status disabled`,
	}, func(c *connFlags) []*cobra.Command {
		return []*cobra.Command{
			listCommand(e, c, o, help{
				short: "List users, newest first",
				long: `List the users of the account, newest first, one page at a time (25 unless
--limit). When there are more, a hint on stderr names the --starting-after to
use; --all follows the pages to the end. With --json, the server's page
{data, has_more}.`,
				example: `  keyward users list
  keyward users list --status disabled --search alice
  keyward users list --role support --all --json | jq -r '.data[].email'`,
			}, &cursor{&p.Limit, &p.StartingAfter, &p.EndingBefore},
				func(r *remote) pages[client.User] { return r.UsersPager(p, r.capture()...) },
				enumFilter("status", "only users with this status: active or disabled", &p.Status, keyward.MemberActive, keyward.MemberDisabled),
				validFilter("role", "only users who hold this role", "a role name", keyward.ValidRoleName, &p.Role),
				textFilter("external-id", "only the user with this external id", &p.ExternalID),
				textFilter("search", "only users whose name or email contains this text (case-insensitive)", &p.Search),
			),
			getCommand(e, c, o, help{
				short: "Show one user",
				long:  `Show one user by id, with their roles and the ETAG that "users update --if-match" takes.`,
				example: `  keyward users get usr_01J00000000000000000000000
  keyward users get usr_01J00000000000000000000000 --json | jq .roles`,
			}),
			e.usersChangeCommand(c, o, false),
			e.usersChangeCommand(c, o, true),
			deleteCommand(e, c, o, help{
				short: "Delete a user and revoke their keys",
				long: `Delete a user. Every key the user owns is revoked in the same step, with an
audit event for each. With --json, prints {"id": ID, "deleted": true}.`,
				example: `  keyward users delete usr_01J00000000000000000000000`,
			}, ""),
		}
	})
}

type userFlags struct {
	externalID, email, name, status        string
	roles                                  []string
	clearExternalID, clearEmail, clearName bool
	noRoles                                bool
	ifMatch                                string
}

// usersChangeCommand is users create, or with update users update.
func (e *env) usersChangeCommand(c *connFlags, o *object[client.User], update bool) *cobra.Command {
	u := &userFlags{}
	cmd := &cobra.Command{
		Use:   "create [flags]",
		Short: "Create a user",
		Long: `Create a user. Every flag is optional: --external-id is the user's id in your
own system (unique in the account), --role (repeatable) gives the user a
role's scopes, which bound every key the user owns.`,
		Example: `  keyward users create --external-id u-1842 --email alice@example.com --name Alice --role support
  keyward users create --name "Bob" --json | jq -r .id`,
		Args: argsNone(),
	}
	if update {
		cmd.Use = "update ID [flags]"
		cmd.Short = "Change a user; only the flags you give are changed"
		cmd.Long = `Change a user with a partial update (PATCH): only the flags given are sent.
--role replaces the whole list of roles (--no-roles removes them all); the
keys the user owns follow the new roles at their next verification. The
--clear-* flags remove a value. --status disabled makes the user's keys fail
with OWNER_INACTIVE until --status active.

--if-match ETAG (from "users get") makes the update fail with HTTP 412 if the
user changed in the meantime.`
		cmd.Example = `  keyward users update usr_01J00000000000000000000000 --role support --role billing
  keyward users update usr_01J00000000000000000000000 --status disabled
  keyward users update usr_01J00000000000000000000000 --no-roles --clear-email`
		cmd.Args = argOne(o.argText())
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		in, err := userFields(cmd.Flags(), u)
		if err != nil {
			return err
		}
		if !update {
			return change(e, cmd, c, o.show, nil, func(ctx context.Context, r *remote, opts []client.CallOption) (*client.User, error) {
				return r.CreateUser(ctx, in, opts...)
			})
		}
		empty := !(in.ExternalID.Set || in.Email.Set || in.Name.Set || in.Roles.Set || in.Status.Set)
		return change(e, cmd, c, o.show, &patch{empty, u.ifMatch}, func(ctx context.Context, r *remote, opts []client.CallOption) (*client.User, error) {
			return r.UpdateUser(ctx, args[0], in, opts...)
		})
	}
	f := cmd.Flags()
	f.StringVar(&u.externalID, "external-id", "", "the user's id in your own system (unique in the account)")
	f.StringVar(&u.email, "email", "", "the user's email address")
	f.StringVar(&u.name, "name", "", "the user's name")
	f.StringArrayVar(&u.roles, "role", nil, "give the user this role; repeatable")
	f.StringVar(&u.status, "status", "", "active or disabled (default active)")
	if update {
		f.BoolVar(&u.clearExternalID, "clear-external-id", false, "remove the external id")
		f.BoolVar(&u.clearEmail, "clear-email", false, "remove the email address")
		f.BoolVar(&u.clearName, "clear-name", false, "remove the name")
		f.BoolVar(&u.noRoles, "no-roles", false, "remove every role (sends roles: [])")
		addIfMatchFlag(f, &u.ifMatch, "user")
	}
	return cmd
}

func userFields(f *pflag.FlagSet, u *userFlags) (*keyward.UserFields, error) {
	if err := exclusive(f, [2]string{"external-id", "clear-external-id"}, [2]string{"email", "clear-email"},
		[2]string{"name", "clear-name"}, [2]string{"role", "no-roles"}); err != nil {
		return nil, err
	}
	in := &keyward.UserFields{}
	for _, t := range []struct {
		flag, v string
		dst     *keyward.Field[string]
	}{
		{"external-id", u.externalID, &in.ExternalID}, {"email", u.email, &in.Email}, {"name", u.name, &in.Name},
	} {
		if f.Changed(t.flag) {
			if strings.TrimSpace(t.v) == "" {
				return nil, usagef("--%s must not be empty (--clear-%s removes it)", t.flag, t.flag)
			}
			*t.dst = keyward.Some(t.v)
		}
	}
	if f.Changed("role") {
		if err := checkRoleNames(u.roles); err != nil {
			return nil, err
		}
		in.Roles = keyward.Some(u.roles)
	}
	if err := memberStatus(f, u.status, &in.Status); err != nil {
		return nil, err
	}
	nullIf(u.clearExternalID, &in.ExternalID)
	nullIf(u.clearEmail, &in.Email)
	nullIf(u.clearName, &in.Name)
	if u.noRoles {
		in.Roles = keyward.Some([]string{})
	}
	return in, nil
}

// memberStatus reads --status of a user or service account.
func memberStatus(f *pflag.FlagSet, status string, dst *keyward.Field[keyward.MemberStatus]) error {
	if !f.Changed("status") {
		return nil
	}
	if err := oneOf("--status", status, keyward.MemberActive, keyward.MemberDisabled); err != nil {
		return err
	}
	*dst = keyward.Some(keyward.MemberStatus(status))
	return nil
}

// ---- service accounts ---------------------------------------------------

func printServiceAccount(w io.Writer, s *client.ServiceAccount) error {
	return printRows(w, [][2]string{
		{"ID", s.ID},
		{"NAME", s.Name},
		{"DESCRIPTION", orDash(s.Description)},
		{"STATUS", string(s.Status)},
		{"CREATED", timeText(s.CreatedAt)},
		{"UPDATED", timeText(s.UpdatedAt)},
		{"ETAG", s.ETag},
	})
}

func serviceAccountObject() *object[client.ServiceAccount] {
	return &object[client.ServiceAccount]{noun: "service account", plural: "service accounts", arg: "ID", member: "id",
		id:  func(s *client.ServiceAccount) string { return s.ID },
		get: (*client.Client).GetServiceAccount, remove: (*client.Client).DeleteServiceAccount,
		show: printServiceAccount,
		table: func(w io.Writer, sas []client.ServiceAccount) error {
			return printTable(w, sas, []string{"ID", "NAME", "STATUS", "CREATED"},
				func(s *client.ServiceAccount) []string {
					return []string{s.ID, s.Name, string(s.Status), timeText(s.CreatedAt)}
				})
		},
	}
}

func (e *env) serviceAccountsCommand() *cobra.Command {
	o := serviceAccountObject()
	p := &client.ServiceAccountListParams{}
	return e.clientGroup("service-accounts", help{
		short: "Manage the service accounts of an account on a running keyward server",
		long: clientLong(`Manage the service accounts of an account: non-human owners of keys, such as a
backend or a CI job. Their keys are not bounded by roles; disabling a service
account makes its keys fail with OWNER_INACTIVE, and deleting it revokes every
key it owns.

These commands need members:read and members:write.`, ""),
		example: `  keyward service-accounts create --name "nightly export" --description "cron on batch-1"
  keyward keys create --name export --owner-type service_account --owner-id sa_01J00000000000000000000000
  keyward service-accounts list --status active`,
	}, func(c *connFlags) []*cobra.Command {
		return []*cobra.Command{
			listCommand(e, c, o, help{
				short: "List service accounts, newest first",
				long: `List the service accounts of the account, newest first, one page at a time (25
unless --limit). When there are more, a hint on stderr names the
--starting-after to use; --all follows the pages to the end. With --json,
the server's page {data, has_more}.`,
				example: `  keyward service-accounts list
  keyward service-accounts list --status disabled --all --json | jq -r '.data[].id'`,
			}, &cursor{&p.Limit, &p.StartingAfter, &p.EndingBefore},
				func(r *remote) pages[client.ServiceAccount] { return r.ServiceAccountsPager(p, r.capture()...) },
				enumFilter("status", "only service accounts with this status: active or disabled", &p.Status, keyward.MemberActive, keyward.MemberDisabled),
			),
			getCommand(e, c, o, help{
				short: "Show one service account",
				long:  `Show one service account by id, with the ETAG that "service-accounts update --if-match" takes.`,
				example: `  keyward service-accounts get sa_01J00000000000000000000000
  keyward service-accounts get sa_01J00000000000000000000000 --json | jq .status`,
			}),
			namedChangeCommand(e, c, o, help{
				short: "Create a service account",
				long: `Create a service account, then give it keys with
"keys create --owner-type service_account --owner-id ID".`,
				example: `  keyward service-accounts create --name "nightly export" --description "cron on batch-1"
  keyward service-accounts create --name ci --json | jq -r .id`,
			}, false, true, func(ctx context.Context, r *remote, _ []string, in *keyward.ServiceAccountFields, opts []client.CallOption) (*client.ServiceAccount, error) {
				return r.CreateServiceAccount(ctx, in, opts...)
			}),
			namedChangeCommand(e, c, o, help{
				short: "Change a service account; only the flags you give are changed",
				long: `Change a service account with a partial update (PATCH): only the flags given
are sent. --status disabled makes its keys fail with OWNER_INACTIVE until
--status active. --if-match ETAG (from "service-accounts get") makes the
update fail with HTTP 412 if the service account changed in the meantime.`,
				example: `  keyward service-accounts update sa_01J00000000000000000000000 --status disabled
  keyward service-accounts update sa_01J00000000000000000000000 --name "nightly export v2" --clear-description`,
			}, true, true, func(ctx context.Context, r *remote, args []string, in *keyward.ServiceAccountFields, opts []client.CallOption) (*client.ServiceAccount, error) {
				return r.UpdateServiceAccount(ctx, args[0], in, opts...)
			}),
			deleteCommand(e, c, o, help{
				short: "Delete a service account and revoke its keys",
				long: `Delete a service account. Every key it owns is revoked in the same step, with
an audit event for each. With --json, prints {"id": ID, "deleted": true}.`,
				example: `  keyward service-accounts delete sa_01J00000000000000000000000`,
			}, ""),
		}
	})
}

// namedFlags are the flags of an object made of a name, a description
// and, for some, a status: service accounts and projects.
type namedFlags struct {
	name, description, status string
	clearDescription          bool
	ifMatch                   string
}

// namedChangeCommand is "create" or, with update, "update ID" of an
// object made of a name unique in the account, a description and,
// withStatus, a status active or disabled. call sends what the flags say,
// as the fields of a service account.
func namedChangeCommand[T any](e *env, c *connFlags, o *object[T], h help, update, withStatus bool,
	call func(ctx context.Context, r *remote, args []string, in *keyward.ServiceAccountFields, opts []client.CallOption) (*T, error)) *cobra.Command {
	s := &namedFlags{}
	cmd := h.command("create --name NAME [flags]", argsNone(), nil)
	if update {
		cmd.Use = "update ID [flags]"
		cmd.Args = argOne(o.argText())
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f := cmd.Flags()
		if err := exclusive(f, [2]string{"description", "clear-description"}); err != nil {
			return err
		}
		in := &keyward.ServiceAccountFields{}
		if err := nameFlag(f, s.name, &in.Name); err != nil {
			return err
		}
		if !update && !in.Name.Set {
			return usagef("--name is required")
		}
		if f.Changed("description") {
			in.Description = keyward.Some(s.description)
		}
		if withStatus {
			if err := memberStatus(f, s.status, &in.Status); err != nil {
				return err
			}
		}
		nullIf(s.clearDescription, &in.Description)
		var p *patch
		if update {
			p = &patch{*in == (keyward.ServiceAccountFields{}), s.ifMatch}
		}
		return change(e, cmd, c, o.show, p, func(ctx context.Context, r *remote, opts []client.CallOption) (*T, error) {
			return call(ctx, r, args, in, opts)
		})
	}
	f := cmd.Flags()
	f.StringVar(&s.name, "name", "", "name of the "+o.noun+" (unique in the account)")
	f.StringVar(&s.description, "description", "", "free-text description")
	if withStatus {
		f.StringVar(&s.status, "status", "", "active or disabled (default active)")
	}
	if update {
		f.BoolVar(&s.clearDescription, "clear-description", false, "remove the description")
		addIfMatchFlag(f, &s.ifMatch, o.noun)
	}
	return cmd
}

// ---- roles --------------------------------------------------------------

func printRole(w io.Writer, r *client.Role) error {
	return printRows(w, [][2]string{
		{"NAME", r.Name},
		{"DESCRIPTION", orDash(r.Description)},
		{"SCOPES", scopesText(r.Scopes)},
		{"CREATED", timeText(r.CreatedAt)},
		{"UPDATED", timeText(r.UpdatedAt)},
		{"ETAG", r.ETag},
	})
}

// printRoleList writes roles as a table, one row each.
func printRoleList(w io.Writer, roles []client.Role) error {
	return printTable(w, roles, []string{"NAME", "SCOPES", "DESCRIPTION"},
		func(r *client.Role) []string { return []string{r.Name, scopesText(r.Scopes), orDash(r.Description)} })
}

func roleObject() *object[client.Role] {
	return &object[client.Role]{noun: "role", plural: "roles", arg: "NAME", member: "name",
		id:  func(r *client.Role) string { return r.Name },
		get: (*client.Client).GetRole, remove: (*client.Client).DeleteRole,
		show: printRole, table: printRoleList}
}

func (e *env) rolesCommand() *cobra.Command {
	o := roleObject()
	return e.clientGroup("roles", help{
		short: "Manage the roles of an account on a running keyward server",
		long: clientLong(`Manage the roles of an account: named lists of scopes. A restricted API key
holds the scopes of its roles (keys create --role NAME); a user's roles bound
every key the user owns. Roles are named by their name, which never changes.

Scopes are validated against the account's catalog; protected resources
cannot be granted. These commands need members:read and members:write.`, ""),
		example: `  keyward roles create support --scope tickets:write --scope customers:read --description "first-line support"
  keyward roles list
  keyward roles delete support`,
	}, func(c *connFlags) []*cobra.Command {
		return []*cobra.Command{
			listCommand(e, c, o, help{
				short: "List roles by name",
				long:  `List the roles of the account, by name, with their scopes (one page: roles are few).`,
				example: `  keyward roles list
  keyward roles list --json | jq -r '.data[].name'`,
			}, nil, func(r *remote) pages[client.Role] {
				return &onePage[client.Role]{read: func(ctx context.Context) ([]client.Role, error) { return r.ListRoles(ctx, r.capture()...) }}
			}),
			getCommand(e, c, o, help{
				short: "Show one role",
				long:  `Show one role by name, with its scopes and the ETAG that "roles update --if-match" takes.`,
				example: `  keyward roles get support
  keyward roles get support --json | jq .scopes`,
			}),
			e.rolesChangeCommand(c, o, false),
			e.rolesChangeCommand(c, o, true),
			deleteCommand(e, c, o, help{
				short: "Delete a role that nobody holds",
				long: `Delete a role. A role still held by a user or by a key that is not revoked
cannot be deleted (HTTP 409): the error lists their ids (user_ids, key_ids);
take the role off them first. With --json, prints {"name": NAME, "deleted": true}.`,
				example: `  keyward roles delete support`,
			}, ""),
		}
	})
}

type roleFlags struct {
	description      string
	scopes           []string
	clearDescription bool
	noScopes         bool
	ifMatch          string
}

func (e *env) rolesChangeCommand(c *connFlags, o *object[client.Role], update bool) *cobra.Command {
	r := &roleFlags{}
	cmd := &cobra.Command{
		Use:   "create NAME [flags]",
		Short: "Create a role",
		Long: `Create a role named NAME ([a-z][a-z0-9_.-]*, at most 64 characters) with the
scopes of --scope (repeatable; none grants nothing), written like the scopes
of keys: resource:access or resource:access:target1,target2.`,
		Example: `  keyward roles create support --scope tickets:write --scope customers:read --description "first-line support"
  keyward roles create auditor --scope invoices:read:inv_1,inv_2 --json`,
		Args: argOne(o.argText()),
	}
	if update {
		cmd.Use = "update NAME [flags]"
		cmd.Short = "Change a role; only the flags you give are changed"
		cmd.Long = `Change a role with a partial update (PATCH): only the flags given are sent.
--scope replaces the whole list of scopes (--no-scopes removes them all). Keys
and users holding the role follow the change at their next verification.

--if-match ETAG (from "roles get") makes the update fail with HTTP 412 if the
role changed in the meantime.`
		cmd.Example = `  keyward roles update support --scope tickets:write --scope customers:write
  keyward roles update support --clear-description --no-scopes`
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f := cmd.Flags()
		if err := exclusive(f, [2]string{"scope", "no-scopes"}, [2]string{"description", "clear-description"}); err != nil {
			return err
		}
		if !keyward.ValidRoleName(args[0]) {
			return usagef("%q is not a role name: [a-z][a-z0-9_.-]*, at most 64 characters", args[0])
		}
		in := &keyward.RoleFields{}
		if err := scopeFlags(f, r.scopes, &in.Scopes); err != nil {
			return err
		}
		if f.Changed("description") {
			in.Description = keyward.Some(r.description)
		}
		if r.noScopes {
			in.Scopes = keyward.Some([]keyward.Scope{})
		}
		nullIf(r.clearDescription, &in.Description)
		if !update {
			in.Name = keyward.Some(args[0])
			return change(e, cmd, c, o.show, nil, func(ctx context.Context, rm *remote, opts []client.CallOption) (*client.Role, error) {
				return rm.CreateRole(ctx, in, opts...)
			})
		}
		return change(e, cmd, c, o.show, &patch{!in.Scopes.Set && !in.Description.Set, r.ifMatch}, func(ctx context.Context, rm *remote, opts []client.CallOption) (*client.Role, error) {
			return rm.UpdateRole(ctx, args[0], in, opts...)
		})
	}
	f := cmd.Flags()
	f.StringArrayVar(&r.scopes, "scope", nil, "grant resource:access or resource:access:target1,target2 (access read or write); repeatable")
	f.StringVar(&r.description, "description", "", "free-text description")
	if update {
		f.BoolVar(&r.noScopes, "no-scopes", false, "remove every scope (sends scopes: [])")
		f.BoolVar(&r.clearDescription, "clear-description", false, "remove the description")
		addIfMatchFlag(f, &r.ifMatch, "role")
	}
	return cmd
}

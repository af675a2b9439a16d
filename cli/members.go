package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
)

// The members of an account: users, service accounts and roles.

// ---- users --------------------------------------------------------------

type userOut struct {
	ID         string    `json:"id"`
	ExternalID *string   `json:"external_id"`
	Email      *string   `json:"email"`
	Name       *string   `json:"name"`
	Roles      []string  `json:"roles"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	ETag       string    `json:"etag"`
}

func printUser(w io.Writer, u *userOut) error {
	return printRows(w, [][2]string{
		{"ID", u.ID},
		{"EXTERNAL ID", orDash(u.ExternalID)},
		{"EMAIL", orDash(u.Email)},
		{"NAME", orDash(u.Name)},
		{"ROLES", listText(u.Roles)},
		{"STATUS", u.Status},
		{"CREATED", timeText(u.CreatedAt)},
		{"UPDATED", timeText(u.UpdatedAt)},
		{"ETAG", u.ETag},
	})
}

func userObject() *object {
	return &object{noun: "user", plural: "users", path: "/v1/users", arg: "ID", member: "id",
		show: showOne(printUser),
		table: func(w io.Writer, raws []json.RawMessage) error {
			return printTable(w, raws, []string{"ID", "EXTERNAL ID", "EMAIL", "NAME", "ROLES", "STATUS", "CREATED"},
				func(u *userOut) []string {
					return []string{u.ID, orDash(u.ExternalID), orDash(u.Email), orDash(u.Name), strings.ReplaceAll(listText(u.Roles), " ", ""),
						u.Status, timeText(u.CreatedAt)}
				})
		},
	}
}

func (e *env) usersCommand() *cobra.Command {
	o := userObject()
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
			e.listCommand(c, o, help{
				short: "List users, newest first",
				long: `List the users of the account, newest first, one page at a time (25 unless
--limit). When there are more, a hint on stderr names the --starting-after to
use; --all follows the pages to the end. With --json, the server's page
{data, has_more}.`,
				example: `  keyward users list
  keyward users list --status disabled --search alice
  keyward users list --role support --all --json | jq -r '.data[].email'`,
			}, true,
				filter{"status", "only users with this status: active or disabled", enumFilter("active", "disabled")},
				filter{"role", "only users who hold this role", validFilter("a role name", keyward.ValidRoleName)},
				filter{"external-id", "only the user with this external id", nil},
				filter{"search", "only users whose name or email contains this text (case-insensitive)", nil},
			),
			e.getCommand(c, o, help{
				short: "Show one user",
				long:  `Show one user by id, with their roles and the ETAG that "users update --if-match" takes.`,
				example: `  keyward users get usr_01J00000000000000000000000
  keyward users get usr_01J00000000000000000000000 --json | jq .roles`,
			}),
			e.usersChangeCommand(c, o, false),
			e.usersChangeCommand(c, o, true),
			e.deleteCommand(c, o, help{
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
func (e *env) usersChangeCommand(c *connFlags, o *object, update bool) *cobra.Command {
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
		body, err := userBody(cmd.Flags(), u)
		if err != nil {
			return err
		}
		if !update {
			return e.send(cmd, c, http.MethodPost, o.path, body, nil, o.show)
		}
		if len(body) == 0 {
			return usagef("nothing to change: give at least one flag (see keyward users update --help)")
		}
		hdr, err := ifMatchHeader(cmd.Flags(), u.ifMatch, "users")
		if err != nil {
			return err
		}
		return e.send(cmd, c, http.MethodPatch, o.itemPath(args[0]), body, hdr, o.show)
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

func userBody(f *pflag.FlagSet, u *userFlags) (map[string]any, error) {
	if err := exclusive(f, [2]string{"external-id", "clear-external-id"}, [2]string{"email", "clear-email"},
		[2]string{"name", "clear-name"}, [2]string{"role", "no-roles"}); err != nil {
		return nil, err
	}
	body := map[string]any{}
	for _, t := range []struct{ flag, member, v string }{
		{"external-id", "external_id", u.externalID}, {"email", "email", u.email}, {"name", "name", u.name},
	} {
		if f.Changed(t.flag) {
			if strings.TrimSpace(t.v) == "" {
				return nil, usagef("--%s must not be empty (--clear-%s removes it)", t.flag, t.flag)
			}
			body[t.member] = t.v
		}
	}
	if f.Changed("role") {
		if err := checkRoleNames(u.roles); err != nil {
			return nil, err
		}
		body["roles"] = u.roles
	}
	if err := memberStatus(f, u.status, body); err != nil {
		return nil, err
	}
	applyClears(body,
		clearing{u.clearExternalID, "external_id", nil},
		clearing{u.clearEmail, "email", nil},
		clearing{u.clearName, "name", nil},
		clearing{u.noRoles, "roles", []any{}},
	)
	return body, nil
}

// memberStatus reads --status of a user or service account.
func memberStatus(f *pflag.FlagSet, status string, body map[string]any) error {
	if !f.Changed("status") {
		return nil
	}
	if err := oneOf("--status", status, "active", "disabled"); err != nil {
		return err
	}
	body["status"] = status
	return nil
}

// ---- service accounts ---------------------------------------------------

type serviceAccountOut struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description *string   `json:"description"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	ETag        string    `json:"etag"`
}

func printServiceAccount(w io.Writer, s *serviceAccountOut) error {
	return printRows(w, [][2]string{
		{"ID", s.ID},
		{"NAME", s.Name},
		{"DESCRIPTION", orDash(s.Description)},
		{"STATUS", s.Status},
		{"CREATED", timeText(s.CreatedAt)},
		{"UPDATED", timeText(s.UpdatedAt)},
		{"ETAG", s.ETag},
	})
}

func serviceAccountObject() *object {
	return &object{noun: "service account", plural: "service accounts", path: "/v1/service-accounts", arg: "ID", member: "id",
		show: showOne(printServiceAccount),
		table: func(w io.Writer, raws []json.RawMessage) error {
			return printTable(w, raws, []string{"ID", "NAME", "STATUS", "CREATED"},
				func(s *serviceAccountOut) []string { return []string{s.ID, s.Name, s.Status, timeText(s.CreatedAt)} })
		},
	}
}

func (e *env) serviceAccountsCommand() *cobra.Command {
	o := serviceAccountObject()
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
			e.listCommand(c, o, help{
				short: "List service accounts, newest first",
				long: `List the service accounts of the account, newest first, one page at a time (25
unless --limit). When there are more, a hint on stderr names the
--starting-after to use; --all follows the pages to the end. With --json,
the server's page {data, has_more}.`,
				example: `  keyward service-accounts list
  keyward service-accounts list --status disabled --all --json | jq -r '.data[].id'`,
			}, true,
				filter{"status", "only service accounts with this status: active or disabled", enumFilter("active", "disabled")},
			),
			e.getCommand(c, o, help{
				short: "Show one service account",
				long:  `Show one service account by id, with the ETAG that "service-accounts update --if-match" takes.`,
				example: `  keyward service-accounts get sa_01J00000000000000000000000
  keyward service-accounts get sa_01J00000000000000000000000 --json | jq .status`,
			}),
			e.namedChangeCommand(c, o, help{
				short: "Create a service account",
				long: `Create a service account, then give it keys with
"keys create --owner-type service_account --owner-id ID".`,
				example: `  keyward service-accounts create --name "nightly export" --description "cron on batch-1"
  keyward service-accounts create --name ci --json | jq -r .id`,
			}, false, true),
			e.namedChangeCommand(c, o, help{
				short: "Change a service account; only the flags you give are changed",
				long: `Change a service account with a partial update (PATCH): only the flags given
are sent. --status disabled makes its keys fail with OWNER_INACTIVE until
--status active. --if-match ETAG (from "service-accounts get") makes the
update fail with HTTP 412 if the service account changed in the meantime.`,
				example: `  keyward service-accounts update sa_01J00000000000000000000000 --status disabled
  keyward service-accounts update sa_01J00000000000000000000000 --name "nightly export v2" --clear-description`,
			}, true, true),
			e.deleteCommand(c, o, help{
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
// withStatus, a status active or disabled.
func (e *env) namedChangeCommand(c *connFlags, o *object, h help, update, withStatus bool) *cobra.Command {
	s := &namedFlags{}
	cmd := &cobra.Command{
		Use:     "create --name NAME [flags]",
		Short:   h.short,
		Long:    h.long,
		Example: h.example,
		Args:    argsNone(),
	}
	if update {
		cmd.Use = "update ID [flags]"
		cmd.Args = argOne(o.argText())
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f := cmd.Flags()
		if err := exclusive(f, [2]string{"description", "clear-description"}); err != nil {
			return err
		}
		body := map[string]any{}
		switch {
		case f.Changed("name") && strings.TrimSpace(s.name) == "":
			return usagef("--name must not be empty")
		case f.Changed("name"):
			body["name"] = s.name
		case !update:
			return usagef("--name is required")
		}
		if f.Changed("description") {
			body["description"] = s.description
		}
		if withStatus {
			if err := memberStatus(f, s.status, body); err != nil {
				return err
			}
		}
		applyClears(body, clearing{s.clearDescription, "description", nil})
		if !update {
			return e.send(cmd, c, http.MethodPost, o.path, body, nil, o.show)
		}
		if len(body) == 0 {
			return usagef("nothing to change: give at least one flag (see keyward %s update --help)", cmd.Parent().Name())
		}
		hdr, err := ifMatchHeader(f, s.ifMatch, cmd.Parent().Name())
		if err != nil {
			return err
		}
		return e.send(cmd, c, http.MethodPatch, o.itemPath(args[0]), body, hdr, o.show)
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

type roleOut struct {
	Name        string     `json:"name"`
	Description *string    `json:"description"`
	Scopes      []scopeOut `json:"scopes"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	ETag        string     `json:"etag"`
}

func printRole(w io.Writer, r *roleOut) error {
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
func printRoleList(w io.Writer, raws []json.RawMessage) error {
	return printTable(w, raws, []string{"NAME", "SCOPES", "DESCRIPTION"},
		func(r *roleOut) []string { return []string{r.Name, scopesText(r.Scopes), orDash(r.Description)} })
}

func roleObject() *object {
	return &object{noun: "role", plural: "roles", path: "/v1/roles", arg: "NAME", member: "name",
		show: showOne(printRole), table: printRoleList}
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
			e.listCommand(c, o, help{
				short: "List roles by name",
				long:  `List the roles of the account, by name, with their scopes (one page: roles are few).`,
				example: `  keyward roles list
  keyward roles list --json | jq -r '.data[].name'`,
			}, false),
			e.getCommand(c, o, help{
				short: "Show one role",
				long:  `Show one role by name, with its scopes and the ETAG that "roles update --if-match" takes.`,
				example: `  keyward roles get support
  keyward roles get support --json | jq .scopes`,
			}),
			e.rolesChangeCommand(c, o, false),
			e.rolesChangeCommand(c, o, true),
			e.deleteCommand(c, o, help{
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

func (e *env) rolesChangeCommand(c *connFlags, o *object, update bool) *cobra.Command {
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
		body := map[string]any{}
		if f.Changed("scope") {
			scopes, err := parseScopes(r.scopes)
			if err != nil {
				return err
			}
			body["scopes"] = scopes
		}
		if f.Changed("description") {
			body["description"] = r.description
		}
		applyClears(body, clearing{r.noScopes, "scopes", []any{}}, clearing{r.clearDescription, "description", nil})
		if !update {
			body["name"] = args[0]
			return e.send(cmd, c, http.MethodPost, o.path, body, nil, o.show)
		}
		if len(body) == 0 {
			return usagef("nothing to change: give at least one flag (see keyward roles update --help)")
		}
		hdr, err := ifMatchHeader(f, r.ifMatch, "roles")
		if err != nil {
			return err
		}
		return e.send(cmd, c, http.MethodPatch, o.itemPath(args[0]), body, hdr, o.show)
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

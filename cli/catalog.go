package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// levelsText names the access levels a resource can be granted at:
// read,write, read or write.
func levelsText(r *keyward.Resource) string {
	var l []string
	if r.Readable {
		l = append(l, "read")
	}
	if r.Writable {
		l = append(l, "write")
	}
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ",")
}

func projectScopesText(ps []string) string {
	if len(ps) == 0 {
		return "-"
	}
	return strings.Join(ps, ",")
}

func printResource(w io.Writer, r *keyward.Resource) error {
	return printRows(w, [][2]string{
		{"ID", r.ID},
		{"DISPLAY NAME", r.DisplayName},
		{"GROUP", orText(r.Group, "-")},
		{"DESCRIPTION", orText(r.Description, "-")},
		{"LEVELS", levelsText(r)},
		{"PROJECTS", projectScopesText(r.ProjectScopes)},
		{"PROTECTED", yesNo(r.Protected)},
		{"CREATED", timeText(r.CreatedAt)},
		{"UPDATED", timeText(r.UpdatedAt)},
	})
}

// printCatalog writes the catalog's resources, then its roles, as two
// tables.
func printCatalog(w io.Writer, c *client.Catalog) error {
	err := printTable(w, c.Resources, []string{"RESOURCE", "GROUP", "LEVELS", "PROJECTS", "PROTECTED", "DISPLAY NAME"},
		func(r *keyward.Resource) []string {
			return []string{r.ID, orText(r.Group, "-"), levelsText(r), projectScopesText(r.ProjectScopes), yesNo(r.Protected), r.DisplayName}
		})
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(c.Roles) == 0 {
		_, err := fmt.Fprintln(w, "No roles.")
		return err
	}
	return printTable(w, c.Roles, []string{"ROLE", "SCOPES", "DESCRIPTION"},
		func(r *client.Role) []string { return []string{r.Name, scopesText(r.Scopes), orDash(r.Description)} })
}

func (e *env) catalogCommand() *cobra.Command {
	return e.clientGroup("catalog", help{
		short: "Read and edit the permission catalog of an account",
		long: clientLong(`Read and edit the permission catalog of an account: the resources that scopes,
roles and permission checks name, the access levels each supports, whether a
single-project key may hold it, and whether it is protected (never granted to
an API key). An account's catalog starts from its catalog template.

"catalog get" needs catalog:read; put-resource and delete-resource need
catalog:write.`, ""),
		example: `  keyward catalog get
  keyward catalog put-resource invoices --group billing --display-name Invoices --readable true --writable false
  keyward catalog delete-resource invoices`,
	}, func(c *connFlags) []*cobra.Command {
		return []*cobra.Command{e.catalogGetCommand(c), e.catalogPutCommand(c), e.catalogDeleteCommand(c)}
	})
}

func (e *env) catalogGetCommand(c *connFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get",
		Short: "Show the catalog: its resources and roles",
		Long: `Show the account's catalog: a table of its resources (group, the access levels
each supports, the project scopes it may be granted to, whether it is
protected), then its roles with their scopes. --json prints the whole
catalog as the server sends it, with the access levels, the permission-mode
presets and the management permissions.`,
		Example: `  keyward catalog get
  keyward catalog get --account-id acc_01J00000000000000000000000
  keyward catalog get --json | jq -r '.resources[] | select(.protected) | .id'`,
		Args: argsNone(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.run(cmd, c, func(ctx context.Context, r *remote) error {
				cat, err := r.GetCatalog(ctx, r.capture()...)
				return show(e, r, cat, err, printCatalog)
			})
		},
	}
}

type resourceFlags struct {
	displayName, group, description string
	readable, writable, protected   string
	projectScopes                   []string
}

func (e *env) catalogPutCommand(c *connFlags) *cobra.Command {
	res := &resourceFlags{}
	cmd := &cobra.Command{
		Use:   "put-resource ID [flags]",
		Short: "Create or replace a catalog resource",
		Long: `Create the catalog resource ID ([a-z][a-z0-9_.-]*), or replace it whole (PUT):
a flag left out takes its default, not the resource's current value. The
defaults: display name = ID, no group, no description, readable and writable,
project scopes all and single, not protected.

A change that would take a grant away from keys that hold it (a level no
longer supported, protected, no longer for single-project keys) is refused
with HTTP 409 naming the keys.`,
		Example: `  keyward catalog put-resource invoices --display-name Invoices --group billing --description "customer invoices"
  keyward catalog put-resource audit_logs --readable true --writable false --project-scope all
  keyward catalog put-resource api_keys --protected true --json`,
		Args: argOne("the resource id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !keyward.ValidResourceID(args[0]) {
				return usagef("%q is not a resource id: [a-z][a-z0-9_.-]*, at most 64 characters", args[0])
			}
			in, err := resourceFields(cmd.Flags(), res)
			if err != nil {
				return err
			}
			return e.run(cmd, c, func(ctx context.Context, r *remote) error {
				put, err := r.PutResource(ctx, args[0], in, r.capture()...)
				if err != nil {
					return err
				}
				return show(e, r, &put.Resource, nil, printResource)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&res.displayName, "display-name", "", "name shown to people (default: the id)")
	f.StringVar(&res.group, "group", "", "group the resource is listed under")
	f.StringVar(&res.description, "description", "", "what the resource is")
	f.StringVar(&res.readable, "readable", "", "true or false: whether it can be granted at read (default true)")
	f.StringVar(&res.writable, "writable", "", "true or false: whether it can be granted at write (default true)")
	f.StringArrayVar(&res.projectScopes, "project-scope", nil, "all (keys of all projects) or single (single-project keys); repeatable (default both)")
	f.StringVar(&res.protected, "protected", "", "true or false: a protected resource is never granted to an API key (default false)")
	return cmd
}

func resourceFields(f *pflag.FlagSet, r *resourceFlags) (*keyward.ResourceFields, error) {
	in := &keyward.ResourceFields{}
	for _, t := range []struct {
		flag, v string
		dst     *keyward.Field[string]
	}{
		{"display-name", r.displayName, &in.DisplayName}, {"group", r.group, &in.Group}, {"description", r.description, &in.Description},
	} {
		if f.Changed(t.flag) {
			*t.dst = keyward.Some(t.v)
		}
	}
	for _, b := range []struct {
		flag, v string
		dst     *keyward.Field[bool]
	}{{"readable", r.readable, &in.Readable}, {"writable", r.writable, &in.Writable}, {"protected", r.protected, &in.Protected}} {
		if !f.Changed(b.flag) {
			continue
		}
		v, err := strconv.ParseBool(strings.TrimSpace(b.v))
		if err != nil {
			return nil, usagef("--%s must be true or false, not %q", b.flag, b.v)
		}
		*b.dst = keyward.Some(v)
	}
	if f.Changed("project-scope") {
		for _, p := range r.projectScopes {
			if err := oneOf("--project-scope", p, keyward.ProjectScopeAll, keyward.ProjectScopeSingle); err != nil {
				return nil, err
			}
		}
		in.ProjectScopes = keyward.Some(r.projectScopes)
	}
	return in, nil
}

func (e *env) catalogDeleteCommand(c *connFlags) *cobra.Command {
	o := &object[keyward.Resource]{noun: "catalog resource", arg: "ID", member: "id", remove: (*client.Client).DeleteResource}
	cmd := deleteCommand(e, c, o, help{
		short: "Delete a catalog resource nothing grants",
		long: `Delete a catalog resource. A resource still granted by a key that is not
revoked, or named by a role, cannot be deleted (HTTP 409): the error lists
them (key_ids, role_names). With --json, prints {"id": ID, "deleted": true}.`,
		example: `  keyward catalog delete-resource invoices`,
	}, "")
	cmd.Use = "delete-resource ID"
	return cmd
}

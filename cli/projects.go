package cli

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// Projects: the subdivisions of an account a key may be scoped to.

func printProject(w io.Writer, p *client.Project) error {
	return printRows(w, [][2]string{
		{"ID", p.ID},
		{"NAME", p.Name},
		{"DESCRIPTION", orDash(p.Description)},
		{"CREATED", timeText(p.CreatedAt)},
		{"UPDATED", timeText(p.UpdatedAt)},
		{"ETAG", p.ETag},
	})
}

func projectObject() *object[client.Project] {
	return &object[client.Project]{noun: "project", plural: "projects", arg: "ID", member: "id",
		id:  func(p *client.Project) string { return p.ID },
		get: (*client.Client).GetProject, remove: (*client.Client).DeleteProject,
		show: printProject,
		table: func(w io.Writer, projects []client.Project) error {
			return printTable(w, projects, []string{"ID", "NAME", "DESCRIPTION", "CREATED"},
				func(p *client.Project) []string {
					return []string{p.ID, p.Name, orDash(p.Description), timeText(p.CreatedAt)}
				})
		},
	}
}

// projectFields are the fields of a project among those namedChangeCommand
// reads.
func projectFields(in *keyward.ServiceAccountFields) *keyward.ProjectFields {
	return &keyward.ProjectFields{Name: in.Name, Description: in.Description}
}

func (e *env) projectsCommand() *cobra.Command {
	o := projectObject()
	p := &client.PageParams{}
	return e.clientGroup("projects", help{
		short: "Manage the projects of an account on a running keyward server",
		long: clientLong(`Manage the projects of an account: its subdivisions. A key scoped to a project
(keys create --project-id ID) verifies only for that project; a key without one
works in every project. Deleting a project revokes every key scoped to it.

Reading projects needs keys:read; creating, changing and deleting them needs
keys:write.`, ""),
		example: `  keyward projects create --name web --description "the customer web app"
  keyward keys create --name "web frontend" --project-id prj_01J00000000000000000000000
  keyward projects list`,
	}, func(c *connFlags) []*cobra.Command {
		return []*cobra.Command{
			listCommand(e, c, o, help{
				short: "List projects, newest first",
				long: `List the projects of the account, newest first, one page at a time (25 unless
--limit). When there are more, a hint on stderr names the --starting-after to
use; --all follows the pages to the end. With --json, the server's page
{data, has_more}.`,
				example: `  keyward projects list
  keyward projects list --all --json | jq -r '.data[] | .id + " " + .name'`,
			}, &cursor{&p.Limit, &p.StartingAfter, &p.EndingBefore},
				func(r *remote) pages[client.Project] { return r.ProjectsPager(p, r.capture()...) }),
			getCommand(e, c, o, help{
				short: "Show one project",
				long:  `Show one project by id, with the ETAG that "projects update --if-match" takes.`,
				example: `  keyward projects get prj_01J00000000000000000000000
  keyward projects get prj_01J00000000000000000000000 --json | jq -r .name`,
			}),
			namedChangeCommand(e, c, o, help{
				short: "Create a project",
				long: `Create a project; its name is unique in the account. Then scope keys to it
with "keys create --project-id ID".`,
				example: `  keyward projects create --name web --description "the customer web app"
  keyward projects create --name mobile --json | jq -r .id`,
			}, false, false, func(ctx context.Context, r *remote, _ []string, in *keyward.ServiceAccountFields, opts []client.CallOption) (*client.Project, error) {
				return r.CreateProject(ctx, projectFields(in), opts...)
			}),
			namedChangeCommand(e, c, o, help{
				short: "Change a project; only the flags you give are changed",
				long: `Change a project with a partial update (PATCH): only the flags given are sent.
--clear-description removes the description. --if-match ETAG (from "projects
get") makes the update fail with HTTP 412 if the project changed in the
meantime.`,
				example: `  keyward projects update prj_01J00000000000000000000000 --name "web (legacy)"
  keyward projects update prj_01J00000000000000000000000 --clear-description`,
			}, true, false, func(ctx context.Context, r *remote, args []string, in *keyward.ServiceAccountFields, opts []client.CallOption) (*client.Project, error) {
				return r.UpdateProject(ctx, args[0], projectFields(in), opts...)
			}),
			deleteCommand(e, c, o, help{
				short: "Delete a project and revoke its keys",
				long: `Delete a project. Every key scoped to it is revoked in the same step, with an
audit event for each; the keys stay visible as revoked. With --json, prints
{"id": ID, "deleted": true}.`,
				example: `  keyward projects delete prj_01J00000000000000000000000
  keyward projects delete prj_01J00000000000000000000000 --yes`,
			}, ""),
		}
	})
}

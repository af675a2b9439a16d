package cli

import (
	"encoding/json"
	"io"

	"github.com/spf13/cobra"

	kwclient "github.com/keyward/keyward/client"
)

// Projects: the subdivisions of an account a key may be scoped to. Their
// JSON is read into the Go client's type.

func printProject(w io.Writer, p *kwclient.Project) error {
	return printRows(w, [][2]string{
		{"ID", p.ID},
		{"NAME", p.Name},
		{"DESCRIPTION", orDash(p.Description)},
		{"CREATED", timeText(p.CreatedAt)},
		{"UPDATED", timeText(p.UpdatedAt)},
		{"ETAG", p.ETag},
	})
}

func projectObject() *object {
	return &object{noun: "project", plural: "projects", path: "/v1/projects", arg: "ID", member: "id",
		show: showOne(printProject),
		table: func(w io.Writer, raws []json.RawMessage) error {
			return printTable(w, raws, []string{"ID", "NAME", "DESCRIPTION", "CREATED"},
				func(p *kwclient.Project) []string {
					return []string{p.ID, p.Name, orDash(p.Description), timeText(p.CreatedAt)}
				})
		},
	}
}

func (e *env) projectsCommand() *cobra.Command {
	o := projectObject()
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
			e.listCommand(c, o, help{
				short: "List projects, newest first",
				long: `List the projects of the account, newest first, one page at a time (25 unless
--limit). When there are more, a hint on stderr names the --starting-after to
use; --all follows the pages to the end. With --json, the server's page
{data, has_more}.`,
				example: `  keyward projects list
  keyward projects list --all --json | jq -r '.data[] | .id + " " + .name'`,
			}, true),
			e.getCommand(c, o, help{
				short: "Show one project",
				long:  `Show one project by id, with the ETAG that "projects update --if-match" takes.`,
				example: `  keyward projects get prj_01J00000000000000000000000
  keyward projects get prj_01J00000000000000000000000 --json | jq -r .name`,
			}),
			e.namedChangeCommand(c, o, help{
				short: "Create a project",
				long: `Create a project; its name is unique in the account. Then scope keys to it
with "keys create --project-id ID".`,
				example: `  keyward projects create --name web --description "the customer web app"
  keyward projects create --name mobile --json | jq -r .id`,
			}, false, false),
			e.namedChangeCommand(c, o, help{
				short: "Change a project; only the flags you give are changed",
				long: `Change a project with a partial update (PATCH): only the flags given are sent.
--clear-description removes the description. --if-match ETAG (from "projects
get") makes the update fail with HTTP 412 if the project changed in the
meantime.`,
				example: `  keyward projects update prj_01J00000000000000000000000 --name "web (legacy)"
  keyward projects update prj_01J00000000000000000000000 --clear-description`,
			}, true, false),
			e.deleteCommand(c, o, help{
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

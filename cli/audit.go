package cli

import (
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/client"
)

// The audit log: one event per change, read-only.

// printAuditList writes audit events as a table, one row each, with the
// names of the fields each changed (--json shows before and after).
func printAuditList(w io.Writer, events []client.AuditEvent) error {
	return printTable(w, events, []string{"TIME", "ACTION", "TARGET", "ACTOR", "CHANGED", "ID"},
		func(ev *client.AuditEvent) []string {
			fields := make([]string, 0, len(ev.Changes))
			for f := range ev.Changes {
				fields = append(fields, f)
			}
			sort.Strings(fields)
			return []string{timeText(ev.CreatedAt), ev.Action, orText(ev.Target.ID, ev.Target.Type),
				auditActorText(&ev.Actor), strings.Join(fields, ","), ev.ID}
		})
}

// auditActorText names who made a change: the key's id, or "system" for
// keyward admin.
func auditActorText(a *client.AuditRef) string {
	if a.ID == "" {
		return orText(a.Type, "-")
	}
	return a.ID
}

func (e *env) auditCommand() *cobra.Command {
	o := &object[client.AuditEvent]{noun: "audit event", plural: "audit events", arg: "ID", member: "id",
		id: func(ev *client.AuditEvent) string { return ev.ID }, table: printAuditList}
	p := &client.AuditListParams{}
	return e.clientGroup("audit", help{
		short: "Read the audit log of an account on a running keyward server",
		long: clientLong(`Read the audit log of an account: one event for every change, with who made it
(the management key, or "system" for keyward admin), what it changed (before
and after, never a secret), and the request's id, address and user agent. The
log is append-only. These commands need audit:read.`, ""),
		example: `  keyward audit list --target-id key_01J00000000000000000000000
  keyward audit list --action key.revoked --since 24h
  keyward audit list --actor-id key_01J00000000000000000000000 --all --json | jq '.data[].changes'`,
	}, func(c *connFlags) []*cobra.Command {
		return []*cobra.Command{
			listCommand(e, c, o, help{
				short: "List audit events, newest first",
				long: `List audit events, newest first, one page at a time (25 unless --limit). When
there are more, a hint on stderr names the --starting-after to use; --all
follows the pages to the end.

The table shows each event's time, action, target, actor and the names of the
fields it changed; --json prints the server's events with every change's
before and after.

--since and --until take an RFC 3339 time (2030-01-02T15:04:05Z) or a
duration back from now (90m, 24h, 7d); --since includes its time, --until
does not. Actions are such as key.created, key.updated, key.revoked,
key.rotated, key.deleted, management_key.created, user.updated,
project.deleted, catalog_resource.updated.`,
				example: `  keyward audit list
  keyward audit list --target-id key_01J00000000000000000000000
  keyward audit list --action key.revoked --since 7d --until 24h
  keyward audit list --actor-id key_01J00000000000000000000000 --all --json | jq -r '.data[] | .created_at + " " + .action'`,
			}, &cursor{&p.Limit, &p.StartingAfter, &p.EndingBefore},
				func(r *remote) pages[client.AuditEvent] { return r.AuditEventsPager(p, r.capture()...) },
				textFilter("target-id", "only events about this object (key_…, usr_…, prj_…, a role's name …)", &p.TargetID),
				textFilter("actor-id", "only events of changes made with this management key", &p.ActorID),
				textFilter("action", "only events of this action, such as key.revoked", &p.Action),
				sinceFilter("since", "only events at or after this time: RFC 3339, or a duration ago such as 24h or 7d", &p.Since),
				sinceFilter("until", "only events before this time: RFC 3339, or a duration ago such as 1h", &p.Until),
			),
		}
	})
}

package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/rivo/uniseg"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// The tables are drawn from the client's types, the wire types of package
// api; --json prints the server's bytes.

// printJSON writes the server's JSON indented, with a final newline.
func printJSON(w io.Writer, raw []byte) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return fmt.Errorf("the server's answer is not JSON: %w", err)
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// printSecret shows a secret once, set apart so it is hard to miss and easy
// to copy.
func printSecret(w io.Writer, label, secret string) {
	fmt.Fprintf(w, "%s (shown once: store it now, keyward cannot show it again):\n\n    %s\n\n", label, secret)
}

// printKey writes an API key as a two-column table.
func printKey(w io.Writer, k *client.Key) error {
	return printKeyRows(w, k.ID, &k.KeyCommon, [][2]string{
		{"PROJECT", projectText(k.ProjectID)},
		{"MODE", string(k.PermissionMode)},
		{"SCOPES", scopesText(k.Scopes)},
		{"ROLES", listText(k.Roles)},
		{"RECOVERABLE", yesNo(k.Recoverable)},
		{"RATE LIMIT", rateLimitText(k.RateLimit)},
		{"CREDITS", creditsText(k.Credits)},
	})
}

// printManagementKey writes a management key as a two-column table.
func printManagementKey(w io.Writer, k *client.ManagementKey) error {
	return printKeyRows(w, k.ID, &k.KeyCommon, [][2]string{
		{"OPERATOR", yesNo(k.Operator)},
		{"PERMISSIONS", listText(k.Permissions)},
	})
}

// printKeyRows writes what every key shows around the rows of its kind.
func printKeyRows(w io.Writer, id string, k *client.KeyCommon, kindRows [][2]string) error {
	rows := [][2]string{
		{"ID", id},
		{"NAME", k.Name},
		{"DESCRIPTION", orDash(k.Description)},
		{"STATUS", string(k.Status)},
		{"START", k.Start},
		{"LAST4", k.Last4},
		{"OWNER", ownerText(&k.Owner)},
	}
	rows = append(rows, kindRows...)
	rows = append(rows,
		[2]string{"EXPIRES", timeOr(k.ExpiresAt, "never")},
		[2]string{"METADATA", metadataText(k.Metadata)},
		[2]string{"IP ALLOWLIST", ipText(k.IPAllowlist)},
		[2]string{"CREATED", timeText(k.CreatedAt)},
		[2]string{"UPDATED", timeText(k.UpdatedAt)},
		[2]string{"LAST USED", timeOr(k.LastUsedAt, "never")},
		[2]string{"ROTATED", timeOr(k.RotatedAt, "never")},
		[2]string{"ETAG", k.ETag},
	)
	return printRows(w, rows)
}

// printKeyList writes API keys as a table, one row each.
func printKeyList(w io.Writer, keys []client.Key) error {
	return printTable(w, keys, []string{"ID", "NAME", "STATUS", "OWNER", "MODE", "PROJECT", "START", "EXPIRES", "LAST USED", "CREATED"},
		func(k *client.Key) []string {
			return []string{k.ID, k.Name, string(k.Status), ownerShort(&k.Owner), orText(string(k.PermissionMode), "-"), projectText(k.ProjectID),
				k.Start, timeOr(k.ExpiresAt, "never"), timeOr(k.LastUsedAt, "never"), timeText(k.CreatedAt)}
		})
}

// printManagementKeyList writes management keys as a table, one row each,
// with the number of permissions each holds.
func printManagementKeyList(w io.Writer, keys []client.ManagementKey) error {
	return printTable(w, keys, []string{"ID", "NAME", "STATUS", "OPERATOR", "PERMISSIONS", "START", "EXPIRES", "LAST USED", "CREATED"},
		func(k *client.ManagementKey) []string {
			return []string{k.ID, k.Name, string(k.Status), yesNo(k.Operator), fmt.Sprint(len(k.Permissions)),
				k.Start, timeOr(k.ExpiresAt, "never"), timeOr(k.LastUsedAt, "never"), timeText(k.CreatedAt)}
		})
}

// printTable writes objects as a table under header, one row each; every
// cell is kept on one line and cut to maxCellWidth columns, so that a long
// name cannot push the other columns past the edge of the terminal (get
// and --json show every value whole).
func printTable[T any](w io.Writer, items []T, header []string, row func(*T) []string) error {
	rows := [][]string{header}
	for i := range items {
		cells := row(&items[i])
		for i := range cells {
			cells[i] = truncateCell(cell(cells[i]), maxCellWidth)
		}
		rows = append(rows, cells)
	}
	return writeColumns(w, rows)
}

// printVerify writes a verification result: the code, then what the server
// said about the key (nothing for an unknown key).
func printVerify(w io.Writer, v *client.VerifyResult) error {
	rows := [][2]string{{"CODE", string(v.Code)}}
	if v.KeyID != "" {
		rows = append(rows,
			[2]string{"KEY", v.KeyID},
			[2]string{"NAME", v.Name},
			[2]string{"ACCOUNT", v.AccountID},
			[2]string{"OWNER", ownerText(&v.Owner)},
			[2]string{"PROJECT", projectText(v.ProjectID)},
			[2]string{"MODE", orText(string(v.PermissionMode), "-")},
			[2]string{"SCOPES", scopesText(v.Scopes)},
			[2]string{"ROLES", listText(v.Roles)},
			[2]string{"EXPIRES", timeOr(v.ExpiresAt, "never")},
			[2]string{"METADATA", metadataText(v.Metadata)},
		)
		if v.CreditsRemaining != nil {
			rows = append(rows, [2]string{"CREDITS", fmt.Sprint(*v.CreditsRemaining)})
		}
	}
	return printRows(w, rows)
}

// printRows writes a two-column table: a label and a value per row.
func printRows(w io.Writer, rows [][2]string) error {
	lines := make([][]string, len(rows))
	for i, r := range rows {
		lines[i] = []string{r[0], cell(r[1])}
	}
	return writeColumns(w, lines)
}

// maxCellWidth bounds the width of a cell of a list table, in terminal
// columns.
const maxCellWidth = 40

// writeColumns writes rows as aligned columns two spaces apart; the last
// cell of a row is not padded. Widths are measured in terminal columns
// (uniseg: East Asian wide characters and emoji take two, combining marks
// none), not in bytes or runes as text/tabwriter does.
func writeColumns(w io.Writer, rows [][]string) error {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], uniseg.StringWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-uniseg.StringWidth(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// truncateCell cuts s to at most width terminal columns, ending it with
// "…" when cut; it never splits a character (a grapheme cluster) in two.
func truncateCell(s string, width int) string {
	if uniseg.StringWidth(s) <= width {
		return s
	}
	var b strings.Builder
	used, state := 0, -1
	for s != "" {
		var cluster string
		var w int
		cluster, s, w, state = uniseg.FirstGraphemeClusterInString(s, state)
		if used+w > width-1 { // keep a column for "…"
			break
		}
		b.WriteString(cluster)
		used += w
	}
	return b.String() + "…"
}

// cell keeps a value on one line of its table: control characters (a
// newline in a description, a tab that would break the columns) are shown
// escaped.
func cell(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s
	}
	q := fmt.Sprintf("%q", s)
	return q[1 : len(q)-1]
}

func orDash(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func orText(s, empty string) string {
	if s == "" {
		return empty
	}
	return s
}

func ownerText(o *keyward.Owner) string {
	if o.Type == "" {
		return "-"
	}
	return strings.TrimSpace(strings.ReplaceAll(string(o.Type), "_", " ") + " " + o.ID)
}

// ownerShort names a key's owner in a list: "account", or the id of the
// user or service account (its prefix, usr_ or sa_, says which).
func ownerShort(o *keyward.Owner) string {
	if o.Type == "" {
		return "-"
	}
	if o.Type == keyward.OwnerAccount || o.ID == "" {
		return strings.ReplaceAll(string(o.Type), "_", " ")
	}
	return o.ID
}

// rateLimitText writes a rate limit as "100 per 1m", or none.
func rateLimitText(rl *keyward.RateLimit) string {
	if rl == nil {
		return "none"
	}
	return fmt.Sprintf("%d per %s", rl.Limit, lifetimeText(&rl.Window))
}

// creditsText writes the credits left and their refill, as "500 left,
// refilled to 1000 every 30d", or none.
func creditsText(c *keyward.Credits) string {
	if c == nil {
		return "none"
	}
	s := fmt.Sprintf("%d left", c.Remaining)
	if r := c.Refill; r != nil {
		s += fmt.Sprintf(", refilled to %d every %s", r.Amount, lifetimeText(&r.Interval))
	}
	return s
}

func projectText(p *string) string {
	if p == nil {
		return "all"
	}
	return *p
}

func listText(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ", ")
}

// scopesText writes scopes the way --scope takes them, separated by
// spaces: resource:access, or resource:access:target1,target2.
func scopesText(scopes []keyward.Scope) string {
	if len(scopes) == 0 {
		return "-"
	}
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = s.Resource + ":" + string(s.Access)
		if len(s.Targets) > 0 && !(len(s.Targets) == 1 && s.Targets[0] == "*") {
			parts[i] += ":" + strings.Join(s.Targets, ",")
		}
	}
	return strings.Join(parts, " ")
}

func metadataText(m map[string]json.RawMessage) string {
	if len(m) == 0 {
		return "-"
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(k)
		var v bytes.Buffer
		if err := json.Compact(&v, m[k]); err != nil {
			v.Reset()
			v.Write(m[k])
		}
		b.Write(name)
		b.WriteByte(':')
		b.Write(v.Bytes())
	}
	b.WriteByte('}')
	return b.String()
}

func ipText(l []string) string {
	if len(l) == 0 {
		return "any"
	}
	return strings.Join(l, ", ")
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func timeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return timeText(*t)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// lifetimeText writes a number of seconds the way the lifetime flags take
// it (90d, 1d12h, 45m, 30s), or none.
func lifetimeText(secs *int64) string {
	if secs == nil {
		return "none"
	}
	if *secs <= 0 {
		return fmt.Sprintf("%ds", *secs)
	}
	var b strings.Builder
	n := *secs
	for _, u := range []struct {
		size int64
		unit string
	}{{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if n >= u.size {
			fmt.Fprintf(&b, "%d%s", n/u.size, u.unit)
			n %= u.size
		}
	}
	return b.String()
}

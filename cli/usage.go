package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// Usage analytics: a key's verifications over time, drawn in the
// terminal, and the account's totals and busiest keys (usage:read).

// usageRangeFlags are the range flags both usage commands take.
type usageRangeFlags struct {
	granularity, from, to string
}

func (u *usageRangeFlags) register(f *pflag.FlagSet) {
	f.StringVar(&u.granularity, "granularity", "", "bucket width: minute, hour or day (default hour)")
	f.StringVar(&u.from, "from", "", "start of the range: RFC 3339, or a duration ago such as 6h or 7d (default: 24 hours before --to, 30 days with --granularity day)")
	f.StringVar(&u.to, "to", "", "end of the range: RFC 3339, or a duration ago such as 1h (default now)")
}

// params checks the flags (a usage error names the bad one) into p.
func (u *usageRangeFlags) params(p *client.UsageParams) error {
	if u.granularity != "" && !slices.Contains(keyward.Granularities(), keyward.Granularity(u.granularity)) {
		return usagef("--granularity must be minute, hour or day, not %q", u.granularity)
	}
	p.Granularity = u.granularity
	for _, t := range []struct {
		name, v string
		dst     *time.Time
	}{{"from", u.from, &p.From}, {"to", u.to, &p.To}} {
		if v := strings.TrimSpace(t.v); v != "" {
			if err := sinceFilter(t.name, "", t.dst).set("--"+t.name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *env) keysUsageCommand(c *connFlags) *cobra.Command {
	var rf usageRangeFlags
	cmd := &cobra.Command{
		Use:   "usage ID",
		Short: "Draw an API key's verifications over time, by outcome",
		Long: `Draw an API key's verifications over time in the terminal: the totals by
outcome (VALID, RATE_LIMITED, USAGE_EXCEEDED, REVOKED, DISABLED, EXPIRED, …),
then one bar per bucket (minute, hour or day; rows of 60 buckets labelled with
their first bucket's start, UTC) scaled to the busiest bucket. --json prints
the server's series: every bucket with its count per outcome.

Verifications show within a few seconds (the server writes usage every 2 s by
default). It needs the usage:read permission.`,
		Example: `  keyward keys usage key_01J00000000000000000000000
  keyward keys usage key_01J00000000000000000000000 --granularity minute --from 2h
  keyward keys usage key_01J00000000000000000000000 --granularity day --from 90d --json | jq '.buckets[] | [.start, .total]'`,
		Args: argOne("the key id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p client.UsageParams
			if err := rf.params(&p); err != nil {
				return err
			}
			return e.run(cmd, c, func(ctx context.Context, r *remote) error {
				s, err := r.KeyUsage(ctx, args[0], &p, r.capture()...)
				return show(e, r, s, err, printUsageSeries)
			})
		},
	}
	rf.register(cmd.Flags())
	return cmd
}

// outcomesText lists counts by outcome in keyward's order: "VALID 5,
// RATE_LIMITED 35", or "-" for none.
func outcomesText(m keyward.OutcomeCounts) string {
	var parts []string
	for _, o := range keyward.UsageOutcomes {
		if n := m[o]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", o, n))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// sparks are the bar heights of a drawn series, lowest first.
var sparks = []rune(" ▁▂▃▄▅▆▇█")

// usageRowWidth is the buckets drawn on one line.
const usageRowWidth = 60

// printUsageSeries draws a series: its totals, then rows of bars.
func printUsageSeries(w io.Writer, s *client.UsageSeries) error {
	var peak int64
	var peakAt time.Time
	for _, b := range s.Buckets {
		if b.Total > peak {
			peak, peakAt = b.Total, b.Start
		}
	}
	rows := [][2]string{
		{"KEY", s.KeyID},
		{"RANGE", fmt.Sprintf("%s to %s, by %s", timeText(s.From), timeText(s.To), s.Granularity)},
		{"TOTAL", strconv.FormatInt(s.Total, 10)},
		{"OUTCOMES", outcomesText(s.Outcomes)},
	}
	if peak > 0 {
		rows = append(rows, [2]string{"PEAK", fmt.Sprintf("%d in the %s from %s", peak, s.Granularity, timeText(peakAt))})
	}
	if err := printRows(w, rows); err != nil {
		return err
	}
	layout := "2006-01-02T15:04Z"
	if s.Granularity == keyward.GranularityDay {
		layout = "2006-01-02"
	}
	var b strings.Builder
	b.WriteByte('\n')
	for i := 0; i < len(s.Buckets); i += usageRowWidth {
		row := s.Buckets[i:min(i+usageRowWidth, len(s.Buckets))]
		fmt.Fprintf(&b, "%-17s |", row[0].Start.UTC().Format(layout))
		for _, bk := range row {
			h := 0
			if bk.Total > 0 {
				// Any verification shows; the busiest bucket is full.
				h = 1 + int((bk.Total*int64(len(sparks)-2)+peak-1)/peak)
				h = min(h, len(sparks)-1)
			}
			b.WriteRune(sparks[h])
		}
		b.WriteString("|\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (e *env) usageCommand() *cobra.Command {
	var (
		rf      usageRangeFlags
		top     int
		groupBy string
	)
	var conn *connFlags
	cmd := e.clientGroup("usage", help{
		short: "Show an account's verifications: totals and the busiest keys",
		long: clientLong(`Show the verifications of an account over a range (the last 24 hours unless
--from and --to say otherwise): the total, the count of each outcome, and the
busiest keys (--top, 10 by default), or the busiest outcomes, owners or
projects (--group-by). --json prints the server's answer. It needs the
usage:read permission; "keyward keys usage ID" draws one key over time.`, ""),
		example: `  keyward usage --top 10
  keyward usage --group-by owner --from 7d --granularity day
  keyward usage --top 100 --json | jq -r '.groups[] | [.value, .total] | @tsv'`,
	}, func(c *connFlags) []*cobra.Command { conn = c; return nil })
	f := cmd.Flags()
	rf.register(f)
	f.IntVar(&top, "top", keyward.DefaultUsageLimit, fmt.Sprintf("how many groups to list, 1 to %d", keyward.MaxUsageLimit))
	f.StringVar(&groupBy, "group-by", "key", "what to group by: key, outcome, owner or project")
	cmd.Args = argsNone()
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		p := client.UsageParams{GroupBy: groupBy, Limit: top}
		if err := rf.params(&p); err != nil {
			return err
		}
		if !slices.Contains(keyward.UsageGroups(), keyward.UsageGroup(groupBy)) {
			return usagef("--group-by must be key, outcome, owner or project, not %q", groupBy)
		}
		if top < 1 || top > keyward.MaxUsageLimit {
			return usagef("--top must be from 1 to %d", keyward.MaxUsageLimit)
		}
		return e.run(cmd, conn, func(ctx context.Context, r *remote) error {
			s, err := r.AccountUsage(ctx, &p, r.capture()...)
			return show(e, r, s, err, printUsageSummary)
		})
	}
	return cmd
}

// printUsageSummary writes the account's totals, then its groups.
func printUsageSummary(w io.Writer, s *client.UsageSummary) error {
	if err := printRows(w, [][2]string{
		{"RANGE", fmt.Sprintf("%s to %s, by %s", timeText(s.From), timeText(s.To), s.Granularity)},
		{"TOTAL", strconv.FormatInt(s.Total, 10)},
		{"OUTCOMES", outcomesText(s.Outcomes)},
	}); err != nil {
		return err
	}
	if len(s.Groups) == 0 {
		_, err := fmt.Fprintln(w, "\nno verifications in the range")
		return err
	}
	fmt.Fprintln(w)
	return printTable(w, s.Groups, []string{strings.ToUpper(string(s.GroupBy)), "TOTAL", "VALID", "OUTCOMES"},
		func(g *client.UsageGroup) []string {
			return []string{orText(g.Value, "(none)"), strconv.FormatInt(g.Total, 10), strconv.FormatInt(g.Outcomes["VALID"], 10), outcomesText(g.Outcomes)}
		})
}

package keyward

import (
	"context"
	"fmt"
	"time"
)

// Usage analytics: every verification of a key is counted by outcome in
// minute buckets, rolled up into hour and day buckets as it is written
// (docs/api.md, "Usage").

// Granularity is the width of a usage bucket.
type Granularity string

const (
	GranularityMinute Granularity = "minute"
	GranularityHour   Granularity = "hour"
	GranularityDay    Granularity = "day"
)

// Granularities lists the granularities, finest first.
func Granularities() []Granularity {
	return []Granularity{GranularityMinute, GranularityHour, GranularityDay}
}

// Duration returns the width of a bucket (0 for an unknown granularity).
func (g Granularity) Duration() time.Duration {
	switch g {
	case GranularityMinute:
		return time.Minute
	case GranularityHour:
		return time.Hour
	case GranularityDay:
		return 24 * time.Hour
	}
	return 0
}

// Start returns the start of the bucket holding t (UTC).
func (g Granularity) Start(t time.Time) time.Time {
	d := g.Duration()
	if d == 0 {
		return t.UTC()
	}
	return t.UTC().Truncate(d)
}

// MaxUsageBuckets bounds the buckets one series may span (a 400 beyond):
// 24 hours of minutes, 60 days of hours, about 4 years of days.
const MaxUsageBuckets = 1440

// UsageOutcomes lists the outcomes counted for a key, in a stable order
// (NOT_FOUND names no key, so it is never counted).
var UsageOutcomes = [NumUsageOutcomes]VerifyCode{
	VerifyValid, VerifyRateLimited, VerifyUsageExceeded, VerifyRevoked, VerifyDisabled, VerifyExpired,
	VerifyRotated, VerifyOwnerInactive, VerifyForbiddenIP, VerifyWrongProject, VerifyInsufficientPermissions,
}

// NumUsageOutcomes is the number of outcomes counted per key.
const NumUsageOutcomes = 11

// UsageIndex returns the position of c in UsageOutcomes, or -1 for an
// outcome that is not counted. It allocates nothing (the hot path).
func (c VerifyCode) UsageIndex() int {
	switch c {
	case VerifyValid:
		return 0
	case VerifyRateLimited:
		return 1
	case VerifyUsageExceeded:
		return 2
	case VerifyRevoked:
		return 3
	case VerifyDisabled:
		return 4
	case VerifyExpired:
		return 5
	case VerifyRotated:
		return 6
	case VerifyOwnerInactive:
		return 7
	case VerifyForbiddenIP:
		return 8
	case VerifyWrongProject:
		return 9
	case VerifyInsufficientPermissions:
		return 10
	}
	return -1
}

// UsageCount is what the write-behind adds to one minute bucket: the
// verifications of one key with one outcome. The key's account, owner and
// project are carried along (the buckets are grouped by them) so reading
// usage never joins the keys.
type UsageCount struct {
	AccountID string
	KeyID     string
	Owner     Owner
	ProjectID string
	Outcome   VerifyCode
	Minute    time.Time // start of the minute bucket
	Count     int64
}

// UsageGroup is what the account's usage is grouped by.
type UsageGroup string

const (
	GroupByKey     UsageGroup = "key"
	GroupByOutcome UsageGroup = "outcome"
	GroupByOwner   UsageGroup = "owner"
	GroupByProject UsageGroup = "project"
)

// UsageGroups lists the groupings.
func UsageGroups() []UsageGroup {
	return []UsageGroup{GroupByKey, GroupByOutcome, GroupByOwner, GroupByProject}
}

// UsageQuery selects buckets of one granularity starting in [From, To)
// of one account, and of one key when KeyID is set, or of the keys KeyIDs
// lists when it is not empty (a dashboard page's keys, read at once).
type UsageQuery struct {
	AccountID   string
	KeyID       string
	KeyIDs      []string
	Granularity Granularity
	From, To    time.Time
}

// UsageRow is a count read back: a bucket's start (series) or a group's
// value (totals: a key id, an owner as type:id, a project id, "" for keys
// in no project or of no owner), with an outcome.
type UsageRow struct {
	Start   time.Time
	Group   string
	Outcome VerifyCode
	Count   int64
}

// UsageRetention is how long buckets of each granularity are kept.
type UsageRetention struct {
	Minutes, Hours, Days time.Duration
}

// DefaultUsageRetention keeps minutes 48 hours, hours 90 days, days 2 years.
var DefaultUsageRetention = UsageRetention{Minutes: 48 * time.Hour, Hours: 90 * 24 * time.Hour, Days: 2 * 366 * 24 * time.Hour}

// Of returns the retention of granularity g.
func (r UsageRetention) Of(g Granularity) time.Duration {
	switch g {
	case GranularityMinute:
		return r.Minutes
	case GranularityHour:
		return r.Hours
	}
	return r.Days
}

// UsageStore keeps the usage buckets. On SQLite they live in a file of
// their own beside the keys' (the write-behind's commits never empty the
// page cache of the connections that read keys); on PostgreSQL in the
// same database, upserted in batches so counts of every node add up.
type UsageStore interface {
	// AddUsage adds counts to their minute buckets, in one transaction.
	// The hour and day buckets holding them include them from then on:
	// the store rolls minutes up into them (the SQL store once a minute,
	// reading hours and days adds the minutes not yet rolled up).
	AddUsage(ctx context.Context, counts []UsageCount) error
	// UsageSeries returns the counts per bucket start and outcome.
	UsageSeries(ctx context.Context, q *UsageQuery) ([]UsageRow, error)
	// UsageTotals returns the counts of the range per group value and
	// outcome. By key with a limit above 0, only the rows of the limit
	// keys of most counts (on a tie, the smaller id) are returned.
	UsageTotals(ctx context.Context, q *UsageQuery, by UsageGroup, limit int) ([]UsageRow, error)
	// PurgeUsage deletes the buckets of granularity g that start before t.
	PurgeUsage(ctx context.Context, g Granularity, before time.Time) error
}

// Usage read back (GET /v1/keys/{id}/usage, GET /v1/usage).

// OutcomeCounts are counts by outcome; outcomes with no count are absent.
type OutcomeCounts map[VerifyCode]int64

// UsageBucket is one bucket of a key's series.
type UsageBucket struct {
	Start    time.Time
	Total    int64
	Outcomes OutcomeCounts
}

// UsageSeries is a key's usage over a range: every bucket of the range,
// in order, those without verifications included (zero).
type UsageSeries struct {
	KeyID       string
	Granularity Granularity
	From, To    time.Time
	Total       int64
	Outcomes    OutcomeCounts
	Buckets     []UsageBucket
}

// UsageGroupTotal is the usage of one group (a key, an outcome, an owner
// as type:id, a project id; "" for keys of no project).
type UsageGroupTotal struct {
	Value    string
	Total    int64
	Outcomes OutcomeCounts
}

// UsageSummary is the account's usage over a range: its totals and its
// busiest groups, most verifications first.
type UsageSummary struct {
	Granularity Granularity
	From, To    time.Time
	GroupBy     UsageGroup
	Total       int64
	Outcomes    OutcomeCounts
	Groups      []UsageGroupTotal
}

// Usage summary limits: the groups an answer lists.
const (
	DefaultUsageLimit = 10
	MaxUsageLimit     = 100
)

// UsageRange is the range of a usage read before defaults: zero values
// are absent.
type UsageRange struct {
	Granularity Granularity
	From, To    time.Time
}

// Resolve applies the defaults of a usage read (granularity hour; to now;
// from 24 hours before the end of to's bucket, 30 days for days) and aligns the range on the
// granularity's buckets: from down to the start of its bucket, to up to
// the end of its, so the bucket holding "to" is in. It reports the query
// parameter at fault and why for an unknown granularity, an empty or
// reversed range, or one of more than MaxUsageBuckets buckets.
func (r UsageRange) Resolve(now time.Time) (q UsageQuery, param, problem string) {
	g := r.Granularity
	if g == "" {
		g = GranularityHour
	}
	d := g.Duration()
	if d == 0 {
		return q, "granularity", "must be one of minute, hour, day"
	}
	to := r.To
	if to.IsZero() {
		to = now
	}
	q.Granularity, q.To = g, g.Start(to)
	if q.To.Before(to) {
		q.To = q.To.Add(d)
	}
	from := r.From
	if from.IsZero() {
		from = q.To.Add(-24 * time.Hour)
		if g == GranularityDay {
			from = q.To.Add(-30 * 24 * time.Hour)
		}
	}
	if !from.Before(to) {
		return q, "from", "must be before to"
	}
	q.From = g.Start(from)
	if n := q.To.Sub(q.From) / d; n > MaxUsageBuckets {
		return q, "from", fmt.Sprintf("the range spans %d %s buckets; at most %d (use a coarser granularity)", n, g, MaxUsageBuckets)
	}
	return q, "", ""
}

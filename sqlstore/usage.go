package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// The usage buckets (keyward.UsageStore): one table, usage_buckets, with
// a row per granularity, key, bucket start and outcome. The write-behind
// adds each interval's counts to the minute, hour and day rows at once
// (the roll-up), in batches of multi-row upserts sorted by primary key, so
// nodes writing the same rows at once never deadlock and their counts add.

// usageBatchRows is the number of rows of one upsert statement.
const usageBatchRows = 200

// SetUsageDB puts the usage buckets on handles of their own (SQLite's
// usage file); by default they share the store's.
func (s *Store) SetUsageDB(write, read *sql.DB) { s.usageWrite, s.usageRead = write, read }

// UsageWriteDB returns the handle the usage buckets are written on.
func (s *Store) UsageWriteDB() *sql.DB {
	if s.usageWrite != nil {
		return s.usageWrite
	}
	return s.write
}

func (s *Store) usageReadDB() *sql.DB {
	if s.usageRead != nil {
		return s.usageRead
	}
	return s.read
}

type bucketRow struct {
	g       keyward.Granularity
	start   int64
	keyID   string
	outcome keyward.VerifyCode
	c       *keyward.UsageCount
	count   int64
}

func compareBucketRows(a, b bucketRow) int {
	return cmp.Or(cmp.Compare(a.g, b.g), cmp.Compare(a.keyID, b.keyID), cmp.Compare(a.start, b.start), cmp.Compare(a.outcome, b.outcome))
}

// AddUsage implements keyward.UsageStore.
func (s *Store) AddUsage(ctx context.Context, counts []keyward.UsageCount) error {
	if len(counts) == 0 {
		return nil
	}
	type pk struct {
		g       keyward.Granularity
		start   int64
		keyID   string
		outcome keyward.VerifyCode
	}
	sum := map[pk]int{}
	var rows []bucketRow
	for i := range counts {
		c := &counts[i]
		if c.Count <= 0 || c.Outcome.UsageIndex() < 0 {
			continue
		}
		for _, g := range keyward.Granularities() {
			k := pk{g, ms(g.Start(c.Minute)), c.KeyID, c.Outcome}
			if j, ok := sum[k]; ok {
				rows[j].count += c.Count
				continue
			}
			sum[k] = len(rows)
			rows = append(rows, bucketRow{g: g, start: k.start, keyID: c.KeyID, outcome: c.Outcome, c: c, count: c.Count})
		}
	}
	slices.SortFunc(rows, compareBucketRows)
	op, cancel := s.bound(ctx)
	defer cancel()
	var err error
	for attempt := 1; attempt <= maxWriteAttempts; attempt++ {
		err = s.outcome(ctx, op, s.addUsageOnce(op, rows))
		if err == nil || !s.dialect.IsRetryable(err) {
			break
		}
	}
	return err
}

func (s *Store) addUsageOnce(ctx context.Context, rows []bucketRow) error {
	tx, err := s.UsageWriteDB().BeginTx(ctx, nil)
	if err != nil {
		return s.classify(err)
	}
	defer tx.Rollback()
	for len(rows) > 0 {
		n := min(len(rows), usageBatchRows)
		var b strings.Builder
		b.WriteString(`INSERT INTO usage_buckets (granularity, bucket, key_id, outcome, account_id, owner_type, owner_id, project_id, count) VALUES `)
		args := make([]any, 0, n*9)
		for i, r := range rows[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, string(r.g), r.start, r.keyID, string(r.outcome), r.c.AccountID,
				string(r.c.Owner.Type), r.c.Owner.ID, r.c.ProjectID, r.count)
		}
		b.WriteString(` ON CONFLICT (granularity, key_id, bucket, outcome) DO UPDATE SET count = usage_buckets.count + excluded.count`)
		if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
			return s.classify(err)
		}
		rows = rows[n:]
	}
	return s.classify(tx.Commit())
}

// UsageSeries implements keyward.UsageStore.
func (s *Store) UsageSeries(ctx context.Context, q *keyward.UsageQuery) ([]keyward.UsageRow, error) {
	where, args := usageWhere(q)
	return s.usageQuery(ctx, `SELECT bucket, '', outcome, SUM(count) FROM usage_buckets WHERE `+where+
		` GROUP BY bucket, outcome ORDER BY bucket, outcome`, args)
}

// UsageTotals implements keyward.UsageStore.
func (s *Store) UsageTotals(ctx context.Context, q *keyward.UsageQuery, by keyward.UsageGroup) ([]keyward.UsageRow, error) {
	var col string
	switch by {
	case keyward.GroupByKey:
		col = "key_id"
	case keyward.GroupByOutcome:
		col = "outcome"
	case keyward.GroupByOwner:
		col = "CASE WHEN owner_id = '' THEN '' ELSE owner_type || ':' || owner_id END"
	case keyward.GroupByProject:
		col = "project_id"
	default:
		return nil, keyward.Internal(errors.New("unknown usage grouping " + string(by)))
	}
	where, args := usageWhere(q)
	return s.usageQuery(ctx, `SELECT 0, `+col+`, outcome, SUM(count) FROM usage_buckets WHERE `+where+
		` GROUP BY `+col+`, outcome ORDER BY 2, outcome`, args)
}

func usageWhere(q *keyward.UsageQuery) (string, []any) {
	where := []string{"granularity = ?", "account_id = ?", "bucket >= ?", "bucket < ?"}
	args := []any{string(q.Granularity), q.AccountID, ms(q.From), ms(q.To)}
	if q.KeyID != "" {
		where = append(where, "key_id = ?")
		args = append(args, q.KeyID)
	}
	if len(q.KeyIDs) > 0 {
		where = append(where, "key_id IN (?"+strings.Repeat(", ?", len(q.KeyIDs)-1)+")")
		for _, id := range q.KeyIDs {
			args = append(args, id)
		}
	}
	return strings.Join(where, " AND "), args
}

func (s *Store) usageQuery(ctx context.Context, query string, args []any) ([]keyward.UsageRow, error) {
	op, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.usageReadDB().QueryContext(op, s.q(query), args...)
	if err != nil {
		return nil, s.outcome(ctx, op, err)
	}
	defer rows.Close()
	var out []keyward.UsageRow
	for rows.Next() {
		var (
			r       keyward.UsageRow
			start   int64
			outcome string
		)
		if err := rows.Scan(&start, &r.Group, &outcome, &r.Count); err != nil {
			return nil, s.outcome(ctx, op, err)
		}
		r.Start, r.Outcome = fromMs(start), keyward.VerifyCode(outcome)
		out = append(out, r)
	}
	return out, s.outcome(ctx, op, rows.Err())
}

// PurgeUsage implements keyward.UsageStore.
func (s *Store) PurgeUsage(ctx context.Context, g keyward.Granularity, before time.Time) error {
	op, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.UsageWriteDB().ExecContext(op, s.q(`DELETE FROM usage_buckets WHERE granularity = ? AND bucket < ?`), string(g), ms(before))
	return s.outcome(ctx, op, err)
}

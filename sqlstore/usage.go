package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// The usage buckets (keyward.UsageStore): one table, usage_buckets, with
// a row per granularity, bucket start, key and outcome, its primary key in
// that order so that the rows of one write-behind (every active key's
// current minute) are together at the end of the table.
//
// The write-behind adds minute rows only; hours and days are rolled up
// from them once a minute. usage_rollup.upto is the start of the first
// minute not yet added to its hour and day: the first write of a later
// minute folds the minutes before it in with one INSERT … SELECT, in the
// same transaction, and a late count (a minute already folded, from a
// node whose clock lags or counts that waited through an outage) goes to
// its minute, hour and day at once. Reading hours or days adds the
// minutes from upto on. Every write takes usage_rollup's row first (a row
// lock on PostgreSQL; SQLite has one writer), so a fold and a write never
// miss each other, and rows are written sorted by primary key, so nodes
// writing the same rows never deadlock and their counts add.

// The account's usage is kept twice: per key in usage_buckets, and summed
// over its keys in usage_account_buckets (granularity, bucket, account,
// outcome). Both are written in the same transaction (the write-behind's
// counts summed per account in Go), rolled up by the same fold and purged
// by the same delete, so an account's row is at every moment the sum of
// its keys' rows. A series of the whole account reads the few account rows
// of its range rather than a row per key and bucket.

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
	return cmp.Or(cmp.Compare(a.g, b.g), cmp.Compare(a.start, b.start), cmp.Compare(a.keyID, b.keyID), cmp.Compare(a.outcome, b.outcome))
}

// AddUsage implements keyward.UsageStore.
func (s *Store) AddUsage(ctx context.Context, counts []keyward.UsageCount) error {
	var latest int64
	for i := range counts {
		if c := &counts[i]; c.Count > 0 && c.Outcome.UsageIndex() >= 0 {
			latest = max(latest, ms(keyward.GranularityMinute.Start(c.Minute)))
		}
	}
	if latest == 0 {
		return nil
	}
	op, cancel := s.bound(ctx)
	defer cancel()
	var err error
	for attempt := 1; attempt <= maxWriteAttempts; attempt++ {
		err = s.outcome(ctx, op, s.addUsageOnce(op, counts, latest))
		if err == nil || !s.dialect.IsRetryable(err) {
			break
		}
	}
	return err
}

// bucketRows are the rows counts add to: each count's minute, and its hour
// and day too when its minute was already rolled up (before upto).
func bucketRows(counts []keyward.UsageCount, upto int64) []bucketRow {
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
			if g != keyward.GranularityMinute && ms(keyward.GranularityMinute.Start(c.Minute)) >= upto {
				break
			}
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
	return rows
}

const bucketColumns = `granularity, bucket, key_id, outcome, account_id, owner_type, owner_id, project_id, count`

const bucketConflict = ` ON CONFLICT (granularity, bucket, key_id, outcome) DO UPDATE SET count = usage_buckets.count + excluded.count`

const accountBucketColumns = `account_id, granularity, bucket, outcome, count`

const accountBucketConflict = ` ON CONFLICT (account_id, granularity, bucket, outcome) DO UPDATE SET count = usage_account_buckets.count + excluded.count`

// accountRow is a row of usage_account_buckets.
type accountRow struct {
	accountID string
	g         keyward.Granularity
	start     int64
	outcome   keyward.VerifyCode
	count     int64
}

// accountRows sums the key rows per account, granularity, bucket and
// outcome: what the same write adds to usage_account_buckets, sorted by
// its primary key.
func accountRows(rows []bucketRow) []accountRow {
	type pk struct {
		accountID string
		g         keyward.Granularity
		start     int64
		outcome   keyward.VerifyCode
	}
	at := map[pk]int{}
	var out []accountRow
	for _, r := range rows {
		k := pk{r.c.AccountID, r.g, r.start, r.outcome}
		if i, ok := at[k]; ok {
			out[i].count += r.count
			continue
		}
		at[k] = len(out)
		out = append(out, accountRow{accountID: k.accountID, g: k.g, start: k.start, outcome: k.outcome, count: r.count})
	}
	slices.SortFunc(out, func(a, b accountRow) int {
		return cmp.Or(cmp.Compare(a.accountID, b.accountID), cmp.Compare(a.g, b.g), cmp.Compare(a.start, b.start), cmp.Compare(a.outcome, b.outcome))
	})
	return out
}

// rollupMark reads usage_rollup.upto in tx, locking its row until tx ends.
func (s *Store) rollupMark(ctx context.Context, tx *sql.Tx) (int64, error) {
	var upto int64
	err := tx.QueryRowContext(ctx, `SELECT upto FROM usage_rollup WHERE id = 1`+s.dialect.LockClause()).Scan(&upto)
	return upto, s.classify(err)
}

// rollUp adds the minutes [upto, to) to their hours and days and moves
// usage_rollup.upto to to, in tx (which holds the row: rollupMark). It
// returns the new mark; nothing changes when to is not after upto.
func (s *Store) rollUp(ctx context.Context, tx *sql.Tx, upto, to int64) (int64, error) {
	if to <= upto {
		return upto, nil
	}
	for _, g := range keyward.Granularities()[1:] {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO usage_buckets (`+bucketColumns+`)
			SELECT '`+string(g)+`', `+bucketOf(g)+`, key_id, outcome, MAX(account_id), MAX(owner_type), MAX(owner_id), MAX(project_id), SUM(count)
			FROM usage_buckets WHERE granularity = 'minute' AND bucket >= ? AND bucket < ?
			GROUP BY `+bucketOf(g)+`, key_id, outcome
			ORDER BY 2, 3, 4`+bucketConflict), upto, to); err != nil {
			return upto, s.classify(err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO usage_account_buckets (`+accountBucketColumns+`)
			SELECT account_id, '`+string(g)+`', `+bucketOf(g)+`, outcome, SUM(count)
			FROM usage_account_buckets WHERE granularity = 'minute' AND bucket >= ? AND bucket < ?
			GROUP BY account_id, `+bucketOf(g)+`, outcome
			ORDER BY 1, 3, 4`+accountBucketConflict), upto, to); err != nil {
			return upto, s.classify(err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE usage_rollup SET upto = ? WHERE id = 1`), to); err != nil {
		return upto, s.classify(err)
	}
	return to, nil
}

// bucketOf is the SQL of the start of the bucket of granularity g that
// holds a minute row (UTC, as keyward.Granularity.Start).
func bucketOf(g keyward.Granularity) string {
	return "bucket - bucket % " + strconv.FormatInt(g.Duration().Milliseconds(), 10)
}

func (s *Store) addUsageOnce(ctx context.Context, counts []keyward.UsageCount, latest int64) error {
	tx, err := s.UsageWriteDB().BeginTx(ctx, nil)
	if err != nil {
		return s.classify(err)
	}
	defer tx.Rollback()
	upto, err := s.rollupMark(ctx, tx)
	if err != nil {
		return err
	}
	if upto, err = s.rollUp(ctx, tx, upto, latest); err != nil {
		return err
	}
	rows := bucketRows(counts, upto)
	accounts := accountRows(rows)
	if err := upsertRows(ctx, s, tx, `INSERT INTO usage_buckets (`+bucketColumns+`) VALUES `, bucketConflict, 9, rows,
		func(args []any, r bucketRow) []any {
			return append(args, string(r.g), r.start, r.keyID, string(r.outcome), r.c.AccountID,
				string(r.c.Owner.Type), r.c.Owner.ID, r.c.ProjectID, r.count)
		}); err != nil {
		return err
	}
	if err := upsertRows(ctx, s, tx, `INSERT INTO usage_account_buckets (`+accountBucketColumns+`) VALUES `, accountBucketConflict, 5, accounts,
		func(args []any, r accountRow) []any {
			return append(args, r.accountID, string(r.g), r.start, string(r.outcome), r.count)
		}); err != nil {
		return err
	}
	return s.classify(tx.Commit())
}

// upsertRows writes rows with insert (… VALUES) and conflict (ON
// CONFLICT …) in statements of usageBatchRows rows of cols columns each,
// the arguments of a row appended by args.
func upsertRows[R any](ctx context.Context, s *Store, tx *sql.Tx, insert, conflict string, cols int, rows []R, args func([]any, R) []any) error {
	tuple := "(?" + strings.Repeat(", ?", cols-1) + ")"
	for len(rows) > 0 {
		n := min(len(rows), usageBatchRows)
		var b strings.Builder
		b.WriteString(insert)
		vals := make([]any, 0, n*cols)
		for i, r := range rows[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(tuple)
			vals = args(vals, r)
		}
		b.WriteString(conflict)
		if _, err := tx.ExecContext(ctx, s.q(b.String()), vals...); err != nil {
			return s.classify(err)
		}
		rows = rows[n:]
	}
	return nil
}

// UsageSeries implements keyward.UsageStore. A series of the whole
// account (no key given) reads the account's rows.
func (s *Store) UsageSeries(ctx context.Context, q *keyward.UsageQuery) ([]keyward.UsageRow, error) {
	from, args := s.usageRows(q, false)
	return s.usageQuery(ctx, `SELECT bucket, '', outcome, SUM(count) FROM `+from+
		` GROUP BY bucket, outcome ORDER BY bucket, outcome`, args)
}

// UsageTotals implements keyward.UsageStore. The totals by outcome of the
// whole account read the account's rows. The busiest keys (by key, with a
// limit) are chosen in SQL, and their counts per outcome read through
// usage_buckets_key: the range's rows are still summed per key, but a
// million keys are no longer sent to Go and sorted there for ten.
func (s *Store) UsageTotals(ctx context.Context, q *keyward.UsageQuery, by keyward.UsageGroup, limit int) ([]keyward.UsageRow, error) {
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
	if by == keyward.GroupByKey && limit > 0 {
		// The range's keys summed and the limit busiest kept, ties by id
		// (bytewise, as Go compares them: PostgreSQL's collation may not).
		// A common table expression referred to once, in the key filter
		// of both halves of the rows (hours or days, and the minutes not
		// yet rolled up): computed once.
		keys, args := s.usageRows(q, true)
		with := `WITH top_keys (key_id) AS (SELECT key_id FROM ` + keys + ` GROUP BY key_id ORDER BY SUM(count) DESC, key_id` + s.bytewise() + ` LIMIT ?) `
		from, more := s.usageRowsOf(q, true, `SELECT key_id FROM top_keys`)
		return s.usageQuery(ctx, with+`SELECT 0, key_id, outcome, SUM(count) FROM `+from+
			` GROUP BY key_id, outcome ORDER BY 2, outcome`, append(append(args, limit), more...))
	}
	from, args := s.usageRows(q, by != keyward.GroupByOutcome)
	return s.usageQuery(ctx, `SELECT 0, `+col+`, outcome, SUM(count) FROM `+from+
		` GROUP BY `+col+`, outcome ORDER BY 2, outcome`, args)
}

// bytewise returns the collation that orders text as Go compares strings.
func (s *Store) bytewise() string {
	if s.dialect.Name() == "postgres" {
		return ` COLLATE "C"`
	}
	return "" // SQLite's default, BINARY
}

// usageRows returns the buckets q reads, as a table to select from: for
// minutes the minute rows; for hours and days their rows plus the minutes
// not yet rolled up into them (from usage_rollup.upto on), each put in its
// hour or day. q's range is aligned to its granularity, so a minute is in
// the range exactly when its hour or day is.
//
// Unless perKey is set, a query of no key reads the account's rows
// (usage_account_buckets: bucket, outcome and count only); otherwise, and
// for given keys, the keys' rows.
//
// The rows of given keys (a key's page, the 24 h column of a page of the
// key list) are read through usage_buckets_key. SQLite keeps no
// statistics, so its planner would rather walk the primary key's range of
// buckets, every key's rows of the range: over a second where a million
// keys were used that day (issue 13's benchmark, docs/performance.md).
// PostgreSQL's planner has statistics and needs no hint.
func (s *Store) usageRows(q *keyward.UsageQuery, perKey bool) (string, []any) {
	return s.usageRowsOf(q, perKey, "")
}

// usageRowsOf is usageRows, restricted to the keys a subquery without
// arguments returns when keysIn is set.
func (s *Store) usageRowsOf(q *keyward.UsageQuery, perKey bool, keysIn string) (string, []any) {
	byKey := q.KeyID != "" || len(q.KeyIDs) > 0 || keysIn != ""
	table, cols := "usage_buckets", ", key_id, outcome, owner_type, owner_id, project_id, count FROM "
	if !perKey && !byKey {
		table, cols = "usage_account_buckets", ", outcome, count FROM "
	}
	if byKey && s.dialect.Name() == "sqlite" {
		table += " INDEXED BY usage_buckets_key"
	}
	filter := " AND account_id = ? AND bucket >= ? AND bucket < ?"
	args := []any{q.AccountID, ms(q.From), ms(q.To)}
	if q.KeyID != "" {
		filter += " AND key_id = ?"
		args = append(args, q.KeyID)
	}
	if len(q.KeyIDs) > 0 {
		filter += " AND key_id IN (?" + strings.Repeat(", ?", len(q.KeyIDs)-1) + ")"
		for _, id := range q.KeyIDs {
			args = append(args, id)
		}
	}
	if keysIn != "" {
		filter += " AND key_id IN (" + keysIn + ")"
	}
	cols += table + " WHERE granularity = "
	src := "SELECT bucket" + cols + "?" + filter
	all := append([]any{string(q.Granularity)}, args...)
	if q.Granularity != keyward.GranularityMinute {
		src += " UNION ALL SELECT " + bucketOf(q.Granularity) + cols + "'minute'" + filter +
			" AND bucket >= (SELECT upto FROM usage_rollup WHERE id = 1)"
		all = append(all, args...)
	}
	return "(" + src + ") AS u", all
}

func (s *Store) usageQuery(ctx context.Context, query string, args []any) ([]keyward.UsageRow, error) {
	op, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.usageReadDB().QueryContext(op, s.q(query), s.dialect.PlanWith(args)...)
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

// PurgeUsage implements keyward.UsageStore. Minutes are rolled up into
// their hours and days before they go (a retention shorter than a minute
// rolls up the current one: later counts of it are late counts, which go
// to all three), in the same transaction.
func (s *Store) PurgeUsage(ctx context.Context, g keyward.Granularity, before time.Time) error {
	op, cancel := s.bound(ctx)
	defer cancel()
	var err error
	for attempt := 1; attempt <= maxWriteAttempts; attempt++ {
		err = s.outcome(ctx, op, s.purgeUsageOnce(op, g, ms(before)))
		if err == nil || !s.dialect.IsRetryable(err) {
			break
		}
	}
	return err
}

func (s *Store) purgeUsageOnce(ctx context.Context, g keyward.Granularity, before int64) error {
	tx, err := s.UsageWriteDB().BeginTx(ctx, nil)
	if err != nil {
		return s.classify(err)
	}
	defer tx.Rollback()
	if g == keyward.GranularityMinute {
		upto, err := s.rollupMark(ctx, tx)
		if err != nil {
			return err
		}
		// Every minute purged (bucket < before) is rolled up first.
		const minute = 60_000
		if _, err := s.rollUp(ctx, tx, upto, (before+minute-1)/minute*minute); err != nil {
			return err
		}
	}
	for _, table := range []string{"usage_buckets", "usage_account_buckets"} {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM `+table+` WHERE granularity = ? AND bucket < ?`), string(g), before); err != nil {
			return s.classify(err)
		}
	}
	return s.classify(tx.Commit())
}

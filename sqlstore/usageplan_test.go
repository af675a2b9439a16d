package sqlstore_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlstore"
)

// The usage of given keys is read through usage_buckets_key on SQLite,
// never by walking every key's buckets of the range (the primary key):
// without statistics SQLite's planner prefers the latter, which took over
// a second per page of the key list on a million keys (issue 13).
func TestUsageOfKeysUsesTheKeyIndex(t *testing.T) {
	db := planDB(t)
	to := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	base := keyward.UsageQuery{AccountID: "acc_01HZX3K8Q4W2N5R7T9V0B1C2D1", From: to.Add(-24 * time.Hour), To: to}
	for name, q := range map[string]keyward.UsageQuery{
		"one key, hours":  {KeyID: "key_01HZX3K8Q4W2N5R7T9V0B1C2D3", Granularity: keyward.GranularityHour},
		"keys, hours":     {KeyIDs: []string{"key_01HZX3K8Q4W2N5R7T9V0B1C2D3", "key_01HZX3K8Q4W2N5R7T9V0B1C2D4"}, Granularity: keyward.GranularityHour},
		"one key, minute": {KeyID: "key_01HZX3K8Q4W2N5R7T9V0B1C2D3", Granularity: keyward.GranularityMinute},
		"keys, days":      {KeyIDs: []string{"key_01HZX3K8Q4W2N5R7T9V0B1C2D3"}, Granularity: keyward.GranularityDay},
	} {
		q.AccountID, q.From, q.To = base.AccountID, base.From, base.To
		from, args := sqlstore.UsageRows(db.Store, &q)
		plan := queryPlan(t, db.UsageWriteDB(), "SELECT 0, key_id, outcome, SUM(count) FROM "+from+" GROUP BY key_id, outcome", args...)
		reads := 0
		for _, d := range plan {
			if strings.Contains(d, "usage_buckets") {
				reads++
				if !strings.Contains(d, "INDEX usage_buckets_key (key_id=?") {
					t.Errorf("%s: %q, want a search of usage_buckets_key by key; plan:\n%s", name, d, strings.Join(plan, "\n"))
				}
			}
		}
		if reads == 0 {
			t.Errorf("%s: the plan reads no usage_buckets:\n%s", name, strings.Join(plan, "\n"))
		}
	}
}

// An account's series reads its own rows, one range of
// usage_account_buckets' primary key per granularity, never the keys'
// rows (a million an hour when a million keys are used).
func TestAccountUsageReadsTheAccountRows(t *testing.T) {
	db := planDB(t)
	to := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, g := range keyward.Granularities() {
		q := keyward.UsageQuery{AccountID: "acc_01HZX3K8Q4W2N5R7T9V0B1C2D1", Granularity: g, From: to.Add(-24 * time.Hour), To: to}
		from, args := sqlstore.AccountUsageRows(db.Store, &q)
		plan := queryPlan(t, db.UsageWriteDB(), "SELECT bucket, '', outcome, SUM(count) FROM "+from+" GROUP BY bucket, outcome", args...)
		reads := 0
		for _, d := range plan {
			if strings.Contains(d, "usage_buckets") {
				t.Errorf("%s: %q reads the keys' rows; plan:\n%s", g, d, strings.Join(plan, "\n"))
			}
			if strings.Contains(d, "usage_account_buckets") {
				reads++
				if !strings.Contains(d, "PRIMARY KEY (account_id=? AND granularity=? AND bucket>? AND bucket<?)") {
					t.Errorf("%s: %q, want a range of the primary key; plan:\n%s", g, d, strings.Join(plan, "\n"))
				}
			}
		}
		want := 2 // the granularity's rows and the minutes not rolled up
		if g == keyward.GranularityMinute {
			want = 1
		}
		if reads != want {
			t.Errorf("%s: %d reads of usage_account_buckets; plan:\n%s", g, reads, strings.Join(plan, "\n"))
		}
	}
}

// queryPlan returns the lines of SQLite's EXPLAIN QUERY PLAN of query.
func queryPlan(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

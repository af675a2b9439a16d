package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
)

// A usage file of version 2 (buckets keyed by key first, every count
// written to its minute, hour and day at once) keeps its counts when
// opened: the minutes it holds are already in their hours and days, so the
// roll-up of version 3 starts after them and counts nothing twice.
func TestSQLiteUsageRollUpMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	db := dtOpenAt(t, path)
	const acc, key = "acc_01HZX3K8Q4W2N5R7T9V0B1C2D1", "key_01HZX3K8Q4W2N5R7T9V0B1C2D3"
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	m := day.Add(10*time.Hour + 5*time.Minute)
	w := db.UsageWriteDB()
	for _, q := range []string{
		`DROP TABLE usage_rollup`, `DROP TABLE usage_buckets`, `DELETE FROM schema_migrations WHERE version = 3`,
		`CREATE TABLE usage_buckets (granularity TEXT NOT NULL, bucket INTEGER NOT NULL, key_id TEXT NOT NULL,
			outcome TEXT NOT NULL, account_id TEXT NOT NULL, owner_type TEXT NOT NULL, owner_id TEXT NOT NULL,
			project_id TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (granularity, key_id, bucket, outcome)) WITHOUT ROWID`,
		`CREATE INDEX usage_buckets_account ON usage_buckets (account_id, granularity, bucket)`,
	} {
		if _, err := w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// What version 2's write-behind wrote for 5 verifications at 10:05.
	for g, start := range map[string]time.Time{"minute": m, "hour": day.Add(10 * time.Hour), "day": day} {
		if _, err := w.ExecContext(ctx, `INSERT INTO usage_buckets VALUES (?, ?, ?, 'VALID', ?, 'account', ?, '', 5)`,
			g, start.UnixMilli(), key, acc, acc); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	db = dtOpenAt(t, path)
	series := func(g keyward.Granularity) []string {
		t.Helper()
		rows, err := db.UsageSeries(ctx, &keyward.UsageQuery{AccountID: acc, KeyID: key, Granularity: g, From: day, To: day.Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, fmt.Sprintf("%s %s %d", r.Start.Format("15:04"), r.Outcome, r.Count))
		}
		return out
	}
	want := func(when string, g keyward.Granularity, lines ...string) {
		t.Helper()
		if got := series(g); !slices.Equal(got, lines) {
			t.Errorf("%s, %s: got %q, want %q", when, g, got, lines)
		}
	}
	want("after the upgrade", keyward.GranularityMinute, "10:05 VALID 5")
	want("after the upgrade", keyward.GranularityHour, "10:00 VALID 5")
	want("after the upgrade", keyward.GranularityDay, "00:00 VALID 5")
	// The next write rolls up: the old minute is not added again.
	c := keyward.UsageCount{AccountID: acc, KeyID: key, Owner: keyward.Owner{Type: keyward.OwnerAccount, ID: acc},
		Outcome: keyward.VerifyValid, Minute: m.Add(2 * time.Minute), Count: 1}
	if err := db.AddUsage(ctx, []keyward.UsageCount{c}); err != nil {
		t.Fatal(err)
	}
	c.Minute = m.Add(3 * time.Minute)
	if err := db.AddUsage(ctx, []keyward.UsageCount{c}); err != nil {
		t.Fatal(err)
	}
	want("after two later minutes", keyward.GranularityMinute, "10:05 VALID 5", "10:07 VALID 1", "10:08 VALID 1")
	want("after two later minutes", keyward.GranularityHour, "10:00 VALID 7")
	want("after two later minutes", keyward.GranularityDay, "00:00 VALID 7")
}

package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// AccountUsageMigration checks the migration that added the accounts' usage
// sums (usage_account_buckets) to a store whose usage was kept per key
// only: open opens the same database each time it is called; downgrade
// takes an open store back to before that migration (the table dropped,
// its version forgotten). The next open fills the sums in from the key
// rows, in every granularity, the minutes not yet rolled up included, and
// they keep adding up after it.
func AccountUsageMigration(t *testing.T, open func(t *testing.T) keyward.Store, downgrade func(ctx context.Context, s keyward.Store) error) {
	ctx := context.Background()
	s := open(t)
	const acc, other = "acc_01HZX3K8Q4W2N5R7T9V0B1C2D1", "acc_01HZX3K8Q4W2N5R7T9V0B1C2D2"
	const k1, k2, k3 = "key_01HZX3K8Q4W2N5R7T9V0B1C2D3", "key_01HZX3K8Q4W2N5R7T9V0B1C2D4", "key_01HZX3K8Q4W2N5R7T9V0B1C2D5"
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	m := day.Add(10*time.Hour + 58*time.Minute)
	add := func(counts ...keyward.UsageCount) {
		t.Helper()
		if err := s.AddUsage(ctx, counts); err != nil {
			t.Fatal(err)
		}
	}
	// 10:58 rolled up, a late count for it, 11:00 not rolled up yet.
	add(usageOf(acc, k1, keyward.VerifyValid, m, 3), usageOf(acc, k2, keyward.VerifyValid, m, 4), usageOf(other, k3, keyward.VerifyValid, m, 50))
	add(usageOf(acc, k1, keyward.VerifyRateLimited, m.Add(2*time.Minute), 2), usageOf(acc, k2, keyward.VerifyValid, m, 1))
	if err := downgrade(ctx, s); err != nil {
		t.Fatalf("back to the usage of keys only: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t)
	want := func(when string, g keyward.Granularity, lines ...string) {
		t.Helper()
		rows, err := s.UsageSeries(ctx, &keyward.UsageQuery{AccountID: acc, Granularity: g, From: day, To: day.Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, fmt.Sprintf("%s %s %d", r.Start.Format("15:04"), r.Outcome, r.Count))
		}
		if !slices.Equal(got, lines) {
			t.Errorf("%s, %s: got %q, want %q", when, g, got, lines)
		}
	}
	want("after the upgrade", keyward.GranularityMinute, "10:58 VALID 8", "11:00 RATE_LIMITED 2")
	want("after the upgrade", keyward.GranularityHour, "10:00 VALID 8", "11:00 RATE_LIMITED 2")
	want("after the upgrade", keyward.GranularityDay, "00:00 RATE_LIMITED 2", "00:00 VALID 8")
	// The next minute rolls 11:00 up, once.
	add(usageOf(acc, k2, keyward.VerifyValid, m.Add(3*time.Minute), 1))
	want("after a later minute", keyward.GranularityHour, "10:00 VALID 8", "11:00 RATE_LIMITED 2", "11:00 VALID 1")
	want("after a later minute", keyward.GranularityDay, "00:00 RATE_LIMITED 2", "00:00 VALID 9")
}

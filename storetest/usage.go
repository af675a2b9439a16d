package storetest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

// The usage buckets (keyward.UsageStore): counts add up (across
// concurrent writers, as nodes sharing a database), every count lands in
// its minute, hour and day bucket, ranges are [From, To), reads are scoped
// to the account, and purging drops only one granularity's old buckets.

var usageTests = []test{
	{"RollUp", testUsageRollUp},
	{"ConcurrentWritersAddUp", testUsageConcurrent},
	{"Totals", testUsageTotals},
	{"Purge", testUsagePurge},
	{"RollUpOnceAMinute", testUsageRollUpOnceAMinute},
	{"AccountSumsKeys", testUsageAccountSumsKeys},
	{"TopKeys", testUsageTopKeys},
}

func (e *env) addUsage(counts ...keyward.UsageCount) {
	e.t.Helper()
	if err := e.s.AddUsage(e.ctx, counts); err != nil {
		e.t.Fatalf("AddUsage: %v", err)
	}
}

// series returns the series of q as "start outcome count" lines.
func (e *env) series(q keyward.UsageQuery) []string {
	e.t.Helper()
	rows, err := e.s.UsageSeries(e.ctx, &q)
	if err != nil {
		e.t.Fatalf("UsageSeries: %v", err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%s %s %d", r.Start.Format("2006-01-02T15:04"), r.Outcome, r.Count))
	}
	return out
}

func wantLines(e *env, what string, got []string, want ...string) {
	e.t.Helper()
	if !slices.Equal(got, want) {
		e.t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
}

var usageDay = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

func usageOf(account, key string, outcome keyward.VerifyCode, at time.Time, n int64) keyward.UsageCount {
	return keyward.UsageCount{AccountID: account, KeyID: key, Owner: keyward.Owner{Type: keyward.OwnerAccount, ID: account},
		Outcome: outcome, Minute: at, Count: n}
}

func testUsageRollUp(e *env) {
	acc, other := "acc_01HZX3K8Q4W2N5R7T9V0B1C2D1", "acc_01HZX3K8Q4W2N5R7T9V0B1C2D2"
	k1, k2 := "key_01HZX3K8Q4W2N5R7T9V0B1C2D3", "key_01HZX3K8Q4W2N5R7T9V0B1C2D4"
	m0 := usageDay.Add(9*time.Hour + 58*time.Minute)
	m1, m2 := m0.Add(time.Minute), m0.Add(2*time.Minute) // m2 is 10:00, the next hour
	e.addUsage(usageOf(acc, k1, keyward.VerifyValid, m0, 3), usageOf(acc, k1, keyward.VerifyValid, m1, 2),
		usageOf(acc, k1, keyward.VerifyRateLimited, m1, 1), usageOf(other, k2, keyward.VerifyValid, m1, 7))
	e.addUsage(usageOf(acc, k1, keyward.VerifyValid, m2, 4), usageOf(acc, k1, keyward.VerifyValid, m0, 1))
	q := keyward.UsageQuery{AccountID: acc, KeyID: k1, From: usageDay, To: usageDay.Add(24 * time.Hour)}

	q.Granularity = keyward.GranularityMinute
	wantLines(e, "minutes", e.series(q),
		"2025-03-01T09:58 VALID 4", "2025-03-01T09:59 RATE_LIMITED 1", "2025-03-01T09:59 VALID 2", "2025-03-01T10:00 VALID 4")
	q.Granularity = keyward.GranularityHour
	wantLines(e, "hours", e.series(q),
		"2025-03-01T09:00 RATE_LIMITED 1", "2025-03-01T09:00 VALID 6", "2025-03-01T10:00 VALID 4")
	q.Granularity = keyward.GranularityDay
	wantLines(e, "days", e.series(q), "2025-03-01T00:00 RATE_LIMITED 1", "2025-03-01T00:00 VALID 10")

	// [From, To): the bucket starting at To is out, the one at From in.
	q.Granularity, q.From, q.To = keyward.GranularityMinute, m1, m2
	wantLines(e, "minutes in [09:59, 10:00)", e.series(q), "2025-03-01T09:59 RATE_LIMITED 1", "2025-03-01T09:59 VALID 2")

	// Another account sees nothing of the key, even by its id.
	q = keyward.UsageQuery{AccountID: other, KeyID: k1, Granularity: keyward.GranularityDay, From: usageDay, To: usageDay.Add(24 * time.Hour)}
	wantLines(e, "the key's usage read by another account", e.series(q))
	q.KeyID = ""
	wantLines(e, "the other account's usage", e.series(q), "2025-03-01T00:00 VALID 7")
}

func testUsageConcurrent(e *env) {
	acc := "acc_01HZX3K8Q4W2N5R7T9V0B1C2D1"
	keys := []string{"key_01HZX3K8Q4W2N5R7T9V0B1C2D3", "key_01HZX3K8Q4W2N5R7T9V0B1C2D4", "key_01HZX3K8Q4W2N5R7T9V0B1C2D5"}
	at := usageDay.Add(12 * time.Hour)
	const writers, rounds = 3, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				// The same rows from every writer, in different orders.
				var batch []keyward.UsageCount
				for i := range keys {
					k := keys[(i+w+r)%len(keys)]
					batch = append(batch, usageOf(acc, k, keyward.VerifyValid, at, 1), usageOf(acc, k, keyward.VerifyExpired, at.Add(time.Minute), 2))
				}
				errs <- e.s.AddUsage(e.ctx, batch)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			e.t.Fatalf("AddUsage: %v", err)
		}
	}
	n := writers * rounds
	for _, g := range keyward.Granularities() {
		q := keyward.UsageQuery{AccountID: acc, KeyID: keys[1], Granularity: g, From: usageDay, To: usageDay.Add(24 * time.Hour)}
		var sum [2]int64
		rows, err := e.s.UsageSeries(e.ctx, &q)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, r := range rows {
			if r.Outcome == keyward.VerifyValid {
				sum[0] += r.Count
			} else {
				sum[1] += r.Count
			}
		}
		if sum != [2]int64{int64(n), int64(2 * n)} {
			e.t.Fatalf("%s buckets after %d concurrent batches: VALID %d, EXPIRED %d; want %d, %d", g, n, sum[0], sum[1], n, 2*n)
		}
	}
}

func testUsageTotals(e *env) {
	acc := "acc_01HZX3K8Q4W2N5R7T9V0B1C2D1"
	k1, k2 := "key_01HZX3K8Q4W2N5R7T9V0B1C2D3", "key_01HZX3K8Q4W2N5R7T9V0B1C2D4"
	at := usageDay.Add(8 * time.Hour)
	c1 := usageOf(acc, k1, keyward.VerifyValid, at, 5)
	c1.Owner, c1.ProjectID = keyward.Owner{Type: keyward.OwnerUser, ID: "usr_01HZX3K8Q4W2N5R7T9V0B1C2D6"}, "prj_01HZX3K8Q4W2N5R7T9V0B1C2D7"
	c2 := usageOf(acc, k2, keyward.VerifyDisabled, at, 2)
	c3 := usageOf(acc, k2, keyward.VerifyValid, at.Add(time.Hour), 1)
	e.addUsage(c1, c2, c3)
	q := keyward.UsageQuery{AccountID: acc, Granularity: keyward.GranularityHour, From: usageDay, To: usageDay.Add(24 * time.Hour)}
	totals := func(by keyward.UsageGroup) []string {
		rows, err := e.s.UsageTotals(e.ctx, &q, by, 0)
		if err != nil {
			e.t.Fatalf("UsageTotals by %s: %v", by, err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, fmt.Sprintf("%s %s %d", r.Group, r.Outcome, r.Count))
		}
		return out
	}
	wantLines(e, "by key", totals(keyward.GroupByKey), k1+" VALID 5", k2+" DISABLED 2", k2+" VALID 1")
	wantLines(e, "by outcome", totals(keyward.GroupByOutcome), "DISABLED DISABLED 2", "VALID VALID 6")
	wantLines(e, "by owner", totals(keyward.GroupByOwner), "account:"+acc+" DISABLED 2", "account:"+acc+" VALID 1", "user:usr_01HZX3K8Q4W2N5R7T9V0B1C2D6 VALID 5")
	wantLines(e, "by project", totals(keyward.GroupByProject), " DISABLED 2", " VALID 1", "prj_01HZX3K8Q4W2N5R7T9V0B1C2D7 VALID 5")

	// KeyIDs: the counts of a page of keys, in one read; a key of no
	// count and another account's key add nothing.
	k3 := "key_01HZX3K8Q4W2N5R7T9V0B1C2D5"
	e.addUsage(usageOf("acc_01HZX3K8Q4W2N5R7T9V0B1C2D2", k3, keyward.VerifyValid, at, 9))
	q.KeyIDs = []string{k2, k3, "key_01HZX3K8Q4W2N5R7T9V0B1C2D9"}
	wantLines(e, "by key, of some keys", totals(keyward.GroupByKey), k2+" DISABLED 2", k2+" VALID 1")
	q.KeyIDs = []string{k1}
	wantLines(e, "by key, of one key", totals(keyward.GroupByKey), k1+" VALID 5")
	wantLines(e, "series of one key", e.series(q), "2025-03-01T08:00 VALID 5")
}

func testUsagePurge(e *env) {
	acc, k := "acc_01HZX3K8Q4W2N5R7T9V0B1C2D1", "key_01HZX3K8Q4W2N5R7T9V0B1C2D3"
	old, recent := usageDay.Add(time.Hour), usageDay.Add(3*time.Hour)
	e.addUsage(usageOf(acc, k, keyward.VerifyValid, old, 1), usageOf(acc, k, keyward.VerifyValid, recent, 2))
	if err := e.s.PurgeUsage(e.ctx, keyward.GranularityMinute, usageDay.Add(2*time.Hour)); err != nil {
		e.t.Fatalf("PurgeUsage: %v", err)
	}
	q := keyward.UsageQuery{AccountID: acc, KeyID: k, Granularity: keyward.GranularityMinute, From: usageDay, To: usageDay.Add(24 * time.Hour)}
	wantLines(e, "minutes after the purge", e.series(q), "2025-03-01T03:00 VALID 2")
	q.Granularity = keyward.GranularityHour
	wantLines(e, "hours after purging minutes", e.series(q), "2025-03-01T01:00 VALID 1", "2025-03-01T03:00 VALID 2")
}

// The write-behind writes minutes; hours and days hold them from the
// moment they are written (folded in once a minute, the rest added when
// read): never missing, never twice, whatever the order of minutes, late
// counts and purges.
func testUsageRollUpOnceAMinute(e *env) {
	acc, k := "acc_01HZX3K8Q4W2N5R7T9V0B1C2D1", "key_01HZX3K8Q4W2N5R7T9V0B1C2D3"
	m := usageDay.Add(23*time.Hour + 58*time.Minute) // 23:58; 00:00 is the next day
	q := keyward.UsageQuery{AccountID: acc, KeyID: k, From: usageDay, To: usageDay.Add(48 * time.Hour)}
	check := func(when string, hours, days []string) {
		e.t.Helper()
		q.Granularity = keyward.GranularityHour
		wantLines(e, when+": hours", e.series(q), hours...)
		q.Granularity = keyward.GranularityDay
		wantLines(e, when+": days", e.series(q), days...)
		q.KeyID = ""
		q.Granularity = keyward.GranularityHour
		wantLines(e, when+": the account's hours", e.series(q), hours...)
		q.KeyID = k
	}
	// Several writes within one minute: not yet folded, read from minutes.
	for range 3 {
		e.addUsage(usageOf(acc, k, keyward.VerifyValid, m, 2))
	}
	check("within 23:58", []string{"2025-03-01T23:00 VALID 6"}, []string{"2025-03-01T00:00 VALID 6"})
	// The next minute folds 23:58 in.
	e.addUsage(usageOf(acc, k, keyward.VerifyValid, m.Add(time.Minute), 1))
	check("at 23:59", []string{"2025-03-01T23:00 VALID 7"}, []string{"2025-03-01T00:00 VALID 7"})
	// A late count for the folded minute, and the next day.
	e.addUsage(usageOf(acc, k, keyward.VerifyValid, m, 10), usageOf(acc, k, keyward.VerifyExpired, m.Add(2*time.Minute), 1))
	check("late 23:58, then 00:00",
		[]string{"2025-03-01T23:00 VALID 17", "2025-03-02T00:00 EXPIRED 1"},
		[]string{"2025-03-01T00:00 VALID 17", "2025-03-02T00:00 EXPIRED 1"})
	q.Granularity = keyward.GranularityMinute
	wantLines(e, "minutes", e.series(q), "2025-03-01T23:58 VALID 16", "2025-03-01T23:59 VALID 1", "2025-03-02T00:00 EXPIRED 1")
	// Purging every minute rolls up those not yet folded (00:00) first:
	// hours and days still count each verification once.
	if err := e.s.PurgeUsage(e.ctx, keyward.GranularityMinute, usageDay.Add(72*time.Hour)); err != nil {
		e.t.Fatalf("PurgeUsage: %v", err)
	}
	wantLines(e, "minutes after purging them all", e.series(q))
	check("after the purge",
		[]string{"2025-03-01T23:00 VALID 17", "2025-03-02T00:00 EXPIRED 1"},
		[]string{"2025-03-01T00:00 VALID 17", "2025-03-02T00:00 EXPIRED 1"})
	// A purge before a minute's end takes that whole minute: it is rolled
	// up too.
	e.addUsage(usageOf(acc, k, keyward.VerifyValid, usageDay.Add(72*time.Hour+time.Minute), 3))
	if err := e.s.PurgeUsage(e.ctx, keyward.GranularityMinute, usageDay.Add(72*time.Hour+time.Minute+30*time.Second)); err != nil {
		e.t.Fatalf("PurgeUsage: %v", err)
	}
	q.From, q.To = usageDay.Add(72*time.Hour), usageDay.Add(96*time.Hour)
	q.Granularity = keyward.GranularityHour
	wantLines(e, "hours after purging half a minute", e.series(q), "2025-03-04T00:00 VALID 3")
	q.From, q.To = usageDay, usageDay.Add(48*time.Hour)
	// A late count for a purged minute still reaches its hour and day.
	e.addUsage(usageOf(acc, k, keyward.VerifyValid, m.Add(30*time.Minute), 1))
	check("at 00:28",
		[]string{"2025-03-01T23:00 VALID 17", "2025-03-02T00:00 EXPIRED 1", "2025-03-02T00:00 VALID 1"},
		[]string{"2025-03-01T00:00 VALID 17", "2025-03-02T00:00 EXPIRED 1", "2025-03-02T00:00 VALID 1"})
}

// An account's usage (a series or totals of no key, which the store may
// keep summed per account) is at every moment the sum of its keys': after
// writes of the current minute, of minutes not yet rolled up, late counts
// for minutes rolled up, and purges of each granularity, in every
// granularity; another account's counts never in it.
func testUsageAccountSumsKeys(e *env) {
	acc, other := "acc_01HZX3K8Q4W2N5R7T9V0B1C2D1", "acc_01HZX3K8Q4W2N5R7T9V0B1C2D2"
	keys := []string{"key_01HZX3K8Q4W2N5R7T9V0B1C2D3", "key_01HZX3K8Q4W2N5R7T9V0B1C2D4", "key_01HZX3K8Q4W2N5R7T9V0B1C2D5"}
	otherKey := "key_01HZX3K8Q4W2N5R7T9V0B1C2D6"
	outcomes := []keyward.VerifyCode{keyward.VerifyValid, keyward.VerifyRateLimited, keyward.VerifyExpired}
	r := rand.New(rand.NewPCG(13, 1))
	now := usageDay.Add(22 * time.Hour)
	written := map[string]int64{} // the account's counts written, by outcome
	check := func(step int) {
		e.t.Helper()
		for _, g := range keyward.Granularities() {
			q := keyward.UsageQuery{AccountID: acc, Granularity: g, From: usageDay.Add(-24 * time.Hour), To: usageDay.Add(72 * time.Hour)}
			sum := map[string]int64{}
			for _, k := range keys {
				q.KeyID = k
				rows, err := e.s.UsageSeries(e.ctx, &q)
				if err != nil {
					e.t.Fatalf("UsageSeries of %s: %v", k, err)
				}
				for _, r := range rows {
					sum[fmt.Sprintf("%s %s", r.Start.Format("2006-01-02T15:04"), r.Outcome)] += r.Count
				}
			}
			var want []string
			for _, line := range slices.Sorted(maps.Keys(sum)) {
				want = append(want, fmt.Sprintf("%s %d", line, sum[line]))
			}
			q.KeyID = ""
			wantLines(e, fmt.Sprintf("step %d, %s: the account's series against the sum of its keys'", step, g), e.series(q), want...)

			byOutcome := map[string]int64{}
			for _, line := range slices.Sorted(maps.Keys(sum)) {
				byOutcome[line[strings.IndexByte(line, ' ')+1:]] += sum[line]
			}
			want = nil
			for _, o := range slices.Sorted(maps.Keys(byOutcome)) {
				want = append(want, fmt.Sprintf("%s %s %d", o, o, byOutcome[o]))
			}
			rows, err := e.s.UsageTotals(e.ctx, &q, keyward.GroupByOutcome, 0)
			if err != nil {
				e.t.Fatalf("UsageTotals: %v", err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, fmt.Sprintf("%s %s %d", r.Group, r.Outcome, r.Count))
			}
			wantLines(e, fmt.Sprintf("step %d, %s: the account's totals by outcome against the sum of its keys'", step, g), got, want...)
		}
	}
	purged := false
	for step := range 40 {
		switch {
		case step == 25:
			// Minutes before 23:30 go, rolled up first.
			if err := e.s.PurgeUsage(e.ctx, keyward.GranularityMinute, usageDay.Add(23*time.Hour+30*time.Minute)); err != nil {
				e.t.Fatalf("PurgeUsage: %v", err)
			}
			purged = true
		case step == 33:
			if err := e.s.PurgeUsage(e.ctx, keyward.GranularityHour, usageDay.Add(23*time.Hour)); err != nil {
				e.t.Fatalf("PurgeUsage: %v", err)
			}
		default:
			// The clock moves on a few minutes; counts come for minutes up
			// to 40 before it (late counts once those were rolled up).
			now = now.Add(time.Duration(r.IntN(4)) * time.Minute)
			var counts []keyward.UsageCount
			for range 1 + r.IntN(6) {
				at := now.Add(-time.Duration(r.IntN(40)) * time.Minute)
				o := outcomes[r.IntN(len(outcomes))]
				n := int64(1 + r.IntN(9))
				counts = append(counts, usageOf(acc, keys[r.IntN(len(keys))], o, at, n))
				written[string(o)] += n
			}
			counts = append(counts, usageOf(other, otherKey, keyward.VerifyValid, now, 100))
			e.addUsage(counts...)
		}
		check(step)
	}
	// The days still hold every count written (hours and minutes were
	// purged in part): the sums are of something.
	q := keyward.UsageQuery{AccountID: acc, Granularity: keyward.GranularityDay, From: usageDay, To: usageDay.Add(72 * time.Hour)}
	rows, err := e.s.UsageTotals(e.ctx, &q, keyward.GroupByOutcome, 0)
	if err != nil {
		e.t.Fatalf("UsageTotals: %v", err)
	}
	got := map[string]int64{}
	for _, r := range rows {
		got[r.Group] += r.Count
	}
	if !maps.Equal(got, written) || !purged {
		e.t.Fatalf("the account's days hold %v, want every count written: %v", got, written)
	}
}

// By key with a limit, the store returns the rows of the limit keys of
// most counts in the range (ties: the smaller id first), each with all its
// outcomes, counting hours or days, minutes not yet rolled up and late
// counts alike; keys outside the range or of another account do not
// count.
func testUsageTopKeys(e *env) {
	acc, other := "acc_01HZX3K8Q4W2N5R7T9V0B1C2D1", "acc_01HZX3K8Q4W2N5R7T9V0B1C2D2"
	k := func(i int) string { return fmt.Sprintf("key_01HZX3K8Q4W2N5R7T9V0B1C2%02d", i) }
	at := usageDay.Add(10 * time.Hour)
	e.addUsage(
		usageOf(acc, k(1), keyward.VerifyValid, at, 5), usageOf(acc, k(1), keyward.VerifyRateLimited, at.Add(time.Minute), 1), // 6
		usageOf(acc, k(2), keyward.VerifyValid, at, 4),                                                   // 4, then 6 with the late count below
		usageOf(acc, k(3), keyward.VerifyValid, at, 3), usageOf(acc, k(3), keyward.VerifyExpired, at, 4), // 7
		usageOf(acc, k(4), keyward.VerifyValid, at.Add(-24*time.Hour), 50), // before the range
		usageOf(other, k(5), keyward.VerifyValid, at, 90),                  // another account
		usageOf(acc, k(6), keyward.VerifyValid, at, 1),
	)
	// 10:02 rolls 10:00 and 10:01 up; a late count for 10:00, and 10:02
	// itself still a minute.
	e.addUsage(usageOf(acc, k(7), keyward.VerifyValid, at.Add(2*time.Minute), 2),
		usageOf(acc, k(2), keyward.VerifyValid, at, 1), usageOf(acc, k(2), keyward.VerifyDisabled, at.Add(2*time.Minute), 1))
	top := func(g keyward.Granularity, limit int) []string {
		e.t.Helper()
		q := keyward.UsageQuery{AccountID: acc, Granularity: g, From: usageDay, To: usageDay.Add(24 * time.Hour)}
		rows, err := e.s.UsageTotals(e.ctx, &q, keyward.GroupByKey, limit)
		if err != nil {
			e.t.Fatalf("UsageTotals: %v", err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, fmt.Sprintf("%s %s %d", r.Group[len(r.Group)-2:], r.Outcome, r.Count))
		}
		return out
	}
	for _, g := range keyward.Granularities() {
		// k3 7, then k1 and k2 6 each (k1 the smaller id), k7 2, k6 1.
		wantLines(e, string(g)+", top 1", top(g, 1), "03 EXPIRED 4", "03 VALID 3")
		wantLines(e, string(g)+", top 2", top(g, 2), "01 RATE_LIMITED 1", "01 VALID 5", "03 EXPIRED 4", "03 VALID 3")
		wantLines(e, string(g)+", top 3", top(g, 3), "01 RATE_LIMITED 1", "01 VALID 5", "02 DISABLED 1", "02 VALID 5", "03 EXPIRED 4", "03 VALID 3")
		wantLines(e, string(g)+", top 4", top(g, 4), "01 RATE_LIMITED 1", "01 VALID 5", "02 DISABLED 1", "02 VALID 5", "03 EXPIRED 4", "03 VALID 3", "07 VALID 2")
		all := top(g, 0)
		wantLines(e, string(g)+", top 10", top(g, 10), all...)
		if len(all) != 8 {
			e.t.Fatalf("%s: every key: %q, want 8 rows", g, all)
		}
	}
	// Ties among more keys than the limit: the smaller ids.
	for i := 20; i > 10; i-- {
		e.addUsage(usageOf(acc, k(i), keyward.VerifyValid, at.Add(3*time.Minute), 7))
	}
	wantLines(e, "a tie", top(keyward.GranularityHour, 3), "03 EXPIRED 4", "03 VALID 3", "11 VALID 7", "12 VALID 7")
}

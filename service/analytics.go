package service

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// KeyUsage returns the usage series of an API key of the actor's account
// over q's range (resolved with keyward.UsageRange.Resolve): every bucket,
// in order, with its count per outcome. Another account's key, a
// management key and an unknown id are all not found. Verifications show
// here within one write-behind interval (plus the time to write it).
func (s *Service) KeyUsage(ctx context.Context, a *keyward.Actor, keyID string, q keyward.UsageQuery) (*keyward.UsageSeries, error) {
	if _, err := readAs(ctx, s, a, keyward.PermUsageRead, func(tx keyward.Tx) (*keyward.Key, error) {
		return loadKey(ctx, tx, a, keyward.KindAPI, keyID)
	}); err != nil {
		return nil, err
	}
	q.AccountID, q.KeyID, q.KeyIDs = a.AccountID, keyID, nil
	return s.usageSeries(ctx, q)
}

// AccountUsageSeries returns the usage series of the actor's whole
// account over q's range (resolved with keyward.UsageRange.Resolve):
// every bucket, in order, with the count per outcome of all its keys.
// The series' KeyID is empty. It needs usage:read.
func (s *Service) AccountUsageSeries(ctx context.Context, a *keyward.Actor, q keyward.UsageQuery) (*keyward.UsageSeries, error) {
	if err := require(a, keyward.PermUsageRead); err != nil {
		return nil, err
	}
	q.AccountID, q.KeyID, q.KeyIDs = a.AccountID, "", nil
	return s.usageSeries(ctx, q)
}

// usageSeries reads q's buckets and lays them out, every bucket of the
// range present.
func (s *Service) usageSeries(ctx context.Context, q keyward.UsageQuery) (*keyward.UsageSeries, error) {
	rows, err := s.store.UsageSeries(ctx, &q)
	if err != nil {
		return nil, err
	}
	out := &keyward.UsageSeries{KeyID: q.KeyID, Granularity: q.Granularity, From: q.From, To: q.To, Outcomes: keyward.OutcomeCounts{}}
	d := q.Granularity.Duration()
	for t := q.From; t.Before(q.To); t = t.Add(d) {
		out.Buckets = append(out.Buckets, keyward.UsageBucket{Start: t, Outcomes: keyward.OutcomeCounts{}})
	}
	for _, r := range rows {
		i := int(r.Start.Sub(q.From) / d)
		if i < 0 || i >= len(out.Buckets) {
			continue
		}
		b := &out.Buckets[i]
		b.Total += r.Count
		b.Outcomes[r.Outcome] += r.Count
		out.Total += r.Count
		out.Outcomes[r.Outcome] += r.Count
	}
	return out, nil
}

// AccountUsage returns the actor's account's usage over q's range: the
// totals per outcome and the limit busiest groups (keys, outcomes, owners
// or projects), most verifications first. With q.KeyIDs set it counts
// only those keys (the rows of a page of keys, in one query).
func (s *Service) AccountUsage(ctx context.Context, a *keyward.Actor, q keyward.UsageQuery, by keyward.UsageGroup, limit int) (*keyward.UsageSummary, error) {
	if err := require(a, keyward.PermUsageRead); err != nil {
		return nil, err
	}
	q.AccountID, q.KeyID = a.AccountID, ""
	out := &keyward.UsageSummary{Granularity: q.Granularity, From: q.From, To: q.To, GroupBy: by, Outcomes: keyward.OutcomeCounts{},
		Groups: []keyward.UsageGroupTotal{}}
	storeLimit := 0
	if by == keyward.GroupByKey && limit > 0 {
		// The store keeps the busiest keys only (a million keys used in
		// the range are not all sent here to be sorted for ten); the
		// totals are read apart, from the account's per-outcome sums.
		totals, err := s.store.UsageTotals(ctx, &q, keyward.GroupByOutcome, 0)
		if err != nil {
			return nil, err
		}
		for _, r := range totals {
			out.Total += r.Count
			out.Outcomes[r.Outcome] += r.Count
		}
		storeLimit = limit
	}
	rows, err := s.store.UsageTotals(ctx, &q, by, storeLimit)
	if err != nil {
		return nil, err
	}
	at := map[string]int{}
	for _, r := range rows {
		i, ok := at[r.Group]
		if !ok {
			i = len(out.Groups)
			at[r.Group] = i
			out.Groups = append(out.Groups, keyward.UsageGroupTotal{Value: r.Group, Outcomes: keyward.OutcomeCounts{}})
		}
		g := &out.Groups[i]
		g.Total += r.Count
		g.Outcomes[r.Outcome] += r.Count
		if storeLimit == 0 {
			out.Total += r.Count
			out.Outcomes[r.Outcome] += r.Count
		}
	}
	slices.SortFunc(out.Groups, func(x, y keyward.UsageGroupTotal) int {
		return cmp.Or(cmp.Compare(y.Total, x.Total), cmp.Compare(x.Value, y.Value))
	})
	if limit > 0 && len(out.Groups) > limit {
		out.Groups = out.Groups[:limit]
	}
	return out, nil
}

// Now returns the time on the service's clock: usage ranges without an
// end end now.
func (s *Service) Now() time.Time { return s.clock() }

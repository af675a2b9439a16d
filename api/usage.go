package api

import (
	"time"

	"github.com/keyward/keyward"
)

// UsageSeries is a key's usage over a range (GET /v1/keys/{id}/usage):
// every bucket of the range in order, with the verifications of each
// outcome (outcomes with none are absent).
type UsageSeries struct {
	KeyID       string              `json:"key_id"`
	Granularity keyward.Granularity `json:"granularity"`
	From        time.Time           `json:"from"`
	To          time.Time           `json:"to"`
	Total       int64               `json:"total"`
	Outcomes    map[string]int64    `json:"outcomes"`
	Buckets     []UsageBucket       `json:"buckets"`
}

// UsageBucket is one bucket of a series.
type UsageBucket struct {
	Start    time.Time        `json:"start"`
	Total    int64            `json:"total"`
	Outcomes map[string]int64 `json:"outcomes"`
}

// UsageSummary is the account's usage over a range (GET /v1/usage): its
// totals and its busiest groups, most verifications first.
type UsageSummary struct {
	Granularity keyward.Granularity `json:"granularity"`
	From        time.Time           `json:"from"`
	To          time.Time           `json:"to"`
	GroupBy     keyward.UsageGroup  `json:"group_by"`
	Total       int64               `json:"total"`
	Outcomes    map[string]int64    `json:"outcomes"`
	Groups      []UsageGroup        `json:"groups"`
}

// UsageGroup is the usage of one group: a key id, an outcome, an owner as
// type:id, or a project id ("" for keys of no project).
type UsageGroup struct {
	Value    string           `json:"value"`
	Total    int64            `json:"total"`
	Outcomes map[string]int64 `json:"outcomes"`
}

func outcomesOf(c keyward.OutcomeCounts) map[string]int64 {
	out := make(map[string]int64, len(c))
	for k, n := range c {
		out[string(k)] = n
	}
	return out
}

// UsageSeriesOf returns the wire form of a key's usage series.
func UsageSeriesOf(s *keyward.UsageSeries) UsageSeries {
	out := UsageSeries{KeyID: s.KeyID, Granularity: s.Granularity, From: s.From, To: s.To, Total: s.Total,
		Outcomes: outcomesOf(s.Outcomes), Buckets: make([]UsageBucket, 0, len(s.Buckets))}
	for _, b := range s.Buckets {
		out.Buckets = append(out.Buckets, UsageBucket{Start: b.Start, Total: b.Total, Outcomes: outcomesOf(b.Outcomes)})
	}
	return out
}

// UsageSummaryOf returns the wire form of an account's usage summary.
func UsageSummaryOf(s *keyward.UsageSummary) UsageSummary {
	out := UsageSummary{Granularity: s.Granularity, From: s.From, To: s.To, GroupBy: s.GroupBy, Total: s.Total,
		Outcomes: outcomesOf(s.Outcomes), Groups: make([]UsageGroup, 0, len(s.Groups))}
	for _, g := range s.Groups {
		out.Groups = append(out.Groups, UsageGroup{Value: g.Value, Total: g.Total, Outcomes: outcomesOf(g.Outcomes)})
	}
	return out
}

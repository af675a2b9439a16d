package api

import (
	"time"

	"github.com/keyward/keyward"
)

// UsageSeries is a key's usage over a range (GET /v1/keys/{id}/usage):
// every bucket of the range in order, with the verifications of each
// outcome (outcomes with none are absent).
type UsageSeries struct {
	KeyID       string                `json:"key_id"`
	Granularity keyward.Granularity   `json:"granularity"`
	From        time.Time             `json:"from"`
	To          time.Time             `json:"to"`
	Total       int64                 `json:"total"`
	Outcomes    keyward.OutcomeCounts `json:"outcomes"`
	Buckets     []UsageBucket         `json:"buckets"`
}

// UsageBucket is one bucket of a series.
type UsageBucket struct {
	Start    time.Time             `json:"start"`
	Total    int64                 `json:"total"`
	Outcomes keyward.OutcomeCounts `json:"outcomes"`
}

// UsageSummary is the account's usage over a range (GET /v1/usage): its
// totals and its busiest groups, most verifications first.
type UsageSummary struct {
	Granularity keyward.Granularity   `json:"granularity"`
	From        time.Time             `json:"from"`
	To          time.Time             `json:"to"`
	GroupBy     keyward.UsageGroup    `json:"group_by"`
	Total       int64                 `json:"total"`
	Outcomes    keyward.OutcomeCounts `json:"outcomes"`
	Groups      []UsageGroup          `json:"groups"`
}

// UsageGroup is the usage of one group: a key id, an outcome, an owner as
// type:id, or a project id ("" for keys of no project).
type UsageGroup struct {
	Value    string                `json:"value"`
	Total    int64                 `json:"total"`
	Outcomes keyward.OutcomeCounts `json:"outcomes"`
}

// UsageSeriesOf returns the wire form of a key's usage series.
func UsageSeriesOf(s *keyward.UsageSeries) UsageSeries {
	return UsageSeries{KeyID: s.KeyID, Granularity: s.Granularity, From: s.From, To: s.To, Total: s.Total, Outcomes: s.Outcomes,
		Buckets: listOf(s.Buckets, func(b keyward.UsageBucket) UsageBucket { return UsageBucket(b) })}
}

// UsageSummaryOf returns the wire form of an account's usage summary.
func UsageSummaryOf(s *keyward.UsageSummary) UsageSummary {
	return UsageSummary{Granularity: s.Granularity, From: s.From, To: s.To, GroupBy: s.GroupBy, Total: s.Total, Outcomes: s.Outcomes,
		Groups: listOf(s.Groups, func(g keyward.UsageGroupTotal) UsageGroup { return UsageGroup(g) })}
}

package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/keyward/keyward/api"
)

// Usage analytics (usage:read).
type (
	UsageSeries  = api.UsageSeries  // a key's usage over time (GET /v1/keys/{id}/usage)
	UsageBucket  = api.UsageBucket  // one bucket of a series
	UsageSummary = api.UsageSummary // an account's usage: totals and top groups (GET /v1/usage)
	UsageGroup   = api.UsageGroup   // the usage of one group of a summary
)

// UsageParams select the range of a usage read. Zero fields take the
// server's defaults: granularity "hour", To now, From 24 hours before To
// (30 days for "day").
type UsageParams struct {
	Granularity string // "minute", "hour" or "day"
	From, To    time.Time
	// GroupBy ("key", "outcome", "owner", "project") and Limit (1–100)
	// are for AccountUsage only.
	GroupBy string
	Limit   int
}

func (p *UsageParams) values(summary bool) url.Values {
	q := url.Values{}
	if p == nil {
		return q
	}
	setStr(q, "granularity", p.Granularity)
	setTime(q, "from", p.From)
	setTime(q, "to", p.To)
	if summary {
		setStr(q, "group_by", p.GroupBy)
		if p.Limit != 0 {
			q.Set("limit", strconv.Itoa(p.Limit))
		}
	}
	return q
}

const usagePath = "/v1/usage"

// KeyUsage returns an API key's verifications over time by outcome: every
// bucket of the range. GroupBy and Limit of p are not sent.
func (c *Client) KeyUsage(ctx context.Context, id string, p *UsageParams, opts ...CallOption) (*UsageSeries, error) {
	return send[UsageSeries](ctx, c, http.MethodGet, segs(keysPath, id, "usage"), p.values(false), nil, opts)
}

// AccountUsage returns the account's verifications over the range by
// outcome, and its busiest keys (or outcomes, owners, projects: p.GroupBy).
func (c *Client) AccountUsage(ctx context.Context, p *UsageParams, opts ...CallOption) (*UsageSummary, error) {
	return send[UsageSummary](ctx, c, http.MethodGet, segs(usagePath), p.values(true), nil, opts)
}

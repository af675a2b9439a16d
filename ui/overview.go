package ui

import (
	"context"
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// usageRange is a range a usage chart offers.
type usageRange struct {
	Name, Label string
	span        time.Duration
	granularity keyward.Granularity
}

// usageRanges are the ranges of the usage charts: 24 hours and 7 days of
// hours, 30 days of days.
func usageRanges() []usageRange {
	return []usageRange{
		{"24h", "24 hours", 24 * time.Hour, keyward.GranularityHour},
		{"7d", "7 days", 7 * 24 * time.Hour, keyward.GranularityHour},
		{"30d", "30 days", 30 * 24 * time.Hour, keyward.GranularityDay},
	}
}

// rangeOf returns the range the query's "range" names (24 hours when
// absent or unknown).
func rangeOf(r *http.Request) usageRange {
	name := r.URL.Query().Get("range")
	for _, g := range usageRanges() {
		if g.Name == name {
			return g
		}
	}
	return usageRanges()[0]
}

// query returns the usage query of the range ending now.
func (g usageRange) query(now time.Time) keyward.UsageQuery {
	q, _, _ := keyward.UsageRange{Granularity: g.granularity, From: now.Add(-g.span)}.Resolve(now)
	return q
}

// usageView is a usage chart with its range links.
type usageView struct {
	Chart  chart
	Range  string
	Ranges []usageRange
	Base   string // the page's path, for the range links
	Total  int64
	// Denied is set when the key may not read usage (the chart is not
	// offered).
	Denied bool
}

func newUsageView(base string, g usageRange, id, title string, series *keyward.UsageSeries, err error) (usageView, error) {
	v := usageView{Range: g.Name, Ranges: usageRanges(), Base: base}
	if isCode(err, keyward.ECodePermissionDenied) {
		v.Denied = true
		return v, nil
	}
	if err != nil {
		return v, err
	}
	v.Chart = chart{ID: id, Title: title + ", last " + g.Label + ", per outcome", Buckets: series.Buckets, Step: g.granularity.Duration()}
	v.Total = series.Total
	return v, nil
}

// overviewPage is the data of the overview.
type overviewPage struct {
	Usage usageView
	Top   topKeys
	// Expiring are the active keys that expire within expiringWithin,
	// the soonest first, at most expiringShown.
	Expiring []*keyward.Key
	// CanKeys is set when the key may list API keys.
	CanKeys bool
}

// topKeys are the busiest keys of a range, as the overview and the page
// of the busiest keys show them.
type topKeys struct {
	Keys   []topKey
	Range  usageRange
	Ranges []usageRange // the page of the busiest keys offers them all
	// Denied is set when the key may not read usage.
	Denied bool
	// Deferred is set when the overview did not wait for them (more than
	// Options.BusiestKeysWait): the page of the busiest keys does.
	Deferred bool
}

// topKey is one of the busiest keys of the range.
type topKey struct {
	ID, Name string
	Total    int64
	Valid    int64
	Known    bool // the key still exists
}

// expiringWithin is how far ahead the overview looks for expiring keys,
// and expiringShown how many of the soonest it shows (the keys page lists
// them all: /keys?expires_within=7d).
const (
	expiringWithin = 7 * 24 * time.Hour
	expiringShown  = 10
)

// overview serves GET /: the account's verifications over time per
// outcome, its busiest keys and the keys that expire soon. The busiest
// keys sum every key's usage of the range (seconds when a million keys
// were used): the overview waits for them up to u.busiestWait, and links
// to their own page past it.
func (u *UI) overview(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx, a := r.Context(), c.actor
	g := rangeOf(r)
	now := u.svc.Now()
	q := g.query(now)
	series, err := u.svc.AccountUsageSeries(ctx, a, q)
	usage, err := newUsageView("/", g, "usage-chart", "Verifications of the account", series, err)
	if err != nil {
		return err
	}
	p := overviewPage{Usage: usage, CanKeys: can(a, keyward.PermKeysRead)}
	p.Top = topKeys{Range: g, Denied: usage.Denied}
	if !usage.Denied {
		wait, cancel := context.WithTimeout(ctx, u.busiestWait)
		p.Top.Keys, err = u.busiest(wait, a, q)
		cancel()
		switch {
		case err != nil && wait.Err() != nil && ctx.Err() == nil:
			p.Top.Deferred = true
		case err != nil:
			return err
		}
	}
	if p.CanKeys {
		if p.Expiring, err = u.svc.ExpiringKeys(ctx, a, keyward.KindAPI, expiringWithin, expiringShown); err != nil {
			return err
		}
	}
	return u.render(w, r, c, http.StatusOK, "overview.html", p)
}

// busiestKeys serves GET /busiest-keys: the ten busiest keys of the range,
// waited for as long as a request may take.
func (u *UI) busiestKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	g := rangeOf(r)
	p := topKeys{Range: g, Ranges: usageRanges()}
	keys, err := u.busiest(r.Context(), c.actor, g.query(u.svc.Now()))
	switch {
	case isCode(err, keyward.ECodePermissionDenied):
		p.Denied = true
	case err != nil:
		return err
	}
	p.Keys = keys
	return u.render(w, r, c, http.StatusOK, "busiest-keys.html", p)
}

// busiest returns the ten busiest API keys of q, named when the actor may
// read keys.
func (u *UI) busiest(ctx context.Context, a *keyward.Actor, q keyward.UsageQuery) ([]topKey, error) {
	sum, err := u.svc.AccountUsage(ctx, a, q, keyward.GroupByKey, 10)
	if err != nil {
		return nil, err
	}
	canKeys := can(a, keyward.PermKeysRead)
	var out []topKey
	for _, grp := range sum.Groups {
		t := topKey{ID: grp.Value, Total: grp.Total, Valid: grp.Outcomes[keyward.VerifyValid]}
		if canKeys {
			// At most ten lookups, each by primary key.
			if k, err := u.svc.GetKey(ctx, a, keyward.KindAPI, grp.Value); err == nil {
				t.Name, t.Known = k.Name, true
			} else if !isCode(err, keyward.ECodeNotFound) {
				return nil, err
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// can reports whether the actor's key holds the management permission.
func can(a *keyward.Actor, perm string) bool { return a != nil && service.Require(a, perm) == nil }

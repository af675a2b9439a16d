package http_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// Usage analytics over HTTP: every verification counted by outcome, exact
// after concurrent verifications, visible within 5 seconds with the
// default write-behind interval; bad ranges, granularities and groupings
// are 400 problems; another account's key is 404.

func usVerifyMany(t *testing.T, e *testEnv, secret string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := e.do(req{Method: "POST", Path: "/v1/keys/verify", Body: map[string]any{"key": secret}})
			if res.Status != http.StatusOK {
				t.Errorf("verify: status %d\n%s", res.Status, short(res.Body))
			}
		}()
	}
	wg.Wait()
}

// usWait polls path until check accepts its answer, for at most 5 s.
func usWait(t *testing.T, e *testEnv, path string, check func(map[string]any) string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := e.must(http.StatusOK, req{Method: "GET", Path: path}).JSON(t)
		why := check(got)
		if why == "" {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: not there within 5 s: %s\n%v", path, why, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func usOutcomes(v any) map[string]float64 {
	out := map[string]float64{}
	m, _ := v.(map[string]any)
	for k, n := range m {
		out[k], _ = n.(float64)
	}
	return out
}

func usSame(want map[string]float64) func(map[string]any) string {
	return func(got map[string]any) string {
		o := usOutcomes(got["outcomes"])
		if fmt.Sprint(o) != fmt.Sprint(want) {
			return fmt.Sprintf("outcomes %v, want %v", o, want)
		}
		return ""
	}
}

func TestUsageCountsEveryOutcome(t *testing.T) {
	e := newEnv(t)
	limited := e.createKey(map[string]any{"name": "us limited", "rate_limit": map[string]any{"limit": 5, "window": 3600}})
	plain := e.createKey(map[string]any{"name": "us plain"})
	disabled := e.createKey(map[string]any{"name": "us disabled"})
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + disabled["id"].(string), Body: map[string]any{"status": "disabled"}})

	usVerifyMany(t, e, limited["secret"].(string), 40)
	usVerifyMany(t, e, plain["secret"].(string), 30)
	usVerifyMany(t, e, disabled["secret"].(string), 3)

	series := usWait(t, e, "/v1/keys/"+limited["id"].(string)+"/usage?granularity=minute",
		usSame(map[string]float64{"VALID": 5, "RATE_LIMITED": 35}))
	if series["granularity"] != "minute" || series["total"] != float64(40) {
		t.Errorf("series: %v", series)
	}
	buckets, _ := series["buckets"].([]any)
	if len(buckets) != 1440 {
		t.Errorf("%d minute buckets by default, want 1440 (24 hours)", len(buckets))
	}
	var sum float64
	for _, b := range buckets {
		sum += b.(map[string]any)["total"].(float64)
	}
	if sum != 40 {
		t.Errorf("buckets add up to %v, want 40", sum)
	}
	for _, g := range []string{"hour", "day"} {
		usWait(t, e, "/v1/keys/"+limited["id"].(string)+"/usage?granularity="+g, usSame(map[string]float64{"VALID": 5, "RATE_LIMITED": 35}))
	}
	usWait(t, e, "/v1/keys/"+disabled["id"].(string)+"/usage", usSame(map[string]float64{"DISABLED": 3}))

	top := usWait(t, e, "/v1/usage?limit=2", usSame(map[string]float64{"VALID": 35, "RATE_LIMITED": 35, "DISABLED": 3}))
	groups, _ := top["groups"].([]any)
	if len(groups) != 2 || groups[0].(map[string]any)["value"] != limited["id"] || groups[1].(map[string]any)["value"] != plain["id"] ||
		groups[1].(map[string]any)["total"] != float64(30) {
		t.Errorf("top 2 keys: %v", groups)
	}
	byOutcome := e.must(http.StatusOK, req{Method: "GET", Path: "/v1/usage?group_by=outcome"}).JSON(t)
	if g, _ := byOutcome["groups"].([]any); len(g) != 3 || g[2].(map[string]any)["value"] != "DISABLED" {
		t.Errorf("by outcome: %v", byOutcome["groups"])
	}
}

func TestUsageBadParameters(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "us bad params"})
	key := "/v1/keys/" + k["id"].(string) + "/usage?"
	for _, c := range []struct{ path, param string }{
		{key + "granularity=week", "granularity"},
		{key + "granularity=", "granularity"},
		{key + "from=yesterday", "from"},
		{key + "to=2026-13-01T00:00:00Z", "to"},
		{key + "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"},
		{key + "from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"},
		{key + "granularity=minute&from=2026-01-01T00:00:00Z&to=2026-01-03T00:00:00Z", "from"},
		{key + "granularity=hour&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"},
		{key + "group_by=key", "group_by"},
		{key + "limit=5", "limit"},
		{key + "granularity=hour&granularity=day", "granularity"},
		{"/v1/usage?group_by=tag", "group_by"},
		{"/v1/usage?group_by=KEY", "group_by"},
		{"/v1/usage?limit=0", "limit"},
		{"/v1/usage?limit=101", "limit"},
		{"/v1/usage?limit=ten", "limit"},
		{"/v1/usage?from=" + url.QueryEscape("2026-01-01T00:00:00+01:00") + "&to=2025-12-31T22:00:00Z", "from"},
		{"/v1/usage?key_id=" + k["id"].(string), "key_id"},
	} {
		p := e.problem(e.do(req{Method: "GET", Path: c.path}), http.StatusBadRequest, "invalid_parameter")
		errs, _ := p["errors"].([]any)
		if len(errs) != 1 || errs[0].(map[string]any)["field"] != c.param {
			t.Errorf("GET %s: errors %v, want one naming %s", c.path, errs, c.param)
		}
	}
	// The bounds themselves are fine.
	e.must(http.StatusOK, req{Method: "GET", Path: key + "granularity=minute&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"})
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/usage?limit=100&group_by=project&granularity=day"})
}

func TestUsageOfAnotherAccountsKeyIsNotFound(t *testing.T) {
	e := newEnv(t)
	mine := e.createKey(map[string]any{"name": "us mine"})
	e.verify(map[string]any{"key": mine["secret"]})
	other := pxOtherAccount(t, e, "us-other")
	_, token := mgmtKey(t, e, other, keyward.PermUsageRead, keyward.PermKeysRead)
	for _, path := range []string{
		"/v1/keys/" + mine["id"].(string) + "/usage",
		"/v1/keys/" + mine["id"].(string) + "/usage?granularity=day",
		"/v1/keys/key_01HZX3K8Q4W2N5R7T9V0B1C2D3/usage",
		"/v1/keys/nonsense/usage",
	} {
		e.problem(e.do(req{Method: "GET", Path: path, Token: token}), http.StatusNotFound, "not_found")
	}
	// A management key's usage is not an API key's.
	mk, _ := mgmtKey(t, e, "", keyward.PermKeysRead)
	e.problem(e.do(req{Method: "GET", Path: "/v1/keys/" + mk + "/usage"}), http.StatusNotFound, "not_found")
	// The other account's totals show nothing of this one.
	time.Sleep(2500 * time.Millisecond)
	got := e.must(http.StatusOK, req{Method: "GET", Path: "/v1/usage", Token: token}).JSON(t)
	if got["total"] != float64(0) || len(got["groups"].([]any)) != 0 {
		t.Errorf("another account's usage: %v", got)
	}
}

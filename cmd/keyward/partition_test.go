package main

// Issue 9, point 3: a silent PostgreSQL partition (the proxy frozen:
// connections stay open, nothing passes) must not make requests wait past
// their one time budget: a verification 1 s in all (authentication and
// lookups together), /readyz 1 s, a management request its request
// timeout; then 503 with Retry-After. When the proxy thaws the node
// recovers without a restart. The old code spent a budget per lookup: a
// verification with an operator key took 7–10 s, /readyz up to 15 s.

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/postgres/pgtest"
)

func TestPartitionRequestBudgets(t *testing.T) {
	const requestTimeout = 3 * time.Second
	// slack covers a loaded two-core machine; the old code overshot by
	// seconds, not milliseconds.
	const slack = 700 * time.Millisecond
	url := pgtest.URL(t)
	px, proxied := pgtest.ProxyURL(t, url)
	// A long outage grace: the management keys, used before the
	// partition, still authenticate from the cache, so a management
	// request goes on to wait for the database until its own budget ends.
	// The keys verified are new to the node: their verification must
	// reach the database (or give up).
	a := btServe(t, btOpts{Args: btServeArgs(t.TempDir(), "--database", proxied,
		"--outage-grace", "1m", "--request-timeout", requestTimeout.String(), "--db-connect-timeout", "2s")})
	a.waitLine(15*time.Second, func(l string) bool { return strings.Contains(l, "invalidation feed up") })
	op := a.operatorToken()
	acctKey := a.must(http.StatusCreated, "POST", "/v1/management-keys", op,
		map[string]any{"name": "verifier", "permissions": []string{"keys:verify", "keys:read"}})["secret"].(string)
	a.must(http.StatusOK, "GET", "/v1/keys?limit=1", acctKey, nil)
	// Keys this node has never verified: their verification must read the
	// database.
	var secrets []string
	var ids []string
	for i := range 4 {
		k := a.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "k" + string(rune('0'+i))})
		secrets, ids = append(secrets, k["secret"].(string)), append(ids, k["id"].(string))
	}

	px.Freeze()
	t.Cleanup(px.Thaw)
	// Let the node notice: its invalidation feed goes unhealthy within a
	// second, which is when the old code's per-lookup bounds applied.
	time.Sleep(1500 * time.Millisecond)

	type call struct {
		name, method, path, token string
		body                      any
		hdr                       map[string]string
		within                    time.Duration
	}
	calls := []call{
		{"verify, operator key, no X-Account-Id", "POST", "/v1/keys/verify", op, map[string]any{"key": secrets[0]}, nil, time.Second},
		{"verify, operator key, X-Account-Id", "POST", "/v1/keys/verify", op, map[string]any{"key": secrets[1]},
			map[string]string{"X-Account-Id": "acc_01J0000000000000000000000A"}, time.Second},
		{"verify, account key", "POST", "/v1/keys/verify", acctKey, map[string]any{"key": secrets[2]}, nil, time.Second},
		{"readyz", "GET", "/readyz", "", nil, nil, time.Second},
		{"get key", "GET", "/v1/keys/" + ids[3], op, nil, nil, requestTimeout},
		{"create key", "POST", "/v1/keys", op, map[string]any{"name": "during the partition"}, nil, requestTimeout},
		{"list keys, account key", "GET", "/v1/keys", acctKey, nil, nil, requestTimeout},
	}
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			res, err := btDoHeader(a, c.method, c.path, c.token, c.body, c.hdr)
			took := time.Since(start)
			if err != nil {
				t.Errorf("%s during the partition: %v after %v", c.name, err, took.Round(time.Millisecond))
				return
			}
			var p struct {
				Code string `json:"code"`
			}
			json.Unmarshal(res.Body, &p)
			t.Logf("%s during the partition: %d %s after %v", c.name, res.Status, p.Code, took.Round(time.Millisecond))
			if res.Status != http.StatusServiceUnavailable || p.Code != "unavailable" || res.Header.Get("Retry-After") == "" {
				t.Errorf("%s during the partition: %d %s (Retry-After %q), want 503 unavailable with Retry-After\n%s",
					c.name, res.Status, p.Code, res.Header.Get("Retry-After"), res.Body)
			}
			if took > c.within+slack {
				t.Errorf("%s during the partition took %v: its budget is %v", c.name, took.Round(time.Millisecond), c.within)
			}
		}()
	}
	wg.Wait()

	px.Thaw()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := a.do("GET", "/readyz", "", nil)
		if err == nil && res.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node is not ready 20s after the partition healed (no restart): %v %v", res, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Recovered without a restart: verifications and writes work again.
	for _, s := range secrets {
		if v := a.must(http.StatusOK, "POST", "/v1/keys/verify", op, map[string]any{"key": s}); v["code"] != "VALID" {
			t.Errorf("verify after the partition healed: %v, want VALID", v["code"])
		}
	}
	a.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "after the partition"})
}

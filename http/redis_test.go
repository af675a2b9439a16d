package http_test

// Rate limits with Redis (issue 5, item 3): exact across nodes, and a
// per-node fallback that never fails a verification when Redis is gone.

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/redis/redistest"
	"github.com/keyward/keyward/service"
)

// u5SecondNode starts another keyward node on e's database with its own
// cache, limiter and backend, as a second process on a shared database
// would be.
func u5SecondNode(t *testing.T, e *u5Env, backend service.RateBackend) *testEnv {
	t.Helper()
	return startEnv(t, keywardtest.Options{Reopen: e.Server, Service: service.Options{RateBackend: backend}})
}

// TestU5RateLimitRedisAcrossNodes: two nodes with Redis, hammered at once
// with one key, allow exactly its limit between them.
func TestU5RateLimitRedisAcrossNodes(t *testing.T) {
	url := redistest.URL(t)
	a := u5NewEnv(t, service.Options{RateBackend: redistest.Open(t, url)})
	b := u5SecondNode(t, a, redistest.Open(t, url))
	_, secret := u5Key(t, a.testEnv, u5obj{"rate_limit": u5obj{"limit": 30, "window": 3600}})
	body := func(int) map[string]any { return u5obj{"key": secret} }
	var (
		wg             sync.WaitGroup
		onA, onB       map[string]int
		nodeA, nodeB   = a.testEnv, b
		perNode, times = 10, 8 // 80 verifications on each node
	)
	wg.Add(2)
	go func() { defer wg.Done(); onA = u5Concurrent(t, nodeA, perNode, times, body) }()
	go func() { defer wg.Done(); onB = u5Concurrent(t, nodeB, perNode, times, body) }()
	wg.Wait()
	valid := onA["VALID"] + onB["VALID"]
	limited := onA["RATE_LIMITED"] + onB["RATE_LIMITED"]
	if valid != 30 || limited != 130 {
		t.Fatalf("two nodes with Redis: %d VALID and %d RATE_LIMITED of 160 (node A %v, node B %v); want exactly 30 VALID", valid, limited, onA, onB)
	}
	if onA["VALID"] == 0 || onB["VALID"] == 0 {
		t.Logf("one node got every VALID (A %v, B %v): allowed, but unusual", onA, onB)
	}
	// Without Redis the same two nodes would allow 30 each: the limit is
	// shared, not per node.
	if got := a.metric(t, "keyward_ratelimit_backend_configured"); got != "1" {
		t.Errorf("keyward_ratelimit_backend_configured %s, want 1", got)
	}
	if got := a.metric(t, "keyward_ratelimit_backend_fallback"); got != "0" {
		t.Errorf("keyward_ratelimit_backend_fallback %s, want 0", got)
	}
}

// TestU5RateLimitRedisDown: with Redis unreachable, verifications never
// fail: the node limits on its own (exactly, on this node), the metrics
// say so and one log line warns.
func TestU5RateLimitRedisDown(t *testing.T) {
	var logBuf keywardtest.Logs
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	e := u5NewEnv(t, service.Options{RateBackend: redistest.Open(t, "redis://127.0.0.1:1/0"), Logger: log})
	_, secret := u5Key(t, e.testEnv, u5obj{"rate_limit": u5obj{"limit": 5, "window": 3600}})
	counts := u5Concurrent(t, e.testEnv, 4, 5, func(int) map[string]any { return u5obj{"key": secret} })
	if counts["VALID"] != 5 || counts["RATE_LIMITED"] != 15 {
		t.Fatalf("Redis down: %v, want exactly 5 VALID and 15 RATE_LIMITED (the per-node limit)", counts)
	}
	// A key without a limit never touches the backend.
	_, plain := u5Key(t, e.testEnv, nil)
	u5Want(t, e.testEnv, "VALID", u5obj{"key": plain})
	if got := e.metric(t, "keyward_ratelimit_backend_fallback"); got != "1" {
		t.Errorf("keyward_ratelimit_backend_fallback %s, want 1", got)
	}
	if got := e.metric(t, "keyward_ratelimit_backend_errors_total"); got == "0" || got == "" {
		t.Errorf("keyward_ratelimit_backend_errors_total %q, want at least 1", got)
	}
	if n := strings.Count(logBuf.String(), "rate-limit backend unreachable"); n != 1 {
		t.Errorf("%d warnings about the unreachable backend, want exactly 1 (not one per verification):\n%s", n, logBuf.String())
	}
}

// metric returns the value of an unlabelled metric from /metrics ("" if
// absent).
func (e *u5Env) metric(t *testing.T, name string) string {
	t.Helper()
	res, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

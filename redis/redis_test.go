package redis_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/redis"
	"github.com/keyward/keyward/redis/redistest"
)

// freshKey returns a key id no other test uses, so tests can share Redis.
func freshKey(t *testing.T) string {
	t.Helper()
	return "key_test_" + keywardtest.RandomHex(t, 8)
}

// TestLimitExactAcrossNodes: two limiters (two nodes, each with its own
// connection pool) taking from one key's limit concurrently allow exactly
// the limit, however the requests interleave.
func TestLimitExactAcrossNodes(t *testing.T) {
	url := redistest.URL(t)
	nodes := []*redis.Limiter{redistest.Open(t, url), redistest.Open(t, url)}
	key := freshKey(t)
	rl := keyward.RateLimit{Limit: 25, Window: 3600}
	var allowed, refused atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 40; g++ {
		wg.Add(1)
		go func(n *redis.Limiter) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				ok, _, _, err := n.Take(context.Background(), key, rl)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					allowed.Add(1)
				} else {
					refused.Add(1)
				}
			}
		}(nodes[g%2])
	}
	wg.Wait()
	if allowed.Load() != 25 || refused.Load() != 175 {
		t.Fatalf("%d allowed and %d refused of 200 requests against a limit of 25", allowed.Load(), refused.Load())
	}
}

// TestRemainingAndReset: remaining counts down to 0; a refused request
// says when the limit is whole again.
func TestRemainingAndReset(t *testing.T) {
	l := redistest.Open(t, redistest.URL(t))
	key := freshKey(t)
	rl := keyward.RateLimit{Limit: 3, Window: 60}
	start := time.Now()
	for want := int64(2); want >= 0; want-- {
		ok, remaining, _, err := l.Take(context.Background(), key, rl)
		if err != nil || !ok || remaining != want {
			t.Fatalf("take: allowed %v remaining %d err %v; want allowed with %d remaining", ok, remaining, err, want)
		}
	}
	ok, remaining, reset, err := l.Take(context.Background(), key, rl)
	if err != nil || ok || remaining != 0 {
		t.Fatalf("4th take of 3: allowed %v remaining %d err %v", ok, remaining, err)
	}
	// Redis's clock and ours may differ slightly.
	if lo, hi := start.Add(55*time.Second), time.Now().Add(65*time.Second); reset.Before(lo) || reset.After(hi) {
		t.Errorf("reset_at %v, want about a window (60 s) from now", reset)
	}
}

// TestLimitChange: a key's new limit counts what was used of the old one,
// as on one node (service/ratelimit.go).
func TestLimitChange(t *testing.T) {
	l := redistest.Open(t, redistest.URL(t))
	take := func(key string, rl keyward.RateLimit, n int, want bool) {
		t.Helper()
		for i := 0; i < n; i++ {
			ok, _, _, err := l.Take(context.Background(), key, rl)
			if err != nil {
				t.Fatal(err)
			}
			if ok != want {
				t.Fatalf("take %d of %d under %+v: allowed %v, want %v", i+1, n, rl, ok, want)
			}
		}
	}
	raised := freshKey(t)
	take(raised, keyward.RateLimit{Limit: 2, Window: 3600}, 2, true)
	take(raised, keyward.RateLimit{Limit: 2, Window: 3600}, 1, false)
	take(raised, keyward.RateLimit{Limit: 5, Window: 3600}, 3, true)
	take(raised, keyward.RateLimit{Limit: 5, Window: 3600}, 1, false)

	lowered := freshKey(t)
	take(lowered, keyward.RateLimit{Limit: 10, Window: 3600}, 5, true)
	take(lowered, keyward.RateLimit{Limit: 2, Window: 3600}, 3, false)

	shortened := freshKey(t)
	take(shortened, keyward.RateLimit{Limit: 2, Window: 3600}, 2, true)
	// The 2 used count against the new window of 1 s too: refused now,
	// free again a window later, not an hour later.
	take(shortened, keyward.RateLimit{Limit: 2, Window: 1}, 1, false)
	time.Sleep(1100 * time.Millisecond)
	take(shortened, keyward.RateLimit{Limit: 2, Window: 1}, 2, true)
}

// TestUnreachable: a Redis that is not there is an error from Take, fast
// (the service then limits per node), never a hang; and the URL's
// password never appears in an error.
func TestUnreachable(t *testing.T) {
	l := redistest.Open(t, "redis://:s3cret-pass@127.0.0.1:1/0")
	start := time.Now()
	_, _, _, err := l.Take(context.Background(), freshKey(t), keyward.RateLimit{Limit: 1, Window: 1})
	if err == nil {
		t.Fatal("Take against a closed port succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Take took %v to fail", d)
	}
	if strings.Contains(err.Error(), "s3cret-pass") {
		t.Errorf("the error shows the password: %v", err)
	}
	if _, err := redis.Open("redis://:s3cret-pass@[::1"); err == nil || strings.Contains(err.Error(), "s3cret-pass") {
		t.Errorf("a malformed URL: %v", err)
	}
}

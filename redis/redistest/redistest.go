// Package redistest gives tests a Redis server. Tests that need Redis call
// URL(t): it reads KEYWARD_TEST_REDIS_URL and checks that the server
// answers. Without the variable the test is skipped with a message saying
// how to enable it, except under CI=true, where it fails: CI must never
// pass by skipping the Redis tests (.ci/run starts Redis and sets it).
package redistest

import (
	"context"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keyward/keyward/redis"
)

// EnvVar names the variable holding the Redis URL tests use.
const EnvVar = "KEYWARD_TEST_REDIS_URL"

// URL returns the configured Redis URL after checking that the server
// answers; it skips (or, under CI, fails) the test when there is none.
// Tests share the server: they keep apart by using fresh key ids.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvVar)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the Redis tests (.ci/run sets it)", EnvVar)
		}
		t.Skipf("Redis tests skipped: set %s=redis://127.0.0.1:6379/0 to run them", EnvVar)
	}
	opt, err := goredis.ParseURL(u)
	if err != nil {
		t.Fatalf("%s: %v", EnvVar, err)
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("%s=%s does not answer: %v", EnvVar, u, err)
	}
	return u
}

// Open opens the Redis rate-limit backend at url, closed when the test
// ends (the URL need not answer: the backend falls back when it does not).
func Open(t testing.TB, url string) *redis.Limiter {
	t.Helper()
	l, err := redis.Open(url)
	if err != nil {
		t.Fatalf("redistest: opening the rate-limit backend: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

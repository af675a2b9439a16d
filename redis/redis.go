// Package redis makes keyward's rate limits hold across nodes: every node
// applies each verification of a rate-limited key to one GCRA state per key
// in Redis, updated atomically by a Lua script at Redis's own clock (so the
// nodes' clocks need not agree). It implements service.RateBackend; when
// Redis cannot be reached the service limits on each node alone and says so.
package redis

import (
	"context"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keyward/keyward"
)

// gcra applies one request to the GCRA state in KEYS[1]: ARGV[1] is the
// emission interval and ARGV[2] the window, in milliseconds. It returns
// {allowed (0/1), remaining, reset_at_ms}. The state is a hash of the
// theoretical arrival time (t) and the interval it was measured in (i):
// when the key's limit changes, t is rescaled to the new interval so that
// what was used of the window stays used, as on one node
// (service/ratelimit.go). The state expires when the window has passed,
// so idle keys cost nothing.
var gcra = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local st = redis.call('HMGET', KEYS[1], 't', 'i')
local tat = tonumber(st[1] or '0') or 0
local old = tonumber(st[2] or '0') or 0
if tat > now and old > 0 and old ~= interval then
  tat = now + math.ceil((tat - now) / old * interval)
  -- Keep the rescaled state even if this request is refused: the new
  -- window runs from the change, not from each refused request.
  redis.call('HSET', KEYS[1], 't', tat, 'i', interval)
  redis.call('PEXPIRE', KEYS[1], window)
end
if tat < now then tat = now end
local nxt = tat + interval
if nxt - now > window then
  return {0, 0, tat}
end
redis.call('HSET', KEYS[1], 't', nxt, 'i', interval)
redis.call('PEXPIRE', KEYS[1], window)
return {1, math.floor((window - (nxt - now)) / interval), nxt}
`)

// Limiter is a rate-limit backend on one Redis (or a Redis-compatible
// server).
type Limiter struct {
	client  *goredis.Client
	prefix  string
	timeout time.Duration
}

// Open connects to the Redis at url (redis://[:password@]host:port[/db]).
// It fails only on a malformed URL: an unreachable Redis is reported by
// each call, so keyward starts (and limits per node) while Redis is down.
func Open(url string) (*Limiter, error) {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", redactURL(err))
	}
	opt.DialTimeout = 500 * time.Millisecond
	opt.ReadTimeout = 250 * time.Millisecond
	opt.WriteTimeout = 250 * time.Millisecond
	opt.MaxRetries = 0 // a verification does not wait for retries: it falls back
	return &Limiter{client: goredis.NewClient(opt), prefix: "keyward:gcra:", timeout: 300 * time.Millisecond}, nil
}

// WithPrefix sets the prefix of the Redis keys (tests isolate themselves with it).
func (l *Limiter) WithPrefix(p string) *Limiter { l.prefix = p; return l }

// Take implements service.RateBackend.
func (l *Limiter) Take(ctx context.Context, keyID string, rl keyward.RateLimit) (bool, int64, time.Time, error) {
	window, interval := rl.Window*1000, rl.Interval()
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	res, err := gcra.Run(ctx, l.client, []string{l.prefix + keyID}, interval, window).Int64Slice()
	if err != nil {
		return false, 0, time.Time{}, err
	}
	if len(res) != 3 {
		return false, 0, time.Time{}, fmt.Errorf("redis rate limit script answered %v", res)
	}
	return res[0] == 1, res[1], time.UnixMilli(res[2]).UTC(), nil
}

// Ping reports whether Redis answers.
func (l *Limiter) Ping(ctx context.Context) error { return l.client.Ping(ctx).Err() }

// Close closes the connections.
func (l *Limiter) Close() error { return l.client.Close() }

func redactURL(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		if j := strings.Index(msg[i:], "@"); j > 0 {
			msg = msg[:i+3] + "[redacted]" + msg[i+j:]
		}
	}
	return fmt.Errorf("%s", msg)
}

package http

import (
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// LockoutPolicy locks a client address out after repeated failed
// authentications (discue's lockout): Threshold failures within
// Window lock every request from that address for Duration (429 with
// Retry-After), valid credentials included, so the lock cannot be used to
// test guesses. Other addresses are unaffected. Threshold 0 disables it.
type LockoutPolicy struct {
	Threshold int
	Window    time.Duration
	Duration  time.Duration
}

// DefaultLockout is the documented default: 100 failed authentications
// from one address within a minute lock it for a minute.
var DefaultLockout = LockoutPolicy{Threshold: 100, Window: time.Minute, Duration: time.Minute}

// maxTrackedClients bounds the memory of the lockout table; beyond it the
// entries that are neither locked nor recent are dropped.
const maxTrackedClients = 100_000

type lockout struct {
	policy  LockoutPolicy
	clock   func() time.Time
	mu      sync.Mutex
	clients map[string]*clientFailures
	// until is the latest time any address is locked until (Unix ns): when
	// it has passed, nobody is locked and check needs no lock at all.
	until atomic.Int64
}

type clientFailures struct {
	times []time.Time // recent failures, oldest first, at most Threshold
	until time.Time   // locked until
}

func newLockout(p LockoutPolicy, clock func() time.Time) *lockout {
	return &lockout{policy: p, clock: clock, clients: map[string]*clientFailures{}}
}

// clientKey is what the lockout counts by: the address, or for IPv6 its
// /64, since one client commonly holds a whole /64 and could otherwise
// dodge the lock (and grow the table) by changing addresses.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// check fails with 429 locked if the address is locked out.
func (l *lockout) check(ip string) error {
	if l.policy.Threshold <= 0 {
		return nil
	}
	now := l.clock()
	if now.UnixNano() >= l.until.Load() {
		return nil
	}
	ip = clientKey(ip)
	l.mu.Lock()
	c := l.clients[ip]
	var wait time.Duration
	if c != nil && now.Before(c.until) {
		wait = c.until.Sub(now)
	}
	l.mu.Unlock()
	if wait == 0 {
		return nil
	}
	secs := int64((wait + time.Second - 1) / time.Second)
	return &keyward.Error{
		Code:    keyward.ECodeLocked,
		Message: "too many failed authentications from this address; retry after " + strconv.FormatInt(secs, 10) + " seconds",
		Details: map[string]any{"retry_after_seconds": secs},
	}
}

// fail records a failed authentication from the address.
func (l *lockout) fail(ip string) {
	if l.policy.Threshold <= 0 {
		return
	}
	ip = clientKey(ip)
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clients[ip]
	if c == nil {
		if len(l.clients) >= maxTrackedClients {
			l.prune(now)
		}
		c = &clientFailures{}
		l.clients[ip] = c
	}
	cut := 0
	for cut < len(c.times) && now.Sub(c.times[cut]) > l.policy.Window {
		cut++
	}
	c.times = append(c.times[cut:], now)
	if len(c.times) >= l.policy.Threshold {
		c.until = now.Add(l.policy.Duration)
		c.times = c.times[:0]
		if u := c.until.UnixNano(); u > l.until.Load() {
			l.until.Store(u)
		}
	}
}

func (l *lockout) prune(now time.Time) {
	for ip, c := range l.clients {
		if now.After(c.until) && (len(c.times) == 0 || now.Sub(c.times[len(c.times)-1]) > l.policy.Window) {
			delete(l.clients, ip)
		}
	}
}

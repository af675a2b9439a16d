package http

import (
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// lockoutAddr returns the i-th of a run of distinct IPv4 addresses.
func lockoutAddr(i int) string {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
}

// TestLockoutBoundedWork (issue 9 point 5): with the table full of
// addresses whose failures are all recent, a failure from a new address
// examines a bounded number of entries (before, it scanned the whole
// table under the one mutex every check also takes, and could delete
// nothing, so the table also grew past its cap). Counted, not timed.
func TestLockoutBoundedWork(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newLockout(LockoutPolicy{Threshold: 100, Window: time.Minute, Duration: time.Minute}, func() time.Time { return now })
	for i := range maxTrackedClients {
		l.fail(lockoutAddr(i))
	}
	if n := l.tracked(); n > maxTrackedClients {
		t.Fatalf("%d addresses tracked after %d failures, cap %d", n, maxTrackedClients, maxTrackedClients)
	}
	const more = 10_000
	before := l.examined()
	for i := range more {
		now = now.Add(time.Millisecond) // all still within the window
		l.fail(lockoutAddr(maxTrackedClients + i))
	}
	if per := float64(l.examined()-before) / more; per > 4 {
		t.Errorf("a failure from a new address with a full table examined %.1f entries on average, want at most 4", per)
	}
	if n := l.tracked(); n > maxTrackedClients {
		t.Errorf("%d addresses tracked, cap %d", n, maxTrackedClients)
	}
}

// fakeClock is a settable clock for the lockout's unit tests.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time      { return c.now }
func (c *fakeClock) Add(d time.Duration) { c.now = c.now.Add(d) }

// clockedLockout returns a lockout with policy p on a clock the test moves.
func clockedLockout(p LockoutPolicy) (*lockout, *fakeClock) {
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	return newLockout(p, clk.Now), clk
}

func lockedOut(l *lockout, ip string) bool { return l.check(ip) != nil }
func failN(l *lockout, ip string, n int) {
	for range n {
		l.fail(ip)
	}
}

// TestLockoutSemantics: the sharded table keeps the lockout's rules:
// Threshold failures within Window lock the address for Duration, with
// Retry-After; failures older than Window (plus at most one counting
// slot) no longer count; an IPv6 client is counted by its /64; a lock
// starts the count afresh.
func TestLockoutSemantics(t *testing.T) {
	p := LockoutPolicy{Threshold: 5, Window: time.Minute, Duration: 30 * time.Second}

	t.Run("threshold within the window", func(t *testing.T) {
		l, clk := clockedLockout(p)
		failN(l, "192.0.2.1", 4)
		clk.Add(50 * time.Second)
		if lockedOut(l, "192.0.2.1") {
			t.Fatal("locked after 4 failures")
		}
		l.fail("192.0.2.1")
		err := l.check("192.0.2.1")
		if err == nil {
			t.Fatal("5 failures within the window do not lock")
		}
		if d := keyward.AsError(err).Details["retry_after_seconds"]; d != int64(30) {
			t.Errorf("retry_after_seconds %v, want 30", d)
		}
		if lockedOut(l, "192.0.2.2") {
			t.Error("another address is locked too")
		}
		clk.Add(29 * time.Second)
		if d := keyward.AsError(l.check("192.0.2.1")).Details["retry_after_seconds"]; d != int64(1) {
			t.Errorf("1 s before the end: retry_after_seconds %v, want 1", d)
		}
		clk.Add(time.Second)
		if lockedOut(l, "192.0.2.1") {
			t.Fatal("still locked after Duration")
		}
		// The lock started the count afresh.
		failN(l, "192.0.2.1", 4)
		if lockedOut(l, "192.0.2.1") {
			t.Fatal("4 failures after a lock lock again")
		}
	})

	t.Run("failures older than the window do not count", func(t *testing.T) {
		l, clk := clockedLockout(p)
		failN(l, "192.0.2.1", 4)
		clk.Add(p.Window + p.Window/lockoutSlots + time.Nanosecond)
		l.fail("192.0.2.1")
		if lockedOut(l, "192.0.2.1") {
			t.Fatal("failures more than a window (and a slot) old still count")
		}
		// Spread over the window, they do count.
		for range 4 {
			clk.Add(p.Window / 5)
			l.fail("192.0.2.1")
		}
		if !lockedOut(l, "192.0.2.1") {
			t.Fatal("5 failures spread over one window do not lock")
		}
	})

	t.Run("an IPv6 client is its /64", func(t *testing.T) {
		l, _ := clockedLockout(p)
		for i := range 5 {
			l.fail("2001:db8:1:2::" + strconv.Itoa(i+1))
		}
		if !lockedOut(l, "2001:db8:1:2:ffff::1") {
			t.Fatal("5 failures from one /64 do not lock it")
		}
		if lockedOut(l, "2001:db8:1:3::1") {
			t.Fatal("the next /64 is locked too")
		}
	})

	t.Run("a flood of new addresses keeps the locks", func(t *testing.T) {
		l, _ := clockedLockout(p)
		failN(l, "192.0.2.1", 5)
		for i := range 3 * maxTrackedClients {
			l.fail(lockoutAddr(i))
		}
		if n := l.tracked(); n > maxTrackedClients {
			t.Errorf("%d addresses tracked, cap %d", n, maxTrackedClients)
		}
		if !lockedOut(l, "192.0.2.1") {
			t.Fatal("a flood of new addresses lifted a lock")
		}
	})

	t.Run("idle entries go", func(t *testing.T) {
		l, clk := clockedLockout(p)
		for i := range 10_000 {
			l.fail(lockoutAddr(i))
		}
		clk.Add(2 * p.Window)
		for i := range 10_000 {
			l.fail(lockoutAddr(1_000_000 + i))
		}
		if n := l.tracked(); n > 11_000 {
			t.Errorf("%d addresses tracked: the idle ones were not dropped", n)
		}
	})
}

// TestLockoutConcurrent runs failures and checks from several goroutines
// over a table that overflows (for the race detector), and checks the
// cap and the locks hold.
func TestLockoutConcurrent(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Unix(1_700_000_000, 0).UnixNano())
	l := newLockout(LockoutPolicy{Threshold: 3, Window: time.Minute, Duration: time.Minute}, func() time.Time {
		return time.Unix(0, now.Add(1000))
	})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range maxTrackedClients / 2 {
				l.fail(lockoutAddr(g*maxTrackedClients + i))
				l.check(lockoutAddr(i))
				if i%1000 == 0 {
					l.fail("2001:db8::1")
				}
			}
		})
	}
	wg.Wait()
	if n := l.tracked(); n > maxTrackedClients {
		t.Errorf("%d addresses tracked, cap %d", n, maxTrackedClients)
	}
	if !lockedOut(l, "2001:db8::2") {
		t.Error("the address that failed from every goroutine is not locked")
	}
}

package http

import (
	"hash/maphash"
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

// The lockout table is sharded by address, each shard with its own lock,
// its own index and its own queue of entries in arrival order, so that no
// failure ever walks the table and a check only takes one shard's read
// lock:
//
//   - it tracks at most maxTrackedClients addresses (IPv6: /64 prefixes),
//     about 110 bytes each (11 MB in all, docs/performance.md), in
//     memory without pointers, which the garbage collector does not scan;
//   - an address that fails for the first time first lets its shard drop
//     the oldest entries that have nothing left to count (at most
//     lockoutExpireBatch of them), and, when the shard is still full,
//     evicts its oldest entry that is not locked (looking at no more than
//     lockoutEvictLook entries; locked ones go to the back of the queue).
//     Every entry enters the queue once and leaves it once, so the work
//     per failure is O(1), amortised and in the worst case;
//   - failures are counted per slot of Window/lockoutSlots, in a ring of
//     lockoutSlots+1 slots: an entry's memory does not grow with the
//     threshold.
const (
	maxTrackedClients  = 100_000
	lockoutShards      = 64
	lockoutShardCap    = maxTrackedClients / lockoutShards
	lockoutSlots       = 8
	lockoutExpireBatch = 8
	lockoutEvictLook   = 4
)

type lockout struct {
	policy LockoutPolicy
	clock  func() time.Time
	// slot is the width of one counting slot (Window/lockoutSlots), ns.
	slot   int64
	seed   maphash.Seed
	shards [lockoutShards]lockoutShard
	// until is the latest time any address is locked until (Unix ns): when
	// it has passed, nobody is locked and check needs no lock at all.
	until atomic.Int64
}

type lockoutShard struct {
	mu sync.RWMutex
	// queue is a ring of entries, oldest arrival at head, n of them in
	// use; it grows by doubling up to lockoutShardCap. index maps each
	// tracked client to its place in the ring.
	queue   []clientFailures
	head, n int
	index   map[clientKey]int32
	// examined counts the entries expiry and eviction looked at: the work
	// a failure does beyond its own entry (tests bound it).
	examined int
	_        [64]byte // keeps neighbouring shards' locks off one cache line
}

// clientKey is what the lockout counts by: an IPv4 address, or for IPv6
// its /64, since one client commonly holds a whole /64 and could otherwise
// dodge the lock (and grow the table) by changing addresses. Anything that
// is not an IP address (never the case over TCP) is one client.
type clientKey struct {
	addr [16]byte
	kind uint8 // 4, 6, or 0 for not an address
}

func keyOf(ip string) clientKey {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return clientKey{}
	}
	a = a.Unmap()
	if a.Is4() {
		return clientKey{addr: a.As16(), kind: 4}
	}
	p, _ := a.Prefix(64)
	return clientKey{addr: p.Addr().As16(), kind: 6}
}

// clientFailures is what the lockout knows of one client.
type clientFailures struct {
	key clientKey
	// counts are the failures per slot: slot number s (Unix ns / slot) at
	// counts[s % len(counts)]; last is the slot of the latest failure.
	// The sum covers the last lockoutSlots whole slots and the current
	// one: at least Window, at most Window plus one slot.
	counts [lockoutSlots + 1]uint32
	last   int64
	until  int64 // locked until (Unix ns)
}

func newLockout(p LockoutPolicy, clock func() time.Time) *lockout {
	return &lockout{policy: p, clock: clock, slot: max(int64(p.Window)/lockoutSlots, 1), seed: maphash.MakeSeed()}
}

func (l *lockout) shard(k clientKey) *lockoutShard {
	return &l.shards[maphash.Bytes(l.seed, k.addr[:])%lockoutShards]
}

// check fails with 429 locked if the address is locked out.
func (l *lockout) check(ip string) error {
	if l.policy.Threshold <= 0 {
		return nil
	}
	now := l.clock().UnixNano()
	if now >= l.until.Load() {
		return nil
	}
	k := keyOf(ip)
	sh := l.shard(k)
	sh.mu.RLock()
	var until int64
	if i, ok := sh.index[k]; ok {
		until = sh.queue[i].until
	}
	sh.mu.RUnlock()
	if now >= until {
		return nil
	}
	wait := time.Duration(until - now)
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
	k := keyOf(ip)
	now := l.clock().UnixNano()
	s := now / l.slot
	sh := l.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, ok := sh.index[k]
	if !ok {
		sh.expire(l, now)
		if sh.n == lockoutShardCap {
			sh.evict(now)
		}
		i = sh.push(clientFailures{key: k, last: s})
	}
	c := &sh.queue[i]
	switch gap := s - c.last; {
	case gap > lockoutSlots:
		c.counts = [lockoutSlots + 1]uint32{}
	case gap > 0:
		for j := c.last + 1; j <= s; j++ {
			c.counts[j%int64(len(c.counts))] = 0
		}
	}
	c.last = s
	c.counts[s%int64(len(c.counts))]++
	var total int
	for _, n := range c.counts {
		total += int(n)
	}
	if total >= l.policy.Threshold {
		c.until = now + int64(l.policy.Duration)
		c.counts = [lockoutSlots + 1]uint32{}
		if c.until > l.until.Load() {
			l.until.Store(c.until)
		}
	}
}

// idle reports whether c has nothing left to do at now: not locked, and
// no failure in the slots it still counts.
func (l *lockout) idle(c *clientFailures, now int64) bool {
	return now >= c.until && now/l.slot-c.last > lockoutSlots
}

// expire drops up to lockoutExpireBatch idle entries from the head of the
// queue (the oldest arrivals), stopping at the first one still in use.
func (sh *lockoutShard) expire(l *lockout, now int64) {
	for i := 0; i < lockoutExpireBatch && sh.n > 0; i++ {
		sh.examined++
		if !l.idle(&sh.queue[sh.head], now) {
			return
		}
		delete(sh.index, sh.pop().key)
	}
}

// evict makes room in a full shard: it drops the oldest entry that is not
// locked among the first lockoutEvictLook, moving locked ones to the back
// so that a flood of new addresses does not lift the locks of the old
// ones; when all of those are locked, the oldest of them goes.
func (sh *lockoutShard) evict(now int64) {
	for i := 0; ; i++ {
		sh.examined++
		c := sh.pop()
		if now < c.until && i < lockoutEvictLook-1 {
			sh.push(c)
			continue
		}
		delete(sh.index, c.key)
		return
	}
}

// push appends c at the back of the queue and indexes it; it returns
// its place. The caller makes room first: the queue never exceeds
// lockoutShardCap.
func (sh *lockoutShard) push(c clientFailures) int32 {
	if sh.n == len(sh.queue) {
		sh.grow()
	}
	i := int32((sh.head + sh.n) % len(sh.queue))
	sh.queue[i] = c
	sh.n++
	sh.index[c.key] = i
	return i
}

// pop removes the entry at the head of the queue (leaving its index to
// the caller) and returns it.
func (sh *lockoutShard) pop() clientFailures {
	c := sh.queue[sh.head]
	sh.head = (sh.head + 1) % len(sh.queue)
	sh.n--
	return c
}

// grow doubles the ring (up to lockoutShardCap), moving its entries to
// the front in order: O(n) once per doubling, so O(1) per entry.
func (sh *lockoutShard) grow() {
	q := make([]clientFailures, min(max(2*len(sh.queue), 16), lockoutShardCap))
	if sh.index == nil {
		sh.index = make(map[clientKey]int32)
	}
	for i := range sh.n {
		q[i] = sh.queue[(sh.head+i)%len(sh.queue)]
		sh.index[q[i].key] = int32(i)
	}
	sh.queue, sh.head = q, 0
}

// tracked returns how many addresses the table holds.
func (l *lockout) tracked() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.RLock()
		n += len(sh.index)
		sh.mu.RUnlock()
	}
	return n
}

// examined returns how many entries expiry and eviction have looked at.
func (l *lockout) examined() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.RLock()
		n += sh.examined
		sh.mu.RUnlock()
	}
	return n
}

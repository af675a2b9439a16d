package service

import (
	"encoding/hex"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// cacheShards splits the verification cache so no lock is shared by all
// requests: a verification takes the read lock of one shard of 64.
const cacheShards = 64

// verifyCache holds what verification needs of recently verified tokens,
// by token hash, so a verification on a hit touches no database and
// allocates nothing. It is exact because every change that could make an
// entry stale arrives as an invalidation (keyward.Store.Subscribe) before
// the change's response is sent on this node, and through the store's feed
// on other nodes; a read that raced an invalidation is never cached (each
// shard has a generation counter).
//
// Each shard evicts with CLOCK (second chance): a hit only sets an atomic
// bit, so hits never write shared state; entries also expire after ttl as a
// safety net. Unknown tokens are remembered briefly (misses) so a flood of
// well-formed unknown tokens does not each reach the database.
type verifyCache struct {
	shards  [cacheShards]shard
	nshards int   // shards in use: fewer for small caches, so the size bound holds
	ttl     int64 // ms
	missTTL int64 // ms

	// shared holds grants and effective scopes of unrestricted keys, per
	// account, mode and project scope: one copy for all such keys.
	sharedMu sync.Mutex
	shared   map[sharedKey]*sharedPower
}

type sharedKey struct {
	account string
	mode    keyward.PermissionMode
	single  bool
}

type sharedPower struct {
	scopes []keyward.Scope
	grants *keyward.Grants
}

type shard struct {
	mu      sync.RWMutex
	entries map[keyward.TokenHash]*entry
	byKey   map[string][]keyward.TokenHash // key id → its cached hashes (more than one while an old secret is in its grace period)
	ring    []*entry
	hand    int
	max     int
	misses  map[keyward.TokenHash]int64 // expiry, Unix ms
	maxMiss int
	gen     atomic.Uint64
	// evicted holds the usage of entries evicted before it was written.
	evicted tallies
	// retired are removed entries a verification may still be counting
	// in: one that found the entry just before it was removed counts its
	// use a moment later. Their counters are collected by the next
	// retireRounds write-behind passes, then they are dropped.
	retired []retiredEntry

	hits, missHits, lookups, evictions atomic.Int64
}

// retireRounds is how many write-behind passes still collect the usage
// of a removed entry: a verification would have to hold the entry for that
// many intervals between finding it and counting its use to be lost.
const retireRounds = 2

type retiredEntry struct {
	e      *entry
	rounds int
}

// entry is one cached token: the precompiled checks, what a verification
// answers, and the usage counted since the last write-behind.
type entry struct {
	hash    keyward.TokenHash
	keyID   string
	account string
	owner   keyward.Owner
	kind    keyward.KeyKind
	check   keyward.CompiledKey
	fetched int64 // Unix ms

	// What a verification answers (API keys).
	name      string
	mode      keyward.PermissionMode
	scopes    []keyward.Scope
	roles     []string
	expiresAt time.Time
	metadata  json.RawMessage
	rateLimit *keyward.RateLimit
	credits   *keyward.Credits
	rl        *rateState
	cr        *creditState

	// match is kept for management keys only: authentication needs the
	// whole key (permissions, operator, allowlist).
	match *keyward.KeyMatch

	slot int
	ref  atomic.Bool
	// counts are the verifications by outcome (keyward.UsageOutcomes;
	// counts[0] is VALID) since the last write-behind; lastUse is the
	// last valid one (Unix ms). 32 bits are plenty between two
	// write-behinds (seconds apart) and keep the entry small.
	counts  [keyward.NumUsageOutcomes]atomic.Int32
	lastUse atomic.Int64
}

func newVerifyCache(size int, ttl time.Duration) *verifyCache {
	c := &verifyCache{ttl: ttl.Milliseconds(), missTTL: (10 * time.Second).Milliseconds(), shared: map[sharedKey]*sharedPower{}}
	if size < 1 {
		size = 1
	}
	// At least 1,024 entries a shard, at most 64 shards.
	c.nshards = min(cacheShards, max(1, size/1024))
	per := (size + c.nshards - 1) / c.nshards
	for i := range c.shards {
		s := &c.shards[i]
		s.entries = map[keyward.TokenHash]*entry{}
		s.byKey = map[string][]keyward.TokenHash{}
		s.misses = map[keyward.TokenHash]int64{}
		s.evicted = tallies{}
		s.max = per
		s.maxMiss = per/4 + 1
	}
	return c
}

func (c *verifyCache) shard(h keyward.TokenHash) *shard { return &c.shards[int(h[0])%c.nshards] }

// generation returns the generation of h's shard: a value read from the
// database before an invalidation must not be cached after it.
func (c *verifyCache) generation(h keyward.TokenHash) uint64 { return c.shard(h).gen.Load() }

// get returns a fresh entry for h; miss reports a remembered unknown token.
// It allocates nothing.
func (c *verifyCache) get(h keyward.TokenHash, now int64) (e *entry, miss bool) {
	s := c.shard(h)
	s.lookups.Add(1)
	s.mu.RLock()
	e = s.entries[h]
	var missUntil int64
	if e == nil {
		missUntil = s.misses[h]
	}
	s.mu.RUnlock()
	if e != nil {
		if now-e.fetched < c.ttl {
			if !e.ref.Load() {
				e.ref.Store(true)
			}
			s.hits.Add(1)
			return e, false
		}
		return nil, false
	}
	if now < missUntil {
		s.missHits.Add(1)
		return nil, true
	}
	return nil, false
}

// getAny returns the entry for h, however old: during an outage the caller
// decides whether it may stand in.
func (c *verifyCache) getAny(h keyward.TokenHash) *entry {
	s := c.shard(h)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.entries[h]
}

// put caches e (read at generation gen) unless an invalidation came in
// since, and reports whether it did.
func (c *verifyCache) put(e *entry, gen uint64) bool {
	s := c.shard(e.hash)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen.Load() != gen {
		return false
	}
	if old := s.entries[e.hash]; old != nil {
		s.remove(old)
	}
	delete(s.misses, e.hash)
	for len(s.ring) >= s.max {
		s.evictOne()
	}
	e.slot = len(s.ring)
	s.ring = append(s.ring, e)
	s.entries[e.hash] = e
	s.byKey[e.keyID] = append(s.byKey[e.keyID], e.hash)
	return true
}

// putMiss remembers that h is no key's, read at generation gen.
func (c *verifyCache) putMiss(h keyward.TokenHash, gen uint64, now int64) {
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen.Load() != gen {
		return
	}
	if len(s.misses) >= s.maxMiss {
		for k := range s.misses { // map order is random: drop any one
			delete(s.misses, k)
			break
		}
	}
	s.misses[h] = now + c.missTTL
}

// evictOne advances the CLOCK hand: entries used since it last passed get
// a second chance; the first that was not is evicted.
func (s *shard) evictOne() {
	for {
		if s.hand >= len(s.ring) {
			s.hand = 0
		}
		e := s.ring[s.hand]
		if e.ref.Load() {
			e.ref.Store(false)
			s.hand++
			continue
		}
		s.remove(e)
		s.evictions.Add(1)
		return
	}
}

// remove drops e, keeping the usage it has not written yet.
func (s *shard) remove(e *entry) {
	last := len(s.ring) - 1
	s.ring[e.slot] = s.ring[last]
	s.ring[e.slot].slot = e.slot
	s.ring[last] = nil
	s.ring = s.ring[:last]
	delete(s.entries, e.hash)
	hashes := s.byKey[e.keyID]
	if i := slices.Index(hashes, e.hash); i >= 0 {
		hashes = slices.Delete(hashes, i, i+1)
	}
	if len(hashes) == 0 {
		delete(s.byKey, e.keyID)
	} else {
		s.byKey[e.keyID] = hashes
	}
	s.evicted.take(e)
	s.retired = append(s.retired, retiredEntry{e: e, rounds: retireRounds})
}

// invalidate drops what an invalidation makes stale.
func (c *verifyCache) invalidate(inv keyward.Invalidation) {
	switch inv.Kind {
	case keyward.InvalidateAccount, keyward.InvalidateAll:
		c.sharedMu.Lock()
		for k := range c.shared {
			if inv.Kind == keyward.InvalidateAll || k.account == inv.ID {
				delete(c.shared, k)
			}
		}
		c.sharedMu.Unlock()
	}
	var hash keyward.TokenHash
	validHash := false
	if inv.Kind == keyward.InvalidateHash {
		n, err := hex.Decode(hash[:], []byte(inv.ID))
		validHash = err == nil && n == len(hash)
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.gen.Add(1)
		switch inv.Kind {
		case keyward.InvalidateKey:
			for hashes := s.byKey[inv.ID]; len(hashes) > 0; hashes = s.byKey[inv.ID] {
				s.remove(s.entries[hashes[0]])
			}
		case keyward.InvalidateHash:
			if validHash {
				delete(s.misses, hash)
				if e := s.entries[hash]; e != nil {
					s.remove(e)
				}
			} else {
				s.flush()
			}
		case keyward.InvalidateAccount, keyward.InvalidateOwner:
			for j := 0; j < len(s.ring); {
				e := s.ring[j]
				if (inv.Kind == keyward.InvalidateAccount && e.account == inv.ID) ||
					(inv.Kind == keyward.InvalidateOwner && e.owner.ID == inv.ID) {
					s.remove(e) // moves the last entry into slot j
					continue
				}
				j++
			}
		default:
			s.flush()
		}
		s.mu.Unlock()
	}
}

func (s *shard) flush() {
	for len(s.ring) > 0 {
		s.remove(s.ring[len(s.ring)-1])
	}
	s.misses = map[keyward.TokenHash]int64{}
	s.hand = 0
}

// sharedPowerOf returns the grants and scopes all unrestricted keys of an
// account with this mode and project scope share, computing them once.
func (c *verifyCache) sharedPowerOf(k sharedKey, scopes func() []keyward.Scope) *sharedPower {
	c.sharedMu.Lock()
	defer c.sharedMu.Unlock()
	if p := c.shared[k]; p != nil {
		return p
	}
	sc := scopes()
	p := &sharedPower{scopes: sc, grants: keyward.NewGrants(sc)}
	c.shared[k] = p
	return p
}

// cacheStats are counters for metrics.
type cacheStats struct {
	Entries, Misses                    int
	Lookups, Hits, MissHits, Evictions int64
}

func (c *verifyCache) stats() cacheStats {
	var st cacheStats
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		st.Entries += len(s.ring)
		st.Misses += len(s.misses)
		s.mu.RUnlock()
		st.Lookups += s.lookups.Load()
		st.Hits += s.hits.Load()
		st.MissHits += s.missHits.Load()
		st.Evictions += s.evictions.Load()
	}
	return st
}

// takeUsage collects and resets the usage counted in entries (and kept
// from evicted ones) since the last call, adding it to into.
func (c *verifyCache) takeUsage(into tallies) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for _, e := range s.ring {
			into.take(e)
		}
		if len(s.evicted) > 0 {
			into.merge(s.evicted)
			s.evicted = tallies{}
		}
		kept := s.retired[:0]
		for _, r := range s.retired {
			into.take(r.e)
			if r.rounds--; r.rounds > 0 {
				kept = append(kept, r)
			}
		}
		clear(s.retired[len(kept):])
		s.retired = kept
		s.mu.Unlock()
	}
}

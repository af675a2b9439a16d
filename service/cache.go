package service

import (
	"container/list"
	"encoding/hex"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

// verifyCache holds what verification needs of recently verified tokens,
// by token hash, so a verification on a hit touches no database. It is
// exact because every change that could make an entry stale arrives as an
// invalidation (keyward.Store.Subscribe) before the change's response is
// sent on this node, and through the store's feed on other nodes.
//
// Entries are evicted least-recently-used beyond the size bound and expire
// after ttl as a safety net. Unknown tokens are remembered briefly (misses)
// so floods of well-formed unknown tokens do not each reach the database.
type verifyCache struct {
	mu       sync.Mutex
	max      int
	ttl      time.Duration
	missTTL  time.Duration
	maxMiss  int
	gen      uint64 // incremented by every invalidation
	lru      *list.List
	entries  map[keyward.TokenHash]*list.Element
	byKey    map[string]map[keyward.TokenHash]struct{}
	byAcct   map[string]map[keyward.TokenHash]struct{}
	byOwner  map[string]map[keyward.TokenHash]struct{}
	misses   map[keyward.TokenHash]time.Time
	missLRU  *list.List
	missElem map[keyward.TokenHash]*list.Element
}

type cacheEntry struct {
	hash    keyward.TokenHash
	match   *keyward.KeyMatch
	power   *keyPower
	fetched time.Time
}

func newVerifyCache(max int, ttl time.Duration) *verifyCache {
	if max <= 0 {
		max = 1
	}
	return &verifyCache{
		max: max, ttl: ttl, missTTL: 10 * time.Second, maxMiss: max/4 + 1,
		lru: list.New(), entries: map[keyward.TokenHash]*list.Element{},
		byKey: map[string]map[keyward.TokenHash]struct{}{}, byAcct: map[string]map[keyward.TokenHash]struct{}{},
		byOwner: map[string]map[keyward.TokenHash]struct{}{},
		misses:  map[keyward.TokenHash]time.Time{}, missLRU: list.New(), missElem: map[keyward.TokenHash]*list.Element{},
	}
}

// generation returns the current invalidation generation: a value read
// from the database before an invalidation must not be cached after it.
func (c *verifyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// get returns a fresh entry for h; miss reports a remembered unknown token.
func (c *verifyCache) get(h keyward.TokenHash, now time.Time) (e *cacheEntry, miss bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[h]; ok {
		e := el.Value.(*cacheEntry)
		if now.Sub(e.fetched) < c.ttl {
			c.lru.MoveToFront(el)
			return e, false
		}
		c.remove(el)
	}
	if at, ok := c.misses[h]; ok {
		if now.Sub(at) < c.missTTL {
			return nil, true
		}
		c.removeMiss(h)
	}
	return nil, false
}

// getAny returns the entry for h, however old: the caller decides whether
// it may stand in (during an outage, within the grace).
func (c *verifyCache) getAny(h keyward.TokenHash) (*cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[h]
	if !ok {
		return nil, false
	}
	return el.Value.(*cacheEntry), true
}

// put caches what was read for h at generation gen, unless an
// invalidation came in since.
func (c *verifyCache) put(h keyward.TokenHash, m *keyward.KeyMatch, pw *keyPower, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if el, ok := c.entries[h]; ok {
		c.remove(el)
	}
	c.removeMiss(h)
	e := &cacheEntry{hash: h, match: m, power: pw, fetched: now}
	c.entries[h] = c.lru.PushFront(e)
	k := m.Key
	index(c.byKey, k.ID, h)
	index(c.byAcct, k.AccountID, h)
	if k.Owner.Type != keyward.OwnerAccount {
		index(c.byOwner, k.Owner.ID, h)
	}
	for c.lru.Len() > c.max {
		c.remove(c.lru.Back())
	}
}

// putMiss remembers that h is no key's, read at generation gen.
func (c *verifyCache) putMiss(h keyward.TokenHash, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	c.removeMiss(h)
	c.misses[h] = now
	c.missElem[h] = c.missLRU.PushFront(h)
	for c.missLRU.Len() > c.maxMiss {
		c.removeMiss(c.missLRU.Back().Value.(keyward.TokenHash))
	}
}

func index(m map[string]map[keyward.TokenHash]struct{}, id string, h keyward.TokenHash) {
	set := m[id]
	if set == nil {
		set = map[keyward.TokenHash]struct{}{}
		m[id] = set
	}
	set[h] = struct{}{}
}

func unindex(m map[string]map[keyward.TokenHash]struct{}, id string, h keyward.TokenHash) {
	if set := m[id]; set != nil {
		delete(set, h)
		if len(set) == 0 {
			delete(m, id)
		}
	}
}

func (c *verifyCache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.entries, e.hash)
	k := e.match.Key
	unindex(c.byKey, k.ID, e.hash)
	unindex(c.byAcct, k.AccountID, e.hash)
	unindex(c.byOwner, k.Owner.ID, e.hash)
}

func (c *verifyCache) removeMiss(h keyward.TokenHash) {
	if el, ok := c.missElem[h]; ok {
		c.missLRU.Remove(el)
		delete(c.missElem, h)
		delete(c.misses, h)
	}
}

// invalidate drops what an invalidation makes stale.
func (c *verifyCache) invalidate(inv keyward.Invalidation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	drop := func(set map[keyward.TokenHash]struct{}) {
		for h := range set {
			if el, ok := c.entries[h]; ok {
				c.remove(el)
			}
		}
	}
	switch inv.Kind {
	case keyward.InvalidateKey:
		drop(c.byKey[inv.ID])
	case keyward.InvalidateAccount:
		drop(c.byAcct[inv.ID])
	case keyward.InvalidateOwner:
		drop(c.byOwner[inv.ID])
	case keyward.InvalidateHash:
		// A miss for this hash is now wrong; so may be an entry of the
		// hash (a key deleted and its hash imported again).
		var h keyward.TokenHash
		if n, err := hexDecode(h[:], inv.ID); err == nil && n == len(h) {
			c.removeMiss(h)
			if el, ok := c.entries[h]; ok {
				c.remove(el)
			}
		} else {
			c.flush()
		}
	default:
		c.flush()
	}
}

func (c *verifyCache) flush() {
	c.lru.Init()
	c.entries = map[keyward.TokenHash]*list.Element{}
	c.byKey = map[string]map[keyward.TokenHash]struct{}{}
	c.byAcct = map[string]map[keyward.TokenHash]struct{}{}
	c.byOwner = map[string]map[keyward.TokenHash]struct{}{}
	c.missLRU.Init()
	c.misses = map[keyward.TokenHash]time.Time{}
	c.missElem = map[keyward.TokenHash]*list.Element{}
}

// size returns the number of cached entries and misses.
func (c *verifyCache) size() (entries, misses int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.missLRU.Len()
}

func hexDecode(dst []byte, s string) (int, error) { return hex.Decode(dst, []byte(s)) }

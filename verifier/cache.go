package verifier

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync"

	"github.com/keyward/keyward"
)

// The remote cache: shards of answers under a least-recently-used bound.
// Invalidation does not search the cache: each answer remembers the
// invalidation number current when its request was sent, and the
// generation slots of what it depends on, hashed into genSlots slots per
// kind. An invalidation gives its slot a new number; an answer is fresh
// while none of its slots, and no flush, has a number after its own. Two
// ids sharing a slot only cost an extra request.
//
// What an answer depends on: a NOT_FOUND on its token hash alone (a key
// taking that token ends it); the answer of a key on the key, its account
// and its owner, and not on the token hash. A hash invalidation says a
// token now belongs to a key, which an answer of that key already knows;
// a token can leave its key only by a change of the key (rotation,
// deletion), which invalidates the key. Depending on the hash as well
// would refuse to store the first answer of every new key whose creation
// event arrives while that answer is in flight.
const (
	rShards  = 64
	genSlots = 4096
	genKinds = 4
)

// Generation kinds.
const (
	genKey = iota
	genAccount
	genOwner
	genHash
)

// rkey is what an answer depends on besides the key's state.
type rkey struct {
	hash     keyward.TokenHash
	query    string
	hasQuery bool
	project  string
	ip       netip.Addr
}

type rentry struct {
	key   rkey
	res   keyward.VerifyResult
	seq   uint64           // the invalidation number when the request was sent
	until int64            // Unix ns after which the answer is not used
	slots [genKinds]uint32 // generation slots: hash if !known; key, account and owner if known
	known bool             // the answer is of a key (not NOT_FOUND)

	prev, next *rentry // LRU list, most recent after the shard's head
}

type rshard struct {
	mu   sync.Mutex
	m    map[rkey]*rentry
	head rentry // sentinel of the LRU list
	max  int
}

func (s *rshard) init(max int) {
	s.max = max
	s.clear()
}

func (s *rshard) clear() {
	s.m = make(map[rkey]*rentry)
	s.head.next, s.head.prev = &s.head, &s.head
}

func (s *rshard) unlink(e *rentry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (s *rshard) pushFront(e *rentry) {
	e.prev, e.next = &s.head, s.head.next
	s.head.next.prev = e
	s.head.next = e
}

func (r *Remote) shard(h *keyward.TokenHash) *rshard {
	return &r.shards[binary.LittleEndian.Uint64(h[:8])&r.mask]
}

func (r *Remote) slotOf(id string) uint32 {
	return uint32(maphash.String(r.seed, id) % genSlots)
}

func (r *Remote) hashSlot(h *keyward.TokenHash) uint32 {
	return uint32(maphash.Bytes(r.seed, h[:]) % genSlots)
}

// fresh reports whether an entry may answer at now (Unix ns).
func (r *Remote) fresh(e *rentry, now int64) bool {
	if now >= e.until || e.seq < r.flushSeq.Load() {
		return false
	}
	if !e.known {
		return r.gens[genHash][e.slots[genHash]].Load() <= e.seq
	}
	return r.gens[genKey][e.slots[genKey]].Load() <= e.seq &&
		r.gens[genAccount][e.slots[genAccount]].Load() <= e.seq &&
		r.gens[genOwner][e.slots[genOwner]].Load() <= e.seq
}

// lookup returns the fresh answer cached under k, dropping a stale one.
func (r *Remote) lookup(k *rkey, now int64) (keyward.VerifyResult, bool) {
	s := r.shard(&k.hash)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[*k]
	if e == nil {
		return keyward.VerifyResult{}, false
	}
	if !r.fresh(e, now) {
		s.unlink(e)
		delete(s.m, e.key)
		return keyward.VerifyResult{}, false
	}
	s.unlink(e)
	s.pushFront(e)
	return e.res, true
}

// store caches an answer whose request was sent at invalidation number
// seq, unless something it depends on was invalidated since.
func (r *Remote) store(k rkey, res keyward.VerifyResult, seq uint64, until, now int64) {
	e := &rentry{key: k, res: res, seq: seq, until: until, known: res.Code != keyward.VerifyNotFound}
	if e.known {
		e.slots[genKey] = r.slotOf(res.KeyID)
		e.slots[genAccount] = r.slotOf(res.AccountID)
		e.slots[genOwner] = r.slotOf(res.Owner.ID)
	} else {
		e.slots[genHash] = r.hashSlot(&k.hash)
	}
	if !r.fresh(e, now) {
		return
	}
	s := r.shard(&k.hash)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.m[k]; old != nil {
		s.unlink(old)
	}
	s.m[k] = e
	s.pushFront(e)
	for len(s.m) > s.max {
		last := s.head.prev
		s.unlink(last)
		delete(s.m, last.key)
	}
	r.stored.Add(1)
}

package keyward

import (
	"crypto/rand"
	"strings"
	"sync"

	"github.com/oklog/ulid/v2"
)

// Object id prefixes. Ids are the prefix followed by a ULID, so they sort by
// creation time and keyset pagination can use them.
const (
	PrefixKey        = "key_"
	PrefixAccount    = "acc_"
	PrefixProject    = "prj_"
	PrefixUser       = "usr_"
	PrefixService    = "sa_"
	PrefixAuditEvent = "evt_"
	PrefixRequest    = "req_"
)

// IDs generates time-ordered object ids: within one process, ids made later
// always sort after ids made earlier, even within one millisecond.
type IDs struct {
	mu      sync.Mutex
	clock   Clock
	entropy *ulid.MonotonicEntropy
	last    uint64 // the last millisecond used; ids never go back before it
}

// NewIDs returns a generator reading time from clock and randomness from
// crypto/rand.
func NewIDs(clock Clock) *IDs {
	return &IDs{clock: clock, entropy: ulid.Monotonic(rand.Reader, 0)}
}

// New returns a fresh id with the given prefix. It panics only if
// crypto/rand fails, which the Go runtime treats as fatal anyway.
func (g *IDs) New(prefix string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	// A wall clock that steps back (NTP) must not make ids go back.
	ms := max(ulid.Timestamp(g.clock()), g.last)
	id, err := ulid.New(ms, g.entropy)
	if err != nil {
		// Monotonic entropy overflows only after 2^80 ids in one
		// millisecond; move to the next millisecond then.
		ms++
		id = ulid.MustNew(ms, g.entropy)
	}
	g.last = ms
	return prefix + id.String()
}

// NewRequestID returns a fresh request id: time-ordered to the millisecond
// and random within it, without the lock the object id generator takes
// (request ids need no strict order, and every request makes one).
func NewRequestID() string {
	id, err := ulid.New(ulid.Now(), rand.Reader)
	if err != nil {
		return PrefixRequest + "0"
	}
	return PrefixRequest + id.String()
}

// ValidID reports whether s is an id with the given prefix: the prefix and a
// canonical, upper-case ULID.
func ValidID(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || len(rest) != ulid.EncodedSize {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') || c == 'I' || c == 'L' || c == 'O' || c == 'U' {
			return false
		}
	}
	// The first character carries only 3 bits; larger values overflow.
	return rest[0] <= '7'
}

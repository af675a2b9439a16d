package discue

import (
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/keyward/keyward"
)

// discue's ids (ResourceId) are 21-character nanoids: 126 bits in the
// URL-safe alphabet. A keyward key id is "key_" and a ULID, 128 bits whose
// two top bits stay zero until the year 4199 (they belong to the 48-bit
// millisecond timestamp). So the 126 low bits of the ULID, six at a time,
// are a discue-shaped id that maps back to exactly one keyward id: no
// table, no second id to store. The alphabet is nanoid's, in ASCII order,
// so discue ids sort like the keyward ids they stand for (by creation).
const (
	idAlphabet = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
	idLen      = 21
)

// publicID returns the discue id of a keyward key id. An id whose ULID
// uses the two top bits (none before the year 4199) is returned as it is;
// paths accept keyward ids too.
func publicID(keyID string) string {
	u, err := ulid.ParseStrict(strings.TrimPrefix(keyID, keyward.PrefixKey))
	if err != nil || !strings.HasPrefix(keyID, keyward.PrefixKey) || u[0]&0xC0 != 0 {
		return keyID
	}
	var out [idLen]byte
	for i := range out {
		var v byte
		for b := 0; b < 6; b++ {
			pos := 2 + i*6 + b // bit index from the most significant bit
			v = v<<1 | (u[pos/8]>>(7-pos%8))&1
		}
		out[i] = idAlphabet[v]
	}
	return string(out[:])
}

// keyID returns the keyward key id that a path's id names: a discue id, or
// a keyward key id as the native API shows it. It reports false for
// anything else (which is then answered like an unknown id).
func keyID(s string) (string, bool) {
	if keyward.ValidID(keyward.PrefixKey, s) {
		return s, true
	}
	if len(s) != idLen {
		return "", false
	}
	var u ulid.ULID
	for i := 0; i < idLen; i++ {
		v := strings.IndexByte(idAlphabet, s[i])
		if v < 0 {
			return "", false
		}
		for b := 0; b < 6; b++ {
			if v>>(5-b)&1 == 1 {
				pos := 2 + i*6 + b
				u[pos/8] |= 1 << (7 - pos%8)
			}
		}
	}
	return keyward.PrefixKey + u.String(), true
}

package pulsecrm

import (
	"context"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/oklog/ulid/v2"
)

// PulseCRM's ApiKey id is an integer; keyward's is key_<ULID>. The integer
// is computed from the ULID, so no table maps one to the other and a key
// made natively or through another dialect has its PulseCRM id at once:
//
//	id = (minutes of the ULID's time since 2020-01-01) << 27 | 27 bits of a hash of the ULID
//
// It stays below 2^53, the largest integer a JavaScript client reads
// exactly, until the year 2147, and it grows with creation time from one
// minute to the next like a database sequence. Finding the key of an id
// lists the account's keys created in that minute (a keyset page starting
// at its end) and picks the one whose hash matches. Minutes rather than
// milliseconds leave 27 bits to the hash, so even a bulk import of 1,000
// keys in one minute gives two of them the same id only about once in 270
// imports; such an id is refused as ambiguous (409) rather than answered
// with either key, and both stay reachable by their apiKey.

const (
	idEpochMillis = 1577836800000 // 2020-01-01T00:00:00Z
	idUnitMillis  = 60_000        // one minute
	idTimeBits    = 26
	idHashBits    = 27
	// maxIntID is 2^53 - 1: larger integers do not survive a JSON
	// round trip through JavaScript.
	maxIntID = 1<<(idTimeBits+idHashBits) - 1
	// apiKeyPrefix starts the apiKey of every key: apiKey-<ULID of the key id>.
	apiKeyPrefix = "apiKey-"
)

// intID returns the PulseCRM id of a keyward key id (0 for a malformed id,
// which the store never holds).
func intID(keyID string) int64 {
	u, err := ulid.ParseStrict(strings.TrimPrefix(keyID, keyward.PrefixKey))
	if err != nil {
		return 0
	}
	unit := ((int64(u.Time()) - idEpochMillis) / idUnitMillis) & (1<<idTimeBits - 1)
	return unit<<idHashBits | idHash(u)
}

func idHash(u ulid.ULID) int64 {
	h := fnv.New32a()
	h.Write(u[:])
	return int64(h.Sum32() & (1<<idHashBits - 1))
}

// apiKeyOf returns the apiKey PulseCRM shows for a key: a stable, public
// identifier that names the keyward key (apiKey-01J… is key_01J…).
func apiKeyOf(keyID string) string {
	return apiKeyPrefix + strings.TrimPrefix(keyID, keyward.PrefixKey)
}

// keyRef is what a path's {id} names: a keyward key id, or an integer
// PulseCRM id to look up.
type keyRef struct {
	keyID string // key_…, when the path named the key directly
	intID int64  // otherwise
}

// parseKeyRef reads the {id} of a path. PulseCRM's integer id is the
// documented form; keyward's own key_… id and the key's apiKey are
// accepted too, so a key known from the native API, or one whose integer
// id is ambiguous, can always be addressed. Anything else names no key.
func parseKeyRef(s string) (keyRef, bool) {
	switch {
	case strings.HasPrefix(s, keyward.PrefixKey):
		return keyRef{keyID: s}, keyward.ValidID(keyward.PrefixKey, s)
	case strings.HasPrefix(s, apiKeyPrefix):
		id := keyward.PrefixKey + strings.TrimPrefix(s, apiKeyPrefix)
		return keyRef{keyID: id}, keyward.ValidID(keyward.PrefixKey, id)
	}
	if s == "" || len(s) > 16 || strings.TrimLeft(s, "0123456789") != "" {
		return keyRef{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > maxIntID {
		return keyRef{}, false
	}
	return keyRef{intID: n}, true
}

// errKeyNotFound is PulseCRM's documented 404 for every key it cannot
// show: unknown, malformed, another account's.
func errKeyNotFound(cause error) error {
	return &keyward.Error{Code: keyward.ECodeNotFound, Message: "API key not found", Err: cause}
}

// findKey returns the API key a path names in the actor's account.
func (h *handler) findKey(ctx context.Context, a *keyward.Actor, s string) (*keyward.Key, error) {
	ref, ok := parseKeyRef(s)
	if !ok {
		// The actor must still be allowed to read keys: a key lookup
		// never answers 404 to a caller who may not look.
		if _, _, err := h.Svc.ListKeys(ctx, a, keyward.KindAPI, keyward.KeyFilter{Page: keyward.Page{Limit: 1}}); err != nil {
			return nil, err
		}
		return nil, errKeyNotFound(nil)
	}
	if ref.keyID != "" {
		k, err := h.Svc.GetKey(ctx, a, keyward.KindAPI, ref.keyID)
		if keyward.ErrorCode(err) == keyward.ECodeNotFound {
			return nil, errKeyNotFound(err)
		}
		return k, err
	}
	return h.findIntID(ctx, a, ref.intID)
}

// findIntID finds the key whose PulseCRM id is n: it pages through the
// account's keys created in n's minute, newest first, from a cursor at the
// end of that minute.
func (h *handler) findIntID(ctx context.Context, a *keyward.Actor, n int64) (*keyward.Key, error) {
	start := uint64(n>>idHashBits*idUnitMillis + idEpochMillis)
	var cursor ulid.ULID
	if err := cursor.SetTime(start + idUnitMillis); err != nil {
		return nil, errKeyNotFound(nil)
	}
	f := keyward.KeyFilter{Page: keyward.Page{Limit: keyward.MaxPageLimit, StartingAfter: keyward.PrefixKey + cursor.String()}}
	var found []*keyward.Key
	for {
		keys, more, err := h.Svc.ListKeys(ctx, a, keyward.KindAPI, f)
		if err != nil {
			return nil, err
		}
		match, past := matchIntID(keys, n, start)
		found = append(found, match...)
		if past || !more || len(keys) == 0 {
			break
		}
		f.StartingAfter = keys[len(keys)-1].ID
	}
	switch len(found) {
	case 0:
		return nil, errKeyNotFound(nil)
	case 1:
		return found[0], nil
	}
	return nil, keyward.Errorf(keyward.ECodeConflict,
		"the id %d names more than one API key (made in the same minute): address the key by its apiKey instead", n)
}

// matchIntID returns the keys of a page (newest first) whose PulseCRM id
// is n, and whether the page reached keys made before start, the first
// millisecond of n's minute (so no later page can hold a match).
func matchIntID(keys []*keyward.Key, n int64, start uint64) (found []*keyward.Key, past bool) {
	for _, k := range keys {
		u, err := ulid.ParseStrict(strings.TrimPrefix(k.ID, keyward.PrefixKey))
		if err != nil {
			continue
		}
		if u.Time() < start {
			return found, true
		}
		if intID(k.ID) == n {
			found = append(found, k)
		}
	}
	return found, false
}

package keyward

import (
	"hash/fnv"
	"strconv"
	"strings"
)

// ETag derives an entity tag from an object id and its version: opaque to
// clients, different for every change.
func entityTag(id string, version int64) string {
	h := fnv.New64a()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, version, 10))
	return strconv.FormatUint(h.Sum64(), 36)
}

// MatchETag reports whether an If-Match header value matches etag: "*", or a
// comma-separated list of (quoted) tags one of which is etag. Weak tags
// never match, as RFC 9110 requires strong comparison for If-Match.
func MatchETag(header, etag string) bool {
	for _, part := range strings.Split(header, ",") {
		part = strings.TrimSpace(part)
		if part == "*" {
			return true
		}
		if strings.HasPrefix(part, "W/") {
			continue
		}
		if strings.Trim(part, `"`) == etag && part != "" {
			return true
		}
	}
	return false
}

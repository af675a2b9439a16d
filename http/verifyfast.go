package http

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward"
)

// The verify route is keyward's hot path: its body and answer have a fixed,
// small shape, so they are read and written by hand here instead of by
// reflection. The fast reader accepts only the common case — a flat object
// of known members whose values are strings without escapes, an integer
// cost, or null — and gives up on anything else, which then goes through
// the strict general decoder: the answer to any body, malformed ones
// included, is exactly what the general decoder gives (a fuzz test holds
// the two to it).

// fastVerify is a verify body read by parseVerifyFast.
type fastVerify struct {
	key, permissions, projectID, ip fastMember[string]
	cost                            fastMember[int64]
}

// fastMember is a member of a fast verify body: whether it was given,
// whether as null, and its value.
type fastMember[T any] struct {
	set, null bool
	v         T
}

// take records the member's value; false when the member was given
// before, or when a value that is not null is not of the member's type
// (typed).
func (m *fastMember[T]) take(v T, isNull, typed bool) bool {
	if m.set || (!isNull && !typed) {
		return false
	}
	m.set, m.null, m.v = true, isNull, v
	return true
}

// value points to the member's value; nil when it is absent or null.
func (m *fastMember[T]) value() *T {
	if !m.set || m.null {
		return nil
	}
	return &m.v
}

// text is the string member called name.
func (v *fastVerify) text(name string) *fastMember[string] {
	switch name {
	case "key":
		return &v.key
	case "permissions":
		return &v.permissions
	case "project_id":
		return &v.projectID
	}
	return &v.ip
}

// parseVerifyFast reads b if it has the common shape; ok is false otherwise.
func parseVerifyFast(b []byte) (v fastVerify, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return v, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i = skipSpace(b, i+1)
		return v, i == len(b)
	}
	for {
		name, j, ok := plainString(b, i)
		if !ok {
			return v, false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return v, false
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return v, false
		}
		isNull := false
		var str string
		var num int64
		switch c := b[i]; {
		case c == 'n':
			if len(b)-i < 4 || string(b[i:i+4]) != "null" {
				return v, false
			}
			isNull, i = true, i+4
		case c == '"':
			if str, i, ok = plainString(b, i); !ok {
				return v, false
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if name != "cost" {
				return v, false
			}
			if num, i, ok = plainInt(b, i); !ok {
				return v, false
			}
		default:
			return v, false
		}
		quoted := b[i-1] == '"'
		switch name {
		case "key", "permissions", "project_id", "ip":
			ok = v.text(name).take(str, isNull, quoted)
		case "cost":
			ok = v.cost.take(num, isNull, !quoted)
		default:
			ok = false
		}
		if !ok {
			return v, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return v, false
		}
		if b[i] == '}' {
			i = skipSpace(b, i+1)
			return v, i == len(b)
		}
		if b[i] != ',' {
			return v, false
		}
		i = skipSpace(b, i+1)
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a JSON string at b[i] that has no escapes, no control
// characters and valid UTF-8; it returns the string and the index after it.
func plainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", i, false
	}
	j := i + 1
	ascii := true
	for ; j < len(b); j++ {
		c := b[j]
		if c == '"' {
			break
		}
		if c == '\\' || c < 0x20 {
			return "", i, false
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	if j >= len(b) {
		return "", i, false
	}
	if !ascii && !utf8.Valid(b[i+1:j]) {
		return "", i, false
	}
	return string(b[i+1 : j]), j + 1, true
}

// plainInt reads a JSON integer (no fraction, no exponent) that fits int64.
func plainInt(b []byte, i int) (int64, int, bool) {
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	start := j
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	if j == start || (j-start > 1 && b[start] == '0') {
		return 0, i, false
	}
	if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
		return 0, i, false
	}
	n, err := strconv.ParseInt(string(b[i:j]), 10, 64)
	if err != nil {
		return 0, i, false
	}
	return n, j, true
}

// request returns the body as a keyward.VerifyRequest.
func (v *fastVerify) request() keyward.VerifyRequest {
	var r keyward.VerifyRequest
	if v.key.set {
		r.Key = keyward.Field[keyward.Token]{Set: true, Null: v.key.null}
		if !v.key.null {
			r.Key.Value = keyward.TokenFromString(v.key.v)
		}
	}
	r.Permissions, r.ProjectID, r.IP, r.Cost = v.permissions.value(), v.projectID.value(), v.ip.value(), v.cost.value()
	return r
}

// queryCache keeps parsed permission queries by their text: services send a
// handful of distinct queries, so most requests skip the parser. It is
// bounded; reads are lock-free.
type queryCache struct {
	m    sync.Map // string → *keyward.Query
	size atomic.Int64
}

const maxCachedQueries = 4096

func (c *queryCache) parse(text string) (*keyward.Query, error) {
	if q, ok := c.m.Load(text); ok {
		return q.(*keyward.Query), nil
	}
	q, err := keyward.ParseQuery(text)
	if err != nil {
		return nil, err
	}
	if c.size.Load() < maxCachedQueries {
		if _, loaded := c.m.LoadOrStore(text, q); !loaded {
			c.size.Add(1)
		}
	}
	return q, nil
}

// appendVerify renders a verification answer as api.VerifyResultOf and
// encoding/json would (compact form), without reflection.
func appendVerify(b []byte, r *keyward.VerifyResult) []byte {
	b = append(b, `{"valid":`...)
	b = strconv.AppendBool(b, r.Valid)
	b = append(b, `,"code":`...)
	b = appendJSONString(b, string(r.Code))
	if r.Code == keyward.VerifyNotFound {
		return append(b, "}\n"...)
	}
	b = append(b, `,"key_id":`...)
	b = appendJSONString(b, r.KeyID)
	b = append(b, `,"account_id":`...)
	b = appendJSONString(b, r.AccountID)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, r.Name)
	b = append(b, `,"owner":{"type":`...)
	b = appendJSONString(b, string(r.Owner.Type))
	b = append(b, `,"id":`...)
	b = appendJSONString(b, r.Owner.ID)
	b = append(b, `},"project_id":`...)
	if r.ProjectID == "" {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, r.ProjectID)
	}
	b = append(b, `,"permission_mode":`...)
	b = appendJSONString(b, string(r.PermissionMode))
	b = append(b, `,"scopes":[`...)
	b = appendEach(b, r.Scopes, appendScope)
	b = append(b, `],"roles":[`...)
	b = appendEach(b, r.Roles, appendJSONString)
	b = append(b, `],"expires_at":`...)
	if r.HasExpiry {
		b = appendJSONTime(b, r.ExpiresAt)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"metadata":`...)
	if len(r.Metadata) == 0 {
		b = append(b, "{}"...)
	} else {
		b = append(b, r.Metadata...)
	}
	b = append(b, `,"credits_remaining":`...)
	if r.HasCredits {
		b = strconv.AppendInt(b, r.CreditsRemaining, 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"rate_limit":`...)
	if r.HasRateLimit {
		b = append(b, `{"limit":`...)
		b = strconv.AppendInt(b, r.RateLimit.Limit, 10)
		b = append(b, `,"remaining":`...)
		b = strconv.AppendInt(b, r.RateLimit.Remaining, 10)
		b = append(b, `,"reset_at":`...)
		b = appendJSONTime(b, r.RateLimit.ResetAt)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	return append(b, "}\n"...)
}

// appendEach writes the items of a JSON array, separated by commas.
func appendEach[T any](b []byte, items []T, each func([]byte, T) []byte) []byte {
	for i, v := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = each(b, v)
	}
	return b
}

func appendScope(b []byte, s keyward.Scope) []byte {
	b = append(b, `{"resource":`...)
	b = appendJSONString(b, s.Resource)
	b = append(b, `,"access":`...)
	b = appendJSONString(b, string(s.Access))
	b = append(b, `,"targets":[`...)
	b = appendEach(b, s.Targets, appendJSONString)
	return append(b, "]}"...)
}

// appendJSONTime writes t as encoding/json does (RFC 3339 with nanoseconds,
// trailing zeros dropped).
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string, escaping as encoding/json
// does with HTML escaping off.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

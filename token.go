package keyward

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"unsafe"
)

// Token format: <prefix>_<body><checksum> (docs/decisions.md, "Tokens and ids").
const (
	// TokenBodyLen is the number of base62 characters of randomness: 30
	// characters carry log2(62^30) ≈ 178 bits, above the 160 required.
	TokenBodyLen = 30
	// TokenChecksumLen is the base62 length of the CRC32 checksum (62^6 > 2^32).
	TokenChecksumLen = 6
	// MaxPrefixLen bounds a token prefix ([a-z][a-z0-9]{0,15}).
	MaxPrefixLen = 16
	// MaxTokenLen bounds any token keyward will hash and look up, including
	// imported ones in a foreign format.
	MaxTokenLen = 512

	DefaultPrefix           = "kw"
	DefaultManagementPrefix = "kwm"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Token is a secret credential. Every way of printing it (String, %v, %d,
// %x, JSON, slog) shows "[redacted]"; only Reveal returns the secret, so a
// token cannot reach a log line or a JSON body by accident.
//
// The secret sits behind a pointer: fmt does not call methods on unexported
// struct fields, so a Token inside another struct printed with %v shows an
// address, never the secret.
type Token struct{ secret *string }

// NewToken returns a fresh token with the given prefix, reading randomness
// from r (crypto/rand.Reader in production). It fails only if r fails or the
// prefix is not valid.
func NewToken(prefix string, r io.Reader) (Token, error) {
	if !ValidPrefix(prefix) {
		return Token{}, fmt.Errorf("invalid token prefix %q", prefix)
	}
	if r == nil {
		r = rand.Reader
	}
	body := make([]byte, TokenBodyLen)
	var buf [64]byte
	n := 0
	for n < TokenBodyLen {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return Token{}, fmt.Errorf("read randomness: %w", err)
		}
		for _, b := range buf {
			// Rejection sampling keeps every character uniform: 248 = 4·62.
			if b >= 248 {
				continue
			}
			body[n] = base62[b%62]
			n++
			if n == TokenBodyLen {
				break
			}
		}
	}
	s := prefix + "_" + string(body)
	s += checksum(s)
	return Token{secret: &s}, nil
}

// TokenFromString wraps a secret a client sent, for hashing and lookup.
func TokenFromString(s string) Token { return Token{secret: &s} }

// Reveal returns the secret. Call it only to hand the secret to its owner
// (the create and rotate responses) or to hash it.
func (t Token) Reveal() string {
	if t.secret == nil {
		return ""
	}
	return *t.secret
}

// IsZero reports whether t holds no secret.
func (t Token) IsZero() bool { return t.Reveal() == "" }

func (Token) String() string               { return "[redacted]" }
func (Token) GoString() string             { return "keyward.Token{[redacted]}" }
func (Token) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (Token) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }
func (Token) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Format makes every fmt verb print the redacted form.
func (t Token) Format(f fmt.State, verb rune) { io.WriteString(f, t.String()) }

// Hash returns the SHA-256 of the token, the only form keyward stores.
func (t Token) Hash() TokenHash { return HashString(t.Reveal()) }

// HashString returns the SHA-256 of a token given as a string, without
// copying it (the hot path of verification).
func HashString(s string) TokenHash {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// Start returns the displayable beginning of a keyward token: the prefix, the
// underscore and the first 4 body characters. For foreign tokens it returns
// at most the first 8 characters.
func (t Token) Start() string {
	s := t.Reveal()
	if i := underscore(s); i > 0 && len(s) >= i+5 {
		return s[:i+5]
	}
	if len(s) > 8 {
		return s[:8]
	}
	return ""
}

// Last4 returns the last 4 characters, for display.
func (t Token) Last4() string {
	s := t.Reveal()
	if len(s) < 12 {
		return ""
	}
	return s[len(s)-4:]
}

// TokenShape classifies a presented token before any lookup.
type TokenShape int

const (
	// ShapeInvalid: empty, too long or containing characters no token has;
	// never looked up.
	ShapeInvalid TokenShape = iota
	// ShapeBadChecksum: keyward's format with a checksum that does not match
	// (a typo or a forgery); never looked up.
	ShapeBadChecksum
	// ShapeKeyward: keyward's format, checksum correct.
	ShapeKeyward
	// ShapeForeign: printable, but not keyward's format; may be a key
	// imported from another system by its hash, so it is looked up.
	ShapeForeign
)

// Lookable reports whether a token of this shape may be a key and is
// looked up: keyward's format with a correct checksum, or a foreign format
// (keys imported from other systems by hash). Malformed tokens and keyward
// tokens with a bad checksum are refused without a lookup.
func (s TokenShape) Lookable() bool { return s == ShapeKeyward || s == ShapeForeign }

// Shape classifies the token without allocating.
func (t Token) Shape() TokenShape { return ShapeOf(t.Reveal()) }

// ShapeOf classifies a token given as a string, without allocating: the
// hot path of verification works on the request's string directly.
func ShapeOf(s string) TokenShape {
	if len(s) == 0 || len(s) > MaxTokenLen {
		return ShapeInvalid
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return ShapeInvalid
		}
	}
	i := underscore(s)
	if i < 1 || !ValidPrefix(s[:i]) || len(s)-i-1 != TokenBodyLen+TokenChecksumLen {
		return ShapeForeign
	}
	for j := i + 1; j < len(s); j++ {
		if !isBase62(s[j]) {
			return ShapeForeign
		}
	}
	body := s[:len(s)-TokenChecksumLen]
	if !checksumMatches(body, s[len(body):]) {
		return ShapeBadChecksum
	}
	return ShapeKeyward
}

// Prefix returns the token's prefix for keyward-format tokens, "" otherwise.
func (t Token) Prefix() string {
	s := t.Reveal()
	if i := underscore(s); i > 0 && ValidPrefix(s[:i]) {
		return s[:i]
	}
	return ""
}

// ValidPrefix reports whether p is a valid token prefix: [a-z][a-z0-9]{0,15}.
func ValidPrefix(p string) bool {
	if len(p) == 0 || len(p) > MaxPrefixLen || p[0] < 'a' || p[0] > 'z' {
		return false
	}
	for i := 1; i < len(p); i++ {
		if !(p[i] >= 'a' && p[i] <= 'z' || p[i] >= '0' && p[i] <= '9') {
			return false
		}
	}
	return true
}

// underscore returns the index of the first '_' within the prefix range, or -1.
func underscore(s string) int {
	for i := 0; i < len(s) && i <= MaxPrefixLen; i++ {
		if s[i] == '_' {
			return i
		}
	}
	return -1
}

func isBase62(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// checksum returns the 6-character base62 CRC32 (IEEE) of s, left-padded with '0'.
func checksum(s string) string {
	var out [TokenChecksumLen]byte
	v := crc32.ChecksumIEEE([]byte(s))
	for i := TokenChecksumLen - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return string(out[:])
}

func checksumMatches(s, sum string) bool {
	v := crc32.ChecksumIEEE(unsafe.Slice(unsafe.StringData(s), len(s)))
	for i := TokenChecksumLen - 1; i >= 0; i-- {
		if sum[i] != base62[v%62] {
			return false
		}
		v /= 62
	}
	return true
}

// TokenHash is the SHA-256 of a token.
type TokenHash [sha256.Size]byte

// Equal compares two hashes in constant time.
func (h TokenHash) Equal(o TokenHash) bool { return subtle.ConstantTimeCompare(h[:], o[:]) == 1 }

// String returns the hash in hex. A hash is not a secret, but it is not
// shown by the API either.
func (h TokenHash) String() string { return hex.EncodeToString(h[:]) }

// UnmarshalJSON reads a token sent by a client as a JSON string.
func (t *Token) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	t.secret = &s
	return nil
}

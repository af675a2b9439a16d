package keyward

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// MasterKeySize is the size of the server's master key: AES-256.
const MasterKeySize = 32

// sealVersion is the first byte of every sealed value, so the format (and
// the master key generation) can change later.
const sealVersion byte = 1

// MasterKey seals the tokens of recoverable keys. Its String and LogValue
// are redacted like a Token's.
type MasterKey struct {
	aead        cipher.AEAD
	fingerprint []byte
}

// ParseMasterKey reads a master key: 32 bytes given as 64 hex characters or
// as base64 (standard or URL alphabet, padded or not), surrounding space
// ignored; a file may also hold the 32 raw bytes. 32 printable characters
// are not taken as raw bytes: that is a passphrase, not a random key.
// Anything else is an error that does not echo the input.
func ParseMasterKey(b []byte) (*MasterKey, error) {
	raw := b
	if len(b) != MasterKeySize || printable(b) {
		s := strings.TrimSpace(string(b))
		var err error
		switch {
		case len(s) == 2*MasterKeySize:
			raw, err = hex.DecodeString(s)
		default:
			raw, err = decodeBase64(s)
		}
		if err != nil || len(raw) != MasterKeySize {
			return nil, errors.New("a master key must be 32 bytes: 64 hex characters, base64, or 32 raw bytes")
		}
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte("keyward master key fingerprint v1"))
	return &MasterKey{aead: aead, fingerprint: mac.Sum(nil)}, nil
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

func (*MasterKey) String() string               { return "[redacted]" }
func (*MasterKey) GoString() string             { return "keyward.MasterKey{[redacted]}" }
func (*MasterKey) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (*MasterKey) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// Format makes every fmt verb print the redacted form.
func (m *MasterKey) Format(f fmt.State, verb rune) { io.WriteString(f, m.String()) }

// Fingerprint returns a value derived from the master key that can be mixed
// into other key derivations without revealing the master key.
func (m *MasterKey) Fingerprint() []byte { return append([]byte(nil), m.fingerprint...) }

// Seal encrypts a token for the key with the given id. The id is bound as
// additional data: a sealed secret copied onto another key does not open.
func (m *MasterKey) Seal(keyID string, tok Token) ([]byte, error) {
	nonce := make([]byte, m.aead.NonceSize(), 1+m.aead.NonceSize()+len(tok.Reveal())+m.aead.Overhead())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, err
	}
	out := append([]byte{sealVersion}, nonce...)
	return m.aead.Seal(out, nonce, []byte(tok.Reveal()), []byte(keyID)), nil
}

// Open decrypts a sealed token of the key with the given id. It fails if
// the value was not sealed by this master key for this key.
func (m *MasterKey) Open(keyID string, sealed []byte) (Token, error) {
	n := m.aead.NonceSize()
	if len(sealed) < 1+n+m.aead.Overhead() || sealed[0] != sealVersion {
		return Token{}, fmt.Errorf("sealed secret of key %s has an unknown format", keyID)
	}
	plain, err := m.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(keyID))
	if err != nil {
		return Token{}, fmt.Errorf("sealed secret of key %s does not open with this master key", keyID)
	}
	return TokenFromString(string(plain)), nil
}

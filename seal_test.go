package keyward

import (
	"bytes"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// dtSealRaw returns 32 bytes that are not text: control bytes, high
// bytes, and a start that base64 writes as "++//" (standard) or "--__" (URL).
func dtSealRaw() []byte {
	b := make([]byte, MasterKeySize)
	for i := range b {
		b[i] = byte(i*37 + 200)
	}
	b[0], b[1], b[2] = 0xfb, 0xef, 0xff
	return b
}

func dtSealKey(t testing.TB, b []byte) *MasterKey {
	t.Helper()
	m, err := ParseMasterKey(b)
	if err != nil {
		t.Fatalf("ParseMasterKey: %v", err)
	}
	return m
}

func dtSealToken(t testing.TB) Token {
	t.Helper()
	tok, err := NewToken("kw", crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Every accepted encoding of the same 32 bytes is the same key: what one
// seals, the others open.
func TestDtParseMasterKeyFormats(t *testing.T) {
	raw := dtSealRaw()
	h := hex.EncodeToString(raw)
	formats := map[string][]byte{
		"raw bytes":                  raw,
		"hex":                        []byte(h),
		"hex upper case":             []byte(strings.ToUpper(h)),
		"hex with newline":           []byte(h + "\n"),
		"hex with spaces around":     []byte("  \t" + h + " \r\n"),
		"base64 standard":            []byte(base64.StdEncoding.EncodeToString(raw)),
		"base64 standard unpadded":   []byte(base64.RawStdEncoding.EncodeToString(raw)),
		"base64 URL":                 []byte(base64.URLEncoding.EncodeToString(raw)),
		"base64 URL unpadded":        []byte(base64.RawURLEncoding.EncodeToString(raw)),
		"base64 with trailing space": []byte(base64.StdEncoding.EncodeToString(raw) + "\n"),
	}
	// The fixture uses both alphabets' special characters, so the URL
	// and standard forms really differ.
	if bytes.Equal(formats["base64 standard"], formats["base64 URL"]) {
		t.Fatal("fixture: standard and URL base64 are identical")
	}
	ref := dtSealKey(t, raw)
	tok := dtSealToken(t)
	sealed, err := ref.Seal("key_1", tok)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range formats {
		t.Run(name, func(t *testing.T) {
			m := dtSealKey(t, b)
			got, err := m.Open("key_1", sealed)
			if err != nil {
				t.Fatalf("a key given as %s does not open what the raw key sealed: %v", name, err)
			}
			if got.Reveal() != tok.Reveal() {
				t.Fatal("opened a different token")
			}
			if !bytes.Equal(m.Fingerprint(), ref.Fingerprint()) {
				t.Fatal("fingerprint differs between encodings of one key")
			}
		})
	}
}

func TestDtParseMasterKeyRefused(t *testing.T) {
	raw := dtSealRaw()
	long := append(dtSealRaw(), 1)
	tests := map[string][]byte{
		"empty":                    nil,
		"blank":                    []byte(" \n\t"),
		"31 raw bytes":             raw[:31],
		"33 raw bytes":             long,
		"62 hex characters":        []byte(hex.EncodeToString(raw[:31])),
		"66 hex characters":        []byte(hex.EncodeToString(long)),
		"64 characters, not hex":   []byte(strings.Repeat("g", 64)),
		"hex with inner space":     []byte(hex.EncodeToString(raw[:16]) + " " + hex.EncodeToString(raw[16:])),
		"base64 of 31 bytes":       []byte(base64.StdEncoding.EncodeToString(raw[:31])),
		"base64 of 33 bytes":       []byte(base64.StdEncoding.EncodeToString(long)),
		"base64 of 48 bytes":       []byte(base64.StdEncoding.EncodeToString(bytes.Repeat(raw, 2)[:48])),
		"base64 of 16 bytes":       []byte(base64.StdEncoding.EncodeToString(raw[:16])),
		"text":                     []byte("correct horse battery staple!!"),
		"passphrase of 40 letters": []byte(strings.Repeat("secret", 7)[:40]),
		"hex with 0x prefix":       []byte("0x" + hex.EncodeToString(raw)),
		"raw bytes with newline":   append(dtSealRaw(), '\n'),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := ParseMasterKey(b)
			if err == nil {
				t.Fatalf("accepted (%v)", m)
			}
			msg := err.Error()
			for _, secret := range []string{string(b), strings.TrimSpace(string(b)), hex.EncodeToString(b)} {
				if len(secret) >= 8 && strings.Contains(msg, secret) {
					t.Fatalf("the error echoes the input: %q", msg)
				}
			}
		})
	}
}

func TestDtSealRoundTrip(t *testing.T) {
	m := dtSealKey(t, dtSealRaw())
	for _, tok := range []Token{dtSealToken(t), TokenFromString("x"), TokenFromString(""), TokenFromString(strings.Repeat("é", 300))} {
		sealed, err := m.Seal(dtKeyID, tok)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok.Reveal()) >= 4 && bytes.Contains(sealed, []byte(tok.Reveal())) {
			t.Fatal("the sealed value contains the token")
		}
		got, err := m.Open(dtKeyID, sealed)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if got.Reveal() != tok.Reveal() {
			t.Fatalf("Open = %q, want %q", got.Reveal(), tok.Reveal())
		}
	}
}

func TestDtSealNoncesDiffer(t *testing.T) {
	m := dtSealKey(t, dtSealRaw())
	tok := dtSealToken(t)
	seen := map[string]bool{}
	nonces := map[string]bool{}
	for i := 0; i < 100; i++ {
		s, err := m.Seal(dtKeyID, tok)
		if err != nil {
			t.Fatal(err)
		}
		if seen[string(s)] {
			t.Fatalf("two seals of one token are identical after %d seals", i)
		}
		seen[string(s)] = true
		if s[0] != sealVersion {
			t.Fatalf("sealed value starts with %d, want the version %d", s[0], sealVersion)
		}
		nonce := string(s[1:13])
		if nonces[nonce] {
			t.Fatalf("nonce repeated after %d seals", i)
		}
		nonces[nonce] = true
	}
}

func TestDtOpenRefuses(t *testing.T) {
	m := dtSealKey(t, dtSealRaw())
	other := make([]byte, MasterKeySize)
	copy(other, dtSealRaw())
	other[31] ^= 1 // one bit apart
	m2 := dtSealKey(t, other)
	tok := dtSealToken(t)
	sealed, err := m.Seal(dtKeyID, tok)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		m      *MasterKey
		keyID  string
		sealed []byte
	}{
		"another key id":         {m, "key_01HZX3K8Q4W2N5R7T9V0B1C2D9", sealed},
		"empty key id":           {m, "", sealed},
		"another master key":     {m2, dtKeyID, sealed},
		"empty":                  {m, dtKeyID, nil},
		"version only":           {m, dtKeyID, sealed[:1]},
		"truncated tag":          {m, dtKeyID, sealed[:len(sealed)-1]},
		"nonce and tag only":     {m, dtKeyID, sealed[:1+12+16]},
		"unknown version":        {m, dtKeyID, append([]byte{2}, sealed[1:]...)},
		"extra byte":             {m, dtKeyID, append(bytes.Clone(sealed), 0)},
		"another token's sealed": {m, dtKeyID, func() []byte { s, _ := m2.Seal(dtKeyID, tok); return s }()},
	}
	// Every single flipped bit, in the version, the nonce, the ciphertext
	// and the tag, is detected.
	for i := 0; i < len(sealed); i++ {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(sealed)
			bad[i] ^= bit
			cases[fmt.Sprintf("bit %#x of byte %d flipped", bit, i)] = struct {
				m      *MasterKey
				keyID  string
				sealed []byte
			}{m, dtKeyID, bad}
		}
	}
	for name, c := range cases {
		got, err := c.m.Open(c.keyID, c.sealed)
		if err == nil {
			t.Errorf("%s: Open succeeded (%d characters)", name, len(got.Reveal()))
			continue
		}
		if strings.Contains(err.Error(), tok.Reveal()) {
			t.Errorf("%s: the error contains the token", name)
		}
		if !got.IsZero() {
			t.Errorf("%s: a failed Open returned a token", name)
		}
	}
	// The original still opens: nothing above changed it.
	if got, err := m.Open(dtKeyID, sealed); err != nil || got.Reveal() != tok.Reveal() {
		t.Fatalf("the untouched sealed value no longer opens: %v", err)
	}
}

// Two master keys have different fingerprints, and the fingerprint is not
// the key.
func TestDtMasterKeyFingerprint(t *testing.T) {
	raw := dtSealRaw()
	m := dtSealKey(t, raw)
	other := bytes.Clone(raw)
	other[0] ^= 1
	if bytes.Equal(m.Fingerprint(), dtSealKey(t, other).Fingerprint()) {
		t.Fatal("two master keys share a fingerprint")
	}
	fp := m.Fingerprint()
	if len(fp) < 32 || bytes.Contains(fp, raw[:8]) {
		t.Fatalf("fingerprint %x looks like the key", fp)
	}
	fp[0] ^= 0xff
	if bytes.Equal(fp, m.Fingerprint()) {
		t.Fatal("Fingerprint returns the master key's own slice")
	}
}

// A master key printed or logged in any way shows neither the key nor its
// fingerprint (which derives the keys sealing idempotent answers).
func TestDtMasterKeyRedacted(t *testing.T) {
	raw := dtSealRaw()
	m := dtSealKey(t, raw)
	fp := m.Fingerprint()
	forbidden := map[string]string{
		"key hex":                    hex.EncodeToString(raw)[:16],
		"key base64":                 base64.StdEncoding.EncodeToString(raw)[:12],
		"fingerprint hex":            hex.EncodeToString(fp)[:16],
		"fingerprint Go syntax":      fmt.Sprintf("%#x, %#x, %#x", fp[0], fp[1], fp[2]),
		"fingerprint decimal":        strings.Trim(fmt.Sprint(fp[:3]), "[]"),
		"key Go syntax":              fmt.Sprintf("%#x, %#x, %#x", raw[0], raw[1], raw[2]),
		"fingerprint base64":         base64.StdEncoding.EncodeToString(fp)[:12],
		"fingerprint hex upper case": strings.ToUpper(hex.EncodeToString(fp)[:16]),
	}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%s", "%#v", "%q", "%x", "%X", "%d"} {
		out = append(out, verb+" "+fmt.Sprintf(verb, m))
	}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		slog.New(h(&b)).Info("starting", "master_key", m)
		out = append(out, "slog "+b.String())
	}
	for _, o := range out {
		for what, s := range forbidden {
			if strings.Contains(o, s) {
				t.Errorf("%s: output shows the %s: %s", strings.SplitN(o, " ", 2)[0], what, o)
			}
		}
	}
	if got := fmt.Sprint(m); got != "[redacted]" {
		t.Errorf("String = %q, want [redacted]", got)
	}
}

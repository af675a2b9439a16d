package keyward

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
)

// dtMustToken returns a fresh token or fails the test.
func dtMustToken(t testing.TB, prefix string) Token {
	t.Helper()
	tok, err := NewToken(prefix, rand.Reader)
	if err != nil {
		t.Fatalf("NewToken(%q): %v", prefix, err)
	}
	return tok
}

func TestDtTokenConstants(t *testing.T) {
	if len(base62) != 62 {
		t.Fatalf("base62 alphabet has %d characters, want 62", len(base62))
	}
	seen := map[rune]bool{}
	for _, c := range base62 {
		if seen[c] {
			t.Fatalf("base62 alphabet repeats %q", c)
		}
		seen[c] = true
		if !isBase62(byte(c)) {
			t.Fatalf("isBase62(%q) = false for a member of the alphabet", c)
		}
	}
	if bits := float64(TokenBodyLen) * math.Log2(62); bits < 160 {
		t.Fatalf("TokenBodyLen %d carries %.1f bits, at least 160 are needed", TokenBodyLen, bits)
	}
	if TokenBodyLen != 30 {
		t.Errorf("TokenBodyLen = %d, want 30", TokenBodyLen)
	}
	if TokenChecksumLen != 6 || math.Pow(62, TokenChecksumLen) < math.Pow(2, 32) {
		t.Errorf("TokenChecksumLen = %d cannot hold every CRC32 value in base62", TokenChecksumLen)
	}
}

func TestDtNewTokenFormat(t *testing.T) {
	for _, prefix := range []string{"kw", "kwm", "a", "acme2", "abcdefghijklmnop"} {
		t.Run(prefix, func(t *testing.T) {
			tok := dtMustToken(t, prefix)
			s := tok.Reveal()
			rest, ok := strings.CutPrefix(s, prefix+"_")
			if !ok {
				t.Fatalf("token %q does not start with %q", s, prefix+"_")
			}
			if len(rest) != TokenBodyLen+TokenChecksumLen {
				t.Fatalf("body+checksum of %q has %d characters, want %d", s, len(rest), TokenBodyLen+TokenChecksumLen)
			}
			for i := 0; i < len(rest); i++ {
				if !strings.ContainsRune(base62, rune(rest[i])) {
					t.Fatalf("character %q of %q is not base62", rest[i], s)
				}
			}
			body := s[:len(s)-TokenChecksumLen]
			if got, want := s[len(body):], checksum(body); got != want {
				t.Fatalf("checksum of %q is %q, want %q (CRC32 of prefix and body)", s, got, want)
			}
			if tok.Shape() != ShapeKeyward {
				t.Fatalf("Shape(%q) = %v, want ShapeKeyward", s, tok.Shape())
			}
			if tok.Prefix() != prefix {
				t.Fatalf("Prefix() = %q, want %q", tok.Prefix(), prefix)
			}
		})
	}
	t.Run("nil reader uses crypto/rand", func(t *testing.T) {
		tok, err := NewToken("kw", nil)
		if err != nil || tok.Shape() != ShapeKeyward {
			t.Fatalf("NewToken(kw, nil) = %v, %v", tok.Shape(), err)
		}
	})
}

func TestDtNewTokenBadPrefix(t *testing.T) {
	for _, prefix := range []string{"", "A", "Kw", "1kw", "_", "kw_", "k-w", "k w", "kw.", "abcdefghijklmnopq", "ké"} {
		t.Run(fmt.Sprintf("%q", prefix), func(t *testing.T) {
			tok, err := NewToken(prefix, rand.Reader)
			if err == nil {
				t.Fatalf("NewToken(%q) = %q, want an error", prefix, tok.Reveal())
			}
			if !tok.IsZero() {
				t.Fatalf("NewToken(%q) failed but returned a non-zero token", prefix)
			}
		})
	}
}

// dtBytesReader returns the given bytes, then fails.
type dtBytesReader struct{ b []byte }

func (r *dtBytesReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errors.New("dt: out of bytes")
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func TestDtNewTokenRandomness(t *testing.T) {
	t.Run("reader failure is an error", func(t *testing.T) {
		_, err := NewToken("kw", &dtBytesReader{b: make([]byte, 10)})
		if err == nil {
			t.Fatal("NewToken with a failing reader succeeded")
		}
	})
	t.Run("rejection sampling skips bytes >= 248", func(t *testing.T) {
		// 64 rejected bytes, then bytes whose residues spell the alphabet;
		// 62, 124 and 186 all map to '0', 247 to 'z'.
		var src []byte
		for i := 0; i < 64; i++ {
			src = append(src, byte(248+i%8))
		}
		block := []byte{0, 62, 124, 186, 247, 61, 255, 1, 2, 3}
		for i := 0; i < 64; i++ {
			src = append(src, block[i%len(block)])
		}
		tok, err := NewToken("kw", &dtBytesReader{b: src})
		if err != nil {
			t.Fatal(err)
		}
		body := tok.Reveal()[3 : 3+TokenBodyLen]
		want := strings.Repeat("0000zz123", 4)[:TokenBodyLen]
		if body != want {
			t.Fatalf("body = %q, want %q", body, want)
		}
	})
	t.Run("unique", func(t *testing.T) {
		const n = 20000
		seen := make(map[string]bool, n)
		hashes := make(map[TokenHash]bool, n)
		for i := 0; i < n; i++ {
			tok := dtMustToken(t, "kw")
			if seen[tok.Reveal()] || hashes[tok.Hash()] {
				t.Fatalf("token %d repeats an earlier token", i)
			}
			seen[tok.Reveal()] = true
			hashes[tok.Hash()] = true
		}
	})
	t.Run("uniform body characters", func(t *testing.T) {
		// Chi-square over 100k body characters with 61 degrees of freedom:
		// the mean is 61 and the standard deviation 11; the bound of 200 is
		// beyond p < 1e-15, yet a plain b%62 without rejection sampling
		// scores about 650.
		const chars = 100_000
		counts := map[byte]int{}
		total := 0
		for total < chars {
			s := dtMustToken(t, "kw").Reveal()
			for _, c := range []byte(s[3 : 3+TokenBodyLen]) {
				counts[c]++
				total++
			}
		}
		expected := float64(total) / 62
		chi := 0.0
		for i := 0; i < len(base62); i++ {
			d := float64(counts[base62[i]]) - expected
			chi += d * d / expected
		}
		if chi > 200 {
			t.Fatalf("chi-square of body characters = %.1f over %d characters, want < 200 (counts %v)", chi, total, counts)
		}
		if len(counts) != 62 {
			t.Fatalf("only %d distinct characters in %d", len(counts), total)
		}
	})
}

func TestDtTokenShape(t *testing.T) {
	valid := dtMustToken(t, "kw").Reveal()
	tests := []struct {
		name string
		tok  string
		want TokenShape
	}{
		{"keyward", valid, ShapeKeyward},
		{"empty", "", ShapeInvalid},
		{"too long", strings.Repeat("a", MaxTokenLen+1), ShapeInvalid},
		{"longest foreign", strings.Repeat("a", MaxTokenLen), ShapeForeign},
		{"space inside", valid[:10] + " " + valid[11:], ShapeInvalid},
		{"leading space", " " + valid, ShapeInvalid},
		{"trailing newline", valid + "\n", ShapeInvalid},
		{"tab", "sk_live\tabc", ShapeInvalid},
		{"NUL", "sk_live\x00abc", ShapeInvalid},
		{"DEL", "sk_live\x7fabc", ShapeInvalid},
		{"non-ASCII", "sk_live_é", ShapeInvalid},
		{"foreign stripe-like", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", ShapeForeign},
		{"foreign no underscore", "abcdefghijklmnopqrstuvwxyz", ShapeForeign},
		{"uppercase prefix", "KW" + valid[2:], ShapeForeign},
		{"body one short", valid[:len(valid)-1], ShapeForeign},
		{"body one long", valid + "a", ShapeForeign},
		{"non-base62 in body", valid[:5] + "-" + valid[6:], ShapeForeign},
		{"prefix too long", strings.Repeat("a", 17) + valid[2:], ShapeForeign},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := TokenFromString(tc.tok).Shape(); got != tc.want {
				t.Fatalf("Shape(%q) = %v, want %v", tc.tok, got, tc.want)
			}
		})
	}
}

// Only keyward's format with a good checksum and foreign formats are looked
// up; the rest is NOT_FOUND without a lookup.
func TestDtTokenShapeLookable(t *testing.T) {
	for shape, want := range map[TokenShape]bool{ShapeInvalid: false, ShapeBadChecksum: false, ShapeKeyward: true, ShapeForeign: true} {
		if got := shape.Lookable(); got != want {
			t.Errorf("%v.Lookable() = %v, want %v", shape, got, want)
		}
	}
}

// Every single-character substitution of a valid token must be caught
// before a lookup: CRC32 detects every error confined to one byte.
func TestDtTokenShapeSingleSubstitution(t *testing.T) {
	for _, prefix := range []string{"kw", "kwm", "a", "acme"} {
		for n := 0; n < 5; n++ {
			s := dtMustToken(t, prefix).Reveal()
			for i := 0; i < len(s); i++ {
				for c := byte(0x21); c < 0x7f; c++ {
					if c == s[i] {
						continue
					}
					changed := s[:i] + string(c) + s[i+1:]
					got := TokenFromString(changed).Shape()
					if got == ShapeKeyward {
						t.Fatalf("changing character %d of %q to %q gives %q, still ShapeKeyward", i, s, c, changed)
					}
					// A base62 change in body or checksum keeps the format,
					// so it must be reported as a bad checksum.
					if i > len(prefix) && isBase62(c) && got != ShapeBadChecksum {
						t.Fatalf("changing character %d of %q to %q: Shape = %v, want ShapeBadChecksum", i, s, c, got)
					}
				}
			}
		}
	}
}

func TestDtTokenStartLast4(t *testing.T) {
	tok := dtMustToken(t, "acme")
	s := tok.Reveal()
	if got, want := tok.Start(), s[:len("acme_")+4]; got != want {
		t.Errorf("Start() = %q, want %q", got, want)
	}
	if got, want := tok.Last4(), s[len(s)-4:]; got != want {
		t.Errorf("Last4() = %q, want %q", got, want)
	}
	for _, tc := range []struct{ tok, start, last4 string }{
		{"", "", ""},
		{"short", "", ""},
		{"foreigntokenvalue1234", "foreignt", "1234"},
		{"abcdefghijk", "abcdefgh", ""},
	} {
		tk := TokenFromString(tc.tok)
		if tk.Start() != tc.start || tk.Last4() != tc.last4 {
			t.Errorf("%q: Start, Last4 = %q, %q; want %q, %q", tc.tok, tk.Start(), tk.Last4(), tc.start, tc.last4)
		}
	}
}

func TestDtTokenHash(t *testing.T) {
	tok := dtMustToken(t, "kw")
	want := sha256.Sum256([]byte(tok.Reveal()))
	h := tok.Hash()
	if !bytes.Equal(h[:], want[:]) {
		t.Fatalf("Hash() = %x, want SHA-256 of the whole token %x", h, want)
	}
	if h.String() != hex.EncodeToString(want[:]) {
		t.Fatalf("TokenHash.String() = %q, want hex %q", h.String(), hex.EncodeToString(want[:]))
	}
	if !h.Equal(tok.Hash()) {
		t.Fatal("Equal of a hash with itself is false")
	}
	for i := 0; i < len(h); i++ {
		o := h
		o[i] ^= 0x80
		if h.Equal(o) {
			t.Fatalf("Equal ignores byte %d", i)
		}
	}
	if h.Equal(TokenHash{}) {
		t.Fatal("Equal to the zero hash is true")
	}
	other := dtMustToken(t, "kw").Hash()
	if h.Equal(other) {
		t.Fatal("two tokens have equal hashes")
	}
}

func TestDtTokenUnmarshalJSON(t *testing.T) {
	tok := dtMustToken(t, "kw")
	var req VerifyRequest
	if err := json.Unmarshal([]byte(`{"key":"`+tok.Reveal()+`"}`), &req); err != nil {
		t.Fatal(err)
	}
	if !req.Key.HasValue() || req.Key.Value.Reveal() != tok.Reveal() {
		t.Fatalf("decoded token differs from the one sent")
	}
	if err := json.Unmarshal([]byte(`{"key":42}`), &req); err == nil {
		t.Fatal("a number decoded as a token")
	}
}

// dtSecretHolder holds a token in an exported field.
type dtSecretHolder struct {
	Name  string
	Token Token
	Ptr   *Token
}

// dtHiddenHolder holds a token in an unexported field, the way an internal
// struct of the service would.
type dtHiddenHolder struct {
	name string
	tok  Token
}

// The secret must not show through any way of printing or encoding a
// token (habit 14).
func TestDtTokenRedaction(t *testing.T) {
	tok := dtMustToken(t, "kw")
	secret := tok.Reveal()
	// The body alone must not appear either (a log line cut at the prefix).
	body := secret[3 : 3+TokenBodyLen]
	check := func(t *testing.T, what, out string) {
		t.Helper()
		if strings.Contains(out, body) || strings.Contains(out, secret) {
			t.Fatalf("%s shows the secret: %s", what, out)
		}
		if strings.Contains(out, hex.EncodeToString([]byte(secret))) || strings.Contains(out, strings.ToUpper(hex.EncodeToString([]byte(secret)))) {
			t.Fatalf("%s shows the secret in hex: %s", what, out)
		}
	}
	t.Run("fmt", func(t *testing.T) {
		for _, verb := range []string{"%v", "%s", "%q", "%x", "%X", "%d", "%+v", "%#v", "%T %v", "%10s", "%-40v", "%.50s", "%c", "%U", "%t"} {
			check(t, "Sprintf("+verb+")", fmt.Sprintf(verb, tok))
			check(t, "Sprintf("+verb+", &tok)", fmt.Sprintf(verb, &tok))
		}
		check(t, "Sprint", fmt.Sprint(tok))
		check(t, "Sprintln", fmt.Sprintln(tok))
		check(t, "String", tok.String())
		check(t, "GoString", tok.GoString())
		check(t, "Errorf", fmt.Errorf("bad %v", tok).Error())
	})
	t.Run("inside values", func(t *testing.T) {
		h := dtSecretHolder{Name: "n", Token: tok, Ptr: &tok}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			check(t, "struct "+verb, fmt.Sprintf(verb, h))
			check(t, "*struct "+verb, fmt.Sprintf(verb, &h))
		}
		check(t, "slice", fmt.Sprintf("%v", []Token{tok}))
		check(t, "map", fmt.Sprintf("%v", map[string]Token{"k": tok}))
		check(t, "map key", fmt.Sprintf("%v", map[Token]int{tok: 1}))
		check(t, "any slice", fmt.Sprintf("%+v", []any{tok, &tok}))
	})
	t.Run("unexported struct field", func(t *testing.T) {
		// fmt cannot call methods on unexported fields, so redaction by
		// methods alone does not reach them.
		h := dtHiddenHolder{name: "n", tok: tok}
		for _, verb := range []string{"%v", "%+v", "%#v"} {
			check(t, "struct with unexported token "+verb, fmt.Sprintf(verb, h))
		}
	})
	t.Run("json", func(t *testing.T) {
		for name, v := range map[string]any{
			"token":     tok,
			"pointer":   &tok,
			"struct":    dtSecretHolder{Token: tok, Ptr: &tok},
			"map value": map[string]any{"t": tok},
			"map key":   map[Token]int{tok: 1},
			"slice":     []Token{tok},
			"tagged": struct {
				Secret Token `json:"secret"`
			}{tok},
			"omitempty": struct {
				Secret Token `json:"secret,omitempty"`
			}{tok},
		} {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			check(t, "json "+name, string(b))
		}
		b, _ := json.Marshal(tok)
		if string(b) != `"[redacted]"` {
			t.Fatalf(`json.Marshal(token) = %s, want "[redacted]"`, b)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", " ")
		if err := enc.Encode(dtSecretHolder{Token: tok}); err != nil {
			t.Fatal(err)
		}
		check(t, "json encoder", buf.String())
	})
	t.Run("slog", func(t *testing.T) {
		for name, mk := range map[string]func(io.Writer) slog.Handler{
			"text": func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) },
			"json": func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) },
		} {
			t.Run(name, func(t *testing.T) {
				var buf bytes.Buffer
				log := slog.New(mk(&buf))
				log.Info("pair", "token", tok)
				log.Info("pointer", "token", &tok)
				log.Info("attr", slog.Any("token", tok))
				log.Info("group", slog.Group("request", slog.Any("token", tok), slog.String("x", "y")))
				log.Info("struct", slog.Any("holder", dtSecretHolder{Token: tok, Ptr: &tok}))
				log.With("token", tok).Info("with")
				log.WithGroup("g").With(slog.Any("token", tok)).Info("with group")
				log.Info("message " + tok.String())
				log.Info("sprintf", "v", fmt.Sprintf("%v", tok))
				out := buf.String()
				check(t, "slog "+name, out)
				if n := strings.Count(out, "[redacted]"); n < 9 {
					t.Fatalf("slog %s: %d redaction markers in the output, want at least 9:\n%s", name, n, out)
				}
			})
		}
	})
}

package discue

import (
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// nanoid is the shape of discue's ids (its Terraform provider's check,
// with nanoid's full URL alphabet).
var nanoid = regexp.MustCompile(`^[A-Za-z0-9_-]{21}$`)

// discue ids map to keyward ids and back, are nanoid-shaped, and sort as
// the keyward ids do (by creation).
func TestIDMapping(t *testing.T) {
	ids := keyward.NewIDs(time.Now)
	var native, public []string
	for i := 0; i < 2000; i++ {
		n := ids.New(keyward.PrefixKey)
		p := publicID(n)
		if !nanoid.MatchString(p) {
			t.Fatalf("publicID(%s) = %q is not a 21-character nanoid", n, p)
		}
		back, ok := keyID(p)
		if !ok || back != n {
			t.Fatalf("keyID(%q) = %q, %v; want %s", p, back, ok, n)
		}
		native, public = append(native, n), append(public, p)
	}
	if !sort.StringsAreSorted(native) || !sort.StringsAreSorted(public) {
		t.Error("discue ids do not sort like the keyward ids they stand for")
	}
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"key_01ARZ3NDEKTSV4RRFFQ69G5FAV", "key_01ARZ3NDEKTSV4RRFFQ69G5FAV", true}, // a native id is accepted as it is
		{"_Tzrg1O3jk4_FZTAEThNq", "", true},                                        // any 21 characters of the alphabet
		{"---------------------", "key_00000000000000000000000000", true},
		{"zzzzzzzzzzzzzzzzzzzzz", "key_1ZZZZZZZZZZZZZZZZZZZZZZZZZ", true},
		{"_Tzrg1O3jk4_FZTAEThN", "", false}, // 20 characters
		{"_Tzrg1O3jk4_FZTAEThNq!", "", false},
		{"_Tzrg1O3jk4_FZTAEThN!", "", false},
		{"key_81ARZ3NDEKTSV4RRFFQ69G5FAV", "", false}, // overflows a ULID
		{"prj_01ARZ3NDEKTSV4RRFFQ69G5FAV", "", false},
		{"", "", false},
	} {
		got, ok := keyID(tc.in)
		if ok != tc.ok || (tc.want != "" && got != tc.want) {
			t.Errorf("keyID(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if ok && publicID(got) != tc.in && got != tc.in {
			t.Errorf("publicID(keyID(%q)) = %q", tc.in, publicID(got))
		}
	}
	// An id past the year 4199 (the ULID's top bits set) stays native.
	far := "key_7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
	if got := publicID(far); got != far {
		t.Errorf("publicID(%s) = %q", far, got)
	}
}

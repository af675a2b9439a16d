package keyward_test

import (
	"slices"
	"testing"

	"github.com/keyward/keyward"
)

func TestParseScope(t *testing.T) {
	for _, c := range []struct {
		in, text string
		targets  []string
	}{
		{"documents:read", "documents:read", nil},
		{"documents:write:doc_1", "documents:write:doc_1", []string{"doc_1"}},
		{"files.v2:read:a,b", "files.v2:read:a,b", []string{"a", "b"}},
		{"documents:read:*", "documents:read", []string{"*"}},
	} {
		s, err := keyward.ParseScope(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if !slices.Equal(s.Targets, c.targets) || s.Text() != c.text {
			t.Errorf("%q: targets %q, text %q; want %q, %q", c.in, s.Targets, s.Text(), c.targets, c.text)
		}
	}
	for _, bad := range []string{"", "documents", "Documents:read", "documents:admin", "documents:read:", "documents:read:a,,b"} {
		if _, err := keyward.ParseScope(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

package keyward

import (
	"fmt"
	"testing"
)

func TestDtETag(t *testing.T) {
	a1 := entityTag("key_a", 1)
	if a1 != entityTag("key_a", 1) {
		t.Fatal("ETag is not deterministic")
	}
	seen := map[string]string{}
	for _, c := range []struct {
		id string
		v  int64
	}{{"key_a", 1}, {"key_a", 2}, {"key_b", 1}, {"a1", 2}, {"a", 12}, {"", 0}, {"key_a", -1}} {
		e := entityTag(c.id, c.v)
		if e == "" {
			t.Fatalf("ETag(%q, %d) is empty", c.id, c.v)
		}
		for i := 0; i < len(e); i++ {
			if !(e[i] >= '0' && e[i] <= '9' || e[i] >= 'a' && e[i] <= 'z') {
				t.Fatalf("ETag(%q, %d) = %q needs quoting care", c.id, c.v, e)
			}
		}
		key := fmt.Sprintf("(%q, %d)", c.id, c.v)
		if prev, dup := seen[e]; dup {
			t.Fatalf("ETag(%q, %d) = ETag of %s", c.id, c.v, prev)
		}
		seen[e] = key
	}
	k := &Key{ID: "key_a", Version: 7}
	p := &Project{ID: "key_a", Version: 7}
	if k.ETag() != entityTag("key_a", 7) || p.ETag() != entityTag("key_a", 7) {
		t.Fatal("Key.ETag or Project.ETag differs from entityTag(id, version)")
	}
}

func TestDtMatchETag(t *testing.T) {
	const tag = "abc123"
	tests := []struct {
		header string
		want   bool
	}{
		{`"abc123"`, true},
		{`abc123`, true},
		{`*`, true},
		{` * `, true},
		{`"x", *`, true},
		{`"x","abc123"`, true},
		{`"x" , "abc123" , "y"`, true},
		{`W/"abc123"`, false},
		{`W/"x", W/"abc123"`, false},
		{`W/"x", "abc123"`, true},
		{`"abc1234"`, false},
		{`"abc12"`, false},
		{`"ABC123"`, false},
		{`"x"`, false},
		{``, false},
		{`""`, false},
		{`,`, false},
		{`"x",,`, false},
		{`"*"`, false},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			if got := MatchETag(tc.header, tag); got != tc.want {
				t.Fatalf("MatchETag(%q, %q) = %v, want %v", tc.header, tag, got, tc.want)
			}
		})
	}
}

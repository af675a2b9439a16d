package keyward

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

func TestDtValidID(t *testing.T) {
	g := NewIDs(SystemClock)
	good := g.New(PrefixKey)
	if !ValidID(PrefixKey, good) {
		t.Fatalf("ValidID(%q) = false for a generated id", good)
	}
	body := good[len(PrefixKey):]
	tests := []struct {
		prefix, id string
		want       bool
	}{
		{PrefixKey, good, true},
		{PrefixProject, good, false},
		{PrefixProject, PrefixProject + body, true},
		{PrefixService, PrefixService + body, true},
		{PrefixKey, "key_" + strings.ToLower(body), false},
		{PrefixKey, "KEY_" + body, false},
		{PrefixKey, body, false},
		{PrefixKey, "key_" + body[:25], false},
		{PrefixKey, "key_" + body + "0", false},
		{PrefixKey, "key_", false},
		{PrefixKey, "", false},
		{PrefixKey, "key_7ZZZZZZZZZZZZZZZZZZZZZZZZZ", true},
		{PrefixKey, "key_8ZZZZZZZZZZZZZZZZZZZZZZZZZ", false},
		{PrefixKey, "key_80000000000000000000000000", false}, // overflows 128 bits
		{PrefixKey, "key_70000000000000000000000000", true},
		{PrefixKey, "key_0000000000000000000000000I", false},
		{PrefixKey, "key_0000000000000000000000000L", false},
		{PrefixKey, "key_0000000000000000000000000O", false},
		{PrefixKey, "key_0000000000000000000000000U", false},
		{PrefixKey, "key_000000000000000000000000-0", false},
		{PrefixKey, "key_00000000000000000000000 00", false},
	}
	for _, tc := range tests {
		if got := ValidID(tc.prefix, tc.id); got != tc.want {
			t.Errorf("ValidID(%q, %q) = %v, want %v", tc.prefix, tc.id, got, tc.want)
		}
	}
}

// dtAscending fails unless ids are strictly increasing.
func dtAscending(t *testing.T, ids []string) {
	t.Helper()
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("id %d %q does not sort after id %d %q", i, ids[i], i-1, ids[i-1])
		}
	}
}

func TestDtIDsMonotonic(t *testing.T) {
	const n = 20000
	t.Run("wall clock, tight loop", func(t *testing.T) {
		g := NewIDs(SystemClock)
		ids := make([]string, n)
		for i := range ids {
			ids[i] = g.New(PrefixKey)
		}
		dtAscending(t, ids)
	})
	t.Run("frozen clock", func(t *testing.T) {
		frozen := time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
		g := NewIDs(func() time.Time { return frozen })
		ids := make([]string, n)
		for i := range ids {
			ids[i] = g.New(PrefixAuditEvent)
			if !ValidID(PrefixAuditEvent, ids[i]) {
				t.Fatalf("generated id %q is not valid", ids[i])
			}
		}
		dtAscending(t, ids)
		u, err := ulid.ParseStrict(ids[0][len(PrefixAuditEvent):])
		if err != nil {
			t.Fatal(err)
		}
		if got := ulid.Time(u.Time()); !got.Equal(frozen) {
			t.Fatalf("id time = %v, want the clock's %v", got, frozen)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		g := NewIDs(func() time.Time { return dtNow })
		var (
			mu   sync.Mutex
			seen = map[string]bool{}
			wg   sync.WaitGroup
		)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				local := make([]string, 1000)
				for i := range local {
					local[i] = g.New(PrefixKey)
					if i > 0 && local[i] <= local[i-1] {
						t.Errorf("id %q does not sort after %q made before it", local[i], local[i-1])
					}
				}
				mu.Lock()
				defer mu.Unlock()
				for _, id := range local {
					if seen[id] {
						t.Errorf("duplicate id %s", id)
					}
					seen[id] = true
				}
			}()
		}
		wg.Wait()
	})
	// Keyset pagination relies on later ids sorting after earlier ones;
	// a wall clock stepped back (NTP) must not break that within a
	// process, as the IDs doc comment promises.
	t.Run("clock stepping back", func(t *testing.T) {
		now := dtNow
		g := NewIDs(func() time.Time { return now })
		first := g.New(PrefixKey)
		now = now.Add(-time.Second)
		second := g.New(PrefixKey)
		dtAscending(t, []string{first, second})
	})
}

package middleware

import (
	"strconv"
	"sync"
	"testing"
)

// TestQueryCache checks the cache of parsed per-request queries: a query
// is parsed once and shared, the cache holds at most queryCacheSize
// queries however many distinct values clients send, and it is safe for
// concurrent use (go test -race).
func TestQueryCache(t *testing.T) {
	t.Parallel()
	var c queryCache
	a, err := c.get("documents:read:doc_1")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := c.get("documents:read:doc_1"); b != a {
		t.Error("the same query was parsed twice")
	}
	if _, err := c.get("documents:read:doc_1 OR"); err == nil {
		t.Error("a malformed query was accepted")
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3 * queryCacheSize / 2 {
				text := "documents:read:doc_" + strconv.Itoa(g) + "_" + strconv.Itoa(i)
				q, err := c.get(text)
				if err != nil || q.String() != text {
					t.Errorf("get(%q): %v, %v", text, q, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := c.len(); n > queryCacheSize || n < queryCacheSize/2 {
		t.Errorf("%d queries cached, want at most %d (and not emptied)", n, queryCacheSize)
	}
}

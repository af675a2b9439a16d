package http_test

// The verification hot path (issue 5, items 1, 2, 4 and 6) seen from
// outside: a cache hit reads and writes nothing; unknown tokens are
// remembered and forgotten as soon as a key takes them; the cache holds
// its size bound and stays exact for evicted keys; usage is written
// behind in batches; credits hold across nodes; /metrics shows it all.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// TestU5CacheHitTouchesNoDatabase: once a key is cached, verifying it
// (with a permission query, through HTTP, authenticated by a management
// key) runs no read and no write transaction.
func TestU5CacheHitTouchesNoDatabase(t *testing.T) {
	e := u5NewEnv(t, service.Options{UsageFlushInterval: time.Hour})
	e.waitFeed(t)
	_, secret := u5Key(t, e.testEnv, u5obj{"permission_mode": "restricted", "scopes": []u5obj{{"resource": "documents", "access": "read"}}})
	body := u5obj{"key": secret, "permissions": "documents:read"}
	u5Want(t, e.testEnv, "VALID", body) // fills the cache
	reads, writes := e.Store.Reads(), e.Store.Writes()
	for i := 0; i < 200; i++ {
		u5Want(t, e.testEnv, "VALID", body)
	}
	if r, w := e.Store.Reads()-reads, e.Store.Writes()-writes; r != 0 || w != 0 {
		t.Errorf("200 cached verifications ran %d read and %d write transactions, want none", r, w)
	}
	if hits := e.metricInt(t, "keyward_cache_hits_total"); hits < 200 {
		t.Errorf("keyward_cache_hits_total %d after 200 cached verifications", hits)
	}
}

// TestU5MissCache: a well-formed unknown token reads the database once,
// then is answered from memory; importing a key with that token's hash
// makes it verify at once (the remembered miss is dropped).
func TestU5MissCache(t *testing.T) {
	e := u5NewEnv(t, service.Options{UsageFlushInterval: time.Hour})
	e.waitFeed(t)
	tok, err := keyward.NewToken("kw", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body := u5obj{"key": tok.Reveal()}
	u5Want(t, e.testEnv, "NOT_FOUND", body)
	reads := e.Store.Reads()
	for i := 0; i < 50; i++ {
		u5Want(t, e.testEnv, "NOT_FOUND", body)
	}
	if r := e.Store.Reads() - reads; r != 0 {
		t.Errorf("50 verifications of a remembered unknown token ran %d read transactions, want none", r)
	}
	if n := e.metricInt(t, "keyward_cache_miss_hits_total"); n < 50 {
		t.Errorf("keyward_cache_miss_hits_total %d, want at least 50", n)
	}
	h := sha256.Sum256([]byte(tok.Reveal()))
	e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/keys/import", Body: u5obj{"keys": []u5obj{{"hash": hex.EncodeToString(h[:]), "name": "imported"}}}})
	u5Want(t, e.testEnv, "VALID", body)
}

// TestU5CacheBound: a cache of 64 entries verifying 300 keys keeps at most
// 64, evicts the rest, answers every key right, and stays exact: a change
// to an evicted key and to a cached one both show on the next
// verification.
func TestU5CacheBound(t *testing.T) {
	const size, n = 64, 300
	e := u5NewEnv(t, service.Options{CacheSize: size, UsageFlushInterval: 100 * time.Millisecond})
	ids, secrets := make([]string, n), make([]string, n)
	for i := range ids {
		ids[i], secrets[i] = u5Key(t, e.testEnv, u5obj{"name": "k" + strconv.Itoa(i)})
	}
	for round := 0; round < 2; round++ {
		for i, s := range secrets {
			if v := u5Want(t, e.testEnv, "VALID", u5obj{"key": s}); v.KeyID != ids[i] {
				t.Fatalf("key %d verified as %s", i, v.KeyID)
			}
		}
	}
	if got := e.metricInt(t, "keyward_cache_entries"); got > size {
		t.Errorf("keyward_cache_entries %d with --cache-size %d", got, size)
	}
	if got := e.metricInt(t, "keyward_cache_evictions_total"); got < n-size {
		t.Errorf("keyward_cache_evictions_total %d, want at least %d", got, n-size)
	}
	// The first key was evicted long ago, the last is cached.
	for _, i := range []int{0, n - 1} {
		e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + ids[i], Body: u5obj{"status": "disabled"}})
		u5Want(t, e.testEnv, "DISABLED", u5obj{"key": secrets[i]})
	}
	// Usage counted in evicted entries is not lost: every key verified
	// twice shows 2 once written behind.
	deadline := time.Now().Add(10 * time.Second)
	for _, i := range []int{0, 1, n / 2, n - 2} {
		for {
			k := e.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys/" + ids[i]}).JSON(t)
			if k["verifications"] == 2.0 && k["last_used_at"] != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("key %d: verifications %v, last_used_at %v; want 2 and a time", i, k["verifications"], k["last_used_at"])
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestU5WriteBehind: 500 verifications of one key are written in a few
// batched transactions, not one each; the key then shows them all.
func TestU5WriteBehind(t *testing.T) {
	e := u5NewEnv(t, service.Options{UsageFlushInterval: 300 * time.Millisecond})
	id, secret := u5Key(t, e.testEnv, nil)
	writes := e.Store.Writes()
	start := time.Now()
	counts := u5Concurrent(t, e.testEnv, 10, 50, func(int) map[string]any { return u5obj{"key": secret} })
	if counts["VALID"] != 500 {
		t.Fatalf("%v, want 500 VALID", counts)
	}
	deadline := time.Now().Add(10 * time.Second)
	var k map[string]any
	for {
		k = e.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys/" + id}).JSON(t)
		if k["verifications"] == 500.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verifications %v 10 s after 500 verifications, want 500", k["verifications"])
		}
		time.Sleep(50 * time.Millisecond)
	}
	// At most one write per flush interval elapsed (plus the one that
	// was due), whatever the number of verifications.
	intervals := int64(time.Since(start)/(300*time.Millisecond)) + 2
	if w := e.Store.Writes() - writes; w > intervals {
		t.Errorf("%d write transactions for 500 verifications over %d flush intervals", w, intervals)
	}
	last, err := time.Parse(time.RFC3339Nano, k["last_used_at"].(string))
	if err != nil || last.Before(start.Add(-time.Second)) || last.After(time.Now().Add(time.Second)) {
		t.Errorf("last_used_at %v, want a time during the test (%v)", k["last_used_at"], err)
	}
}

// TestU5CreditsAcrossNodes: two nodes on one database spending one key's
// credits at once never spend more than it has.
func TestU5CreditsAcrossNodes(t *testing.T) {
	a := u5NewEnv(t, service.Options{UsageFlushInterval: 100 * time.Millisecond})
	b := u5SecondNode(t, a, nil)
	id, secret := u5Key(t, a.testEnv, u5obj{"credits": u5obj{"remaining": 40}})
	body := func(int) map[string]any { return u5obj{"key": secret} }
	var wg sync.WaitGroup
	var onA, onB map[string]int
	wg.Add(2)
	go func() { defer wg.Done(); onA = u5Concurrent(t, a.testEnv, 10, 6, body) }()
	go func() { defer wg.Done(); onB = u5Concurrent(t, b, 10, 6, body) }()
	wg.Wait()
	if v := onA["VALID"] + onB["VALID"]; v > 40 {
		t.Fatalf("two nodes spent %d credits of 40 (A %v, B %v)", v, onA, onB)
	}
	// Once both nodes give their idle leases back, what was not spent is
	// spendable from either node: in all, exactly 40 VALID.
	spent := onA["VALID"] + onB["VALID"]
	deadline := time.Now().Add(15 * time.Second)
	for spent < 40 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 40 credits could ever be spent", spent)
		}
		for _, node := range []*testEnv{a.testEnv, b} {
			if v := u5V(t, node, u5obj{"key": secret}); v.Code == "VALID" {
				spent++
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, node := range []*testEnv{a.testEnv, b} {
		u5Want(t, node, "USAGE_EXCEEDED", u5obj{"key": secret})
	}
	u5WaitCredits(t, a.testEnv, id, 0)
}

// TestU5Metrics: /metrics shows what issue 5 asks for, and the counters
// move with verifications.
func TestU5Metrics(t *testing.T) {
	e := u5NewEnv(t, service.Options{})
	_, secret := u5Key(t, e.testEnv, nil)
	u5Want(t, e.testEnv, "VALID", u5obj{"key": secret})
	u5Want(t, e.testEnv, "NOT_FOUND", u5obj{"key": "kw_nope"})
	res, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || ct == "" {
		t.Fatalf("/metrics: %d %q", res.StatusCode, ct)
	}
	for _, name := range []string{
		`keyward_verifications_total{code="VALID"}`, `keyward_verifications_total{code="NOT_FOUND"}`,
		"keyward_verify_duration_seconds_count", "keyward_cache_hits_total", "keyward_cache_misses_total",
		"keyward_cache_evictions_total", "keyward_cache_entries", "keyward_writebehind_queue_keys",
		"keyward_writebehind_flush_errors_total", "keyward_ratelimit_backend_configured",
		"keyward_ratelimit_backend_fallback", "keyward_invalidation_feed_healthy",
	} {
		if e.metric(t, name) == "" {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if e.metricInt(t, `keyward_verifications_total{code="VALID"}`) != 1 || e.metricInt(t, "keyward_verify_duration_seconds_count") < 2 {
		t.Errorf("after one VALID and one NOT_FOUND: VALID %s, latency count %s", e.metric(t, `keyward_verifications_total{code="VALID"}`),
			e.metric(t, "keyward_verify_duration_seconds_count"))
	}
}

// waitFeed waits until the node hears every change (on PostgreSQL, once
// its listener is connected): until then it trusts no cached entry and
// reads the database on every verification.
func (e *u5Env) waitFeed(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for e.metric(t, "keyward_invalidation_feed_healthy") != "1" {
		if time.Now().After(deadline) {
			t.Fatal("the invalidation feed is not healthy 15 s after the start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metricInt returns an integer metric of /metrics (-1 if absent).
func (e *u5Env) metricInt(t *testing.T, name string) int64 {
	t.Helper()
	v := e.metric(t, name)
	if v == "" {
		return -1
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("%s = %q", name, v)
	}
	return int64(f)
}

// TestU5CatalogCacheExact: a cache miss computes what a key may do from
// the account's catalog and roles, which are cached too; a change to
// either shows on the next verification of a key never verified before,
// not only of the cached ones.
func TestU5CatalogCacheExact(t *testing.T) {
	e := u5NewEnv(t, service.Options{})
	for _, id := range []string{"reports", "exports"} {
		e.must(http.StatusCreated, req{Method: "PUT", Path: "/v1/catalog/resources/" + id, Body: u5obj{"display_name": id, "readable": true, "writable": true}})
	}
	e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/roles", Body: u5obj{"name": "reporter", "scopes": []u5obj{{"resource": "reports", "access": "read"}}}})
	_, warm := u5Key(t, e.testEnv, u5obj{"permission_mode": "read_only"})
	u5Want(t, e.testEnv, "VALID", u5obj{"key": warm, "permissions": "exports:read"}) // caches the catalog
	_, fresh := u5Key(t, e.testEnv, u5obj{"permission_mode": "read_only"})
	_, byRole := u5Key(t, e.testEnv, u5obj{"permission_mode": "restricted", "roles": []string{"reporter"}})

	// exports becomes write-only: no read_only key may read it, the one
	// never verified before included.
	e.must(http.StatusOK, req{Method: "PUT", Path: "/v1/catalog/resources/exports", Body: u5obj{"display_name": "exports", "readable": false, "writable": true}})
	u5Want(t, e.testEnv, "INSUFFICIENT_PERMISSIONS", u5obj{"key": fresh, "permissions": "exports:read"})
	u5Want(t, e.testEnv, "INSUFFICIENT_PERMISSIONS", u5obj{"key": warm, "permissions": "exports:read"})

	// The role loses its scope: the key holding it, never verified, has
	// nothing; given back, it has it again.
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/roles/reporter", Body: u5obj{"scopes": []u5obj{}}})
	u5Want(t, e.testEnv, "INSUFFICIENT_PERMISSIONS", u5obj{"key": byRole, "permissions": "reports:read"})
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/roles/reporter", Body: u5obj{"scopes": []u5obj{{"resource": "reports", "access": "read"}}}})
	u5Want(t, e.testEnv, "VALID", u5obj{"key": byRole, "permissions": "reports:read"})
}

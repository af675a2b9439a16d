package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/sqlite"
)

// Usage analytics through the real binary: a graceful stop writes every
// count, kill -9 loses at most the last flush interval's, a backup carries
// the usage file, and three nodes on one PostgreSQL database add up
// exactly.

// usVerifyN verifies secret n times on p from 8 goroutines and returns
// how many verifications got an answer.
func usVerifyN(t *testing.T, p *btProc, op, secret string, n int) int64 {
	t.Helper()
	var (
		next, done atomic.Int64
		wg         sync.WaitGroup
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				code, err := clCode(p, op, secret)
				if err != nil {
					return
				}
				if code != "VALID" {
					t.Errorf("verify answered %s, want VALID", code)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return done.Load()
}

// usTotal returns the key's usage total (hour buckets of the last day)
// and its verifications member.
func usTotal(t *testing.T, p *btProc, op, id string) (total, verifications int64) {
	t.Helper()
	s := p.must(200, "GET", "/v1/keys/"+id+"/usage", op, nil)
	k := p.must(200, "GET", "/v1/keys/"+id, op, nil)
	return int64(s["total"].(float64)), int64(k["verifications"].(float64))
}

// usWaitTotal polls the key's usage until its total is want, for at most
// clSeenDeadline (the documented 5 s).
func usWaitTotal(t *testing.T, p *btProc, op, id string, want int64) {
	t.Helper()
	deadline := time.Now().Add(clSeenDeadline)
	for {
		total, n := usTotal(t, p, op, id)
		if total == want && n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage of %s: total %d, verifications %d; want %d within %v", id, total, n, want, clSeenDeadline)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestUsageSurvivesStops(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	const every = time.Second
	args := btServeArgs(dataDir, "--usage-flush-interval", every.String())
	p := btServe(t, btOpts{Args: args})
	op := p.operatorToken()
	k := clCreate(t, p, op, "us counted")

	// A graceful stop writes everything, however recent.
	want := usVerifyN(t, p, op, k.secret, 60)
	p.stop()
	if _, err := os.Stat(filepath.Join(dataDir, sqlite.UsageFileName)); err != nil {
		t.Fatalf("no usage file beside the database: %v", err)
	}
	p = btServe(t, btOpts{Args: args})
	if total, n := usTotal(t, p, op, k.id); total != want || n != want {
		t.Fatalf("after SIGTERM and a restart: total %d, verifications %d; want %d (a graceful stop writes every count)", total, n, want)
	}

	// kill -9 loses at most what the last interval counted: what was
	// verified more than two intervals before the kill survives.
	early := usVerifyN(t, p, op, k.secret, 40)
	time.Sleep(2*every + 500*time.Millisecond)
	late := usVerifyN(t, p, op, k.secret, 30)
	p.signal(syscall.SIGKILL)
	p.wait(10 * time.Second)
	p = btServe(t, btOpts{Args: args})
	total, n := usTotal(t, p, op, k.id)
	if total < want+early || total > want+early+late || n != total {
		t.Fatalf("after kill -9: total %d, verifications %d; want from %d to %d (only the last interval may be lost)", total, n, want+early, want+early+late)
	}
	t.Logf("kill -9 lost %d of the %d verifications of the last %v", want+early+late-total, late, every)

	// keyward backup copies the usage file too; the copy, restored as a
	// data directory, shows the same usage.
	p.stop()
	copyTo := filepath.Join(t.TempDir(), "copy.db")
	out, err := exec.Command(btBinary, "backup", "--data-dir", dataDir, "--to", copyTo).CombinedOutput()
	if err != nil {
		t.Fatalf("keyward backup: %v\n%s", err, out)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if err := os.MkdirAll(restored, 0o700); err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{copyTo: sqlite.FileName, sqlite.UsagePath(copyTo): sqlite.UsageFileName} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatalf("the backup lacks %s: %v", from, err)
		}
		if err := os.WriteFile(filepath.Join(restored, to), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := btServe(t, btOpts{Args: btServeArgs(restored)})
	if got, _ := usTotal(t, r, op, k.id); got != total {
		t.Fatalf("the restored backup shows a usage total of %d, want %d", got, total)
	}
	r.stop()
}

// TestClUsageSumExact verifies one key on three nodes sharing a
// PostgreSQL database at once: the usage every node reads is the exact
// sum, within 5 s, without a stop.
func TestClUsageSumExact(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	nodes := make([]*btProc, 3)
	for i := range nodes {
		nodes[i] = btStart(t, btOpts{Args: append(clNodeArgs(dbURL), "--usage-flush-interval", "500ms")})
	}
	var op string
	for _, p := range nodes {
		line := p.waitLine(60*time.Second, func(l string) bool { return btListenAddr(l) != "" })
		p.ready(btListenAddr(line))
	}
	for _, p := range nodes {
		if toks := btOperatorRE.FindAllString(p.stderr.String(), -1); len(toks) == 1 {
			op = toks[0]
		}
	}
	if op == "" {
		op = nodes[0].operatorToken()
	}
	// The key is in the shared database once created: every node finds it
	// on its first verification.
	k := clCreate(t, nodes[0], op, "us cluster")
	var (
		sum atomic.Int64
		wg  sync.WaitGroup
	)
	// Two rounds, so that bucket rows written by one node are added to by
	// the others.
	for round := range 2 {
		for i, p := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got := usVerifyN(t, p, op, k.secret, 150+50*i+round)
				sum.Add(got)
			}()
		}
		wg.Wait()
		time.Sleep(time.Second)
	}
	want := sum.Load()
	for _, p := range nodes {
		usWaitTotal(t, p, op, k.id, want)
		top := p.must(200, "GET", "/v1/usage?granularity=minute", op, nil)
		if groups := top["groups"].([]any); top["total"] != float64(want) || len(groups) != 1 || groups[0].(map[string]any)["total"] != float64(want) {
			t.Fatalf("node %s: the account's usage is %v, want %d on the one key", p.Addr, top, want)
		}
	}
	t.Logf("%d verifications on 3 nodes: every node reads %d", want, want)
}

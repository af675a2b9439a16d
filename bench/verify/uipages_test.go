package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TestUIOnly runs the dashboard phase alone on a small store twice: the
// first run seeds the dashboard's objects and the operator key, the second
// reuses them; every list page answers 200 with what the seed put there.
func TestUIOnly(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--ui-only", "--data-dir", dir, "--keys", "200", "--ui-reps", "2"}
	for run := 1; run <= 2; run++ {
		rep := benchRun(t, args...)
		if len(rep.Rounds) != 0 || rep.Memory != nil || rep.Miss != nil || rep.Prime != nil {
			t.Errorf("run %d: --ui-only ran load phases", run)
		}
		ui := rep.UI
		if ui == nil {
			t.Fatalf("run %d: no dashboard report", run)
		}
		if ui.Reps != 2 || ui.Static <= 0 || !strings.Contains(ui.Holds, "200 API keys") || !strings.Contains(ui.Seed, "60 users") {
			t.Errorf("run %d: dashboard report %+v", run, ui)
		}
		rows := map[string]int{}
		next := map[string]bool{}
		for _, p := range ui.Pages {
			if p.Status != http.StatusOK || p.Bytes <= 0 || p.FirstMS <= 0 || p.P50MS <= 0 || p.MaxMS < p.P50MS {
				t.Errorf("run %d: page %+v", run, p)
			}
			rows[p.Name], next[p.Name] = p.Rows, p.Next
		}
		if len(ui.Pages) != len(uiPages("")) {
			t.Errorf("run %d: %d pages timed, want %d", run, len(ui.Pages), len(uiPages("")))
		}
		// Each filter finds the seed's keys of its kind, once however
		// many runs reused the seed.
		for _, name := range []string{"keys status", "keys owner", "keys project", "keys mode", "keys expiring"} {
			if rows[name] != uiSeedPerKind || next[name] {
				t.Errorf("run %d: %s shows %d rows (next page %v), want the seed's %d", run, name, rows[name], next[name], uiSeedPerKind)
			}
		}
		if rows["keys q none"] != 0 || next["keys q none"] {
			t.Errorf("run %d: a search for no name shows %d rows", run, rows["keys q none"])
		}
		for _, name := range []string{"keys", "keys page 2", "keys q all", "users", "service accounts", "projects", "audit"} {
			if rows[name] != 50 || !next[name] {
				t.Errorf("run %d: %s shows %d rows (next page %v), want a full page and more", run, name, rows[name], next[name])
			}
		}
		// The overview shows them when they come within 30 ms (it links
		// to their page past it, as under a loaded CI); their page always.
		if rows["overview"] != 10 && rows["overview"] != 0 || rows["busiest keys"] != 10 {
			t.Errorf("run %d: the overview shows %d busiest keys, their page %d; want 10 (every key was used)", run, rows["overview"], rows["busiest keys"])
		}
		if rows["roles"] < uiSeedRoles || rows["management keys"] < 2 || rows["catalog"] == 0 {
			t.Errorf("run %d: roles %d, management keys %d, catalog %d", run, rows["roles"], rows["management keys"], rows["catalog"])
		}
	}
	info, err := os.Stat(filepath.Join(dir, "keyward.db.bench-ui"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("dashboard fixture mode %v, want 0600", info.Mode().Perm())
	}
	// The token fixture keeps only its own lines: a harness without the
	// dashboard phase still reads it.
	if b, err := os.ReadFile(filepath.Join(dir, "keyward.db.bench-tokens")); err != nil || strings.Contains(string(b), "operator ") {
		t.Errorf("token fixture: %v, or it holds the operator key", err)
	}
	// Against keyward itself: the operator key signs in, a wrong key is
	// refused (the form again, not a session).
	c, err := parseFlags(append([]string{"verify"}, args...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{cfg: c, out: io.Discard, progress: io.Discard}
	if err := h.setup(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fx, _, err := h.prepare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := h.startKeyward(ctx, "127.0.0.1:0", 1000)
	if err != nil {
		t.Fatal(err)
	}
	// The usage seed wrote once (the second run found every key used):
	// each of the fixture's 200 API keys (the dashboard seed's come later,
	// in the first run's dashboard phase) counted as ensureUsage counts
	// it, in the last 24 hours.
	now := time.Now()
	q, _, _ := keyward.UsageRange{Granularity: keyward.GranularityHour, From: now.Add(-24 * time.Hour)}.Resolve(now)
	q.AccountID = fx.accountID
	totals, err := k.store.UsageTotals(ctx, &q, keyward.GroupByOutcome, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got, want int64
	for _, r := range totals {
		got += r.Count
	}
	for i := range 200 {
		want += int64(1 + i*7919%97)
		if i%5 == 0 {
			want += int64(1 + i%13)
		}
	}
	if got != want {
		t.Errorf("the account's verifications of the last 24 hours: %d, want %d (the usage seed once)", got, want)
	}
	if err := newUIClient(k.url).signIn(ctx, fx.operator); err != nil {
		t.Errorf("sign in with the operator key: %v", err)
	}
	if err := newUIClient(k.url).signIn(ctx, fx.tokens.string(0)); err == nil || !strings.Contains(err.Error(), "POST /sign-in: HTTP 4") {
		t.Errorf("sign in with an API key: %v, want the form's refusal", err)
	}
	if err := k.close(); err != nil {
		t.Fatal(err)
	}

	// A dashboard fixture whose operator key is not in the database is
	// refused, not trusted.
	if err := os.WriteFile(filepath.Join(dir, "keyward.db.bench-ui"), []byte("operator kwm_0000000000000000000000000000000000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), append([]string{"verify", "--json"}, args...), &strings.Builder{}, &strings.Builder{}); err == nil ||
		!strings.Contains(err.Error(), "does not match the database") {
		t.Errorf("a foreign operator key: %v, want a refusal", err)
	}
}

func TestUIParsing(t *testing.T) {
	page := `<form method="post" action="/sign-in"><input type="hidden" name="csrf" value="a&amp;b+c/="><input name="key"></form>` +
		`<p class="pager"><a id="next-page" href="/keys?after=key_1&amp;status=active" rel="next">Next page</a></p>`
	if got, err := formCSRF(page); err != nil || got != "a&b+c/=" {
		t.Errorf("formCSRF = %q, %v; want the unescaped value", got, err)
	}
	if got := nextLink(page); got != "/keys?after=key_1&status=active" {
		t.Errorf("nextLink = %q", got)
	}
	for _, p := range []string{`<form><input name="key"></form>`, `<input name="csrf" value="">`} {
		if got, err := formCSRF(p); err == nil {
			t.Errorf("formCSRF(%q) = %q, want an error", p, got)
		}
	}
	if got := nextLink(`<a href="/keys">Keys</a>`); got != "" {
		t.Errorf("nextLink without a#next-page = %q", got)
	}
}

package cli_test

import (
	"strings"
	"testing"
	"time"
)

// TestCtUsage verifies a key and reads its usage back: keys usage draws
// the series and its totals, usage --top lists the busiest keys, both
// print the server's JSON with --json; bad flags are usage errors.
func TestCtUsage(t *testing.T) {
	s := ctStartServer(t, "--usage-flush-interval", "200ms")
	busy := s.okJSON(t, "keys", "create", "--name", "busy")
	quiet := s.okJSON(t, "keys", "create", "--name", "quiet")
	for range 4 {
		s.verify(t, busy["secret"].(string))
	}
	s.verify(t, quiet["secret"].(string))
	s.verify(t, quiet["secret"].(string), "--permissions", "nothing:write")
	id := busy["id"].(string)

	var series map[string]any
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		series = s.okJSON(t, "keys", "usage", id, "--granularity", "minute", "--from", "1h")
		if series["total"] == 4.0 || time.Now().After(deadline) {
			break
		}
	}
	if series["key_id"] != id || series["total"] != 4.0 || series["granularity"] != "minute" || len(series["buckets"].([]any)) != 61 {
		t.Fatalf("keys usage --json: %v", series)
	}
	r := s.ok(t, "keys", "usage", id, "--granularity", "minute", "--from", "1h")
	ctWantRow(t, r, "TOTAL", "4")
	ctWantRow(t, r, "OUTCOMES", "VALID 4")
	if !strings.Contains(r.stdout, "█") || strings.Count(r.stdout, "|\n") != 2 { // 61 buckets: two rows
		t.Fatalf("keys usage draws no series:\n%s", r)
	}

	top := s.okJSON(t, "usage", "--top", "1")
	groups := top["groups"].([]any)
	if top["total"] != 6.0 || len(groups) != 1 || groups[0].(map[string]any)["value"] != id {
		t.Fatalf("usage --top 1 --json: %v", top)
	}
	r = s.ok(t, "usage", "--group-by", "outcome")
	ctWantRow(t, r, "OUTCOMES", "VALID 5, INSUFFICIENT_PERMISSIONS 1")
	if !strings.Contains(r.stdout, "OUTCOME") || !strings.Contains(r.stdout, "INSUFFICIENT_PERMISSIONS") {
		t.Fatalf("usage --group-by outcome:\n%s", r)
	}

	for _, args := range [][]string{
		{"usage", "--top", "0"},
		{"usage", "--top", "101"},
		{"usage", "--group-by", "tag"},
		{"usage", "--granularity", "week"},
		{"usage", "--from", "yesterday"},
		{"keys", "usage", id, "--granularity", "second"},
		{"keys", "usage"},
	} {
		s.fails(t, 2, args...)
	}
	// The server's own checks: a range of too many buckets is refused (1).
	r = s.fails(t, 1, "keys", "usage", id, "--granularity", "minute", "--from", "3d")
	if !strings.Contains(r.stderr+ctErrText(r.err), "buckets") {
		t.Fatalf("keys usage over 3 days of minutes:\n%s", r)
	}
}

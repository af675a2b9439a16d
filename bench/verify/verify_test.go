package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/postgres/pgtest"
)

// benchRun runs the harness with args and --json, and decodes its report.
func benchRun(t *testing.T, args ...string) *report {
	t.Helper()
	var out, progress bytes.Buffer
	err := run(context.Background(), append([]string{"verify", "--json"}, args...), &out, &progress)
	if err != nil {
		t.Fatalf("run %q: %v\nprogress:\n%s", args, err, progress.String())
	}
	rep := &report{}
	if err := json.Unmarshal(out.Bytes(), rep); err != nil {
		t.Fatalf("run %q: the report is not JSON: %v\n%s", args, err, out.String())
	}
	return rep
}

// wantPhase checks that a measured phase did work and had no errors.
func wantPhase(t *testing.T, what string, r *phaseResult) {
	t.Helper()
	switch {
	case r == nil:
		t.Errorf("%s: missing from the report", what)
	case r.Requests == 0 || r.RPS <= 0:
		t.Errorf("%s: %d requests, %.1f req/s: nothing measured", what, r.Requests, r.RPS)
	case r.Errors != 0:
		t.Errorf("%s: %d errors: %v", what, r.Errors, r.ErrorKinds)
	case r.Latency.P50 <= 0 || r.Latency.P99 < r.Latency.P50 || r.Latency.P999 < r.Latency.P99 || r.Latency.Max < r.Latency.P999:
		t.Errorf("%s: latency percentiles out of order: %+v", what, r.Latency)
	}
}

func TestHarnessEndToEnd(t *testing.T) {
	dir := t.TempDir()
	tiny := []string{"--data-dir", dir, "--keys", "1000", "--conns", "2", "--duration", "0.5s", "--rounds", "1", "--warmup", "0.2s"}
	rep := benchRun(t, tiny...)

	if s := rep.Seed; s.KeysInStore != 1000 || s.SeededNow != 1000 || s.Reused || s.SeedSeconds <= 0 {
		t.Errorf("seed: %+v, want 1000 keys seeded now", s)
	}
	if rep.Machine.CPUs < 1 || rep.Machine.GOMAXPROCS < 1 || !strings.HasPrefix(rep.Machine.GoVersion, "go") {
		t.Errorf("machine facts: %+v", rep.Machine)
	}
	if !strings.Contains(rep.Command, "--keys 1000") {
		t.Errorf("command %q does not show the arguments", rep.Command)
	}
	if rep.Start.TotalMS <= 0 || rep.Start.OpenMigrateMS <= 0 || rep.Start.ReadyzPolls < 1 {
		t.Errorf("start times: %+v", rep.Start)
	}
	if fp := rep.FirstPage; fp == nil || fp.Items != 25 || !fp.HasMore || fp.FirstMS <= 0 {
		t.Errorf("first page of GET /v1/keys: %+v, want 25 items and more", fp)
	}
	wantPhase(t, "prime", rep.Prime)
	if rep.Prime != nil && rep.Prime.Requests != int64(rep.Config.HotKeys) {
		t.Errorf("prime verified %d keys, want the hot set of %d", rep.Prime.Requests, rep.Config.HotKeys)
	}
	// One round: baseline, keyward, keyward under the flood, in that order.
	var order []string
	for _, r := range rep.Rounds {
		order = append(order, r.Phase+"/"+r.Server)
		wantPhase(t, r.Phase+" "+r.Server, r)
		if r.NewConns > 2 {
			t.Errorf("%s %s opened %d connections with --conns 2: keep-alive is not working", r.Phase, r.Server, r.NewConns)
		}
	}
	if want := []string{"measure/baseline", "measure/keyward", "flood/keyward"}; !slices.Equal(order, want) {
		t.Errorf("phases %v, want %v", order, want)
	}
	o := rep.Overall
	wantPhase(t, "overall baseline", o.Baseline)
	wantPhase(t, "overall keyward", o.Keyward)
	if o.Ratio <= 0 || len(o.RoundRatios) != 1 {
		t.Errorf("ratio %v, round ratios %v", o.Ratio, o.RoundRatios)
	}
	if f := o.KeywardFlood; f == nil || f.Real == nil || f.Flood == nil || f.Real.Requests == 0 || f.Flood.Requests == 0 {
		t.Errorf("flood phase: %+v, want real-key and flood requests", f)
	} else if o.FloodRealP99Ratio <= 0 || o.FloodTotalRPSRatio <= 0 {
		t.Errorf("flood comparison missing: %+v", o)
	}
	if hp := rep.HalfPeak; hp == nil {
		t.Error("no half-peak phase")
	} else {
		if hp.TargetRPS <= 0 || math.Abs(hp.TargetRPS-o.Keyward.RPS/2) > 1e-6*o.Keyward.RPS {
			t.Errorf("half peak paced at %.1f req/s, want half of %.1f", hp.TargetRPS, o.Keyward.RPS)
		}
		wantPhase(t, "half-peak baseline", hp.Baseline)
		wantPhase(t, "half-peak keyward", hp.Keyward)
	}
	if m := rep.Memory; m == nil || m.Keys != 1000 || m.Warm == nil || m.Warm.Requests != 1000 || m.Warm.Errors != 0 || m.HeapAfter == 0 {
		t.Errorf("memory: %+v, want 1000 keys verified without error", m)
	}
	info, err := os.Stat(filepath.Join(dir, "keyward.db.bench-tokens"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("fixture mode %v, want 0600", info.Mode().Perm())
	}

	// Reuse and extend: the same directory with 200 more keys seeds only
	// those.
	light := []string{"--data-dir", dir, "--conns", "2", "--duration", "0.2s", "--rounds", "1", "--warmup", "0",
		"--flood", "0", "--half-peak=false", "--mem-keys", "0"}
	rep = benchRun(t, append(light, "--keys", "1200")...)
	if s := rep.Seed; !s.Reused || s.SeededNow != 200 || s.KeysInStore != 1200 || s.CheckedSample < 3 {
		t.Errorf("second run: seed %+v, want the 1000 keys reused and 200 added", s)
	}
	if len(rep.Rounds) != 2 || rep.Overall.KeywardFlood != nil || rep.HalfPeak != nil || rep.Memory != nil {
		t.Errorf("with --flood 0 --half-peak=false --mem-keys 0: %d rounds, flood %v, half peak %v, memory %v",
			len(rep.Rounds), rep.Overall.KeywardFlood != nil, rep.HalfPeak != nil, rep.Memory != nil)
	}
	rep = benchRun(t, append(light, "--keys", "500", "--permissions", "documents:read")...)
	if s := rep.Seed; !s.Reused || s.SeededNow != 0 || s.KeysInStore != 1200 || s.KeysUsed != 500 {
		t.Errorf("third run: seed %+v, want 1200 keys reused, 500 used", s)
	}
	for _, r := range rep.Rounds {
		wantPhase(t, "with --permissions: "+r.Server, r)
	}
}

func TestHarnessRefusesForeignFixture(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	light := []string{"--keys", "50", "--conns", "1", "--duration", "0.1s", "--rounds", "1", "--warmup", "0",
		"--flood", "0", "--half-peak=false", "--mem-keys", "0"}
	benchRun(t, append(light, "--data-dir", a)...)
	benchRun(t, append(light, "--data-dir", b)...)
	// b's fixture next to a's database: its tokens are not there.
	fx, err := os.ReadFile(filepath.Join(b, "keyward.db.bench-tokens"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a, "keyward.db.bench-tokens"), fx, 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), append([]string{"verify", "--json", "--data-dir", a}, light...), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "does not match the database") {
		t.Errorf("run with another database's fixture: %v, want a refusal", err)
	}
}

func TestHarnessPostgres(t *testing.T) {
	url := pgtest.URL(t)
	rep := benchRun(t, "--database", url, "--data-dir", t.TempDir(), "--keys", "300", "--conns", "2", "--duration", "0.3s",
		"--rounds", "1", "--warmup", "0", "--half-peak=false", "--mem-keys", "100")
	if !strings.HasPrefix(rep.Seed.Store, "postgres:") || rep.Seed.SeededNow != 300 {
		t.Errorf("seed: %+v, want 300 keys seeded into PostgreSQL", rep.Seed)
	}
	for _, r := range rep.Rounds {
		wantPhase(t, r.Phase+" "+r.Server, r)
	}
	if m := rep.Memory; m == nil || m.Warm.Requests != 100 || m.Warm.Errors != 0 {
		t.Errorf("memory on PostgreSQL: %+v", m)
	}
}

// TestServeOnly starts both servers, uses what --serve-only prints to
// verify against each, and stops it by cancelling its context (SIGINT).
func TestServeOnly(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"verify", "--serve-only", "--json", "--data-dir", dir, "--keys", "300"}, pw, io.Discard)
		pw.Close()
	}()
	var info serveInfo
	if err := json.NewDecoder(pr).Decode(&info); err != nil {
		cancel()
		t.Fatalf("serve-only printed no JSON: %v (run: %v)", err, <-done)
	}
	go io.Copy(io.Discard, pr)

	for _, tc := range []struct {
		name, base, token, want string
	}{
		{"keyward sample token", info.Keyward, info.SampleToken, "VALID"},
		{"keyward unknown token", info.Keyward, "kw_unknown", "NOT_FOUND"},
		{"baseline", info.Baseline, info.SampleToken, "VALID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, tc.base+"/v1/keys/verify", strings.NewReader(`{"key":"`+tc.token+`"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+info.ManagementKey)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || codeOf(body) != tc.want {
				t.Errorf("POST %s/v1/keys/verify: %d %s, want 200 with code %s", tc.base, res.StatusCode, body, tc.want)
			}
		})
	}
	script, err := os.ReadFile(info.WrkScript)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`wrk.method = "POST"`, "Bearer " + info.ManagementKey, "function request()", "wrk-hot.tokens"} {
		if !bytes.Contains(script, []byte(want)) {
			t.Errorf("wrk script lacks %q:\n%s", want, script)
		}
	}
	var wrk, hey int
	for _, c := range info.Commands {
		switch {
		case strings.HasPrefix(c, "wrk ") && strings.Contains(c, info.WrkScript):
			wrk++
		case strings.HasPrefix(c, "hey "):
			hey++
		}
	}
	if wrk != 2 || hey != 2 {
		t.Errorf("commands %q: want a wrk and a hey command for each server", info.Commands)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve-only after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve-only did not stop after its context was cancelled")
	}
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--keys", "0"}, "--keys"},
		{[]string{"--conns", "0"}, "--conns"},
		{[]string{"--hit-ratio", "1.5"}, "--hit-ratio"},
		{[]string{"--flood", "1"}, "--flood"},
		{[]string{"--keys", "10", "--hot-keys", "10"}, "cold keys"},
		{[]string{"--log-level", "loud", "--keys", "10", "--hit-ratio", "1"}, "--log-level"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			err := run(context.Background(), append([]string{"verify", "--data-dir", t.TempDir()}, tc.args...), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestHistogramQuantiles(t *testing.T) {
	h := newHistogram()
	var samples []time.Duration
	r := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		// Log-uniform from 10 µs to 100 ms, like latencies.
		d := time.Duration(math.Exp(math.Log(10e3) + r.Float64()*math.Log(1e4)))
		samples = append(samples, d)
		h.record(d)
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := samples[int(math.Ceil(q*float64(len(samples))))-1]
		got := h.quantile(q)
		if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 0.01 {
			t.Errorf("q%.3f: %v, exact %v (%.2f%% off, want ≤ 1%%)", q, got, exact, rel*100)
		}
	}
	if h.quantile(1) != samples[len(samples)-1] {
		t.Errorf("q1 %v, want the maximum %v", h.quantile(1), samples[len(samples)-1])
	}
	for _, v := range []uint64{0, 1, 127, 128, 255, 256, 1 << 40, math.MaxUint64} {
		if b := bucketOf(v); b < 0 || b >= len(h.counts) {
			t.Errorf("bucketOf(%d) = %d, out of range", v, b)
		}
	}
}

func TestCodeOf(t *testing.T) {
	for body, want := range map[string]string{
		`{"valid":true,"code":"VALID"}`:                     "VALID",
		`{"valid": false, "code" : "NOT_FOUND"}`:            "NOT_FOUND",
		`{"valid":true,"code":"VALID","key":{"code":"X"}}`:  "VALID",
		`{"type":"about:blank","status":401}`:               "",
		`{"code":`:                                          "",
		`{"code":"unterminated`:                             "",
		"{\n  \"valid\": true,\n  \"code\": \"EXPIRED\"\n}": "EXPIRED",
	} {
		if got := codeOf([]byte(body)); got != want {
			t.Errorf("codeOf(%s) = %q, want %q", body, got, want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/service"
)

// harness runs one invocation.
type harness struct {
	cfg      *config
	out      io.Writer
	progress io.Writer
	log      *slog.Logger
}

func (h *harness) progressf(format string, args ...any) {
	fmt.Fprintf(h.progress, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (h *harness) setup() error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(h.cfg.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	h.log = slog.New(slog.NewTextHandler(h.progress, &slog.HandlerOptions{Level: lv}))
	return nil
}

// report is everything one run measured.
type report struct {
	Command   string         `json:"command"`
	Machine   machine        `json:"machine"`
	Config    configView     `json:"config"`
	Seed      seedReport     `json:"seed"`
	Start     startTimes     `json:"start"`
	FirstPage *firstPage     `json:"first_page_get_keys"`
	UI        *uiReport      `json:"dashboard,omitempty"`
	Prime     *phaseResult   `json:"prime"`
	Warmup    []*phaseResult `json:"warmup"`
	Rounds    []*phaseResult `json:"rounds"`
	Overall   overall        `json:"overall"`
	HalfPeak  *halfPeak      `json:"half_peak,omitempty"`
	Memory    *memoryReport  `json:"memory,omitempty"`
	Miss      *missReport    `json:"cache_miss,omitempty"`
	Warnings  []string       `json:"warnings"`
	Seconds   float64        `json:"total_seconds"`
}

type machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	OSArch     string `json:"os_arch"`
	CPUModel   string `json:"cpu_model,omitempty"`
	MemTotal   string `json:"mem_total,omitempty"`
	LoadStart  string `json:"loadavg_start,omitempty"`
	LoadEnd    string `json:"loadavg_end,omitempty"`
	Note       string `json:"note"`
}

type configView struct {
	Keys              int     `json:"keys"`
	Store             string  `json:"store"`
	Conns             int     `json:"conns"`
	DurationSeconds   float64 `json:"duration_seconds"`
	Rounds            int     `json:"rounds"`
	WarmupSeconds     float64 `json:"warmup_seconds"`
	HitRatio          float64 `json:"hit_ratio"`
	HotKeys           int     `json:"hot_keys"`
	CacheSize         int     `json:"cache_size"`
	Permissions       string  `json:"permissions,omitempty"`
	Flood             float64 `json:"flood"`
	FloodGoodChecksum float64 `json:"flood_good_checksum"`
	MemKeys           int     `json:"mem_keys"`
	LogLevel          string  `json:"log_level"`
}

type overall struct {
	Baseline     *phaseResult `json:"baseline"`
	Keyward      *phaseResult `json:"keyward"`
	KeywardFlood *phaseResult `json:"keyward_flood,omitempty"`
	// Ratio is keyward's throughput over the baseline's, over all rounds.
	Ratio       float64   `json:"ratio_keyward_baseline"`
	RoundRatios []float64 `json:"round_ratios"`
	// CleanRounds are the rounds whose baseline and keyward phases ran
	// with other processes taking at most 10% of the CPU; CleanRatio is
	// the ratio over those rounds alone (0 if none).
	CleanRounds []int   `json:"clean_rounds"`
	CleanRatio  float64 `json:"clean_ratio_keyward_baseline"`
	// Flood: real-key latency with the flood over without; total
	// throughput with the flood over without (closed loop: flood
	// requests take connection slots, so real keys get (1 − share) of
	// them).
	FloodRealP50Ratio  float64 `json:"flood_real_p50_ratio,omitempty"`
	FloodRealP99Ratio  float64 `json:"flood_real_p99_ratio,omitempty"`
	FloodTotalRPSRatio float64 `json:"flood_total_rps_ratio,omitempty"`
}

type halfPeak struct {
	PeakRPS   float64      `json:"keyward_peak_rps"`
	TargetRPS float64      `json:"target_rps"`
	Baseline  *phaseResult `json:"baseline"`
	Keyward   *phaseResult `json:"keyward"`
}

type firstPage struct {
	FirstMS    float64 `json:"first_ms"`
	NextP50MS  float64 `json:"next_p50_ms"`
	NextMaxMS  float64 `json:"next_max_ms"`
	NextCount  int     `json:"next_count"`
	Items      int     `json:"items"`
	HasMore    bool    `json:"has_more"`
	Connection string  `json:"connection"`
}

// missReport is the latency of verification cache misses in process.
type missReport struct {
	Keys    int     `json:"keys"`
	Latency latency `json:"latency"`
	Note    string  `json:"note"`
}

type memoryReport struct {
	Keys            int          `json:"keys"`
	CacheSize       int          `json:"cache_size"`
	HeapBefore      uint64       `json:"heap_alloc_before"`
	HeapAfter       uint64       `json:"heap_alloc_after"`
	BytesPerKey     float64      `json:"bytes_per_cached_key"`
	HeapObjectsDiff int64        `json:"heap_objects_diff"`
	Warm            *phaseResult `json:"warm_pass"`
	Note            string       `json:"note"`
}

func (h *harness) machine() machine {
	m := machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		OSArch: runtime.GOOS + "/" + runtime.GOARCH,
		Note:   "client, keyward and baseline share this process and its CPUs"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if s := regexp.MustCompile(`(?m)^model name\s*:\s*(.+)$`).FindSubmatch(b); s != nil {
			m.CPUModel = string(s[1])
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if s := regexp.MustCompile(`(?m)^MemTotal:\s*(\d+) kB$`).FindSubmatch(b); s != nil {
			kb, _ := strconv.ParseFloat(string(s[1]), 64)
			m.MemTotal = fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	m.LoadStart = loadavg()
	return m
}

// loadavg returns the 1, 5 and 15 minute load averages (Linux), or "".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// commandLine renders the command line for copying back into a shell.
func commandLine(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if i == 0 && (strings.Contains(a, "go-build") || strings.HasSuffix(a, ".test")) {
			a = "go run ./bench/verify"
		} else if !regexp.MustCompile(`^[A-Za-z0-9_./:=,@+%-]+$`).MatchString(a) {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func (h *harness) configView(store string) configView {
	c := h.cfg
	return configView{Keys: c.keys, Store: store, Conns: c.conns, DurationSeconds: c.duration.Seconds(), Rounds: c.rounds,
		WarmupSeconds: c.warmup.Seconds(), HitRatio: c.hitRatio, HotKeys: c.hotKeys, CacheSize: c.cacheSize,
		Permissions: c.perms, Flood: c.flood, FloodGoodChecksum: c.floodGood, MemKeys: c.memKeys, LogLevel: c.logLevel}
}

// benchmark is the full run.
func (h *harness) benchmark(ctx context.Context) (*report, error) {
	if err := h.setup(); err != nil {
		return nil, err
	}
	began := time.Now()
	c := h.cfg
	rep := &report{Command: commandLine(c.args), Machine: h.machine(), Config: h.configView(h.storeDesc()), Warnings: []string{}}
	h.progressf("%s", rep.Command)
	h.progressf("%d CPUs, GOMAXPROCS %d, %s", rep.Machine.CPUs, rep.Machine.GOMAXPROCS, rep.Machine.GoVersion)

	fx, seed, err := h.prepare(ctx)
	if err != nil {
		return nil, err
	}
	rep.Seed = seed
	if seed.SeededNow > 0 {
		h.progressf("seeded %d keys in %.1fs (%.0f keys/s)", seed.SeededNow, seed.SeedSeconds, seed.SeedKeysPerS)
	}

	k, starts, err := h.startKeyward(ctx, c.keywardAdr, c.cacheSize)
	if err != nil {
		return nil, err
	}
	rep.Start = starts
	h.progressf("keyward started on %d keys in %.1f ms (open+migrate %.1f ms), %s", fx.tokens.len(), starts.TotalMS, starts.OpenMigrateMS, k.url)
	kOpen := true
	defer func() {
		if kOpen {
			k.close()
		}
	}()
	b, err := h.startBaseline(c.baseAdr)
	if err != nil {
		return nil, err
	}
	bOpen := true
	defer func() {
		if bOpen {
			b.shutdown()
		}
	}()

	if rep.FirstPage, err = h.firstPage(ctx, k.url, fx.mgmt, min(25, fx.tokens.len())); err != nil {
		return nil, err
	}
	h.progressf("first page of GET /v1/keys: %.2f ms", rep.FirstPage.FirstMS)
	if c.uiPages {
		seed, err := h.seedUI(ctx, k.svc, fx)
		if err != nil {
			return nil, err
		}
		if rep.UI, err = h.measureUI(ctx, k.url, fx, seed); err != nil {
			return nil, err
		}
		if !rep.UI.Pass {
			rep.Warnings = append(rep.Warnings, "dashboard: some list pages miss the issue's budget (see the dashboard table)")
		}
		if !(rep.UI.OtherCPU <= maxOtherCPU) {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("dashboard: other processes used %s%% of the machine's CPU while the pages were timed", pct(rep.UI.OtherCPU)))
		}
		if c.uiOnly {
			rep.Seconds = time.Since(began).Seconds()
			rep.Machine.LoadEnd = loadavg()
			return rep, nil
		}
	}

	kt := newTarget("keyward", k.url, fx.mgmt, c.conns, true)
	bt := newTarget("baseline", b.url, fx.mgmt, c.conns, false)
	m := newMix(&fx.tokens, c.keys, c.hotKeys, c.hitRatio, c.floodGood, c.perms)
	if err := sanity(ctx, m, kt, bt); err != nil {
		return nil, err
	}
	if c.hotKeys > c.cacheSize {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the hot set (%d keys) does not fit the cache (%d): hot requests miss too", c.hotKeys, c.cacheSize))
	}
	if c.hitRatio < 1 && len(m.cold) < c.cacheSize {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("only %d cold keys for a cache of %d: once every cold key has been drawn, repeats may hit the cache (counted as cold_repeats)", len(m.cold), c.cacheSize))
	}

	// Prime: every hot key verified once, so the hot set is in the cache
	// before anything is measured.
	hot := make([]int, c.hotKeys)
	for i := range hot {
		hot[i] = i
	}
	h.progressf("priming keyward's cache with the %d hot keys", c.hotKeys)
	rep.Prime = m.visit(ctx, "prime", kt, hot, c.conns)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	if c.warmup > 0 {
		for _, t := range []*target{bt, kt} {
			h.progressf("warm-up %s %s", t.name, c.warmup)
			rep.Warmup = append(rep.Warmup, m.run(ctx, phase{name: "warmup", t: t, duration: c.warmup}, c.conns))
		}
	}
	aggB, aggK, aggF := newAgg("measure", "baseline"), newAgg("measure", "keyward"), newAgg("flood", "keyward")
	cleanB, cleanK := newAgg("measure", "baseline"), newAgg("measure", "keyward")
	rep.Overall.CleanRounds = []int{}
	stopProfile := func() {}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		stopProfile = func() {
			pprof.StopCPUProfile()
			f.Close()
		}
		defer stopProfile() // on an early return
	}
	for r := 1; r <= c.rounds; r++ {
		phases := []phase{{name: "measure", round: r, t: bt}, {name: "measure", round: r, t: kt}}
		if c.flood > 0 {
			phases = append(phases, phase{name: "flood", round: r, t: kt, flood: c.flood})
		}
		var rb, rk *phaseResult
		for _, p := range phases {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			p.duration = c.duration
			res := m.run(ctx, p, c.conns)
			rep.Rounds = append(rep.Rounds, res)
			h.progressf("round %d %-8s %-7s %9.0f req/s  p50 %.3f ms  p99 %.3f ms  errors %d", r, res.Server, p.name, res.RPS, res.Latency.P50, res.Latency.P99, res.Errors)
			switch {
			case p.name == "flood":
				aggF.add(res)
			case p.t == bt:
				aggB.add(res)
				rb = res
			default:
				aggK.add(res)
				rk = res
			}
		}
		rep.Overall.RoundRatios = append(rep.Overall.RoundRatios, ratio(rk.RPS, rb.RPS))
		if clean(rb) && clean(rk) {
			rep.Overall.CleanRounds = append(rep.Overall.CleanRounds, r)
			cleanB.add(rb)
			cleanK.add(rk)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	stopProfile() // the rounds only
	stopProfile = func() {}
	rep.Overall.Baseline, rep.Overall.Keyward = aggB.result(), aggK.result()
	rep.Overall.Ratio = ratio(rep.Overall.Keyward.RPS, rep.Overall.Baseline.RPS)
	if len(rep.Overall.CleanRounds) > 0 {
		rep.Overall.CleanRatio = ratio(cleanK.result().RPS, cleanB.result().RPS)
	}
	if c.flood > 0 {
		f := aggF.result()
		rep.Overall.KeywardFlood = f
		rep.Overall.FloodRealP50Ratio = ratio(f.Real.Latency.P50, rep.Overall.Keyward.Latency.P50)
		rep.Overall.FloodRealP99Ratio = ratio(f.Real.Latency.P99, rep.Overall.Keyward.Latency.P99)
		rep.Overall.FloodTotalRPSRatio = ratio(f.RPS, rep.Overall.Keyward.RPS)
	}

	if c.halfPeak {
		hp := &halfPeak{PeakRPS: rep.Overall.Keyward.RPS, TargetRPS: rep.Overall.Keyward.RPS / 2}
		for _, t := range []*target{bt, kt} {
			h.progressf("half-peak %s at %.0f req/s for %s", t.name, hp.TargetRPS, c.duration)
			res := m.run(ctx, phase{name: "half_peak", t: t, duration: c.duration, rate: hp.TargetRPS}, c.conns)
			if t == bt {
				hp.Baseline = res
			} else {
				hp.Keyward = res
			}
		}
		rep.HalfPeak = hp
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	var totalErr, draws, reps int64
	for _, r := range append(append(append([]*phaseResult{rep.Prime}, rep.Warmup...), rep.Rounds...), halfPeakPhases(rep.HalfPeak)...) {
		totalErr += r.Errors
		if !clean(r) && r.Phase != "prime" && r.Phase != "warmup" {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s %s round %d: other processes used %.0f%% of the machine's CPU: this phase is not a clean measurement",
				r.Phase, r.Server, r.Round, r.OtherCPU*100))
		}
		if r.Server == "keyward" {
			draws, reps = draws+r.ColdDraws, reps+r.ColdRepeats
		}
	}
	if reps > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("keyward: %d of its %d cold draws repeated a key drawn before (may have hit the cache; see cold_repeats per phase)", reps, draws))
	}
	if totalErr > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d requests failed (see error_kinds): they are not counted as throughput", totalErr))
	}

	// The memory measurement runs alone: both servers stop first.
	kOpen, bOpen = false, false
	if err := k.close(); err != nil {
		return nil, err
	}
	if err := b.shutdown(); err != nil {
		return nil, err
	}
	if c.missKeys > 0 {
		if rep.Miss, err = h.measureMisses(ctx, fx); err != nil {
			return nil, err
		}
	}
	if c.memKeys > 0 {
		if rep.Memory, err = h.measureMemory(ctx, m, fx); err != nil {
			return nil, err
		}
		if rep.Memory.Warm.Errors > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("memory warm pass: %d verifications failed", rep.Memory.Warm.Errors))
		}
	}
	rep.Seconds = time.Since(began).Seconds()
	rep.Machine.LoadEnd = loadavg()
	return rep, nil
}

// maxOtherCPU is the share of the machine's CPU other processes may take
// during a phase that counts as a clean measurement.
const maxOtherCPU = 0.10

// clean reports whether other processes left the phase alone (unknown
// counts as clean: the harness cannot tell).
func clean(r *phaseResult) bool { return r.OtherCPU <= maxOtherCPU }

// ratio is a / b, or 0 when b is 0 (JSON has no infinity).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func halfPeakPhases(hp *halfPeak) []*phaseResult {
	if hp == nil {
		return nil
	}
	return []*phaseResult{hp.Baseline, hp.Keyward}
}

// agg sums the rounds of one server and kind.
type agg struct{ r *phaseResult }

func newAgg(name, server string) *agg {
	return &agg{r: &phaseResult{Phase: name, Server: server, all: newHistogram(), real: newHistogram(), flood: newHistogram(), ErrorKinds: map[string]int64{}}}
}

func (a *agg) add(p *phaseResult) {
	r := a.r
	if p.OtherCPU < 0 || r.OtherCPU < 0 {
		r.SelfCPU, r.OtherCPU = -1, -1
	} else {
		// Weighted by duration.
		r.SelfCPU = (r.SelfCPU*r.Seconds + p.SelfCPU*p.Seconds) / (r.Seconds + p.Seconds)
		r.OtherCPU = (r.OtherCPU*r.Seconds + p.OtherCPU*p.Seconds) / (r.Seconds + p.Seconds)
	}
	r.Conns = p.Conns
	r.Seconds += p.Seconds
	r.Errors += p.Errors
	for e, n := range p.ErrorKinds {
		r.ErrorKinds[e] += n
	}
	r.NewConns += p.NewConns
	r.ColdDraws += p.ColdDraws
	r.ColdRepeats += p.ColdRepeats
	r.all.merge(p.all)
	r.real.merge(p.real)
	r.flood.merge(p.flood)
	if p.Real != nil {
		r.Real, r.Flood = &classResult{}, &classResult{}
	}
}

func (a *agg) result() *phaseResult {
	r := a.r
	r.Requests = int64(r.all.n)
	r.RPS = ratio(float64(r.Requests), r.Seconds)
	r.Latency = r.all.summary()
	if r.Real != nil {
		r.Real = &classResult{Requests: int64(r.real.n), RPS: ratio(float64(r.real.n), r.Seconds), Latency: r.real.summary()}
		r.Flood = &classResult{Requests: int64(r.flood.n), RPS: ratio(float64(r.flood.n), r.Seconds), Latency: r.flood.summary()}
	}
	if len(r.ErrorKinds) == 0 {
		r.ErrorKinds = nil
	}
	return r
}

// sanity checks, before any load, that each server answers what the
// harness will count as success: a seeded key is VALID on keyward (with
// --permissions too), flood tokens are NOT_FOUND, the baseline says VALID.
func sanity(ctx context.Context, m *mix, kt, bt *target) error {
	var buf bytes.Buffer
	good, _ := keyward.NewToken(tokenPrefix, nil)
	bad := []byte(good.Reveal())
	breakChecksum(bad)
	checks := []struct {
		t      *target
		tok    []byte
		expect keyward.VerifyCode
	}{
		{kt, m.tokens.at(0), keyward.VerifyValid},
		{kt, m.tokens.at(m.tokens.len() - 1), keyward.VerifyValid},
		{kt, []byte(good.Reveal()), keyward.VerifyNotFound},
		{kt, bad, keyward.VerifyNotFound},
		{bt, m.tokens.at(0), keyward.VerifyValid},
	}
	for _, c := range checks {
		if e := c.t.exchange(ctx, verifyBody(c.tok, m.perms), string(c.expect), &buf); e != "" {
			return fmt.Errorf("sanity check on %s (want %s): %s", c.t.name, c.expect, e)
		}
	}
	return nil
}

// firstPage times GET /v1/keys?limit=25 on a fresh connection (the first
// list request the server sees), then on a kept-alive one.
func (h *harness) firstPage(ctx context.Context, base, mgmt string, want int) (*firstPage, error) {
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	get := func() (time.Duration, []byte, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/keys?limit=25", nil)
		req.Header.Set("Authorization", "Bearer "+mgmt)
		t0 := time.Now()
		res, err := c.Do(req)
		if err != nil {
			return 0, nil, err
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		d := time.Since(t0)
		if err == nil && res.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET /v1/keys: HTTP %d: %.300s", res.StatusCode, body)
		}
		return d, body, err
	}
	d, body, err := get()
	if err != nil {
		return nil, err
	}
	var page struct {
		Data    []json.RawMessage `json:"data"`
		HasMore bool              `json:"has_more"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("GET /v1/keys: %w", err)
	}
	if len(page.Data) < want {
		return nil, fmt.Errorf("GET /v1/keys: %d keys on the first page, want %d", len(page.Data), want)
	}
	fp := &firstPage{FirstMS: ms(d), Items: len(page.Data), HasMore: page.HasMore, Connection: "first: new connection; next: kept alive"}
	hist := newHistogram()
	for range 20 {
		d, _, err := get()
		if err != nil {
			return nil, err
		}
		hist.record(d)
	}
	fp.NextCount, fp.NextP50MS, fp.NextMaxMS = int(hist.n), ms(hist.quantile(0.5)), ms(time.Duration(hist.max))
	return fp, nil
}

// measureMemory warms --mem-keys keys into the cache of a fresh service
// (cache size = that many keys) on the same store, through HTTP, and
// reports the heap growth per key. The servers of the benchmark are
// stopped first, so nothing else allocates meanwhile; the service is closed
// (pending last-use times written) before the second reading but kept
// reachable, so its cache is what the difference holds.
func (h *harness) measureMemory(ctx context.Context, m *mix, fx *fixture) (*memoryReport, error) {
	n := h.cfg.memKeys
	st, err := h.openStore(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)

	svc := service.New(service.Options{Store: st, Logger: h.log, CacheSize: n})
	srv, err := h.startServer("keyward-mem", khttp.NewServer(svc, khttp.Options{Logger: h.log}))
	if err != nil {
		svc.Close(ctx)
		return nil, err
	}
	t := newTarget("keyward", srv.url, fx.mgmt, h.cfg.conns, true)
	h.progressf("memory: verifying %d keys once (each a cache miss) into a cache of %d", n, n)
	warm := m.visit(ctx, "memory_warm", t, idx, h.cfg.conns)
	t.tr.CloseIdleConnections()
	if err := srv.shutdown(); err != nil {
		svc.Close(ctx)
		return nil, err
	}
	if err := svc.Close(ctx); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(svc)
	r := &memoryReport{Keys: n, CacheSize: n, HeapBefore: before.HeapAlloc, HeapAfter: after.HeapAlloc, Warm: warm,
		BytesPerKey:     (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n),
		HeapObjectsDiff: int64(after.HeapObjects) - int64(before.HeapObjects),
		Note: "runtime.MemStats.HeapAlloc after GC, before a fresh service is built and after it verified each key once over HTTP; " +
			"includes everything the service keeps per verified key (cache entry, indexes), not the harness's tokens"}
	h.progressf("memory: %.0f bytes per cached key", r.BytesPerKey)
	return r, nil
}

// measureMisses verifies --miss-keys keys of the store once each, one
// after another, in process (service.VerifyToken, no HTTP) through a
// fresh service whose cache holds 64 entries, so every verification is a
// cache miss: it reads the key by its secret's hash, the owner and the
// account's catalog (cached after the first), and compiles the entry. The
// keys are spread over the whole store, so the database's own page cache
// rarely holds their pages; the service's write-behind runs as in
// production (its commits empty SQLite readers' page caches).
func (h *harness) measureMisses(ctx context.Context, fx *fixture) (*missReport, error) {
	st, err := h.openStore(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	svc := service.New(service.Options{Store: st, Logger: h.log, CacheSize: 64})
	defer svc.Close(context.WithoutCancel(ctx))
	a, err := svc.Authenticate(ctx, service.Credential{Token: keyward.TokenFromString(fx.mgmt), ClientIP: "127.0.0.1"})
	if err != nil {
		return nil, fmt.Errorf("cache-miss phase: the fixture's management key: %w", err)
	}
	n := min(h.cfg.missKeys, fx.tokens.len())
	step := max(1, fx.tokens.len()/n)
	p := &keyward.PreparedVerify{Cost: keyward.DefaultVerifyCost}
	hist := newHistogram()
	h.progressf("cache misses: verifying %d keys once each, in process, cache of 64", n)
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tok := fx.tokens.string((i * step) % fx.tokens.len())
		start := time.Now()
		res, err := svc.VerifyToken(ctx, a, tok, p)
		hist.record(time.Since(start))
		if err != nil || res.Code != keyward.VerifyValid {
			return nil, fmt.Errorf("cache-miss phase: key %d: %v %v", i, res.Code, err)
		}
	}
	r := &missReport{Keys: n, Latency: hist.summary(),
		Note: "service.VerifyToken in process, one goroutine, each token verified once through a 64-entry cache; time per call"}
	h.progressf("cache misses: p50 %.3f ms, p99 %.3f ms, p999 %.3f ms", r.Latency.P50, r.Latency.P99, r.Latency.P999)
	return r, nil
}

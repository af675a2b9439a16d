package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

func writeJSONReport(w io.Writer, rep *report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// count formats n with thousands separators.
func count[T int | int64 | uint64](n T) string {
	s := strconv.FormatInt(int64(n), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// pct renders a share as a percentage, "?" when unknown.
func pct(f float64) string {
	if f < 0 {
		return "?"
	}
	return strconv.FormatFloat(f*100, 'f', 0, 64)
}

func printReport(w io.Writer, rep *report) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	m, s := rep.Machine, rep.Seed
	p("keyward bench/verify: HTTP verification load harness")
	p("command:   %s", rep.Command)
	p("machine:   %d CPUs (%s), GOMAXPROCS %d, %s %s, memory %s", m.CPUs, m.CPUModel, m.GOMAXPROCS, m.GoVersion, m.OSArch, m.MemTotal)
	p("           %s; load average %s at the start, %s at the end", m.Note, m.LoadStart, m.LoadEnd)
	p("")
	p("store:     %s, %s seeded keys (fixture %s)", s.Store, count(s.KeysInStore), s.Fixture)
	if s.SeededNow > 0 {
		p("seeding:   %s keys in %.1f s (%s keys/s, transactions of %s)", count(s.SeededNow), s.SeedSeconds, count(int64(s.SeedKeysPerS)), count(s.BatchSize))
	}
	if s.Reused {
		p("reused:    the fixture's management key and %d of its tokens were found in the database", s.CheckedSample-1)
	}
	p("           %s", s.Note)
	st := rep.Start
	p("start:     %.1f ms to the first /readyz 200 (open + migrate %.1f ms, service + bootstrap %.1f ms, listen to first 200 %.1f ms)",
		st.TotalMS, st.OpenMigrateMS, st.ServiceMS, st.FirstReadyMS)
	if fp := rep.FirstPage; fp != nil {
		p("GET /v1/keys?limit=25: first %.2f ms (new connection, %d items, has_more %v); next %d: p50 %.2f ms, max %.2f ms",
			fp.FirstMS, fp.Items, fp.HasMore, fp.NextCount, fp.NextP50MS, fp.NextMaxMS)
	}
	if rep.UI != nil {
		printUIReport(p, rep.UI)
	}
	if len(rep.Rounds) > 0 {
		printLoad(p, rep)
	}
	if len(rep.Warnings) > 0 {
		p("")
		for _, wn := range rep.Warnings {
			p("WARNING: %s", wn)
		}
	}
	p("")
	p("total time %.1f s", rep.Seconds)
}

// printLoad prints the load rounds and the phases after them.
func printLoad(p func(string, ...any), rep *report) {
	c := rep.Config
	p("")
	perms := ""
	if c.Permissions != "" {
		perms = fmt.Sprintf(", permissions %q", c.Permissions)
	}
	seq := "baseline, keyward"
	if c.Flood > 0 {
		seq += ", keyward under a flood"
	}
	p("load:      %d keep-alive conns; %d round(s) of %s, %gs each; warm-up %gs per server (not measured)",
		c.Conns, c.Rounds, seq, c.DurationSeconds, c.WarmupSeconds)
	p("           real keys: %.0f%% from a hot set of %s keys (cache %s), the rest cold keys (first sight: cache misses)%s",
		c.HitRatio*100, count(c.HotKeys), count(c.CacheSize), perms)
	if c.Flood > 0 {
		p("           flood phase: %.0f%% of requests are random well-formed tokens (%.0f%% with a good checksum)", c.Flood*100, c.FloodGoodChecksum*100)
	}
	p("           latency measured per request at the client; errors are never counted as throughput")
	p("           cpu%%: this process's share of the machine's CPU; other%%: other processes' share (a busy neighbour spoils a phase)")
	p("")
	p("%-10s %5s %-9s %10s %9s %9s %9s %9s %7s %6s %15s %5s %6s", "phase", "round", "server", "req/s", "p50 ms", "p99 ms", "p999 ms", "max ms", "errors", "dials", "cold (rep)", "cpu%", "other%")
	row := func(label string, r *phaseResult) {
		round := ""
		if r.Round > 0 {
			round = strconv.Itoa(r.Round)
		}
		p("%-10s %5s %-9s %10s %9.3f %9.3f %9.3f %9.3f %7d %6d %15s %5s %6s", label, round, r.Server, count(int64(r.RPS)),
			r.Latency.P50, r.Latency.P99, r.Latency.P999, r.Latency.Max, r.Errors, r.NewConns,
			fmt.Sprintf("%d (%d)", r.ColdDraws, r.ColdRepeats), pct(r.SelfCPU), pct(r.OtherCPU))
		if r.Real != nil {
			cls := func(name string, c *classResult) {
				p("%-10s %5s %-9s %10s %9.3f %9.3f %9.3f %9.3f", "", "", name, count(int64(c.RPS)), c.Latency.P50, c.Latency.P99, c.Latency.P999, c.Latency.Max)
			}
			cls(" real keys", r.Real)
			cls(" flood", r.Flood)
		}
	}
	if rep.Prime != nil {
		row("prime", rep.Prime)
	}
	for _, r := range rep.Warmup {
		row("warm-up", r)
	}
	for _, r := range rep.Rounds {
		row(r.Phase, r)
	}
	o := rep.Overall
	p("")
	p("overall (all rounds):")
	if o.Baseline != nil {
		row("all", o.Baseline)
		row("all", o.Keyward)
		if o.KeywardFlood != nil {
			row("all flood", o.KeywardFlood)
		}
	}
	rr := make([]string, len(o.RoundRatios))
	for i, r := range o.RoundRatios {
		rr[i] = fmt.Sprintf("%.3f", r)
	}
	p("")
	p("RATIO keyward / baseline throughput: %.3f  (per round: %s)", o.Ratio, strings.Join(rr, " "))
	switch {
	case len(o.CleanRounds) == len(o.RoundRatios):
		p("      every round was clean (other processes ≤ %.0f%% CPU in both phases)", maxOtherCPU*100)
	case len(o.CleanRounds) > 0:
		p("      over the clean rounds %v alone (other processes ≤ %.0f%% CPU): %.3f", o.CleanRounds, maxOtherCPU*100, o.CleanRatio)
	default:
		p("      no round was clean: other processes took more than %.0f%% of the CPU in every round; rerun on a quiet machine", maxOtherCPU*100)
	}
	if f := o.KeywardFlood; f != nil && o.Keyward != nil {
		p("flood: real-key p50 %.3f → %.3f ms (×%.2f), p99 %.3f → %.3f ms (×%.2f); total req/s with / without flood: %.3f",
			o.Keyward.Latency.P50, f.Real.Latency.P50, o.FloodRealP50Ratio, o.Keyward.Latency.P99, f.Real.Latency.P99, o.FloodRealP99Ratio, o.FloodTotalRPSRatio)
		p("       (closed loop: flood requests take connection slots, so real keys get %.0f%% of them; compare latencies and total throughput)", (1-c.Flood)*100)
	}
	if hp := rep.HalfPeak; hp != nil {
		p("")
		p("half of peak: keyward's throughput over the rounds %s req/s → both paced at %s req/s (open loop, latency from the scheduled send)",
			count(int64(hp.PeakRPS)), count(int64(hp.TargetRPS)))
		for _, r := range []*phaseResult{hp.Baseline, hp.Keyward} {
			svc := ""
			if r.ServiceTime != nil {
				svc = fmt.Sprintf(" (service time p99 %.3f ms)", r.ServiceTime.P99)
			}
			p("  %-9s achieved %s req/s, p50 %.3f ms, P99 %.3f ms, p999 %.3f ms, errors %d%s", r.Server, count(int64(r.RPS)),
				r.Latency.P50, r.Latency.P99, r.Latency.P999, r.Errors, svc)
		}
	}
	if mr := rep.Miss; mr != nil {
		p("")
		p("cache miss: %s keys verified once each in process (one goroutine, cache of 64): p50 %.3f ms, P99 %.3f ms, p999 %.3f ms, max %.3f ms",
			count(mr.Keys), mr.Latency.P50, mr.Latency.P99, mr.Latency.P999, mr.Latency.Max)
	}
	if mr := rep.Memory; mr != nil {
		p("")
		p("memory: %s keys verified once into a fresh cache of %s: heap %.1f → %.1f MiB, %.0f BYTES PER CACHED KEY",
			count(mr.Keys), count(mr.CacheSize), float64(mr.HeapBefore)/(1<<20), float64(mr.HeapAfter)/(1<<20), mr.BytesPerKey)
		if w := mr.Warm; w != nil {
			p("        warm pass (each a cache miss, over HTTP): %s req/s, p50 %.3f ms, p99 %.3f ms, p999 %.3f ms, errors %d",
				count(int64(w.RPS)), w.Latency.P50, w.Latency.P99, w.Latency.P999, w.Errors)
		}
	}
	errs := map[string]int64{}
	for _, r := range append(append(append([]*phaseResult{rep.Prime}, rep.Warmup...), rep.Rounds...), halfPeakPhases(rep.HalfPeak)...) {
		if r == nil {
			continue
		}
		for e, n := range r.ErrorKinds {
			errs[e] += n
		}
	}
	if len(errs) > 0 {
		p("")
		p("errors by kind:")
		kinds := make([]string, 0, len(errs))
		for e := range errs {
			kinds = append(kinds, e)
		}
		sort.Slice(kinds, func(i, j int) bool { return errs[kinds[i]] > errs[kinds[j]] })
		for _, e := range kinds {
			p("  %8d  %s", errs[e], e)
		}
	}
}

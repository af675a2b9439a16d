// Command verify is keyward's load harness for key verification (issue 5,
// item 7). In one process it prepares a store with N API keys, starts
// keyward's real HTTP server on it and a baseline server that does only
// what any verify endpoint must do (read a small JSON body, answer a small
// JSON body) behind identical http.Server settings, drives both with the
// same client in alternation, and prints throughput, latency percentiles and
// the ratio keyward / baseline. It also measures the start time on the
// seeded database, the first page of GET /v1/keys and the heap per cached
// key. See README.md.
//
//	go run ./bench/verify --keys 1000000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench/verify:", err)
		os.Exit(1)
	}
}

// config is the harness's command line.
type config struct {
	args []string // the exact command line, for the report

	keys      int
	dataDir   string
	database  string
	seedBatch int

	conns      int
	duration   time.Duration
	rounds     int
	warmup     time.Duration
	hitRatio   float64
	hotKeys    int
	cacheSize  int
	perms      string
	flood      float64
	floodGood  float64
	halfPeak   bool
	memKeys    int
	missKeys   int
	jsonOut    bool
	serveOnly  bool
	keywardAdr string
	baseAdr    string
	logLevel   string
	cpuProfile string
	uiPages    bool
	uiOnly     bool
	uiReps     int
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{args: args}
	fs := flag.NewFlagSet(filepath.Base(args[0]), flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.keys, "keys", 1_000_000, "API keys in the store (seeded once, reused by later runs)")
	fs.StringVar(&c.dataDir, "data-dir", filepath.Join(os.TempDir(), "keyward-bench"), "directory of the SQLite database and of the token fixture (also used with --database)")
	fs.StringVar(&c.database, "database", "", "PostgreSQL URL to benchmark instead of SQLite (postgres://…)")
	fs.IntVar(&c.seedBatch, "seed-batch", 10_000, "keys inserted per transaction while seeding")
	fs.IntVar(&c.conns, "conns", 32, "client connections (keep-alive), the same for both servers")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "length of each measured phase")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; each runs baseline, keyward and (with --flood) keyward under a flood")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "warm-up per server before the rounds (not measured)")
	fs.Float64Var(&c.hitRatio, "hit-ratio", 0.95, "share of real-key requests drawn from the hot set (cached); the rest are cold keys (cache misses)")
	fs.IntVar(&c.hotKeys, "hot-keys", 0, "size of the hot set, which must fit --cache-size (0: 10,000, or a tenth of --keys if that is less)")
	fs.IntVar(&c.cacheSize, "cache-size", 100_000, "keyward's verification cache size (service.Options.CacheSize; keyward serve --cache-size)")
	fs.StringVar(&c.perms, "permissions", "", `permission query sent with every verification, e.g. "documents:read" (the seeded keys have permission_mode all in the default catalog)`)
	fs.Float64Var(&c.flood, "flood", 0.5, "share of requests that are random well-formed tokens in the flood phase (0 skips the flood phase)")
	fs.Float64Var(&c.floodGood, "flood-good-checksum", 0.5, "share of flood tokens with a correct checksum (the rest have a bad one)")
	fs.BoolVar(&c.halfPeak, "half-peak", true, "after the rounds, pace both servers at 50% of keyward's measured throughput and report p99")
	fs.IntVar(&c.memKeys, "mem-keys", -1, "keys warmed into a fresh cache to measure heap per cached key (-1: all --keys; 0: skip)")
	fs.IntVar(&c.missKeys, "miss-keys", 20_000, "keys verified once each in process, sequentially, through a service with a 64-entry cache: the latency of a verification cache miss on the store (0: skip)")
	fs.BoolVar(&c.jsonOut, "json", false, "print the report as JSON on stdout (progress stays on stderr)")
	fs.BoolVar(&c.serveOnly, "serve-only", false, "prepare, start both servers, print their addresses, credentials and wrk/hey commands, then wait for SIGINT")
	fs.StringVar(&c.keywardAdr, "keyward-addr", "127.0.0.1:0", "listen address of keyward")
	fs.StringVar(&c.baseAdr, "baseline-addr", "127.0.0.1:0", "listen address of the baseline server")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured rounds (client, baseline and keyward: compare keyward's handler with the baseline's) to this file")
	fs.StringVar(&c.logLevel, "log-level", "warn", "keyward's log level (stderr); info logs every request as keyward serve does by default")
	fs.BoolVar(&c.uiPages, "ui-pages", true, "sign in to the dashboard with an operator key and time every list page (issue 13: ≤ 50 ms, ≤ 150 KB); seeds users, projects and a few keys per filter once")
	fs.BoolVar(&c.uiOnly, "ui-only", false, "prepare, start keyward, time the dashboard's list pages and stop: no load rounds, cache-miss or memory phases (--cpuprofile then profiles the pages)")
	fs.IntVar(&c.uiReps, "ui-reps", 20, "requests per dashboard page (the first one included)")
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	switch {
	case c.keys < 1:
		return nil, errors.New("--keys must be at least 1")
	case c.seedBatch < 1:
		return nil, errors.New("--seed-batch must be at least 1")
	case c.conns < 1:
		return nil, errors.New("--conns must be at least 1")
	case c.duration <= 0 || c.warmup < 0:
		return nil, errors.New("--duration must be positive and --warmup not negative")
	case c.rounds < 1:
		return nil, errors.New("--rounds must be at least 1")
	case c.hitRatio < 0 || c.hitRatio > 1:
		return nil, errors.New("--hit-ratio must be between 0 and 1")
	case c.hotKeys < 0 || c.cacheSize < 1:
		return nil, errors.New("--hot-keys must not be negative and --cache-size must be at least 1")
	case c.flood < 0 || c.flood >= 1:
		return nil, errors.New("--flood must be in [0, 1)")
	case c.floodGood < 0 || c.floodGood > 1:
		return nil, errors.New("--flood-good-checksum must be between 0 and 1")
	case c.missKeys < 0:
		return nil, errors.New("--miss-keys must not be negative")
	case c.uiReps < 1:
		return nil, errors.New("--ui-reps must be at least 1")
	case c.uiOnly && !c.uiPages:
		return nil, errors.New("--ui-only needs --ui-pages")
	case c.uiOnly && c.serveOnly:
		return nil, errors.New("--ui-only and --serve-only exclude each other")
	case c.memKeys < -1:
		return nil, errors.New("--mem-keys must be -1, 0 or positive")
	}
	if c.hotKeys == 0 {
		c.hotKeys = max(1, min(10_000, c.keys/10))
	}
	c.hotKeys = min(c.hotKeys, c.keys)
	if c.memKeys == -1 {
		c.memKeys = c.keys
	}
	c.memKeys = min(c.memKeys, c.keys)
	if c.hitRatio < 1 && c.hotKeys == c.keys {
		return nil, fmt.Errorf("--hit-ratio %.2f needs cold keys: --keys (%d) must be larger than --hot-keys", c.hitRatio, c.keys)
	}
	return c, nil
}

// run is the whole harness; main only wires signals and the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	h := &harness{cfg: c, out: stdout, progress: stderr}
	if c.serveOnly {
		return h.serveOnly(ctx)
	}
	rep, err := h.benchmark(ctx)
	if err != nil {
		return err
	}
	if c.jsonOut {
		return writeJSONReport(stdout, rep)
	}
	printReport(stdout, rep)
	return nil
}

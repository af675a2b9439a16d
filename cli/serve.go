package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/metrics"
	"github.com/keyward/keyward/redis"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/ui"
)

// serveConfig is the configuration of keyward serve.
type serveConfig struct {
	store            storeFlags
	addr             string
	logFormat        string
	logLevel         string
	bootstrapKeyFile string
	shutdownTimeout  time.Duration
	masterKeyFile    string
	lockoutThreshold int
	lockoutWindow    time.Duration
	lockoutDuration  time.Duration
	trustedProxies   []string
	redisURL         string
	cacheSize        int
	cacheTTL         time.Duration
	outageGrace      time.Duration
	requestTimeout   time.Duration
	usageFlush       time.Duration
	usageRetention   keyward.UsageRetention
	ui               bool
	uiIdle           time.Duration
	uiMaxAge         time.Duration
	uiSecureCookies  bool
}

func (e *env) serveCommand() *cobra.Command {
	c := &serveConfig{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the keyward server",
		Long: `Run the keyward server. With no flags it listens on 127.0.0.1:8420 and
keeps its SQLite database in ./keyward-data/. On an empty database it creates
the account "default" and an operator management key, whose secret it prints
once on stderr or, with --bootstrap-key-file, writes to that file (mode 0600)
instead. The key is created only by a start that has bound its address: a
start that fails leaves the database empty, and the next one creates the key.

One server per data directory: while one runs (it holds the lock file
keyward.lock in --data-dir), a second "keyward serve" on the same directory
exits with an error. keyward admin, keyward backup and programs that embed
keyward may open the database beside it.

SIGINT or SIGTERM stop it gracefully: requests in flight finish (up to
--shutdown-timeout), pending usage (last-use times, verification counts) is
written, the database is closed cleanly. kill -9 loses at most the usage of
one --usage-flush-interval.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return e.serve(cmd.Context(), c) },
	}
	f := cmd.Flags()
	f.StringVar(&c.addr, "addr", "127.0.0.1:8420", "address to listen on (host:port; port 0 picks a free port)")
	c.store.register(f)
	f.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&c.bootstrapKeyFile, "bootstrap-key-file", "", "write the bootstrap operator key's secret to this file (mode 0600) instead of printing it on stderr")
	f.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a graceful shutdown waits for requests in flight")
	f.StringVar(&c.masterKeyFile, "master-key-file", "", "file holding the 32-byte master key that enables recoverable keys (hex, base64 or raw); or set KEYWARD_MASTER_KEY to the key itself")
	f.IntVar(&c.lockoutThreshold, "lockout-threshold", khttp.DefaultLockout.Threshold, "failed authentications from one address within --lockout-window that lock it out (0 disables)")
	f.DurationVar(&c.lockoutWindow, "lockout-window", khttp.DefaultLockout.Window, "window in which failed authentications are counted")
	f.DurationVar(&c.lockoutDuration, "lockout-duration", khttp.DefaultLockout.Duration, "how long a locked-out address gets 429")
	f.StringSliceVar(&c.trustedProxies, "trusted-proxies", nil, "CIDR prefixes of reverse proxies whose X-Forwarded-For is believed (comma-separated)")
	f.StringVar(&c.redisURL, "redis", "", "Redis URL (redis://host:6379/0) to make rate limits hold across nodes; without it each node limits on its own")
	f.IntVar(&c.cacheSize, "cache-size", 100_000, "verification cache entries at most (least recently used evicted)")
	f.DurationVar(&c.cacheTTL, "cache-ttl", 5*time.Minute, "longest a cached verification is trusted without a read (a safety net: changes invalidate at once)")
	f.DurationVar(&c.requestTimeout, "request-timeout", khttp.DefaultRequestTimeout, "longest a request waits for the database before it answers 503 (verifications and /readyz: 1s)")
	f.DurationVar(&c.usageFlush, "usage-flush-interval", 2*time.Second, "how often usage (last-use times, verification counts, usage buckets) is written behind: the delay before usage shows, and what kill -9 may lose")
	def := keyward.DefaultUsageRetention
	f.DurationVar(&c.usageRetention.Minutes, "usage-retention-minutes", def.Minutes, "how long minute usage buckets are kept")
	f.DurationVar(&c.usageRetention.Hours, "usage-retention-hours", def.Hours, "how long hour usage buckets are kept")
	f.DurationVar(&c.usageRetention.Days, "usage-retention-days", def.Days, "how long day usage buckets are kept")
	f.BoolVar(&c.ui, "ui", true, "serve the dashboard at / (--ui=false: only the API)")
	f.DurationVar(&c.uiIdle, "ui-session-idle", ui.DefaultIdleTimeout, "a dashboard session not used for this long ends")
	f.DurationVar(&c.uiMaxAge, "ui-session-max", ui.DefaultMaxAge, "a dashboard session ends this long after sign-in, used or not")
	f.BoolVar(&c.uiSecureCookies, "ui-secure-cookies", false, "always mark the dashboard's session cookie Secure (behind a proxy that terminates TLS); without it, only requests over TLS get it")
	f.DurationVar(&c.outageGrace, "outage-grace", 10*time.Second, "while the database is unreachable, cached verifications keep answering this long after the invalidation feed was last healthy (0 turns it off)")
	return cmd
}

// masterKey reads the master key from --master-key-file or
// KEYWARD_MASTER_KEY; nil when neither is set.
func (e *env) masterKey(file string) (*keyward.MasterKey, error) {
	inline := e.getenv("KEYWARD_MASTER_KEY")
	switch {
	case file != "" && inline != "":
		return nil, usagef("set either --master-key-file (KEYWARD_MASTER_KEY_FILE) or KEYWARD_MASTER_KEY, not both")
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("master key: %w", err)
		}
		mk, err := keyward.ParseMasterKey(b)
		if err != nil {
			return nil, usagef("--master-key-file %s: %v", file, err)
		}
		return mk, nil
	case inline != "":
		mk, err := keyward.ParseMasterKey([]byte(inline))
		if err != nil {
			return nil, usagef("KEYWARD_MASTER_KEY: %v", err)
		}
		return mk, nil
	}
	return nil, nil
}

func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := keyward.ParseAllowEntry(strings.TrimSpace(s))
		if err != nil {
			return nil, usagef("--trusted-proxies: %q is not an address or CIDR prefix", s)
		}
		out = append(out, p)
	}
	return out, nil
}

func (e *env) logger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level (KEYWARD_LOG_LEVEL): %v", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(e.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, opts)), nil
	}
	return nil, usagef("--log-format (KEYWARD_LOG_FORMAT) must be text or json, not %q", format)
}

func (e *env) serve(ctx context.Context, c *serveConfig) error {
	log, err := e.logger(c.logFormat, c.logLevel)
	if err != nil {
		return err
	}
	master, err := e.masterKey(c.masterKeyFile)
	if err != nil {
		return err
	}
	proxies, err := parsePrefixes(c.trustedProxies)
	if err != nil {
		return err
	}
	if c.lockoutThreshold < 0 || (c.lockoutThreshold > 0 && (c.lockoutWindow <= 0 || c.lockoutDuration <= 0)) {
		return usagef("--lockout-threshold must be 0 (off) or positive, with positive --lockout-window and --lockout-duration")
	}
	if c.cacheSize < 1 || c.cacheTTL <= 0 || c.outageGrace < 0 {
		return usagef("--cache-size and --cache-ttl must be positive, --outage-grace not negative")
	}
	if c.usageFlush <= 0 || c.usageRetention.Minutes <= 0 || c.usageRetention.Hours <= 0 || c.usageRetention.Days <= 0 {
		return usagef("--usage-flush-interval and the --usage-retention-* durations must be positive")
	}
	if c.requestTimeout < time.Second {
		return usagef("--request-timeout must be at least 1s")
	}
	// One server per data directory: a second one started by mistake (a
	// leftover process, a second service unit) would enforce its own rate
	// limits and lockouts beside the first; better to refuse it loudly.
	unlock, err := c.store.lockDataDir()
	if err != nil {
		return err
	}
	defer unlock()
	db, err := c.store.open(ctx, log, false)
	if err != nil {
		return err
	}
	defer func() {
		if err := db.Close(); err != nil {
			log.Error("closing the database failed", "err", err)
		}
	}()
	grace := c.outageGrace
	if grace == 0 {
		grace = -1 // off
	}
	var rates service.RateBackend
	if c.redisURL != "" {
		rl, err := redis.Open(c.redisURL)
		if err != nil {
			return usagef("--redis: %v", err)
		}
		defer rl.Close()
		if err := rl.Ping(ctx); err != nil {
			log.Warn("Redis does not answer yet: rate limits hold per node until it does", "err", err)
		}
		rates = rl
	}
	mx := metrics.New()
	svc := service.New(service.Options{Store: db, Logger: log, MasterKey: master,
		CacheSize: c.cacheSize, CacheTTL: c.cacheTTL, OutageGrace: grace, RateBackend: rates, Observer: mx,
		UsageFlushInterval: c.usageFlush, UsageRetention: c.usageRetention})
	mx.Watch(svc)
	if err := svc.CheckMasterKey(ctx); err != nil {
		svc.Close(context.Background())
		return err
	}
	// Bind before the bootstrap: a start that cannot serve (the port is
	// taken) must not commit the operator key and lose it with the process.
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		svc.Close(context.Background())
		return err
	}
	if err := e.bootstrap(ctx, svc, c.bootstrapKeyFile, log); err != nil {
		ln.Close()
		svc.Close(context.Background())
		return err
	}
	api := khttp.NewServer(svc, khttp.Options{
		Logger:         log,
		Lockout:        &khttp.LockoutPolicy{Threshold: c.lockoutThreshold, Window: c.lockoutWindow, Duration: c.lockoutDuration},
		TrustedProxies: proxies,
		Metrics:        mx,
		RequestTimeout: c.requestTimeout,
	})
	compat.Mount(api, svc)
	if c.ui {
		ui.Mount(api, svc, ui.Options{IdleTimeout: c.uiIdle, MaxAge: c.uiMaxAge, SecureCookies: c.uiSecureCookies, Logger: log})
	}
	srv := khttp.NewHTTPServer(api, log)
	attrs := []any{"addr", ln.Addr().String(), "store", c.store.describe(), "version", e.build.Version, "commit", e.build.Commit}
	if c.store.database == "" {
		attrs = append(attrs, "data_dir", c.store.dataDir)
	}
	log.Info("keyward listening", attrs...)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err = <-served:
	case <-ctx.Done():
		log.Info("shutting down: finishing requests in flight", "timeout", c.shutdownTimeout)
		sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		if err != nil {
			log.Warn("graceful shutdown timed out; closing connections", "err", err)
			srv.Close()
		}
		err = nil
	}
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ferr := svc.Close(fctx); ferr != nil {
		log.Error("writing pending last-use times failed", "err", ferr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("keyward stopped")
	return err
}

// bootstrap prepares an empty database and hands the operator key's secret
// to the operator: in the 0600 file named by keyFile (stderr then says
// where it is, never the key: stderr often goes to a log others can read),
// or else once on stderr. The key file is written inside the bootstrap's
// transaction, so a key that could not be written is never committed and
// the next start bootstraps again.
func (e *env) bootstrap(ctx context.Context, svc *service.Service, keyFile string, log *slog.Logger) error {
	var (
		keep    func(*keyward.Key, keyward.Token) error
		keepErr error
		wrote   bool
	)
	if keyFile != "" {
		keep = func(_ *keyward.Key, tok keyward.Token) error {
			keepErr = writeKeyFile(keyFile, tok)
			wrote = keepErr == nil
			return keepErr
		}
	}
	k, tok, err := svc.BootstrapWith(ctx, keep)
	if keepErr != nil {
		return fmt.Errorf("bootstrap: write --bootstrap-key-file: %w (nothing was created; the next start tries again)", keepErr)
	}
	if err != nil {
		if wrote {
			os.Remove(keyFile) // it holds a key that was not committed
		}
		return fmt.Errorf("bootstrap: %w", err)
	}
	if tok.IsZero() {
		return nil
	}
	log.Info("empty database: created account default and an operator management key", "key_id", k.ID)
	if keyFile != "" {
		where := keyFile
		if abs, err := filepath.Abs(keyFile); err == nil {
			where = abs
		}
		fmt.Fprintf(e.stderr, "\nkeyward: the operator management key is in %s (mode 0600; it is shown nowhere else: keep it safe)\n\n", where)
		return nil
	}
	fmt.Fprintf(e.stderr, "\nkeyward: the operator management key (shown once, keep it safe):\n\n    %s\n\n", tok.Reveal())
	return nil
}

// writeKeyFile writes tok to path, replacing what it held, with mode 0600
// (an existing file is restricted too), and syncs it.
func writeKeyFile(path string, tok keyward.Token) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := fmt.Fprintln(f, tok.Reveal()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (e *env) migrateCommand() *cobra.Command {
	var store storeFlags
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations and exit",
		Long: `Apply the embedded migrations to the database without starting the server.
"keyward serve" does the same at start; on PostgreSQL, nodes starting together
take an advisory lock so one migrates and the others wait.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			msg, err := store.migrate(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, msg)
			return nil
		},
	}
	store.register(cmd.Flags())
	return cmd
}

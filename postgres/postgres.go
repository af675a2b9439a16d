// Package postgres is keyward's store on PostgreSQL, for clusters: any
// number of keyward nodes share one database. It opens a pgx pool (used
// through database/sql by the shared SQL of package sqlstore), applies the
// embedded migrations under an advisory lock so nodes starting together
// migrate once, and runs the invalidation feed: every change a node commits
// is sent with pg_notify in the same transaction, and each node LISTENs on
// a dedicated connection and drops what its verification cache holds of it.
package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationsFS returns the embedded PostgreSQL migrations.
func MigrationsFS() fs.FS { return sqlstore.EmbeddedMigrations(migrationFiles) }

// Channel is the LISTEN/NOTIFY channel of invalidations.
const Channel = "keyward_invalidations"

// ListenerApplicationName is the application_name of each node's LISTEN
// connection (pg_stat_activity shows one per node).
const ListenerApplicationName = "keyward-listener"

// Options tune the connection pool; zero values take the defaults.
type Options struct {
	MaxConns         int32         // default 20
	MinConns         int32         // default 2
	ConnMaxLifetime  time.Duration // default 30m
	ConnMaxIdleTime  time.Duration // default 5m
	ConnectTimeout   time.Duration // default 5s
	StatementTimeout time.Duration // default 10s; 0 in the URL's options wins
	Logger           *slog.Logger
	// SkipMigrations opens the database without migrating (keyward migrate
	// runs them alone; tests of the migration lock).
	SkipMigrations bool
}

// DB is a keyward store on PostgreSQL.
type DB struct {
	*sqlstore.Store
	pool     *pgxpool.Pool
	listener *listener
}

var _ keyward.Store = (*DB)(nil)

// Open connects to the database at url (postgres://…), applies pending
// migrations and starts the invalidation feed. It fails if the database
// cannot be reached or its schema is newer than this keyward.
func Open(ctx context.Context, url string, o Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", redactURL(err))
	}
	set := func(dst *int32, v, def int32) {
		if v > 0 {
			*dst = v
		} else {
			*dst = def
		}
	}
	set(&cfg.MaxConns, o.MaxConns, 20)
	set(&cfg.MinConns, o.MinConns, 2)
	cfg.MaxConnLifetime = durationOr(o.ConnMaxLifetime, 30*time.Minute)
	cfg.MaxConnIdleTime = durationOr(o.ConnMaxIdleTime, 5*time.Minute)
	cfg.HealthCheckPeriod = 5 * time.Second
	cc := cfg.ConnConfig
	cc.ConnectTimeout = durationOr(o.ConnectTimeout, 5*time.Second)
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "keyward"
	}
	if _, ok := cc.RuntimeParams["statement_timeout"]; !ok {
		cc.RuntimeParams["statement_timeout"] = fmt.Sprint(durationOr(o.StatementTimeout, 10*time.Second).Milliseconds())
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", redactURL(err))
	}
	db := stdlib.OpenDBFromPool(pool)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", redactURL(err))
	}
	node := make([]byte, 8)
	if _, err := io.ReadFull(rand.Reader, node); err != nil {
		return nil, err
	}
	d := Dialect{node: hex.EncodeToString(node)}
	if !o.SkipMigrations {
		if _, err := sqlstore.Migrate(ctx, db, d, MigrationsFS()); err != nil {
			db.Close()
			pool.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	s := sqlstore.New(db, db, d, false)
	// A request waits for the database at most a connect and a statement:
	// beyond that (a partition drops packets, so the server-side
	// statement_timeout cannot fire) it is unavailable.
	s.SetOperationTimeout(cc.ConnectTimeout + durationOr(o.StatementTimeout, 10*time.Second))
	lc := cc.Copy()
	lc.RuntimeParams["application_name"] = ListenerApplicationName
	l := newListener(lc, d.node, s.Deliver, log)
	s.SetFeedHealth(l.healthy, l.confirmedAt)
	go l.run()
	return &DB{Store: s, pool: pool, listener: l}, nil
}

// Migrate applies pending migrations to the database at url and returns
// the versions it applied (keyward migrate).
func Migrate(ctx context.Context, url string) ([]int, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", redactURL(err))
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	return sqlstore.Migrate(ctx, db, Dialect{}, MigrationsFS())
}

// Close stops the feed and closes the pool.
func (db *DB) Close() error {
	db.listener.close()
	err := db.Store.Close()
	db.pool.Close()
	return err
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// redactURL keeps a password in a database URL out of error messages.
func redactURL(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		if j := strings.Index(msg[i:], "@"); j > 0 {
			if k := strings.Index(msg[i:i+j], ":"); k >= 0 {
				msg = msg[:i+k+1] + "[redacted]" + msg[i+j:]
			}
		}
	}
	return errors.New(msg)
}

// Dialect is the PostgreSQL flavour of sqlstore.
type Dialect struct {
	node string // this process, to recognise its own notifications
}

// Name implements sqlstore.Dialect.
func (Dialect) Name() string { return "postgres" }

// Placeholders implements sqlstore.Dialect: PostgreSQL takes $1, $2….
func (Dialect) Placeholders() bool { return true }

// LockClause implements sqlstore.Dialect: rows read to be changed are
// locked until the transaction ends, so concurrent nodes never lose an
// update.
func (Dialect) LockClause() string { return " FOR UPDATE" }

// ReadIsolation implements sqlstore.Dialect: under READ COMMITTED each
// statement sees a new snapshot; a read needs one for the whole transaction.
func (Dialect) ReadIsolation() sql.IsolationLevel { return sql.LevelRepeatableRead }

// IsUniqueViolation implements sqlstore.Dialect.
func (Dialect) IsUniqueViolation(err error) bool { return pgCode(err) == "23505" }

// PrepareStatements implements sqlstore.Dialect: pgx prepares and caches
// every statement per connection by itself.
func (Dialect) PrepareStatements() bool { return false }

// PlanWith implements sqlstore.Dialect. pgx prepares and caches every
// statement, and after five executions PostgreSQL may settle on a generic
// plan, made without the arguments' values: for a key search, a rare
// status or the usage of fifty keys that plan reads far more than the
// values need (65–95 ms against 2–4 ms a page on 300,000 keys,
// docs/performance.md). QueryExecModeCacheDescribe keeps pgx's cached
// description of the statement but runs it unnamed, which PostgreSQL
// plans with the values every time.
func (Dialect) PlanWith(args []any) []any {
	return append([]any{pgx.QueryExecModeCacheDescribe}, args...)
}

// IsRetryable implements sqlstore.Dialect: deadlocks and serialization
// failures between concurrent nodes.
func (Dialect) IsRetryable(err error) bool {
	c := pgCode(err)
	return c == "40001" || c == "40P01"
}

// IsUnavailable implements sqlstore.Dialect: the server cannot be reached,
// refuses connections, or is shutting down.
func (Dialect) IsUnavailable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	switch c := pgCode(err); {
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case strings.HasPrefix(c, "08"), c == "57P01", c == "57P02", c == "57P03", c == "53300",
		c == "57014": // statement_timeout: the database is too slow to answer, not a bad request
		return true
	}
	return strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "connection refused")
}

// Publish implements sqlstore.Dialect: pg_notify inside the transaction
// goes out to every listening node exactly when the transaction commits.
func (d Dialect) Publish(ctx context.Context, tx *sql.Tx, inv keyward.Invalidation) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, Channel, d.node+" "+inv.String())
	return err
}

// migrationLockID is the advisory lock key of migrations ("keyward" in ASCII).
const migrationLockID = 0x6b6579776172

// LockMigrations implements sqlstore.MigrationLocker with a session-level
// advisory lock: of several nodes starting on an empty database, one
// migrates and the others wait for it.
func (Dialect) LockMigrations(ctx context.Context, db *sql.DB) (func(), error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockID); err != nil {
		conn.Close()
		return nil, err
	}
	return func() {
		conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, migrationLockID)
		conn.Close()
	}, nil
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// Feed health: the listening connection proves itself every feedPoll (a
// notification or a ping); if it has not within feedStaleAfter, the feed
// counts as broken (the node may be missing changes) and caches stop
// trusting their entries. A partition is thus noticed within a second.
const (
	feedPoll       = 250 * time.Millisecond
	feedStaleAfter = time.Second
)

// listener holds the LISTEN connection and hands notifications of other
// nodes to the store's subscribers. When the connection breaks it
// reconnects with backoff and, once listening again, flushes every cache
// (changes made while it was away are lost to it) before it reports healthy.
type listener struct {
	cfg     *pgx.ConnConfig
	node    string
	deliver func([]keyward.Invalidation)
	log     *slog.Logger

	mu        sync.Mutex
	connected bool
	lastOK    time.Time

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

func newListener(cfg *pgx.ConnConfig, node string, deliver func([]keyward.Invalidation), log *slog.Logger) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	return &listener{cfg: cfg, node: node, deliver: deliver, log: log, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

func (l *listener) healthy() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.connected && time.Since(l.lastOK) < feedStaleAfter
}

func (l *listener) confirmedAt() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastOK
}

func (l *listener) set(connected bool) {
	l.mu.Lock()
	l.connected = connected
	if connected {
		l.lastOK = time.Now()
	}
	l.mu.Unlock()
}

func (l *listener) close() {
	l.cancel()
	<-l.done
}

func (l *listener) run() {
	defer close(l.done)
	backoff := 100 * time.Millisecond
	for l.ctx.Err() == nil {
		err := l.listen()
		l.set(false)
		if l.ctx.Err() != nil {
			return
		}
		l.log.Warn("invalidation feed down: verifications bypass the cache until it is back", "err", redactURL(err), "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-l.ctx.Done():
			return
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// listen runs one LISTEN connection until it fails.
func (l *listener) listen() error {
	cctx, cancel := context.WithTimeout(l.ctx, l.cfg.ConnectTimeout+time.Second)
	conn, err := pgx.ConnectConfig(cctx, l.cfg)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(l.ctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		return err
	}
	// Whatever changed while this node was not listening is unknown:
	// forget everything, then trust the feed again.
	l.deliver([]keyward.Invalidation{{Kind: keyward.InvalidateAll}})
	l.set(true)
	l.log.Info("invalidation feed up", "channel", Channel)
	for {
		wctx, cancel := context.WithTimeout(l.ctx, feedPoll)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			l.set(true)
			l.handle(n.Payload)
		case l.ctx.Err() != nil:
			return l.ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
			// Quiet: prove the connection still works.
			pctx, cancel := context.WithTimeout(l.ctx, feedPoll)
			_, err := conn.Exec(pctx, "SELECT 1")
			cancel()
			if err != nil {
				return err
			}
			l.set(true)
		default:
			return err
		}
	}
}

func (l *listener) handle(payload string) {
	node, body, ok := strings.Cut(payload, " ")
	if !ok || node == l.node {
		return // this node's own change, already applied at commit
	}
	inv, err := keyward.ParseInvalidation(body)
	if err != nil {
		// Unknown to this version: be safe.
		inv = keyward.Invalidation{Kind: keyward.InvalidateAll}
	}
	l.deliver([]keyward.Invalidation{inv})
}

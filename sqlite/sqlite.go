// Package sqlite is keyward's embedded database: keyward.Store on a SQLite
// file through modernc.org/sqlite (pure Go, no cgo), with the usage (buckets,
// keys' last use) in a second file beside it (UsagePath). The database runs in
// WAL mode with synchronous=FULL, so a write keyward has acknowledged
// survives kill -9 and power loss; one connection writes, a small pool reads.
// Processes that open one file keep their verification caches exact
// through an invalidation feed in the file (see Open).
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

//go:embed usage_migrations/*.sql
var usageMigrationFiles embed.FS

// UsageMigrationsFS returns the embedded migrations of the usage file.
func UsageMigrationsFS() fs.FS {
	sub, err := fs.Sub(usageMigrationFiles, "usage_migrations")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

// MigrationsFS returns the embedded SQLite migrations.
func MigrationsFS() fs.FS { return sqlstore.EmbeddedMigrations(migrationFiles) }

// FileName is the database file inside the data directory.
const FileName = "keyward.db"

// UsageFileName is the usage file beside FileName.
const UsageFileName = "usage.db"

// UsagePath returns the usage file of the database at path: usage.db
// beside keyward.db, NAME.usage.db beside any other NAME.db (or NAME).
// It holds the usage buckets and the keys' last use and verification
// counts (key_usage), which the write-behind changes every few seconds:
// in a file of their own, those commits never empty the page cache of
// the connections that read keys.
func UsagePath(path string) string {
	dir, base := filepath.Split(path)
	if base == FileName {
		return filepath.Join(dir, UsageFileName)
	}
	return filepath.Join(dir, strings.TrimSuffix(base, ".db")+"."+UsageFileName)
}

// ErrNoDatabase is the error (wrapped, with the reason) of a path that
// holds no keyward database where one must exist.
var ErrNoDatabase = errors.New("no keyward database")

// DB is a keyward store on one SQLite file.
type DB struct {
	*sqlstore.Store
	path string
	feed *feed
}

var _ keyward.Store = (*DB)(nil)

// Options tune OpenWith; the zero value is what Open does.
type Options struct {
	// MustExist refuses a path that holds no keyward database (an error
	// wrapping ErrNoDatabase) and creates nothing: no directory, no file.
	// For commands that work on a server's database (keyward admin), where
	// a mistyped path must not become a new, empty database.
	MustExist bool
	// Logger receives the invalidation feed's warnings; nil discards them.
	Logger *slog.Logger
}

// Open opens (creating if needed) the database file at path and applies
// pending migrations. It fails if the file cannot be opened or its schema
// is newer than this keyward.
//
// Any number of processes on one machine may open the same file (a keyward
// server, keyward admin, programs that embed the verifier): each change is
// written to the file's invalidation feed in its transaction, and every
// handle polls the feed (every 100 ms) and drops what its caches hold of
// the other handles' changes.
func Open(ctx context.Context, path string) (*DB, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, o Options) (*DB, error) {
	mode := ""
	if o.MustExist {
		probe, err := openExisting(ctx, path)
		if err != nil {
			return nil, err
		}
		probe.Close()
		// Never create the file, even if it vanished since the probe.
		mode = "&mode=rw"
	} else {
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("create data directory: %w", err)
			}
		}
		// Create the file private before SQLite opens it, so it is never
		// readable by others, not even for a moment.
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600); err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		} else {
			f.Close()
		}
	}
	common := "_busy_timeout=5000&_foreign_keys=1&_journal_mode=WAL&_synchronous=FULL" + mode
	upath := UsagePath(path)
	if err := createPrivate(upath); err != nil {
		return nil, err
	}
	// Every connection of the database has the usage file attached,
	// read-only (key_usage: the keys' last use), so a write transaction
	// here never locks it, and the usage writer's commits never touch
	// this file.
	attach := attachSQL(upath, "usage_file")
	// The writer keeps its temporary files in memory: a statement that
	// fires triggers (a key's insert, rename or delete updates the search
	// index, migration 11) keeps a statement journal, which would
	// otherwise spill to a file in the temporary directory (measured: a
	// write() per page, half the time of a bulk insert of keys).
	write, err := openPool(dsn(path, common+"&_txlock=immediate&_pragma=temp_store(memory)"), 1, attach)
	if err != nil {
		return nil, err
	}
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		write.Close()
		return nil, fmt.Errorf("restrict database file: %w", err)
	}
	uw, ur, err := openUsage(ctx, upath, path, common)
	if err != nil {
		write.Close()
		return nil, err
	}
	if err := moveKeyUsage(ctx, write, uw); err != nil {
		write.Close()
		uw.Close()
		ur.Close()
		return nil, fmt.Errorf("migrate %s: move key usage to %s: %w", path, upath, err)
	}
	if _, err := sqlstore.Migrate(ctx, write, Dialect{}, MigrationsFS()); err != nil {
		write.Close()
		uw.Close()
		ur.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	// Readers keep a 16 MiB page cache and no memory map. The cache
	// survives: the write-behind commits to usage.db, not to this file, so
	// only management writes empty it (a commit by another connection
	// does). Memory-mapped pages measured slower on a cache miss (they are
	// parsed anew on each access). See docs/performance.md.
	readDSN := dsn(path, common+"&_query_only=1&_pragma=cache_size(-16384)")
	read, err := openPool(readDSN, max(4, runtime.GOMAXPROCS(0)*2), attach)
	if err != nil {
		write.Close()
		uw.Close()
		ur.Close()
		return nil, err
	}
	f, err := openFeed(ctx, readDSN, o.Logger)
	if err != nil {
		write.Close()
		read.Close()
		uw.Close()
		ur.Close()
		return nil, fmt.Errorf("open %s: invalidation feed: %w", path, err)
	}
	s := sqlstore.New(write, read, Dialect{feed: f}, true)
	s.SetUsageDB(uw, ur)
	s.SetFeedHealth(f.healthy, f.confirmedAt)
	f.start(s.Deliver)
	return &DB{Store: s, path: path, feed: f}, nil
}

// createPrivate creates the file at path if it does not exist, readable
// by its owner only.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	return f.Close()
}

// openUsage opens (creating if needed) and migrates the usage file at
// path: one connection writes (the write-behind), with the keys' database
// (at keysPath) attached read-only so a touch can skip the keys that no
// longer exist; a small pool reads.
func openUsage(ctx context.Context, path, keysPath, common string) (write, read *sql.DB, err error) {
	if err := createPrivate(path); err != nil {
		return nil, nil, err
	}
	// The usage file is written behind, every interval, and what it holds
	// may lose one interval to a crash anyway: WAL with synchronous=NORMAL
	// keeps every commit across a crash of the process (kill -9) and skips
	// the fsync of each commit, which only a power loss or an OS crash
	// needs (they may lose the last commits of usage, never of keys).
	common = strings.ReplaceAll(strings.ReplaceAll(common, "&mode=rw", ""), "_synchronous=FULL", "_synchronous=NORMAL")
	// The one writer keeps a 32 MiB page cache: nothing else writes the
	// file, so its cache stays valid, and each write-behind then reads the
	// pages it updates (the current minute's, the keys' last use) from
	// memory.
	if write, err = openPool(dsn(path, common+"&_txlock=immediate&_pragma=cache_size(-32768)"), 1, attachSQL(keysPath, "keys_file")); err != nil {
		return nil, nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		write.Close()
		return nil, nil, fmt.Errorf("restrict usage file: %w", err)
	}
	if _, err := sqlstore.Migrate(ctx, write, Dialect{}, UsageMigrationsFS()); err != nil {
		write.Close()
		return nil, nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	if read, err = openPool(dsn(path, common+"&_query_only=1"), 2, ""); err != nil {
		write.Close()
		return nil, nil, err
	}
	return write, read, nil
}

// openPool opens a handle on dsn that keeps n connections open for good:
// a SQLite connection is cheap to keep and its page cache is worth keeping.
// attach, if not "", is run on each new connection (attachSQL).
func openPool(dsn string, n int, attach string) (*sql.DB, error) {
	db := sql.OpenDB(connector{dsn: dsn, attach: attach})
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// dsn is the driver's name of the file at path with the query params.
func dsn(path, params string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + params
}

// openExisting opens path, without creating it and without changing it,
// as a plain connection, and checks that it holds a keyward database (an
// error wrapping ErrNoDatabase if not). The caller closes the handle.
func openExisting(ctx context.Context, path string) (*sql.DB, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoDatabase, path)
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%w: %s is not a file", ErrNoDatabase, path)
	}
	// No journal_mode here: on a file that is not keyward's, switching it
	// to WAL would change it.
	db, err := sql.Open("sqlite", dsn(path, "_busy_timeout=5000&mode=rw"))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	var n int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
	var se *sqlite.Error
	switch {
	case errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_NOTADB:
		db.Close()
		return nil, fmt.Errorf("%w: %s is not a SQLite database", ErrNoDatabase, path)
	case err != nil:
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	case n == 0:
		db.Close()
		return nil, fmt.Errorf("%w: %s holds no keyward schema", ErrNoDatabase, path)
	}
	return db, nil
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Close stops the invalidation feed and closes the database.
func (db *DB) Close() error {
	return errors.Join(db.feed.close(), db.Store.Close())
}

// Backup writes a consistent copy of the database to dst (which must not
// exist) with VACUUM INTO, while keyward keeps serving, and of its usage
// file to UsagePath(dst).
func (db *DB) Backup(ctx context.Context, dst string) error {
	if err := vacuumInto(ctx, db.WriteDB(), dst); err != nil {
		return err
	}
	if err := vacuumInto(ctx, db.UsageWriteDB(), UsagePath(dst)); err != nil {
		os.Remove(dst)
		return err
	}
	return nil
}

// Backup writes a consistent copy of the keyward database at path to dst
// (which must not exist) with VACUUM INTO, while any number of processes
// use it. It creates nothing at path and applies no migration, so a copy
// taken before an upgrade keeps the old schema; it fails (wrapping
// ErrNoDatabase) if path holds no keyward database.
func Backup(ctx context.Context, path, dst string) error {
	db, err := openExisting(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := vacuumInto(ctx, db, dst); err != nil {
		return err
	}
	// The usage file, if there is one yet (a database of an older keyward
	// has none: the copy then has none either).
	upath := UsagePath(path)
	if _, err := os.Stat(upath); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	udb, err := sql.Open("sqlite", dsn(upath, "_busy_timeout=5000&mode=ro"))
	if err != nil {
		os.Remove(dst)
		return err
	}
	defer udb.Close()
	if err := vacuumInto(ctx, udb, UsagePath(dst)); err != nil {
		os.Remove(dst)
		return fmt.Errorf("usage file: %w", err)
	}
	return nil
}

func vacuumInto(ctx context.Context, db *sql.DB, dst string) error {
	// Create the target first, private and exclusively: VACUUM INTO
	// accepts an empty file, and the copy holds every key hash.
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("backup target: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		os.Remove(dst)
		return err
	}
	return nil
}

// Dialect is the SQLite flavour of sqlstore. The zero Dialect (for
// migrations) publishes nothing; Open gives its store one that writes to
// the file's invalidation feed.
type Dialect struct {
	feed *feed
}

// Name implements sqlstore.Dialect.
func (Dialect) Name() string { return "sqlite" }

// Placeholders implements sqlstore.Dialect: SQLite takes ?.
func (Dialect) Placeholders() bool { return false }

// LockClause implements sqlstore.Dialect: writes are serialised already.
func (Dialect) LockClause() string { return "" }

// IsUniqueViolation implements sqlstore.Dialect.
func (Dialect) IsUniqueViolation(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// ReadIsolation implements sqlstore.Dialect: a SQLite read transaction
// already sees one snapshot (WAL).
func (Dialect) ReadIsolation() sql.IsolationLevel { return sql.LevelDefault }

// IsRetryable implements sqlstore.Dialect: SQLite writes are serialised,
// nothing aborts for a retry.
func (Dialect) IsRetryable(error) bool { return false }

// PrepareStatements implements sqlstore.Dialect: the SQLite driver parses
// every query it is given, which would be most of a verification cache
// miss's cost.
func (Dialect) PrepareStatements() bool { return true }

// PlanWith implements sqlstore.Dialect: SQLite plans every statement with
// its arguments' values bound anyway.
func (Dialect) PlanWith(args []any) []any { return args }

// Publish implements sqlstore.Dialect: the invalidation is appended to the
// file's feed inside tx, so the other processes polling it see it exactly
// when tx commits.
func (d Dialect) Publish(ctx context.Context, tx *sql.Tx, inv keyward.Invalidation) error {
	if d.feed == nil {
		return nil
	}
	return d.feed.publish(ctx, tx, inv)
}

// IsUnavailable implements sqlstore.Dialect: the file is busy beyond the
// busy timeout, cannot be opened, or the disk fails or is full.
func (Dialect) IsUnavailable(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL:
		return true
	}
	return false
}

// connector opens connections to dsn and runs attach on each.
type connector struct {
	dsn, attach string
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Driver().Open(c.dsn)
	if err != nil || c.attach == "" {
		return conn, err
	}
	if _, err := conn.(driver.ExecerContext).ExecContext(ctx, c.attach, nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("attach: %w", err)
	}
	return conn, nil
}

func (connector) Driver() driver.Driver { return &sqlite.Driver{} }

// attachSQL attaches the database file at path, read-only, as schema name.
// Its tables are then visible by their bare names (where the connection's
// own file has none of that name), so the shared SQL of sqlstore reads
// key_usage alike here and on PostgreSQL. A read-only attachment takes no
// write lock on the file, not even in a BEGIN IMMEDIATE transaction.
func attachSQL(path, name string) string {
	return `ATTACH DATABASE '` + strings.ReplaceAll(dsn(path, "mode=ro"), "'", "''") + `' AS ` + name
}

// moveKeyUsage copies the keys' last use and verification counts of a
// database older than version 6 (which empties those columns) into the
// usage file's key_usage, through the usage writer uw (which sees the
// keys' file attached). Rows the usage file has already are kept, so a
// copy repeated after a crash before version 6 counts nothing twice.
func moveKeyUsage(ctx context.Context, keys, uw *sql.DB) error {
	var version int
	err := keys.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM main.schema_migrations`).Scan(&version)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return nil // a new database
	}
	if err != nil || version == 0 || version >= 6 {
		return err
	}
	verifications := "verifications" // version 3 added the column
	if version < 3 {
		verifications = "0"
	}
	_, err = uw.ExecContext(ctx, `INSERT INTO key_usage (key_id, account_id, last_used_at, verifications)
		SELECT id, account_id, last_used_at, `+verifications+` FROM keys_file.keys
		WHERE last_used_at IS NOT NULL OR `+verifications+` <> 0
		ON CONFLICT (key_id) DO NOTHING`)
	return err
}

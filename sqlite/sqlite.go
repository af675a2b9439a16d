// Package sqlite is keyward's embedded database: keyward.Store on a SQLite
// file through modernc.org/sqlite (pure Go, no cgo). The database runs in
// WAL mode with synchronous=FULL, so a write keyward has acknowledged
// survives kill -9 and power loss; one connection writes, a small pool reads.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationsFS returns the embedded SQLite migrations.
func MigrationsFS() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

// FileName is the database file inside the data directory.
const FileName = "keyward.db"

// DB is a keyward store on one SQLite file.
type DB struct {
	*sqlstore.Store
	path string
}

var _ keyward.Store = (*DB)(nil)

// Open opens (creating if needed) the database file at path and applies
// pending migrations. It fails if the file cannot be opened or its schema
// is newer than this keyward.
func Open(ctx context.Context, path string) (*DB, error) {
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
	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	common := "_busy_timeout=5000&_foreign_keys=1&_journal_mode=WAL&_synchronous=FULL"
	write, err := sql.Open("sqlite", base+"?"+common+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		write.Close()
		return nil, fmt.Errorf("restrict database file: %w", err)
	}
	if _, err := sqlstore.Migrate(ctx, write, Dialect{}, MigrationsFS()); err != nil {
		write.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	// Readers keep SQLite's default page cache and no memory map: both a
	// larger cache and mmap measured slower on a verification cache miss
	// (every commit of the write-behind empties a reader's cache, and a
	// larger one costs more to empty; memory-mapped pages are parsed anew
	// on each access). See docs/performance.md.
	read, err := sql.Open("sqlite", base+"?"+common+"&_query_only=1")
	if err != nil {
		write.Close()
		return nil, err
	}
	n := max(4, runtime.GOMAXPROCS(0)*2)
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	read.SetConnMaxLifetime(0)
	read.SetConnMaxIdleTime(0)
	return &DB{Store: sqlstore.New(write, read, Dialect{}, true), path: path}, nil
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Backup writes a consistent copy of the database to dst (which must not
// exist) with VACUUM INTO, while keyward keeps serving.
func (db *DB) Backup(ctx context.Context, dst string) error {
	// Create the target first, private and exclusively: VACUUM INTO
	// accepts an empty file, and the copy holds every key hash.
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("backup target: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if _, err := db.WriteDB().ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		os.Remove(dst)
		return err
	}
	return nil
}

// Dialect is the SQLite flavour of sqlstore.
type Dialect struct{}

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

// Publish implements sqlstore.Dialect: only this process uses the file.
func (Dialect) Publish(context.Context, *sql.Tx, keyward.Invalidation) error { return nil }

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

package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// EmbeddedMigrations returns the directory migrations of a dialect's
// embedded files (its migrations/*.sql).
func EmbeddedMigrations(files embed.FS) fs.FS {
	sub, err := fs.Sub(files, "migrations")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

// Migration is one embedded schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations reads the migrations of a dialect: files named
// NNNN_description.sql at the root of fsys, in version order. Versions must
// be unique.
func Migrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || strings.TrimLeft(num, "0123456789") != "" {
			return nil, fmt.Errorf("migration %s: name must start with a positive version and '_'", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// MigrationLocker is implemented by dialects of databases several nodes
// share: LockMigrations holds a database-wide lock until unlock is called,
// so that of nodes starting together one migrates and the others wait.
type MigrationLocker interface {
	LockMigrations(ctx context.Context, db *sql.DB) (unlock func(), err error)
}

// Migrate applies, in order and each in its own transaction, the migrations
// whose version is not yet recorded in schema_migrations. It returns the
// versions it applied. A database whose recorded version is newer than any
// migration here was written by a newer keyward: Migrate refuses it rather
// than run old code on a new schema.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, fsys fs.FS) ([]int, error) {
	migs, err := Migrations(fsys)
	if err != nil {
		return nil, err
	}
	if l, ok := d.(MigrationLocker); ok {
		unlock, err := l.LockMigrations(ctx, db)
		if err != nil {
			return nil, fmt.Errorf("lock migrations: %w", err)
		}
		defer unlock()
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	maxApplied := 0
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, err
		}
		applied[v] = true
		maxApplied = max(maxApplied, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(migs) > 0 && maxApplied > migs[len(migs)-1].Version {
		return nil, fmt.Errorf("the database is at schema version %d, newer than this keyward knows (%d): upgrade keyward", maxApplied, migs[len(migs)-1].Version)
	}
	s := &Store{dialect: d}
	var done []int
	for _, m := range migs {
		if applied[m.Version] {
			continue
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return done, err
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return done, fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
			m.Version, m.Name, nowMs()); err != nil {
			tx.Rollback()
			return done, fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		if err := tx.Commit(); err != nil {
			return done, fmt.Errorf("commit migration %s: %w", m.Name, err)
		}
		done = append(done, m.Version)
	}
	return done, nil
}

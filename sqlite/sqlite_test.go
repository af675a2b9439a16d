package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlstore"
	"github.com/keyward/keyward/storetest"
)

// dtOpen opens a fresh database file in a temporary directory, closed when
// the test ends.
func dtOpen(t *testing.T) *sqlite.DB {
	t.Helper()
	return dtOpenAt(t, filepath.Join(t.TempDir(), sqlite.FileName))
}

func dtOpenAt(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyward.Store { return dtOpen(t) })
}

// The durability settings (docs/operations.md) are in effect on the connection that
// writes: WAL, synchronous=FULL, and foreign keys and a busy timeout.
func TestSQLitePragmas(t *testing.T) {
	db := dtOpen(t)
	ctx := context.Background()
	for _, c := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
	} {
		var got string
		if err := db.WriteDB().QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", c.pragma, err)
		}
		if strings.ToLower(got) != c.want {
			t.Errorf("PRAGMA %s = %s, want %s", c.pragma, got, c.want)
		}
	}
	// The same after a write transaction, on the same single connection.
	if err := db.Write(ctx, func(tx keyward.Tx) error { return tx.CreateAccount(ctx, dtAccount("a")) }); err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := db.WriteDB().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode after a write = %q, %v", mode, err)
	}
	// The usage file's writer: no fsync per commit (written behind; a
	// crash of the process loses nothing committed), a large page cache.
	for _, c := range []struct{ pragma, want string }{
		{"journal_mode", "wal"}, {"synchronous", "1"}, {"cache_size", "-32768"}, {"busy_timeout", "5000"},
	} {
		var got string
		if err := db.UsageWriteDB().QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil || strings.ToLower(got) != c.want {
			t.Errorf("usage writer: PRAGMA %s = %q (%v), want %s", c.pragma, got, err, c.want)
		}
	}
	// Readers: read-only.
	for _, c := range []struct{ pragma, want string }{
		{"query_only", "1"}, {"busy_timeout", "5000"},
	} {
		var got string
		if err := db.ReadDB().QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil || got != c.want {
			t.Errorf("read connection: PRAGMA %s = %q (%v), want %s", c.pragma, got, err, c.want)
		}
	}
}

func dtAccount(name string) *keyward.Account {
	now := keyward.Timestamp(time.Now())
	return &keyward.Account{ID: keyward.NewIDs(keyward.SystemClock).New(keyward.PrefixAccount), Name: name, DefaultPrefix: "kw",
		CatalogTemplate: keyward.TemplateDefault, DefaultPermissionMode: keyward.ModeAll, CreatedAt: now, UpdatedAt: now, Version: 1}
}

// The database holds key hashes and the audit trail: only its owner may
// read it, and the directory made for it is private too.
func TestSQLiteFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	path := filepath.Join(dir, sqlite.FileName)
	db := dtOpenAt(t, path)
	ctx := context.Background()
	if err := db.Write(ctx, func(tx keyward.Tx) error { return tx.CreateAccount(ctx, dtAccount("a")) }); err != nil {
		t.Fatal(err)
	}
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	mode := func(p string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode(path); m != 0o600 {
		t.Errorf("database file mode = %o, want 600", m)
	}
	if m := mode(dir); m != 0o700 {
		t.Errorf("data directory mode = %o, want 700", m)
	}
	// The WAL and shared-memory files hold the same data.
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err != nil {
			continue
		}
		if m := mode(path + suffix); m&0o077 != 0 {
			t.Errorf("%s mode = %o, readable by others", filepath.Base(path+suffix), m)
		}
	}
}

func TestSQLiteMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a := dtAccount("kept")
	if err := db.Write(ctx, func(tx keyward.Tx) error { return tx.CreateAccount(ctx, a) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		db := dtOpenAt(t, path)
		if err := db.Read(ctx, func(tx keyward.Tx) error {
			_, err := tx.GetAccount(ctx, a.ID)
			return err
		}); err != nil {
			t.Fatalf("reopen %d: account lost: %v", i, err)
		}
		applied, err := sqlstore.Migrate(ctx, db.WriteDB(), sqlite.Dialect{}, sqlite.MigrationsFS())
		if err != nil || len(applied) != 0 {
			t.Fatalf("Migrate on a migrated database applied %v, %v", applied, err)
		}
		migs, err := sqlstore.Migrations(sqlite.MigrationsFS())
		if err != nil {
			t.Fatal(err)
		}
		versions := keywardtest.Column[int](t, db.WriteDB(), `SELECT version FROM schema_migrations ORDER BY version`)
		var want []int
		for _, m := range migs {
			want = append(want, m.Version)
		}
		if !slices.Equal(versions, want) {
			t.Fatalf("schema_migrations = %v, want each migration once: %v", versions, want)
		}
		db.Close()
	}
}

func TestSQLiteEmbeddedMigrations(t *testing.T) {
	migs, err := sqlstore.Migrations(sqlite.MigrationsFS())
	if err != nil {
		t.Fatal(err)
	}
	if len(migs) == 0 {
		t.Fatal("no embedded migrations")
	}
	for i, m := range migs {
		if m.Version != i+1 {
			t.Errorf("migration %s has version %d, want %d: versions are 1, 2, 3… without gaps", m.Name, m.Version, i+1)
		}
		if strings.TrimSpace(m.SQL) == "" {
			t.Errorf("migration %s is empty", m.Name)
		}
	}
}

// A database written by a newer keyward is refused, not run on.
func TestSQLiteRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.WriteDB().ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlite.Open(ctx, path)
	if err == nil {
		db.Close()
		t.Fatal("Open accepted a database with a newer schema version")
	}
	if !strings.Contains(err.Error(), "9999") || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("error %q does not say the schema is newer", err)
	}
}

// audit_events is append-only at the SQL level, whatever code runs
// against the database.
func TestSQLiteAuditAppendOnly(t *testing.T) {
	db := dtOpen(t)
	ctx := context.Background()
	a := dtAccount("a")
	ev := &keyward.AuditEvent{ID: keyward.NewIDs(keyward.SystemClock).New(keyward.PrefixAuditEvent), AccountID: a.ID,
		Time: keyward.Timestamp(time.Now()), ActorType: keyward.ActorSystem, ActorID: "system", Action: keyward.ActionAccountCreated,
		TargetType: keyward.TargetAccount, TargetID: a.ID}
	if err := db.Write(ctx, func(tx keyward.Tx) error {
		if err := tx.CreateAccount(ctx, a); err != nil {
			return err
		}
		return tx.AppendAuditEvent(ctx, ev)
	}); err != nil {
		t.Fatal(err)
	}
	cols := `(id, account_id, created_at, actor_type, actor_id, action, target_type, target_id, changes, request_id, client_ip, user_agent, dialect)`
	vals := `VALUES ('` + ev.ID + `', NULL, 0, 'system', 'x', 'tampered', 't', 't', '{}', '', '', '', '')`
	for _, c := range []struct{ name, stmt string }{
		{"update all", `UPDATE audit_events SET action = 'tampered'`},
		{"update one", `UPDATE audit_events SET actor_id = 'x' WHERE id = '` + ev.ID + `'`},
		{"delete all", `DELETE FROM audit_events`},
		{"delete one", `DELETE FROM audit_events WHERE id = '` + ev.ID + `'`},
		{"upsert", `INSERT INTO audit_events ` + cols + ` ` + vals + ` ON CONFLICT (id) DO UPDATE SET action = excluded.action`},
		// REPLACE deletes the old row without firing delete triggers
		// (unless recursive_triggers is on): an update in disguise.
		{"insert or replace", `INSERT OR REPLACE INTO audit_events ` + cols + ` ` + vals},
		{"replace", `REPLACE INTO audit_events ` + cols + ` ` + vals},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := db.WriteDB().ExecContext(ctx, c.stmt)
			if err == nil {
				t.Errorf("%s: succeeded", c.stmt)
			}
			var action, actor string
			if err := db.WriteDB().QueryRowContext(ctx, `SELECT action, actor_id FROM audit_events WHERE id = ?`, ev.ID).Scan(&action, &actor); err != nil {
				t.Fatalf("the event is gone after %s: %v", c.stmt, err)
			}
			if action != keyward.ActionAccountCreated || actor != "system" {
				t.Fatalf("the event changed after %s: action %q actor %q", c.stmt, action, actor)
			}
		})
	}
	// Deleting the account the events belong to keeps them.
	if _, err := db.WriteDB().ExecContext(ctx, `DELETE FROM accounts WHERE id = ?`, a.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.WriteDB().QueryRowContext(ctx, `SELECT count(*) FROM audit_events`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("after deleting the account, %d audit events (%v), want 1", n, err)
	}
}

func TestSQLiteBackup(t *testing.T) {
	db := dtOpen(t)
	ctx := context.Background()
	a, k, tok := kuKeyToken(t, db, "backed up")
	dst := filepath.Join(t.TempDir(), "backup.db")
	if err := db.Backup(ctx, dst); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if err := db.Backup(ctx, dst); err == nil {
		t.Fatal("Backup overwrote an existing file")
	}
	// Changes after the backup are not in it.
	if err := db.Write(ctx, func(tx keyward.Tx) error { return tx.DeleteKey(ctx, k.ID) }); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		t.Errorf("backup file mode = %o: readable by others, unlike the database (600)", m)
	}
	restored := dtOpenAt(t, dst)
	if err := restored.Read(ctx, func(tx keyward.Tx) error {
		got, err := tx.GetAccountByName(ctx, a.Name)
		if err != nil {
			return err
		}
		if got.ID != a.ID {
			t.Errorf("restored account id %s, want %s", got.ID, a.ID)
		}
		m, err := tx.FindKeyByHash(ctx, tok.Hash())
		if err != nil {
			return err
		}
		if m.Key.ID != k.ID || m.ValidUntil != nil {
			t.Errorf("restored key %s (valid until %v), want %s", m.Key.ID, m.ValidUntil, k.ID)
		}
		return nil
	}); err != nil {
		t.Fatalf("restored database: %v", err)
	}
	var mode string
	if err := restored.WriteDB().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("restored database journal_mode = %q, %v", mode, err)
	}
}

func TestSQLiteOpenFailures(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if db, err := sqlite.Open(ctx, dir); err == nil {
		db.Close()
		t.Fatal("Open of a directory succeeded")
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if db, err := sqlite.Open(ctx, junk); err == nil {
		db.Close()
		t.Fatal("Open of a file that is not a database succeeded")
	}
}

// OpenWith(MustExist) and Backup work only on a keyward database, and a
// path that holds none stays as it was: no directory, no file, no bytes
// written (keyward admin and keyward backup at a mistyped --data-dir).
func TestSQLiteMustExist(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	foreign := filepath.Join(root, "foreign.db")
	fdb, err := sql.Open("sqlite", "file:"+foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fdb.Exec(`CREATE TABLE notes (body TEXT)`); err != nil {
		t.Fatal(err)
	}
	fdb.Close()
	junk := filepath.Join(root, "junk.db")
	empty := filepath.Join(root, "empty.db")
	for path, b := range map[string][]byte{junk: []byte(strings.Repeat("not a database ", 1000)), empty: nil} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	snapshot := func() map[string]string {
		out := map[string]string{}
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				b, _ := os.ReadFile(p)
				out[p] = string(b)
			}
			return nil
		})
		return out
	}
	for _, c := range []struct{ name, path string }{
		{"missing directory", filepath.Join(root, "typo", sqlite.FileName)},
		{"missing file", filepath.Join(root, sqlite.FileName)},
		{"empty file", empty},
		{"not a database", junk},
		{"another program's database", foreign},
		{"a directory", root},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot()
			if db, err := sqlite.OpenWith(ctx, c.path, sqlite.Options{MustExist: true}); !errors.Is(err, sqlite.ErrNoDatabase) {
				if err == nil {
					db.Close()
				}
				t.Errorf("OpenWith(MustExist) = %v, want ErrNoDatabase", err)
			}
			dst := filepath.Join(t.TempDir(), "copy.db")
			if err := sqlite.Backup(ctx, c.path, dst); !errors.Is(err, sqlite.ErrNoDatabase) {
				t.Errorf("Backup = %v, want ErrNoDatabase", err)
			}
			if _, err := os.Stat(dst); err == nil {
				t.Errorf("Backup left %s behind", dst)
			}
			if after := snapshot(); !reflect.DeepEqual(before, after) {
				t.Errorf("the refusal changed files under %s", root)
			}
			if _, err := os.Stat(filepath.Join(root, "typo")); err == nil {
				t.Errorf("the refusal created a directory")
			}
		})
	}

	// On a keyward database both work; Backup migrates nothing (a copy
	// taken before an upgrade is of the old schema).
	path := filepath.Join(root, "data", sqlite.FileName)
	db := dtOpenAt(t, path)
	db.Close()
	db, err = sqlite.OpenWith(ctx, path, sqlite.Options{MustExist: true})
	if err != nil {
		t.Fatalf("OpenWith(MustExist) of a keyward database: %v", err)
	}
	// Pretend the newest migration is still to come.
	last := ftLastMigration(t)
	if _, err := db.WriteDB().ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = ?`, last); err != nil {
		t.Fatal(err)
	}
	db.Close()
	dst := filepath.Join(t.TempDir(), "copy.db")
	if err := sqlite.Backup(ctx, path, dst); err != nil {
		t.Fatalf("Backup of an older schema: %v", err)
	}
	for _, p := range []string{path, dst} {
		c, err := sql.Open("sqlite", "file:"+p)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := c.QueryRow(`SELECT count(*) FROM schema_migrations WHERE version = ?`, last).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: migration %d recorded %d times (%v) after Backup, want none", filepath.Base(p), last, n, err)
		}
		c.Close()
	}
}

// ftLastMigration returns the newest embedded migration's version.
func ftLastMigration(t *testing.T) int {
	t.Helper()
	migs, err := sqlstore.Migrations(sqlite.MigrationsFS())
	if err != nil || len(migs) == 0 {
		t.Fatal(err)
	}
	return migs[len(migs)-1].Version
}

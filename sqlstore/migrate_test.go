package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlstore"
)

func dtFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

func TestDtMigrationsOrder(t *testing.T) {
	fsys := dtFS(map[string]string{
		"0010_ten.sql":             "SELECT 10;",
		"0002_two.sql":             "SELECT 2;",
		"0001_one.sql":             "SELECT 1;",
		"3_three.sql":              "SELECT 3;",
		"README.md":                "not a migration",
		"0004_notes.txt":           "not a migration",
		"sub/0005_x.sql":           "in a directory: not read",
		"0006_upper.SQL":           "wrong extension case: not read",
		"0011_multi_part_name.sql": "SELECT 11;",
	})
	migs, err := sqlstore.Migrations(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range migs {
		got = append(got, m.Name)
	}
	want := []string{"0001_one.sql", "0002_two.sql", "3_three.sql", "0010_ten.sql", "0011_multi_part_name.sql"}
	if !slices.Equal(got, want) {
		t.Fatalf("migrations = %v, want %v", got, want)
	}
	for i, v := range []int{1, 2, 3, 10, 11} {
		if migs[i].Version != v {
			t.Errorf("%s: version %d, want %d", migs[i].Name, migs[i].Version, v)
		}
	}
	if migs[3].SQL != "SELECT 10;" {
		t.Errorf("SQL of %s = %q", migs[3].Name, migs[3].SQL)
	}
	empty, err := sqlstore.Migrations(fstest.MapFS{})
	if err != nil || len(empty) != 0 {
		t.Fatalf("Migrations of an empty FS = %v, %v", empty, err)
	}
}

func TestDtMigrationsErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // in the error
	}{
		{"duplicate version", map[string]string{"0001_a.sql": "", "0001_b.sql": ""}, "version 1"},
		{"duplicate version, other padding", map[string]string{"0001_a.sql": "", "1_b.sql": ""}, "version 1"},
		{"no version", map[string]string{"init.sql": ""}, "init.sql"},
		{"no underscore", map[string]string{"0001.sql": ""}, "0001.sql"},
		{"letters", map[string]string{"abc_x.sql": ""}, "abc_x.sql"},
		{"version zero", map[string]string{"0000_x.sql": ""}, "0000_x.sql"},
		{"negative version", map[string]string{"-1_x.sql": ""}, "-1_x.sql"},
		{"empty version", map[string]string{"_x.sql": ""}, "_x.sql"},
		{"hex version", map[string]string{"0x1_x.sql": ""}, "0x1_x.sql"},
		// NNNN is digits only: a sign is not part of a version.
		{"signed version", map[string]string{"+2_x.sql": ""}, "+2_x.sql"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			migs, err := sqlstore.Migrations(dtFS(tc.files))
			if err == nil {
				t.Fatalf("Migrations = %v, want an error", migs)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

// dtRawDB opens a bare SQLite database (no keyward schema) for Migrate.
func dtRawDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "raw.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func dtTables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	return keywardtest.Column[string](t, db, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
}

func TestDtMigrate(t *testing.T) {
	ctx := context.Background()
	db := dtRawDB(t)
	v1 := dtFS(map[string]string{
		"0001_a.sql": "CREATE TABLE a (x INTEGER);",
		"0002_b.sql": "CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (1);",
	})
	applied, err := sqlstore.Migrate(ctx, db, sqlite.Dialect{}, v1)
	if err != nil || !slices.Equal(applied, []int{1, 2}) {
		t.Fatalf("Migrate = %v, %v; want [1 2]", applied, err)
	}
	applied, err = sqlstore.Migrate(ctx, db, sqlite.Dialect{}, v1)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second Migrate = %v, %v; want nothing applied", applied, err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM a`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("migration 2 ran %d times (%v)", n, err)
	}

	// A failing migration is not recorded and leaves no trace; those
	// before it stay applied.
	v2 := dtFS(map[string]string{
		"0001_a.sql": "CREATE TABLE a (x INTEGER);",
		"0002_b.sql": "CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (1);",
		"0003_c.sql": "CREATE TABLE c (x INTEGER);",
		"0004_d.sql": "CREATE TABLE d (x INTEGER); INSERT INTO nowhere VALUES (1);",
		"0005_e.sql": "CREATE TABLE e (x INTEGER);",
	})
	applied, err = sqlstore.Migrate(ctx, db, sqlite.Dialect{}, v2)
	if err == nil || !strings.Contains(err.Error(), "0004_d.sql") {
		t.Fatalf("Migrate with a broken migration: %v, want an error naming 0004_d.sql", err)
	}
	if !slices.Equal(applied, []int{3}) {
		t.Fatalf("applied = %v, want [3]", applied)
	}
	if got, want := dtTables(t, db), []string{"a", "b", "c", "schema_migrations"}; !slices.Equal(got, want) {
		t.Fatalf("tables = %v, want %v (d rolled back, e not run)", got, want)
	}
	versions := keywardtest.Column[int](t, db, `SELECT version FROM schema_migrations ORDER BY version`)
	if !slices.Equal(versions, []int{1, 2, 3}) {
		t.Fatalf("recorded versions = %v, want [1 2 3]", versions)
	}

	// Older code refuses the newer database.
	_, err = sqlstore.Migrate(ctx, db, sqlite.Dialect{}, dtFS(map[string]string{"0001_a.sql": "CREATE TABLE a (x INTEGER);"}))
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Migrate with older migrations: %v, want a refusal", err)
	}

	// Bad migration names fail before anything runs.
	if _, err := sqlstore.Migrate(ctx, db, sqlite.Dialect{}, dtFS(map[string]string{"0006_f.sql": "CREATE TABLE f (x INTEGER);", "x.sql": ""})); err == nil {
		t.Fatal("Migrate with a badly named migration succeeded")
	}
	if slices.Contains(dtTables(t, db), "f") {
		t.Fatal("Migrate ran migrations despite a badly named one")
	}
}

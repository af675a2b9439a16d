package sqlstore_test

// Migration parity between the dialects: the SQLite
// and PostgreSQL migrations carry the same versions and names, and applied
// to fresh databases they build the same tables and columns, with the same
// nullability, primary keys and unique constraints (types differ by
// dialect; names and rules must not, or the shared SQL of this package and
// the codes it returns would differ between stores).

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlstore"
)

func TestDxMigrationsMatch(t *testing.T) {
	lite, err := sqlstore.Migrations(sqlite.MigrationsFS())
	if err != nil {
		t.Fatalf("SQLite migrations: %v", err)
	}
	pg, err := sqlstore.Migrations(postgres.MigrationsFS())
	if err != nil {
		t.Fatalf("PostgreSQL migrations: %v", err)
	}
	if len(lite) == 0 {
		t.Fatal("no SQLite migrations: the embed pattern found nothing")
	}
	names := func(ms []sqlstore.Migration) []string {
		var out []string
		for _, m := range ms {
			out = append(out, fmt.Sprintf("%d %s", m.Version, m.Name))
		}
		return out
	}
	if l, p := names(lite), names(pg); !slices.Equal(l, p) {
		t.Fatalf("the dialects' migrations differ:\n  sqlite:   %v\n  postgres: %v", l, p)
	}
	for i, m := range lite {
		if m.Version != i+1 {
			t.Errorf("%s: version %d, want %d (versions are consecutive from 1)", m.Name, m.Version, i+1)
		}
		if strings.TrimSpace(m.SQL) == "" || strings.TrimSpace(pg[i].SQL) == "" {
			t.Errorf("%s is empty in one dialect", m.Name)
		}
	}
}

// dxColumn is what must agree about a column in both dialects.
type dxColumn struct {
	Name    string
	NotNull bool
}

// dxSchema is a database's tables: columns, primary key, unique keys.
type dxSchema map[string]*dxTable

type dxTable struct {
	Columns    []dxColumn // sorted by name
	PrimaryKey []string   // in key order
	Unique     []string   // each "col1,col2[ WHERE partial]", sorted
	// ForeignKeys: each "cols -> table(cols) ON DELETE action", sorted.
	ForeignKeys []string
}

func TestDxSchemasMatch(t *testing.T) {
	ctx := context.Background()
	lite, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), sqlite.FileName))
	if err != nil {
		t.Fatalf("SQLite migrations do not apply to a fresh file: %v", err)
	}
	defer lite.Close()
	pg, err := postgres.Open(ctx, pgtest.URL(t), postgres.Options{MaxConns: 2, MinConns: 1})
	if err != nil {
		t.Fatalf("PostgreSQL migrations do not apply to a fresh schema: %v", err)
	}
	defer pg.Close()

	ls, ps := dxSQLiteSchema(t, lite.WriteDB()), dxPostgresSchema(t, pg.WriteDB())
	// SQLite keeps the usage buckets in a file of its own; PostgreSQL in
	// its one database: together they must hold the same tables.
	// Keys' usage is the one difference: SQLite keeps it in the usage
	// file's key_usage, PostgreSQL in the keys' columns (last_used_at,
	// verifications, which SQLite keeps empty).
	for name, tbl := range dxSQLiteSchema(t, lite.UsageWriteDB()) {
		if name != "schema_migrations" && name != "key_usage" {
			ls[name] = tbl
		}
	}
	// The key search's index is each dialect's own (migration 11): on
	// SQLite the table key_search and the FTS5 table keys_fts with its
	// shadow tables, on PostgreSQL pg_trgm's index on keys.name_fold.
	for name := range ls {
		if name == "key_search" || strings.HasPrefix(name, "keys_fts") {
			delete(ls, name)
		}
	}
	t.Run("schema_migrations records the same versions", func(t *testing.T) {
		l := dxStrings(t, lite.WriteDB(), `SELECT version || ' ' || name FROM schema_migrations ORDER BY version`)
		p := dxStrings(t, pg.WriteDB(), `SELECT version || ' ' || name FROM schema_migrations ORDER BY version`)
		migs, _ := sqlstore.Migrations(sqlite.MigrationsFS())
		if len(l) != len(migs) || !slices.Equal(l, p) {
			t.Errorf("applied migrations differ:\n  sqlite:   %v\n  postgres: %v\n  embedded: %d", l, p, len(migs))
		}
	})
	t.Run("tables", func(t *testing.T) {
		if l, p := dxKeys(ls), dxKeys(ps); !slices.Equal(l, p) {
			t.Errorf("tables differ:\n  sqlite:   %v\n  postgres: %v", l, p)
		}
		if len(ls) < 10 {
			t.Errorf("only %d tables in SQLite: %v", len(ls), dxKeys(ls))
		}
	})
	for _, name := range dxKeys(ls) {
		l, p := ls[name], ps[name]
		if p == nil {
			continue // reported above
		}
		t.Run(name, func(t *testing.T) {
			if !slices.Equal(l.Columns, p.Columns) {
				t.Errorf("columns (name, not null) differ:\n  sqlite:   %v\n  postgres: %v", l.Columns, p.Columns)
			}
			if !slices.Equal(l.PrimaryKey, p.PrimaryKey) {
				t.Errorf("primary keys differ: sqlite %v, postgres %v", l.PrimaryKey, p.PrimaryKey)
			}
			if !slices.Equal(l.Unique, p.Unique) {
				t.Errorf("unique keys differ:\n  sqlite:   %q\n  postgres: %q", l.Unique, p.Unique)
			}
			if !slices.Equal(l.ForeignKeys, p.ForeignKeys) {
				t.Errorf("foreign keys differ:\n  sqlite:   %q\n  postgres: %q", l.ForeignKeys, p.ForeignKeys)
			}
		})
	}
}

func dxSQLiteSchema(t *testing.T, db *sql.DB) dxSchema {
	t.Helper()
	ctx := context.Background()
	s := dxSchema{}
	for _, name := range dxStrings(t, db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`) {
		tbl := &dxTable{}
		rows, err := db.QueryContext(ctx, `SELECT name, "notnull", pk FROM pragma_table_info(?)`, name)
		if err != nil {
			t.Fatal(err)
		}
		pk := map[int]string{}
		for rows.Next() {
			var c dxColumn
			var n int
			if err := rows.Scan(&c.Name, &c.NotNull, &n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				pk[n] = c.Name
				// SQLite allows NULL in a non-INTEGER primary key unless
				// declared NOT NULL; STRICT tables and keyward never store
				// one, and PostgreSQL implies NOT NULL.
				c.NotNull = true
			}
			tbl.Columns = append(tbl.Columns, c)
		}
		dxClose(t, rows)
		for i := 1; i <= len(pk); i++ {
			tbl.PrimaryKey = append(tbl.PrimaryKey, pk[i])
		}
		// Unique indexes other than the primary key's, with their columns
		// in index order and whether they are partial.
		type idx struct {
			name    string
			origin  string
			partial bool
		}
		var idxs []idx
		rows, err = db.QueryContext(ctx, `SELECT name, origin, partial FROM pragma_index_list(?) WHERE "unique" = 1`, name)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var i idx
			if err := rows.Scan(&i.name, &i.origin, &i.partial); err != nil {
				t.Fatal(err)
			}
			idxs = append(idxs, i)
		}
		dxClose(t, rows)
		for _, i := range idxs {
			if i.origin == "pk" {
				continue
			}
			cols := dxStrings(t, db, `SELECT coalesce(name, '(expr)') FROM pragma_index_info(?) ORDER BY seqno`, i.name)
			tbl.Unique = append(tbl.Unique, dxUnique(cols, i.partial))
		}
		sort.Strings(tbl.Unique)
		// Foreign keys: one row per column, grouped by constraint id.
		rows, err = db.QueryContext(ctx, `SELECT id, "from", "table", coalesce("to", ''), on_delete
			FROM pragma_foreign_key_list(?) ORDER BY id, seq`, name)
		if err != nil {
			t.Fatal(err)
		}
		type fk struct {
			from, to        []string
			table, onDelete string
		}
		fks := map[int]*fk{}
		for rows.Next() {
			var id int
			var from, table, to, onDelete string
			if err := rows.Scan(&id, &from, &table, &to, &onDelete); err != nil {
				t.Fatal(err)
			}
			if fks[id] == nil {
				fks[id] = &fk{table: table, onDelete: onDelete}
			}
			fks[id].from = append(fks[id].from, from)
			fks[id].to = append(fks[id].to, to)
		}
		dxClose(t, rows)
		for _, f := range fks {
			tbl.ForeignKeys = append(tbl.ForeignKeys, dxForeignKey(f.from, f.table, f.to, f.onDelete))
		}
		sort.Strings(tbl.ForeignKeys)
		sort.Slice(tbl.Columns, func(i, j int) bool { return tbl.Columns[i].Name < tbl.Columns[j].Name })
		s[name] = tbl
	}
	return s
}

func dxPostgresSchema(t *testing.T, db *sql.DB) dxSchema {
	t.Helper()
	ctx := context.Background()
	s := dxSchema{}
	rows, err := db.QueryContext(ctx, `SELECT table_name, column_name, is_nullable = 'NO'
		FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, column_name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tbl string
		var c dxColumn
		if err := rows.Scan(&tbl, &c.Name, &c.NotNull); err != nil {
			t.Fatal(err)
		}
		if s[tbl] == nil {
			s[tbl] = &dxTable{}
		}
		s[tbl].Columns = append(s[tbl].Columns, c)
	}
	dxClose(t, rows)
	// Primary and unique keys, from constraints and unique indexes alike
	// (a UNIQUE constraint is an index too), columns in key order.
	rows, err = db.QueryContext(ctx, `SELECT c.relname, i.indisprimary, i.indpred IS NOT NULL,
			array_to_string(array(SELECT coalesce(a.attname, '(expr)')
				FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
				LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
				ORDER BY k.n), ',')
		FROM pg_index i
		JOIN pg_class c ON c.oid = i.indrelid
		JOIN pg_namespace ns ON ns.oid = c.relnamespace
		WHERE ns.nspname = current_schema() AND i.indisunique`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tbl, cols string
		var primary, partial bool
		if err := rows.Scan(&tbl, &primary, &partial, &cols); err != nil {
			t.Fatal(err)
		}
		st := s[tbl]
		if st == nil {
			t.Fatalf("an index on %s, a table without columns", tbl)
		}
		if primary {
			st.PrimaryKey = strings.Split(cols, ",")
			continue
		}
		st.Unique = append(st.Unique, dxUnique(strings.Split(cols, ","), partial))
	}
	dxClose(t, rows)
	rows, err = db.QueryContext(ctx, `SELECT c.relname, f.relname,
			array_to_string(array(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY AS x(attnum, n)
				JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.attnum ORDER BY x.n), ','),
			array_to_string(array(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY AS x(attnum, n)
				JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = x.attnum ORDER BY x.n), ','),
			k.confdeltype
		FROM pg_constraint k
		JOIN pg_class c ON c.oid = k.conrelid
		JOIN pg_class f ON f.oid = k.confrelid
		JOIN pg_namespace ns ON ns.oid = c.relnamespace
		WHERE ns.nspname = current_schema() AND k.contype = 'f'`)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]string{"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
	for rows.Next() {
		var tbl, ref, from, to, del string
		if err := rows.Scan(&tbl, &ref, &from, &to, &del); err != nil {
			t.Fatal(err)
		}
		s[tbl].ForeignKeys = append(s[tbl].ForeignKeys, dxForeignKey(strings.Split(from, ","), ref, strings.Split(to, ","), actions[del]))
	}
	dxClose(t, rows)
	for _, st := range s {
		sort.Strings(st.Unique)
		sort.Strings(st.ForeignKeys)
	}
	return s
}

// dxForeignKey describes a foreign key. SQLite leaves the referenced
// columns empty when the key names the parent's primary key; so does this,
// for both dialects, when to is the whole primary key "id".
func dxForeignKey(from []string, table string, to []string, onDelete string) string {
	ref := strings.Join(to, ",")
	if ref == "" {
		ref = "id"
	}
	return fmt.Sprintf("%s -> %s(%s) ON DELETE %s", strings.Join(from, ","), table, ref, onDelete)
}

func dxUnique(cols []string, partial bool) string {
	u := strings.Join(cols, ",")
	if partial {
		u += " WHERE …"
	}
	return u
}

func dxStrings(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	return keywardtest.Column[string](t, db, query, args...)
}

func dxClose(t *testing.T, rows *sql.Rows) {
	t.Helper()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
}

func dxKeys(s dxSchema) []string {
	var out []string
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

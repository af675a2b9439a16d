package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/storetest"
)

// pgOpen opens a store on a fresh schema, closed when the test ends.
func pgOpen(t *testing.T) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyward.Store { return pgOpen(t) })
}

// The key search's trigram index (migration 11): pg_trgm's GIN index on
// the folded name, which the planner may use for the search's LIKE.
func TestKeySearchTrigramIndex(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	db, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, `EXPLAIN SELECT id FROM keys k WHERE k.name_fold LIKE $1 ESCAPE '\'`, "%needle%")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if all := strings.Join(plan, "\n"); !strings.Contains(all, "keys_name_trgm") {
		t.Errorf("want the search's LIKE served by keys_name_trgm; plan:\n%s", all)
	}
}

// The key list is planned with its arguments at every execution
// (sqlstore.Dialect.PlanWith): pgx would otherwise run it as a cached
// prepared statement, which PostgreSQL switches to a generic plan after
// five executions, one made without the values (65–95 ms against 2–4 ms
// a page on 300,000 keys for a rare status or a search).
func TestKeyListPlannedWithItsArguments(t *testing.T) {
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.URL(t), postgres.Options{MaxConns: 2, MinConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// One session from here: the store's reads and writes and the check
	// below (prepared statements belong to a session).
	db.WriteDB().SetMaxOpenConns(1)
	if db.WriteDB() != db.ReadDB() {
		t.Fatal("the PostgreSQL store reads and writes through different handles: pin both")
	}
	now := keyward.Timestamp(time.Now())
	a := &keyward.Account{ID: keyward.NewIDs(keyward.SystemClock).New(keyward.PrefixAccount), Name: "plans", DefaultPrefix: "kw",
		CatalogTemplate: keyward.TemplateDefault, DefaultPermissionMode: keyward.ModeAll, CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := db.Write(ctx, func(tx keyward.Tx) error { return tx.CreateAccount(ctx, a) }); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		status := []keyward.KeyStatus{keyward.StatusActive, keyward.StatusDisabled}[i%2]
		if err := db.Read(ctx, func(tx keyward.Tx) error {
			_, _, err := tx.ListKeys(ctx, &keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindAPI, Status: status, Search: "needle"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.WriteDB().QueryContext(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%FROM keys k%name_fold LIKE%' AND statement NOT LIKE '%pg_prepared_statements%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var stmt string
		var generic, custom int64
		if err := rows.Scan(&stmt, &generic, &custom); err != nil {
			t.Fatal(err)
		}
		t.Errorf("the key list is a prepared statement (%d generic plans, %d custom): %.120s…", generic, custom, stmt)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

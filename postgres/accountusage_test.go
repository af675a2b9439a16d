package postgres_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/storetest"
)

// A database of version 11 (usage per key only) gets its accounts' sums
// when migrated (version 12).
func TestPostgresUsageAccountBucketsMigration(t *testing.T) {
	url := pgtest.URL(t)
	storetest.AccountUsageMigration(t, func(t *testing.T) keyward.Store {
		db, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}, func(ctx context.Context, s keyward.Store) error {
		w := s.(*postgres.DB).UsageWriteDB()
		for _, q := range []string{`DROP TABLE usage_account_buckets`, `DELETE FROM schema_migrations WHERE version = 12`} {
			if _, err := w.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
}

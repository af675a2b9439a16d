package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/storetest"
)

// A usage file of version 3 (usage per key only) gets its accounts' sums
// when opened (usage file version 4).
func TestSQLiteUsageAccountBucketsMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	storetest.AccountUsageMigration(t, func(t *testing.T) keyward.Store { return dtOpenAt(t, path) },
		func(ctx context.Context, s keyward.Store) error {
			w := s.(*sqlite.DB).UsageWriteDB()
			for _, q := range []string{`DROP TABLE usage_account_buckets`, `DELETE FROM schema_migrations WHERE version = 4`} {
				if _, err := w.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			return nil
		})
}

package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/sqlite"
)

// storeFlags choose and tune the database: the embedded SQLite file in
// --data-dir, or PostgreSQL with --database.
type storeFlags struct {
	dataDir        string
	database       string
	maxConns       int
	minConns       int
	stmtTimeout    time.Duration
	connectTimeout time.Duration
	connLifetime   time.Duration
}

func (f *storeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.dataDir, "data-dir", "keyward-data", "directory of the embedded SQLite database (when --database is not set)")
	fs.StringVar(&f.database, "database", "", "PostgreSQL URL (postgres://user:password@host:5432/db?sslmode=…) to use instead of SQLite; any number of keyward nodes may share it")
	fs.IntVar(&f.maxConns, "db-max-conns", 20, "PostgreSQL: connections in the pool at most")
	fs.IntVar(&f.minConns, "db-min-conns", 2, "PostgreSQL: connections kept open at least")
	fs.DurationVar(&f.stmtTimeout, "db-statement-timeout", 10*time.Second, "PostgreSQL: statement_timeout of every connection")
	fs.DurationVar(&f.connectTimeout, "db-connect-timeout", 5*time.Second, "PostgreSQL: how long a connection attempt may take")
	fs.DurationVar(&f.connLifetime, "db-conn-lifetime", 30*time.Minute, "PostgreSQL: connections are replaced after this long")
}

// postgresURL reports whether --database names PostgreSQL, and checks it.
func (f *storeFlags) postgres() (bool, error) {
	if f.database == "" {
		return false, nil
	}
	if !strings.HasPrefix(f.database, "postgres://") && !strings.HasPrefix(f.database, "postgresql://") {
		return false, usagef("--database must be a postgres:// URL (without it keyward uses SQLite in --data-dir)")
	}
	if f.maxConns < 1 || f.minConns < 0 || f.minConns > f.maxConns {
		return false, usagef("--db-min-conns must be between 0 and --db-max-conns, which must be at least 1")
	}
	for name, d := range map[string]time.Duration{"--db-statement-timeout": f.stmtTimeout, "--db-connect-timeout": f.connectTimeout, "--db-conn-lifetime": f.connLifetime} {
		if d <= 0 {
			return false, usagef("%s must be a positive duration", name)
		}
	}
	return true, nil
}

// open opens the chosen store, applying migrations.
func (f *storeFlags) open(ctx context.Context, log *slog.Logger) (keyward.Store, error) {
	pg, err := f.postgres()
	if err != nil {
		return nil, err
	}
	if pg {
		return postgres.Open(ctx, f.database, postgres.Options{
			MaxConns: int32(f.maxConns), MinConns: int32(f.minConns), StatementTimeout: f.stmtTimeout,
			ConnectTimeout: f.connectTimeout, ConnMaxLifetime: f.connLifetime, Logger: log,
		})
	}
	return sqlite.Open(ctx, filepath.Join(f.dataDir, sqlite.FileName))
}

// describe names the store for log lines, without a password.
func (f *storeFlags) describe() string {
	if f.database != "" {
		return "postgres"
	}
	return "sqlite:" + filepath.Join(f.dataDir, sqlite.FileName)
}

// migrate applies migrations and returns a line saying what happened.
func (f *storeFlags) migrate(ctx context.Context) (string, error) {
	pg, err := f.postgres()
	if err != nil {
		return "", err
	}
	if pg {
		done, err := postgres.Migrate(ctx, f.database)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("PostgreSQL database is up to date (applied %d migrations now)", len(done)), nil
	}
	db, err := sqlite.Open(ctx, filepath.Join(f.dataDir, sqlite.FileName))
	if err != nil {
		return "", err
	}
	defer db.Close()
	return "database is up to date: " + db.Path(), nil
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
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
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--db-statement-timeout", f.stmtTimeout}, {"--db-connect-timeout", f.connectTimeout}, {"--db-conn-lifetime", f.connLifetime}} {
		if d.v <= 0 {
			return false, usagef("%s must be a positive duration", d.name)
		}
	}
	return true, nil
}

// open opens the chosen store, applying migrations. Only serve and
// migrate create a SQLite database; the other commands (mustExist) refuse
// a data directory that holds none, creating nothing.
func (f *storeFlags) open(ctx context.Context, log *slog.Logger, mustExist bool) (keyward.Store, error) {
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
	db, err := sqlite.OpenWith(ctx, filepath.Join(f.dataDir, sqlite.FileName), sqlite.Options{MustExist: mustExist, Logger: log})
	return db, noDatabase(f.dataDir, err)
}

// noDatabase explains sqlite.ErrNoDatabase in the terms of the command line.
func noDatabase(dataDir string, err error) error {
	if !errors.Is(err, sqlite.ErrNoDatabase) {
		return err
	}
	why := strings.TrimPrefix(err.Error(), sqlite.ErrNoDatabase.Error()+": ")
	return fmt.Errorf("--data-dir %s holds no keyward database (%s): check the path; only keyward serve and keyward migrate create one", dataDir, why)
}

// lockFileName is the lock file in a SQLite data directory.
const lockFileName = "keyward.lock"

// lockDataDir creates the SQLite data directory if needed and takes its
// lock, held until release: one keyward serve per data directory. The
// lock is flock(2) on a file of its own (never on the database, whose
// POSIX locks SQLite owns), so the kernel drops it when the process ends,
// however it ends: no stale lock after kill -9. Other processes may still
// open the database (keyward admin, backup, embedded verifiers): the
// invalidation feed keeps them and the server exact.
func (f *storeFlags) lockDataDir() (release func(), err error) {
	if f.database != "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(f.dataDir, lockFileName)
	l := flock.New(path, flock.SetPermissions(0o600))
	ok, err := l.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock the data directory %s (%s): %w", f.dataDir, path, err)
	}
	if !ok {
		return nil, fmt.Errorf("the data directory %s is in use: another keyward serve holds its lock %s; stop that one first, or give this one its own --data-dir", f.dataDir, path)
	}
	return func() { l.Unlock() }, nil
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

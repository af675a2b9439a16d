package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/sqlite"
)

func (e *env) backupCommand() *cobra.Command {
	var dataDir, to string
	cmd := &cobra.Command{
		Use:   "backup --to FILE",
		Short: "Write a consistent copy of the SQLite database while keyward runs",
		Long: `Write a consistent copy of the embedded SQLite database to a new file
(mode 0600) with VACUUM INTO, and of its usage file (usage.db) beside it
(FILE without .db, plus .usage.db). It is safe while "keyward serve" is running
on the same data directory: each copy is a snapshot of one moment. It changes
nothing in the data directory (no migration: a copy taken before an upgrade
keeps the old schema) and refuses a directory that holds no keyward database.
To restore, stop keyward, replace keyward-data/keyward.db with the copy and
keyward-data/usage.db with the usage copy (and remove any -wal and -shm files),
and start keyward.

Example:
  keyward backup --data-dir /var/lib/keyward --to /backups/keyward-$(date +%F).db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if e.getenv("KEYWARD_DATABASE") != "" {
				return usagef("keyward backup copies the embedded SQLite database; for PostgreSQL use pg_dump (see docs/operations.md)")
			}
			if to == "" {
				return usagef("--to is required")
			}
			if err := sqlite.Backup(cmd.Context(), filepath.Join(dataDir, sqlite.FileName), to); err != nil {
				return noDatabase(dataDir, err)
			}
			fmt.Fprintln(e.stdout, "backup written:", to)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "keyward-data", "directory of the embedded SQLite database")
	cmd.Flags().StringVar(&to, "to", "", "file to write the copy to (must not exist)")
	return cmd
}

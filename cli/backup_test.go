package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cli"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/sqlite"
)

// The backup command copies a database that a running keyward holds open,
// into a private file that opens as a keyward database with the same keys.
func TestBackupWhileOpen(t *testing.T) {
	ctx := context.Background()
	s := keywardtest.Start(t, keywardtest.Options{Store: keywardtest.SQLite})
	dir := filepath.Dir(s.Location)
	k := s.CreateKey(t, &keyward.KeyFields{Name: keyward.Some("backed up")})

	to := filepath.Join(t.TempDir(), "copy.db")
	var out, errb bytes.Buffer
	if err := cli.Run(ctx, []string{"backup", "--data-dir", dir, "--to", to}, func(string) string { return "" }, nil, &out, &errb); err != nil {
		t.Fatalf("backup: %v\n%s", err, errb.String())
	}
	fi, err := os.Stat(to)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	// A second backup to the same file is refused, not overwritten.
	if err := cli.Run(ctx, []string{"backup", "--data-dir", dir, "--to", to}, func(string) string { return "" }, nil, &out, &errb); err == nil {
		t.Error("backup over an existing file succeeded")
	}

	copyDB, err := sqlite.Open(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	defer copyDB.Close()
	err = copyDB.Read(ctx, func(tx keyward.Tx) error {
		m, err := tx.FindKeyByHash(ctx, k.Secret.Hash())
		if err != nil {
			return err
		}
		if m.Key.ID != k.ID {
			t.Errorf("the copy's key is %s, want %s", m.Key.ID, k.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Run(ctx, []string{"backup", "--data-dir", dir}, func(string) string { return "" }, nil, &out, &errb); cli.ExitCode(err) != 2 {
		t.Errorf("backup without --to: %v (exit %d), want a usage error", err, cli.ExitCode(err))
	}
}

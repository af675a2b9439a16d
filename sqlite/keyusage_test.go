package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
)

// kuKey creates an account and an API key in it.
func kuKey(t *testing.T, db *sqlite.DB, name string) (*keyward.Account, *keyward.Key) {
	t.Helper()
	a, k, _ := kuKeyToken(t, db, name)
	return a, k
}

// kuKeyToken is kuKey that also returns the key's token.
func kuKeyToken(t *testing.T, db *sqlite.DB, name string) (*keyward.Account, *keyward.Key, keyward.Token) {
	t.Helper()
	ctx := context.Background()
	a := dtAccount(name)
	k := &keyward.Key{ID: keyward.NewIDs(keyward.SystemClock).New(keyward.PrefixKey), AccountID: a.ID, Kind: keyward.KindAPI, Name: "k",
		Status: keyward.StatusActive, Prefix: "kw", Owner: keyward.Owner{Type: keyward.OwnerAccount, ID: a.ID}, PermissionMode: keyward.ModeAll,
		CreatedAt: a.CreatedAt, UpdatedAt: a.CreatedAt, CreatedByID: "system", UpdatedByID: "system", Version: 1}
	tok, err := keyward.NewToken("kw", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Write(ctx, func(tx keyward.Tx) error {
		if err := tx.CreateAccount(ctx, a); err != nil {
			return err
		}
		return tx.CreateKey(ctx, k, tok.Hash())
	}); err != nil {
		t.Fatal(err)
	}
	return a, k, tok
}

// kuTouch writes usage the way the write-behind does.
func kuTouch(t *testing.T, db keyward.Store, id string, at time.Time, n int64) {
	t.Helper()
	ctx := context.Background()
	if err := db.Write(ctx, func(tx keyward.Tx) error {
		return tx.TouchKeys(ctx, map[string]keyward.KeyUsage{id: {LastUsed: at, Verifications: n}})
	}); err != nil {
		t.Fatalf("TouchKeys: %v", err)
	}
}

func kuGet(t *testing.T, db keyward.Store, accountID, id string) *keyward.Key {
	t.Helper()
	var k *keyward.Key
	if err := db.Read(context.Background(), func(tx keyward.Tx) error {
		var err error
		k, err = tx.GetKey(context.Background(), accountID, id)
		return err
	}); err != nil {
		t.Fatalf("GetKey: %v", err)
	}
	return k
}

// kuRows counts the usage file's key_usage rows of a key.
func kuRows(t *testing.T, db *sqlite.DB, id string) int {
	t.Helper()
	var n int
	if err := db.UsageWriteDB().QueryRow(`SELECT count(*) FROM key_usage WHERE key_id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The point of the usage file: the write-behind's commits never touch the
// keys' file, so the page cache of a connection that reads keys stays
// valid. PRAGMA data_version changes on a connection exactly when another
// connection committed to that file (and SQLite then empties that file's
// page cache on it).
func TestSQLiteKeyUsageLeavesKeysFileAlone(t *testing.T) {
	db := dtOpen(t)
	ctx := context.Background()
	a, k := kuKey(t, db, "acme")
	conn, err := db.ReadDB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	version := func(schema string) int64 {
		t.Helper()
		var v int64
		if err := conn.QueryRowContext(ctx, `PRAGMA `+schema+`.data_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	keys, usage := version("main"), version("usage_file")
	at := time.Now().UTC().Truncate(time.Millisecond)
	kuTouch(t, db, k.ID, at, 3)
	if v := version("main"); v != keys {
		t.Errorf("the write-behind committed to keyward.db: data_version %d → %d on a reader", keys, v)
	}
	if v := version("usage_file"); v == usage {
		t.Errorf("the write-behind did not commit to usage.db: data_version stayed %d", v)
	}
	// The reader sees the usage, through the usage file attached.
	var lastUsed sql.Null[int64]
	if err := conn.QueryRowContext(ctx, `SELECT u.last_used_at FROM keys k LEFT JOIN key_usage u ON u.key_id = k.id WHERE k.id = ?`,
		k.ID).Scan(&lastUsed); err != nil || lastUsed.V != at.UnixMilli() {
		t.Errorf("reader's last_used_at = %v (%v), want %d", lastUsed, err, at.UnixMilli())
	}
	if got := kuGet(t, db, a.ID, k.ID); got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) || got.Verifications != 3 {
		t.Errorf("GetKey: last_used_at %v, verifications %d; want %v, 3", got.LastUsedAt, got.Verifications, at)
	}
	// keyward.db's columns stay empty.
	var col sql.Null[int64]
	var n int64
	if err := db.WriteDB().QueryRow(`SELECT last_used_at, verifications FROM main.keys WHERE id = ?`, k.ID).Scan(&col, &n); err != nil || col.Valid || n != 0 {
		t.Errorf("keyward.db keys columns: %v, %d (%v); want NULL, 0", col, n, err)
	}
	// The check can fail: a change of a key is a commit to keyward.db.
	next := kuGet(t, db, a.ID, k.ID)
	next.Name, next.Version = "renamed", next.Version+1
	if err := db.Write(ctx, func(tx keyward.Tx) error { return tx.UpdateKey(ctx, next) }); err != nil {
		t.Fatal(err)
	}
	if v := version("main"); v == keys {
		t.Error("a change of a key left data_version alone: the check above proves nothing")
	}
}

// Deleting a key or an account takes their keys' usage rows along; a
// touch of a deleted key writes nothing.
func TestSQLiteKeyUsageOfDeletedKeys(t *testing.T) {
	db := dtOpen(t)
	ctx := context.Background()
	now := time.Now().UTC()
	_, k := kuKey(t, db, "one")
	a2, k2 := kuKey(t, db, "two")
	kuTouch(t, db, k.ID, now, 1)
	kuTouch(t, db, k2.ID, now, 1)
	if kuRows(t, db, k.ID) != 1 || kuRows(t, db, k2.ID) != 1 {
		t.Fatal("no key_usage rows after TouchKeys")
	}
	if err := db.Write(ctx, func(tx keyward.Tx) error { return tx.DeleteKey(ctx, k.ID) }); err != nil {
		t.Fatal(err)
	}
	if n := kuRows(t, db, k.ID); n != 0 {
		t.Errorf("a deleted key keeps %d key_usage rows", n)
	}
	kuTouch(t, db, k.ID, now, 1) // the write-behind of a use before the delete
	if n := kuRows(t, db, k.ID); n != 0 {
		t.Errorf("a touch of a deleted key wrote %d key_usage rows", n)
	}
	if err := db.Write(ctx, func(tx keyward.Tx) error { return tx.DeleteAccount(ctx, a2.ID) }); err != nil {
		t.Fatal(err)
	}
	if n := kuRows(t, db, k2.ID); n != 0 {
		t.Errorf("a deleted account's key keeps %d key_usage rows", n)
	}
}

// A database of the previous schema (version 5: usage in the keys'
// columns, a usage file without key_usage; a real one has no later
// version either) moves its keys' usage to the
// usage file when opened, once: opening again, or after a crash between
// the copy and version 6, counts nothing twice.
func TestSQLiteKeyUsageMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	ctx := context.Background()
	used := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	// oldSchema puts the database back to version 5 with the usage in
	// keyward.db (what 0001–0005 built and the write-behind wrote), and
	// the usage file back to its version 1 if dropTable.
	oldSchema := func(db *sqlite.DB, id string, dropTable bool) {
		t.Helper()
		// Versions 6 and later undone (version 8 added an index).
		for _, q := range []string{`DELETE FROM schema_migrations WHERE version >= 6`, `DROP INDEX IF EXISTS keys_expires`} {
			if _, err := db.WriteDB().ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.WriteDB().ExecContext(ctx, `UPDATE keys SET last_used_at = ?, verifications = 41 WHERE id = ?`, used.UnixMilli(), id); err != nil {
			t.Fatal(err)
		}
		if dropTable {
			for _, q := range []string{`DROP TABLE key_usage`, `DELETE FROM schema_migrations WHERE version = 2`} {
				if _, err := db.UsageWriteDB().ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
		}
		db.Close()
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a, k := kuKey(t, db, "old")
	oldSchema(db, k.ID, true)

	check := func(round string) {
		t.Helper()
		db := dtOpenAt(t, path)
		got := kuGet(t, db, a.ID, k.ID)
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(used) || got.Verifications != 41 {
			t.Fatalf("%s: last_used_at %v, verifications %d; want %v, 41", round, got.LastUsedAt, got.Verifications, used)
		}
		var col sql.Null[int64]
		var n int64
		if err := db.WriteDB().QueryRow(`SELECT last_used_at, verifications FROM main.keys WHERE id = ?`, k.ID).Scan(&col, &n); err != nil || col.Valid || n != 0 {
			t.Fatalf("%s: keyward.db keys columns %v, %d (%v); want NULL, 0", round, col, n, err)
		}
		if r := kuRows(t, db, k.ID); r != 1 {
			t.Fatalf("%s: %d key_usage rows", round, r)
		}
		db.Close()
	}
	check("upgrade")
	check("reopen")
	// A crash after the copy, before version 6 emptied the columns.
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	oldSchema(db, k.ID, false)
	check("copy repeated")
}

// A backup (of an open database, or of a file by path) carries the keys'
// last use and verification counts: they are in the usage file.
func TestSQLiteBackupCarriesKeyUsage(t *testing.T) {
	db := dtOpen(t)
	ctx := context.Background()
	a, k := kuKey(t, db, "backed up")
	at := time.Now().UTC().Truncate(time.Millisecond)
	kuTouch(t, db, k.ID, at, 9)
	dir := t.TempDir()
	online, offline := filepath.Join(dir, "online.db"), filepath.Join(dir, "offline.db")
	if err := db.Backup(ctx, online); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if err := sqlite.Backup(ctx, db.Path(), offline); err != nil {
		t.Fatalf("sqlite.Backup: %v", err)
	}
	kuTouch(t, db, k.ID, at.Add(time.Minute), 1) // after the backups: not in them
	for _, dst := range []string{online, offline} {
		restored := dtOpenAt(t, dst)
		got := kuGet(t, restored, a.ID, k.ID)
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) || got.Verifications != 9 {
			t.Errorf("%s: last_used_at %v, verifications %d; want %v, 9", filepath.Base(dst), got.LastUsedAt, got.Verifications, at)
		}
	}
}

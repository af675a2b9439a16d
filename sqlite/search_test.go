package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
)

// The key search's trigram index (migration 11) follows every change of
// keys and survives VACUUM and a backup: a key the index misses would be
// missing from the search results, since the list only tests the keys it
// names (searches of three characters or more).
func TestKeySearchIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := dtOpenAt(t, filepath.Join(dir, sqlite.FileName))
	a := dtAccount("search")
	ids := keyward.NewIDs(keyward.SystemClock)
	newKey := func(name string) *keyward.Key {
		t.Helper()
		k := &keyward.Key{ID: ids.New(keyward.PrefixKey), AccountID: a.ID, Kind: keyward.KindAPI, Name: name,
			Status: keyward.StatusActive, Prefix: "kw", Owner: keyward.Owner{Type: keyward.OwnerAccount, ID: a.ID}, PermissionMode: keyward.ModeAll,
			CreatedAt: a.CreatedAt, UpdatedAt: a.CreatedAt, CreatedByID: "system", UpdatedByID: "system", Version: 1}
		tok, err := keyward.NewToken("kw", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Write(ctx, func(tx keyward.Tx) error { return tx.CreateKey(ctx, k, tok.Hash()) }); err != nil {
			t.Fatal(err)
		}
		return k
	}
	if err := db.Write(ctx, func(tx keyward.Tx) error { return tx.CreateAccount(ctx, a) }); err != nil {
		t.Fatal(err)
	}
	search := func(db *sqlite.DB, q string) []string {
		t.Helper()
		var out []string
		if err := db.Read(ctx, func(tx keyward.Tx) error {
			keys, _, err := tx.ListKeys(ctx, &keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindAPI, Search: q})
			for _, k := range keys {
				out = append(out, k.Name)
			}
			return err
		}); err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		slices.Sort(out)
		return out
	}
	expect := func(db *sqlite.DB, when, q string, want ...string) {
		t.Helper()
		if got := search(db, q); !slices.Equal(got, want) {
			t.Errorf("%s: search %q = %q, want %q", when, q, got, want)
		}
	}
	intact := func(db *sqlite.DB, when string) {
		t.Helper()
		if _, err := db.WriteDB().ExecContext(ctx, `INSERT INTO keys_fts (keys_fts, rank) VALUES ('integrity-check', 1)`); err != nil {
			t.Errorf("%s: keys_fts integrity-check: %v", when, err)
		}
	}

	alpha := newKey("Alpha Production")
	newKey(`Beta "quoted" Staging`)
	gone := newKey("Gamma Övertime")
	expect(db, "created", "alpha", "Alpha Production")
	expect(db, "created", "PROD", "Alpha Production")
	expect(db, "created", `"quoted"`, `Beta "quoted" Staging`)
	expect(db, "created", "övert", "Gamma Övertime")
	expect(db, "created", "a p", "Alpha Production")
	expect(db, "created", "ta", "Beta \"quoted\" Staging") // shorter than a trigram: no index
	intact(db, "created")

	// A rename: the new name is found, the old one no longer.
	if err := db.Write(ctx, func(tx keyward.Tx) error {
		k, err := tx.GetKey(ctx, a.ID, alpha.ID)
		if err != nil {
			return err
		}
		k.Name, k.Version = "Omega Production", k.Version+1
		return tx.UpdateKey(ctx, k)
	}); err != nil {
		t.Fatal(err)
	}
	expect(db, "renamed", "omega", "Omega Production")
	expect(db, "renamed", "alpha")
	intact(db, "renamed")

	// A delete, then a new key that may take the freed document number.
	if err := db.Write(ctx, func(tx keyward.Tx) error { return tx.DeleteKey(ctx, gone.ID) }); err != nil {
		t.Fatal(err)
	}
	newKey("Delta Övertime")
	expect(db, "deleted", "övertime", "Delta Övertime")
	intact(db, "deleted")

	// VACUUM renumbers the implicit rowids of keys, not key_search's
	// document numbers.
	for i := range 50 {
		newKey("filler " + string(rune('a'+i%26)))
	}
	if _, err := db.WriteDB().ExecContext(ctx, `DELETE FROM keys WHERE name LIKE 'filler%' AND rowid % 2 = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.WriteDB().ExecContext(ctx, `VACUUM`); err != nil {
		t.Fatal(err)
	}
	expect(db, "vacuumed", "omega", "Omega Production")
	expect(db, "vacuumed", "delta", "Delta Övertime")
	intact(db, "vacuumed")

	if err := os.Mkdir(filepath.Join(dir, "backup"), 0o700); err != nil {
		t.Fatal(err)
	}
	// An account's delete cascades to its keys, and from them to the index.
	b := dtAccount("search, deleted")
	if err := db.Write(ctx, func(tx keyward.Tx) error { return tx.CreateAccount(ctx, b) }); err != nil {
		t.Fatal(err)
	}
	owner := a
	a = b
	doomed := newKey("Doomed Production")
	a = owner
	if err := db.Write(ctx, func(tx keyward.Tx) error { return tx.DeleteAccount(ctx, b.ID) }); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.WriteDB().QueryRowContext(ctx, `SELECT count(*) FROM key_search WHERE key_id = ?`, doomed.ID).Scan(&left); err != nil || left != 0 {
		t.Errorf("the deleted account's key has %d rows in key_search (%v), want 0", left, err)
	}
	intact(db, "account deleted")

	dst := filepath.Join(dir, "backup", sqlite.FileName)
	if err := db.Backup(ctx, dst); err != nil {
		t.Fatal(err)
	}
	restored := dtOpenAt(t, dst)
	expect(restored, "backup", "omega", "Omega Production")
	expect(restored, "backup", "quoted", `Beta "quoted" Staging`)
	intact(restored, "backup")
}

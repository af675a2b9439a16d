package sqlite_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
)

// BenchmarkCreateKey measures what the key search's index (migration 11:
// triggers that fill key_search and the FTS5 table keys_fts) adds to
// creating keys, one per transaction (the API) and a thousand per
// transaction (an import), against the same store without the trigger
// that feeds the index (docs/performance.md).
func BenchmarkCreateKey(b *testing.B) {
	for _, perTx := range []int{1, 1000} {
		for _, search := range []bool{true, false} {
			name := "keys_per_tx=" + strconv.Itoa(perTx) + "/search_index=" + strconv.FormatBool(search)
			b.Run(name, func(b *testing.B) { benchCreateKeys(b, search, perTx) })
		}
	}
}

func benchCreateKeys(b *testing.B, search bool, perTx int) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), sqlite.FileName))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if !search {
		if _, err := db.WriteDB().Exec(`DROP TRIGGER keys_search_insert`); err != nil {
			b.Fatal(err)
		}
	}
	a := dtAccount("bench")
	if err := db.Write(ctx, func(tx keyward.Tx) error { return tx.CreateAccount(ctx, a) }); err != nil {
		b.Fatal(err)
	}
	ids := keyward.NewIDs(keyward.SystemClock)
	n := 0
	for b.Loop() {
		if err := db.Write(ctx, func(tx keyward.Tx) error {
			for range perTx {
				n++
				k := &keyward.Key{ID: ids.New(keyward.PrefixKey), AccountID: a.ID, Kind: keyward.KindAPI, Name: "bench key " + strconv.Itoa(n),
					Status: keyward.StatusActive, Prefix: "kw", Owner: keyward.Owner{Type: keyward.OwnerAccount, ID: a.ID}, PermissionMode: keyward.ModeAll,
					CreatedAt: a.CreatedAt, UpdatedAt: a.CreatedAt, CreatedByID: "system", UpdatedByID: "system", Version: 1}
				tok, err := keyward.NewToken("kw", nil)
				if err != nil {
					return err
				}
				if err := tx.CreateKey(ctx, k, tok.Hash()); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}

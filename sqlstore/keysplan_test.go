package sqlstore_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlstore"
)

// planDB opens a new SQLite database, migrated, for a query plan test.
func planDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// A key list filtered by status, mode, owner or project reads the filter's
// index in the list's order (migration 10) on SQLite: without it the
// planner walked every key of the account in id order and tested each
// (0.8–1.2 s a page on a million keys, issue 13). The query has
// ListKeys's shape: kind, account, the filter, ordered by id, a limit.
func TestKeyListFiltersUseTheirIndex(t *testing.T) {
	db := planDB(t)
	for filter, index := range map[string]string{
		"k.status = ?":          "keys_status_list",
		"k.permission_mode = ?": "keys_mode_list",
		"k.owner_type = ?":      "keys_owner_type_list",
		"k.owner_id = ?":        "keys_owner_id_list",
		"k.project_id = ?":      "keys_project_list",
	} {
		for _, after := range []string{"", " AND k.id > ?"} {
			q := "SELECT k.id, k.name FROM keys k WHERE k.kind = ? AND k.account_id = ? AND " + filter + after + " ORDER BY k.id LIMIT 51"
			args := []any{"api", "acc_01HZX3K8Q4W2N5R7T9V0B1C2D1", "x"}
			if after != "" {
				args = append(args, "key_01HZX3K8Q4W2N5R7T9V0B1C2D3")
			}
			plan := queryPlan(t, db.ReadDB(), q, args...)
			all := strings.Join(plan, "\n")
			if !strings.Contains(all, "INDEX "+index+" ") || strings.Contains(all, "TEMP B-TREE") {
				t.Errorf("%s%s: want a search of %s in id order; plan:\n%s", filter, after, index, all)
			}
		}
	}
}

// A key search narrowed by the trigram index (migration 11) looks the
// candidates up by id and sorts them, on SQLite: walking the account's
// keys in id order and testing each against the candidates would read
// every key when few match (0.8 s on a million keys, issue 13).
func TestKeySearchReadsItsCandidates(t *testing.T) {
	db := planDB(t)
	for _, after := range []string{"", " AND k.id < ?"} {
		q := `SELECT k.id, k.name FROM keys k WHERE k.kind = ? AND k.account_id = ? AND k.name_fold LIKE ? ESCAPE '\' AND ` +
			sqlstore.SearchCandidatesCond + after + " ORDER BY k.id DESC LIMIT 51"
		args := []any{"api", "acc_01HZX3K8Q4W2N5R7T9V0B1C2D1", "%needle%", "[3,1,2]"}
		if after != "" {
			args = append(args, "key_01HZX3K8Q4W2N5R7T9V0B1C2D3")
		}
		plan := queryPlan(t, db.ReadDB(), q, args...)
		all := strings.Join(plan, "\n")
		if !strings.Contains(all, "id=?)") || !strings.Contains(all, "SEARCH s USING INTEGER PRIMARY KEY") || strings.Contains(all, "SCAN k") {
			t.Errorf("search%s: want the candidates looked up by document number, then by id; plan:\n%s", after, all)
		}
	}
}

// The overview's expiring keys are read from keys_expires in expiry order
// and stop at the limit: no sort of every key of the window.
func TestExpiringKeysReadTheExpiryIndex(t *testing.T) {
	db := planDB(t)
	plan := strings.Join(queryPlan(t, db.ReadDB(), sqlstore.ExpiringKeysSQL(db.Store), "acc_01HZX3K8Q4W2N5R7T9V0B1C2D1", "api", 1, 2, 10), "\n")
	// Keys of the same expiry are put in id order among themselves ("LAST
	// TERM OF ORDER BY"), not the window as a whole.
	if !strings.Contains(plan, "INDEX keys_expires ") || strings.Contains(plan, "TEMP B-TREE FOR ORDER BY") {
		t.Errorf("want a search of keys_expires in expiry order; plan:\n%s", plan)
	}
}

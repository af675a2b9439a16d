package cli_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// ctLegacyToken returns a well-formed token another system issued.
func ctLegacyToken(t *testing.T) string {
	t.Helper()
	tok, err := keyward.NewToken("kw", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Reveal()
}

// TestCtKeysImport imports keys by hash from a file and from standard
// input; the keys verify with their original tokens, and a refused import
// names every refused item and imports nothing.
func TestCtKeysImport(t *testing.T) {
	s := ctStartServer(t)
	tok1, tok2, tok3 := ctLegacyToken(t), ctLegacyToken(t), ctLegacyToken(t)
	hex1 := sha256.Sum256([]byte(tok1))
	b64 := sha256.Sum256([]byte(tok2))
	items := []map[string]any{
		{"hash": hex.EncodeToString(hex1[:]), "last4": tok1[len(tok1)-4:], "name": "legacy one", "permission_mode": "read_only"},
		{"hash": base64.StdEncoding.EncodeToString(b64[:]), "name": "legacy two", "scopes": []any{map[string]any{"resource": "documents", "access": "write"}},
			"permission_mode": "restricted", "metadata": map[string]any{"from": "old"}},
	}
	file := filepath.Join(t.TempDir(), "keys.json")
	b, _ := json.Marshal(items)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}

	r := s.ok(t, "keys", "import", "--file", file)
	rows := ctTableRows(r.stdout)
	if len(rows) != 3 || rows[0][0] != "ID" || rows[1][1] != "legacy one" || rows[2][1] != "legacy two" || rows[1][4] != "read_only" {
		t.Fatalf("keys import table:\n%s", r)
	}
	if code, _ := s.verify(t, tok1, "--permissions", "documents:read"); code != "VALID" {
		t.Fatalf("an imported key verifies with its original token as %s", code)
	}
	if code, _ := s.verify(t, tok2, "--permissions", "documents:write"); code != "VALID" {
		t.Fatalf("an imported key (base64 hash) verifies as %s", code)
	}
	g := s.okJSON(t, "keys", "get", rows[1][0])
	if g["last4"] != tok1[len(tok1)-4:] {
		t.Fatalf("imported key: last4 %v", g["last4"])
	}

	t.Run("standard input and --json", func(t *testing.T) {
		h := sha256.Sum256([]byte(tok3))
		in := `[{"hash": "` + hex.EncodeToString(h[:]) + `", "name": "from stdin"}]`
		r := s.runStdin(t, in, "keys", "import", "--file", "-", "--json")
		if r.err != nil {
			t.Fatalf("keys import --file -:\n%s", r)
		}
		data := ctDecode(t, r)["data"].([]any)
		if len(data) != 1 || data[0].(map[string]any)["name"] != "from stdin" {
			t.Fatalf("keys import --json: %v", data)
		}
		if code, _ := s.verify(t, tok3); code != "VALID" {
			t.Fatalf("the key imported from stdin: %s", code)
		}
	})

	t.Run("all or nothing", func(t *testing.T) {
		fresh := sha256.Sum256([]byte(ctLegacyToken(t)))
		before := len(ctIDs(t, s.okJSON(t, "keys", "list")))
		// Duplicates only: 409, one error per duplicate item.
		dup := `[{"hash": "` + hex.EncodeToString(fresh[:]) + `", "name": "new"}, {"hash": "` + hex.EncodeToString(hex1[:]) + `", "name": "again"}]`
		r := s.runStdin(t, dup, "keys", "import", "--file", "-")
		ctWantProblem(t, r, "duplicate", 409)
		if !strings.Contains(ctErrText(r.err), "\n  keys[1].hash: ") || strings.Contains(ctErrText(r.err), "keys[0]") {
			t.Fatalf("keys import of a duplicate does not name the item:\n%s", r)
		}
		// Any invalid item: 422, every item's errors.
		bad := `[{"hash": "nothex", "name": "x"}, {"hash": "` + hex.EncodeToString(fresh[:]) + `"}, {"hash": "` + hex.EncodeToString(fresh[:]) + `", "name": "y", "scopes": []}]`
		r = s.runStdin(t, bad, "keys", "import", "--file", "-")
		ctWantProblem(t, r, "validation_failed", 422)
		for _, f := range []string{"keys[0].hash", "keys[1].name", "keys[2].hash"} {
			if !strings.Contains(ctErrText(r.err), "\n  "+f+": ") {
				t.Fatalf("keys import: no line for %s:\n%s", f, r)
			}
		}
		if after := len(ctIDs(t, s.okJSON(t, "keys", "list"))); after != before {
			t.Fatalf("a refused import changed the keys: %d before, %d after", before, after)
		}
	})
}

// TestCtKeysRecoverable creates a recoverable key on a server with a
// master key and reads its secret back with keys secret.
func TestCtKeysRecoverable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(file, []byte(keywardtest.RandomHex(t, keyward.MasterKeySize)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := ctStartServer(t, "--master-key-file", file)

	r := s.ok(t, "keys", "create", "--name", "recoverable", "--recoverable")
	secret := ctSecretAfter(t, r, "Secret")
	id, _ := ctRow(r.stdout, "ID")
	ctWantRow(t, r, "RECOVERABLE", "yes")

	r = s.ok(t, "keys", "secret", id)
	ctWantRow(t, r, "ID", id)
	ctWantRow(t, r, "SECRET", secret)
	if got := s.okJSON(t, "keys", "secret", id); !reflect.DeepEqual(got, map[string]any{"id": id, "secret": secret}) {
		t.Fatalf("keys secret --json: %v", got)
	}
	events := s.api(t, "GET", "/v1/audit-events?action=key.secret_revealed&target_id="+id, nil)["data"].([]any)
	if len(events) != 2 {
		t.Fatalf("two reveals wrote %d key.secret_revealed events", len(events))
	}

	plain := s.okJSON(t, "keys", "create", "--name", "plain")
	if plain["recoverable"] != false {
		t.Fatalf("a key created without --recoverable: %v", plain)
	}
	ctWantProblem(t, s.fails(t, 1, "keys", "secret", plain["id"].(string)), "conflict", 409)
	ctWantProblem(t, s.fails(t, 1, "keys", "secret", "key_01J00000000000000000000000"), "not_found", 404)

	noReveal := s.as(s.okJSON(t, "management-keys", "create", "--name", "reader", "--permission", "keys:read")["secret"].(string))
	r = noReveal.fails(t, 1, "keys", "secret", id)
	ctWantProblem(t, r, "permission_denied", 403)
	if !strings.Contains(ctErrText(r.err), "\n  missing_permission: keys:reveal") {
		t.Fatalf("no missing_permission line:\n%s", r)
	}

	// Without a master key, a recoverable key is refused.
	bare := ctStartServer(t)
	r = bare.fails(t, 1, "keys", "create", "--name", "x", "--recoverable")
	ctWantProblem(t, r, "validation_failed", 422)
	if !ctNamesField(r.err, "recoverable: ") {
		t.Fatalf("no recoverable line:\n%s", r)
	}
}

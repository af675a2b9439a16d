package main

// Tests of the real binary's recovery and secret-keeping paths (issue 3):
// keyward admin create-management-key working on the database of a running
// server, and the master key of recoverable keys (--master-key-file,
// KEYWARD_MASTER_KEY).

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// btRun runs the binary to completion and returns its exit code.
func btRun(t *testing.T, o btOpts) (*btProc, int) {
	t.Helper()
	p := btStart(t, o)
	return p, p.wait(60 * time.Second)
}

var btCreatedKeyRE = regexp.MustCompile(`created management key (key_[0-9A-Z]+)`)

// btAdminKey runs keyward admin create-management-key on dataDir with the
// extra arguments; it requires exit 0 and exactly one kwm_ token on
// stdout, and returns the key's id and secret.
func btAdminKey(t *testing.T, dataDir string, args ...string) (string, string) {
	t.Helper()
	p, code := btRun(t, btOpts{Args: append([]string{"admin", "create-management-key", "--data-dir", dataDir}, args...)})
	if code != 0 {
		t.Fatalf("keyward admin create-management-key %v exited %d:\n%s", args, code, p.stderr.String())
	}
	out := strings.TrimSpace(p.stdout.String())
	if !btOperatorRE.MatchString(out) || btOperatorRE.FindString(out) != out {
		t.Fatalf("stdout is %q, want exactly one kwm_ secret", out)
	}
	if strings.Contains(p.stderr.String(), out) {
		t.Errorf("the new secret is on stderr too; it belongs on stdout only")
	}
	m := btCreatedKeyRE.FindStringSubmatch(p.stderr.String())
	if m == nil {
		t.Fatalf("stderr does not name the created key:\n%s", p.stderr.String())
	}
	return m[1], out
}

func TestAdminCreateManagementKey(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := btServe(t, btOpts{Args: btServeArgs(dataDir)})
	op := srv.operatorToken()
	other := srv.must(http.StatusCreated, "POST", "/v1/accounts", op, map[string]any{"name": "other"})["id"].(string)

	t.Run("account key, while the server runs", func(t *testing.T) {
		id, secret := btAdminKey(t, dataDir, "--account", "default", "--name", "recovered")
		got := srv.must(http.StatusOK, "GET", "/v1/management-keys/"+id, secret, nil)
		if got["name"] != "recovered" || got["operator"] == true {
			t.Errorf("the recovered key reads %v", got)
		}
		srv.must(http.StatusCreated, "POST", "/v1/keys", secret, map[string]any{"name": "made by the recovered key"})
		// Not an operator key: no accounts routes, no other account.
		srv.must(http.StatusForbidden, "GET", "/v1/accounts", secret, nil)
		btMustHeader(t, srv, http.StatusForbidden, "GET", "/v1/keys", secret, nil, map[string]string{"X-Account-Id": other})
		perms, _ := got["permissions"].([]any)
		for _, p := range perms {
			if strings.HasPrefix(p.(string), "accounts:") {
				t.Errorf("an account-bound recovery key holds %s", p)
			}
		}
		if len(perms) < 10 {
			t.Errorf("without --permission the key should hold every permission it may: %v", perms)
		}

		page := btMustHeader(t, srv, http.StatusOK, "GET", "/v1/audit-events?action=management_key.created&target_id="+id, op, nil, nil)
		evs, _ := page["data"].([]any)
		if len(evs) != 1 {
			t.Fatalf("%d management_key.created events for %s, want 1", len(evs), id)
		}
		ev, _ := evs[0].(map[string]any)
		actor, _ := ev["actor"].(map[string]any)
		if actor["type"] != "system" {
			t.Errorf("the admin command's change is recorded with actor %v, want type system", actor)
		}
	})

	t.Run("account by id", func(t *testing.T) {
		_, secret := btAdminKey(t, dataDir, "--account", other)
		srv.must(http.StatusCreated, "POST", "/v1/keys", secret, map[string]any{"name": "theirs"})
		keys := srv.listAll("/v1/keys", secret)
		if len(keys) != 1 || keys[0]["account_id"] != other {
			t.Errorf("a key bound to %s lists %v", other, keys)
		}
	})

	t.Run("--operator", func(t *testing.T) {
		id, secret := btAdminKey(t, dataDir, "--operator")
		srv.must(http.StatusOK, "GET", "/v1/accounts", secret, nil)
		btMustHeader(t, srv, http.StatusOK, "GET", "/v1/keys", secret, nil, map[string]string{"X-Account-Id": other})
		got := srv.must(http.StatusOK, "GET", "/v1/management-keys/"+id, op, nil)
		if got["operator"] != true {
			t.Errorf("--operator made a key with operator %v", got["operator"])
		}
	})

	t.Run("--permission", func(t *testing.T) {
		_, secret := btAdminKey(t, dataDir, "--account", "default", "--permission", "keys:read", "--permission", "keys:verify")
		srv.must(http.StatusOK, "GET", "/v1/keys", secret, nil)
		srv.must(http.StatusOK, "POST", "/v1/keys/verify", secret, map[string]any{"key": "kw_nothing"})
		p := srv.must(http.StatusForbidden, "POST", "/v1/keys", secret, map[string]any{"name": "x"})
		if p["code"] != "permission_denied" || p["missing_permission"] != "keys:write" {
			t.Errorf("a keys:read key creating a key: %v", p)
		}
	})

	t.Run("an account whose policy requires an expiry", func(t *testing.T) {
		// Recovery must work whatever the account's expiry policy: the
		// command is the last way in.
		pol := srv.must(http.StatusCreated, "POST", "/v1/accounts", op, map[string]any{"name": "strict", "require_expiry": true, "max_key_lifetime": 86400})
		p, code := btRun(t, btOpts{Args: []string{"admin", "create-management-key", "--data-dir", dataDir, "--account", "strict"}})
		if code != 0 {
			t.Fatalf("keyward admin create-management-key on an account with require_expiry and max_key_lifetime exited %d: "+
				"the recovery path is closed by the policy\n%s", code, p.stderr.String())
		}
		secret := strings.TrimSpace(p.stdout.String())
		btMustHeader(t, srv, http.StatusOK, "GET", "/v1/keys", secret, nil, map[string]string{"X-Account-Id": pol["id"].(string)})
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			args    []string
			mention string
			usage   bool
		}{
			{"unknown account", []string{"--account", "nope"}, "nope", false},
			{"unknown account id", []string{"--account", "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV", false},
			{"no account", nil, "--account", true},
			{"operator-only permission", []string{"--account", "default", "--permission", "accounts:write"}, "accounts:write", false},
			{"unknown permission", []string{"--account", "default", "--permission", "keys:everything"}, "keys:everything", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p, code := btRun(t, btOpts{Args: append([]string{"admin", "create-management-key", "--data-dir", dataDir}, tc.args...)})
				if code == 0 {
					t.Fatalf("exit 0, want an error")
				}
				if tc.usage && code != 2 {
					t.Errorf("exit %d, want 2 (usage)", code)
				}
				if btOperatorRE.MatchString(p.stdout.String()) {
					t.Errorf("a refused command printed a key: %q", p.stdout.String())
				}
				if !strings.Contains(p.stderr.String(), "keyward:") || !strings.Contains(p.stderr.String(), tc.mention) {
					t.Errorf("the error does not mention %q:\n%s", tc.mention, p.stderr.String())
				}
			})
		}
	})

	srv.stop()
}

// btMasterKeyBytes returns 32 random bytes that do not look like text.
func btMasterKeyBytes(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	b[0], b[31] = 0x00, 0xfe
	return b
}

// btWriteFile writes b to a new 0600 file in a temp dir and returns its path.
func btWriteFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServeMasterKey(t *testing.T) {
	t.Parallel()

	t.Run("bad master keys stop serve", func(t *testing.T) {
		t.Parallel()
		key := btMasterKeyBytes(t)
		short := btWriteFile(t, "short.key", []byte("0123456789abcdef\n"))
		for _, tc := range []struct {
			name    string
			args    []string
			env     []string
			code    int // 0: any non-zero
			mention []string
			hide    []string
		}{
			{"--master-key-file with a short key", []string{"--master-key-file", short}, nil, 2, []string{"--master-key-file", short}, []string{"0123456789abcdef"}},
			{"--master-key-file empty", []string{"--master-key-file", btWriteFile(t, "empty.key", nil)}, nil, 2, []string{"--master-key-file"}, nil},
			{"--master-key-file missing", []string{"--master-key-file", filepath.Join(t.TempDir(), "absent.key")}, nil, 0, []string{"absent.key"}, nil},
			{"KEYWARD_MASTER_KEY_FILE with a short key", nil, []string{"KEYWARD_MASTER_KEY_FILE=" + short}, 2, []string{short}, []string{"0123456789abcdef"}},
			{"KEYWARD_MASTER_KEY too short", nil, []string{"KEYWARD_MASTER_KEY=c2hvcnQgYW5kIHNlY3JldA"}, 2, []string{"KEYWARD_MASTER_KEY"}, []string{"c2hvcnQgYW5kIHNlY3JldA"}},
			{"both", []string{"--master-key-file", btWriteFile(t, "good.key", key)}, []string{"KEYWARD_MASTER_KEY=" + hex.EncodeToString(key)}, 2,
				[]string{"KEYWARD_MASTER_KEY"}, []string{hex.EncodeToString(key)}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				dataDir := filepath.Join(t.TempDir(), "data")
				p, code := btRun(t, btOpts{Args: btServeArgs(dataDir, tc.args...), Env: tc.env})
				if code == 0 || tc.code != 0 && code != tc.code {
					t.Fatalf("exit %d, want %d (0 = any failure)", code, tc.code)
				}
				stderr := p.stderr.String()
				if strings.Contains(stderr, "keyward listening") {
					t.Errorf("keyward started listening with a bad master key")
				}
				btErrorSays(t, stderr, tc.mention, tc.hide)
			})
		}
	})

	t.Run("KEYWARD_MASTER_KEY and --master-key-file, across restarts", func(t *testing.T) {
		t.Parallel()
		key := btMasterKeyBytes(t)
		dataDir := filepath.Join(t.TempDir(), "data")
		p := btServe(t, btOpts{Args: btServeArgs(dataDir), Env: []string{"KEYWARD_MASTER_KEY=" + base64.StdEncoding.EncodeToString(key)}})
		op := p.operatorToken()
		k := p.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "recoverable", "recoverable": true})
		id, secret := k["id"].(string), k["secret"].(string)
		if got := p.must(http.StatusOK, "GET", "/v1/keys/"+id+"/secret", op, nil); got["secret"] != secret {
			t.Fatalf("reveal with KEYWARD_MASTER_KEY: %v", got)
		}
		p.stop()
		for _, enc := range []string{hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key)} {
			if strings.Contains(p.stderr.String(), enc) {
				t.Errorf("the master key appears in the log")
			}
		}

		// The same key as 32 raw bytes in a file.
		p2 := btServe(t, btOpts{Args: btServeArgs(dataDir, "--master-key-file", btWriteFile(t, "raw.key", key))})
		if got := p2.must(http.StatusOK, "GET", "/v1/keys/"+id+"/secret", op, nil); got["secret"] != secret {
			t.Fatalf("reveal with the raw key file: %v", got)
		}
		p2.stop()

		// Another master key: refused at startup, with a clear message.
		p3, code := btRun(t, btOpts{Args: btServeArgs(dataDir), Env: []string{"KEYWARD_MASTER_KEY=" + hex.EncodeToString(btMasterKeyBytes(t))}})
		if code == 0 {
			t.Fatalf("keyward serve with another master key exited 0")
		}
		if s := p3.stderr.String(); !strings.Contains(s, "master key") || strings.Contains(s, "keyward listening") {
			t.Errorf("another master key: want a refusal naming the master key before listening:\n%s", s)
		}

		// No master key: verification works, reveal is a 409.
		p4 := btServe(t, btOpts{Args: btServeArgs(dataDir)})
		if r := p4.verify(op, secret); r["code"] != "VALID" {
			t.Errorf("without the master key the recoverable key verifies as %v", r["code"])
		}
		if got := p4.must(http.StatusConflict, "GET", "/v1/keys/"+id+"/secret", op, nil); got["code"] != "conflict" {
			t.Errorf("reveal without the master key: %v", got)
		}
		p4.must(http.StatusUnprocessableEntity, "POST", "/v1/keys", op, map[string]any{"name": "r", "recoverable": true})
		p4.stop()

		// The database holds no secret in clear.
		for _, f := range []string{"keyward.db", "keyward.db-wal"} {
			b, err := os.ReadFile(filepath.Join(dataDir, f))
			if err != nil {
				continue
			}
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds the recoverable secret in clear", f)
			}
		}
	})
}

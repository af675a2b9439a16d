package main

// Tests of the SQLite data directory as the real binary uses it (issue 9):
// one server per directory (a lock), changes reaching every process that
// opens the file, commands that must not create a database at a typo, and
// a bootstrap that only a start that serves commits.

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/verifier"
)

// ddExit waits up to 10 s for p to exit and returns its code; a process
// still running then fails the test (it should have refused to start).
func ddExit(t *testing.T, p *btProc, what string) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(10 * time.Second):
		t.Fatalf("%s is still running after 10s, want it to exit non-zero:\n%s", what, p.stderr.String())
		return 0
	}
}

// A second keyward serve on a data directory in use exits non-zero,
// naming the directory and its lock, and touches nothing; the lock goes
// with the first process, even killed with -9.
func TestServeLocksDataDir(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	first := btServe(t, btOpts{Args: btServeArgs(dataDir)})
	op := first.operatorToken()

	second := btStart(t, btOpts{Args: btServeArgs(dataDir)})
	if code := ddExit(t, second, "a second keyward serve on the same --data-dir"); code == 0 {
		t.Fatalf("the second serve exited 0")
	}
	msg := second.stderr.String()
	if !strings.Contains(msg, dataDir) || !strings.Contains(msg, "lock") {
		t.Errorf("the refusal does not name the data directory %s and its lock:\n%s", dataDir, msg)
	}
	if strings.Contains(msg, "keyward listening") || btOperatorRE.MatchString(msg) {
		t.Errorf("the second serve got as far as listening or bootstrapping:\n%s", msg)
	}
	first.must(http.StatusOK, "GET", "/v1/keys", op, nil)

	// kill -9 leaves no stale lock behind: the kernel drops it.
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.wait(10 * time.Second)
	third := btServe(t, btOpts{Args: btServeArgs(dataDir)})
	third.must(http.StatusOK, "GET", "/v1/keys", op, nil)
	third.stop()
}

// ddEmbedded opens the server's SQLite file in this process, as an
// embedding program would (verifier.New on sqlite.Open).
type ddEmbedded struct {
	svc *service.Service
	v   *verifier.InProcess
}

func ddEmbed(t *testing.T, path, account string) *ddEmbedded {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := service.New(service.Options{Store: db})
	t.Cleanup(func() { svc.Close(context.Background()) })
	return &ddEmbedded{svc: svc, v: verifier.New(svc, &keyward.Actor{AccountID: account})}
}

func (e *ddEmbedded) code(t *testing.T, secret string) string {
	t.Helper()
	res, err := e.v.Verify(context.Background(), secret, nil)
	if err != nil {
		t.Fatalf("embedded verify: %v", err)
	}
	return string(res.Code)
}

// ddWithin polls code until it answers want and fails the test if that
// takes more than a second.
func ddWithin(t *testing.T, what, want string, code func() string) {
	t.Helper()
	start := time.Now()
	for {
		got := code()
		if got == want {
			t.Logf("%s: %s after %v", what, want, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > time.Second {
			t.Fatalf("%s: still %s %v after the change, want %s within 1s", what, got, time.Since(start).Round(time.Millisecond), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A program that opens a running server's SQLite file (the verifier's
// in-process mode) sees the server's changes within a second, and the
// server sees the program's: both keep cached answers, so before the fix
// each kept answering VALID for a key the other had revoked.
func TestSQLiteChangesReachOtherProcesses(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := btServe(t, btOpts{Args: btServeArgs(dataDir)})
	op := srv.operatorToken()
	k1 := srv.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "revoked by the server"})
	k2 := srv.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "revoked by the program"})
	account := k1["account_id"].(string)
	emb := ddEmbed(t, filepath.Join(dataDir, sqlite.FileName), account)
	for _, k := range []map[string]any{k1, k2} {
		secret := k["secret"].(string)
		if got := srv.verify(op, secret)["code"]; got != "VALID" {
			t.Fatalf("server: %s verifies %v", k["name"], got)
		}
		if got := emb.code(t, secret); got != "VALID" {
			t.Fatalf("program: %s verifies %v", k["name"], got)
		}
	}

	srv.must(http.StatusOK, "PATCH", "/v1/keys/"+k1["id"].(string), op, map[string]any{"status": "revoked"})
	ddWithin(t, "revoked through the server, verified in the program", "REVOKED", func() string { return emb.code(t, k1["secret"].(string)) })

	ctx := context.Background()
	sys, err := emb.svc.SystemActor(ctx, keyward.DefaultAccountName, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := emb.svc.UpdateKey(ctx, sys, keyward.KindAPI, k2["id"].(string), &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)}, ""); err != nil {
		t.Fatal(err)
	}
	ddWithin(t, "revoked in the program, verified through the server", "REVOKED", func() string {
		return srv.verify(op, k2["secret"].(string))["code"].(string)
	})
	srv.stop()
}

// ddTree lists what is under root (relative paths), to show that a
// refused command created nothing.
func ddTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// keyward backup and keyward admin refuse a data directory that holds no
// keyward database and create nothing there: before the fix both created
// an empty database at a mistyped path (backup then reported success).
func TestCommandsNeedAnExistingDatabase(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		prep func(t *testing.T, root string) string // returns the --data-dir
	}{
		{"missing directory", func(t *testing.T, root string) string { return filepath.Join(root, "typo", "data") }},
		{"empty directory", func(t *testing.T, root string) string {
			d := filepath.Join(root, "empty")
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
			return d
		}},
		{"empty file", func(t *testing.T, root string) string {
			d := filepath.Join(root, "blank")
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, sqlite.FileName), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return d
		}},
	} {
		for _, cmd := range []struct {
			name string
			args func(dataDir, root string) []string
		}{
			{"backup", func(dataDir, root string) []string {
				return []string{"backup", "--data-dir", dataDir, "--to", filepath.Join(root, "copy.db")}
			}},
			{"admin", func(dataDir, _ string) []string {
				return []string{"admin", "create-management-key", "--data-dir", dataDir, "--account", "default"}
			}},
		} {
			t.Run(cmd.name+"/"+c.name, func(t *testing.T) {
				root := t.TempDir()
				dataDir := c.prep(t, root)
				before := ddTree(t, root)
				p, code := btRun(t, btOpts{Args: cmd.args(dataDir, root)})
				if code == 0 {
					t.Fatalf("keyward %s on %s exited 0:\nstdout: %s\nstderr: %s", cmd.name, c.name, p.stdout.String(), p.stderr.String())
				}
				msg := p.stderr.String()
				if !strings.Contains(msg, dataDir) || !strings.Contains(msg, "no keyward database") {
					t.Errorf("the error does not say that %s holds no keyward database:\n%s", dataDir, msg)
				}
				if btOperatorRE.MatchString(p.stdout.String()) {
					t.Errorf("a key was printed: %s", p.stdout.String())
				}
				if after := ddTree(t, root); strings.Join(after, " ") != strings.Join(before, " ") {
					t.Errorf("the refused command changed the tree:\n  before: %v\n  after:  %v", before, after)
				}
				if fi, err := os.Stat(filepath.Join(dataDir, sqlite.FileName)); err == nil && fi.Size() != 0 {
					t.Errorf("the empty file now holds %d bytes", fi.Size())
				}
			})
		}
	}
}

// btHoldPort returns an address some other listener holds until the test ends.
func btHoldPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// A start that cannot serve commits no bootstrap, so the next start
// prints the operator key; before the fix a busy port cost the key (printed
// by a process that then exited, never again).
func TestBootstrapOnlyWhenServing(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		extra func(dir string) []string
	}{
		{"port busy", func(dir string) []string { return []string{"--addr", btHoldPort(t)} }},
		{"port busy, with a key file", func(dir string) []string {
			return []string{"--addr", btHoldPort(t), "--bootstrap-key-file", filepath.Join(dir, "op.key")}
		}},
		{"key file cannot be written", func(dir string) []string {
			return []string{"--bootstrap-key-file", filepath.Join(dir, "no-such-dir", "op.key")}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			dataDir := filepath.Join(dir, "data")
			// Flags given later win, so the failing ones follow btServeArgs'.
			p, code := btRun(t, btOpts{Args: btServeArgs(dataDir, c.extra(dir)...)})
			if code == 0 {
				t.Fatalf("keyward serve exited 0")
			}
			if btOperatorRE.MatchString(p.stderr.String()) || btOperatorRE.MatchString(p.stdout.String()) {
				t.Errorf("a start that did not serve printed an operator key:\n%s", p.stderr.String())
			}
			if _, err := os.Stat(filepath.Join(dir, "op.key")); err == nil {
				t.Errorf("a start that did not serve wrote the key file")
			}
			next := btServe(t, btOpts{Args: btServeArgs(dataDir)})
			op := next.operatorToken()
			next.must(http.StatusOK, "GET", "/v1/keys", op, nil)
			next.stop()
		})
	}
}

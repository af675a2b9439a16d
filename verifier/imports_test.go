package verifier_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// forbiddenImports are the packages (and everything under them) that the
// embeddable verifier and the middleware must not reach, directly or through
// what they import.
var forbiddenImports = []string{
	// Databases: the generic SQL layer, every SQL driver keyward knows of,
	// and keyward's own stores.
	"database/sql",
	"modernc.org/sqlite",
	"github.com/jackc/pgx",
	"github.com/lib/pq",
	"github.com/mattn/go-sqlite3",
	"github.com/keyward/keyward/sqlite",
	"github.com/keyward/keyward/postgres",
	"github.com/keyward/keyward/sqlstore",
	// The server and its dialects, and the CLI.
	"github.com/keyward/keyward/http",
	"github.com/keyward/keyward/compat",
	"github.com/keyward/keyward/cli",
	"github.com/keyward/keyward/cmd",
}

// allowedImports are exceptions under forbiddenImports: database/sql/driver
// holds the interfaces a type implements to be stored (ulid.ULID does); it
// opens nothing.
var allowedImports = []string{"database/sql/driver"}

// TestImports keeps the verifier and the middleware built on it light:
// packages verifier and middleware, with everything
// they import, must not import database/sql or a SQL driver
// (modernc.org/sqlite, pgx, pq, go-sqlite3), keyward's stores (sqlite,
// postgres, sqlstore), keyward's server (http, compat/…) or its CLI (cli,
// cmd/…). A Go service embeds them to verify keys. The in-process verifier
// embeds package service, which works on any keyward.Store: the service
// opens the store it chooses itself. Test files may import anything: they
// start a real keyward.
func TestImports(t *testing.T) {
	for _, pkg := range []struct{ dir, path string }{
		{".", "github.com/keyward/keyward/verifier"},
		{"../middleware", "github.com/keyward/keyward/middleware"},
	} {
		deps := listDeps(t, pkg.dir)
		if !slices.Contains(deps, pkg.path) {
			t.Fatalf("go list -deps did not list %s itself: %q", pkg.path, deps)
		}
		for _, p := range forbiddenAmong(deps) {
			t.Errorf("package %s imports %s", pkg.path, p)
		}
	}
	// The check finds what it looks for: keyward's SQLite store reaches
	// the driver and database/sql.
	if got := forbiddenAmong(listDeps(t, "../sqlite")); !slices.Contains(got, "modernc.org/sqlite") || !slices.Contains(got, "database/sql") {
		t.Errorf("forbidden imports of package sqlite: %q, want modernc.org/sqlite and database/sql among them", got)
	}
}

// listDeps returns the import paths of the package in dir and of all it
// imports, test files left out, as the go command lists them.
func listDeps(t *testing.T, dir string) []string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the imports: %v", err)
	}
	cmd := exec.Command(goCmd, "list", "-deps", "-f", "{{.ImportPath}}", ".")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -deps in %s: %v\n%s", dir, err, stderr)
	}
	return strings.Fields(string(out))
}

// forbiddenAmong returns the import paths of deps that forbiddenImports rules
// out.
func forbiddenAmong(deps []string) []string {
	var bad []string
	for _, p := range deps {
		if slices.Contains(allowedImports, p) {
			continue
		}
		for _, f := range forbiddenImports {
			if p == f || strings.HasPrefix(p, f+"/") {
				bad = append(bad, p)
				break
			}
		}
	}
	return bad
}

package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// ctForbiddenImports are what a program embedding the client must not pull
// in: SQL drivers and keyward's own server side. An entry matches the
// package and everything below it, except database/sql, which matches
// itself only: database/sql/driver is a package of interfaces that
// github.com/oklog/ulid (keyward's id type) implements, not a driver.
var ctForbiddenImports = []string{
	"database/sql",
	"modernc.org/sqlite",
	"github.com/jackc/pgx",
	"github.com/keyward/keyward/http",
	"github.com/keyward/keyward/service",
	"github.com/keyward/keyward/sqlite",
	"github.com/keyward/keyward/postgres",
	"github.com/keyward/keyward/sqlstore",
	"github.com/keyward/keyward/storetest",
	"github.com/keyward/keyward/cli",
	"github.com/keyward/keyward/cmd",
}

// ctForbiddenDeps returns the forbidden packages that pkg (its non-test
// files) imports, directly or not.
func ctForbiddenDeps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + string(ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %s", pkg, msg)
	}
	var bad []string
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range ctForbiddenImports {
			if dep == f || f != "database/sql" && strings.HasPrefix(dep, f+"/") {
				bad = append(bad, dep)
			}
		}
	}
	return bad
}

// TestImports keeps the client light: it must not import SQL drivers or
// the server.
func TestImports(t *testing.T) {
	if bad := ctForbiddenDeps(t, "github.com/keyward/keyward/client"); len(bad) > 0 {
		t.Errorf("package client imports %v: a service embedding the client would carry the server and a database driver", bad)
	}
	// The check itself works: the HTTP server does import them.
	if bad := ctForbiddenDeps(t, "github.com/keyward/keyward/http"); len(bad) == 0 {
		t.Error("go list -deps found nothing forbidden in package http: the import check is broken")
	}
}

package http_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueryMalformedPairs (issue 9 point 4): a query pair that does not
// parse (a ";" separator, a bad %-escape) is a 400 naming its parameter on
// every native route. Before, url.Values dropped it silently:
// /v1/keys?status=revoked; listed active keys, /v1/audit-events?action=
// key.revoked; every action, and limit=500; passed.
func TestQueryMalformedPairs(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "active one"})
	id := k["id"].(string)
	for _, c := range []struct {
		path, param string
	}{
		{"/v1/keys?status=revoked;", "status"},
		{"/v1/keys?status=revoked%3", "status"},
		{"/v1/keys?limit=500;", "limit"},
		{"/v1/keys?limit=5&status=revoked;x=1", "status"},
		{"/v1/keys?search=%zz", "search"},
		{"/v1/keys?stat%zzus=revoked", "stat%zzus"},
		{"/v1/audit-events?action=key.revoked;", "action"},
		{"/v1/audit-events?target_id=" + id + ";", "target_id"},
		{"/v1/users?status=disabled;", "status"},
		{"/v1/projects?limit=500;", "limit"},
		{"/v1/management-keys?limit=500;", "limit"},
		{"/v1/service-accounts?status=disabled;", "status"},
		{"/v1/accounts?limit=500;", "limit"},
		{"/v1/keys/" + id + "?pretty;", "pretty"},
		{"/v1/keys?pretty=1;", "pretty"},
	} {
		t.Run(c.path, func(t *testing.T) {
			p := pxProblem(t, e.do(req{Method: "GET", Path: c.path}), http.StatusBadRequest, "invalid_parameter")
			if p != nil && !pxNames(p, c.param) {
				t.Errorf("the problem does not name %q: %v", c.param, fields(p))
			}
		})
	}

	// Every route parses its query with the same parser, before anything
	// else (a malformed query string says nothing about a route's
	// parameters, so it is refused before authentication too).
	for _, route := range e.HTTP.Routes() {
		method, pattern, _ := strings.Cut(route, " ")
		path := pattern
		for _, v := range []string{"{id}", "{name}"} {
			path = strings.ReplaceAll(path, v, "x")
		}
		t.Run(route, func(t *testing.T) {
			r := req{Method: method, Path: path + "?a=1;b=2", NoAuth: true}
			if method == "POST" || method == "PUT" || method == "PATCH" {
				r.Body = map[string]any{}
			}
			p := pxProblem(t, e.do(r), http.StatusBadRequest, "invalid_parameter")
			if p != nil && !pxNames(p, "a") {
				t.Errorf("the problem does not name %q: %v", "a", fields(p))
			}
		})
	}

	// What parses still works, and empty pairs ("&&") are not pairs.
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys?limit=5&&status=active&"})
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys?search=active%20one"})
}

// TestQueryOneParser: no code of the HTTP API or of a dialect reads a
// query string but through api.ParseQuery (api/query.go): URL.Query,
// url.ParseQuery and the form readers drop a pair that does not parse.
func TestQueryOneParser(t *testing.T) {
	forbidden := []string{".URL.Query()", "url.ParseQuery(", ".FormValue(", ".ParseForm(", ".PostFormValue("}
	var files []string
	for _, pattern := range []string{"*.go", "../api/*.go", "../compat/*.go", "../compat/*/*.go"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d source files: %v", len(files), files)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "../api/query.go" || strings.Contains(f, "compattest") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "//") {
				continue
			}
			for _, s := range forbidden {
				if strings.Contains(line, s) {
					t.Errorf("%s:%d reads the query with %s; use api.ParseQuery", f, i+1, s)
				}
			}
		}
	}
}

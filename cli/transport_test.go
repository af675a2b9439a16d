package cli_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCtNoOwnTransport keeps the command line a client of package client
// (docs/decisions.md, "Issue 10: the command line on the client"): no
// file of package cli builds or sends an HTTP request itself.
func TestCtNoOwnTransport(t *testing.T) {
	forbidden := map[string]bool{"NewRequest": true, "NewRequestWithContext": true, "Get": true, "Head": true,
		"Post": true, "PostForm": true, "DefaultClient": true, "DefaultTransport": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		local := ""
		for _, imp := range f.Imports {
			switch path, _ := strconv.Unquote(imp.Path.Value); {
			case path == "net/http" && imp.Name != nil:
				local = imp.Name.Name
			case path == "net/http":
				local = "http"
			case path == "net/http/httputil" || path == "net/http/httptrace":
				t.Errorf("%s imports %s: the command line sends requests through package client only", name, path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); ok && local != "" && pkg.Name == local && forbidden[sel.Sel.Name] {
				t.Errorf("%s: %s.%s: the command line sends requests through package client only", fset.Position(sel.Pos()), local, sel.Sel.Name)
			}
			return true
		})
	}
}

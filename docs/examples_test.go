package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// goPackage is the Go files of one package (by directory and package
// name: a directory's package and its external test package are two).
type goPackage struct {
	dir, name string
	files     []*goFile
}

type goFile struct {
	rel  string // relative to the repository's root
	test bool   // a _test.go file
	f    *ast.File
}

// TestExamplesStandAlone checks that every runnable example of every
// package (an Example function in a _test.go file) can be copied out of
// its package and compiled: it uses the exported API of keyward's packages
// and the standard library, and no identifier declared by the package's
// tests (a helper, a test server) or unexported in the package itself.
// godoc shows an example's body alone, so the reader of the documentation
// never sees such a helper. A whole-file example (a file with one example,
// other declarations and no tests) is shown with its file, so its own
// file's declarations are allowed to it.
func TestExamplesStandAlone(t *testing.T) {
	fset := token.NewFileSet()
	pkgs := map[[2]string]*goPackage{}
	for _, rel := range repoFiles(t, ".go") {
		// Mode 0 resolves identifiers within each file (ast.Ident.Obj and
		// ast.File.Unresolved), which packageRefs relies on.
		f, err := parser.ParseFile(fset, filepath.Join(root, filepath.FromSlash(rel)), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		key := [2]string{path.Dir(rel), f.Name.Name}
		p := pkgs[key]
		if p == nil {
			p = &goPackage{dir: key[0], name: key[1]}
			pkgs[key] = p
		}
		p.files = append(p.files, &goFile{rel: rel, test: strings.HasSuffix(rel, "_test.go"), f: f})
	}

	examples := 0
	for _, p := range pkgs {
		// What an example may not use: everything the package's tests
		// declare, and what the package itself declares unexported.
		declared := map[string]string{} // name → file
		for _, gf := range p.files {
			for _, name := range topLevelNames(gf.f) {
				if gf.test || !ast.IsExported(name) {
					declared[name] = gf.rel
				}
			}
		}
		for _, gf := range p.files {
			if !gf.test {
				continue
			}
			whole := wholeFileExample(gf.f)
			for _, d := range gf.f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Recv != nil || !isExample(fn.Name.Name) {
					continue
				}
				examples++
				for _, id := range packageRefs(gf.f, fn) {
					file, ok := declared[id.Name]
					if !ok || (whole && file == gf.rel) {
						continue
					}
					t.Errorf("%s: %s uses %s, declared in %s: an example must compile on its own, with exported API only",
						fset.Position(id.Pos()), fn.Name.Name, id.Name, file)
				}
			}
		}
	}
	if examples < 5 {
		t.Fatalf("found only %d examples in the repository", examples)
	}
}

// isExample reports whether a function name is a runnable example's:
// Example, or Example followed by an upper-case letter or _.
func isExample(name string) bool {
	rest, ok := strings.CutPrefix(name, "Example")
	if !ok {
		return false
	}
	if rest == "" || rest[0] == '_' {
		return true
	}
	return unicode.IsUpper(rune(rest[0]))
}

// topLevelNames returns the names a file declares at package level
// (functions, types, variables, constants; not methods).
func topLevelNames(f *ast.File) []string {
	var out []string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				out = append(out, d.Name.Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					out = append(out, s.Name.Name)
				case *ast.ValueSpec:
					for _, n := range s.Names {
						out = append(out, n.Name)
					}
				}
			}
		}
	}
	return out
}

// wholeFileExample reports whether godoc shows f whole with its example:
// one example, no test, benchmark or fuzz function, and other
// declarations.
func wholeFileExample(f *ast.File) bool {
	examples, others := 0, 0
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil {
			name := fn.Name.Name
			switch {
			case isExample(name):
				examples++
				continue
			case strings.HasPrefix(name, "Test"), strings.HasPrefix(name, "Benchmark"), strings.HasPrefix(name, "Fuzz"):
				return false
			}
		}
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.IMPORT {
			continue
		}
		others++
	}
	return examples == 1 && others > 0
}

// packageRefs returns the identifiers in fn that refer to declarations at
// the package level: those the parser resolved to the file's own scope,
// and those it could not resolve in the file (declared in another file of
// the package, or predeclared, or an import's name), each name once.
// Selectors (x.Name) and struct field keys are not references to the
// package.
func packageRefs(f *ast.File, fn *ast.FuncDecl) []*ast.Ident {
	unresolved := map[*ast.Ident]bool{}
	for _, id := range f.Unresolved {
		unresolved[id] = true
	}
	var out []*ast.Ident
	var visit func(n ast.Node) bool
	visit = func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			ast.Inspect(n.X, visit)
			return false
		case *ast.CompositeLit:
			// A bare key names a field, unless the literal is a map's or
			// an array's (where keys are expressions).
			if n.Type != nil {
				ast.Inspect(n.Type, visit)
			}
			_, isMap := n.Type.(*ast.MapType)
			_, isArray := n.Type.(*ast.ArrayType)
			for _, e := range n.Elts {
				if kv, ok := e.(*ast.KeyValueExpr); ok {
					if _, bare := kv.Key.(*ast.Ident); !bare || isMap || isArray {
						ast.Inspect(kv.Key, visit)
					}
					ast.Inspect(kv.Value, visit)
					continue
				}
				ast.Inspect(e, visit)
			}
			return false
		case *ast.Ident:
			if n.Obj == nil && unresolved[n] || n.Obj != nil && f.Scope.Lookup(n.Name) == n.Obj {
				out = append(out, n)
			}
		}
		return true
	}
	if fn.Type != nil {
		ast.Inspect(fn.Type, visit)
	}
	if fn.Body != nil {
		ast.Inspect(fn.Body, visit)
	}
	// The first use of each name, in order.
	sort.Slice(out, func(i, j int) bool { return out[i].Pos() < out[j].Pos() })
	seen := map[string]bool{}
	return slices.DeleteFunc(out, func(id *ast.Ident) bool {
		dup := seen[id.Name]
		seen[id.Name] = true
		return dup
	})
}

// TestPackageRefs checks the check: it finds helpers of the package, in the
// example's file or another, and not locals that shadow them, selectors,
// struct keys, or imported packages.
func TestPackageRefs(t *testing.T) {
	const src = `package x_test

import "fmt"

type server struct{ helper int }

func helper() int { return 1 }

func ExampleA() {
	s := server{helper: 1}     // server: the package's; helper: a key
	fmt.Println(s.helper, helper(), other, len("x"))
	{
		helper := 2 // a local shadowing the package's helper
		fmt.Println(helper)
	}
}
`
	f, err := parser.ParseFile(token.NewFileSet(), "x_test.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "ExampleA" {
			for _, id := range packageRefs(f, fn) {
				got = append(got, id.Name)
			}
		}
	}
	// other (another file's, or nowhere) and len (predeclared) are
	// unresolved in the file; the caller tells them apart by what the
	// package declares.
	if want := []string{"server", "fmt", "helper", "other", "len"}; !slices.Equal(got, want) {
		t.Errorf("packageRefs: %q, want %q", got, want)
	}
	if !wholeFileExample(f) {
		t.Error("a file with one example and a helper is a whole-file example")
	}
}

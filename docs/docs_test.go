// Package docs holds keyward's documentation (the Markdown files here and
// the README at the root) and the tests that keep it true: the repository
// stands alone (every link and every file a document names is in it, and
// nothing refers to documents kept elsewhere), the metrics docs/api.md
// lists are the metrics keyward registers, and every runnable example can
// be copied out of its package.
package docs

import (
	"bufio"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/keyward/keyward/metrics"
)

// root is the repository's root, seen from this package's directory (where
// go test runs the tests).
const root = ".."

// repoFiles returns the files of the repository below root whose names end
// in one of exts, as slash-separated paths relative to root. Hidden
// directories (.git…) are skipped, except .ci, and so are directories that
// running keyward or its benchmarks leaves behind, and the npm packages the
// SDK tests install (node_modules: other projects' documents).
func repoFiles(t *testing.T, exts ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (strings.HasPrefix(name, ".") && name != ".ci" || name == "testdata" || name == "keyward-data" || name == "bench-out" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		for _, e := range exts {
			if strings.HasSuffix(rel, e) {
				out = append(out, rel)
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no %v files under %s", exts, root)
	}
	return out
}

// markdownFiles returns every Markdown document of the repository: the
// README, docs/*.md and the READMEs of tools.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	files := repoFiles(t, ".md")
	for _, must := range []string{"README.md", "docs/api.md", "docs/decisions.md"} {
		if !slices.Contains(files, must) {
			t.Fatalf("%s is not among the Markdown files found: %q", must, files)
		}
	}
	return files
}

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// prose returns the lines of a Markdown document outside fenced code
// blocks, with their line numbers (code blocks hold shell and JSON, not
// links).
func prose(doc string) (lines []string, numbers []int) {
	fenced := false
	sc := bufio.NewScanner(strings.NewReader(doc))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			lines, numbers = append(lines, l), append(numbers, n)
		}
	}
	return lines, numbers
}

var (
	linkRE     = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	codeSpanRE = regexp.MustCompile("`([^`]+)`")
	// A code span that names a file of the repository: a relative path
	// with a directory and an extension.
	repoPathRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+\.(md|go|json|sql|txt|yaml|yml|sh|mod|sum)$`)
	schemeRE   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// inside reports whether the slash-separated path p, relative to root,
// stays inside the repository.
func inside(p string) bool {
	p = filepath.ToSlash(filepath.Clean(filepath.FromSlash(p)))
	return p != ".." && !strings.HasPrefix(p, "../") && !filepath.IsAbs(p)
}

func exists(rel string) bool {
	_, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel)))
	return err == nil
}

// slug is GitHub's anchor for a heading: lower case, punctuation other
// than - and _ dropped, spaces as -.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the anchors of a Markdown document's headings.
func anchors(doc string) map[string]bool {
	out := map[string]bool{}
	lines, _ := prose(doc)
	for _, l := range lines {
		if h := strings.TrimLeft(l, "#"); len(h) < len(l) && strings.HasPrefix(h, " ") {
			out[slug(h)] = true
		}
	}
	return out
}

// TestDocsStandAlone checks that the repository's documents stand alone:
// every relative link points at a file or directory inside the
// repository that exists (and at a heading that exists, for an anchor),
// and every repository path a document names in code (`http/openapi.json`)
// exists.
func TestDocsStandAlone(t *testing.T) {
	for _, rel := range markdownFiles(t) {
		doc := read(t, rel)
		dir := filepath.ToSlash(filepath.Dir(rel))
		lines, numbers := prose(doc)
		for i, l := range lines {
			where := rel + ":" + strconv.Itoa(numbers[i])
			for _, m := range linkRE.FindAllStringSubmatch(l, -1) {
				target := m[1]
				if schemeRE.MatchString(target) {
					continue // a web page
				}
				file, anchor, _ := strings.Cut(target, "#")
				if file == "" {
					file = rel
				} else {
					file = filepath.ToSlash(filepath.Join(dir, file))
				}
				switch {
				case strings.HasPrefix(target, "/") || !inside(file):
					t.Errorf("%s: the link %q leaves the repository", where, target)
				case !exists(file):
					t.Errorf("%s: the link %q points at %s, which is not in the repository", where, target, file)
				case anchor != "" && strings.HasSuffix(file, ".md") && !anchors(read(t, file))[anchor]:
					t.Errorf("%s: the link %q names a heading %s does not have", where, target, file)
				}
			}
			for _, m := range codeSpanRE.FindAllStringSubmatch(l, -1) {
				p := m[1]
				if !repoPathRE.MatchString(p) {
					continue
				}
				if !inside(p) || (!exists(p) && !exists(filepath.ToSlash(filepath.Join(dir, p)))) {
					t.Errorf("%s: %q is not a file of the repository", where, p)
				}
			}
		}
	}
}

// elsewhere are references to documents that are not in the repository
// (the team's specification and style guide, the vendors' pages it was
// written from): the documents, the OpenAPI description and the comments
// of the code must say what they mean instead of citing them.
var elsewhere = []string{"SPEC §", "SPEC.md", "STYLE.md", "DEVELOPERS.md", "../shared", "seed-vendor-apis", "seeds/"}

// rfcSectionRE is a section of an RFC, the one kind of "§" a document may
// cite.
var rfcSectionRE = regexp.MustCompile(`RFC \d+,? §[0-9.]+`)

// TestNoReferencesElsewhere checks that no document, source file or
// OpenAPI description cites a document kept outside the repository, and
// that no document tells its reader to stop processes by name (pkill,
// killall), which stops every keyward on the machine.
func TestNoReferencesElsewhere(t *testing.T) {
	self := "docs/docs_test.go"
	files := repoFiles(t, ".md", ".go", ".json", ".sql", ".yaml", ".yml", ".ci/run")
	if !slices.Contains(files, self) || !slices.Contains(files, "http/openapi.json") || !slices.Contains(files, ".ci/run") {
		t.Fatalf("the walk missed files it must see: %d files", len(files))
	}
	for _, rel := range files {
		if rel == self {
			continue
		}
		for n, l := range strings.Split(read(t, rel), "\n") {
			cited := false
			for _, s := range elsewhere {
				if strings.Contains(l, s) {
					t.Errorf("%s:%d cites %q, which is not in the repository: %s", rel, n+1, s, strings.TrimSpace(l))
					cited = true
				}
			}
			if !cited && strings.Contains(rfcSectionRE.ReplaceAllString(l, ""), "§") {
				t.Errorf("%s:%d cites a section (§) of a document that is not in the repository: %s", rel, n+1, strings.TrimSpace(l))
			}
			if strings.HasSuffix(rel, ".md") {
				for _, s := range []string{"pkill", "killall"} {
					if strings.Contains(l, s) {
						t.Errorf("%s:%d suggests %s, which stops every matching process on the machine: %s", rel, n+1, s, strings.TrimSpace(l))
					}
				}
			}
		}
	}
}

// TestLicense checks that the repository carries its license, the Apache
// License 2.0 in full, and that the README names it.
func TestLicense(t *testing.T) {
	if !exists("LICENSE") {
		t.Fatal("the repository has no LICENSE file")
	}
	lic := read(t, "LICENSE")
	for _, want := range []string{"Apache License", "Version 2.0, January 2004", "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
		"9. Accepting Warranty or Additional Liability.", "END OF TERMS AND CONDITIONS"} {
		if !strings.Contains(lic, want) {
			t.Errorf("LICENSE lacks %q: not the full Apache License 2.0", want)
		}
	}
	if !strings.Contains(read(t, "README.md"), "](LICENSE)") {
		t.Error("README.md does not link the LICENSE")
	}
}

var (
	metricNameRE = regexp.MustCompile(`keyward_[a-z0-9_]*[a-z0-9]`)
	metricRowRE  = regexp.MustCompile("^\\| *`(keyward_[a-z0-9_]+)(?:\\{[a-z_,]+\\})?` *\\| *(counter|gauge|histogram) *\\|")
)

// TestMetricsDocumented checks that the metrics section of docs/api.md
// lists exactly the metrics keyward registers (the Go runtime's aside),
// each with its type: a metric added to the code without a line in the
// documentation, or a documented one that no longer exists, fails.
func TestMetricsDocumented(t *testing.T) {
	// What keyward exposes: the exposition of a fresh registry.
	rec := httptest.NewRecorder()
	metrics.New().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	registered := map[string]string{} // name → type
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" && strings.HasPrefix(f[2], "keyward_") {
			registered[f[2]] = f[3]
		}
	}
	if len(registered) < 10 {
		t.Fatalf("only %d keyward metrics in the exposition:\n%s", len(registered), rec.Body)
	}

	// What docs/api.md says: the section "Health and metrics", up to the
	// next section.
	api := read(t, "docs/api.md")
	_, section, ok := strings.Cut(api, "\n## Health and metrics\n")
	if !ok {
		t.Fatal(`docs/api.md has no section "## Health and metrics"`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	documented := map[string]string{}
	for _, l := range strings.Split(section, "\n") {
		if m := metricRowRE.FindStringSubmatch(l); m != nil {
			documented[m[1]] = m[2]
			continue
		}
		for _, name := range metricNameRE.FindAllString(l, -1) {
			if _, ok := documented[name]; !ok {
				documented[name] = "" // named outside the table
			}
		}
	}
	for name, typ := range registered {
		switch got, ok := documented[name]; {
		case !ok:
			t.Errorf("docs/api.md does not list the metric %s (%s)", name, typ)
		case got == "":
			t.Errorf("docs/api.md names the metric %s outside the table of metrics (want a row `%s` | %s |)", name, name, typ)
		case got != typ:
			t.Errorf("docs/api.md gives the metric %s the type %s; it is a %s", name, got, typ)
		}
	}
	for name := range documented {
		if _, ok := registered[name]; !ok {
			t.Errorf("docs/api.md lists %s, which keyward does not register", name)
		}
	}
}

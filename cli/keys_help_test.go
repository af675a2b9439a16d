package cli_test

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// ctUpdateHelp rewrites the help golden files. Its name is specific so
// that it cannot clash with another -update flag of this test binary.
var ctUpdateHelp = flag.Bool("update-help", false, "rewrite cli/testdata/help/*.golden from the current help texts")

// ctClientCommands are the client command groups and their subcommands,
// each of which has a golden help file.
var ctClientCommands = map[string][]string{
	"keys":             {"create", "list", "get", "update", "rotate", "revoke", "delete", "verify", "secret", "import", "usage"},
	"management-keys":  {"create", "list", "get", "update", "rotate", "revoke", "delete"},
	"accounts":         {"create", "list", "get", "update", "delete"},
	"users":            {"create", "list", "get", "update", "delete"},
	"service-accounts": {"create", "list", "get", "update", "delete"},
	"roles":            {"create", "list", "get", "update", "delete"},
	"catalog":          {"get", "put-resource", "delete-resource"},
	"projects":         {"create", "list", "get", "update", "delete"},
	"audit":            {"list"},
}

// ctHelpEnv is an environment whose values must never show in a help text.
var ctHelpEnv = map[string]string{"KEYWARD_URL": "http://127.0.0.1:1", "KEYWARD_TOKEN": "kwm_x", "KEYWARD_TIMEOUT": "1s"}

// ctHelp returns the --help text of a command, never contacting a server.
func ctHelp(t *testing.T, name string) string {
	t.Helper()
	r := ctRunCLI(t, ctInvocation{env: ctHelpEnv}, append(strings.Fields(name), "--help")...)
	if r.err != nil {
		t.Fatalf("--help failed:\n%s", r)
	}
	return r.stdout
}

// TestCtHelpListsEveryCommand keeps ctClientCommands complete: every
// subcommand a group offers has a golden help file, and nothing else.
func TestCtHelpListsEveryCommand(t *testing.T) {
	avail := regexp.MustCompile(`(?m)^  (\S+) +\S`)
	for group, want := range ctClientCommands {
		t.Run(group, func(t *testing.T) {
			help := ctHelp(t, group)
			i := strings.Index(help, "Available Commands:\n")
			j := strings.Index(help, "\nFlags:")
			if i < 0 || j < i {
				t.Fatalf("%s --help lists no commands:\n%s", group, help)
			}
			var got []string
			for _, m := range avail.FindAllStringSubmatch(help[i:j], -1) {
				if m[1] != "help" && m[1] != "completion" {
					got = append(got, m[1])
				}
			}
			w := append([]string(nil), want...)
			sort.Strings(got)
			sort.Strings(w)
			if !reflect.DeepEqual(got, w) {
				t.Fatalf("%s offers %v; the help test covers %v", group, got, w)
			}
		})
	}
}

// TestCtKeysHelp checks that every client command explains itself with an
// example, and keeps the texts under review in testdata/help.
func TestCtKeysHelp(t *testing.T) {
	var names []string
	for group, subs := range ctClientCommands {
		names = append(names, group)
		for _, s := range subs {
			names = append(names, group+" "+s)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			// The server is never contacted, and the environment does not
			// change help texts.
			help := ctHelp(t, name)
			if len(help) < 200 {
				t.Fatalf("--help is too short to be useful:\n%s", help)
			}
			ex := strings.Index(help, "Examples:\n")
			if ex < 0 || !strings.Contains(help[ex:], "  keyward "+name) && !strings.Contains(help[ex:], "| keyward "+name) {
				t.Fatalf("--help has no example that runs %q:\n%s", "keyward "+name, help)
			}
			if strings.Contains(help, "kwm_x") || strings.Contains(help, "127.0.0.1:1 ") {
				t.Fatalf("--help shows values from the environment:\n%s", help)
			}
			for _, want := range []string{"--url", "--token", "--json", "--timeout", "--account-id", "KEYWARD_TOKEN"} {
				if !strings.Contains(help, want) {
					t.Fatalf("--help does not mention %s:\n%s", want, help)
				}
			}
			if !strings.Contains(name, " ") && !strings.Contains(help, "Exit status: 0 on success, 1 when the server refuses the request, 2 for\nbad usage (nothing was sent), 3 when the server cannot be reached.") {
				t.Fatalf("%s --help does not document the exit statuses:\n%s", name, help)
			}
			if name == "keys verify" && !strings.Contains(help, "Exit status: 0 when the code is VALID, 1 for any other code") {
				t.Fatalf("verify --help does not document its exit status:\n%s", help)
			}

			golden := filepath.Join("testdata", "help", strings.ReplaceAll(name, " ", "_")+".golden")
			if *ctUpdateHelp {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(help), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./cli -run TestCtKeysHelp -update-help to create it)", err)
			}
			if string(want) != help {
				t.Fatalf("keyward %s --help differs from %s (rerun with -update-help if the change is intended):\n--- got\n%s\n--- want\n%s", name, golden, help, want)
			}
		})
	}
}

// TestCtHelpGoldenFilesAreUsed fails on a golden file no command has any
// more, so a renamed command cannot leave a stale text behind.
func TestCtHelpGoldenFilesAreUsed(t *testing.T) {
	known := map[string]bool{}
	for group, subs := range ctClientCommands {
		known[group+".golden"] = true
		for _, s := range subs {
			known[group+"_"+s+".golden"] = true
		}
	}
	files, err := filepath.Glob(filepath.Join("testdata", "help", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !known[filepath.Base(f)] {
			t.Errorf("%s belongs to no command (delete it, or add the command to ctClientCommands)", f)
		}
	}
}

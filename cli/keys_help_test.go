package cli_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ctUpdateHelp rewrites the help golden files. Its name is specific so
// that it cannot clash with another -update flag of this test binary.
var ctUpdateHelp = flag.Bool("update-help", false, "rewrite cli/testdata/help/*.golden from the current help texts")

// TestCtKeysHelp checks that every keys command explains itself with an
// example, and keeps the texts under review in testdata/help.
func TestCtKeysHelp(t *testing.T) {
	for _, cmd := range []string{"", "create", "list", "get", "update", "rotate", "revoke", "delete", "verify"} {
		name := strings.TrimSpace("keys " + cmd)
		t.Run(name, func(t *testing.T) {
			args := strings.Fields(name)
			// The server is never contacted, and the environment does not
			// change help texts.
			r := ctRunCLI(t, ctInvocation{env: map[string]string{"KEYWARD_URL": "http://127.0.0.1:1", "KEYWARD_TOKEN": "kwm_x", "KEYWARD_TIMEOUT": "1s"}},
				append(args, "--help")...)
			if r.err != nil {
				t.Fatalf("--help failed:\n%s", r)
			}
			help := r.stdout
			if len(help) < 200 {
				t.Fatalf("--help is too short to be useful:\n%s", r)
			}
			ex := strings.Index(help, "Examples:\n")
			if ex < 0 || !strings.Contains(help[ex:], "  keyward "+name) && !strings.Contains(help[ex:], "| keyward "+name) {
				t.Fatalf("--help has no example that runs %q:\n%s", "keyward "+name, help)
			}
			if strings.Contains(help, "kwm_x") || strings.Contains(help, "127.0.0.1:1 ") {
				t.Fatalf("--help shows values from the environment:\n%s", help)
			}
			for _, want := range []string{"--url", "--token", "--json", "--timeout", "KEYWARD_TOKEN"} {
				if !strings.Contains(help, want) {
					t.Fatalf("--help does not mention %s:\n%s", want, help)
				}
			}
			if cmd == "verify" && !strings.Contains(help, "Exit status: 0 when the code is VALID, 1 for any other code") {
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

// Package sdktest runs the vendors' own published SDKs (from npm, exact
// versions in package-lock.json) against a real keyward server: each
// script of this directory drives one SDK through every call it has and
// asserts each answer, and each call is a subtest here. The server is
// compattest's, so KEYWARD_TEST_STORE=postgres runs them on PostgreSQL.
//
// The scripts need node and `npm ci --prefix compat/sdktest` (which .ci/run
// does). Without them the tests skip, saying so, except under CI=true,
// where they fail: CI must never pass by skipping the SDKs.
package sdktest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireNode returns the path of node once node and the npm packages
// are installed; it skips (under CI, fails) the test otherwise.
func requireNode(t *testing.T, packages ...string) string {
	t.Helper()
	unavailable := func(why string) {
		t.Helper()
		msg := why + ": install Node.js 18 or later and run `npm ci --prefix compat/sdktest` to run the SDK tests"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI must run them; .ci/run installs the packages)")
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node is not on PATH")
	}
	for _, p := range packages {
		if _, err := os.Stat(filepath.Join("node_modules", filepath.FromSlash(p), "package.json")); err != nil {
			unavailable("the npm package " + p + " is not installed")
		}
	}
	return node
}

// result is one line a script prints: one SDK call and its assertion.
type result struct {
	Call  string `json:"call"`
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

// runScript runs script with node, the server's URL and key in its
// environment (KEYWARD_URL, KEYWARD_KEY, and any "NAME=value" in env),
// and reports each call it prints as a subtest of t. The script must
// report every call in want, in any order; a call it does not report, a
// line that is not a result, or a script that exits abnormally fails t.
func runScript(t *testing.T, node, script, url, key string, want []string, env ...string) {
	t.Helper()
	// node reads the scripts and the packages, not this process: read the
	// scripts and the lock file here too, so that go test's cache knows
	// them and runs the test again when one of them changes.
	inputs, _ := filepath.Glob("*.mjs")
	for _, f := range append(inputs, "package-lock.json") {
		if _, err := os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), append([]string{"KEYWARD_URL=" + url, "KEYWARD_KEY=" + key}, env...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	seen := map[string]bool{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Call == "" {
			t.Errorf("%s printed a line that is not a call's result: %s", script, line)
			continue
		}
		if seen[r.Call] {
			t.Errorf("%s reported the call %q twice", script, r.Call)
		}
		seen[r.Call] = true
		t.Run(r.Call, func(t *testing.T) {
			if !r.OK {
				t.Error(r.Error)
			}
		})
	}
	for _, c := range want {
		if !seen[c] {
			t.Errorf("%s did not report the call %q", script, c)
		}
	}
	if ctx.Err() != nil {
		t.Errorf("%s did not finish within its time limit", script)
	}
	if runErr != nil && !t.Failed() {
		t.Errorf("%s: %v", script, runErr)
	}
	if t.Failed() && stderr.Len() > 0 {
		t.Logf("%s stderr:\n%s", script, stderr.String())
	}
}

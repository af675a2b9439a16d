package main

// Tests of how keyward ships (issue 13): the version a build reports, the
// Dockerfile's build and configuration, and the systemd unit's sandboxing.

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// shipRoot is the repository's root, where the Dockerfile and deploy/ are.
const shipRoot = "../.."

// shipNeed returns the path of the command name, or fails the test under
// CI=true and skips it elsewhere, saying how to enable it.
func shipNeed(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is needed and not on PATH (%s)", name, install)
	}
	t.Skipf("%s is not on PATH: %s to run this test", name, install)
	return ""
}

// shipRun runs bin with args and the environment env (without the
// caller's KEYWARD_* variables) and returns its stdout and exit code.
func shipRun(t *testing.T, bin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	p, code := btRun(t, btOpts{Bin: bin, Args: args, Env: env})
	return p.stdout.String(), p.stderr.String(), code
}

// TestVersionFromBuildInfo: a plain go build in a git checkout reports the
// commit it was built from and whether the tree was modified, with no
// flags. The build runs in a fresh clone of the repository's HEAD: the Go
// toolchain records nothing in a git worktree (.git is a file there), and
// the clone's state is known (clean, then with one untracked file). The
// flags turn on what GOFLAGS=-buildvcs=false here turns off, and match the
// Dockerfile's build so that its compiled packages are reused.
func TestVersionFromBuildInfo(t *testing.T) {
	git := shipNeed(t, "git", "apt-get install -y git")
	clone := filepath.Join(t.TempDir(), "keyward")
	if out, err := exec.Command(git, "clone", "--quiet", shipRoot, clone).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("git clone of the repository: %v\n%s", err, out)
		}
		t.Skipf("the repository cannot be cloned (not a git checkout?): %v\n%s", err, out)
	}
	rev, err := exec.Command(git, "-C", clone, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	commit := strings.TrimSpace(string(rev))
	bin := filepath.Join(t.TempDir(), "keyward")
	versionOf := func() string {
		t.Helper()
		build := exec.Command("go", "build", "-trimpath", "-buildvcs=true", "-o", bin, "./cmd/keyward")
		build.Dir = clone
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build -buildvcs=true in a clone: %v\n%s", err, out)
		}
		out, stderr, code := shipRun(t, bin, nil, "version")
		if code != 0 {
			t.Fatalf("keyward version exited %d:\n%s", code, stderr)
		}
		if flag, _, _ := shipRun(t, bin, nil, "--version"); flag != out {
			t.Errorf("keyward --version prints\n%s\nkeyward version prints\n%s", flag, out)
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		modified string
		change   func()
	}{
		{"clean", "false", func() {}},
		{"modified", "true", func() {
			if err := os.WriteFile(filepath.Join(clone, "untracked.txt"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.change()
			out := versionOf()
			for _, want := range []string{
				"\ncommit:   " + commit + "\n",
				"\nmodified: " + tc.modified + "\n",
				"\ntime:     ",
				"\ngo:       go",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("keyward version does not say %q:\n%s", want, out)
				}
			}
			// Go derives a pseudo-version from the commit, "+dirty" when
			// the tree was modified.
			first, _, _ := strings.Cut(out, "\n")
			re := regexp.MustCompile(`^keyward v\S+-` + commit[:12] + `$`)
			if tc.modified == "true" {
				re = regexp.MustCompile(`^keyward v\S+-` + commit[:12] + `\+dirty$`)
			}
			if !re.MatchString(first) {
				t.Errorf("the first line %q is not the version go build derives from commit %s (%s)", first, commit, re)
			}
		})
	}
}

// dockerInstr is one instruction of a Dockerfile: its keyword (upper
// case) and the rest of its line, continuation lines joined.
type dockerInstr struct{ cmd, args string }

func parseDockerfile(t *testing.T, path string) []dockerInstr {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		out  []dockerInstr
		line string
	)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if line == "" && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if strings.HasPrefix(l, "#") {
			continue // a comment inside a continued instruction
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			line += s + " "
			continue
		}
		line += l
		cmd, args, _ := strings.Cut(line, " ")
		out = append(out, dockerInstr{strings.ToUpper(cmd), strings.TrimSpace(args)})
		line = ""
	}
	return out
}

// TestDockerfileBuild runs the Dockerfile's go build line as the build
// stage would (its ARGs in the environment, from the repository root)
// and checks the binary: static, reporting the version and commit passed
// in, and serving with the image's ENV with the image's HEALTHCHECK
// passing. A container engine is not needed: the build checks what it can
// without one, and the image's configuration is checked as text.
func TestDockerfileBuild(t *testing.T) {
	shipNeed(t, "sh", "apt-get install -y dash")
	instrs := parseDockerfile(t, filepath.Join(shipRoot, "Dockerfile"))
	var (
		froms, users, volumes, exposes []string
		buildLine, healthcheck, entry  string
		cmdArgs                        []string
		env                            = map[string]string{}
	)
	for _, in := range instrs {
		switch in.cmd {
		case "FROM":
			froms = append(froms, in.args)
		case "USER":
			users = append(users, in.args)
		case "VOLUME":
			volumes = append(volumes, in.args)
		case "EXPOSE":
			exposes = append(exposes, in.args)
		case "HEALTHCHECK":
			healthcheck = in.args
		case "ENTRYPOINT":
			entry = in.args
		case "CMD":
			if err := json.Unmarshal([]byte(in.args), &cmdArgs); err != nil {
				t.Errorf("CMD %s is not in exec form: %v", in.args, err)
			}
		case "ENV":
			for _, kv := range strings.Fields(in.args) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("ENV %s: write KEY=VALUE", in.args)
				}
				env[k] = v
			}
		case "RUN":
			if strings.Contains(in.args, "go build") {
				buildLine = in.args
			}
		}
	}

	// The image as text: what no build here can show.
	if len(froms) < 2 || froms[len(froms)-1] != "scratch" {
		t.Errorf("FROM %v: want a build stage and a final stage FROM scratch", froms)
	}
	if len(users) != 1 || users[0] != "65532:65532" {
		t.Errorf("USER %v: want the non-root 65532:65532 (the uid of the /etc/passwd entry), numeric so runAsNonRoot can check it", users)
	}
	if len(volumes) != 1 || volumes[0] != "/var/lib/keyward" || env["KEYWARD_DATA_DIR"] != "/var/lib/keyward" {
		t.Errorf("VOLUME %v, KEYWARD_DATA_DIR %q: want the data directory /var/lib/keyward as the volume", volumes, env["KEYWARD_DATA_DIR"])
	}
	if kf := env["KEYWARD_BOOTSTRAP_KEY_FILE"]; filepath.Dir(kf) != "/var/lib/keyward" {
		t.Errorf("KEYWARD_BOOTSTRAP_KEY_FILE %q: want the bootstrap key in the volume, out of the container's log", kf)
	}
	if len(exposes) != 1 || exposes[0] != "8420" || env["KEYWARD_ADDR"] != "0.0.0.0:8420" {
		t.Errorf("EXPOSE %v, KEYWARD_ADDR %q: want 8420 on every interface", exposes, env["KEYWARD_ADDR"])
	}
	var entryArgs []string
	if err := json.Unmarshal([]byte(entry), &entryArgs); err != nil || len(entryArgs) != 1 {
		t.Fatalf("ENTRYPOINT %s: want the binary alone, in exec form", entry)
	}
	if len(cmdArgs) != 1 || cmdArgs[0] != "serve" {
		t.Errorf("CMD %v: want [serve]", cmdArgs)
	}
	_, hcExec, ok := strings.Cut(healthcheck, "CMD ")
	var hcArgs []string
	if !ok || json.Unmarshal([]byte(hcExec), &hcArgs) != nil || len(hcArgs) < 2 || hcArgs[0] != entryArgs[0] || hcArgs[1] != "healthcheck" {
		t.Fatalf("HEALTHCHECK %s: want CMD [%q, \"healthcheck\", …] in exec form (the image has no shell or curl)", healthcheck, entryArgs[0])
	}
	if buildLine == "" {
		t.Fatal("no RUN … go build line in the Dockerfile")
	}

	// The build line, as the build stage runs it: RUN's --mount options
	// are the engine's, and /out is a directory of ours.
	words := strings.Fields(buildLine)
	for len(words) > 0 && strings.HasPrefix(words[0], "--") {
		words = words[1:]
	}
	script := strings.Join(words, " ")
	for _, want := range []string{"CGO_ENABLED=0 ", "-X main.version=${VERSION}", "-X main.commit=${COMMIT}", " -o /out/keyward ", "./cmd/keyward"} {
		if !strings.Contains(script, want) {
			t.Fatalf("the build line %q lacks %q", script, want)
		}
	}
	out := t.TempDir()
	script = strings.ReplaceAll(script, " /out/", " "+out+"/")
	const version, commit = "v1.2.3-docker.test", "0123456789abcdef0123456789abcdef01234567"
	build := exec.Command("sh", "-c", script)
	build.Dir = shipRoot
	build.Env = append(os.Environ(), "VERSION="+version, "COMMIT="+commit)
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build line %q: %v\n%s", script, err, b)
	}
	bin := filepath.Join(out, "keyward")

	t.Run("static", func(t *testing.T) {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatalf("the binary is not ELF: %v", err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("the binary has a %v program header: it is linked dynamically and will not run FROM scratch", p.Type)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("the binary needs shared libraries %v", libs)
		}
	})

	t.Run("version", func(t *testing.T) {
		stdout, stderr, code := shipRun(t, bin, nil, "version")
		if code != 0 {
			t.Fatalf("keyward version exited %d:\n%s", code, stderr)
		}
		for _, want := range []string{"keyward " + version + "\n", "\ncommit:   " + commit + "\n", "\nmodified: unknown\n"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("keyward version does not say %q:\n%s", want, stdout)
			}
		}
		if flag, _, _ := shipRun(t, bin, nil, "--version"); flag != stdout {
			t.Errorf("keyward --version prints\n%s\nkeyward version prints\n%s", flag, stdout)
		}
	})

	t.Run("serve with the image's ENV, and its HEALTHCHECK", func(t *testing.T) {
		// The image's environment, with the volume in a temp dir and a
		// free port for 8420.
		volume := filepath.Join(t.TempDir(), "var/lib/keyward")
		port := btFreePort(t)
		var childEnv []string
		for k, v := range env {
			v = strings.Replace(v, "/var/lib/keyward", volume, 1)
			if k == "KEYWARD_ADDR" {
				v = strings.Replace(v, ":8420", ":"+port, 1)
			}
			childEnv = append(childEnv, k+"="+v)
		}
		_, _, code := shipRun(t, bin, childEnv, hcArgs[1:]...)
		if code != 1 {
			t.Errorf("the HEALTHCHECK before the server runs exited %d, want 1 (unhealthy)", code)
		}
		srv := btStart(t, btOpts{Bin: bin, Args: cmdArgs, Env: childEnv})
		line := srv.waitLine(30*time.Second, func(l string) bool { return btListenAddr(l) != "" })
		if got := btListenAddr(line); got != "0.0.0.0:"+port && got != "[::]:"+port {
			t.Errorf("keyward listens on %s, want every interface on port %s", got, port)
		}
		srv.ready("127.0.0.1:" + port)
		stdout, stderr, code := shipRun(t, bin, childEnv, hcArgs[1:]...)
		if code != 0 || !strings.Contains(stdout, "ready") {
			t.Errorf("the HEALTHCHECK %v exited %d:\n%s%s", hcArgs, code, stdout, stderr)
		}
		keyFile := strings.Replace(env["KEYWARD_BOOTSTRAP_KEY_FILE"], "/var/lib/keyward", volume, 1)
		btMode(t, keyFile, 0o600)
		b, _ := os.ReadFile(keyFile)
		if !btOperatorRE.Match(b) {
			t.Errorf("the bootstrap key file holds %q, want the operator key", b)
		}
		if btOperatorRE.MatchString(srv.stderr.String()) {
			t.Errorf("the operator key is in the log (docker logs):\n%s", srv.stderr.String())
		}
		srv.must(200, "GET", "/v1/accounts", strings.TrimSpace(string(b)), nil)
		srv.stop()
		if _, _, code := shipRun(t, bin, childEnv, hcArgs[1:]...); code != 1 {
			t.Errorf("the HEALTHCHECK after the server stopped exited %d, want 1", code)
		}
	})
}

// btFreePort returns a TCP port that was free on loopback a moment ago.
func btFreePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// parseUnit returns the directives of a systemd unit file by section, each
// with its values in order (a directive may repeat).
func parseUnit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	units := map[string]map[string][]string{}
	section := ""
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			section = l[1 : len(l)-1]
			units[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || section == "" || strings.HasSuffix(l, "\\") {
				t.Fatalf("%s:%d: %q is not a directive of a section", path, i+1, l)
			}
			units[section][k] = append(units[section][k], v)
		}
	}
	return units
}

// TestSystemdUnit keeps deploy/keyward.service sandboxed: nobody drops a
// directive silently. With systemd-analyze it also verifies the unit and
// requires the exposure score of its security review to stay low.
func TestSystemdUnit(t *testing.T) {
	unitPath := filepath.Join(shipRoot, "deploy", "keyward.service")
	svc := parseUnit(t, unitPath)["Service"]
	if svc == nil {
		t.Fatal("no [Service] section")
	}
	for _, d := range []struct{ key, want string }{
		{"User", "keyward"},
		{"StateDirectory", "keyward"},
		{"StateDirectoryMode", "0700"},
		{"UMask", "0077"},
		{"EnvironmentFile", "-/etc/keyward/keyward.env"},
		{"ExecStart", "/usr/local/bin/keyward serve"},
		{"KillSignal", "SIGTERM"},
		{"NoNewPrivileges", "yes"},
		{"CapabilityBoundingSet", ""},
		{"AmbientCapabilities", ""},
		{"ProtectSystem", "strict"},
		{"ProtectHome", "yes"},
		{"PrivateTmp", "yes"},
		{"PrivateDevices", "yes"},
		{"PrivateUsers", "yes"},
		{"ProtectKernelTunables", "yes"},
		{"ProtectKernelModules", "yes"},
		{"ProtectKernelLogs", "yes"},
		{"ProtectControlGroups", "yes"},
		{"ProtectClock", "yes"},
		{"ProtectHostname", "yes"},
		{"ProtectProc", "invisible"},
		{"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
		{"RestrictNamespaces", "yes"},
		{"RestrictRealtime", "yes"},
		{"RestrictSUIDSGID", "yes"},
		{"LockPersonality", "yes"},
		{"MemoryDenyWriteExecute", "yes"},
		{"SystemCallArchitectures", "native"},
		{"SystemCallFilter", "@system-service"},
		{"SystemCallFilter", "~@privileged @resources"},
		{"PrivateMounts", "yes"},
		{"PrivateIPC", "yes"},
		{"RemoveIPC", "yes"},
		{"LimitNOFILE", "65536"},
		{"SystemCallErrorNumber", "EPERM"},
	} {
		if vs := svc[d.key]; len(vs) == 0 || !slices.Contains(vs, d.want) {
			t.Errorf("%s=%s is missing from [Service] (has %q)", d.key, d.want, vs)
		}
	}

	env := map[string]string{}
	for _, e := range svc["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	if want := "/var/lib/" + svc["StateDirectory"][0]; env["KEYWARD_DATA_DIR"] != want || filepath.Dir(env["KEYWARD_BOOTSTRAP_KEY_FILE"]) != want {
		t.Errorf("KEYWARD_DATA_DIR %q and KEYWARD_BOOTSTRAP_KEY_FILE %q: want both in the state directory %s, the only place the service may write",
			env["KEYWARD_DATA_DIR"], env["KEYWARD_BOOTSTRAP_KEY_FILE"], want)
	}
	// A graceful stop takes up to the shutdown timeout plus 10s of writing
	// pending usage; systemd must not SIGKILL before.
	shutdown, err := time.ParseDuration(env["KEYWARD_SHUTDOWN_TIMEOUT"])
	if err != nil {
		t.Fatalf("Environment=KEYWARD_SHUTDOWN_TIMEOUT=%q: %v", env["KEYWARD_SHUTDOWN_TIMEOUT"], err)
	}
	stop, err := time.ParseDuration(strings.Join(svc["TimeoutStopSec"], ""))
	if err != nil || stop <= shutdown+10*time.Second {
		t.Errorf("TimeoutStopSec=%v: want more than KEYWARD_SHUTDOWN_TIMEOUT (%s) + 10s", svc["TimeoutStopSec"], shutdown)
	}

	// Every KEYWARD_* variable the unit and its environment file name is a
	// flag of keyward serve (or the master key, which has no flag).
	help, stderr, code := shipRun(t, btBinary, nil, "serve", "--help")
	if code != 0 {
		t.Fatalf("keyward serve --help exited %d:\n%s", code, stderr)
	}
	envFile, err := os.ReadFile(filepath.Join(shipRoot, "deploy", "keyward.env"))
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`(?m)^#?(KEYWARD_[A-Z_]+)=`).FindAllStringSubmatch(string(envFile), -1)
	for k := range env {
		names = append(names, []string{"", k})
	}
	if len(names) < 8 {
		t.Fatalf("found only %d KEYWARD_* variables", len(names))
	}
	for _, m := range names {
		if m[1] == "KEYWARD_MASTER_KEY" {
			continue
		}
		flag := "--" + strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(m[1], "KEYWARD_"), "_", "-")) + " "
		if !strings.Contains(help, flag) {
			t.Errorf("%s names no flag of keyward serve (%s)", m[1], flag)
		}
	}

	analyze := shipNeed(t, "systemd-analyze", "apt-get install -y systemd")
	// verify wants the ExecStart binary to exist: point it at ours.
	dir := t.TempDir()
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(dir, "keyward.service")
	if err := os.WriteFile(local, bytes.ReplaceAll(unit, []byte("/usr/local/bin/keyward"), []byte(btBinary)), 0o644); err != nil {
		t.Fatal(err)
	}
	verify := exec.Command(analyze, "verify", local)
	verify.Dir = dir
	if out, err := verify.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	security := exec.Command(analyze, "security", "--offline=true", "--no-pager", local)
	security.Dir = dir
	out, err := security.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security --offline=true: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for keyward\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security printed no exposure level:\n%s", out)
	}
	// 1.1 when written (docs/operations.md); 10 is fully exposed.
	if score, _ := strconv.ParseFloat(string(m[1]), 64); score > 1.5 {
		t.Errorf("systemd-analyze security rates the unit %s, want at most 1.5:\n%s", m[1], out)
	}
}

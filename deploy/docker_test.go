// Package deploy_test builds the repository's Dockerfile with a real
// container engine and runs the image as docs/operations.md says to
// (issue 13, "ship like a service"). cmd/keyward's TestDockerfileBuild
// checks the build line and the configuration without an engine; this
// test checks the image itself: what COPY made of the files, the user, the
// volume, the health check as the engine runs it, a graceful stop.
package deploy_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Environment of the test: the engine's client (one whose build has
// BuildKit: the Dockerfile's RUN --mount needs it) and the image of the
// build stage (the Dockerfile's GO_IMAGE, for engines that cannot pull
// golang:1.26-bookworm). .ci/run sets both.
const (
	envDocker  = "KEYWARD_TEST_DOCKER"
	envGoImage = "KEYWARD_TEST_DOCKER_GO_IMAGE"
)

var operatorRE = regexp.MustCompile(`kwm_[0-9A-Za-z]+`)

// dockerCLI runs the engine's client.
type dockerCLI struct {
	t   *testing.T
	bin string
}

func (d dockerCLI) run(args ...string) (string, error) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (d dockerCLI) must(args ...string) string {
	d.t.Helper()
	out, err := d.run(args...)
	if err != nil {
		d.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

func TestDockerImage(t *testing.T) {
	bin := os.Getenv(envDocker)
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must build and run the image (.ci/run sets it)", envDocker)
		}
		t.Skipf("the image test needs a container engine: set %s=/usr/bin/docker (a client with BuildKit) and, where golang:1.26-bookworm cannot be pulled, %s=<an image with Go 1.26 and a shell>", envDocker, envGoImage)
	}
	d := dockerCLI{t: t, bin: bin}
	if out, err := d.run("info", "--format", "{{.ServerVersion}}"); err != nil {
		t.Fatalf("the container engine does not answer (%s=%s): %v\n%s", envDocker, bin, err, out)
	}
	id := randomHex(t)
	tag := "keyward-test:" + id
	const version, commit = "v0.0.0-imagetest", "89abcdef0123456789abcdef0123456789abcdef"
	args := []string{"build", "--network", "host", "--build-arg", "VERSION=" + version, "--build-arg", "COMMIT=" + commit, "-t", tag}
	if img := os.Getenv(envGoImage); img != "" {
		args = append(args, "--build-arg", "GO_IMAGE="+img)
	}
	start := time.Now()
	d.must(append(args, "../")...)
	t.Logf("image built in %s", time.Since(start).Round(time.Second))
	t.Cleanup(func() { d.run("rmi", "-f", tag) })

	t.Run("files", func(t *testing.T) {
		files := imageFiles(t, d, tag)
		for name, want := range map[string]struct {
			mode     int64
			uid, gid int
		}{
			"var/lib/keyward/":      {0o700, 65532, 65532}, // the volume's first contents
			"var/lib/":              {0o755, 0, 0},
			"tmp/":                  {0o1777, 0, 0},
			"usr/local/bin/keyward": {0o755, 0, 0},
		} {
			h, ok := files[name]
			if !ok {
				t.Errorf("the image has no %s", name)
				continue
			}
			if h.Mode&0o7777 != want.mode || h.Uid != want.uid || h.Gid != want.gid {
				t.Errorf("%s: mode %o, owner %d:%d; want %o, %d:%d", name, h.Mode&0o7777, h.Uid, h.Gid, want.mode, want.uid, want.gid)
			}
		}
		for name := range files {
			if strings.HasPrefix(name, "bin/") || strings.HasPrefix(name, "usr/bin/") || strings.HasPrefix(name, "sbin/") {
				t.Errorf("the image has %s: it should hold the binary and nothing to run beside it", name)
			}
		}
		var cfg struct {
			User        string
			Volumes     map[string]any
			Healthcheck struct{ Test []string }
		}
		if err := json.Unmarshal([]byte(d.must("image", "inspect", "--format", "{{json .Config}}", tag)), &cfg); err != nil {
			t.Fatal(err)
		}
		if _, ok := cfg.Volumes["/var/lib/keyward"]; cfg.User != "65532:65532" || !ok || len(cfg.Healthcheck.Test) < 3 || cfg.Healthcheck.Test[0] != "CMD" {
			t.Errorf("image config: user %q, volumes %v, health check %q", cfg.User, cfg.Volumes, cfg.Healthcheck.Test)
		}
		if out := d.must("run", "--rm", "--network", "none", tag, "version"); !strings.Contains(out, "keyward "+version) || !strings.Contains(out, commit) {
			t.Errorf("keyward version in the image:\n%s", out)
		}
	})

	t.Run("run, stop, start", func(t *testing.T) {
		// The run line of docs/operations.md, on the host's network (the
		// engine may have no bridge) with a free port, and a health check
		// every second so the engine's verdict comes quickly.
		volume, name := "keyward-test-"+id, "keyward-test-"+id
		d.must("volume", "create", volume)
		t.Cleanup(func() { d.run("volume", "rm", "-f", volume) })
		port := freePort(t)
		base := "http://127.0.0.1:" + port
		d.must("run", "-d", "--name", name, "--network", "host", "-e", "KEYWARD_ADDR=127.0.0.1:"+port,
			"-v", volume+":/var/lib/keyward", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
			"--security-opt", "no-new-privileges", "--stop-timeout", "45", "--health-interval", "1s", tag)
		t.Cleanup(func() {
			if t.Failed() {
				out, _ := d.run("logs", name)
				t.Logf("docker logs %s:\n%s", name, out)
			}
			d.run("rm", "-f", name)
		})
		waitReady(t, base)
		if out, err := d.run("exec", name, "/usr/local/bin/keyward", "healthcheck"); err != nil || !strings.Contains(out, "ready") {
			t.Errorf("keyward healthcheck in the container: %v\n%s", err, out)
		}
		waitFor(t, 30*time.Second, "the engine's health status healthy", func() bool {
			out, _ := d.run("inspect", "--format", "{{.State.Health.Status}}", name)
			return strings.TrimSpace(out) == "healthy"
		})
		if got := d.must("exec", name, "/usr/local/bin/keyward", "version"); !strings.Contains(got, version) {
			t.Errorf("version in the running container: %s", got)
		}

		// The operator key is in the volume, not in the log.
		archive, err := d.run("cp", name+":/var/lib/keyward/operator.key", "-")
		if err != nil {
			t.Fatalf("docker cp operator.key: %v\n%s", err, archive)
		}
		keyFile := tarFile(t, archive, "operator.key")
		op := strings.TrimSpace(string(keyFile.body))
		if !operatorRE.MatchString(op) || keyFile.hdr.Mode&0o777 != 0o600 || keyFile.hdr.Uid != 65532 {
			t.Fatalf("operator.key: %q, mode %o, uid %d", op, keyFile.hdr.Mode&0o777, keyFile.hdr.Uid)
		}
		var created struct{ ID, Secret string }
		call(t, "POST", base+"/v1/keys", op, `{"name":"made in the container"}`, http.StatusCreated, &created)
		if created.ID == "" || created.Secret == "" {
			t.Fatalf("POST /v1/keys answered %+v", created)
		}
		logs := d.must("logs", name)
		if strings.Contains(logs, op) || strings.Contains(logs, created.Secret) {
			t.Errorf("a key is in docker logs:\n%s", logs)
		}

		// docker stop: SIGTERM, a graceful exit; the data stays in the volume.
		d.must("stop", name)
		if code := d.must("inspect", "--format", "{{.State.ExitCode}}", name); code != "0" {
			t.Errorf("after docker stop: exit code %s, want 0 (a graceful stop)", code)
		}
		d.must("start", name)
		waitReady(t, base)
		var got struct{ ID, Name string }
		call(t, "GET", base+"/v1/keys/"+created.ID, op, "", http.StatusOK, &got)
		if got.Name != "made in the container" {
			t.Errorf("after a restart the key is %+v", got)
		}
	})
}

func randomHex(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// imageFiles lists the image's file system: docker create, then export.
func imageFiles(t *testing.T, d dockerCLI, tag string) map[string]*tar.Header {
	t.Helper()
	id := d.must("create", tag)
	defer d.run("rm", id)
	out, err := d.run("export", id)
	if err != nil {
		t.Fatalf("docker export: %v", err)
	}
	files := map[string]*tar.Header{}
	r := tar.NewReader(strings.NewReader(out))
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("docker export: %v", err)
		}
		files[strings.TrimPrefix(h.Name, "./")] = h
	}
}

type tarEntry struct {
	hdr  *tar.Header
	body []byte
}

// tarFile returns the file name from a tar archive (docker cp … -).
func tarFile(t *testing.T, archive, name string) tarEntry {
	t.Helper()
	r := tar.NewReader(strings.NewReader(archive))
	for {
		h, err := r.Next()
		if err != nil {
			t.Fatalf("no %s in the archive: %v", name, err)
		}
		if h.Name == name {
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			return tarEntry{h, b}
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(200 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	waitFor(t, 60*time.Second, base+"/readyz 200", func() bool {
		resp, err := c.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// call sends a request with the management key and decodes the answer.
func call(t *testing.T, method, url, key, body string, want int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, resp.StatusCode, b, want)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(fmt.Errorf("%s %s: %w: %s", method, url, err, b))
	}
}

package main

// Tests of the real keyward binary: TestMain builds it once, every test runs
// it as a child process on loopback with its data in a temp dir, and talks
// to it over HTTP (defaults, bootstrap, KEYWARD_* variables,
// durability under kill -9, graceful shutdown, logs without secrets,
// migrate and help).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/redis/redistest"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/sqlstore"
)

// btBinary is the path of the keyward binary TestMain built.
var btBinary string

// btDefaultAddr is the address keyward serve listens on without flags.
const btDefaultAddr = "127.0.0.1:8420"

func TestMain(m *testing.M) { os.Exit(btMain(m)) }

func btMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "keyward-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "the go tool must be on PATH to build the binary under test:", err)
		return 1
	}
	bin := filepath.Join(dir, "keyward")
	args := []string{"build", "-o", bin}
	if btRaceEnabled {
		// The child runs under the race detector too: the concurrent
		// tests then also check the real server for data races.
		args = append(args, "-race")
	}
	build := exec.Command(goTool, append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building keyward:", err)
		return 1
	}
	btBinary = bin
	return m.Run()
}

// btLog collects a child's output and wakes waiters on every write.
type btLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newBTLog() *btLog { return &btLog{changed: make(chan struct{})} }

func (l *btLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *btLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// snapshot returns the content and a channel closed at the next write.
func (l *btLog) snapshot() (string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String(), l.changed
}

// btOpts describe one run of the binary.
type btOpts struct {
	Args []string
	Env  []string // KEYWARD_* variables of the caller's environment are dropped first
	Dir  string   // working directory; a fresh temp dir if empty
	Bin  string   // the binary to run; btBinary if empty
}

// btProc is a running (or finished) keyward process.
type btProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *btLog
	stderr *btLog
	exited chan struct{}
	Addr   string // host:port it listens on, once ready
	URL    string
	client *http.Client
}

// btEnv returns the environment of a child: this process's, without any
// KEYWARD_* variable, plus extra.
func btEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYWARD_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// btStart starts the binary without waiting for anything. The process is
// killed at the end of the test if it still runs, and the test fails if
// the race detector reported a race in it.
func btStart(t *testing.T, o btOpts) *btProc {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	bin := o.Bin
	if bin == "" {
		bin = btBinary
	}
	cmd := exec.Command(bin, o.Args...)
	cmd.Dir = o.Dir
	cmd.Env = btEnv(o.Env...)
	p := &btProc{t: t, cmd: cmd, stdout: newBTLog(), stderr: newBTLog(), exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start keyward %v: %v", o.Args, err)
	}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		if p.client != nil {
			p.client.CloseIdleConnections()
		}
		if strings.Contains(p.stderr.String(), "DATA RACE") {
			t.Errorf("the race detector found a data race in keyward %v:\n%s", o.Args, p.stderr.String())
		}
		if t.Failed() {
			t.Logf("stderr of keyward %v:\n%s", o.Args, p.stderr.String())
		}
	})
	return p
}

// btServe starts keyward with args and waits until it listens and answers
// GET /healthz.
func btServe(t *testing.T, o btOpts) *btProc {
	t.Helper()
	p := btStart(t, o)
	line := p.waitLine(15*time.Second, func(l string) bool { return btListenAddr(l) != "" })
	p.ready(btListenAddr(line))
	return p
}

// ready polls GET /healthz on addr until it answers 200.
func (p *btProc) ready(addr string) {
	p.t.Helper()
	p.Addr = addr
	p.URL = "http://" + addr
	p.client = &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := p.client.Get(p.URL + "/healthz")
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			p.t.Fatalf("keyward exited before it was ready (exit code %d):\n%s", p.cmd.ProcessState.ExitCode(), p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("keyward on %s did not answer GET /healthz with 200 within 15s (last error: %v)", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var (
	btTextListen = regexp.MustCompile(`msg="keyward listening" addr=(\S+)`)
	// btOperatorRE matches operator (management) tokens: kwm_ and base62.
	btOperatorRE = regexp.MustCompile(`kwm_[0-9A-Za-z]+`)
)

// btListenAddr returns the address of a "keyward listening" log line (text
// or JSON), or "".
func btListenAddr(line string) string {
	if m := btTextListen.FindStringSubmatch(line); m != nil {
		return m[1]
	}
	var j struct {
		Msg  string `json:"msg"`
		Addr string `json:"addr"`
	}
	if json.Unmarshal([]byte(line), &j) == nil && j.Msg == "keyward listening" {
		return j.Addr
	}
	return ""
}

// waitLine waits until a complete stderr line satisfies match and returns
// it; it fails the test if the process exits first or the time runs out.
func (p *btProc) waitLine(timeout time.Duration, match func(string) bool) string {
	p.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s, changed := p.stderr.snapshot()
		lines := strings.Split(s, "\n")
		for _, l := range lines[:len(lines)-1] { // the last element is an unfinished line
			if match(l) {
				return l
			}
		}
		select {
		case <-changed:
		case <-p.exited:
			// Output is complete once Wait returned: one last look.
			for _, l := range strings.Split(p.stderr.String(), "\n") {
				if match(l) {
					return l
				}
			}
			p.t.Fatalf("keyward exited (code %d) before the expected log line:\n%s", p.cmd.ProcessState.ExitCode(), p.stderr.String())
		case <-deadline.C:
			p.t.Fatalf("expected log line not seen within %v:\n%s", timeout, p.stderr.String())
		}
	}
}

// wait waits for the process to exit and returns its exit code (-1 when a
// signal killed it).
func (p *btProc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		p.t.Fatalf("keyward %v did not exit within %v", p.cmd.Args[1:], timeout)
		return 0
	}
}

func (p *btProc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("send %v: %v", sig, err)
	}
}

// stop sends SIGTERM and requires a clean exit (code 0).
func (p *btProc) stop() {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		p.t.Fatalf("after SIGTERM keyward exited with code %d, want 0:\n%s", code, p.stderr.String())
	}
}

// btErrorSays fails unless stderr holds keyward's error message, naming
// every one of mention and showing none of hide (secret material, or what
// the message should not echo).
func btErrorSays(t *testing.T, stderr string, mention, hide []string) {
	t.Helper()
	if !strings.Contains(stderr, "keyward:") {
		t.Errorf("no error message on stderr:\n%s", stderr)
	}
	for _, m := range mention {
		if !strings.Contains(stderr, m) {
			t.Errorf("the error does not mention %s:\n%s", m, stderr)
		}
	}
	for _, h := range hide {
		if strings.Contains(stderr, h) {
			t.Errorf("the error shows %q:\n%s", h, stderr)
		}
	}
}

// btResp is a response read in full.
type btResp struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends a request with token as Bearer (none if empty) and body
// JSON-encoded (none if nil). It returns transport errors instead of
// failing, so goroutines can use it.
func (p *btProc) do(method, path, token string, body any) (*btResp, error) {
	return btDoHeader(p, method, path, token, body, nil)
}

// must sends a request and fails the test unless the status is want; it
// returns the JSON body (nil for an empty one).
func (p *btProc) must(want int, method, path, token string, body any) map[string]any {
	p.t.Helper()
	return btMustHeader(p.t, p, want, method, path, token, body, nil)
}

// btDoHeader is btProc.do with extra request headers.
func btDoHeader(p *btProc, method, path, token string, body any, hdr map[string]string) (*btResp, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.URL+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &btResp{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

// btMustHeader is btDoHeader failing the test unless the status is want.
func btMustHeader(t *testing.T, p *btProc, want int, method, path, token string, body any, hdr map[string]string) map[string]any {
	t.Helper()
	res, err := btDoHeader(p, method, path, token, body, hdr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if res.Status != want {
		t.Fatalf("%s %s: status %d, want %d\n%s", method, path, res.Status, want, res.Body)
	}
	var m map[string]any
	if len(res.Body) > 0 {
		if err := json.Unmarshal(res.Body, &m); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, res.Body)
		}
	}
	return m
}

// listAll reads every page of a list route (limit 200).
func (p *btProc) listAll(path, token string) []map[string]any {
	p.t.Helper()
	var out []map[string]any
	after := ""
	for {
		q := path + "?limit=200"
		if after != "" {
			q += "&starting_after=" + after
		}
		res, err := p.do("GET", q, token, nil)
		if err != nil || res.Status != http.StatusOK {
			p.t.Fatalf("GET %s: %v %v", q, err, res)
		}
		var page struct {
			Data    []map[string]any `json:"data"`
			HasMore bool             `json:"has_more"`
		}
		if err := json.Unmarshal(res.Body, &page); err != nil {
			p.t.Fatalf("GET %s: %v\n%s", q, err, res.Body)
		}
		out = append(out, page.Data...)
		if !page.HasMore || len(page.Data) == 0 {
			return out
		}
		after = page.Data[len(page.Data)-1]["id"].(string)
	}
}

// verify verifies secret with the management token and returns the result.
func (p *btProc) verify(token, secret string) map[string]any {
	p.t.Helper()
	return p.must(http.StatusOK, "POST", "/v1/keys/verify", token, map[string]any{"key": secret})
}

// operatorToken returns the one operator key printed on stderr at bootstrap.
func (p *btProc) operatorToken() string {
	p.t.Helper()
	// The server listens before it bootstraps (a start that cannot serve
	// creates nothing), so the key may follow the first answer by a moment.
	p.waitLine(10*time.Second, func(l string) bool { return btOperatorRE.MatchString(l) })
	toks := btOperatorRE.FindAllString(p.stderr.String(), -1)
	if len(toks) != 1 {
		p.t.Fatalf("stderr shows %d operator keys (kwm_…), want exactly 1:\n%s", len(toks), p.stderr.String())
	}
	return toks[0]
}

// btServeArgs returns the arguments of keyward serve on a free loopback
// port with the given data directory.
func btServeArgs(dataDir string, extra ...string) []string {
	return append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, extra...)
}

// btMode fails unless path exists with the given permission bits.
func btMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", path, got, want)
	}
}

// btFreeDefaultPort waits (up to 10s, in case another test of this machine
// holds it briefly) until 127.0.0.1:8420 can be bound, and fails the test
// with an explanation if it stays busy.
func btFreeDefaultPort(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", btDefaultAddr)
		if err == nil {
			ln.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is in use by another process (%v): this test checks that keyward serve with no flags listens "+
				"on that default address, so it needs the port free; stop whatever listens there and run it again", btDefaultAddr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServeDefaults runs keyward serve with no flag and no KEYWARD_*
// variable: 127.0.0.1:8420, ./keyward-data/keyward.db, the
// operator key printed once on stderr.
func TestServeDefaults(t *testing.T) {
	btFreeDefaultPort(t)
	work := t.TempDir()
	p := btServe(t, btOpts{Dir: work, Args: []string{"serve"}})
	if p.Addr != btDefaultAddr {
		t.Fatalf("keyward serve listens on %s, want %s", p.Addr, btDefaultAddr)
	}
	dataDir := filepath.Join(work, "keyward-data")
	btMode(t, dataDir, 0o700)
	btMode(t, filepath.Join(dataDir, "keyward.db"), 0o600)
	for _, side := range []string{"-wal", "-shm"} { // they hold data too
		if _, err := os.Stat(filepath.Join(dataDir, "keyward.db"+side)); err == nil {
			btMode(t, filepath.Join(dataDir, "keyward.db"+side), 0o600)
		}
	}
	op := p.operatorToken()
	if strings.Contains(p.stdout.String(), op) {
		t.Errorf("the operator key went to stdout; it belongs on stderr")
	}
	p.must(http.StatusOK, "GET", "/v1/keys", op, nil)
	p.stop()

	btFreeDefaultPort(t)
	p2 := btServe(t, btOpts{Dir: work, Args: []string{"serve"}})
	if toks := btOperatorRE.FindAllString(p2.stderr.String(), -1); len(toks) != 0 {
		t.Errorf("the second start printed a management key again: %v", toks)
	}
	if strings.Contains(p2.stderr.String(), "empty database") {
		t.Errorf("the second start bootstrapped again:\n%s", p2.stderr.String())
	}
	p2.must(http.StatusOK, "GET", "/v1/keys", op, nil)
	p2.stop()
}

// TestBootstrapKeyFile checks --bootstrap-key-file.
func TestBootstrapKeyFile(t *testing.T) {
	t.Parallel()
	t.Run("new file", func(t *testing.T) {
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "operator.key")
		p := btServe(t, btOpts{Args: btServeArgs(filepath.Join(dir, "data"), "--bootstrap-key-file", keyFile)})
		btMode(t, keyFile, 0o600)
		b, err := os.ReadFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		tok := strings.TrimSpace(string(b))
		if !btOperatorRE.MatchString(tok) || btOperatorRE.FindString(tok) != tok {
			t.Fatalf("the key file holds %q, want one kwm_ token", b)
		}
		btKeyOnlyInFile(t, p, keyFile)
		p.must(http.StatusOK, "GET", "/v1/keys", tok, nil)
		p.stop()

		// A second start has nothing to bootstrap: the file stays as it is.
		p2 := btServe(t, btOpts{Args: btServeArgs(filepath.Join(dir, "data"), "--bootstrap-key-file", keyFile)})
		b2, err := os.ReadFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, b2) {
			t.Errorf("the second start rewrote the key file: %q, was %q", b2, b)
		}
		p2.must(http.StatusOK, "GET", "/v1/keys", tok, nil)
		p2.stop()
	})
	t.Run("existing world-readable file is replaced and restricted", func(t *testing.T) {
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "operator.key")
		if err := os.WriteFile(keyFile, []byte("old content that is longer than a token, to catch a missing truncate ......\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		p := btServe(t, btOpts{Args: btServeArgs(filepath.Join(dir, "data"), "--bootstrap-key-file", keyFile)})
		btMode(t, keyFile, 0o600)
		b, err := os.ReadFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		if tok := strings.TrimSpace(string(b)); string(b) != tok+"\n" || btOperatorRE.FindString(tok) != tok {
			t.Fatalf("key file holds %q, want one kwm_ token and a newline", b)
		}
		btKeyOnlyInFile(t, p, keyFile)
		p.must(http.StatusOK, "GET", "/v1/keys", strings.TrimSpace(string(b)), nil)
		p.stop()
	})
}

// btKeyOnlyInFile checks that a start with --bootstrap-key-file said on
// stderr where the operator key is, and did not print the key itself: the
// README's tour sends stderr to a log file that anyone may read.
func btKeyOnlyInFile(t *testing.T, p *btProc, keyFile string) {
	t.Helper()
	if toks := btOperatorRE.FindAllString(p.stderr.String()+p.stdout.String(), -1); len(toks) != 0 {
		t.Errorf("with --bootstrap-key-file the operator key was printed too (%d times):\n%s", len(toks), p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), keyFile) {
		t.Errorf("stderr does not say the operator key is in %s:\n%s", keyFile, p.stderr.String())
	}
}

// btJSONLogLines checks that every stderr line is a JSON log record, except
// the bootstrap print (which is for a human), and returns the records.
func btJSONLogLines(t *testing.T, stderr, operator string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, l := range strings.Split(stderr, "\n") {
		trimmed := strings.TrimSpace(l)
		if trimmed == "" || trimmed == operator || strings.HasPrefix(trimmed, "keyward: the operator management key") {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("stderr line is not JSON with --log-format json: %q", l)
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("JSON log record without %q: %s", k, l)
			}
		}
		recs = append(recs, rec)
	}
	return recs
}

// btServeFlags returns the long flags keyward serve --help lists.
func btServeFlags(t *testing.T) []string {
	t.Helper()
	p := btStart(t, btOpts{Args: []string{"serve", "--help"}})
	if code := p.wait(15 * time.Second); code != 0 {
		t.Fatalf("keyward serve --help exited %d", code)
	}
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z][a-z0-9-]*)`).FindAllStringSubmatch(p.stdout.String(), -1) {
		if m[1] != "help" {
			flags = append(flags, m[1])
		}
	}
	if len(flags) == 0 {
		t.Fatalf("no flags found in keyward serve --help:\n%s", p.stdout.String())
	}
	return flags
}

// TestEnvironmentVariables checks that every flag of keyward serve has its
// KEYWARD_* variable.
func TestEnvironmentVariables(t *testing.T) {
	t.Parallel()
	// The variables this test sets; a new flag fails here until it is
	// tested as well.
	covered := map[string]bool{"addr": true, "data-dir": true, "log-format": true, "log-level": true,
		"bootstrap-key-file": true, "shutdown-timeout": true, "master-key-file": true, "lockout-threshold": true,
		"lockout-window": true, "lockout-duration": true, "trusted-proxies": true,
		"database": true, "db-max-conns": true, "db-min-conns": true, "db-statement-timeout": true,
		"db-connect-timeout": true, "db-conn-lifetime": true, "cache-size": true, "cache-ttl": true, "outage-grace": true,
		"redis": true, "request-timeout": true, "usage-flush-interval": true, "usage-retention-minutes": true,
		"usage-retention-hours": true, "usage-retention-days": true,
		"ui": true, "ui-session-idle": true, "ui-session-max": true, "ui-secure-cookies": true}
	for _, f := range btServeFlags(t) {
		if !covered[f] {
			t.Errorf("keyward serve has flag --%s but this test does not check KEYWARD_%s", f, strings.ToUpper(strings.ReplaceAll(f, "-", "_")))
		}
	}

	t.Run("every variable", func(t *testing.T) {
		dir := t.TempDir()
		work := t.TempDir()
		dataDir := filepath.Join(dir, "data")
		keyFile := filepath.Join(dir, "op.key")
		p := btServe(t, btOpts{Dir: work, Args: []string{"serve"}, Env: []string{
			"KEYWARD_ADDR=127.0.0.1:0",
			"KEYWARD_DATA_DIR=" + dataDir,
			"KEYWARD_LOG_FORMAT=json",
			"KEYWARD_LOG_LEVEL=debug",
			"KEYWARD_BOOTSTRAP_KEY_FILE=" + keyFile,
			"KEYWARD_SHUTDOWN_TIMEOUT=7s",
		}})
		if p.Addr == btDefaultAddr {
			t.Errorf("KEYWARD_ADDR was ignored: listening on %s", p.Addr)
		}
		btMode(t, filepath.Join(dataDir, "keyward.db"), 0o600)
		if _, err := os.Stat(filepath.Join(work, "keyward-data")); err == nil {
			t.Errorf("KEYWARD_DATA_DIR was ignored: ./keyward-data was created")
		}
		btMode(t, keyFile, 0o600)
		b, err := os.ReadFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		op := strings.TrimSpace(string(b))
		btKeyOnlyInFile(t, p, keyFile)
		p.must(http.StatusOK, "GET", "/v1/keys", op, nil)
		p.stop()

		recs := btJSONLogLines(t, p.stderr.String(), op)
		var sawListen, sawRequest, sawShutdown bool
		for _, r := range recs {
			switch r["msg"] {
			case "keyward listening":
				sawListen = true
				if r["data_dir"] != dataDir {
					t.Errorf("listening record has data_dir %v, want %s", r["data_dir"], dataDir)
				}
				if want := "sqlite:" + filepath.Join(dataDir, "keyward.db"); r["store"] != want {
					t.Errorf("listening record has store %v, want %s", r["store"], want)
				}
			case "request":
				sawRequest = sawRequest || r["path"] == "/v1/keys"
			case "shutting down: finishing requests in flight":
				sawShutdown = true
				// slog's JSON handler writes a Duration in nanoseconds.
				if r["timeout"] != float64(7*time.Second) {
					t.Errorf("KEYWARD_SHUTDOWN_TIMEOUT=7s was ignored: shutdown record says timeout %v", r["timeout"])
				}
			}
		}
		if !sawListen || !sawRequest || !sawShutdown {
			t.Errorf("JSON log misses records: listening %v, request %v, shutting down %v", sawListen, sawRequest, sawShutdown)
		}
	})

	t.Run("master key, lockout and proxy variables", func(t *testing.T) {
		key := btMasterKeyBytes(t)
		keyFile := btWriteFile(t, "master.key", []byte(hex.EncodeToString(key)+"\n"))
		p := btServe(t, btOpts{Args: btServeArgs(filepath.Join(t.TempDir(), "data")), Env: []string{
			"KEYWARD_MASTER_KEY_FILE=" + keyFile,
			"KEYWARD_LOCKOUT_THRESHOLD=3",
			"KEYWARD_LOCKOUT_WINDOW=1m",
			"KEYWARD_LOCKOUT_DURATION=1h",
			"KEYWARD_TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1/32",
		}})
		op := p.operatorToken()
		// KEYWARD_MASTER_KEY_FILE: recoverable keys work.
		k := p.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "r", "recoverable": true})
		if got := p.must(http.StatusOK, "GET", "/v1/keys/"+k["id"].(string)+"/secret", op, nil); got["secret"] != k["secret"] {
			t.Errorf("KEYWARD_MASTER_KEY_FILE: reveal gives %v", got)
		}
		// KEYWARD_TRUSTED_PROXIES: 127.0.0.1 is a proxy, so the client is
		// the forwarded address; KEYWARD_LOCKOUT_THRESHOLD=3 locks it
		// after three failures, for KEYWARD_LOCKOUT_DURATION=1h.
		client := map[string]string{"X-Forwarded-For": "203.0.113.7"}
		for i := 0; i < 3; i++ {
			btMustHeader(t, p, http.StatusUnauthorized, "GET", "/v1/keys", "kwm_wrong", nil, client)
		}
		res, err := btDoHeader(p, "GET", "/v1/keys", op, nil, client)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != http.StatusTooManyRequests {
			t.Fatalf("after 3 failures with KEYWARD_LOCKOUT_THRESHOLD=3: %d, want 429\n%s", res.Status, res.Body)
		}
		if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra < 3500 || ra > 3600 {
			t.Errorf("KEYWARD_LOCKOUT_DURATION=1h: Retry-After %q, want about 3600", res.Header.Get("Retry-After"))
		}
		// The proxy itself and other forwarded clients are not locked.
		p.must(http.StatusOK, "GET", "/v1/keys", op, nil)
		btMustHeader(t, p, http.StatusOK, "GET", "/v1/keys", op, nil, map[string]string{"X-Forwarded-For": "203.0.113.8"})
		p.stop()
	})

	t.Run("dashboard variables", func(t *testing.T) {
		off := btServe(t, btOpts{Args: btServeArgs(filepath.Join(t.TempDir(), "data")), Env: []string{"KEYWARD_UI=false"}})
		off.must(http.StatusNotFound, "GET", "/", "", nil)
		off.stop()
		for _, v := range []string{"KEYWARD_UI_SESSION_IDLE=1ns", "KEYWARD_UI_SESSION_MAX=1ns"} {
			p := btServe(t, btOpts{Args: btServeArgs(filepath.Join(t.TempDir(), "data")), Env: []string{v, "KEYWARD_UI_SECURE_COOKIES=true"}})
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			res, err := c.Get(p.URL + "/sign-in")
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(res.Body)
			res.Body.Close()
			// KEYWARD_UI_SECURE_COOKIES: Secure over plain HTTP (the
			// client's jar then keeps it from an http:// URL, so the
			// form's token is sent by hand below).
			cookie := res.Header.Get("Set-Cookie")
			if !strings.Contains(cookie, "Secure") {
				t.Errorf("KEYWARD_UI_SECURE_COOKIES=true: cookie %q", cookie)
			}
			m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
			if m == nil {
				t.Fatalf("no sign-in form:\n%s", page)
			}
			form := url.Values{"key": {p.operatorToken()}, "csrf": {string(m[1])}}
			req, _ := http.NewRequest("POST", p.URL+"/sign-in", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Cookie", strings.SplitN(cookie, ";", 2)[0])
			res, err = c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			session := strings.SplitN(res.Header.Get("Set-Cookie"), ";", 2)[0]
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(session, "keyward_session=") {
				t.Fatalf("%s: sign-in answered %d, cookie %q", v, res.StatusCode, session)
			}
			// The session has outlived its 1ns: the next page asks for a
			// sign-in again.
			req, _ = http.NewRequest("GET", p.URL+"/", nil)
			req.Header.Set("Cookie", session)
			res, err = c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/sign-in" {
				t.Errorf("%s: GET / answered %d to %q, want 303 to /sign-in", v, res.StatusCode, res.Header.Get("Location"))
			}
			p.stop()
		}
	})

	t.Run("KEYWARD_MASTER_KEY", func(t *testing.T) {
		key := btMasterKeyBytes(t)
		p := btServe(t, btOpts{Args: btServeArgs(filepath.Join(t.TempDir(), "data")), Env: []string{
			"KEYWARD_MASTER_KEY=" + base64.RawURLEncoding.EncodeToString(key)}})
		op := p.operatorToken()
		k := p.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "r", "recoverable": true})
		if got := p.must(http.StatusOK, "GET", "/v1/keys/"+k["id"].(string)+"/secret", op, nil); got["secret"] != k["secret"] {
			t.Errorf("KEYWARD_MASTER_KEY: reveal gives %v", got)
		}
		p.stop()
	})

	t.Run("KEYWARD_LOCKOUT_WINDOW", func(t *testing.T) {
		// A window of 1ns never holds two failures: no lock however many.
		p := btServe(t, btOpts{Args: btServeArgs(filepath.Join(t.TempDir(), "data")), Env: []string{
			"KEYWARD_LOCKOUT_THRESHOLD=2", "KEYWARD_LOCKOUT_WINDOW=1ns", "KEYWARD_LOCKOUT_DURATION=1h"}})
		op := p.operatorToken()
		for i := 0; i < 6; i++ {
			p.must(http.StatusUnauthorized, "GET", "/v1/keys", "kwm_wrong", nil)
		}
		p.must(http.StatusOK, "GET", "/v1/keys", op, nil)
		p.stop()
	})

	t.Run("KEYWARD_LOCKOUT_THRESHOLD without trusted proxies", func(t *testing.T) {
		p := btServe(t, btOpts{Args: btServeArgs(filepath.Join(t.TempDir(), "data")), Env: []string{
			"KEYWARD_LOCKOUT_THRESHOLD=2", "KEYWARD_LOCKOUT_DURATION=1h"}})
		op := p.operatorToken()
		for i := 0; i < 2; i++ {
			btMustHeader(t, p, http.StatusUnauthorized, "GET", "/v1/keys", "kwm_wrong", nil, map[string]string{"X-Forwarded-For": "203.0.113." + strconv.Itoa(i)})
		}
		// X-Forwarded-For from an untrusted peer changes nothing.
		btMustHeader(t, p, http.StatusTooManyRequests, "GET", "/v1/keys", op, nil, map[string]string{"X-Forwarded-For": "203.0.113.99"})
		p.stop()
	})

	t.Run("KEYWARD_LOG_LEVEL", func(t *testing.T) {
		// At warn, keyward does not log "keyward listening": the address
		// is chosen here.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		p := btStart(t, btOpts{Args: []string{"serve"}, Env: []string{
			"KEYWARD_ADDR=" + addr, "KEYWARD_DATA_DIR=" + t.TempDir(), "KEYWARD_LOG_LEVEL=warn",
		}})
		p.ready(addr)
		op := p.operatorToken()
		p.must(http.StatusOK, "GET", "/v1/keys", op, nil)
		p.stop()
		for _, l := range strings.Split(p.stderr.String(), "\n") {
			if strings.Contains(l, "level=INFO") || strings.Contains(l, "level=DEBUG") {
				t.Errorf("KEYWARD_LOG_LEVEL=warn was ignored: %q", l)
			}
		}
	})

	t.Run("flags win over variables", func(t *testing.T) {
		flagDir := filepath.Join(t.TempDir(), "from-flag")
		envDir := filepath.Join(t.TempDir(), "from-env")
		p := btServe(t, btOpts{
			Args: []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", flagDir, "--log-format", "text"},
			Env:  []string{"KEYWARD_ADDR=" + btDefaultAddr, "KEYWARD_DATA_DIR=" + envDir, "KEYWARD_LOG_FORMAT=json"},
		})
		if p.Addr == btDefaultAddr {
			t.Errorf("KEYWARD_ADDR won over --addr")
		}
		if _, err := os.Stat(filepath.Join(flagDir, "keyward.db")); err != nil {
			t.Errorf("--data-dir lost to KEYWARD_DATA_DIR: %v", err)
		}
		if _, err := os.Stat(envDir); err == nil {
			t.Errorf("KEYWARD_DATA_DIR was used although --data-dir was given")
		}
		p.stop()
		// --lockout-threshold 0 wins over KEYWARD_LOCKOUT_THRESHOLD=2.
		q := btServe(t, btOpts{
			Args: btServeArgs(filepath.Join(t.TempDir(), "data"), "--lockout-threshold", "0"),
			Env:  []string{"KEYWARD_LOCKOUT_THRESHOLD=2", "KEYWARD_LOCKOUT_DURATION=1h"},
		})
		op := q.operatorToken()
		for i := 0; i < 5; i++ {
			q.must(http.StatusUnauthorized, "GET", "/v1/keys", "kwm_wrong", nil)
		}
		q.must(http.StatusOK, "GET", "/v1/keys", op, nil)
		q.stop()
		if !btTextListen.MatchString(p.stderr.String()) {
			t.Errorf("--log-format text lost to KEYWARD_LOG_FORMAT=json:\n%s", p.stderr.String())
		}
	})

	t.Run("KEYWARD_REDIS", func(t *testing.T) {
		// With Redis, rate limits are taken there (the backend is
		// configured and not in fallback); with an unreachable one,
		// verifications still answer, limited per node, and the metric
		// says so.
		for _, c := range []struct {
			name, url, fallback string
		}{{"reachable", redistest.URL(t), "0"}, {"unreachable", "redis://127.0.0.1:1/0", "1"}} {
			t.Run(c.name, func(t *testing.T) {
				p := btServe(t, btOpts{Args: btServeArgs(filepath.Join(t.TempDir(), "data")), Env: []string{"KEYWARD_REDIS=" + c.url}})
				op := p.operatorToken()
				k := p.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "limited", "rate_limit": map[string]any{"limit": 2, "window": 3600}})
				for i, want := range []string{"VALID", "VALID", "RATE_LIMITED"} {
					if got := p.verify(op, k["secret"].(string))["code"]; got != want {
						t.Fatalf("verification %d: %v, want %s", i+1, got, want)
					}
				}
				res, err := p.do("GET", "/metrics", "", nil)
				if err != nil {
					t.Fatal(err)
				}
				for name, want := range map[string]string{"keyward_ratelimit_backend_configured": "1", "keyward_ratelimit_backend_fallback": c.fallback} {
					if !regexp.MustCompile("(?m)^" + name + " " + want + "$").Match(res.Body) {
						t.Errorf("KEYWARD_REDIS=%s: /metrics does not say %s %s", c.url, name, want)
					}
				}
				p.stop()
			})
		}
	})

	t.Run("KEYWARD_DATABASE and the pool variables", func(t *testing.T) {
		evPostgresVariables(t)
	})

	t.Run("KEYWARD_DB_CONNECT_TIMEOUT", func(t *testing.T) {
		// A "database" that accepts connections and never answers: the
		// start fails after the connect timeout (default 5s), not later.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			var held []net.Conn
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				held = append(held, c)
			}
		}()
		start := time.Now()
		p := btStart(t, btOpts{Args: []string{"serve", "--addr", "127.0.0.1:0"}, Env: []string{
			"KEYWARD_DATABASE=postgres://keyward@" + ln.Addr().String() + "/keyward?sslmode=disable",
			"KEYWARD_DB_CONNECT_TIMEOUT=300ms",
		}})
		if code := p.wait(4 * time.Second); code == 0 {
			t.Fatalf("keyward serve on a silent database exited 0")
		}
		if !strings.Contains(p.stderr.String(), "connect to PostgreSQL") {
			t.Errorf("the error does not say it could not connect to PostgreSQL:\n%s", p.stderr.String())
		}
		t.Logf("gave up after %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("KEYWARD_CACHE_SIZE", func(t *testing.T) {
		// Two entries: the operator key authenticating every request takes
		// one, so of two API keys verified only the last stays cached. A
		// revocation written behind keyward's back (no invalidation) shows
		// which answers come from the cache.
		dataDir := filepath.Join(t.TempDir(), "data")
		p := btServe(t, btOpts{Args: btServeArgs(dataDir), Env: []string{"KEYWARD_CACHE_SIZE=2"}})
		op := p.operatorToken()
		a := p.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "a"})
		b := p.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "b"})
		for _, k := range []map[string]any{a, b} {
			if v := p.verify(op, k["secret"].(string)); v["code"] != "VALID" {
				t.Fatalf("verify %s: %v", k["name"], v)
			}
		}
		evRevokeBehindKeyward(t, filepath.Join(dataDir, "keyward.db"), a["id"].(string), b["id"].(string))
		if v := p.verify(op, b["secret"].(string)); v["code"] != "VALID" {
			t.Errorf("the last verified key is %v, want VALID from the cache (is the cache off?)", v["code"])
		}
		if v := p.verify(op, a["secret"].(string)); v["code"] != "REVOKED" {
			t.Errorf("KEYWARD_CACHE_SIZE=2 was ignored: the first key, which the second evicted, verifies as %v, want REVOKED (read anew)", v["code"])
		}
		p.stop()
	})

	t.Run("KEYWARD_CACHE_TTL", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		p := btServe(t, btOpts{Args: btServeArgs(dataDir), Env: []string{"KEYWARD_CACHE_TTL=1ns"}})
		op := p.operatorToken()
		k := p.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "a"})
		if v := p.verify(op, k["secret"].(string)); v["code"] != "VALID" {
			t.Fatalf("verify: %v", v)
		}
		evRevokeBehindKeyward(t, filepath.Join(dataDir, "keyward.db"), k["id"].(string))
		if v := p.verify(op, k["secret"].(string)); v["code"] != "REVOKED" {
			t.Errorf("KEYWARD_CACHE_TTL=1ns was ignored: a key revoked in the database verifies as %v, want REVOKED", v["code"])
		}
		p.stop()
	})

	t.Run("KEYWARD_USAGE_FLUSH_INTERVAL and KEYWARD_USAGE_RETENTION_*", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		p := btServe(t, btOpts{Args: btServeArgs(dataDir), Env: []string{"KEYWARD_USAGE_FLUSH_INTERVAL=100ms"}})
		op := p.operatorToken()
		k := p.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "a"})
		id := k["id"].(string)
		p.verify(op, k["secret"].(string))
		// With the default 2s the count could not be there this soon.
		total := func(p *btProc, g string) float64 {
			return p.must(http.StatusOK, "GET", "/v1/keys/"+id+"/usage?granularity="+g, op, nil)["total"].(float64)
		}
		for deadline := time.Now().Add(time.Second); total(p, "minute") != 1; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("KEYWARD_USAGE_FLUSH_INTERVAL=100ms was ignored: the verification is not in the usage after 1s")
			}
		}
		p.stop()
		// A retention of 1ns drops the minute and day buckets at the first
		// purge (right after start); the hours stay.
		p = btServe(t, btOpts{Args: btServeArgs(dataDir), Env: []string{"KEYWARD_USAGE_FLUSH_INTERVAL=100ms",
			"KEYWARD_USAGE_RETENTION_MINUTES=1ns", "KEYWARD_USAGE_RETENTION_DAYS=1ns", "KEYWARD_USAGE_RETENTION_HOURS=1000h"}})
		for deadline := time.Now().Add(3 * time.Second); total(p, "minute") != 0 || total(p, "day") != 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("KEYWARD_USAGE_RETENTION_MINUTES/DAYS=1ns were ignored: minute total %v, day total %v", total(p, "minute"), total(p, "day"))
			}
		}
		if h := total(p, "hour"); h != 1 {
			t.Errorf("KEYWARD_USAGE_RETENTION_HOURS=1000h: the hour buckets hold %v, want 1", h)
		}
		p.stop()
	})

	t.Run("KEYWARD_OUTAGE_GRACE", func(t *testing.T) {
		// 0 turns the grace off: once the invalidation feed is known down
		// (3s without an answer), a cached key gets 503 instead of the
		// default 10s of cached answers.
		px, proxied := pgtest.ProxyURL(t, pgtest.URL(t))
		p := btServe(t, btOpts{Args: []string{"serve", "--addr", "127.0.0.1:0"}, Env: []string{
			"KEYWARD_DATABASE=" + proxied, "KEYWARD_OUTAGE_GRACE=0s", "KEYWARD_DB_CONNECT_TIMEOUT=1s",
		}})
		p.waitLine(15*time.Second, func(l string) bool { return strings.Contains(l, "invalidation feed up") })
		op := p.operatorToken()
		k := p.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "a"})
		if v := p.verify(op, k["secret"].(string)); v["code"] != "VALID" {
			t.Fatalf("verify: %v", v)
		}
		px.Cut()
		cut := time.Now()
		for {
			res, err := p.do("POST", "/v1/keys/verify", op, map[string]any{"key": k["secret"]})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status == http.StatusServiceUnavailable {
				var body map[string]any
				if json.Unmarshal(res.Body, &body); body["code"] != "unavailable" {
					t.Errorf("503 with code %v, want unavailable: %s", body["code"], res.Body)
				}
				t.Logf("503 %v after the database went away", time.Since(cut).Round(time.Millisecond))
				break
			}
			if res.Status != http.StatusOK {
				t.Fatalf("verify during the outage: %d %s", res.Status, res.Body)
			}
			if time.Since(cut) > 8*time.Second {
				t.Fatalf("KEYWARD_OUTAGE_GRACE=0s was ignored: 8s into the outage a cached key still verifies (%s)", res.Body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		px.Restore()
		p.stop()
	})

	t.Run("bad values", func(t *testing.T) {
		// A postgres URL nothing listens on: the values are checked before
		// any connection (else the error would be the connection's).
		const nowhere = "KEYWARD_DATABASE=postgres://keyward:hunter2@127.0.0.1:1/keyward?sslmode=disable"
		for _, tc := range []struct {
			env     string
			mention []string
			with    []string // more variables
			forbid  []string // what the message must not show
		}{
			{"KEYWARD_LOG_FORMAT=xml", []string{"log-format", `"xml"`}, nil, nil},
			{"KEYWARD_LOG_LEVEL=loud", []string{"log-level", "loud"}, nil, nil},
			{"KEYWARD_SHUTDOWN_TIMEOUT=soon", []string{"KEYWARD_SHUTDOWN_TIMEOUT", "soon"}, nil, nil},
			{"KEYWARD_ADDR=not an address", []string{"not an address"}, nil, nil},
			{"KEYWARD_LOCKOUT_THRESHOLD=-1", []string{"lockout-threshold"}, nil, nil},
			{"KEYWARD_LOCKOUT_THRESHOLD=many", []string{"KEYWARD_LOCKOUT_THRESHOLD", "many"}, nil, nil},
			{"KEYWARD_LOCKOUT_WINDOW=soon", []string{"KEYWARD_LOCKOUT_WINDOW", "soon"}, nil, nil},
			{"KEYWARD_LOCKOUT_DURATION=0s", []string{"lockout-duration"}, nil, nil},
			{"KEYWARD_TRUSTED_PROXIES=not-a-cidr", []string{"trusted-proxies", "not-a-cidr"}, nil, nil},
			{"KEYWARD_MASTER_KEY_FILE=/nonexistent/master.key", []string{"/nonexistent/master.key"}, nil, nil},
			{"KEYWARD_MASTER_KEY=tooshort", []string{"KEYWARD_MASTER_KEY"}, nil, nil},
			{"KEYWARD_DATABASE=mysql://keyward@127.0.0.1/keyward", []string{"--database", "postgres://"}, nil, nil},
			{nowhere, []string{"connect to PostgreSQL"}, nil, []string{"hunter2"}},
			{"KEYWARD_DB_MAX_CONNS=many", []string{"KEYWARD_DB_MAX_CONNS", "many"}, nil, nil},
			{"KEYWARD_DB_MAX_CONNS=0", []string{"db-max-conns"}, []string{nowhere}, []string{"hunter2"}},
			{"KEYWARD_DB_MIN_CONNS=30", []string{"db-min-conns"}, []string{nowhere}, []string{"hunter2"}},
			{"KEYWARD_DB_MIN_CONNS=-1", []string{"db-min-conns"}, []string{nowhere}, nil},
			{"KEYWARD_DB_STATEMENT_TIMEOUT=soon", []string{"KEYWARD_DB_STATEMENT_TIMEOUT", "soon"}, nil, nil},
			{"KEYWARD_DB_STATEMENT_TIMEOUT=-1s", []string{"db-statement-timeout"}, []string{nowhere}, nil},
			{"KEYWARD_DB_CONNECT_TIMEOUT=soon", []string{"KEYWARD_DB_CONNECT_TIMEOUT", "soon"}, nil, nil},
			{"KEYWARD_DB_CONNECT_TIMEOUT=-1s", []string{"db-connect-timeout"}, []string{nowhere}, nil},
			{"KEYWARD_DB_CONN_LIFETIME=forever", []string{"KEYWARD_DB_CONN_LIFETIME", "forever"}, nil, nil},
			{"KEYWARD_DB_CONN_LIFETIME=-1s", []string{"db-conn-lifetime"}, []string{nowhere}, nil},
			{"KEYWARD_CACHE_SIZE=lots", []string{"KEYWARD_CACHE_SIZE", "lots"}, nil, nil},
			{"KEYWARD_CACHE_SIZE=0", []string{"cache-size"}, nil, nil},
			{"KEYWARD_CACHE_TTL=0s", []string{"cache-ttl"}, nil, nil},
			{"KEYWARD_CACHE_TTL=later", []string{"KEYWARD_CACHE_TTL", "later"}, nil, nil},
			{"KEYWARD_OUTAGE_GRACE=-1s", []string{"outage-grace"}, nil, nil},
			{"KEYWARD_OUTAGE_GRACE=never", []string{"KEYWARD_OUTAGE_GRACE", "never"}, nil, nil},
			{"KEYWARD_REQUEST_TIMEOUT=500ms", []string{"request-timeout"}, nil, nil},
			{"KEYWARD_USAGE_FLUSH_INTERVAL=0s", []string{"usage-flush-interval"}, nil, nil},
			{"KEYWARD_USAGE_RETENTION_MINUTES=-1h", []string{"usage-retention"}, nil, nil},
			{"KEYWARD_USAGE_RETENTION_DAYS=forever", []string{"KEYWARD_USAGE_RETENTION_DAYS", "forever"}, nil, nil},
			{"KEYWARD_REQUEST_TIMEOUT=soon", []string{"KEYWARD_REQUEST_TIMEOUT", "soon"}, nil, nil},
		} {
			t.Run(tc.env, func(t *testing.T) {
				p := btStart(t, btOpts{Args: []string{"serve"}, Env: append([]string{
					tc.env, "KEYWARD_DATA_DIR=" + filepath.Join(t.TempDir(), "data"),
				}, tc.with...)})
				code := p.wait(15 * time.Second)
				if code == 0 {
					t.Fatalf("keyward serve with %s exited 0, want an error", tc.env)
				}
				btErrorSays(t, p.stderr.String(), tc.mention, tc.forbid)
			})
		}
	})
}

// evPostgresVariables runs keyward serve on a fresh PostgreSQL schema named
// only by KEYWARD_DATABASE, with every pool variable set, and checks each by
// its effect on the connections PostgreSQL sees (pg_stat_activity, by the
// application_name the URL gives this node's pool).
func evPostgresVariables(t *testing.T) {
	t.Helper()
	schemaURL := pgtest.URL(t)
	b := make([]byte, 6)
	rand.Read(b)
	app := "kwenv_" + hex.EncodeToString(b)
	u, err := url.Parse(schemaURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	work := t.TempDir()
	p := btServe(t, btOpts{Dir: work, Args: []string{"serve", "--addr", "127.0.0.1:0"}, Env: []string{
		"KEYWARD_DATABASE=" + u.String(), "KEYWARD_LOG_FORMAT=json",
		"KEYWARD_DB_MAX_CONNS=3", "KEYWARD_DB_MIN_CONNS=3",
		"KEYWARD_DB_STATEMENT_TIMEOUT=500ms", "KEYWARD_DB_CONN_LIFETIME=1s", "KEYWARD_DB_CONNECT_TIMEOUT=3s",
	}})
	op := p.operatorToken()
	p.must(http.StatusOK, "GET", "/v1/keys", op, nil)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, schemaURL)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)

	// KEYWARD_DATABASE: the schema it names holds keyward's tables, and
	// no SQLite data directory was made.
	migs, err := sqlstore.Migrations(postgres.MigrationsFS())
	if err != nil {
		t.Fatal(err)
	}
	var applied int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&applied); err != nil {
		t.Errorf("KEYWARD_DATABASE: the schema has no schema_migrations: %v", err)
	} else if applied != len(migs) {
		t.Errorf("KEYWARD_DATABASE: %d migrations applied, want %d", applied, len(migs))
	}
	if _, err := os.Stat(filepath.Join(work, "keyward-data")); err == nil {
		t.Errorf("with KEYWARD_DATABASE set, ./keyward-data was created")
	}

	// The node's pool connections (not its LISTEN connection).
	type backend struct {
		pid     int
		waiting bool
	}
	backends := func() []backend {
		t.Helper()
		rows, err := conn.Query(ctx, `SELECT pid, coalesce(wait_event_type = 'Lock', false)
			FROM pg_stat_activity WHERE application_name = $1`, app)
		if err != nil {
			t.Fatalf("pg_stat_activity: %v", err)
		}
		defer rows.Close()
		var out []backend
		for rows.Next() {
			var b backend
			if err := rows.Scan(&b.pid, &b.waiting); err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}

	// KEYWARD_DB_STATEMENT_TIMEOUT and KEYWARD_DB_MAX_CONNS: with the keys
	// table locked, six concurrent requests wait for it; the pool gives
	// them at most three connections, and each statement is cancelled
	// after 500ms instead of waiting for the lock.
	lock, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, `LOCK TABLE keys IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		status  int
		elapsed time.Duration
		err     error
	}
	results := make(chan outcome, 6)
	for range 6 {
		go func() {
			start := time.Now()
			res, err := p.do("GET", "/v1/keys", op, nil)
			o := outcome{elapsed: time.Since(start), err: err}
			if res != nil {
				o.status = res.Status
			}
			results <- o
		}()
	}
	most, sawWaiting := 0, 0
	var got []outcome
	release := time.After(8 * time.Second)
	for len(got) < 6 {
		select {
		case o := <-results:
			got = append(got, o)
			continue
		case <-release:
			lock.Rollback(ctx) // let them finish: the timeout did not work
			release = nil
		case <-time.After(20 * time.Millisecond):
		}
		if release == nil {
			continue
		}
		bs := backends()
		most = max(most, len(bs))
		w := 0
		for _, b := range bs {
			if b.waiting {
				w++
			}
		}
		sawWaiting = max(sawWaiting, w)
	}
	lock.Rollback(ctx)
	if most > 3 {
		t.Errorf("KEYWARD_DB_MAX_CONNS=3 was ignored: the pool held %d connections under load", most)
	}
	if sawWaiting == 0 {
		t.Errorf("no request was seen waiting for the lock: the load proved nothing")
	}
	for _, o := range got {
		switch {
		case o.err != nil:
			t.Errorf("a request behind the lock failed: %v", o.err)
		case o.elapsed > 4*time.Second || o.status < 500:
			t.Errorf("KEYWARD_DB_STATEMENT_TIMEOUT=500ms: a request behind a lock answered %d after %v, want a 5xx within a few seconds",
				o.status, o.elapsed.Round(time.Millisecond))
		}
	}
	t.Logf("behind the lock: %d connections at most (%d waiting); answers %v", most, sawWaiting, got)

	// KEYWARD_DB_CONN_LIFETIME=1s: every connection seen now is replaced
	// within seconds (the default is 30 minutes).
	old := map[int]bool{}
	for _, b := range backends() {
		old[b.pid] = true
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		p.must(http.StatusOK, "GET", "/v1/keys", op, nil)
		left := 0
		for _, b := range backends() {
			if old[b.pid] {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("KEYWARD_DB_CONN_LIFETIME=1s was ignored: %d of the pool's connections still open after 15s", left)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// KEYWARD_DB_MIN_CONNS=3: with nothing to do, the pool opens three
	// connections of its own (startup and the load above may have opened
	// more; the ones counted here came after them).
	deadline = time.Now().Add(15 * time.Second)
	for {
		fresh := 0
		for _, b := range backends() {
			if !old[b.pid] {
				fresh++
			}
		}
		if fresh >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("KEYWARD_DB_MIN_CONNS=3 was ignored: the idle pool holds %d connections after 15s", fresh)
		}
		time.Sleep(50 * time.Millisecond)
	}

	p.stop()
	sawListen := false
	for _, r := range btJSONLogLines(t, p.stderr.String(), op) {
		if r["msg"] == "keyward listening" {
			sawListen = true
			if r["store"] != "postgres" {
				t.Errorf("KEYWARD_DATABASE: the listening record says store %v, want postgres", r["store"])
			}
			if _, ok := r["data_dir"]; ok {
				t.Errorf("KEYWARD_DATABASE: the listening record names a data_dir: %v", r)
			}
		}
	}
	if !sawListen {
		t.Errorf("no listening record")
	}
	if strings.Contains(p.stderr.String(), schemaURL) {
		t.Errorf("the log shows the database URL")
	}
}

// evRevokeBehindKeyward revokes keys directly in the SQLite file a running
// keyward uses: no invalidation reaches its cache.
func evRevokeBehindKeyward(t *testing.T, path string, ids ...string) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, id := range ids {
		res, err := db.WriteDB().Exec(`UPDATE keys SET status = 'revoked' WHERE id = ?`, id)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("revoke %s: %d rows", id, n)
		}
	}
}

// btStripUsage returns objects without last_used_at and verifications,
// which the write-behind fills in later (at the latest at shutdown).
func btStripUsage(objs []map[string]any) []map[string]any {
	out := make([]map[string]any, len(objs))
	for i, o := range objs {
		c := make(map[string]any, len(o))
		for k, v := range o {
			if k != "last_used_at" && k != "verifications" {
				c[k] = v
			}
		}
		out[i] = c
	}
	return out
}

// btSameJSON fails unless got and want encode to the same JSON.
func btSameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.MarshalIndent(got, "", "  ")
	w, _ := json.MarshalIndent(want, "", "  ")
	if !bytes.Equal(g, w) {
		t.Errorf("%s changed across the restart:\nbefore: %s\nafter:  %s", what, w, g)
	}
}

// TestRestartPersistence changes keys and projects, stops keyward with
// SIGTERM and starts it again on the same data directory: everything is
// there, every secret verifies as before, the audit log is the same.
func TestRestartPersistence(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data")
	p := btServe(t, btOpts{Args: btServeArgs(dataDir)})
	op := p.operatorToken()

	proj := p.must(http.StatusCreated, "POST", "/v1/projects", op, map[string]any{"name": "backend"})
	projID := proj["id"].(string)
	p.must(http.StatusOK, "PATCH", "/v1/projects/"+projID, op, map[string]any{"description": "the backend team"})
	other := p.must(http.StatusCreated, "POST", "/v1/projects", op, map[string]any{"name": "frontend"})
	otherID := other["id"].(string)

	create := func(body map[string]any) (id, secret string) {
		t.Helper()
		k := p.must(http.StatusCreated, "POST", "/v1/keys", op, body)
		return k["id"].(string), k["secret"].(string)
	}
	plainID, plain := create(map[string]any{"name": "plain", "metadata": map[string]any{"plan": "pro"}})
	inProjID, inProj := create(map[string]any{"name": "in project", "project_id": projID})
	patchedID, patched := create(map[string]any{"name": "before patch"})
	p.must(http.StatusOK, "PATCH", "/v1/keys/"+patchedID, op, map[string]any{
		"name": "after patch", "description": "patched", "metadata": map[string]any{"tier": 2}, "project_id": otherID,
	})
	disabledID, disabled := create(map[string]any{"name": "disabled"})
	p.must(http.StatusOK, "PATCH", "/v1/keys/"+disabledID, op, map[string]any{"status": "disabled"})
	revokedID, revoked := create(map[string]any{"name": "revoked"})
	p.must(http.StatusOK, "PATCH", "/v1/keys/"+revokedID, op, map[string]any{"status": "revoked"})
	deletedID, deleted := create(map[string]any{"name": "deleted"})
	p.must(http.StatusNoContent, "DELETE", "/v1/keys/"+deletedID, op, nil)
	rotatedID, oldSecret := create(map[string]any{"name": "rotated"})
	rot := p.must(http.StatusOK, "POST", "/v1/keys/"+rotatedID+"/rotate", op, map[string]any{"grace_period_seconds": 3600})
	newSecret := rot["secret"].(string)

	secrets := []struct {
		name, secret, keyID string
	}{
		{"plain", plain, plainID}, {"in project", inProj, inProjID}, {"patched", patched, patchedID},
		{"disabled", disabled, disabledID}, {"revoked", revoked, revokedID}, {"deleted", deleted, ""},
		{"rotated, old secret in grace", oldSecret, rotatedID}, {"rotated, new secret", newSecret, rotatedID},
	}
	verifyAll := func(p *btProc) map[string]any {
		t.Helper()
		out := map[string]any{}
		for _, s := range secrets {
			r := p.verify(op, s.secret)
			if s.keyID != "" && r["key_id"] != s.keyID {
				t.Errorf("%s: verify gives key_id %v, want %s", s.name, r["key_id"], s.keyID)
			}
			out[s.name] = []any{r["valid"], r["code"], r["key_id"]}
		}
		return out
	}
	before := verifyAll(p)
	for name, want := range map[string]string{"plain": "VALID", "in project": "VALID", "patched": "VALID",
		"disabled": "DISABLED", "revoked": "REVOKED", "deleted": "NOT_FOUND",
		"rotated, old secret in grace": "VALID", "rotated, new secret": "VALID"} {
		if got := before[name].([]any)[1]; got != want {
			t.Errorf("before the restart %s verifies as %v, want %s", name, got, want)
		}
	}
	keysBefore := p.listAll("/v1/keys", op)
	projectsBefore := p.listAll("/v1/projects", op)
	auditBefore := p.listAll("/v1/audit-events", op)
	if len(auditBefore) < 10 {
		t.Fatalf("only %d audit events after 10 changes", len(auditBefore))
	}
	p.stop()

	p2 := btServe(t, btOpts{Args: btServeArgs(dataDir)})
	keysAfter := p2.listAll("/v1/keys", op)
	btSameJSON(t, "the key list", btStripUsage(keysAfter), btStripUsage(keysBefore))
	// The graceful stop flushed the write-behind: each key counts the
	// VALID verifications it had before the restart.
	wantUses := map[string]float64{plainID: 1, inProjID: 1, patchedID: 1, disabledID: 0, revokedID: 0, rotatedID: 2}
	for _, k := range keysAfter {
		id, _ := k["id"].(string)
		if want, ok := wantUses[id]; ok && k["verifications"] != want {
			t.Errorf("key %s (%v): verifications %v after the restart, want %v", id, k["name"], k["verifications"], want)
		}
		if want := wantUses[id]; want > 0 && k["last_used_at"] == nil {
			t.Errorf("key %s (%v): last_used_at null after the restart, yet it verified", id, k["name"])
		}
	}
	btSameJSON(t, "the project list", p2.listAll("/v1/projects", op), projectsBefore)
	btSameJSON(t, "the audit log", p2.listAll("/v1/audit-events", op), auditBefore)
	for _, id := range []string{plainID, inProjID, patchedID, disabledID, revokedID, rotatedID} {
		k := p2.must(http.StatusOK, "GET", "/v1/keys/"+id, op, nil)
		if _, ok := k["secret"]; ok {
			t.Errorf("GET /v1/keys/%s shows the secret", id)
		}
	}
	p2.must(http.StatusNotFound, "GET", "/v1/keys/"+deletedID, op, nil)
	btSameJSON(t, "verification results", verifyAll(p2), before)
	// keyward keeps working on the reopened database.
	p2.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "after restart"})
	if n := len(p2.listAll("/v1/audit-events", op)); n != len(auditBefore)+1 {
		t.Errorf("audit log has %d events after one more create, want %d", n, len(auditBefore)+1)
	}
	p2.stop()
}

// btAcked is a key whose creation keyward acknowledged with 201.
type btAcked struct{ id, secret string }

// TestKill9KeepsAcknowledgedWrites creates keys from several goroutines,
// SIGKILLs keyward while requests are in flight and restarts it: every key
// acknowledged with 201 must exist and verify (synchronous=FULL).
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	const (
		rounds  = 3
		workers = 8
		perRun  = 200 // create attempts per round
	)
	dataDir := filepath.Join(t.TempDir(), "data")
	var (
		op    string
		acked []btAcked
	)
	for round := 1; round <= rounds; round++ {
		p := btServe(t, btOpts{Args: btServeArgs(dataDir)})
		if round == 1 {
			op = p.operatorToken()
		}
		// Kill after a different share of the run each round.
		killAt := perRun * round / (rounds + 2)
		var (
			mu       sync.Mutex
			got      []btAcked
			attempts int
			failed   int
			wg       sync.WaitGroup
		)
		kill := make(chan struct{})
		var killOnce sync.Once
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					mu.Lock()
					if attempts >= perRun {
						mu.Unlock()
						return
					}
					attempts++
					n := attempts
					mu.Unlock()
					res, err := p.do("POST", "/v1/keys", op, map[string]any{"name": fmt.Sprintf("round %d key %d", round, n)})
					if err != nil {
						mu.Lock()
						failed++
						mu.Unlock()
						return // the process is gone
					}
					if res.Status != http.StatusCreated {
						// Not acknowledged: nothing is promised about it.
						continue
					}
					var k struct{ ID, Secret string }
					if json.Unmarshal(res.Body, &k) != nil || k.ID == "" || k.Secret == "" {
						continue
					}
					mu.Lock()
					got = append(got, btAcked{k.ID, k.Secret})
					if len(got) >= killAt {
						killOnce.Do(func() { close(kill) })
					}
					mu.Unlock()
				}
			}()
		}
		select {
		case <-kill:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: %d keys acknowledged in 30s, wanted %d before the kill", round, len(got), killAt)
		}
		p.signal(syscall.SIGKILL)
		wg.Wait()
		p.wait(10 * time.Second)
		mu.Lock()
		t.Logf("round %d: killed after %d acknowledged creates; %d requests cut off", round, len(got), failed)
		acked = append(acked, got...)
		mu.Unlock()

		p2 := btServe(t, btOpts{Args: btServeArgs(dataDir)})
		if toks := btOperatorRE.FindAllString(p2.stderr.String(), -1); len(toks) != 0 {
			t.Fatalf("round %d: keyward bootstrapped again after kill -9 (the database looked empty)", round)
		}
		ids := map[string]bool{}
		for _, k := range p2.listAll("/v1/keys", op) {
			ids[k["id"].(string)] = true
		}
		lost := 0
		for _, k := range acked {
			if !ids[k.id] {
				lost++
				t.Errorf("round %d: acknowledged key %s is gone after kill -9", round, k.id)
				continue
			}
			if r := p2.verify(op, k.secret); r["code"] != "VALID" || r["key_id"] != k.id {
				t.Errorf("round %d: the secret of acknowledged key %s verifies as %v (key_id %v)", round, k.id, r["code"], r["key_id"])
			}
		}
		if lost > 0 {
			t.Fatalf("round %d: %d of %d acknowledged keys lost", round, lost, len(acked))
		}
		p2.signal(syscall.SIGKILL) // the next round starts from a killed process too
		p2.wait(10 * time.Second)
	}
}

// TestGracefulShutdown checks SIGTERM: a request in flight completes, new
// connections are refused, the process exits 0, pending last-use times are
// written.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	t.Run("request in flight completes", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		p := btServe(t, btOpts{Args: btServeArgs(dataDir)})
		op := p.operatorToken()

		// Expect: 100-continue makes keyward say when its handler starts
		// reading the body: SIGTERM then comes while the request is
		// surely in the handler, not merely queued on the socket.
		pr, pw := io.Pipe()
		got100 := make(chan struct{})
		trace := &httptrace.ClientTrace{Got100Continue: func() { close(got100) }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", p.URL+"/v1/keys", pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+op)
		req.Header.Set("Expect", "100-continue")
		client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}, Timeout: time.Minute}
		defer client.CloseIdleConnections()
		type result struct {
			res  *http.Response
			body []byte
			err  error
		}
		done := make(chan result, 1)
		go func() {
			res, err := client.Do(req)
			if err != nil {
				done <- result{err: err}
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			done <- result{res, b, err}
		}()
		select {
		case <-got100:
		case r := <-done:
			t.Fatalf("the request ended before its body was sent: %v %v", r.err, r.res)
		case <-time.After(15 * time.Second):
			t.Fatal("keyward never asked for the body (no 100 Continue)")
		}
		writeDone := make(chan error, 1)
		go func() { _, err := io.WriteString(pw, `{"name": "in fli`); writeDone <- err }()
		select {
		case err := <-writeDone:
			if err != nil {
				t.Fatalf("writing the first half of the body: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the transport did not take the first half of the body")
		}

		p.signal(syscall.SIGTERM)
		p.waitLine(10*time.Second, func(l string) bool { return strings.Contains(l, "shutting down") })
		// After SIGTERM the listener closes: new connections are refused
		// while the request above still runs.
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", p.Addr, time.Second)
			if err != nil {
				// Refused, or reset when the dial raced the listener's
				// close (the connection sat in the accept queue).
				if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("a new connection after SIGTERM failed with %v, want connection refused", err)
				}
				break
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Fatal("keyward still accepts new connections 5s after SIGTERM")
			}
			time.Sleep(10 * time.Millisecond)
		}
		select {
		case <-p.exited:
			t.Fatalf("keyward exited (code %d) with a request in flight", p.cmd.ProcessState.ExitCode())
		case r := <-done:
			t.Fatalf("the request in flight ended before its body was complete: %v %v", r.err, r.res)
		default:
		}
		time.Sleep(200 * time.Millisecond) // the request stays in flight a while
		if _, err := io.WriteString(pw, `ght"}`); err != nil {
			t.Fatalf("writing the rest of the body: %v", err)
		}
		pw.Close()
		var r result
		select {
		case r = <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("the request in flight got no response")
		}
		if r.err != nil {
			t.Fatalf("the request in flight failed: %v", r.err)
		}
		if r.res.StatusCode != http.StatusCreated {
			t.Fatalf("the request in flight got %d, want 201:\n%s", r.res.StatusCode, r.body)
		}
		var k struct{ ID, Secret string }
		if err := json.Unmarshal(r.body, &k); err != nil || k.ID == "" || k.Secret == "" {
			t.Fatalf("the 201 has no key: %v\n%s", err, r.body)
		}
		if code := p.wait(20 * time.Second); code != 0 {
			t.Fatalf("keyward exited with code %d after SIGTERM, want 0", code)
		}
		if !strings.Contains(p.stderr.String(), "keyward stopped") {
			t.Errorf("no \"keyward stopped\" log line")
		}

		p2 := btServe(t, btOpts{Args: btServeArgs(dataDir)})
		got := p2.must(http.StatusOK, "GET", "/v1/keys/"+k.ID, op, nil)
		if got["name"] != "in flight" {
			t.Errorf("the key created during shutdown has name %v, want %q", got["name"], "in flight")
		}
		if r := p2.verify(op, k.Secret); r["code"] != "VALID" {
			t.Errorf("the key created during shutdown verifies as %v", r["code"])
		}
		p2.stop()
	})

	t.Run("last use is written at shutdown", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		p := btServe(t, btOpts{Args: btServeArgs(dataDir)})
		op := p.operatorToken()
		k := p.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "used"})
		id := k["id"].(string)
		if r := p.verify(op, k["secret"].(string)); r["code"] != "VALID" {
			t.Fatalf("verify: %v", r)
		}
		p.stop() // right away, before the write-behind interval
		p2 := btServe(t, btOpts{Args: btServeArgs(dataDir)})
		got := p2.must(http.StatusOK, "GET", "/v1/keys/"+id, op, nil)
		if got["last_used_at"] == nil {
			t.Errorf("last_used_at of a key verified just before SIGTERM is null after the restart: pending last-use times were not flushed")
		}
		p2.stop()
	})

	t.Run("SIGINT", func(t *testing.T) {
		p := btServe(t, btOpts{Args: btServeArgs(filepath.Join(t.TempDir(), "data"))})
		p.signal(os.Interrupt)
		if code := p.wait(20 * time.Second); code != 0 {
			t.Fatalf("keyward exited with code %d after SIGINT, want 0", code)
		}
	})
}

// TestLogsNeverContainSecrets runs keyward at debug level through the
// paths that handle secrets and checks that no secret reaches stderr, but
// for the one bootstrap print of the operator key.
func TestLogsNeverContainSecrets(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			p := btServe(t, btOpts{Args: btServeArgs(filepath.Join(t.TempDir(), "data"), "--log-level", "debug", "--log-format", format)})
			op := p.operatorToken()
			var secrets []string
			k := p.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "secret keeper"})
			id, first := k["id"].(string), k["secret"].(string)
			secrets = append(secrets, first)
			p.verify(op, first)
			second := p.must(http.StatusOK, "POST", "/v1/keys/"+id+"/rotate", op, map[string]any{"grace_period_seconds": 60})["secret"].(string)
			secrets = append(secrets, second)
			p.verify(op, first)
			p.verify(op, second)
			third := p.must(http.StatusOK, "POST", "/v1/keys/"+id+"/rotate", op, map[string]any{"grace_period_seconds": 0})["secret"].(string)
			secrets = append(secrets, third)
			for _, s := range secrets {
				p.verify(op, s)
			}
			// A secret with a bad checksum, an API key where a management
			// key belongs, in X-API-Key, conflicting credentials, a secret
			// in the query string: all end in errors, none in the log.
			p.verify(op, third[:len(third)-1]+"x")
			if res, err := p.do("GET", "/v1/keys", third, nil); err != nil || res.Status != http.StatusForbidden {
				t.Errorf("API key on a management route: %v %v, want 403", err, res)
			}
			if res, err := p.do("GET", "/v1/whoami", third, nil); err != nil || res.Status != http.StatusOK {
				t.Errorf("whoami with an API key: %v %v, want 200", err, res)
			}
			for _, h := range []map[string]string{
				{"X-API-Key": op},
				{"X-API-Key": third},
				{"Authorization": "Bearer " + op, "X-API-Key": third},
				{"Authorization": "Basic " + op},
			} {
				req, _ := http.NewRequest("GET", p.URL+"/v1/keys", nil)
				for name, v := range h {
					req.Header.Set(name, v)
				}
				res, err := p.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			if res, err := p.do("GET", "/v1/keys?key="+third, op, nil); err != nil || res.Status != http.StatusBadRequest {
				t.Errorf("a secret in the query string: %v %v, want 400", err, res)
			}
			p.stop()

			stderr := p.stderr.String()
			if n := strings.Count(stderr, op); n != 1 {
				t.Errorf("the operator key appears %d times on stderr, want exactly once (the bootstrap print)", n)
			}
			body := func(s string) string { _, b, _ := strings.Cut(s, "_"); return b }
			if n := strings.Count(stderr, body(op)); n != 1 {
				t.Errorf("the operator key's random part appears %d times on stderr, want once", n)
			}
			for i, s := range secrets {
				if strings.Contains(stderr, s) || strings.Contains(stderr, body(s)) {
					t.Errorf("secret #%d (%s…) appears in the log", i+1, s[:6])
				}
			}
			if !strings.Contains(stderr, "request") {
				t.Errorf("no request log at all: the test would prove nothing\n%s", stderr)
			}
		})
	}
	t.Run("secret in the URL path", func(t *testing.T) {
		// A client that puts a secret where an id belongs must not get it
		// written to the access log.
		p := btServe(t, btOpts{Args: btServeArgs(filepath.Join(t.TempDir(), "data"), "--log-level", "debug")})
		op := p.operatorToken()
		secret := p.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "misused"})["secret"].(string)
		p.must(http.StatusNotFound, "GET", "/v1/keys/"+secret, op, nil)
		p.stop()
		if strings.Contains(p.stderr.String(), secret) {
			t.Errorf("a secret sent in the URL path is written to the log:\n%s", p.stderr.String())
		}
	})
}

// TestMigrateAndHelp checks keyward migrate and the help texts.
func TestMigrateAndHelp(t *testing.T) {
	t.Parallel()
	t.Run("migrate", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		p := btStart(t, btOpts{Args: []string{"migrate", "--data-dir", dataDir}})
		if code := p.wait(20 * time.Second); code != 0 {
			t.Fatalf("keyward migrate exited %d:\n%s", code, p.stderr.String())
		}
		db := filepath.Join(dataDir, "keyward.db")
		btMode(t, dataDir, 0o700)
		btMode(t, db, 0o600)
		if !strings.Contains(p.stdout.String(), db) {
			t.Errorf("keyward migrate does not name the database: %q", p.stdout.String())
		}
		if btOperatorRE.MatchString(p.stdout.String() + p.stderr.String()) {
			t.Errorf("keyward migrate bootstrapped a key; only serve does")
		}
		// The schema is there: serve on that file bootstraps without migrating anew,
		// and a second migrate has nothing to do.
		again := btStart(t, btOpts{Args: []string{"migrate"}, Env: []string{"KEYWARD_DATA_DIR=" + dataDir}})
		if code := again.wait(20 * time.Second); code != 0 {
			t.Fatalf("second keyward migrate (KEYWARD_DATA_DIR) exited %d:\n%s", code, again.stderr.String())
		}
		if !strings.Contains(again.stdout.String(), db) {
			t.Errorf("KEYWARD_DATA_DIR was ignored by migrate: %q", again.stdout.String())
		}
		s := btServe(t, btOpts{Args: btServeArgs(dataDir)})
		s.must(http.StatusOK, "GET", "/v1/keys", s.operatorToken(), nil)
		s.stop()
	})
	t.Run("migrate on an unusable path", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "not-a-dir")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		p := btStart(t, btOpts{Args: []string{"migrate", "--data-dir", file}})
		if code := p.wait(20 * time.Second); code == 0 {
			t.Fatalf("keyward migrate on a file as data dir exited 0")
		}
		if !strings.Contains(p.stderr.String(), "keyward:") {
			t.Errorf("no error message:\n%s", p.stderr.String())
		}
	})
	for _, tc := range []struct {
		args    []string
		mention []string
	}{
		{[]string{"--help"}, []string{"serve", "migrate", "KEYWARD_"}},
		{[]string{"serve", "--help"}, []string{"--addr", "--data-dir", "--log-format", "--log-level", "--bootstrap-key-file",
			"--shutdown-timeout", "127.0.0.1:8420", "keyward-data"}},
		{[]string{"migrate", "--help"}, []string{"--data-dir"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			p := btStart(t, btOpts{Args: tc.args})
			if code := p.wait(15 * time.Second); code != 0 {
				t.Fatalf("keyward %v exited %d:\n%s", tc.args, code, p.stderr.String())
			}
			out := p.stdout.String()
			for _, m := range tc.mention {
				if !strings.Contains(out, m) {
					t.Errorf("keyward %v does not mention %s:\n%s", tc.args, m, out)
				}
			}
		})
	}
	t.Run("unknown flag", func(t *testing.T) {
		p := btStart(t, btOpts{Args: []string{"serve", "--no-such-flag"}})
		if code := p.wait(15 * time.Second); code == 0 {
			t.Fatalf("keyward serve --no-such-flag exited 0")
		}
		if !strings.Contains(p.stderr.String(), "no-such-flag") {
			t.Errorf("the error does not name the flag:\n%s", p.stderr.String())
		}
	})
}

// TestServeDialects: keyward serve mounts the four compatibility dialects
// on its port: each lists the key made natively, in its format.
func TestServeDialects(t *testing.T) {
	t.Parallel()
	p := btServe(t, btOpts{Args: btServeArgs(filepath.Join(t.TempDir(), "data"))})
	op := p.operatorToken()
	p.must(http.StatusCreated, "POST", "/v1/keys", op, map[string]any{"name": "seen by every dialect"})
	for _, c := range []struct{ path, header, scheme string }{
		{"/compat/orq/v2/api-keys", "Authorization", "Bearer "},
		{"/compat/discue/v1/api_keys", "X-API-KEY", ""},
		{"/compat/pulsecrm/apikeys", "Authorization", "Bearer "},
		{"/compat/vectara/v2/api_keys", "x-api-key", ""},
	} {
		res, err := btDoHeader(p, "GET", c.path, "", nil, map[string]string{c.header: c.scheme + op})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != http.StatusOK || !strings.Contains(string(res.Body), "seen by every dialect") {
			t.Errorf("GET %s: %d %.300s", c.path, res.Status, res.Body)
		}
		if res.Header.Get("X-Request-Id") == "" {
			t.Errorf("GET %s: no X-Request-Id", c.path)
		}
	}
	p.stop()
	// Printed once at bootstrap, and nowhere in the log after.
	if n := strings.Count(p.stderr.String(), op); n != 1 {
		t.Errorf("the operator key appears %d times on stderr, want once (the bootstrap banner)", n)
	}
}

//go:build linux

package cli_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ctOpenPTY opens a pseudo-terminal: what the test writes to master, a
// process reading slave reads as typed at a terminal.
func ctOpenPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal on this machine: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("the pseudo-terminal's number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pseudo-terminal's slave: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestCtConfirmOnRealTerminal runs the real binary with standard input on
// a pseudo-terminal: keys revoke asks, and revokes only when the answer
// is yes. With standard input on /dev/null (a character device, but no
// terminal) it does not ask.
func TestCtConfirmOnRealTerminal(t *testing.T) {
	bin := ctBuildKeyward(t)
	s := ctStartServer(t)
	env := append(ctBaseEnviron(), "KEYWARD_URL="+s.URL, "KEYWARD_TOKEN="+s.Token)

	// revoke runs "keyward keys revoke id" with its standard input on a
	// pseudo-terminal where typed is typed, or, if typed is nil, on
	// /dev/null; it returns stderr and the exit status.
	revoke := func(t *testing.T, id string, typed *string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, "keys", "revoke", id)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		var master *os.File
		if typed != nil {
			master, cmd.Stdin = ctOpenPTY(t)
		} else {
			null, err := os.Open(os.DevNull)
			if err != nil {
				t.Fatal(err)
			}
			defer null.Close()
			cmd.Stdin = null
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if typed != nil {
			// The terminal keeps the line until the process reads it.
			if _, err := master.WriteString(*typed); err != nil {
				t.Fatalf("type %q: %v", *typed, err)
			}
		}
		select {
		case err := <-done:
			var exit *exec.ExitError
			switch {
			case err == nil:
				return stderr.String(), 0
			case errors.As(err, &exit):
				return stderr.String(), exit.ExitCode()
			}
			t.Fatalf("keys revoke: %v", err)
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("keys revoke did not end within 30s; stderr so far:\n%s", stderr.String())
		}
		return "", -1
	}
	str := func(s string) *string { return &s }
	status := func(id string) any { return s.okJSON(t, "keys", "get", id)["status"] }

	id := s.okJSON(t, "keys", "create", "--name", "at a terminal")["id"].(string)
	stderr, code := revoke(t, id, str("n\n"))
	if code != 1 || !strings.HasPrefix(stderr, "Revoke key "+id+"?") || !strings.Contains(stderr, "keyward: not confirmed: nothing was changed") {
		t.Fatalf("answer n: exit %d, want 1 with the question and 'not confirmed'; stderr:\n%s", code, stderr)
	}
	if st := status(id); st != "active" {
		t.Fatalf("answer n at a terminal: the key is %v, want active", st)
	}
	if stderr, code = revoke(t, id, str("y\n")); code != 0 || status(id) != "revoked" {
		t.Fatalf("answer y: exit %d, key %v; stderr:\n%s", code, status(id), stderr)
	}

	id = s.okJSON(t, "keys", "create", "--name", "from a script")["id"].(string)
	if stderr, code = revoke(t, id, nil); code != 0 || stderr != "" || status(id) != "revoked" {
		t.Fatalf("standard input on /dev/null: exit %d, key %v, want 0, revoked, nothing asked; stderr:\n%s", code, status(id), stderr)
	}
}

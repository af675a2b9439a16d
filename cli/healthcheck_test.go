package cli_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthcheck exits 0 for a ready server, 1 for one that is not ready
// or does not answer, 2 for bad usage: the container's HEALTHCHECK.
func TestHealthcheck(t *testing.T) {
	s := ctStartServer(t)
	addr := strings.TrimPrefix(s.URL, "http://")
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing listens on dead: a port that was just free.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	t.Run("ready", func(t *testing.T) {
		for _, inv := range []struct {
			name string
			env  map[string]string
			args []string
		}{
			{"--addr", nil, []string{"--addr", addr}},
			// The image sets KEYWARD_ADDR=0.0.0.0:8420 for serve; the
			// check follows it on loopback.
			{"KEYWARD_ADDR with a wildcard host", map[string]string{"KEYWARD_ADDR": "0.0.0.0:" + port}, nil},
			// The client commands' variables do not steer the check.
			{"KEYWARD_URL elsewhere", map[string]string{"KEYWARD_ADDR": addr, "KEYWARD_URL": "http://" + dead, "KEYWARD_TIMEOUT": "0s"}, nil},
			{"--url", map[string]string{"KEYWARD_ADDR": dead}, []string{"--url", s.URL}},
		} {
			t.Run(inv.name, func(t *testing.T) {
				r := ctRunCLI(t, ctInvocation{env: inv.env}, append([]string{"healthcheck"}, inv.args...)...)
				if r.err != nil || !strings.Contains(r.stdout, "/readyz: ready") {
					t.Errorf("want exit 0 and ready:\n%s", r)
				}
			})
		}
	})

	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"code":"unavailable","status":503,"title":"the database does not answer"}`))
	}))
	defer notReady.Close()
	// silent answers nothing until the client gives up.
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer silent.Close()

	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"nothing listens", []string{"--addr", dead}, 1},
		{"503", []string{"--url", notReady.URL}, 1},
		{"no answer within --timeout", []string{"--url", silent.URL, "--timeout", "300ms"}, 1},
		{"--addr without a port", []string{"--addr", "127.0.0.1"}, 2},
		{"--addr with port 0", []string{"--addr", "127.0.0.1:0"}, 2},
		{"--timeout 0", []string{"--addr", addr, "--timeout", "0s"}, 2},
		{"--url not a URL", []string{"--url", "ftp://x"}, 2},
		{"an argument", []string{"now"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ctRunCLI(t, ctInvocation{}, append([]string{"healthcheck"}, tc.args...)...)
			if r.err == nil || r.code != tc.code {
				t.Fatalf("want exit %d:\n%s", tc.code, r)
			}
			if tc.code == 1 && !strings.Contains(ctErrText(r.err), " is not ready: ") {
				t.Errorf("the error does not say the server is not ready:\n%s", r)
			}
			if r.stdout != "" {
				t.Errorf("a failed check printed on stdout:\n%s", r)
			}
		})
	}
}

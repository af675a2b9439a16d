package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/client"
)

func (e *env) healthcheckCommand() *cobra.Command {
	var (
		addr, base string
		timeout    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the server answers ready, 1 when it does not (for health checks)",
		Long: `Ask the keyward server on --addr whether it is ready (GET /readyz: the
server answers and its database does) and exit 0 if it is, 1 if it is not or
does not answer within --timeout. It is the container image's HEALTHCHECK,
which has no curl, and works for any supervisor that runs a command.

--addr is the address "keyward serve" listens on and reads KEYWARD_ADDR like
serve does, so the check follows the server's setting; a wildcard host
(0.0.0.0, ::) is checked on loopback. --url checks another base URL instead
(a TLS proxy in front). No credential is needed or sent.

Exit status: 0 ready, 1 not ready or not answering, 2 bad usage.

Example:
  keyward healthcheck
  KEYWARD_ADDR=0.0.0.0:8420 keyward healthcheck --timeout 2s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return usagef("--timeout must be positive, not %s", timeout)
			}
			if base == "" {
				u, err := localURL(addr)
				if err != nil {
					return err
				}
				base = u
			}
			cl, err := client.New(base, client.WithUserAgent(e.build.userAgent()+" healthcheck"),
				client.WithHTTPClient(&http.Client{
					Timeout:       timeout,
					CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
				}))
			if err != nil {
				return usagef("--url: %v", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if _, err := cl.Ready(ctx); err != nil {
				// Not wrapped: whatever the cause, the exit status is 1
				// (container engines reserve 2, and 3 would be "unreachable").
				return fmt.Errorf("%s is not ready: %s", base, strings.TrimPrefix(err.Error(), "keyward: "))
			}
			fmt.Fprintf(e.stdout, "%s/readyz: ready\n", base)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8420", "address keyward serve listens on (KEYWARD_ADDR); a wildcard host is checked on loopback")
	f.StringVar(&base, "url", "", "base URL to check instead of --addr (like https://keyward.internal)")
	f.DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	// Only --addr follows the environment: KEYWARD_URL and KEYWARD_TIMEOUT
	// belong to the client commands, and a KEYWARD_URL naming a load
	// balancer must not make a node's health check ask another node.
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		only := &cobra.Command{}
		only.Flags().AddFlag(f.Lookup("addr"))
		return e.bindEnv(only)
	}
	return cmd
}

// localURL is the base URL at which this machine reaches a server
// listening on addr: a wildcard or empty host is reached on loopback.
func localURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return "", usagef("--addr (KEYWARD_ADDR) must be host:port with a port to check, not %q", addr)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

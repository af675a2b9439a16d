// Package cli is keyward's command line: the server (serve, migrate) and
// the client of a running server (keys …). cmd/keyward only calls Run;
// tests call it too, with their own arguments, environment and streams.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
)

// env is the process environment a command sees.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// Run executes the keyward command line with the given arguments (without
// the program name). ctx is cancelled on SIGINT/SIGTERM.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "keyward",
		Short: "keyward issues, manages and verifies API keys",
		Long: `keyward is a self-hosted API key service: it issues API keys to your
customers, manages them for their whole life and verifies them on every
request. "keyward serve" runs the server; the other commands are clients of a
running server (KEYWARD_URL, KEYWARD_TOKEN).

Every flag of the server commands (serve, migrate) can also be set with an
environment variable: KEYWARD_ followed by the flag name in upper case with
dashes as underscores (--data-dir is KEYWARD_DATA_DIR). The client commands
read only their connection flags from the environment (KEYWARD_URL,
KEYWARD_TOKEN, KEYWARD_ACCOUNT_ID, KEYWARD_JSON, KEYWARD_TIMEOUT), so an
exported variable can never change what a command does to a key.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(e.serveCommand(), e.migrateCommand(), e.backupCommand(), e.adminCommand(), e.keysCommand(), e.versionCommand())
	root.AddCommand(e.accountsCommand(), e.usersCommand(), e.serviceAccountsCommand(), e.rolesCommand(), e.managementKeysCommand(), e.catalogCommand())
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return e.bindEnv(cmd) }
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v", err) })
	return root.ExecuteContext(ctx)
}

// bindEnv gives every flag not set on the command line the value of its
// KEYWARD_* environment variable, if set.
func (e *env) bindEnv(cmd *cobra.Command) error {
	var errs []error
	apply := func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		name := "KEYWARD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := e.getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, usagef("%s=%q: %v", name, v, err))
			}
		}
	}
	cmd.Flags().VisitAll(apply)
	cmd.InheritedFlags().VisitAll(apply)
	if len(errs) > 0 {
		return usagef("%v", errors.Join(errs...))
	}
	return nil
}

// Exit codes: 1 for a failed operation, 2 for bad usage, 3 for a server
// that cannot be reached.
func ExitCode(err error) int {
	var ue usageError
	switch {
	case errors.As(err, &ue):
		return 2
	case keyward.ErrorCode(err) == keyward.ECodeUnavailable:
		return 3
	}
	return 1
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func (e *env) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print keyward's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(e.stdout, "keyward", Version)
			return nil
		},
	}
}

// Version is keyward's version.
const Version = "0.1.0"

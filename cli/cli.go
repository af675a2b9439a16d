// Package cli is keyward's command line: the server (serve, migrate) and
// the client of a running server (keys …). cmd/keyward only calls RunBuild
// with the build's version; tests call Run, with their own arguments,
// environment and streams.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/keyward/keyward"
)

// env is the process environment a command sees.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// stdinIsTerminal reports whether a person types on standard input:
	// then revoke and delete ask before they act. Tests replace it.
	stdinIsTerminal func() bool
	// build describes the binary (keyward version).
	build Build
}

// Run executes the keyward command line with the given arguments (without
// the program name). ctx is cancelled on SIGINT/SIGTERM. The binary is
// described by ReadBuild("", ""): what the Go toolchain recorded.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return RunBuild(ctx, ReadBuild("", ""), args, getenv, stdin, stdout, stderr)
}

// RunBuild is Run for the binary b describes: cmd/keyward passes the
// version and commit its build set at link time.
func RunBuild(ctx context.Context, b Build, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr,
		stdinIsTerminal: func() bool { return isTerminal(stdin) }, build: b}
	return e.execute(ctx, args)
}

// isTerminal reports whether r is a terminal (not a file, a pipe or
// /dev/null, which are character devices too).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// execute runs the command line in e.
func (e *env) execute(ctx context.Context, args []string) error {
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
		// --version prints what "keyward version" prints.
		Version: e.build.String(),
	}
	root.SetVersionTemplate("{{.Version}}")
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.AddCommand(e.serveCommand(), e.migrateCommand(), e.backupCommand(), e.adminCommand(), e.keysCommand(), e.versionCommand(), e.healthcheckCommand())
	root.AddCommand(e.accountsCommand(), e.usersCommand(), e.serviceAccountsCommand(), e.rolesCommand(), e.managementKeysCommand(), e.catalogCommand())
	root.AddCommand(e.projectsCommand(), e.auditCommand(), e.usageCommand())
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return e.bindEnv(cmd) }
	root.SetFlagErrorFunc(flagError)
	root.SetHelpCommand(helpCommand())
	root.InitDefaultCompletionCmd()
	strictArgs(root)
	return root.ExecuteContext(ctx)
}

// strictArgs makes every argument error of cmd and the commands below it
// a usage error (exit 2): a command with subcommands refuses any other
// word as an unknown command, with cobra's suggestions; the others keep
// their own checks.
func strictArgs(cmd *cobra.Command) {
	if cmd.HasSubCommands() {
		cmd.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return nil
		}
		if !cmd.Runnable() {
			cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
	} else if check := cmd.Args; check != nil {
		cmd.Args = func(cmd *cobra.Command, args []string) error {
			err := check(cmd, args)
			var ue usageError
			if err != nil && !errors.As(err, &ue) {
				return usagef("%v", err)
			}
			return err
		}
	}
	for _, sub := range cmd.Commands() {
		strictArgs(sub)
	}
}

// unknownCommand is the usage error of a word that names no subcommand of
// cmd, with the subcommands it may be a typo of.
func unknownCommand(cmd *cobra.Command, word string) error {
	msg := fmt.Sprintf("unknown command %q for %q", word, cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(word); len(s) > 0 {
		for i := range s {
			s[i] = fmt.Sprintf("%q", cmd.CommandPath()+" "+s[i])
		}
		return usagef("%s: did you mean %s?", msg, strings.Join(s, " or "))
	}
	return usagef("%s (see %s --help)", msg, cmd.CommandPath())
}

// flagError makes a flag error a usage error. Flags are parsed before the
// subcommand's name is checked, so "keys lst --status active" would blame
// --status: a word that names no subcommand is reported first.
func flagError(cmd *cobra.Command, err error) error {
	if args := cmd.Flags().Args(); cmd.HasSubCommands() && len(args) > 0 {
		return unknownCommand(cmd, args[0])
	}
	return usagef("%v", err)
}

// helpCommand is "keyward help [command]": cobra's prints the usage and
// succeeds for a topic it does not know.
func helpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  `Help shows the help of any command: keyward help keys create.`,
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := c.Root().Find(args)
			if err != nil {
				return usagef("%v", err)
			}
			if len(rest) > 0 {
				return unknownCommand(target, rest[0])
			}
			return target.Help()
		},
	}
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

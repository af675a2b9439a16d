package cli

import (
	"context"
	"io"
)

// RunOnTerminal is Run with standard input taken for a terminal, where a
// person answers the questions revoke and delete ask.
func RunOnTerminal(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr, stdinIsTerminal: func() bool { return true }}
	return e.execute(ctx, args)
}

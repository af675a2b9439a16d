// Command keyward is the keyward API-key server and its command-line client.
// Everything but signal handling, the build's version and the exit code
// lives in package cli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/keyward/keyward/cli"
)

// version and commit are set at link time by a release build (the
// Dockerfile does it):
//
//	go build -ldflags "-X main.version=v1.4.0 -X main.commit=$(git rev-parse HEAD)" ./cmd/keyward
//
// They are never written at run time. Left empty, keyward reports what the
// Go toolchain recorded (cli.ReadBuild).
var version, commit string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.RunBuild(ctx, cli.ReadBuild(version, commit), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyward:", err)
		os.Exit(cli.ExitCode(err))
	}
}

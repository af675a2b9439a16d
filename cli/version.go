package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Build describes the running binary: what "keyward version" and
// "keyward --version" print, and the version in the server's start log
// line and in the client commands' User-Agent.
type Build struct {
	// Version is a release ("v1.4.0") set at link time, the version the Go
	// toolchain derived from git ("v0.0.0-20261206115946-4da538b1c2d3",
	// "+dirty" when the tree was modified), or "(devel)" when nothing
	// tells (go run).
	Version string
	// Commit is the VCS revision; "" when unknown.
	Commit string
	// CommitTime is the time of Commit (RFC 3339); "" when unknown.
	CommitTime string
	// Modified is "true" when the working tree had uncommitted changes,
	// "false" when it had none, "" when unknown.
	Modified string
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
	// Platform is GOOS/GOARCH.
	Platform string
}

// develVersion is the version the Go toolchain records when it knows none.
const develVersion = "(devel)"

// ReadBuild describes the running binary. version and commit, when not
// empty, are what the build set at link time (cmd/keyward's
// -ldflags "-X main.version=… -X main.commit=…"); the rest comes from what
// the Go toolchain recorded in the binary (runtime/debug.ReadBuildInfo: the
// main module's version and, for a go build in a git checkout, the vcs.*
// settings). It never fails: what is unknown stays empty, and the version
// is "(devel)".
func ReadBuild(version, commit string) Build {
	info, _ := debug.ReadBuildInfo()
	return buildOf(info, version, commit)
}

// buildOf is ReadBuild on the build information info (nil when the binary
// carries none).
func buildOf(info *debug.BuildInfo, version, commit string) Build {
	b := Build{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	var vcsRevision, vcsTime, vcsModified string
	if info != nil {
		if b.Version == "" {
			b.Version = info.Main.Version
		}
		if info.GoVersion != "" {
			b.GoVersion = info.GoVersion
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				vcsRevision = s.Value
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.modified":
				vcsModified = s.Value
			}
		}
	}
	if b.Version == "" {
		b.Version = develVersion
	}
	b.Commit = commit
	if commit == "" || commit == vcsRevision {
		// The recorded time and state describe the recorded revision only.
		b.Commit, b.CommitTime, b.Modified = vcsRevision, vcsTime, vcsModified
	}
	return b
}

// String is the text "keyward version" prints: the version on the first
// line, then one "name: value" line each.
func (b Build) String() string {
	unknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "keyward %s\n", b.Version)
	fmt.Fprintf(&sb, "commit:   %s\n", unknown(b.Commit))
	if b.CommitTime != "" {
		fmt.Fprintf(&sb, "time:     %s\n", b.CommitTime)
	}
	fmt.Fprintf(&sb, "modified: %s\n", unknown(b.Modified))
	fmt.Fprintf(&sb, "go:       %s %s\n", b.GoVersion, b.Platform)
	return sb.String()
}

// userAgent is the User-Agent of the client commands: "(devel)" is not a
// valid product version there.
func (b Build) userAgent() string {
	v := b.Version
	if v == develVersion {
		v = "devel"
	}
	return "keyward-cli/" + v
}

func (e *env) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print keyward's version and commit",
		Long: `Print the version of this keyward binary, the commit it was built from,
whether that working tree had uncommitted changes, and the Go toolchain and
platform. "keyward --version" prints the same.

A release build sets the version and commit at link time (see
docs/operations.md, Version); "go build" in a git checkout records the
commit by itself; "go run" records none and says "(devel)".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(e.stdout, e.build)
			return err
		},
	}
}

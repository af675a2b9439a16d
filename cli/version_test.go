package cli

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// TestBuildOf reads the version and commit from what the build set at
// link time, else from the build information the Go toolchain recorded.
func TestBuildOf(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	vcs := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/keyward/keyward", Version: "v0.0.0-20261206115946-4da538b1c2d3+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "CGO_ENABLED", Value: "0"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "4da538b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7"},
			{Key: "vcs.time", Value: "2026-12-06T11:59:46Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	for _, tc := range []struct {
		name            string
		info            *debug.BuildInfo
		version, commit string
		want            Build
	}{
		{"go build in a git checkout", vcs, "", "",
			Build{Version: "v0.0.0-20261206115946-4da538b1c2d3+dirty", Commit: "4da538b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7",
				CommitTime: "2026-12-06T11:59:46Z", Modified: "true", GoVersion: "go1.26.8", Platform: platform}},
		{"release: ldflags version, commit recorded too", vcs, "v1.4.0", "",
			Build{Version: "v1.4.0", Commit: "4da538b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7",
				CommitTime: "2026-12-06T11:59:46Z", Modified: "true", GoVersion: "go1.26.8", Platform: platform}},
		{"ldflags commit other than the recorded one", vcs, "v1.4.0", "0123456789abcdef",
			Build{Version: "v1.4.0", Commit: "0123456789abcdef", GoVersion: "go1.26.8", Platform: platform}},
		{"container build: no VCS information, ldflags", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "v1.4.0", "0123456789abcdef",
			Build{Version: "v1.4.0", Commit: "0123456789abcdef", GoVersion: "go1.26.8", Platform: platform}},
		{"go run", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "", "",
			Build{Version: "(devel)", GoVersion: "go1.26.8", Platform: platform}},
		{"no build information", nil, "", "",
			Build{Version: "(devel)", GoVersion: runtime.Version(), Platform: platform}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := buildOf(tc.info, tc.version, tc.commit); got != tc.want {
				t.Errorf("buildOf:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestBuildString(t *testing.T) {
	for _, tc := range []struct {
		b    Build
		want string
	}{
		{Build{Version: "v1.4.0", Commit: "4da538b", CommitTime: "2026-12-06T11:59:46Z", Modified: "false", GoVersion: "go1.26.8", Platform: "linux/amd64"},
			"keyward v1.4.0\ncommit:   4da538b\ntime:     2026-12-06T11:59:46Z\nmodified: false\ngo:       go1.26.8 linux/amd64\n"},
		{Build{Version: "(devel)", GoVersion: "go1.26.8", Platform: "linux/arm64"},
			"keyward (devel)\ncommit:   unknown\nmodified: unknown\ngo:       go1.26.8 linux/arm64\n"},
	} {
		if got := tc.b.String(); got != tc.want {
			t.Errorf("%+v prints\n%s\nwant\n%s", tc.b, got, tc.want)
		}
	}
	if got := (Build{Version: "(devel)"}).userAgent(); got != "keyward-cli/devel" {
		t.Errorf("the user agent of a devel build is %q", got)
	}
}

func TestLocalURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8420": "http://127.0.0.1:8420",
		"0.0.0.0:8420":   "http://127.0.0.1:8420",
		":8420":          "http://127.0.0.1:8420",
		"[::]:9000":      "http://[::1]:9000",
		"[::1]:9000":     "http://[::1]:9000",
		"keyward.lan:80": "http://keyward.lan:80",
		"127.0.0.1:0":    "",
		"127.0.0.1":      "",
		"not an address": "",
	} {
		got, err := localURL(addr)
		if want == "" {
			if err == nil || ExitCode(err) != 2 {
				t.Errorf("localURL(%q) = %q, %v; want a usage error", addr, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("localURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
}

package browser

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
)

// screenshotsVar names the directory TestScreenshots writes to.
const screenshotsVar = "KEYWARD_SCREENSHOTS"

// TestScreenshots writes PNGs of the main pages (1280x800, light) into the
// directory KEYWARD_SCREENSHOTS names, for the documentation:
//
//	KEYWARD_SCREENSHOTS=$PWD/docs/screenshots go test ./ui/browser/ -run TestScreenshots
//
// The server's clock runs a day behind while the fixture's keys are
// verified, hour by hour, so the charts show a day of traffic.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv(screenshotsVar)
	if dir == "" {
		t.Skip("set " + screenshotsVar + "=<directory> to write the dashboard's screenshots there (docs/screenshots)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	var behind atomic.Int64 // how far the server's clock runs behind
	clock := func() time.Time { return time.Now().Add(-time.Duration(behind.Load())) }
	behind.Store(int64(25 * time.Hour))
	s := startKeyward(t, keywardtest.Options{Service: service.Options{Clock: clock, UsageFlushInterval: 20 * time.Millisecond}})
	ctx := context.Background()
	id := fixture(t, s)
	var keys []*keyward.KeyFields
	for _, name := range []string{"Mobile app", "Partner: Acme", "CI deploys", "Search indexer"} {
		keys = append(keys, &keyward.KeyFields{Name: keyward.Some(name), PermissionMode: keyward.Some(keyward.ModeRestricted), Scopes: keyward.Some([]keyward.Scope{{Resource: "documents", Access: keyward.AccessRead, Targets: []string{"*"}}})})
	}
	var secrets []keyward.Token
	for _, k := range keys {
		secrets = append(secrets, s.CreateKey(t, k).Secret)
	}
	// Usage is counted in the bucket of the moment it is written behind:
	// each hour's verifications must be written while the clock is in
	// that hour.
	window := &client.UsageParams{Granularity: "hour", From: time.Now().Add(-48 * time.Hour), To: time.Now().Add(time.Hour)}
	total := func() int64 {
		u, err := s.Client.AccountUsage(ctx, window)
		if err != nil {
			t.Fatal(err)
		}
		return u.Total
	}
	sent := int64(0)
	for h := 24; h >= 0; h-- {
		behind.Store(int64(time.Duration(h) * time.Hour))
		before := total()
		sent = 0
		for i, sec := range secrets {
			// A daily rhythm: more traffic in the afternoon, a few
			// refusals.
			n := 1 + (i+h)%4 + 3*((24-h)/8)
			for j := range n {
				perms := "documents:read"
				if (i+j+h)%7 == 0 {
					perms = "files:write"
				}
				in := &keyward.VerifyRequest{Key: keyward.Some(sec), Permissions: &perms}
				if _, err := s.Client.VerifyKey(ctx, in); err != nil {
					t.Fatal(err)
				}
				sent++
			}
		}
		keywardtest.WaitFor(t, "the hour's usage written behind", 30*time.Second, func() bool { return total() >= before+sent })
	}
	behind.Store(0)

	tb := b.newTab(t)
	tb.signIn(s.URL, s.OperatorKey)
	shots := []struct {
		file string
		open func()
	}{
		{"overview.png", func() { tb.open(s.URL + "/") }},
		{"keys.png", func() { tb.open(s.URL + "/keys") }},
		{"key.png", func() { tb.open(s.URL + "/keys/" + id) }},
		{"create-secret.png", func() {
			tb.open(s.URL + "/keys/new")
			tb.fill("form#key-form [name=name]", "Checkout service")
			tb.fill("form#key-form [name=scopes]", "documents:read\nfiles:write")
			tb.follow("form#key-form [type=submit]")
			if !tb.has("#secret") {
				t.Fatal("created, the page shows no #secret")
			}
		}},
	}
	for _, shot := range shots {
		shot.open()
		ctx, cancel := tb.step()
		img, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", shot.file, err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(img))
		if err != nil || cfg.Width != 1280 || cfg.Height != 800 {
			t.Fatalf("%s: not a 1280x800 PNG (%v, %dx%d)", shot.file, err, cfg.Width, cfg.Height)
		}
		if err := os.WriteFile(filepath.Join(dir, shot.file), img, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", filepath.Join(dir, shot.file), len(img))
	}
}

// Package browser tests the dashboard (package ui) in a real browser:
// Debian's chromium, driven from Go with chromedp, against a real keyward
// server (keywardtest: SQLite, or PostgreSQL when KEYWARD_TEST_STORE=
// postgres) serving the API and the dashboard on loopback. It signs in,
// creates, verifies, disables, revokes, edits, rotates and audits keys
// through the pages, checking the answers through the API; it runs
// axe-core (npm, exact version in package-lock.json) on every page at 1280
// and 375 px, light and dark, and weighs what each page transfers.
//
// The tests need /usr/bin/chromium (`apt-get install -y chromium`) and
// axe-core (`npm ci --prefix ui/browser`); .ci/run installs both. Without
// them the tests skip, saying so, except under CI=true, where they fail.
//
// This package has only tests: it is not part of keyward's binary.
package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromiumPath is Debian's chromium, the browser .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// axePath is axe-core's browser bundle, installed by npm ci.
const axePath = "node_modules/axe-core/axe.min.js"

// stepTimeout bounds each step in a tab (a navigation, an evaluation, a
// wait for an element): a step that waits for what never comes fails the
// test instead of hanging it.
const stepTimeout = 30 * time.Second

// unavailable skips t, or fails it under CI=true, because what the browser
// tests need is missing.
func unavailable(t *testing.T, why string) {
	t.Helper()
	msg := why + ": run `apt-get install -y chromium && npm ci --prefix ui/browser` to run the browser tests"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI must run them; .ci/run installs both)")
	}
	t.Skip(msg)
}

// browser is the chromium process the package's tests share (one start,
// not one per test); each tab it opens has its own cookies (a new browser
// context), so no test sees another's sessions.
type browser struct {
	ctx   context.Context // the browser's first chromedp context
	axeJS string          // axe-core's source, injected into the pages
}

// shared is the package's browser, started by the first test that needs
// it and stopped by TestMain when all have run.
var shared struct {
	once sync.Once
	b    *browser
	err  error
	stop func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	os.Exit(code)
}

// newBrowser returns the package's browser, starting it for the first
// test that asks. It skips t (fails it under CI) when chromium or axe-core
// is not installed.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		unavailable(t, chromiumPath+" is not installed")
	}
	axe, err := os.ReadFile(axePath)
	if err != nil {
		unavailable(t, "axe-core is not installed ("+axePath+")")
	}
	shared.once.Do(func() { shared.b, shared.stop, shared.err = startBrowser(string(axe)) })
	if shared.err != nil {
		t.Fatalf("start %s: %v", chromiumPath, shared.err)
	}
	return shared.b
}

// startBrowser starts chromium headless with a fresh profile and returns
// it with the function that stops it and removes the profile.
func startBrowser(axeJS string) (*browser, func(), error) {
	dir, err := os.MkdirTemp("", "keyward-chromium-")
	if err != nil {
		return nil, nil, err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root, in CI too
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(dir),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.WindowSize(1280, 800),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	stop := func() {
		cancel()
		cancelAlloc()
		// chromium's children can still write to the profile for a
		// moment after it exits.
		for range 50 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := initContext(ctx); err != nil {
		stop()
		return nil, nil, err
	}
	return &browser{ctx: ctx, axeJS: axeJS}, stop, nil
}

// initContext starts what the chromedp context ctx stands for (the browser,
// or a tab) within a minute. It runs on ctx itself, not on a context with
// a deadline: chromedp ties the browser or tab to the context it was
// started with, and would close it when that context ended.
func initContext(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		chromedp.Cancel(ctx)
		return errors.New("it did not start within a minute")
	}
}

// tab is one page of the browser with its own cookies and cache.
type tab struct {
	t   *testing.T
	ctx context.Context
}

// newTab opens a tab in a new browser context (no cookies) for t,
// 1280x800 and light, and closes it when t ends.
func (b *browser) newTab(t *testing.T) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := initContext(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	tb := &tab{t: t, ctx: ctx}
	tb.do(chromedp.EmulateViewport(1280, 800))
	tb.scheme("light")
	return tb
}

// on returns the tab for a subtest t: its failures fail t.
func (tb *tab) on(t *testing.T) *tab {
	c := *tb
	c.t = t
	return &c
}

// step returns the context of one step in the tab, bounded by
// stepTimeout (ending it does not close the tab).
func (tb *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(tb.ctx, stepTimeout)
}

// do runs the actions, failing the test on an error.
func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("browser: %v (at %s)", err, tb.location())
	}
}

// location is the tab's URL, or a note that it has none, for messages.
func (tb *tab) location() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "unknown URL"
	}
	return loc
}

// open navigates to url and returns the document's HTTP status.
func (tb *tab) open(url string) int64 {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		tb.t.Fatalf("open %s: %v", url, err)
	}
	return res.Status
}

// submit runs the actions that submit a form (a click, Enter) and returns
// the status of the document the browser ends on (after redirects).
func (tb *tab) submit(actions ...chromedp.Action[chromedp.Void]) int64 {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	res, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		tb.t.Fatalf("submit at %s: %v", tb.location(), err)
	}
	return res.Status
}

// eval evaluates a JavaScript expression in the page and decodes its
// result into v (nil: ignore it); a promise is awaited.
func (tb *tab) eval(expr string, v any) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("evaluate at %s: %v\n%.300s", tb.location(), err, expr)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			tb.t.Fatalf("evaluate at %s: the result %s: %v", tb.location(), raw, err)
		}
	}
}

// need fails the test at once when the page has no element matching sel
// (CSS): a server-rendered page that has loaded has all its elements, so
// waiting for a missing one would only wait for the timeout.
func (tb *tab) need(sel string) {
	tb.t.Helper()
	if !tb.has(sel) {
		tb.t.Fatalf("%s has no %s", tb.location(), sel)
	}
}

// text returns the visible text of the element sel (CSS).
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	tb.need(sel)
	ctx, cancel := tb.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("the text of %s at %s: %v", sel, tb.location(), err)
	}
	return strings.TrimSpace(s)
}

// has reports whether the page has an element matching sel (CSS) now.
func (tb *tab) has(sel string) bool {
	tb.t.Helper()
	var n bool
	tb.eval(fmt.Sprintf("document.querySelector(%s) !== null", jsString(sel)), &n)
	return n
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// scheme emulates prefers-color-scheme: "light" or "dark".
func (tb *tab) scheme(s string) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: s}},
	})
	if err != nil {
		tb.t.Fatalf("emulate prefers-color-scheme: %s: %v", s, err)
	}
}

// width emulates a viewport width (800 px high): 375 is a phone's, with
// the mobile layout rules (a page without a viewport meta tag is laid
// out 980 px wide there, as on a phone).
func (tb *tab) width(w int64) {
	tb.t.Helper()
	if w < 600 {
		tb.do(chromedp.EmulateViewport(w, 800, chromedp.EmulateMobile))
	} else {
		tb.do(chromedp.EmulateViewport(w, 800))
	}
}

// keys types keys (kb's names for Tab, Enter…) into whatever has the
// focus, as a keyboard does.
func (tb *tab) keys(keys string) {
	tb.t.Helper()
	tb.do(chromedp.KeyEvent(keys))
}

// tabTo presses Tab until the focused element matches sel (CSS), failing
// the test when it is not reached within max presses: the element must
// be in the page's tab order.
func (tb *tab) tabTo(sel string, max int) {
	tb.t.Helper()
	for range max {
		tb.keys(kb.Tab)
		var ok bool
		tb.eval(fmt.Sprintf("document.activeElement !== null && document.activeElement.matches(%s)", jsString(sel)), &ok)
		if ok {
			return
		}
	}
	var focused string
	tb.eval("document.activeElement ? document.activeElement.outerHTML.slice(0, 200) : ''", &focused)
	tb.t.Fatalf("%s: %s was not reached with %d presses of Tab (the focus is on %s)", tb.location(), sel, max, focused)
}

// violation is one serious or critical axe-core rule a page breaks.
type violation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axeScript runs axe-core on the document and returns its serious and
// critical violations, each with the elements that break it.
const axeScript = `(async () => {
  const r = await axe.run(document, {resultTypes: ['violations']});
  return r.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map(n => n.target.join(' ') + ' ' + n.html.slice(0, 160) + ' — ' + (n.failureSummary || '').replace(/\s+/g, ' '))}));
})()`

// axe returns the serious and critical violations axe-core finds on the
// page as it is now. The library is injected by a DevTools evaluation,
// which the page's Content-Security-Policy does not govern.
func (b *browser) axe(tb *tab) []violation {
	tb.t.Helper()
	var loaded bool
	tb.eval("typeof window.axe === 'object'", &loaded)
	if !loaded {
		ctx, cancel := tb.step()
		defer cancel()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](b.axeJS)); err != nil {
			tb.t.Fatalf("inject axe-core at %s: %v", tb.location(), err)
		}
	}
	var v []violation
	tb.eval(axeScript, &v)
	return v
}

// checkAxe fails t with every serious or critical violation axe-core
// finds on the page, under the name what.
func (b *browser) checkAxe(tb *tab, what string) {
	tb.t.Helper()
	for _, v := range b.axe(tb) {
		tb.t.Errorf("%s: axe-core %s violation %s (%s):\n  %s", what, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, "\n  "))
	}
}

// scrollWidth is the width of the page's content, in CSS px: wider than
// the viewport, the reader has to scroll sideways.
func (tb *tab) scrollWidth() int {
	tb.t.Helper()
	var sw int
	tb.eval("document.documentElement.scrollWidth", &sw)
	return sw
}

// checkNoOverflow fails t when the page is wider than its viewport of w
// px, naming the widest elements.
func (tb *tab) checkNoOverflow(what string, w int) {
	tb.t.Helper()
	if sw := tb.scrollWidth(); sw > w {
		var wide []string
		tb.eval(fmt.Sprintf(`[...document.querySelectorAll('body *')]
			.filter(e => e.getBoundingClientRect().right > %d)
			.slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + String(e.className).replace(/ /g, '.') : '') + ' ' + Math.round(e.getBoundingClientRect().right) + 'px')`, w), &wide)
		tb.t.Errorf("%s: at %d px wide the page is %d px wide (it scrolls sideways); widest: %s", what, w, sw, strings.Join(wide, ", "))
	}
}

// weigh loads url in the tab with the browser's cache off and returns
// the bytes transferred for the document and everything it loads (headers
// and bodies, as they came over the wire), failing t unless the document
// answers 200.
func (tb *tab) weigh(url string) int64 {
	tb.t.Helper()
	var mu sync.Mutex
	started := map[network.RequestID]bool{}
	finished := map[network.RequestID]float64{}
	lctx, stop := context.WithCancel(tb.ctx)
	defer stop()
	if err := chromedp.Listen(lctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			started[ev.RequestID] = true
		case *network.EventLoadingFinished:
			finished[ev.RequestID] = ev.EncodedDataLength
		case *network.EventLoadingFailed:
			finished[ev.RequestID] = 0
		}
	}); err != nil {
		tb.t.Fatal(err)
	}
	cache := func(off bool) error {
		ctx, cancel := tb.step()
		defer cancel()
		_, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: off})
		return err
	}
	if err := cache(true); err != nil {
		tb.t.Fatal(err)
	}
	defer cache(false)
	if status := tb.open(url); status != 200 {
		tb.t.Fatalf("GET %s: %d", url, status)
	}
	// The load event has fired; the events of the last requests may still
	// be on their way: wait (bounded by a step) until every request that
	// started has finished.
	wait, cancel := tb.step()
	defer cancel()
	for {
		mu.Lock()
		pending := 0
		for id := range started {
			if _, ok := finished[id]; !ok {
				pending++
			}
		}
		var total float64
		for _, n := range finished {
			total += n
		}
		mu.Unlock()
		if pending == 0 {
			return int64(total)
		}
		select {
		case <-wait.Done():
			tb.t.Fatalf("GET %s: %d requests did not finish: %v", url, pending, wait.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// shortText cuts s to n bytes for a message: enough of a token to see
// its shape, not enough to use it.
func shortText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

package browser

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// strictCSP is the dashboard's Content-Security-Policy: no inline script.
const strictCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// TestHarness checks the checks the dashboard's tests rely on, on small
// pages served under the dashboard's CSP: that each of them fails where it
// must (a check that cannot fail proves nothing), and passes where it
// must not.
func TestHarness(t *testing.T) {
	b := newBrowser(t)
	pages := map[string]string{
		// An input without a label: axe-core's "label" rule, critical.
		"/unlabelled": `<!doctype html><html lang="en"><head><title>t</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Sign in</h1><form method="post"><input type="password" name="key"><button>Sign in</button></form></main></body></html>`,
		// The same page, labelled: nothing serious or critical. Its inline
		// script would mark the page if the CSP let it run.
		"/labelled": `<!doctype html><html lang="en"><head><title>t</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Sign in</h1><form method="post"><label for="key">Key</label>
<input id="key" type="password" name="key"><button>Sign in</button></form></main>
<script>document.body.dataset.inline = "ran"</script></body></html>`,
		// A line wider than a phone (no inline style: the CSP forbids it).
		"/wide": `<!doctype html><html lang="en"><head><title>t</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Keys</h1><pre>` + strings.Repeat("wide ", 40) + `</pre></main></body></html>`,
		// Heavy: 200 KB of text.
		"/heavy": `<!doctype html><html lang="en"><head><title>t</title></head><body><main><h1>t</h1><p>` +
			strings.Repeat("keyward ", 25000) + `</p></main></body></html>`,
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Security-Policy", strictCSP)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	}))
	defer ts.Close()
	page := b.newTab(t)

	t.Run("axe finds an unlabelled input", func(t *testing.T) {
		tb := page.on(t)
		tb.open(ts.URL + "/unlabelled")
		found := false
		for _, v := range b.axe(tb) {
			if v.ID == "label" && v.Impact == "critical" {
				found = true
			}
		}
		if !found {
			t.Errorf("axe-core found no critical \"label\" violation on a page with an unlabelled input: %+v", b.axe(tb))
		}
	})
	t.Run("axe passes a labelled page under the CSP", func(t *testing.T) {
		tb := page.on(t)
		tb.open(ts.URL + "/labelled")
		var inline string
		tb.eval("document.body.dataset.inline || ''", &inline)
		if inline != "" {
			t.Fatal("the page's inline script ran: the test server's CSP is not in force")
		}
		for _, scheme := range []string{"light", "dark"} {
			tb.scheme(scheme)
			var dark bool
			tb.eval("matchMedia('(prefers-color-scheme: dark)').matches", &dark)
			if dark != (scheme == "dark") {
				t.Errorf("prefers-color-scheme: %s is not emulated (dark matches: %v)", scheme, dark)
			}
			b.checkAxe(tb, "/labelled "+scheme)
		}
		tb.scheme("light")
	})
	t.Run("overflow at 375 px", func(t *testing.T) {
		tb := page.on(t)
		tb.width(375)
		defer tb.width(1280)
		tb.open(ts.URL + "/wide")
		if sw := tb.scrollWidth(); sw <= 375 {
			t.Errorf("a 200-character line at 375 px: scrollWidth %d, want > 375", sw)
		}
		tb.open(ts.URL + "/labelled")
		tb.checkNoOverflow("/labelled", 375)
		var vw int
		tb.eval("window.innerWidth", &vw)
		if vw != 375 {
			t.Errorf("the viewport is %d px wide, want 375", vw)
		}
	})
	t.Run("weight", func(t *testing.T) {
		tb := page.on(t)
		if n := tb.weigh(ts.URL + "/heavy"); n < 200_000 {
			t.Errorf("a 200 KB page weighs %d bytes", n)
		}
		// A second load weighs the same: the cache is off while weighing.
		if n := tb.weigh(ts.URL + "/heavy"); n < 200_000 {
			t.Errorf("a 200 KB page loaded again weighs %d bytes", n)
		}
		if n := tb.weigh(ts.URL + "/labelled"); n <= 0 || n > 2_000 {
			t.Errorf("a small page weighs %d bytes", n)
		}
	})
}

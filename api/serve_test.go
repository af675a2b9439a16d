package api_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// TestAccepts: the native API's reading of Accept (lenient) and the discue
// dialect's (strict) agree except on the two details strict decides.
func TestAccepts(t *testing.T) {
	native := []string{"application/json", "application/problem+json"}
	for _, c := range []struct {
		accept          []string // nil: no header
		lenient, strict bool
	}{
		{nil, true, true},
		{[]string{"application/json"}, true, true},
		{[]string{"*/*"}, true, true},
		{[]string{"application/*"}, true, true},
		{[]string{"text/html, application/json;q=0.5"}, true, true},
		{[]string{"text/html"}, false, false},
		{[]string{"text/*"}, false, false},
		{[]string{"application/json;q=0"}, false, false},
		{[]string{"application/json;q=0.0, text/html"}, false, false},
		{[]string{"text/html", "application/json"}, true, true},
		{[]string{"application/json;;"}, false, false},
		// The two details.
		{[]string{"application/json;q=abc"}, true, false},
		{[]string{""}, true, false},
		{[]string{" , "}, true, false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		for _, v := range c.accept {
			r.Header.Add("Accept", v)
		}
		if got := api.Accepts(r, false, native...); got != c.lenient {
			t.Errorf("lenient %q: %v", c.accept, got)
		}
		if got := api.Accepts(r, true, "application/json"); got != c.strict {
			t.Errorf("strict %q: %v", c.accept, got)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Accept", "application/problem+json")
	if !api.Accepts(r, false, native...) || api.Accepts(r, true, "application/json") {
		t.Error("application/problem+json is for the types that list it only")
	}
}

// TestDispatch: a routed request is served; otherwise nothing is written
// and NoRoute is the error, 405 naming the allowed methods or 404.
func TestDispatch(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(r.PathValue("id"))) })
	mux.HandleFunc("DELETE /things/{id}", func(http.ResponseWriter, *http.Request) {})
	for _, c := range []struct {
		method, path string
		routed       bool
		allow        string
		code         keyward.Code
		message      string
	}{
		{"GET", "/things/a", true, "", "", ""},
		{"PUT", "/things/a", false, "DELETE, GET, HEAD", keyward.ECodeMethodNotAllowed, "PUT is not allowed on /things/a; allowed: DELETE, GET, HEAD"},
		{"GET", "/other", false, "", keyward.ECodeNotFound, "no route /other"},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(c.method, c.path, nil)
		routed, allow := api.Dispatch(mux, w, r)
		if routed != c.routed || allow != c.allow {
			t.Errorf("%s %s: %v %q, want %v %q", c.method, c.path, routed, allow, c.routed, c.allow)
		}
		if routed {
			if w.Body.String() != "a" {
				t.Errorf("%s %s: the route saw %q", c.method, c.path, w.Body)
			}
			continue
		}
		if w.Body.Len() != 0 || len(w.Header()) != 0 {
			t.Errorf("%s %s: wrote %v %q", c.method, c.path, w.Header(), w.Body)
		}
		if err := api.NoRoute(r, allow); keyward.ErrorCode(err) != c.code || keyward.AsError(err).Message != c.message {
			t.Errorf("%s %s: %v", c.method, c.path, err)
		}
	}
}

func TestPretty(t *testing.T) {
	for q, want := range map[string]bool{"": false, "pretty": true, "pretty=true": true, "pretty=1": true, "pretty=FALSE": false,
		"pretty=0": false, "pretty=1&pretty=0": false} {
		v, _ := url.ParseQuery(q)
		if got, err := api.Pretty(v); got != want || err != nil {
			t.Errorf("%q: %v %v", q, got, err)
		}
	}
	v, _ := url.ParseQuery("pretty=yes")
	if _, err := api.Pretty(v); keyward.ErrorCode(err) != keyward.ECodeInvalidParameter {
		t.Errorf("pretty=yes: %v", err)
	}
}

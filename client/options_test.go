package client_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// TestTokenNeverPrinted: the credential goes in the Authorization header
// and nowhere else: not in a URL, an error, or any printed form of the
// client or of a key with its secret.
func TestTokenNeverPrinted(t *testing.T) {
	s, c, ctx := ctStart(t, client.WithAccountID(""), client.WithUserAgent("tests"))
	op := s.Op.Reveal()

	k, err := c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("printed")})
	ctCheck(t, "CreateKey", err)

	var printed []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		printed = append(printed, fmt.Sprintf(f, c), fmt.Sprintf(f, k), fmt.Sprintf(f, *k))
	}
	printed = append(printed, c.String(), c.GoString(), fmt.Sprint(*c))
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("client", "client", c, "key", k)
	printed = append(printed, logs.String())

	// Errors of every kind, each from a request that carried the token.
	_, err = c.GetKey(ctx, "key_01J00000000000000000000000")
	printed = append(printed, fmt.Sprintf("%v %+v %#v", err, err, err))
	_, err = c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Null[string]()})
	printed = append(printed, fmt.Sprintf("%v %+v", err, err))
	wrong, _ := c.With(client.WithToken(keyward.TokenFromString(op + "x")))
	_, err = wrong.ListKeys(ctx, nil)
	printed = append(printed, fmt.Sprintf("%v %+v %#v", err, err, err), fmt.Sprint(wrong))
	dead, _ := client.New("http://127.0.0.1:1", client.WithToken(s.Op))
	_, err = dead.ListKeys(ctx, &client.KeyListParams{Search: "x"})
	if keyward.ErrorCode(err) != keyward.ECodeUnavailable {
		t.Errorf("a request to a closed port: %v", err)
	}
	printed = append(printed, fmt.Sprintf("%v %+v %#v", err, err, err))

	for _, p := range printed {
		if strings.Contains(p, op) {
			t.Errorf("the operator token appears in %q", p)
		}
		if strings.Contains(p, k.Secret.Reveal()) {
			t.Errorf("a key's secret appears in %q", p)
		}
	}
	if !strings.Contains(fmt.Sprint(c), "[redacted]") {
		t.Errorf("%%v of the client = %q: want it to say the token is redacted", fmt.Sprint(c))
	}

	// The token did travel, in the header, and never in a URL.
	var sawHeader bool
	for _, r := range s.requests() {
		if strings.Contains(r.URL.String(), op) || strings.Contains(r.RequestURI, op) {
			t.Errorf("the token is in the URL %s", r.URL)
		}
		if r.Header.Get("Authorization") == "Bearer "+op {
			sawHeader = true
		}
		if r.Header.Get("X-API-Key") != "" {
			t.Error("the client sent X-API-Key as well as Authorization")
		}
	}
	if !sawHeader {
		t.Error("no request carried Authorization: Bearer <token>")
	}
}

// TestHeaders: the client's and the call's options become the request's
// headers.
func TestHeaders(t *testing.T) {
	s, c, ctx := ctStart(t, client.WithUserAgent("billing-service/1.2"), client.WithRequestTimeout(1500*time.Millisecond+time.Microsecond))

	acct, err := c.CreateAccount(ctx, &keyward.AccountFields{Name: keyward.Some("tenant")})
	ctCheck(t, "CreateAccount", err)

	t.Run("defaults", func(t *testing.T) {
		_, err := c.Health(ctx)
		ctCheck(t, "Health", err)
		h := s.last(t).Header
		for name, want := range map[string]string{"User-Agent": "billing-service/1.2", "Request-Timeout-Millis": "1501",
			"Accept": "application/json", "X-Account-Id": "", "If-Match": "", "Idempotency-Key": "", "Content-Type": ""} {
			if got := h.Get(name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
	})

	t.Run("account from the client", func(t *testing.T) {
		tc, err := c.With(client.WithAccountID(acct.ID))
		ctCheck(t, "With", err)
		k, err := tc.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("tenant key")})
		ctCheck(t, "CreateKey", err)
		if k.AccountID != acct.ID || s.last(t).Header.Get("X-Account-Id") != acct.ID {
			t.Errorf("key in %s (header %q), want %s", k.AccountID, s.last(t).Header.Get("X-Account-Id"), acct.ID)
		}
		if _, err := c.GetKey(ctx, k.ID); keyward.ErrorCode(err) != keyward.ECodeNotFound {
			t.Errorf("the original client (account default) sees the tenant's key: %v", err)
		}
		got, err := tc.GetKey(ctx, k.ID, client.AccountID(""))
		if keyward.ErrorCode(err) != keyward.ECodeNotFound || s.last(t).Header.Get("X-Account-Id") != "" {
			t.Errorf("AccountID(\"\") on the call: %v %v", got, err)
		}
		got, err = c.GetKey(ctx, k.ID, client.AccountID(acct.ID))
		if err != nil || got.ID != k.ID {
			t.Errorf("AccountID(%s) on the call: %v", acct.ID, err)
		}
	})

	t.Run("per call", func(t *testing.T) {
		k, err := c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("headers")}, client.RequestID("trace-42"), client.RequestTimeout(0))
		ctCheck(t, "CreateKey", err)
		h := s.last(t).Header
		if h.Get("X-Request-Id") != "trace-42" || h.Get("Request-Timeout-Millis") != "" || h.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", h)
		}
		evs, err := c.ListAuditEvents(ctx, &client.AuditListParams{TargetID: k.ID})
		ctCheck(t, "ListAuditEvents", err)
		if len(evs.Data) != 1 || evs.Data[0].RequestID != "trace-42" || evs.Data[0].UserAgent != "billing-service/1.2" {
			t.Errorf("audit event %+v: want request id trace-42 and the user agent", evs.Data)
		}
		_, err = c.UpdateKey(ctx, k.ID, &keyward.KeyFields{Name: keyward.Some("h2")}, client.IfMatch(k.ETag), client.RequestTimeout(3*time.Second))
		ctCheck(t, "UpdateKey", err)
		h = s.last(t).Header
		if h.Get("If-Match") != `"`+k.ETag+`"` || h.Get("Request-Timeout-Millis") != "3000" {
			t.Errorf("If-Match %q, Request-Timeout-Millis %q", h.Get("If-Match"), h.Get("Request-Timeout-Millis"))
		}
		for _, m := range []string{"*", `"abc"`, `W/"abc"`} {
			c.GetKey(ctx, k.ID, client.IfMatch(m))
			if got := s.last(t).Header.Get("If-Match"); got != m {
				t.Errorf("IfMatch(%s) sent %s", m, got)
			}
		}
	})

	t.Run("a header value with a line break is refused", func(t *testing.T) {
		n := len(s.requests())
		_, err := c.GetKey(ctx, "key_01J00000000000000000000000", client.IfMatch("a\r\nX-Evil: 1"))
		if err == nil || len(s.requests()) != n {
			t.Errorf("error %v, %d requests sent", err, len(s.requests())-n)
		}
	})

	t.Run("an empty or dot id, or a secret, sends nothing", func(t *testing.T) {
		n := len(s.requests())
		tok, _ := keyward.NewToken("kw", nil)
		for _, id := range []string{"", ".", "..", tok.Reveal(), s.Op.Reveal()} {
			_, err := c.GetKey(ctx, id)
			if keyward.ErrorCode(err) != keyward.ECodeNotFound {
				t.Errorf("GetKey(%q): %v, want not_found", id, err)
			}
			err = c.DeleteKey(ctx, id)
			if keyward.ErrorCode(err) != keyward.ECodeNotFound {
				t.Errorf("DeleteKey(%q): %v, want not_found", id, err)
			}
			if len(id) > 2 && strings.Contains(err.Error(), id) {
				t.Errorf("the error repeats the secret: %v", err)
			}
		}
		if len(s.requests()) != n {
			t.Errorf("%d requests sent for empty or dot ids", len(s.requests())-n)
		}
	})

	t.Run("base URL with a path prefix", func(t *testing.T) {
		// A reverse proxy serving keyward under /keyward/ strips it; here
		// the prefix must reach the server, which answers 404 for it.
		pc, err := client.New(s.URL+"/keyward/", client.WithToken(s.Op))
		ctCheck(t, "New", err)
		_, err = pc.Health(ctx)
		if keyward.ErrorCode(err) != keyward.ECodeNotFound || s.last(t).URL.Path != "/keyward/healthz" {
			t.Errorf("Health via a prefixed base URL: %v, path %s", err, s.last(t).URL.Path)
		}
	})
}

func TestNew(t *testing.T) {
	tests := []struct {
		name, url string
		opts      []client.Option
		ok        bool
	}{
		{"plain", "http://127.0.0.1:8420", nil, true},
		{"https with a path", "https://keys.example.com/api/", nil, true},
		{"no scheme", "127.0.0.1:8420", nil, false},
		{"ftp", "ftp://example.com", nil, false},
		{"credentials in the URL", "http://admin:hunter2secret@example.com", nil, false},
		{"query", "http://example.com/?token=abc", nil, false},
		{"negative timeout", "http://example.com", []client.Option{client.WithRequestTimeout(-time.Second)}, false},
		{"timeout over an hour", "http://example.com", []client.Option{client.WithRequestTimeout(2 * time.Hour)}, false},
		{"nil http client", "http://example.com", []client.Option{client.WithHTTPClient(nil)}, false},
		{"user agent with a newline", "http://example.com", []client.Option{client.WithUserAgent("a\nb")}, false},
		{"account with a newline", "http://example.com", []client.Option{client.WithAccountID("acc\r\n")}, false},
		{"custom http client", "http://example.com", []client.Option{client.WithHTTPClient(&http.Client{Timeout: time.Second})}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := client.New(tc.url, tc.opts...)
			if tc.ok != (err == nil) {
				t.Fatalf("New(%q) = %v, %v", tc.url, c, err)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2secret") {
				t.Errorf("the error shows the URL's password: %v", err)
			}
		})
	}
	c, err := client.New("http://example.com/base/")
	ctCheck(t, "New", err)
	if c.BaseURL() != "http://example.com/base" {
		t.Errorf("BaseURL = %q", c.BaseURL())
	}
	if _, err := c.With(client.WithRequestTimeout(-1)); err == nil {
		t.Error("With accepted a negative timeout")
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		t.Error("a usage error is a *client.Error")
	}
}

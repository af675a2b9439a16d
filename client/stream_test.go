package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// TestInvalidationStream reads the real server's stream: hello, then the
// invalidation of a key a request changed.
func TestInvalidationStream(t *testing.T) {
	s, c, ctx := ctStart(t, client.WithRequestTimeout(time.Second))
	// A safety net only: the events below arrive as soon as the change
	// commits; the deadline just keeps a broken stream from hanging the test.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	k, err := c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("watched")})
	ctCheck(t, "CreateKey", err)
	stream, err := c.WatchInvalidations(ctx)
	ctCheck(t, "WatchInvalidations", err)
	defer stream.Close()
	if h := s.last(t).Header; h.Get("Request-Timeout-Millis") != "" || !strings.Contains(h.Get("Accept"), "text/event-stream") {
		t.Errorf("the stream request sent Request-Timeout-Millis %q, Accept %q", h.Get("Request-Timeout-Millis"), h.Get("Accept"))
	}
	ev, err := stream.Next()
	ctCheck(t, "Next", err)
	if ev.Type != client.EventHello || !ev.FeedHealthy {
		t.Fatalf("first event = %+v, want hello", ev)
	}

	_, err = c.UpdateKey(ctx, k.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusDisabled)})
	ctCheck(t, "UpdateKey", err)
	for {
		ev, err := stream.Next()
		ctCheck(t, "Next", err)
		if ev.Type == client.EventHeartbeat {
			if !ev.FeedHealthy {
				t.Errorf("heartbeat %+v: the feed of a single SQLite node is always healthy", ev)
			}
			continue
		}
		if ev.Type != client.EventInvalidate {
			t.Fatalf("event %+v, want invalidate", ev)
		}
		if ev.Invalidation.Kind == keyward.InvalidateKey && ev.Invalidation.ID == k.ID {
			if ev.Invalidation.Account != k.AccountID {
				t.Errorf("the invalidation of %s names account %q, want %s", k.ID, ev.Invalidation.Account, k.AccountID)
			}
			break
		}
	}

	// Close ends a Next that is waiting.
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := stream.Next(); err != nil {
				done <- err
				return
			}
		}
	}()
	stream.Close()
	if err := <-done; err == nil {
		t.Error("Next after Close returned no error")
	}
}

func TestInvalidationStreamErrors(t *testing.T) {
	_, c, ctx := ctStart(t)

	t.Run("permission", func(t *testing.T) {
		mk, err := c.CreateManagementKey(ctx, &keyward.KeyFields{Name: keyward.Some("reader"), Permissions: keyward.Some([]string{"keys:read"})})
		ctCheck(t, "CreateManagementKey", err)
		rc, _ := c.With(client.WithToken(mk.Secret))
		var res client.Response
		_, err = rc.WatchInvalidations(ctx, client.Capture(&res))
		ce := ctCheckProblem(t, err, &res, http.StatusForbidden, keyward.ECodePermissionDenied)
		if ce.Err.Details["missing_permission"] != "keys:verify" {
			t.Errorf("missing_permission = %v", ce.Err.Details["missing_permission"])
		}
	})

	t.Run("parsing", func(t *testing.T) {
		tests := []struct {
			name, body string
			want       []client.InvalidationEvent
			err        string
		}{
			{"comments, CRLF, unknown events, multi-line data",
				": hi\r\nevent: hello\r\ndata: {\"feed_healthy\":false}\r\n\r\nevent: future\ndata: a\ndata: b\n\n\nevent: invalidate\ndata:k:key_1@acc_1\n\n",
				[]client.InvalidationEvent{{Type: "hello", Data: `{"feed_healthy":false}`}, {Type: "future", Data: "a\nb"},
					{Type: "invalidate", Data: "k:key_1@acc_1", Invalidation: keyward.Invalidation{Kind: keyward.InvalidateKey, ID: "key_1", Account: "acc_1"}}},
				"EOF"},
			{"flush everything", "event: invalidate\ndata: *:\n\n",
				[]client.InvalidationEvent{{Type: "invalidate", Data: "*:", Invalidation: keyward.Invalidation{Kind: keyward.InvalidateAll}}}, "EOF"},
			{"malformed invalidation", "event: invalidate\ndata: nonsense\n\n", nil, "malformed invalidate event"},
			{"malformed heartbeat", "event: heartbeat\ndata: {}\n\n", nil, "malformed heartbeat event"},
			{"cut in the middle of an event", "event: hello\ndata: {\"feed_healthy\":true}\n", nil, "unexpected EOF"},
			{"line too long", "data: " + strings.Repeat("x", 70<<10) + "\n\n", nil, "longer than"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/event-stream")
					io.WriteString(w, tc.body)
				}))
				defer hs.Close()
				c, err := client.New(hs.URL)
				ctCheck(t, "New", err)
				st, err := c.WatchInvalidations(ctx)
				ctCheck(t, "WatchInvalidations", err)
				defer st.Close()
				var got []client.InvalidationEvent
				for {
					ev, err := st.Next()
					if err != nil {
						if !strings.Contains(err.Error(), tc.err) {
							t.Errorf("error %v, want %q", err, tc.err)
						}
						if tc.err == "EOF" && !errors.Is(err, io.EOF) {
							t.Errorf("error %v, want io.EOF", err)
						}
						break
					}
					got = append(got, *ev)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("events %+v, want %+v", got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Errorf("event %d = %+v, want %+v", i, got[i], tc.want[i])
					}
				}
			})
		}
	})

	t.Run("not an event stream", func(t *testing.T) {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{}") }))
		defer hs.Close()
		c, _ := client.New(hs.URL)
		if _, err := c.WatchInvalidations(ctx); err == nil || !strings.Contains(err.Error(), "not an event stream") {
			t.Errorf("error %v", err)
		}
	})
}

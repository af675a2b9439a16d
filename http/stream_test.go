package http_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// streamEvents opens GET /v1/invalidations with secret and returns a
// channel of its event names, closed when the stream ends.
func streamEvents(t *testing.T, e *testEnv, secret string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, err := http.NewRequestWithContext(ctx, "GET", e.URL+"/v1/invalidations", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+secret)
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		t.Fatalf("GET /v1/invalidations: %d", res.StatusCode)
	}
	out := make(chan string, 100)
	go func() {
		defer close(out)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				out <- ev
			}
		}
	}()
	return out
}

// waitEnd fails unless the stream ends within d (events before the end
// are fine).
func waitEnd(t *testing.T, events <-chan string, d time.Duration, why string) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("the invalidation stream is still open %v after %s", d, why)
		}
	}
}

// TestInvalidationStreamEndsWithItsCredential: the stream of a remote
// verifier lives only as long as the management key it was opened with:
// revoked, disabled, deleted or expired, the stream ends (and a new one is
// refused), so the verifier stops trusting its cache at once rather than
// after its cached answers age out.
func TestInvalidationStreamEndsWithItsCredential(t *testing.T) {
	e := newEnv(t)
	mkey := func(extra map[string]any) (string, string) {
		body := map[string]any{"name": "verifier", "permissions": []string{"keys:verify"}}
		for k, v := range extra {
			body[k] = v
		}
		k := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/management-keys", Body: body}).JSON(t)
		return k["id"].(string), k["secret"].(string)
	}
	for _, c := range []struct {
		name   string
		change func(id string)
	}{
		{"revoked", func(id string) {
			e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/management-keys/" + id, Body: map[string]any{"status": "revoked"}})
		}},
		{"disabled", func(id string) {
			e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/management-keys/" + id, Body: map[string]any{"status": "disabled"}})
		}},
		{"deleted", func(id string) {
			e.must(http.StatusNoContent, req{Method: "DELETE", Path: "/v1/management-keys/" + id})
		}},
		{"rotated without grace", func(id string) {
			e.must(http.StatusOK, req{Method: "POST", Path: "/v1/management-keys/" + id + "/rotate"})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, secret := mkey(nil)
			events := streamEvents(t, e, secret)
			if ev := <-events; ev != "hello" {
				t.Fatalf("first event %q, want hello", ev)
			}
			c.change(id)
			waitEnd(t, events, 5*time.Second, "its key was "+c.name)
			e.must(http.StatusUnauthorized, req{Method: "GET", Path: "/v1/invalidations", Token: secret})
		})
	}
	t.Run("unrelated changes keep it open", func(t *testing.T) {
		_, secret := mkey(nil)
		events := streamEvents(t, e, secret)
		<-events // hello
		e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "other"}})
		e.must(http.StatusCreated, req{Method: "PUT", Path: "/v1/catalog/resources/reports", Body: map[string]any{"display_name": "Reports", "readable": true, "writable": true}})
		seen := map[string]bool{}
		for len(seen) < 2 {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatal("the stream ended after changes to other objects")
				}
				seen[ev] = true
			case <-time.After(5 * time.Second):
				t.Fatalf("events so far %v; want invalidate and heartbeat", seen)
			}
		}
	})
	t.Run("expired", func(t *testing.T) {
		_, secret := mkey(map[string]any{"expires_at": time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)})
		events := streamEvents(t, e, secret)
		<-events // hello
		waitEnd(t, events, 6*time.Second, "its key expired")
	})
}

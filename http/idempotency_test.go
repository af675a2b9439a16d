package http_test

// Tests of Idempotency-Key (issue 3 item 8) on every creating POST: a retry
// with the same key and body gets the first answer again and creates
// nothing; the same key with another body is a 409; failures are not
// remembered; the scope is the calling management key; answers are sealed
// at rest and forgotten after 24 hours.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
)

// rkIdemKey returns a fresh random Idempotency-Key (a UUID-like string).
func rkIdemKey(t *testing.T) string {
	t.Helper()
	return keywardtest.RandomHex(t, 16)
}

// rkPost sends a creating POST with an Idempotency-Key.
func rkPost(e *testEnv, path, idem, token string, body any, hdr map[string]string) *resp {
	e.t.Helper()
	h := map[string]string{"Idempotency-Key": idem}
	for k, v := range hdr {
		h[k] = v
	}
	return e.do(req{Method: "POST", Path: path, Body: body, Token: token, Header: h})
}

// rkIdem is a POST of body to path with the operator key and an
// Idempotency-Key.
func rkIdem(path, idem string, body any) req {
	return req{Method: "POST", Path: path, Body: body, Header: map[string]string{"Idempotency-Key": idem}}
}

// rkRawStatus writes raw bytes as a request to the server and returns the
// status of the answer.
func rkRawStatus(t *testing.T, e *testEnv, raw string) int {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// rkReplayed returns the Idempotent-Replayed header of a response.
func rkReplayed(res *resp) string { return res.Header.Get("Idempotent-Replayed") }

// rkOperator2 creates a second operator key holding every permission.
func rkOperator2(t *testing.T, e *testEnv) string {
	t.Helper()
	return e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/management-keys",
		Body: map[string]any{"name": "second operator", "operator": true, "permissions": allPerms}}).Str(t, "secret")
}

// rkIdemRoute is one creating route: how to reach it, a body, another body,
// and how many objects of its kind exist.
type rkIdemRoute struct {
	name  string
	setup func(t *testing.T, e *testEnv) (path string, count func() int)
	body  any
	other any
}

// rkRoleCount counts roles (GET /v1/roles is not paginated).
func rkRoleCount(t *testing.T, e *testEnv) int {
	t.Helper()
	var page struct {
		Data []any `json:"data"`
	}
	if err := json.Unmarshal(e.must(http.StatusOK, req{Method: "GET", Path: "/v1/roles"}).Body, &page); err != nil {
		t.Fatal(err)
	}
	return len(page.Data)
}

func rkIdemRoutes() []rkIdemRoute {
	counted := func(path string) func(t *testing.T, e *testEnv) (string, func() int) {
		return func(t *testing.T, e *testEnv) (string, func() int) {
			return path, func() int { return len(list(t, e, req{Path: path})) }
		}
	}
	rotate := func(kind string) func(t *testing.T, e *testEnv) (string, func() int) {
		return func(t *testing.T, e *testEnv) (string, func() int) {
			body := map[string]any{"name": "to rotate"}
			if kind == "management-keys" {
				body["permissions"] = []string{"keys:read"}
			}
			id := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/" + kind, Body: body}).Str(t, "id")
			// A rotation creates a secret: count the key's audit events.
			return "/v1/" + kind + "/" + id + "/rotate", func() int { return len(events(t, e, "target_id="+id, nil)) }
		}
	}
	hash := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	scope := []map[string]any{{"resource": "documents", "access": "read", "targets": []string{"*"}}}
	return []rkIdemRoute{
		{"keys", counted("/v1/keys"), map[string]any{"name": "idem"}, map[string]any{"name": "idem 2"}},
		{"import", func(t *testing.T, e *testEnv) (string, func() int) {
			return "/v1/keys/import", func() int { return len(list(t, e, req{Path: "/v1/keys"})) }
		},
			map[string]any{"keys": []map[string]any{{"hash": hash("sk_live_idem_one"), "name": "imported"}}},
			map[string]any{"keys": []map[string]any{{"hash": hash("sk_live_idem_one"), "name": "imported 2"}}}},
		{"management-keys", counted("/v1/management-keys"),
			map[string]any{"name": "mk", "permissions": []string{"keys:read"}},
			map[string]any{"name": "mk", "permissions": []string{"keys:read", "keys:verify"}}},
		{"accounts", counted("/v1/accounts"), map[string]any{"name": "acme"}, map[string]any{"name": "acme2"}},
		{"users", counted("/v1/users"), map[string]any{"email": "ada@example.com", "name": "Ada"}, map[string]any{"email": "bob@example.com"}},
		{"service-accounts", counted("/v1/service-accounts"), map[string]any{"name": "ci"}, map[string]any{"name": "cd"}},
		{"roles", func(t *testing.T, e *testEnv) (string, func() int) {
			return "/v1/roles", func() int { return rkRoleCount(t, e) }
		}, map[string]any{"name": "readers", "scopes": scope}, map[string]any{"name": "writers", "scopes": scope}},
		{"projects", counted("/v1/projects"), map[string]any{"name": "backend"}, map[string]any{"name": "frontend"}},
		{"keys rotate", rotate("keys"), map[string]any{"grace_period_seconds": 0}, map[string]any{"grace_period_seconds": 60}},
		{"management-keys rotate", rotate("management-keys"), map[string]any{"grace_period_seconds": 0}, map[string]any{"grace_period_seconds": 60}},
	}
}

func TestIdempotencyEveryCreatingRoute(t *testing.T) {
	t.Parallel()
	for _, rt := range rkIdemRoutes() {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			path, count := rt.setup(t, e)
			idem := rkIdemKey(t)

			n0, a0 := count(), auditTotal(t, e)
			first := rkPost(e, path, idem, "", rt.body, nil)
			if first.Status < 200 || first.Status > 299 {
				t.Fatalf("first request: %d\n%s", first.Status, first.Body)
			}
			if got := rkReplayed(first); got != "false" {
				t.Errorf("the first answer has Idempotent-Replayed %q, want false", got)
			}
			n1, a1 := count(), auditTotal(t, e)
			if n1 == n0 || a1 == a0 {
				t.Fatalf("the first request created nothing (count %d → %d, audit %d → %d): the test would prove nothing", n0, n1, a0, a1)
			}

			unchanged := func(t *testing.T, what string) {
				t.Helper()
				if n := count(); n != n1 {
					t.Errorf("%s: the object count went from %d to %d", what, n1, n)
				}
				if a := auditTotal(t, e); a != a1 {
					t.Errorf("%s: %d new audit events", what, a-a1)
				}
			}
			replay := func(t *testing.T, what string) {
				t.Helper()
				again := rkPost(e, path, idem, "", rt.body, nil)
				if again.Status != first.Status || !bytes.Equal(again.Body, first.Body) {
					t.Fatalf("%s: %d %s\nwant the first answer: %d %s", what, again.Status, again.Body, first.Status, first.Body)
				}
				if got := rkReplayed(again); got != "true" {
					t.Errorf("%s: Idempotent-Replayed %q, want true", what, got)
				}
				for _, h := range []string{"Content-Type", "Location", "ETag"} {
					if again.Header.Get(h) != first.Header.Get(h) {
						t.Errorf("%s: %s %q, the first answer had %q", what, h, again.Header.Get(h), first.Header.Get(h))
					}
				}
				unchanged(t, what)
			}
			replay(t, "the retry")

			p := problem(t, rkPost(e, path, idem, "", rt.other, nil), http.StatusConflict, "idempotency_conflict")
			if !strings.Contains(p["detail"].(string), "Idempotency-Key") {
				t.Errorf("the 409 does not name the Idempotency-Key: %v", p["detail"])
			}
			unchanged(t, "the same key with another body")
			replay(t, "a retry after the conflict")

			// Secrets in the first answer stay good: a retried rotation
			// did not rotate twice (grace 0 would end the first secret).
			if secret, _ := first.JSON(t)["secret"].(string); secret != "" && !strings.HasPrefix(secret, "kwm_") {
				if code := lcCode(t, e, secret, nil); code != "VALID" {
					t.Errorf("the secret of the first answer verifies as %s after the retries, want VALID", code)
				}
			} else if secret != "" {
				res := e.do(req{Method: "GET", Path: "/v1/keys?limit=1", Token: secret})
				if res.Status == http.StatusUnauthorized {
					t.Errorf("the management key secret of the first answer no longer authenticates after the retries")
				}
			}

			// Another management key with the same Idempotency-Key is
			// another caller: its request runs on its own.
			op2 := rkOperator2(t, e)
			n2 := count()
			theirs := rkPost(e, path, idem, op2, rt.body, nil)
			if rkReplayed(theirs) == "true" || bytes.Equal(theirs.Body, first.Body) {
				t.Errorf("another management key got the first caller's answer: %d %s", theirs.Status, theirs.Body)
			}
			if theirs.Status >= 200 && theirs.Status <= 299 && count() == n2 {
				t.Errorf("another management key's request succeeded without creating anything")
			}

		})
	}
}

func TestIdempotencyKeyCreateReturnsTheSameSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	idem := rkIdemKey(t)
	body := map[string]any{"name": "once"}
	first := must(t, e, http.StatusCreated, rkIdem("/v1/keys", idem, body))
	secret := first.Str(t, "secret")
	again := rkPost(e, "/v1/keys", idem, "", body, nil)
	if again.Str(t, "secret") != secret || again.Str(t, "id") != first.Str(t, "id") {
		t.Fatalf("the retry returned another key or secret: %s", again.Body)
	}
	if code := lcCode(t, e, secret, nil); code != "VALID" {
		t.Errorf("the secret verifies as %s", code)
	}
	if n := len(list(t, e, req{Path: "/v1/keys"})); n != 1 {
		t.Errorf("%d keys, want 1", n)
	}

	t.Run("the remembered answer is sealed at rest", func(t *testing.T) {
		rkNotInDatabase(t, e.Location, secret)
	})

	t.Run("the same key in another account is another request", func(t *testing.T) {
		other := account(t, e, "other")
		res := rkPost(e, "/v1/keys", idem, "", body, map[string]string{"X-Account-Id": other})
		if res.Status != http.StatusCreated || rkReplayed(res) != "false" || res.Str(t, "id") == first.Str(t, "id") {
			t.Fatalf("the operator acting on another account got %d replayed=%s %s", res.Status, rkReplayed(res), res.Body)
		}
	})

	t.Run("an answer survives a restart", func(t *testing.T) {
		e.Close()
		e2 := startEnv(t, keywardtest.Options{Reopen: e.Server})
		res := rkPost(e2, "/v1/keys", idem, "", body, nil)
		if res.Status != http.StatusCreated || !bytes.Equal(res.Body, first.Body) || rkReplayed(res) != "true" {
			t.Fatalf("after a restart the retry got %d replayed=%s %s", res.Status, rkReplayed(res), res.Body)
		}
		if n := len(list(t, e2, req{Path: "/v1/keys"})); n != 1 {
			t.Errorf("%d keys in the default account after the retry, want 1", n)
		}
	})
}

func TestIdempotencyFailuresAreNotRemembered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	idem := rkIdemKey(t)
	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"422", map[string]any{"name": 42}, http.StatusUnprocessableEntity, "validation_failed"},
		{"422 again, same body", map[string]any{"name": 42}, http.StatusUnprocessableEntity, "validation_failed"},
		{"400", `{"name": "x"`, http.StatusBadRequest, "malformed_json"},
		{"422, another body", map[string]any{"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, http.StatusUnprocessableEntity, "validation_failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := rkPost(e, "/v1/keys", idem, "", tc.body, nil)
			problem(t, res, tc.status, tc.code)
			if rkReplayed(res) == "true" {
				t.Errorf("a failure is marked as replayed")
			}
		})
	}
	if n := len(list(t, e, req{Path: "/v1/keys"})); n != 0 {
		t.Fatalf("failed requests created %d keys", n)
	}
	fixed := map[string]any{"name": "fixed"}
	res := rkPost(e, "/v1/keys", idem, "", fixed, nil)
	if res.Status != http.StatusCreated || rkReplayed(res) != "false" {
		t.Fatalf("the fixed body with the same Idempotency-Key: %d replayed=%s %s", res.Status, rkReplayed(res), res.Body)
	}
	again := rkPost(e, "/v1/keys", idem, "", fixed, nil)
	if !bytes.Equal(again.Body, res.Body) || rkReplayed(again) != "true" {
		t.Errorf("the success is not remembered: %s", again.Body)
	}
	// Now that a success is remembered, the failing body is a conflict.
	problem(t, rkPost(e, "/v1/keys", idem, "", map[string]any{"name": 42}, nil), http.StatusConflict, "idempotency_conflict")
	if n := len(list(t, e, req{Path: "/v1/keys"})); n != 1 {
		t.Errorf("%d keys, want 1", n)
	}
}

func TestIdempotencyConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for round := 0; round < 3; round++ {
		idem := rkIdemKey(t)
		body := map[string]any{"name": fmt.Sprintf("race %d", round)}
		n0, a0 := len(list(t, e, req{Path: "/v1/keys"})), e.auditCount()
		const callers = 20
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			mu    sync.Mutex
			res   []*resp
			errs  []error
		)
		for i := 0; i < callers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r, err := e.send(nil, req{Method: "POST", Path: "/v1/keys", Body: body, Header: map[string]string{"Idempotency-Key": idem}}, true)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				res = append(res, r)
			}()
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
		var fresh, replayed, conflicts int
		var created []byte
		for _, r := range res {
			switch {
			case r.Status == http.StatusCreated && rkReplayed(r) == "false":
				fresh++
				created = r.Body
			case r.Status == http.StatusCreated && rkReplayed(r) == "true":
				replayed++
			case r.Status == http.StatusConflict && r.Code(t) == "idempotency_conflict":
				conflicts++
			default:
				t.Errorf("round %d: unexpected answer %d %s", round, r.Status, r.Body)
			}
		}
		for _, r := range res {
			if r.Status == http.StatusCreated && !bytes.Equal(r.Body, created) {
				t.Errorf("round %d: two different 201 answers:\n%s\n%s", round, r.Body, created)
			}
		}
		if fresh != 1 {
			t.Errorf("round %d: %d requests ran (not replayed), want exactly 1", round, fresh)
		}
		if n := len(list(t, e, req{Path: "/v1/keys"})); n != n0+1 {
			t.Errorf("round %d: %d concurrent duplicates created %d keys, want 1", round, callers, n-n0)
		}
		if a := e.auditCount(); a != a0+1 {
			t.Errorf("round %d: %d audit events, want 1", round, a-a0)
		}
		t.Logf("round %d: 1 ran, %d replayed, %d refused as in progress", round, replayed, conflicts)
	}
}

func TestIdempotencyKeyFormat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := map[string]any{"name": "k"}
	for _, tc := range []struct {
		name, key string
	}{
		{"15 characters", strings.Repeat("a", 15)},
		{"256 characters", strings.Repeat("a", 256)},
		{"non-ASCII", "clé-d'idempotence-ünïcode"},
		{"a space inside", "0123456789 abcdefgh"},
		{"a tab inside", "0123456789\tabcdefgh"},
		{"DEL inside", "0123456789\x7fabcdefgh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.send(nil, req{Method: "POST", Path: "/v1/keys", Body: body, Header: map[string]string{"Idempotency-Key": tc.key}}, true)
			if err != nil {
				// The Go client refuses to send control characters: send
				// the bytes ourselves. net/http itself may answer 400
				// before keyward sees the request; either way it is a 400.
				if status := rkRawStatus(t, e, "POST /v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+e.Op+
					"\r\nContent-Type: application/json\r\nContent-Length: 12\r\nIdempotency-Key: "+tc.key+"\r\nConnection: close\r\n\r\n{\"name\":\"k\"}"); status != http.StatusBadRequest {
					t.Errorf("status %d, want 400", status)
				}
				return
			}
			p := problem(t, res, http.StatusBadRequest, "invalid_parameter")
			if !strings.Contains(p["detail"].(string), "Idempotency-Key") {
				t.Errorf("the 400 does not name Idempotency-Key: %v", p["detail"])
			}
		})
	}
	if n := len(list(t, e, req{Path: "/v1/keys"})); n != 0 {
		t.Fatalf("refused Idempotency-Keys created %d keys", n)
	}
	for _, key := range []string{strings.Repeat("b", 16), strings.Repeat("c", 255), `~!"#$%&'()*+,-./:;<=>?@[\]^_{|}` + "`"} {
		res := rkPost(e, "/v1/keys", key, "", body, nil)
		if res.Status != http.StatusCreated || rkReplayed(res) != "false" {
			t.Errorf("a %d-character Idempotency-Key: %d %s", len(key), res.Status, res.Body)
		}
	}
	// Routes that create nothing ignore the header.
	if res := e.do(req{Method: "POST", Path: "/v1/keys/verify", Body: map[string]any{"key": "kw_x"}, Header: map[string]string{"Idempotency-Key": "short"}}); res.Status != http.StatusOK {
		t.Errorf("verify with a short Idempotency-Key: %d, want 200 (verify creates nothing)", res.Status)
	}
}

// TestIdempotencyWindow checks that answers are remembered 24 hours and no
// longer: through the store, and through the API with a moved clock.
func TestIdempotencyWindow(t *testing.T) {
	t.Parallel()
	t.Run("store", func(t *testing.T) {
		e := newEnv(t)
		ctx := context.Background()
		t0 := time.Now().UTC().Truncate(time.Millisecond)
		kh := sha256.Sum256([]byte("the idempotency key"))
		rq := sha256.Sum256([]byte("the request"))
		rec := func(at time.Time) *keyward.IdempotencyRecord {
			return &keyward.IdempotencyRecord{Scope: "acc_x:key_y", KeyHash: kh[:], RequestHash: rq[:], Pending: true, CreatedAt: at}
		}
		reserve := func(r *keyward.IdempotencyRecord, notBefore time.Time) (prev *keyward.IdempotencyRecord) {
			t.Helper()
			err := e.DB.Write(ctx, func(tx keyward.Tx) (err error) {
				prev, err = tx.ReserveIdempotency(ctx, r, notBefore)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return prev
		}
		if prev := reserve(rec(t0), t0.Add(-24*time.Hour)); prev != nil {
			t.Fatalf("the first reservation found %+v", prev)
		}
		prev := reserve(rec(t0.Add(time.Minute)), t0.Add(-24*time.Hour))
		if prev == nil || !prev.Pending || !bytes.Equal(prev.RequestHash, rq[:]) {
			t.Fatalf("a second reservation within the window got %+v, want the pending first", prev)
		}
		done := rec(t0)
		done.Pending, done.Status, done.Response = false, 201, []byte("sealed answer")
		if err := e.DB.Write(ctx, func(tx keyward.Tx) error { return tx.FinishIdempotency(ctx, done) }); err != nil {
			t.Fatal(err)
		}
		// 23h59m later: still there.
		prev = reserve(rec(t0.Add(24*time.Hour-time.Minute)), t0.Add(-time.Minute))
		if prev == nil || prev.Pending || prev.Status != 201 || string(prev.Response) != "sealed answer" || !prev.CreatedAt.Equal(t0) {
			t.Fatalf("within 24h the finished record reads %+v", prev)
		}
		// Past the window (created before notBefore): ignored and replaced.
		later := t0.Add(24*time.Hour + time.Second)
		if prev := reserve(rec(later), t0.Add(time.Millisecond)); prev != nil {
			t.Fatalf("a record older than notBefore was returned: %+v", prev)
		}
		prev = reserve(rec(later.Add(time.Second)), t0.Add(time.Millisecond))
		if prev == nil || !prev.Pending || !prev.CreatedAt.Equal(later) {
			t.Fatalf("the replacement reservation reads %+v, want a pending record created at %v", prev, later)
		}
	})

	t.Run("api with a moved clock", func(t *testing.T) {
		var offset atomic.Int64
		clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		e := startEnv(t, keywardtest.Options{Service: service.Options{Clock: clock}})
		idem := rkIdemKey(t)
		body := map[string]any{"name": "windowed"}
		first := must(t, e, http.StatusCreated, rkIdem("/v1/keys", idem, body))
		offset.Store(int64(23*time.Hour + 59*time.Minute))
		if res := rkPost(e, "/v1/keys", idem, "", body, nil); !bytes.Equal(res.Body, first.Body) || rkReplayed(res) != "true" {
			t.Fatalf("23h59m later the retry got %d replayed=%s", res.Status, rkReplayed(res))
		}
		problem(t, rkPost(e, "/v1/keys", idem, "", map[string]any{"name": "other"}, nil), http.StatusConflict, "idempotency_conflict")
		offset.Store(int64(24*time.Hour + time.Minute))
		res := rkPost(e, "/v1/keys", idem, "", body, nil)
		if res.Status != http.StatusCreated || rkReplayed(res) != "false" || res.Str(t, "id") == first.Str(t, "id") {
			t.Fatalf("24h01m later the same request should run again: %d replayed=%s %s", res.Status, rkReplayed(res), res.Body)
		}
		if n := len(list(t, e, req{Path: "/v1/keys"})); n != 2 {
			t.Errorf("%d keys, want 2 (the first, and the one created after the window)", n)
		}
	})
}

// TestIdempotencyAfterMasterKeyChange retries a creation after the server
// was restarted without the master key it had (the remembered answer was
// sealed with a key derived from it): the answer cannot be replayed, but
// the retry must neither create a second key nor fail with a 500.
func TestIdempotencyAfterMasterKeyChange(t *testing.T) {
	t.Parallel()
	master := keywardtest.MasterKey(t)
	e := startEnv(t, keywardtest.Options{Service: service.Options{MasterKey: master}})
	idem := rkIdemKey(t)
	body := map[string]any{"name": "sealed with the master key"}
	first := must(t, e, http.StatusCreated, rkIdem("/v1/keys", idem, body))
	e.Close()
	e2 := startEnv(t, keywardtest.Options{Reopen: e.Server})
	res := rkPost(e2, "/v1/keys", idem, "", body, nil)
	if n := len(list(t, e2, req{Path: "/v1/keys"})); n != 1 {
		t.Errorf("the retry created another key: %d keys", n)
	}
	switch {
	case res.Status == http.StatusCreated && bytes.Equal(res.Body, first.Body):
	case res.Status == http.StatusInternalServerError:
		t.Errorf("a retry after the master key was removed answers 500; want the first answer or a clear 409 idempotency_conflict\n%s", res.Body)
	default:
		problem(t, res, http.StatusConflict, "idempotency_conflict")
	}
}

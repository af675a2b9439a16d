package http_test

// Tests of recoverable keys (issue 3 item 6): the master key,
// GET /v1/keys/{id}/secret, what a database without the master key keeps,
// and the shared helpers of the rk* test files (servers built differently
// from newEnv: master key, lockout, trusted proxies, a movable clock).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
)

// rkMasterKey returns a new random master key and its 32 bytes.
func rkMasterKey(t *testing.T) (*keyward.MasterKey, []byte) {
	t.Helper()
	raw := make([]byte, keyward.MasterKeySize)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	mk, err := keyward.ParseMasterKey([]byte(hex.EncodeToString(raw)))
	if err != nil {
		t.Fatalf("ParseMasterKey(hex): %v", err)
	}
	return mk, raw
}

// rkMust sends r with client c and fails the test unless the status is want.
func rkMust(t *testing.T, e *testEnv, c *http.Client, want int, r req) *resp {
	t.Helper()
	res, err := e.send(c, r, true)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	if res.Status != want {
		t.Fatalf("%s %s: status %d, want %d\n%s", r.Method, r.Path, res.Status, want, res.Body)
	}
	return res
}

// rkFieldErrors returns the errors member of a problem as field → message.
func rkFieldErrors(p map[string]any) map[string]string {
	out := map[string]string{}
	list, _ := p["errors"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		f, _ := m["field"].(string)
		msg, _ := m["message"].(string)
		if prev, ok := out[f]; ok {
			msg = prev + " | " + msg
		}
		out[f] = msg
	}
	return out
}

// rkWantFields fails unless the problem's errors name exactly the fields.
func rkWantFields(t *testing.T, p map[string]any, fields ...string) map[string]string {
	t.Helper()
	got := rkFieldErrors(p)
	var names []string
	for f := range got {
		names = append(names, f)
	}
	slices.Sort(names)
	want := slices.Clone(fields)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("errors name fields %v, want exactly %v\n%v", names, want, p["errors"])
	}
	return got
}

// rkWantField fails unless the problem names field with a message holding
// every one of words.
func rkWantField(t *testing.T, p map[string]any, field string, words ...string) {
	t.Helper()
	msg, ok := rkFieldErrors(p)[field]
	if !ok {
		t.Fatalf("errors do not name %s: %v", field, p["errors"])
	}
	for _, w := range words {
		if !strings.Contains(msg, w) {
			t.Errorf("the message for %s is %q; it should mention %q", field, msg, w)
		}
	}
}

// rkNotInDatabase fails if any of the secrets (or the random part after
// the prefix) appears in what the database at path holds (envStoredBytes:
// the SQLite file or its -wal / -shm companions; every PostgreSQL row).
func rkNotInDatabase(t *testing.T, path string, secrets ...string) {
	t.Helper()
	read := 0
	for p, b := range envStoredBytes(t, path) {
		read += len(b)
		for _, s := range secrets {
			_, body, _ := strings.Cut(s, "_")
			for _, needle := range []string{s, body} {
				if len(needle) >= 16 && bytes.Contains(b, []byte(needle)) {
					t.Errorf("%s holds a secret in clear (%.8s…)", filepath.Base(p), needle)
				}
			}
		}
	}
	if read == 0 {
		t.Fatalf("no database file at %s: the check would prove nothing", path)
	}
}

func TestRecoverableNeedsMasterKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before, audits := len(list(t, e, req{Path: "/v1/keys"})), e.auditCount()
	p := problem(t, e.do(req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "r", "recoverable": true}}),
		http.StatusUnprocessableEntity, "validation_failed")
	rkWantFields(t, p, "recoverable")
	rkWantField(t, p, "recoverable", "master key")
	if n := len(list(t, e, req{Path: "/v1/keys"})); n != before {
		t.Errorf("a refused recoverable create left %d keys, want %d", n, before)
	}
	if n := e.auditCount(); n != audits {
		t.Errorf("a refused recoverable create wrote %d audit events", n-audits)
	}
	k := e.createKey(map[string]any{"name": "plain", "recoverable": false})
	if k["recoverable"] != false {
		t.Errorf("recoverable: false gives recoverable %v", k["recoverable"])
	}
	problem(t, e.do(req{Method: "GET", Path: "/v1/keys/" + k["id"].(string) + "/secret"}), http.StatusConflict, "conflict")
}

func TestRecoverableReveal(t *testing.T) {
	t.Parallel()
	master, raw := rkMasterKey(t)
	e := startEnv(t, keywardtest.Options{Service: service.Options{MasterKey: master}})
	other := account(t, e, "other")
	onOther := map[string]string{"X-Account-Id": other}

	k := e.createKey(map[string]any{"name": "recoverable", "recoverable": true})
	id, first := k["id"].(string), k["secret"].(string)
	if k["recoverable"] != true {
		t.Fatalf("created with recoverable: true, the key says recoverable %v", k["recoverable"])
	}
	plain := e.createKey(map[string]any{"name": "plain"})
	otherKey := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/keys", Header: onOther,
		Body: map[string]any{"name": "theirs", "recoverable": true}}).JSON(t)
	secrets := []string{first, plain["secret"].(string), otherKey["secret"].(string)}

	reveal := func(t *testing.T, id, want string, r req) {
		t.Helper()
		r.Method, r.Path = "GET", "/v1/keys/"+id+"/secret"
		res := rkMust(t, e, nil, http.StatusOK, r)
		var got map[string]any
		if err := json.Unmarshal(res.Body, &got); err != nil {
			t.Fatal(err)
		}
		if got["id"] != id || got["secret"] != want || len(got) != 2 {
			t.Fatalf("GET /v1/keys/%s/secret = %s, want {id: %s, secret: the create response's secret}", id, res.Body, id)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("a revealed secret is sent with Cache-Control %q, want no-store", cc)
		}
	}

	t.Run("returns the secret of the create response and audits it", func(t *testing.T) {
		n := len(events(t, e, "action=key.secret_revealed&target_id="+id, nil))
		reveal(t, id, first, req{})
		reveal(t, id, first, req{})
		evs := events(t, e, "action=key.secret_revealed&target_id="+id, nil)
		if len(evs) != n+2 {
			t.Fatalf("two reveals wrote %d key.secret_revealed events, want 2", len(evs)-n)
		}
		ev := evs[0]
		actor, _ := ev["actor"].(map[string]any)
		target, _ := ev["target"].(map[string]any)
		if actor["id"] != e.OperatorKeyID || target["id"] != id {
			t.Errorf("the reveal event has actor %v and target %v, want the operator key and %s", actor, target, id)
		}
		b, _ := json.Marshal(evs)
		_, body, _ := strings.Cut(first, "_")
		if bytes.Contains(b, []byte(body)) {
			t.Errorf("the audit event of a reveal holds the secret")
		}
		// Reading the key never shows it.
		for _, path := range []string{"/v1/keys/" + id, "/v1/keys?limit=200"} {
			if got := e.must(http.StatusOK, req{Method: "GET", Path: path}); bytes.Contains(got.Body, []byte(body)) {
				t.Errorf("GET %s shows the secret of a recoverable key", path)
			}
		}
	})

	t.Run("needs keys:reveal", func(t *testing.T) {
		_, weak := mgmtKey(t, e, "", "keys:read", "keys:write", "keys:verify")
		n := len(events(t, e, "action=key.secret_revealed", nil))
		p := problem(t, e.do(req{Method: "GET", Path: "/v1/keys/" + id + "/secret", Token: weak}), http.StatusForbidden, "permission_denied")
		if p["missing_permission"] != "keys:reveal" {
			t.Errorf("missing_permission is %v, want keys:reveal", p["missing_permission"])
		}
		if !strings.Contains(p["detail"].(string), "keys:reveal") {
			t.Errorf("the detail does not name keys:reveal: %v", p["detail"])
		}
		if m := len(events(t, e, "action=key.secret_revealed", nil)); m != n {
			t.Errorf("a refused reveal wrote an audit event")
		}
		_, revealer := mgmtKey(t, e, "", "keys:reveal")
		reveal(t, id, first, req{Token: revealer})
		// An API key cannot call it at all.
		problem(t, e.do(req{Method: "GET", Path: "/v1/keys/" + id + "/secret", Token: first}), http.StatusForbidden, "api_key_forbidden")
		problem(t, e.do(req{Method: "GET", Path: "/v1/keys/" + id + "/secret", NoAuth: true}), http.StatusUnauthorized, "unauthenticated")
	})

	t.Run("not recoverable, unknown, other account", func(t *testing.T) {
		p := problem(t, e.do(req{Method: "GET", Path: "/v1/keys/" + plain["id"].(string) + "/secret"}), http.StatusConflict, "conflict")
		if !strings.Contains(p["detail"].(string), "recoverable") {
			t.Errorf("the 409 does not say the key is not recoverable: %v", p["detail"])
		}
		mkID, _ := mgmtKey(t, e, "", "keys:read")
		for _, tc := range []struct {
			name, id string
			hdr      map[string]string
			token    string
		}{
			{"another account's key, operator", otherKey["id"].(string), nil, ""},
			{"a management key's id", mkID, nil, ""},
			{"unknown id", "key_01ARZ3NDEKTSV4RRFFQ69G5FAV", nil, ""},
			{"malformed id", "nope", nil, ""},
			{"our key seen from another account", id, onOther, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				problem(t, e.do(req{Method: "GET", Path: "/v1/keys/" + tc.id + "/secret", Header: tc.hdr}), http.StatusNotFound, "not_found")
			})
		}
		// An account-bound key of the default account does not see it either.
		_, bound := mgmtKey(t, e, "", "keys:read", "keys:reveal")
		problem(t, e.do(req{Method: "GET", Path: "/v1/keys/" + otherKey["id"].(string) + "/secret", Token: bound}), http.StatusNotFound, "not_found")
		// The operator naming the other account does.
		reveal(t, otherKey["id"].(string), otherKey["secret"].(string), req{Header: onOther})
	})

	t.Run("management keys are never recoverable", func(t *testing.T) {
		// Nothing can read a management key's secret back (the route
		// serves API keys), so storing it sealed only widens what a stolen
		// database and master key give away.
		n := len(list(t, e, req{Path: "/v1/management-keys"}))
		res := e.do(req{Method: "POST", Path: "/v1/management-keys", Body: map[string]any{"name": "m", "recoverable": true, "permissions": []string{"keys:read"}}})
		if res.Status == http.StatusCreated {
			t.Errorf("POST /v1/management-keys with recoverable: true was accepted (a sealed management secret nobody can read); want 422 naming recoverable")
			return
		}
		p := problem(t, res, http.StatusUnprocessableEntity, "validation_failed")
		rkWantField(t, p, "recoverable")
		if m := len(list(t, e, req{Path: "/v1/management-keys"})); m != n {
			t.Errorf("the refused create left a management key")
		}
	})

	t.Run("recoverable is immutable", func(t *testing.T) {
		for _, v := range []any{false, nil} {
			p := problem(t, e.do(req{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"recoverable": v}}),
				http.StatusUnprocessableEntity, "validation_failed")
			rkWantField(t, p, "recoverable")
		}
		reveal(t, id, first, req{})
	})

	var second string
	t.Run("after rotate the new secret", func(t *testing.T) {
		r := e.must(http.StatusOK, req{Method: "POST", Path: "/v1/keys/" + id + "/rotate", Body: map[string]any{"grace_period_seconds": 0}}).JSON(t)
		second = r["secret"].(string)
		if second == first {
			t.Fatal("rotate returned the old secret")
		}
		secrets = append(secrets, second)
		reveal(t, id, second, req{})
		if code := lcCode(t, e, first, nil); code != "ROTATED" {
			t.Errorf("the old secret verifies as %s after a rotation with grace 0, want ROTATED", code)
		}
		if code := lcCode(t, e, second, nil); code != "VALID" {
			t.Errorf("the revealed secret verifies as %s, want VALID", code)
		}
	})
	if second == "" {
		t.FailNow()
	}

	t.Run("the database never holds a secret in clear", func(t *testing.T) {
		rkNotInDatabase(t, e.Location, secrets...)
	})

	e.Close()
	t.Run("restart with the same master key in another encoding", func(t *testing.T) {
		mk, err := keyward.ParseMasterKey([]byte(base64.RawURLEncoding.EncodeToString(raw) + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		if s := mk.String(); s != "[redacted]" {
			t.Errorf("MasterKey.String() = %q, want [redacted]", s)
		}
		e2 := startEnv(t, keywardtest.Options{Reopen: e.Server, Service: service.Options{MasterKey: mk}})
		if err := e2.Service.CheckMasterKey(context.Background()); err != nil {
			t.Fatalf("CheckMasterKey with the right master key: %v", err)
		}
		res := e2.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys/" + id + "/secret"})
		if got := res.Str(t, "secret"); got != second {
			t.Errorf("after a restart the secret reads back as %.8s…, want the rotated secret", got)
		}
		e2.Close()
	})

	t.Run("restart without a master key", func(t *testing.T) {
		e3 := startEnv(t, keywardtest.Options{Reopen: e.Server})
		if err := e3.Service.CheckMasterKey(context.Background()); err != nil {
			t.Errorf("CheckMasterKey without a master key: %v", err)
		}
		p := problem(t, e3.do(req{Method: "GET", Path: "/v1/keys/" + id + "/secret"}), http.StatusConflict, "conflict")
		if !strings.Contains(p["detail"].(string), "master key") {
			t.Errorf("the 409 does not name the missing master key: %v", p["detail"])
		}
		if code := lcCode(t, e3, second, nil); code != "VALID" {
			t.Errorf("without the master key a recoverable key verifies as %s, want VALID", code)
		}
		p = problem(t, e3.do(req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "r2", "recoverable": true}}),
			http.StatusUnprocessableEntity, "validation_failed")
		rkWantField(t, p, "recoverable")
		// The key itself still shows it was recoverable.
		if got := e3.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys/" + id}).JSON(t); got["recoverable"] != true {
			t.Errorf("the key shows recoverable %v without the master key", got["recoverable"])
		}
		e3.Close()
	})

	t.Run("restart with a different master key", func(t *testing.T) {
		wrong := keywardtest.MasterKey(t)
		e4 := startEnv(t, keywardtest.Options{Reopen: e.Server, Service: service.Options{MasterKey: wrong}})
		// The startup check refuses a master key that does not open the
		// secrets already sealed: a clear operator error.
		err := e4.Service.CheckMasterKey(context.Background())
		if err == nil {
			t.Errorf("CheckMasterKey accepts a master key that does not open the stored secrets")
		} else if !strings.Contains(err.Error(), "master key") {
			t.Errorf("CheckMasterKey's error does not name the master key: %v", err)
		}
		// A server that skipped the check (an embedder) still must not
		// answer 500 to a reveal: it is a configuration problem to report
		// clearly, like the server without a master key does (409).
		res := e4.do(req{Method: "GET", Path: "/v1/keys/" + id + "/secret"})
		if bytes.Contains(res.Body, []byte(second)) {
			t.Fatalf("a wrong master key revealed the secret")
		}
		if res.Status == http.StatusInternalServerError {
			t.Errorf("GET /v1/keys/{id}/secret with a different master key answers 500: want a clear error naming the master key (e.g. 409 like a server without one)\n%s", res.Body)
		} else {
			p := problem(t, res, http.StatusConflict, "conflict")
			if !strings.Contains(p["detail"].(string), "master key") {
				t.Errorf("the error does not name the master key: %v", p["detail"])
			}
		}
		if code := lcCode(t, e4, second, nil); code != "VALID" {
			t.Errorf("with another master key a recoverable key verifies as %s, want VALID", code)
		}
		e4.Close()
	})
}

// TestParseMasterKey checks the accepted encodings of the master key and
// that bad lengths are refused without echoing the input.
func TestParseMasterKey(t *testing.T) {
	t.Parallel()
	raw := make([]byte, keyward.MasterKeySize)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	// Raw bytes must not look like text, or they would be ambiguous.
	raw[0], raw[31] = 0x00, 0xff
	ref, err := keyward.ParseMasterKey([]byte(hex.EncodeToString(raw)))
	if err != nil {
		t.Fatal(err)
	}
	tok := keyward.TokenFromString("kw_sealedsecretsealedsecretsealedsecret")
	sealed, err := ref.Seal("key_01ARZ3NDEKTSV4RRFFQ69G5FAV", tok)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("accepted", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			in   []byte
		}{
			{"hex", []byte(hex.EncodeToString(raw))},
			{"upper-case hex with a newline", []byte(strings.ToUpper(hex.EncodeToString(raw)) + "\n")},
			{"base64 std", []byte(base64.StdEncoding.EncodeToString(raw))},
			{"base64 std unpadded", []byte(base64.RawStdEncoding.EncodeToString(raw))},
			{"base64 url", []byte(base64.URLEncoding.EncodeToString(raw))},
			{"base64 url unpadded", []byte(base64.RawURLEncoding.EncodeToString(raw))},
			{"base64 with surrounding space", []byte("  " + base64.StdEncoding.EncodeToString(raw) + " \n")},
			{"32 raw bytes", raw},
		} {
			t.Run(tc.name, func(t *testing.T) {
				mk, err := keyward.ParseMasterKey(tc.in)
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				got, err := mk.Open("key_01ARZ3NDEKTSV4RRFFQ69G5FAV", sealed)
				if err != nil || got.Reveal() != tok.Reveal() {
					t.Fatalf("this encoding gives another key: Open = %v", err)
				}
			})
		}
	})
	t.Run("refused", func(t *testing.T) {
		long := make([]byte, 48)
		rand.Read(long)
		for _, tc := range []struct {
			name string
			in   []byte
		}{
			{"empty", nil},
			{"spaces", []byte("   \n")},
			{"31 raw bytes", raw[:31]},
			{"33 raw bytes", append(slices.Clone(raw), 0x01)},
			{"62 hex", []byte(hex.EncodeToString(raw[:31]))},
			{"66 hex", []byte(hex.EncodeToString(append(slices.Clone(raw), 7)))},
			{"64 characters, not hex", []byte(strings.Repeat("g", 64))},
			{"base64 of 31 bytes", []byte(base64.StdEncoding.EncodeToString(raw[:31]))},
			{"base64 of 33 bytes", []byte(base64.StdEncoding.EncodeToString(append(slices.Clone(raw), 7)))},
			{"base64 of 16 bytes", []byte(base64.StdEncoding.EncodeToString(raw[:16]))},
			{"base64 of 48 bytes", []byte(base64.StdEncoding.EncodeToString(long))},
			// 32 characters of text are a 16-byte hex key or a passphrase,
			// not 32 random bytes: taking them as the raw key would turn a
			// typo into a weak key without a word.
			{"32 hex characters (16 bytes)", []byte(hex.EncodeToString(raw[:16]))},
			{"a 32-character passphrase", []byte("correct horse battery staple 123")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				mk, err := keyward.ParseMasterKey(tc.in)
				if err == nil {
					t.Fatalf("accepted (%d bytes) as a master key", len(tc.in))
				}
				if mk != nil {
					t.Errorf("returned a key with the error")
				}
				if s := strings.TrimSpace(string(tc.in)); len(s) >= 8 && strings.Contains(err.Error(), s) {
					t.Errorf("the error echoes the input: %v", err)
				}
			})
		}
	})
	t.Run("a sealed secret is bound to its key id and master key", func(t *testing.T) {
		if _, err := ref.Open("key_01ARZ3NDEKTSV4RRFFQ69G5FAW", sealed); err == nil {
			t.Errorf("a sealed secret opens for another key id")
		}
		other := keywardtest.MasterKey(t)
		if _, err := other.Open("key_01ARZ3NDEKTSV4RRFFQ69G5FAV", sealed); err == nil {
			t.Errorf("a sealed secret opens with another master key")
		}
		if bytes.Contains(sealed, []byte(tok.Reveal())) {
			t.Errorf("the sealed value holds the token in clear")
		}
	})
}

// rkClient returns an HTTP client whose connections come from the local
// address ip (any 127.0.0.0/8 address works on loopback).
func rkClient(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

package http_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math/big"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// Helpers shared by the key lifecycle, verification and rotation tests.
// They take the running test's t so that they can be used in subtests (the
// harness's own helpers fail the top-level test).

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// lcUnknownKeyID, lcUnknownProjectID are well-formed ids no object has.
const (
	lcUnknownKeyID     = "key_01HZZZZZZZZZZZZZZZZZZZZZZZ"
	lcUnknownProjectID = "prj_01HZZZZZZZZZZZZZZZZZZZZZZZ"
)

var lcSecretRE = regexp.MustCompile(`^([a-z][a-z0-9]{0,15})_([0-9A-Za-z]{30})([0-9A-Za-z]{6})$`)

// lcFieldNamed fails t unless the problem's errors name field.
func lcFieldNamed(t *testing.T, p map[string]any, field string) {
	t.Helper()
	errs, _ := p["errors"].([]any)
	var got []string
	for _, fe := range errs {
		m, _ := fe.(map[string]any)
		f, _ := m["field"].(string)
		if f == field {
			if msg, _ := m["message"].(string); msg == "" {
				t.Fatalf("error for %q has no message: %v", field, p)
			}
			return
		}
		got = append(got, f)
	}
	t.Fatalf("errors name %q, want %q among them\n%v", got, field, p)
}

func lcGet(t *testing.T, e *testEnv, id string) map[string]any {
	t.Helper()
	return must(t, e, http.StatusOK, req{Method: "GET", Path: "/v1/keys/" + id}).JSON(t)
}

func lcPatch(t *testing.T, e *testEnv, id string, body any) map[string]any {
	t.Helper()
	return patch(t, e, "/v1/keys/"+id, body)
}

func lcPut(t *testing.T, e *testEnv, id string, body any) map[string]any {
	t.Helper()
	return must(t, e, http.StatusOK, req{Method: "PUT", Path: "/v1/keys/" + id, Body: body}).JSON(t)
}

// lcCode verifies secret with the extra request members and returns the code,
// checking that valid agrees with it.
func lcCode(t *testing.T, e *testEnv, secret any, extra map[string]any) string {
	t.Helper()
	body := map[string]any{"key": secret}
	for n, v := range extra {
		body[n] = v
	}
	r := verify(t, e, nil, body)
	code, _ := r["code"].(string)
	if r["valid"] != (code == "VALID") {
		t.Fatalf("valid %v disagrees with code %q: %v", r["valid"], code, r)
	}
	return code
}

func lcWantCode(t *testing.T, e *testEnv, secret any, extra map[string]any, want string) {
	t.Helper()
	if got := lcCode(t, e, secret, extra); got != want {
		t.Fatalf("verify %v: code %s, want %s", extra, got, want)
	}
}

func lcProject(t *testing.T, e *testEnv, name string) string {
	t.Helper()
	return create(t, e, nil, "/v1/projects", map[string]any{"name": name})["id"].(string)
}

// lcEvents returns the audit events of one target, newest first.
func lcEvents(t *testing.T, e *testEnv, targetID string) ([]map[string]any, []byte) {
	t.Helper()
	res := must(t, e, http.StatusOK, req{Method: "GET", Path: "/v1/audit-events?limit=200&target_id=" + url.QueryEscape(targetID)})
	var page struct {
		Data    []map[string]any `json:"data"`
		HasMore bool             `json:"has_more"`
	}
	if err := json.Unmarshal(res.Body, &page); err != nil {
		t.Fatalf("audit events: %v\n%s", err, res.Body)
	}
	if page.HasMore {
		t.Fatalf("more than 200 audit events for %s", targetID)
	}
	return page.Data, res.Body
}

// lcOneNewEvent checks that exactly one audit event was written for the
// target since it had n events, with the action, and returns it.
func lcOneNewEvent(t *testing.T, e *testEnv, targetID string, n int, action string) map[string]any {
	t.Helper()
	evs, _ := lcEvents(t, e, targetID)
	if len(evs) != n+1 {
		t.Fatalf("%d audit events for %s, want %d (one new)", len(evs), targetID, n+1)
	}
	ev := evs[0]
	if ev["action"] != action {
		t.Fatalf("audit action %v, want %s: %v", ev["action"], action, ev)
	}
	if tg, _ := ev["target"].(map[string]any); tg["id"] != targetID {
		t.Fatalf("audit target %v, want %s", ev["target"], targetID)
	}
	return ev
}

// lcChangedFields returns the sorted names of an audit event's changes.
func lcChangedFields(t *testing.T, ev map[string]any) []string {
	t.Helper()
	ch, ok := ev["changes"].(map[string]any)
	if !ok {
		t.Fatalf("audit event without changes: %v", ev)
	}
	var names []string
	for n := range ch {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// lcChange returns before and after of one changed field, as JSON values.
func lcChange(t *testing.T, ev map[string]any, field string) (before, after any) {
	t.Helper()
	ch, _ := ev["changes"].(map[string]any)
	c, ok := ch[field].(map[string]any)
	if !ok {
		t.Fatalf("audit event has no change of %q: %v", field, ev["changes"])
	}
	return c["before"], c["after"]
}

// lcState is a key as GET shows it plus the account's audit event count.
type lcState struct {
	key   map[string]any
	audit int
}

func lcSnapshot(t *testing.T, e *testEnv, id string) lcState {
	t.Helper()
	k := lcGet(t, e, id)
	delete(k, "last_used_at") // written behind by verifications, not by changes
	return lcState{key: k, audit: e.auditCount()}
}

// unchanged fails t if the key or the audit log moved since the snapshot.
func (s lcState) unchanged(t *testing.T, e *testEnv, id string) {
	t.Helper()
	k := lcGet(t, e, id)
	delete(k, "last_used_at")
	if !reflect.DeepEqual(k, s.key) {
		t.Fatalf("a refused request changed the key:\nbefore %v\nafter  %v", s.key, k)
	}
	if n := e.auditCount(); n != s.audit {
		t.Fatalf("a refused request wrote %d audit events", n-s.audit)
	}
}

// lcRefused sends r, which must fail with status and code, and checks that
// key id did not change and no audit event was written.
func lcRefused(t *testing.T, e *testEnv, id string, r req, status int, code string) map[string]any {
	t.Helper()
	s := lcSnapshot(t, e, id)
	p := problem(t, e.do(r), status, code)
	s.unchanged(t, e, id)
	return p
}

// lcInvalidPatch sends PATCH /v1/keys/{id} with body, which must be a 422
// naming field and change neither the key nor the audit log.
func lcInvalidPatch(t *testing.T, e *testEnv, id string, body any, field string) {
	t.Helper()
	p := lcRefused(t, e, id, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: body}, http.StatusUnprocessableEntity, "validation_failed")
	lcFieldNamed(t, p, field)
}

// checksum is the 6-character base62 CRC32 (IEEE) of s, as
// docs/decisions.md describes it, computed independently of the product code.
func checksum(s string) string {
	v := crc32.ChecksumIEEE([]byte(s))
	out := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return string(out)
}

// forgeToken returns a well-formed token (valid checksum) no key has.
func forgeToken(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 30)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(62))
		if err != nil {
			t.Fatal(err)
		}
		b[i] = base62[n.Int64()]
	}
	s := prefix + "_" + string(b)
	return s + checksum(s)
}

// lcFlip replaces the character at i with another base62 character.
func lcFlip(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

// lcCheckSecret checks the documented token format and checksum.
func lcCheckSecret(t *testing.T, secret, prefix string) {
	t.Helper()
	m := lcSecretRE.FindStringSubmatch(secret)
	if m == nil {
		t.Fatalf("secret %q does not match <prefix>_<30 base62><6 base62>", secret)
	}
	if m[1] != prefix {
		t.Fatalf("secret prefix %q, want %q", m[1], prefix)
	}
	if want := checksum(m[1] + "_" + m[2]); m[3] != want {
		t.Fatalf("secret checksum %q, want CRC32 base62 %q", m[3], want)
	}
}

// lcNoSecret fails t if body holds a secret or its random part.
func lcNoSecret(t *testing.T, where string, body []byte, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		m := lcSecretRE.FindStringSubmatch(s)
		if bytes.Contains(body, []byte(s)) || (m != nil && bytes.Contains(body, []byte(m[2]))) {
			t.Fatalf("%s contains a secret:\n%s", where, body)
		}
	}
}

func timeOf(t *testing.T, v any) time.Time {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%v is not a timestamp string", v)
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%q is not RFC 3339: %v", s, err)
	}
	if !strings.HasSuffix(s, "Z") {
		t.Fatalf("%q is not in UTC", s)
	}
	return tm
}

// future formats a time d from now for a request body.
func future(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339Nano) }

// lcPastMillis waits until the wall clock is past ts by a few milliseconds,
// so a change made next gets a later millisecond timestamp than ts.
func lcPastMillis(ts time.Time) {
	if d := time.Until(ts.Add(3 * time.Millisecond)); d > 0 {
		time.Sleep(d)
	}
}

// lcJSONEq compares two values as JSON.
func lcJSONEq(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var gv, wv any
	json.Unmarshal(g, &gv)
	json.Unmarshal(w, &wv)
	if !reflect.DeepEqual(gv, wv) {
		t.Fatalf("%s = %s, want %s", what, g, w)
	}
}

// lcListIDs lists keys with the query and returns the ids and has_more.
func lcListIDs(t *testing.T, e *testEnv, query string) ([]string, bool) {
	t.Helper()
	res := must(t, e, http.StatusOK, req{Method: "GET", Path: "/v1/keys" + query})
	var page struct {
		Data    []map[string]any `json:"data"`
		HasMore *bool            `json:"has_more"`
	}
	if err := json.Unmarshal(res.Body, &page); err != nil {
		t.Fatalf("list: %v\n%s", err, res.Body)
	}
	if page.Data == nil || page.HasMore == nil {
		t.Fatalf("list answer lacks data or has_more: %s", res.Body)
	}
	ids := make([]string, len(page.Data))
	for i, k := range page.Data {
		ids[i], _ = k["id"].(string)
		if _, ok := k["secret"]; ok {
			t.Fatalf("list shows a secret: %s", res.Body)
		}
	}
	return ids, *page.HasMore
}

func lcKeyCount(t *testing.T, e *testEnv) int {
	t.Helper()
	ids, more := lcListIDs(t, e, "?limit=200")
	if more {
		t.Fatal("more than 200 keys")
	}
	return len(ids)
}

// lcSecondManagementKey makes another management key of the default
// account through the service (there is no route for it yet) and returns
// its id and secret.
func lcSecondManagementKey(t *testing.T, e *testEnv, accountID string) (string, string) {
	t.Helper()
	k, tok, err := e.Service.CreateKey(context.Background(), &keyward.Actor{AccountID: accountID}, keyward.KindManagement, &keyward.KeyFields{
		Name:        keyward.Some("second"),
		Permissions: keyward.Some([]string{keyward.PermKeysRead, keyward.PermKeysWrite, keyward.PermKeysVerify}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return k.ID, tok.Reveal()
}

// ---- create ----

func TestLcCreateDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before := e.auditCount()
	res := must(t, e, http.StatusCreated, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "first key"}})
	k := res.JSON(t)
	id, _ := k["id"].(string)
	acct, _ := k["account_id"].(string)
	if !keyward.ValidID(keyward.PrefixKey, id) || !keyward.ValidID(keyward.PrefixAccount, acct) {
		t.Fatalf("id %q / account_id %q are not type-prefixed ULIDs", id, acct)
	}
	want := map[string]any{
		"kind": "api", "name": "first key", "description": nil, "status": "active", "prefix": "kw",
		"owner": map[string]any{"type": "account", "id": acct}, "project_id": nil, "permission_mode": "all",
		"scopes": []any{}, "roles": []any{}, "expires_at": nil, "metadata": map[string]any{}, "ip_allowlist": nil,
		"rate_limit": nil, "credits": nil, "recoverable": false, "legacy_key_id": nil,
		"created_by_id": e.OperatorKeyID, "updated_by_id": e.OperatorKeyID, "last_used_at": nil, "rotated_at": nil,
	}
	for n, w := range want {
		if g, ok := k[n]; !ok || !reflect.DeepEqual(g, w) {
			t.Errorf("%s = %#v, want %#v", n, g, w)
		}
	}
	if timeOf(t, k["created_at"]) != timeOf(t, k["updated_at"]) {
		t.Errorf("created_at %v != updated_at %v on a new key", k["created_at"], k["updated_at"])
	}
	secret, _ := k["secret"].(string)
	lcCheckSecret(t, secret, "kw")
	if k["start"] != secret[:len("kw_")+4] {
		t.Errorf("start %v, want %q", k["start"], secret[:7])
	}
	if k["last4"] != secret[len(secret)-4:] {
		t.Errorf("last4 %v, want %q", k["last4"], secret[len(secret)-4:])
	}
	if got := res.Header.Get("Location"); got != "/v1/keys/"+id {
		t.Errorf("Location %q, want /v1/keys/%s", got, id)
	}
	if etag, _ := k["etag"].(string); etag == "" || res.Header.Get("ETag") != `"`+etag+`"` {
		t.Errorf("ETag header %q, etag member %v", res.Header.Get("ETag"), k["etag"])
	}

	// The secret is shown once: never by GET, list or the audit log.
	g := must(t, e, http.StatusOK, req{Method: "GET", Path: "/v1/keys/" + id})
	if _, ok := g.JSON(t)["secret"]; ok {
		t.Error("GET shows a secret member")
	}
	lcNoSecret(t, "GET", g.Body, secret)
	l := must(t, e, http.StatusOK, req{Method: "GET", Path: "/v1/keys"})
	lcNoSecret(t, "list", l.Body, secret)
	if !bytes.Contains(l.Body, []byte(id)) {
		t.Errorf("list does not show the new key: %s", l.Body)
	}
	evs, raw := lcEvents(t, e, id)
	lcNoSecret(t, "audit events", raw, secret)
	if len(evs) != 1 || evs[0]["action"] != "key.created" || e.auditCount() != before+1 {
		t.Errorf("want one key.created event, got %d events (account %d → %d)", len(evs), before, e.auditCount())
	}
	// The secret works.
	lcWantCode(t, e, secret, nil, "VALID")
}

func TestLcCreateCustom(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	prj := lcProject(t, e, "alpha")
	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Millisecond)
	k := newKey(t, e, nil, map[string]any{
		"name": "custom", "prefix": "acme2", "description": "line one\nline two", "project_id": prj,
		"permission_mode": "restricted",
		"scopes": []any{
			map[string]any{"resource": "documents", "access": "read", "targets": []string{"doc_1", "doc_2"}},
			map[string]any{"resource": "files", "access": "write"},
		},
		"roles":        []string{},
		"expires_at":   exp.Format(time.RFC3339Nano),
		"metadata":     map[string]any{"plan": "pro", "n": 3, "nested": map[string]any{"a": []int{1, 2}}},
		"ip_allowlist": []string{"10.1.2.3/8", "192.0.2.7", "2001:db8::/32"},
		"status":       "disabled",
	})
	secret, _ := k["secret"].(string)
	lcCheckSecret(t, secret, "acme2")
	if k["prefix"] != "acme2" || k["start"] != secret[:len("acme2_")+4] {
		t.Errorf("prefix %v start %v for secret %s", k["prefix"], k["start"], secret)
	}
	lcJSONEq(t, "scopes", k["scopes"], []any{
		map[string]any{"resource": "documents", "access": "read", "targets": []string{"doc_1", "doc_2"}},
		map[string]any{"resource": "files", "access": "write", "targets": []string{"*"}},
	})
	lcJSONEq(t, "ip_allowlist", k["ip_allowlist"], []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"})
	lcJSONEq(t, "metadata", k["metadata"], map[string]any{"plan": "pro", "n": 3, "nested": map[string]any{"a": []int{1, 2}}})
	if k["project_id"] != prj || k["permission_mode"] != "restricted" || k["status"] != "disabled" ||
		k["description"] != "line one\nline two" {
		t.Errorf("fields not as created: %v", k)
	}
	if !timeOf(t, k["expires_at"]).Equal(exp) {
		t.Errorf("expires_at %v, want %v", k["expires_at"], exp)
	}
	// GET shows the same object, without the secret.
	g := lcGet(t, e, k["id"].(string))
	delete(k, "secret")
	if !reflect.DeepEqual(g, k) {
		t.Errorf("GET differs from the create answer:\n%v\n%v", g, k)
	}
	lcWantCode(t, e, secret, nil, "DISABLED")
}

func TestLcCreateRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	prj := lcProject(t, e, "single")
	restricted := func(scopes ...any) map[string]any {
		return map[string]any{"name": "k", "permission_mode": "restricted", "scopes": scopes}
	}
	cases := []struct {
		name  string
		body  any
		field string
	}{
		{"restricted without scopes or roles", map[string]any{"name": "k", "permission_mode": "restricted"}, "permission_mode"},
		{"scopes with the default mode", map[string]any{"name": "k", "scopes": []any{scope("documents", "read")}}, "scopes"},
		{"scopes with mode all", map[string]any{"name": "k", "permission_mode": "all", "scopes": []any{scope("documents", "read")}}, "scopes"},
		{"roles with mode read_only", map[string]any{"name": "k", "permission_mode": "read_only", "roles": []string{}}, "roles"},
		{"unknown resource", restricted(scope("nope", "read")), "scopes[0].resource"},
		{"write on read-only search", restricted(scope("search", "write")), "scopes[0].access"},
		{"read on write-only events", restricted(scope("documents", "read"), scope("events", "read")), "scopes[1].access"},
		{"bad access level", restricted(scope("documents", "admin")), "scopes[0].access"},
		{"protected billing", restricted(scope("billing", "read")), "scopes[0].resource"},
		{"empty targets", restricted(map[string]any{"resource": "documents", "access": "read", "targets": []string{}}), "scopes[0].targets"},
		{"wildcard mixed with ids", restricted(map[string]any{"resource": "documents", "access": "read", "targets": []string{"*", "d1"}}), "scopes[0].targets[0]"},
		{"duplicate scope", restricted(scope("documents", "read"), scope("documents", "read")), "scopes[1]"},
		{"usage on a single-project key", map[string]any{"name": "k", "project_id": prj, "permission_mode": "restricted",
			"scopes": []any{scope("documents", "read"), scope("usage", "read")}}, "scopes[1].resource"},
		{"unknown project", map[string]any{"name": "k", "project_id": lcUnknownProjectID}, "project_id"},
		{"malformed project id", map[string]any{"name": "k", "project_id": "alpha"}, "project_id"},
		{"expiry in the past", map[string]any{"name": "k", "expires_at": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)}, "expires_at"},
		{"clear_expires_at with expires_at", map[string]any{"name": "k", "expires_at": future(time.Hour), "clear_expires_at": true}, "clear_expires_at"},
		{"name missing", map[string]any{"description": "d"}, "name"},
		{"name null", map[string]any{"name": nil}, "name"},
		{"name empty", map[string]any{"name": ""}, "name"},
		{"name blank", map[string]any{"name": "   \t "}, "name"},
		{"name too long", map[string]any{"name": strings.Repeat("n", 256)}, "name"},
		{"name with a newline", map[string]any{"name": "a\nb"}, "name"},
		{"name of the wrong type", map[string]any{"name": 7}, "name"},
		{"description too long", map[string]any{"name": "k", "description": strings.Repeat("d", 1025)}, "description"},
		{"status revoked", map[string]any{"name": "k", "status": "revoked"}, "status"},
		{"unknown status", map[string]any{"name": "k", "status": "paused"}, "status"},
		{"unknown permission mode", map[string]any{"name": "k", "permission_mode": "none"}, "permission_mode"},
		{"upper-case prefix", map[string]any{"name": "k", "prefix": "KW"}, "prefix"},
		{"prefix starting with a digit", map[string]any{"name": "k", "prefix": "1kw"}, "prefix"},
		{"prefix too long", map[string]any{"name": "k", "prefix": strings.Repeat("p", 17)}, "prefix"},
		{"bad allowlist entry", map[string]any{"name": "k", "ip_allowlist": []string{"10.0.0.1", "not-an-ip"}}, "ip_allowlist[1]"},
		{"metadata not an object", map[string]any{"name": "k", "metadata": []int{1}}, "metadata"},
		{"rate_limit 0", map[string]any{"name": "k", "rate_limit": map[string]any{"limit": 0, "window": 60}}, "rate_limit.limit"},
		{"credits negative", map[string]any{"name": "k", "credits": map[string]any{"remaining": -10}}, "credits.remaining"},
		{"recoverable without a master key", map[string]any{"name": "k", "recoverable": true}, "recoverable"},
		{"owner of another account", map[string]any{"name": "k", "owner": map[string]any{"type": "account", "id": "acc_01HZZZZZZZZZZZZZZZZZZZZZZZ"}}, "owner.id"},
		{"management permissions on an API key", map[string]any{"name": "k", "permissions": []string{"keys:read"}}, "permissions"},
		{"kind management on the API key route", map[string]any{"name": "k", "kind": "management"}, "kind"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys, audit := lcKeyCount(t, e), e.auditCount()
			p := problem(t, e.do(req{Method: "POST", Path: "/v1/keys", Body: c.body}), http.StatusUnprocessableEntity, "validation_failed")
			lcFieldNamed(t, p, c.field)
			if n := lcKeyCount(t, e); n != keys {
				t.Fatalf("a refused create made a key (%d → %d)", keys, n)
			}
			if n := e.auditCount(); n != audit {
				t.Fatalf("a refused create wrote %d audit events", n-audit)
			}
		})
	}
	t.Run("unknown member is 400", func(t *testing.T) {
		keys := lcKeyCount(t, e)
		problem(t, e.do(req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "k", "nmae": "x"}}), http.StatusBadRequest, "unknown_field")
		problem(t, e.do(req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "k", "permission_mode": "restricted",
			"scopes": []any{map[string]any{"resource": "documents", "access": "read", "target": []string{"x"}}}}}), http.StatusBadRequest, "unknown_field")
		if lcKeyCount(t, e) != keys {
			t.Fatal("a refused create made a key")
		}
	})
	t.Run("name of 255 characters is fine", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": strings.Repeat("é", 255)})
		if k["name"] != strings.Repeat("é", 255) {
			t.Fatalf("name %v", k["name"])
		}
	})
}

// ---- get ----

func TestLcGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := newKey(t, e, nil, map[string]any{"name": "g"})
	id := k["id"].(string)
	res := must(t, e, http.StatusOK, req{Method: "GET", Path: "/v1/keys/" + id})
	g := res.JSON(t)
	if etag, _ := g["etag"].(string); etag == "" || res.Header.Get("ETag") != `"`+etag+`"` {
		t.Fatalf("ETag header %q, etag member %v", res.Header.Get("ETag"), g["etag"])
	}
	if g["etag"] != k["etag"] {
		t.Fatalf("etag changed without a change: %v → %v", k["etag"], g["etag"])
	}
	prj := lcProject(t, e, "p")
	for _, bad := range []string{
		e.OperatorKeyID,     // a management key's id
		prj,                 // another kind of object
		lcUnknownKeyID,      // well-formed, unknown
		strings.ToLower(id), // not canonical
		id + "0",
		"key_",
		"nope",
		"verifyx",
	} {
		t.Run(bad, func(t *testing.T) {
			problem(t, e.do(req{Method: "GET", Path: "/v1/keys/" + url.PathEscape(bad)}), http.StatusNotFound, "not_found")
		})
	}
}

// ---- PATCH ----

// lcFullKey creates a key with every clearable member set.
// lcFullKeyEnv starts a server holding a project and a full key in it
// (lcFullKey), and returns the key's id.
func lcFullKeyEnv(t *testing.T) (*testEnv, string) {
	t.Helper()
	e := newEnv(t)
	return e, lcFullKey(t, e, lcProject(t, e, "p"))["id"].(string)
}

func lcFullKey(t *testing.T, e *testEnv, prj string) map[string]any {
	t.Helper()
	return newKey(t, e, nil, map[string]any{
		"name": "full", "description": "desc", "project_id": prj, "expires_at": future(72 * time.Hour),
		"metadata": map[string]any{"a": 1, "b": "two"}, "ip_allowlist": []string{"10.0.0.0/8", "192.0.2.1"},
		"permission_mode": "restricted",
		"scopes":          []any{map[string]any{"resource": "documents", "access": "write", "targets": []string{"d1"}}},
		"roles":           []string{},
	})
}

func TestLcPatchAbsentStays(t *testing.T) {
	t.Parallel()
	e, id := lcFullKeyEnv(t)
	before := lcGet(t, e, id)
	after := lcPatch(t, e, id, map[string]any{"name": "renamed"})
	for n, v := range before {
		switch n {
		case "name", "etag", "updated_at", "updated_by_id":
			continue
		}
		if !reflect.DeepEqual(after[n], v) {
			t.Errorf("%s changed by a PATCH that did not send it: %v → %v", n, v, after[n])
		}
	}
	if after["name"] != "renamed" {
		t.Errorf("name %v, want renamed", after["name"])
	}
}

func TestLcPatchNullClears(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	prj := lcProject(t, e, "p")
	cases := []struct {
		field string
		want  any // the value GET shows once cleared
	}{
		{"description", nil},
		{"expires_at", nil},
		{"project_id", nil},
		{"metadata", map[string]any{}},
		{"ip_allowlist", nil},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			k := lcFullKey(t, e, prj)
			id := k["id"].(string)
			if reflect.DeepEqual(k[c.field], c.want) {
				t.Fatalf("%s is already %v before the PATCH", c.field, c.want)
			}
			nev := len(events(t, e, "target_id="+url.QueryEscape(id), nil))
			got := lcPatch(t, e, id, map[string]any{c.field: nil})
			if !reflect.DeepEqual(got[c.field], c.want) {
				t.Fatalf("%s = %v after null, want %v", c.field, got[c.field], c.want)
			}
			if g := lcGet(t, e, id); !reflect.DeepEqual(g[c.field], c.want) {
				t.Fatalf("GET: %s = %v after null, want %v", c.field, g[c.field], c.want)
			}
			ev := lcOneNewEvent(t, e, id, nev, "key.updated")
			if f := lcChangedFields(t, ev); !slices.Equal(f, []string{c.field}) {
				t.Fatalf("audit changes %v, want [%s]", f, c.field)
			}
			b, a := lcChange(t, ev, c.field)
			if b == nil || a != nil && !reflect.DeepEqual(a, map[string]any{}) {
				t.Fatalf("audit %s: %v → %v, want value → cleared", c.field, b, a)
			}
		})
	}
	// rate_limit and credits cannot hold a value yet; null is accepted and
	// leaves them null without a write.
	for _, f := range []string{"rate_limit", "credits"} {
		t.Run(f, func(t *testing.T) {
			k := newKey(t, e, nil, map[string]any{"name": "n"})
			id := k["id"].(string)
			s := lcSnapshot(t, e, id)
			got := lcPatch(t, e, id, map[string]any{f: nil})
			if got[f] != nil {
				t.Fatalf("%s = %v", f, got[f])
			}
			s.unchanged(t, e, id)
		})
	}
	t.Run("several at once", func(t *testing.T) {
		k := lcFullKey(t, e, prj)
		id := k["id"].(string)
		nev := len(events(t, e, "target_id="+url.QueryEscape(id), nil))
		got := lcPatch(t, e, id, map[string]any{"description": nil, "metadata": nil, "ip_allowlist": nil})
		if got["description"] != nil || !reflect.DeepEqual(got["metadata"], map[string]any{}) || got["ip_allowlist"] != nil {
			t.Fatalf("not cleared: %v", got)
		}
		ev := lcOneNewEvent(t, e, id, nev, "key.updated")
		if f := lcChangedFields(t, ev); !slices.Equal(f, []string{"description", "ip_allowlist", "metadata"}) {
			t.Fatalf("audit changes %v", f)
		}
	})
}

func TestLcPatchNullRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := newKey(t, e, nil, map[string]any{"name": "n", "permission_mode": "restricted", "scopes": []any{}})
	id := k["id"].(string)
	for _, f := range []string{"name", "status", "permission_mode", "scopes", "roles"} {
		t.Run(f, func(t *testing.T) {
			lcInvalidPatch(t, e, id, map[string]any{f: nil}, f)
		})
	}
}

func TestLcPatchReplacesWholesale(t *testing.T) {
	t.Parallel()
	e, id := lcFullKeyEnv(t)

	got := lcPatch(t, e, id, map[string]any{"metadata": map[string]any{"c": true}})
	lcJSONEq(t, "metadata after replace", got["metadata"], map[string]any{"c": true})
	got = lcPatch(t, e, id, map[string]any{"metadata": map[string]any{}})
	lcJSONEq(t, "metadata after {}", got["metadata"], map[string]any{})

	got = lcPatch(t, e, id, map[string]any{"ip_allowlist": []string{"::1"}})
	lcJSONEq(t, "ip_allowlist after replace", got["ip_allowlist"], []string{"::1/128"})
	got = lcPatch(t, e, id, map[string]any{"ip_allowlist": []string{}})
	if got["ip_allowlist"] != nil {
		t.Fatalf("ip_allowlist after [] = %v, want null", got["ip_allowlist"])
	}

	got = lcPatch(t, e, id, map[string]any{"scopes": []any{map[string]any{"resource": "files", "access": "read"}}})
	lcJSONEq(t, "scopes after replace", got["scopes"], []any{map[string]any{"resource": "files", "access": "read", "targets": []string{"*"}}})
	if got["permission_mode"] != "restricted" {
		t.Fatalf("permission_mode %v after a scopes-only PATCH", got["permission_mode"])
	}
	got = lcPatch(t, e, id, map[string]any{"scopes": []any{}})
	lcJSONEq(t, "scopes after []", got["scopes"], []any{})

	// The final state is what GET shows.
	g := lcGet(t, e, id)
	lcJSONEq(t, "GET", g, got)
}

func TestLcPatchExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := newKey(t, e, nil, map[string]any{"name": "x", "expires_at": future(time.Hour)})
	id := k["id"].(string)

	t.Run("clear_expires_at with expires_at is refused", func(t *testing.T) {
		lcInvalidPatch(t, e, id, map[string]any{"clear_expires_at": true, "expires_at": future(2 * time.Hour)}, "clear_expires_at")
		lcRefused(t, e, id, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"clear_expires_at": true, "expires_at": nil}},
			http.StatusUnprocessableEntity, "validation_failed")
	})
	t.Run("expiry in the past is refused", func(t *testing.T) {
		lcInvalidPatch(t, e, id, map[string]any{"expires_at": time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)}, "expires_at")
	})
	t.Run("malformed expiry is refused", func(t *testing.T) {
		lcInvalidPatch(t, e, id, map[string]any{"expires_at": "tomorrow"}, "expires_at")
	})
	t.Run("set a new expiry", func(t *testing.T) {
		exp := time.Now().Add(5 * time.Hour).UTC().Truncate(time.Millisecond)
		got := lcPatch(t, e, id, map[string]any{"expires_at": exp.Format(time.RFC3339Nano)})
		if !timeOf(t, got["expires_at"]).Equal(exp) {
			t.Fatalf("expires_at %v, want %v", got["expires_at"], exp)
		}
	})
	t.Run("clear_expires_at true clears", func(t *testing.T) {
		nev := len(events(t, e, "target_id="+url.QueryEscape(id), nil))
		got := lcPatch(t, e, id, map[string]any{"clear_expires_at": true})
		if got["expires_at"] != nil {
			t.Fatalf("expires_at %v after clear_expires_at", got["expires_at"])
		}
		ev := lcOneNewEvent(t, e, id, nev, "key.updated")
		if f := lcChangedFields(t, ev); !slices.Equal(f, []string{"expires_at"}) {
			t.Fatalf("audit changes %v", f)
		}
	})
	t.Run("clear_expires_at false is a no-op", func(t *testing.T) {
		s := lcSnapshot(t, e, id)
		lcPatch(t, e, id, map[string]any{"clear_expires_at": false})
		s.unchanged(t, e, id)
	})
}

func TestLcPatchStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	setStatus := func(t *testing.T, id, status, action string) {
		t.Helper()
		nev := len(events(t, e, "target_id="+url.QueryEscape(id), nil))
		got := lcPatch(t, e, id, map[string]any{"status": status})
		if got["status"] != status {
			t.Fatalf("status %v, want %s", got["status"], status)
		}
		ev := lcOneNewEvent(t, e, id, nev, action)
		b, a := lcChange(t, ev, "status")
		if a != status || b == status {
			t.Fatalf("audit status %v → %v", b, a)
		}
	}
	t.Run("active to disabled and back", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "s"})
		id, secret := k["id"].(string), k["secret"].(string)
		setStatus(t, id, "disabled", "key.updated")
		lcWantCode(t, e, secret, nil, "DISABLED")
		setStatus(t, id, "active", "key.updated")
		lcWantCode(t, e, secret, nil, "VALID")
	})
	t.Run("active to revoked", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "s"})
		setStatus(t, k["id"].(string), "revoked", "key.revoked")
		lcWantCode(t, e, k["secret"], nil, "REVOKED")
	})
	t.Run("disabled to revoked", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "s", "status": "disabled"})
		setStatus(t, k["id"].(string), "revoked", "key.revoked")
		lcWantCode(t, e, k["secret"], nil, "REVOKED")
	})
	t.Run("unknown status", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "s"})
		id := k["id"].(string)
		lcInvalidPatch(t, e, id, map[string]any{"status": "deleted"}, "status")
	})
	t.Run("revoked is terminal", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "s", "description": "d", "expires_at": future(time.Hour)})
		id := k["id"].(string)
		lcPatch(t, e, id, map[string]any{"status": "revoked"})
		for _, body := range []map[string]any{
			{"status": "active"},
			{"status": "disabled"},
			{"status": "revoked"},
			{"name": "new name"},
			{"name": "s"}, // even the same value
			{"description": nil},
			{"metadata": map[string]any{"a": 1}},
			{"clear_expires_at": true},
			{"permission_mode": "read_only"},
		} {
			t.Run(fmt.Sprint(body), func(t *testing.T) {
				lcRefused(t, e, id, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: body}, http.StatusConflict, "key_revoked")
			})
		}
		lcWantCode(t, e, k["secret"], nil, "REVOKED")
	})
}

func TestLcPatchPermissionMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	docRead := []any{map[string]any{"resource": "documents", "access": "read"}}

	t.Run("to restricted without scopes or roles", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "m"})
		id := k["id"].(string)
		lcInvalidPatch(t, e, id, map[string]any{"permission_mode": "restricted"}, "permission_mode")
	})
	t.Run("to restricted with scopes []", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "m"})
		id, secret := k["id"].(string), k["secret"].(string)
		lcWantCode(t, e, secret, map[string]any{"permissions": "documents:read"}, "VALID")
		got := lcPatch(t, e, id, map[string]any{"permission_mode": "restricted", "scopes": []any{}})
		if got["permission_mode"] != "restricted" {
			t.Fatalf("permission_mode %v", got["permission_mode"])
		}
		lcJSONEq(t, "scopes", got["scopes"], []any{})
		lcJSONEq(t, "roles", got["roles"], []any{})
		lcWantCode(t, e, secret, map[string]any{"permissions": "documents:read"}, "INSUFFICIENT_PERMISSIONS")
		lcWantCode(t, e, secret, nil, "VALID")
	})
	t.Run("to restricted with roles []", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "m", "permission_mode": "read_only"})
		got := lcPatch(t, e, k["id"].(string), map[string]any{"permission_mode": "restricted", "roles": []string{}})
		if got["permission_mode"] != "restricted" {
			t.Fatalf("permission_mode %v", got["permission_mode"])
		}
		lcJSONEq(t, "scopes", got["scopes"], []any{})
	})
	t.Run("unknown role", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "m"})
		id := k["id"].(string)
		lcInvalidPatch(t, e, id, map[string]any{"permission_mode": "restricted", "roles": []string{"nope"}}, "roles[0]")
	})
	t.Run("scopes while the mode stays all", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "m"})
		id := k["id"].(string)
		for _, body := range []map[string]any{
			{"scopes": docRead},
			{"scopes": []any{}},
			{"roles": []string{}},
			{"permission_mode": "all", "scopes": docRead},
			{"permission_mode": "read_only", "scopes": docRead},
		} {
			p := lcRefused(t, e, id, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: body}, http.StatusUnprocessableEntity, "validation_failed")
			if _, ok := body["roles"]; ok {
				lcFieldNamed(t, p, "roles")
			} else {
				lcFieldNamed(t, p, "scopes")
			}
		}
	})
	t.Run("scopes while leaving restricted", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "m", "permission_mode": "restricted", "scopes": docRead})
		id := k["id"].(string)
		lcInvalidPatch(t, e, id, map[string]any{"permission_mode": "all", "scopes": docRead}, "scopes")
	})
	t.Run("restricted to all clears scopes", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "m", "permission_mode": "restricted", "scopes": docRead})
		id, secret := k["id"].(string), k["secret"].(string)
		lcWantCode(t, e, secret, map[string]any{"permissions": "files:read"}, "INSUFFICIENT_PERMISSIONS")
		nev := len(events(t, e, "target_id="+url.QueryEscape(id), nil))
		got := lcPatch(t, e, id, map[string]any{"permission_mode": "all"})
		if got["permission_mode"] != "all" {
			t.Fatalf("permission_mode %v", got["permission_mode"])
		}
		lcJSONEq(t, "scopes", got["scopes"], []any{})
		lcJSONEq(t, "roles", got["roles"], []any{})
		lcWantCode(t, e, secret, map[string]any{"permissions": "files:write"}, "VALID")
		ev := lcOneNewEvent(t, e, id, nev, "key.updated")
		if f := lcChangedFields(t, ev); !slices.Equal(f, []string{"permission_mode", "scopes"}) {
			t.Errorf("audit changes %v, want [permission_mode scopes] (roles is [] before and after)", f)
		}
		_, after := lcChange(t, ev, "scopes")
		lcJSONEq(t, "audit scopes after", after, got["scopes"])
	})
	t.Run("scope validation names the field", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "m", "permission_mode": "restricted", "scopes": docRead})
		id := k["id"].(string)
		for field, scopes := range map[string][]any{
			"scopes[0].resource": {map[string]any{"resource": "billing", "access": "write"}},
			"scopes[1].access":   {map[string]any{"resource": "documents", "access": "read"}, map[string]any{"resource": "search", "access": "write"}},
		} {
			lcInvalidPatch(t, e, id, map[string]any{"scopes": scopes}, field)
		}
	})
	t.Run("project change is checked against the scopes", func(t *testing.T) {
		prj := lcProject(t, e, "pm")
		k := newKey(t, e, nil, map[string]any{"name": "m", "permission_mode": "restricted",
			"scopes": []any{map[string]any{"resource": "usage", "access": "read"}}})
		id := k["id"].(string)
		lcInvalidPatch(t, e, id, map[string]any{"project_id": prj}, "scopes[0].resource")
		lcInvalidPatch(t, e, id, map[string]any{"project_id": lcUnknownProjectID}, "project_id")
	})
}

func TestLcPatchImmutable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := newKey(t, e, nil, map[string]any{"name": "i"})
	id, acct := k["id"].(string), k["account_id"].(string)
	for _, c := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"owner type", map[string]any{"owner": map[string]any{"type": "user", "id": "usr_01HZZZZZZZZZZZZZZZZZZZZZZZ"}}, "owner"},
		{"owner id", map[string]any{"owner": map[string]any{"type": "account", "id": "acc_01HZZZZZZZZZZZZZZZZZZZZZZZ"}}, "owner"},
		{"owner null", map[string]any{"owner": nil}, "owner"},
		{"kind", map[string]any{"kind": "management"}, "kind"},
		{"prefix", map[string]any{"prefix": "other"}, "prefix"},
		{"recoverable", map[string]any{"recoverable": true}, "recoverable"},
		{"legacy_key_id", map[string]any{"legacy_key_id": "old-1"}, "legacy_key_id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := lcRefused(t, e, id, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: c.body}, http.StatusUnprocessableEntity, "validation_failed")
			lcFieldNamed(t, p, c.field)
		})
	}
	t.Run("current values are accepted as a no-op", func(t *testing.T) {
		s := lcSnapshot(t, e, id)
		lcPatch(t, e, id, map[string]any{"owner": map[string]any{"type": "account", "id": acct}, "kind": "api", "prefix": "kw", "recoverable": false})
		s.unchanged(t, e, id)
	})
	t.Run("immutable with a valid change is refused as a whole", func(t *testing.T) {
		lcInvalidPatch(t, e, id, map[string]any{"name": "changed", "prefix": "zz"}, "prefix")
	})
}

func TestLcPatchNoop(t *testing.T) {
	t.Parallel()
	e, id := lcFullKeyEnv(t)
	cur := lcGet(t, e, id)
	for _, c := range []struct {
		name string
		body any
	}{
		{"empty object", map[string]any{}},
		{"identical values", map[string]any{
			"name": cur["name"], "description": cur["description"], "status": cur["status"], "project_id": cur["project_id"],
			"permission_mode": cur["permission_mode"], "scopes": cur["scopes"], "roles": cur["roles"],
			"expires_at": cur["expires_at"], "metadata": cur["metadata"], "ip_allowlist": cur["ip_allowlist"],
			"rate_limit": nil, "credits": nil,
		}},
		{"equivalent allowlist spelling", map[string]any{"ip_allowlist": []string{"10.9.9.9/8", "192.0.2.1"}}},
		{"the whole object read back", func() map[string]any {
			m := map[string]any{}
			for _, f := range []string{"name", "description", "status", "prefix", "owner", "project_id", "permission_mode",
				"scopes", "roles", "expires_at", "metadata", "ip_allowlist", "rate_limit", "credits", "recoverable", "kind"} {
				m[f] = cur[f]
			}
			return m
		}()},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := lcSnapshot(t, e, id)
			res := must(t, e, http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: c.body})
			got := res.JSON(t)
			delete(got, "last_used_at")
			if !reflect.DeepEqual(got, s.key) {
				t.Fatalf("no-op PATCH answered a different key:\n%v\n%v", got, s.key)
			}
			if res.Header.Get("ETag") != `"`+cur["etag"].(string)+`"` {
				t.Fatalf("ETag %q, want the unchanged %q", res.Header.Get("ETag"), cur["etag"])
			}
			s.unchanged(t, e, id)
		})
	}
}

func TestLcPatchIfMatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := newKey(t, e, nil, map[string]any{"name": "v1"})
	id := k["id"].(string)
	etag1 := k["etag"].(string)

	got := must(t, e, http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"name": "v2"},
		Header: map[string]string{"If-Match": `"` + etag1 + `"`}}).JSON(t)
	if got["name"] != "v2" || got["etag"] == etag1 {
		t.Fatalf("matching If-Match: %v", got)
	}
	for _, stale := range []string{`"` + etag1 + `"`, `W/"` + got["etag"].(string) + `"`, `"nope"`} {
		t.Run(stale, func(t *testing.T) {
			lcRefused(t, e, id, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"name": "v3"},
				Header: map[string]string{"If-Match": stale}}, http.StatusPreconditionFailed, "precondition_failed")
		})
	}
	got = must(t, e, http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"name": "v4"},
		Header: map[string]string{"If-Match": "*"}}).JSON(t)
	if got["name"] != "v4" {
		t.Fatalf("If-Match * : %v", got)
	}
	got = must(t, e, http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"name": "v5"},
		Header: map[string]string{"If-Match": `"nope", "` + got["etag"].(string) + `"`}}).JSON(t)
	if got["name"] != "v5" {
		t.Fatalf("If-Match list: %v", got)
	}
	// PUT and DELETE honour it too.
	lcRefused(t, e, id, req{Method: "PUT", Path: "/v1/keys/" + id, Body: map[string]any{"name": "v6"},
		Header: map[string]string{"If-Match": `"` + etag1 + `"`}}, http.StatusPreconditionFailed, "precondition_failed")
	lcRefused(t, e, id, req{Method: "DELETE", Path: "/v1/keys/" + id,
		Header: map[string]string{"If-Match": `"` + etag1 + `"`}}, http.StatusPreconditionFailed, "precondition_failed")
}

func TestLcPatchBookkeeping(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := newKey(t, e, nil, map[string]any{"name": "book", "metadata": map[string]any{"a": 1}})
	id, secret := k["id"].(string), k["secret"].(string)
	mgmtID, mgmtSecret := lcSecondManagementKey(t, e, k["account_id"].(string))

	prev := k
	steps := []struct {
		body   map[string]any
		fields []string
	}{
		{map[string]any{"name": "book 2"}, []string{"name"}},
		{map[string]any{"description": "about", "metadata": map[string]any{"b": 2}}, []string{"description", "metadata"}},
		{map[string]any{"status": "disabled"}, []string{"status"}},
		{map[string]any{"permission_mode": "read_only", "status": "active"}, []string{"permission_mode", "status"}},
	}
	for i, st := range steps {
		lcPastMillis(timeOf(t, prev["updated_at"]))
		start := time.Now().UTC().Truncate(time.Millisecond)
		nev := len(events(t, e, "target_id="+url.QueryEscape(id), nil))
		audit := e.auditCount()
		res := must(t, e, http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: st.body, Token: mgmtSecret,
			Header: map[string]string{"User-Agent": "lc-test/1", "X-Request-Id": fmt.Sprintf("lc-step-%d", i)}})
		got := res.JSON(t)
		if got["etag"] == prev["etag"] || res.Header.Get("ETag") != `"`+got["etag"].(string)+`"` {
			t.Fatalf("step %d: etag %v (was %v), header %q", i, got["etag"], prev["etag"], res.Header.Get("ETag"))
		}
		if u := timeOf(t, got["updated_at"]); !u.After(timeOf(t, prev["updated_at"])) || u.Before(start) {
			t.Fatalf("step %d: updated_at %v, was %v, request started %v", i, got["updated_at"], prev["updated_at"], start)
		}
		if got["updated_by_id"] != mgmtID || got["created_by_id"] != e.OperatorKeyID {
			t.Fatalf("step %d: updated_by_id %v (want %s), created_by_id %v (want %s)", i, got["updated_by_id"], mgmtID, got["created_by_id"], e.OperatorKeyID)
		}
		if got["created_at"] != k["created_at"] {
			t.Fatalf("step %d: created_at moved", i)
		}
		if e.auditCount() != audit+1 {
			t.Fatalf("step %d: %d audit events written, want 1", i, e.auditCount()-audit)
		}
		ev := lcOneNewEvent(t, e, id, nev, "key.updated")
		if f := lcChangedFields(t, ev); !slices.Equal(f, st.fields) {
			t.Fatalf("step %d: audit changes %v, want %v", i, f, st.fields)
		}
		for _, f := range st.fields {
			b, a := lcChange(t, ev, f)
			lcJSONEq(t, fmt.Sprintf("step %d: %s before", i, f), b, prev[f])
			lcJSONEq(t, fmt.Sprintf("step %d: %s after", i, f), a, got[f])
		}
		if actor, _ := ev["actor"].(map[string]any); actor["id"] != mgmtID || actor["type"] != "management_key" {
			t.Fatalf("step %d: audit actor %v, want management key %s", i, ev["actor"], mgmtID)
		}
		if ev["request_id"] != fmt.Sprintf("lc-step-%d", i) || ev["user_agent"] != "lc-test/1" || ev["client_ip"] == "" {
			t.Fatalf("step %d: audit request context %v %v %v", i, ev["request_id"], ev["user_agent"], ev["client_ip"])
		}
		prev = got
	}
	_, raw := lcEvents(t, e, id)
	lcNoSecret(t, "audit events", raw, secret, mgmtSecret)
}

// ---- PUT ----

func TestLcPut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	prj := lcProject(t, e, "p")

	t.Run("omitted members reset", func(t *testing.T) {
		k := lcFullKey(t, e, prj)
		id := k["id"].(string)
		lcPatch(t, e, id, map[string]any{"status": "disabled"})
		nev := len(events(t, e, "target_id="+url.QueryEscape(id), nil))
		got := lcPut(t, e, id, map[string]any{"name": "replaced"})
		want := map[string]any{
			"name": "replaced", "description": nil, "metadata": map[string]any{}, "expires_at": nil, "project_id": nil,
			"status": "active", "permission_mode": "all", "scopes": []any{}, "roles": []any{}, "ip_allowlist": nil,
			"rate_limit": nil, "credits": nil,
		}
		for n, w := range want {
			if !reflect.DeepEqual(got[n], w) {
				t.Errorf("%s = %v after PUT, want %v", n, got[n], w)
			}
		}
		for _, n := range []string{"id", "prefix", "start", "last4", "owner", "created_at", "created_by_id", "kind"} {
			if !reflect.DeepEqual(got[n], k[n]) {
				t.Errorf("%s changed by PUT: %v → %v", n, k[n], got[n])
			}
		}
		lcJSONEq(t, "GET after PUT", lcGet(t, e, id), got)
		ev := lcOneNewEvent(t, e, id, nev, "key.updated")
		if f := lcChangedFields(t, ev); !slices.Equal(f, []string{"description", "expires_at", "ip_allowlist", "metadata", "name",
			"permission_mode", "project_id", "scopes", "status"}) {
			t.Errorf("audit changes %v", f)
		}
		lcWantCode(t, e, k["secret"], map[string]any{"permissions": "files:write"}, "VALID")
	})
	t.Run("stated members are set", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "p"})
		id := k["id"].(string)
		got := lcPut(t, e, id, map[string]any{"name": "p2", "description": "d", "project_id": prj, "permission_mode": "restricted",
			"scopes": []any{map[string]any{"resource": "files", "access": "read"}}, "metadata": map[string]any{"x": "y"},
			"status": "disabled", "ip_allowlist": []string{"192.0.2.0/24"}})
		if got["name"] != "p2" || got["description"] != "d" || got["project_id"] != prj || got["status"] != "disabled" ||
			got["permission_mode"] != "restricted" {
			t.Fatalf("PUT did not set the stated members: %v", got)
		}
		lcJSONEq(t, "scopes", got["scopes"], []any{map[string]any{"resource": "files", "access": "read", "targets": []string{"*"}}})
		lcJSONEq(t, "roles", got["roles"], []any{})
	})
	t.Run("restricted without scopes is kept by restating scopes only", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "r", "permission_mode": "restricted", "roles": []string{}})
		got := lcPut(t, e, k["id"].(string), map[string]any{"name": "r", "permission_mode": "restricted", "scopes": []any{}})
		if got["permission_mode"] != "restricted" {
			t.Fatalf("permission_mode %v", got["permission_mode"])
		}
	})
	t.Run("a PUT equal to the current state writes nothing", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "same"})
		id := k["id"].(string)
		s := lcSnapshot(t, e, id)
		lcPut(t, e, id, map[string]any{"name": "same"})
		s.unchanged(t, e, id)
	})
	t.Run("refused", func(t *testing.T) {
		k := lcFullKey(t, e, prj)
		id := k["id"].(string)
		put := func(body any) req { return req{Method: "PUT", Path: "/v1/keys/" + id, Body: body} }
		for _, c := range []struct {
			name  string
			body  map[string]any
			field string
		}{
			{"empty body object", map[string]any{}, "name"},
			{"name missing", map[string]any{"description": "d"}, "name"},
			{"name null", map[string]any{"name": nil}, "name"},
			{"name blank", map[string]any{"name": " "}, "name"},
			{"restricted without scopes or roles", map[string]any{"name": "n", "permission_mode": "restricted"}, "permission_mode"},
			{"scopes without restricted", map[string]any{"name": "n", "scopes": []any{}}, "scopes"},
			{"protected scope", map[string]any{"name": "n", "permission_mode": "restricted", "scopes": []any{map[string]any{"resource": "billing", "access": "read"}}}, "scopes[0].resource"},
			{"different owner", map[string]any{"name": "n", "owner": map[string]any{"type": "user", "id": "usr_01HZZZZZZZZZZZZZZZZZZZZZZZ"}}, "owner"},
			{"different prefix", map[string]any{"name": "n", "prefix": "zz"}, "prefix"},
			{"past expiry", map[string]any{"name": "n", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"},
		} {
			t.Run(c.name, func(t *testing.T) {
				p := lcRefused(t, e, id, put(c.body), http.StatusUnprocessableEntity, "validation_failed")
				lcFieldNamed(t, p, c.field)
			})
		}
		t.Run("no body", func(t *testing.T) {
			lcRefused(t, e, id, req{Method: "PUT", Path: "/v1/keys/" + id}, http.StatusBadRequest, "malformed_json")
		})
		t.Run("unknown member", func(t *testing.T) {
			lcRefused(t, e, id, put(map[string]any{"name": "n", "colour": "red"}), http.StatusBadRequest, "unknown_field")
		})
	})
	t.Run("revoked key", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "rv"})
		id := k["id"].(string)
		lcPatch(t, e, id, map[string]any{"status": "revoked"})
		for _, body := range []map[string]any{{"name": "rv"}, {"name": "rv", "status": "active"}, {"name": "rv", "status": "revoked"}} {
			lcRefused(t, e, id, req{Method: "PUT", Path: "/v1/keys/" + id, Body: body}, http.StatusConflict, "key_revoked")
		}
	})
	t.Run("PUT can revoke", func(t *testing.T) {
		k := newKey(t, e, nil, map[string]any{"name": "rv2"})
		id := k["id"].(string)
		nev := len(events(t, e, "target_id="+url.QueryEscape(id), nil))
		got := lcPut(t, e, id, map[string]any{"name": "rv2", "status": "revoked"})
		if got["status"] != "revoked" {
			t.Fatalf("status %v", got["status"])
		}
		lcOneNewEvent(t, e, id, nev, "key.revoked")
		lcWantCode(t, e, k["secret"], nil, "REVOKED")
	})
	t.Run("unknown key", func(t *testing.T) {
		problem(t, e.do(req{Method: "PUT", Path: "/v1/keys/" + lcUnknownKeyID, Body: map[string]any{"name": "x"}}), http.StatusNotFound, "not_found")
	})
}

// ---- DELETE ----

func TestLcDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := newKey(t, e, nil, map[string]any{"name": "del"})
	other := newKey(t, e, nil, map[string]any{"name": "stays"})
	id, secret := k["id"].(string), k["secret"].(string)
	lcPatch(t, e, id, map[string]any{"name": "del2"})
	lcWantCode(t, e, secret, nil, "VALID")
	audit := e.auditCount()

	res := must(t, e, http.StatusNoContent, req{Method: "DELETE", Path: "/v1/keys/" + id})
	if len(res.Body) != 0 {
		t.Fatalf("204 with a body: %q", res.Body)
	}
	if e.auditCount() != audit+1 {
		t.Fatalf("delete wrote %d audit events, want 1", e.auditCount()-audit)
	}
	problem(t, e.do(req{Method: "GET", Path: "/v1/keys/" + id}), http.StatusNotFound, "not_found")
	r := verify(t, e, nil, map[string]any{"key": secret})
	lcJSONEq(t, "verify of a deleted key", r, map[string]any{"valid": false, "code": "NOT_FOUND"})
	problem(t, e.do(req{Method: "DELETE", Path: "/v1/keys/" + id}), http.StatusNotFound, "not_found")
	problem(t, e.do(req{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"name": "x"}}), http.StatusNotFound, "not_found")
	problem(t, e.do(req{Method: "POST", Path: "/v1/keys/" + id + "/rotate"}), http.StatusNotFound, "not_found")
	if e.auditCount() != audit+1 {
		t.Fatal("refused requests on a deleted key wrote audit events")
	}
	ids, _ := lcListIDs(t, e, "")
	if slices.Contains(ids, id) || !slices.Contains(ids, other["id"].(string)) {
		t.Fatalf("list after delete: %v", ids)
	}
	lcWantCode(t, e, other["secret"], nil, "VALID")

	evs, raw := lcEvents(t, e, id)
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev["action"].(string))
	}
	if !slices.Equal(actions, []string{"key.deleted", "key.updated", "key.created"}) {
		t.Fatalf("audit trail of the deleted key: %v", actions)
	}
	lcNoSecret(t, "audit events", raw, secret)
	// A deleted key on an unknown or malformed id is the same 404.
	problem(t, e.do(req{Method: "DELETE", Path: "/v1/keys/nope"}), http.StatusNotFound, "not_found")
	problem(t, e.do(req{Method: "DELETE", Path: "/v1/keys/" + e.OperatorKeyID}), http.StatusNotFound, "not_found")
	lcGet(t, e, other["id"].(string))
}

// ---- list ----

func TestLcListPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var created []string
	for i := 0; i < 12; i++ {
		created = append(created, newKey(t, e, nil, map[string]any{"name": fmt.Sprintf("k%02d", i)})["id"].(string))
	}
	newestFirst := slices.Clone(created)
	slices.Reverse(newestFirst)

	all, more := lcListIDs(t, e, "")
	if more || !slices.Equal(all, newestFirst) {
		t.Fatalf("default list %v (has_more %v), want %v", all, more, newestFirst)
	}

	// Forward.
	var walked []string
	var pages [][]string
	q := "?limit=5"
	for i := 0; ; i++ {
		ids, more := lcListIDs(t, e, q)
		pages = append(pages, ids)
		walked = append(walked, ids...)
		if wantMore := i < 2; more != wantMore {
			t.Fatalf("forward page %d: has_more %v, want %v", i, more, wantMore)
		}
		if !more {
			break
		}
		if i > 3 {
			t.Fatal("pagination does not end")
		}
		q = "?limit=5&starting_after=" + ids[len(ids)-1]
	}
	if !slices.Equal(walked, newestFirst) {
		t.Fatalf("forward walk %v, want %v (newest first, no gaps or duplicates)", walked, newestFirst)
	}
	if len(pages) != 3 || len(pages[0]) != 5 || len(pages[1]) != 5 || len(pages[2]) != 2 {
		t.Fatalf("page sizes: %v", pages)
	}

	// Backward from the last page.
	ids, more := lcListIDs(t, e, "?limit=5&ending_before="+pages[2][0])
	if !slices.Equal(ids, pages[1]) || !more {
		t.Fatalf("backward from page 3: %v (has_more %v), want %v (true)", ids, more, pages[1])
	}
	ids, more = lcListIDs(t, e, "?limit=5&ending_before="+pages[1][0])
	if !slices.Equal(ids, pages[0]) || more {
		t.Fatalf("backward from page 2: %v (has_more %v), want %v (false)", ids, more, pages[0])
	}
	ids, more = lcListIDs(t, e, "?limit=5&ending_before="+pages[0][0])
	if len(ids) != 0 || more {
		t.Fatalf("before the newest: %v (has_more %v)", ids, more)
	}
	ids, more = lcListIDs(t, e, "?limit=5&starting_after="+pages[2][1])
	if len(ids) != 0 || more {
		t.Fatalf("after the oldest: %v (has_more %v)", ids, more)
	}
	// A cursor need not be a listed key: lcUnknownKeyID is older than every key.
	ids, more = lcListIDs(t, e, "?limit=200&starting_after="+lcUnknownKeyID)
	if len(ids) != 0 || more {
		t.Fatalf("starting_after an id older than every key: %v (has_more %v)", ids, more)
	}
	ids, more = lcListIDs(t, e, "?limit=200&ending_before="+lcUnknownKeyID)
	if !slices.Equal(ids, newestFirst) || more {
		t.Fatalf("ending_before an id older than every key: %v (has_more %v), want every key", ids, more)
	}
	ids, more = lcListIDs(t, e, "?limit=3&ending_before="+lcUnknownKeyID)
	if !slices.Equal(ids, newestFirst[9:]) || !more {
		t.Fatalf("ending_before an id older than every key, limit 3: %v (has_more %v), want the 3 oldest", ids, more)
	}
	ids, _ = lcListIDs(t, e, "?limit=1")
	if !slices.Equal(ids, newestFirst[:1]) {
		t.Fatalf("limit=1: %v", ids)
	}
	ids, _ = lcListIDs(t, e, "?limit=200&pretty")
	if len(ids) != 12 {
		t.Fatalf("limit=200: %d keys", len(ids))
	}
}

func TestLcListFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	prj := lcProject(t, e, "p")
	// The expiring key first: the rest of the setup runs while it expires.
	expiring := newKey(t, e, nil, map[string]any{"name": "Expiring soon", "expires_at": future(1500 * time.Millisecond)})
	mk := func(body map[string]any) string { return newKey(t, e, nil, body)["id"].(string) }
	plain := mk(map[string]any{"name": "Plain DOCS key"})
	later := mk(map[string]any{"name": "future", "expires_at": future(24 * time.Hour)})
	disabled := mk(map[string]any{"name": "off", "status": "disabled"})
	revoked := mk(map[string]any{"name": "gone"})
	lcPatch(t, e, revoked, map[string]any{"status": "revoked"})
	single := mk(map[string]any{"name": "single project", "project_id": prj})
	ro := mk(map[string]any{"name": "reader", "permission_mode": "read_only"})
	docs := mk(map[string]any{"name": "documents only", "permission_mode": "restricted",
		"scopes": []any{map[string]any{"resource": "documents", "access": "read"}}})
	docsFiles := mk(map[string]any{"name": "docs and files", "permission_mode": "restricted", "project_id": prj,
		"scopes": []any{map[string]any{"resource": "files", "access": "write"}, map[string]any{"resource": "documents", "access": "write", "targets": []string{"d1"}}}})
	percent := mk(map[string]any{"name": "100% done"})
	under := mk(map[string]any{"name": "snake_case"})
	unicodeName := mk(map[string]any{"name": "ÉCOLE Straße"})
	acct := lcGet(t, e, plain)["account_id"].(string)
	allIDs := []string{expiring["id"].(string), plain, later, disabled, revoked, single, ro, docs, docsFiles, percent, under, unicodeName}

	keywardtest.WaitFor(t, "the expiring key to expire", 15*time.Second, func() bool {
		return lcCode(t, e, expiring["secret"], nil) == "EXPIRED"
	})

	newestFirst := func(ids ...string) []string {
		out := slices.Clone(ids)
		sort.Sort(sort.Reverse(sort.StringSlice(out)))
		return out
	}
	without := func(drop ...string) []string {
		var out []string
		for _, id := range allIDs {
			if !slices.Contains(drop, id) {
				out = append(out, id)
			}
		}
		return out
	}
	// created_after/before bounds are exclusive, on the keys' own times.
	var createdMid time.Time
	var after, before []string
	{
		mid := lcGet(t, e, ro)
		createdMid = timeOf(t, mid["created_at"])
		for _, id := range allIDs {
			c := timeOf(t, lcGet(t, e, id)["created_at"])
			if c.After(createdMid) {
				after = append(after, id)
			}
			if c.Before(createdMid) {
				before = append(before, id)
			}
		}
		if len(after) == 0 || len(before) == 0 {
			t.Fatalf("created_at split is degenerate: %d after, %d before", len(after), len(before))
		}
	}
	cases := []struct {
		query string
		want  []string
	}{
		{"status=active", without(disabled, revoked)},
		{"status=disabled", []string{disabled}},
		{"status=revoked", []string{revoked}},
		{"owner_type=account", allIDs},
		{"owner_type=user", nil},
		{"owner_type=service_account", nil},
		{"owner_id=" + acct, allIDs},
		{"owner_id=acc_01HZZZZZZZZZZZZZZZZZZZZZZZ", nil},
		{"project_id=" + prj, []string{single, docsFiles}},
		{"project_id=" + lcUnknownProjectID, nil},
		{"permission_mode=all", without(ro, docs, docsFiles)},
		{"permission_mode=read_only", []string{ro}},
		{"permission_mode=restricted", []string{docs, docsFiles}},
		{"resource=documents", []string{docs, docsFiles}},
		{"resource=files", []string{docsFiles}},
		{"resource=webhooks", nil},
		{"search=docs", []string{plain, docsFiles}},
		{"search=DOCUMENTS", []string{docs}},
		{"search=o", []string{expiring["id"].(string), plain, disabled, revoked, single, docs, docsFiles, percent, unicodeName}},
		{"search=" + url.QueryEscape("%"), []string{percent}},
		{"search=" + url.QueryEscape("0%"), []string{percent}},
		{"search=" + url.QueryEscape("_"), []string{under}},
		{"search=" + url.QueryEscape("e_c"), []string{under}},
		{"search=" + url.QueryEscape("école"), []string{unicodeName}},
		{"search=zzz", nil},
		{"expired=true", []string{expiring["id"].(string)}},
		{"expired=false", without(expiring["id"].(string))},
		{"created_after=" + url.QueryEscape(createdMid.Format(time.RFC3339Nano)), after},
		{"created_before=" + url.QueryEscape(createdMid.Format(time.RFC3339Nano)), before},
		{"created_after=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), nil},
		{"created_before=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), allIDs},
		{"status=active&permission_mode=restricted&project_id=" + prj, []string{docsFiles}},
		{"search=o&status=disabled", []string{disabled}},
		// expires_after/before bounds are exclusive; keys that never
		// expire match neither.
		{"expires_after=" + url.QueryEscape(time.Now().UTC().Format(time.RFC3339Nano)), []string{later}},
		{"expires_before=" + url.QueryEscape(time.Now().UTC().Format(time.RFC3339Nano)), []string{expiring["id"].(string)}},
		{"expires_after=" + url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)) +
			"&expires_before=" + url.QueryEscape(time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339Nano)), []string{expiring["id"].(string), later}},
		{"expires_after=" + url.QueryEscape(time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339Nano)), nil},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			got, more := lcListIDs(t, e, "?limit=200&"+c.query)
			if more {
				t.Fatal("has_more with everything on one page")
			}
			want := newestFirst(c.want...)
			if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
	t.Run("filters combine with pagination", func(t *testing.T) {
		want := newestFirst(without(disabled, revoked)...)
		first, more := lcListIDs(t, e, "?status=active&limit=4")
		if !more || !slices.Equal(first, want[:4]) {
			t.Fatalf("first page %v (more %v), want %v", first, more, want[:4])
		}
		second, _ := lcListIDs(t, e, "?status=active&limit=4&starting_after="+first[3])
		if !slices.Equal(second, want[4:8]) {
			t.Fatalf("second page %v, want %v", second, want[4:8])
		}
	})
}

func TestLcListBadParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	newKey(t, e, nil, map[string]any{"name": "x"})
	for _, q := range []string{
		"limit=0", "limit=201", "limit=x", "limit=-1", "limit=", "limit=1.5",
		"starting_after=nope", "starting_after=prj_01HZZZZZZZZZZZZZZZZZZZZZZZ", "ending_before=key_123", "starting_after=",
		"starting_after=" + lcUnknownKeyID + "&ending_before=" + lcUnknownKeyID,
		"colour=red", "Status=active",
		"status=active&status=disabled", "limit=5&limit=5",
		"status=deleted", "status=", "status=ACTIVE",
		"permission_mode=none", "owner_type=team",
		"expired=maybe", "expired=",
		"created_after=yesterday", "created_before=2024-01-01", "last_used_before=1700000000",
		"expires_after=tomorrow", "expires_before=2024-13-01T00:00:00Z",
		"project_id=alpha", "resource=Bad!",
		"search=" + strings.Repeat("s", 256),
	} {
		t.Run(q, func(t *testing.T) {
			p := problem(t, e.do(req{Method: "GET", Path: "/v1/keys?" + q}), http.StatusBadRequest, "invalid_parameter")
			if errs, _ := p["errors"].([]any); len(errs) == 0 {
				t.Fatalf("invalid_parameter without errors naming the parameter: %v", p)
			}
		})
	}
}

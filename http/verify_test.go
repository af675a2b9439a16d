package http_test

import (
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/keywardtest"
)

// lcRestricted creates a restricted key with the scopes and returns its secret.
func lcRestricted(t *testing.T, e *testEnv, scopes ...any) string {
	t.Helper()
	if scopes == nil {
		scopes = []any{}
	}
	return newKey(t, e, nil, map[string]any{"name": "restricted", "permission_mode": "restricted", "scopes": scopes})["secret"].(string)
}

func TestLcVerifyNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := newKey(t, e, nil, map[string]any{"name": "real"})
	secret := k["secret"].(string)
	deleted := newKey(t, e, nil, map[string]any{"name": "deleted"})
	must(t, e, http.StatusNoContent, req{Method: "DELETE", Path: "/v1/keys/" + deleted["id"].(string)})
	custom := newKey(t, e, nil, map[string]any{"name": "custom", "prefix": "acme"})["secret"].(string)

	cases := []struct {
		name string
		body map[string]any
	}{
		{"garbage", map[string]any{"key": "garbage"}},
		{"empty string", map[string]any{"key": ""}},
		{"flipped checksum character", map[string]any{"key": lcFlip(secret, len(secret)-1)}},
		{"flipped first checksum character", map[string]any{"key": lcFlip(secret, len(secret)-6)}},
		{"flipped body character", map[string]any{"key": lcFlip(secret, len("kw_")+3)}},
		{"other prefix, same body", map[string]any{"key": "kx" + secret[2:]}},
		{"custom prefix swapped for the default", map[string]any{"key": "kw" + custom[4:]}},
		{"truncated", map[string]any{"key": secret[:len(secret)-1]}},
		{"extended", map[string]any{"key": secret + "a"}},
		{"with surrounding space", map[string]any{"key": " " + secret}},
		{"unknown well-formed token", map[string]any{"key": forgeToken(t, "kw")}},
		{"unknown well-formed token, other prefix", map[string]any{"key": forgeToken(t, "zz9")}},
		{"deleted key", map[string]any{"key": deleted["secret"]}},
		{"management key", map[string]any{"key": e.Op}},
		{"very long", map[string]any{"key": strings.Repeat("a", 4096)}},
		{"not found wins over other members", map[string]any{"key": "garbage", "ip": "10.0.0.1", "project_id": lcUnknownProjectID, "permissions": "documents:read"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := verify(t, e, nil, c.body)
			if !reflect.DeepEqual(r, map[string]any{"valid": false, "code": "NOT_FOUND"}) {
				t.Fatalf("got %v, want exactly {valid:false, code:NOT_FOUND}", r)
			}
		})
	}
	lcWantCode(t, e, secret, nil, "VALID")
	lcWantCode(t, e, custom, nil, "VALID")
}

func TestLcVerifyValidResponse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	k := newKey(t, e, nil, map[string]any{"name": "valid one", "expires_at": exp.Format(time.RFC3339Nano),
		"metadata": map[string]any{"tier": "gold", "n": 1}})
	r := verify(t, e, nil, map[string]any{"key": k["secret"], "permissions": "documents:write"})
	for _, m := range []string{"valid", "code", "key_id", "account_id", "name", "owner", "project_id", "scopes", "roles",
		"expires_at", "metadata", "credits_remaining", "rate_limit"} {
		if _, ok := r[m]; !ok {
			t.Errorf("VALID answer lacks %q: %v", m, r)
		}
	}
	if _, ok := r["secret"]; ok {
		t.Errorf("VALID answer shows a secret: %v", r)
	}
	if r["valid"] != true || r["code"] != "VALID" || r["key_id"] != k["id"] || r["account_id"] != k["account_id"] ||
		r["name"] != "valid one" || r["project_id"] != nil || r["credits_remaining"] != nil || r["rate_limit"] != nil {
		t.Errorf("VALID answer: %v", r)
	}
	lcJSONEq(t, "owner", r["owner"], k["owner"])
	lcJSONEq(t, "metadata", r["metadata"], map[string]any{"tier": "gold", "n": 1})
	lcJSONEq(t, "roles", r["roles"], []any{})
	if !timeOf(t, r["expires_at"]).Equal(exp) {
		t.Errorf("expires_at %v, want %v", r["expires_at"], exp)
	}
	// Mode all: every non-protected resource at its highest level.
	lcJSONEq(t, "effective scopes (all)", lcSortScopes(r["scopes"]), []any{
		scope("documents", "write", "*"), scope("events", "write", "*"), scope("files", "write", "*"),
		scope("search", "read", "*"), scope("usage", "read", "*"), scope("webhooks", "write", "*"),
	})

	// A failing check still names the key.
	lcPatch(t, e, k["id"].(string), map[string]any{"status": "disabled"})
	r = verify(t, e, nil, map[string]any{"key": k["secret"]})
	if r["valid"] != false || r["code"] != "DISABLED" || r["key_id"] != k["id"] {
		t.Errorf("DISABLED answer: %v", r)
	}
}

// lcSortScopes sorts a JSON scope list by resource, then access.
func lcSortScopes(v any) []any {
	list, _ := v.([]any)
	out := append(make([]any, 0, len(list)), list...)
	sort.SliceStable(out, func(i, j int) bool {
		a, _ := out[i].(map[string]any)
		b, _ := out[j].(map[string]any)
		if a["resource"] != b["resource"] {
			return a["resource"].(string) < b["resource"].(string)
		}
		return a["access"].(string) < b["access"].(string)
	})
	return out
}

func TestLcVerifyEffectiveScopes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	prj := lcProject(t, e, "p")
	cases := []struct {
		name string
		body map[string]any
		want []any
	}{
		{"read_only", map[string]any{"permission_mode": "read_only"}, []any{
			scope("documents", "read", "*"), scope("files", "read", "*"), scope("search", "read", "*"),
			scope("usage", "read", "*"), scope("webhooks", "read", "*"),
		}},
		{"all on a single-project key", map[string]any{"project_id": prj}, []any{
			scope("documents", "write", "*"), scope("events", "write", "*"), scope("files", "write", "*"),
			scope("search", "read", "*"), scope("webhooks", "write", "*"),
		}},
		{"restricted", map[string]any{"permission_mode": "restricted", "scopes": []any{
			scope("files", "read", "f1", "f2"), scope("documents", "write"),
		}}, []any{scope("documents", "write", "*"), scope("files", "read", "f1", "f2")}},
		{"restricted, nothing", map[string]any{"permission_mode": "restricted", "scopes": []any{}}, []any{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.body["name"] = c.name
			k := newKey(t, e, nil, c.body)
			r := verify(t, e, nil, map[string]any{"key": k["secret"]})
			if r["code"] != "VALID" {
				t.Fatalf("code %v", r["code"])
			}
			lcJSONEq(t, "effective scopes", lcSortScopes(r["scopes"]), c.want)
		})
	}
}

func TestLcVerifyStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, secret := apiKey(t, e, nil, map[string]any{"name": "s"})
	lcWantCode(t, e, secret, nil, "VALID")
	lcPatch(t, e, id, map[string]any{"status": "disabled"})
	lcWantCode(t, e, secret, nil, "DISABLED")
	lcPatch(t, e, id, map[string]any{"status": "active"})
	lcWantCode(t, e, secret, nil, "VALID")
	lcPatch(t, e, id, map[string]any{"status": "revoked"})
	lcWantCode(t, e, secret, nil, "REVOKED")
}

func TestLcVerifyForbiddenIP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v4 := newKey(t, e, nil, map[string]any{"name": "v4", "ip_allowlist": []string{"10.0.0.0/8", "192.0.2.7"}})["secret"].(string)
	v6 := newKey(t, e, nil, map[string]any{"name": "v6", "ip_allowlist": []string{"2001:db8::/32", "::1"}})["secret"].(string)
	open := newKey(t, e, nil, map[string]any{"name": "open"})["secret"].(string)
	cases := []struct {
		secret string
		ip     any // nil: no ip member
		want   string
	}{
		{v4, "10.1.2.3", "VALID"},
		{v4, "10.255.255.255", "VALID"},
		{v4, "192.0.2.7", "VALID"},
		{v4, "::ffff:10.1.2.3", "VALID"}, // IPv4-mapped IPv6 is the IPv4 address
		{v4, "192.0.2.8", "FORBIDDEN_IP"},
		{v4, "11.0.0.1", "FORBIDDEN_IP"},
		{v4, "2001:db8::1", "FORBIDDEN_IP"},
		{v4, nil, "FORBIDDEN_IP"}, // fail closed without an ip
		{v6, "2001:db8::1", "VALID"},
		{v6, "2001:db8:ffff::", "VALID"},
		{v6, "::1", "VALID"},
		{v6, "2001:db9::1", "FORBIDDEN_IP"},
		{v6, "::2", "FORBIDDEN_IP"},
		{v6, "10.0.0.1", "FORBIDDEN_IP"},
		{v6, nil, "FORBIDDEN_IP"},
		{open, nil, "VALID"},
		{open, "203.0.113.9", "VALID"},
		{open, "2001:db8::1", "VALID"},
	}
	for _, c := range cases {
		extra := map[string]any{}
		if c.ip != nil {
			extra["ip"] = c.ip
		}
		if got := lcCode(t, e, c.secret, extra); got != c.want {
			name := "v4"
			if c.secret == v6 {
				name = "v6"
			} else if c.secret == open {
				name = "open"
			}
			t.Errorf("key %s, ip %v: %s, want %s", name, c.ip, got, c.want)
		}
	}
	// Clearing the allowlist lifts the restriction at once.
	id := newKey(t, e, nil, map[string]any{"name": "cleared", "ip_allowlist": []string{"10.0.0.1"}})
	lcWantCode(t, e, id["secret"], map[string]any{"ip": "10.0.0.2"}, "FORBIDDEN_IP")
	lcPatch(t, e, id["id"].(string), map[string]any{"ip_allowlist": nil})
	lcWantCode(t, e, id["secret"], map[string]any{"ip": "10.0.0.2"}, "VALID")
}

func TestLcVerifyProject(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p1, p2 := lcProject(t, e, "one"), lcProject(t, e, "two")
	single := newKey(t, e, nil, map[string]any{"name": "single", "project_id": p1})
	all := newKey(t, e, nil, map[string]any{"name": "all"})["secret"].(string)
	lcWantCode(t, e, single["secret"], map[string]any{"project_id": p1}, "VALID")
	lcWantCode(t, e, single["secret"], map[string]any{"project_id": p2}, "WRONG_PROJECT")
	lcWantCode(t, e, single["secret"], map[string]any{"project_id": lcUnknownProjectID}, "WRONG_PROJECT")
	lcWantCode(t, e, single["secret"], nil, "VALID")
	lcWantCode(t, e, all, map[string]any{"project_id": p1}, "VALID")
	lcWantCode(t, e, all, map[string]any{"project_id": p2}, "VALID")
	r := verify(t, e, nil, map[string]any{"key": single["secret"], "project_id": p2})
	if r["project_id"] != p1 || r["valid"] != false {
		t.Fatalf("WRONG_PROJECT answer: %v", r)
	}
	// Moving the key to all projects lifts the restriction.
	lcPatch(t, e, single["id"].(string), map[string]any{"project_id": nil})
	lcWantCode(t, e, single["secret"], map[string]any{"project_id": p2}, "VALID")
}

func TestLcVerifyOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p1, p2 := lcProject(t, e, "one"), lcProject(t, e, "two")
	docRead := []any{scope("documents", "read")}
	mk := func(body map[string]any) (string, string) {
		body["name"] = "order"
		k := newKey(t, e, nil, body)
		return k["id"].(string), k["secret"].(string)
	}
	patch := func(id string, body map[string]any) { lcPatch(t, e, id, body) }
	rotate := func(id string) string {
		return must(t, e, http.StatusOK, req{Method: "POST", Path: "/v1/keys/" + id + "/rotate", Body: map[string]any{"grace_period_seconds": 0}}).JSON(t)["secret"].(string)
	}
	type check struct {
		name   string
		secret string
		extra  map[string]any
		want   string
	}
	var checks []check

	// REVOKED before FORBIDDEN_IP, WRONG_PROJECT and INSUFFICIENT_PERMISSIONS.
	id, s := mk(map[string]any{"ip_allowlist": []string{"10.0.0.1"}, "project_id": p1, "permission_mode": "restricted", "scopes": docRead})
	patch(id, map[string]any{"status": "revoked"})
	checks = append(checks, check{"revoked and everything else", s, map[string]any{"ip": "10.0.0.2", "project_id": p2, "permissions": "files:write"}, "REVOKED"})
	// REVOKED before ROTATED (an old secret of a revoked key).
	id, s = mk(map[string]any{})
	rotate(id)
	patch(id, map[string]any{"status": "revoked"})
	checks = append(checks, check{"revoked and rotated", s, nil, "REVOKED"})
	// DISABLED before ROTATED, FORBIDDEN_IP, WRONG_PROJECT, INSUFFICIENT_PERMISSIONS.
	id, s = mk(map[string]any{"ip_allowlist": []string{"10.0.0.1"}})
	patch(id, map[string]any{"status": "disabled"})
	checks = append(checks, check{"disabled and forbidden ip", s, map[string]any{"ip": "10.0.0.2"}, "DISABLED"})
	checks = append(checks, check{"disabled and no ip", s, nil, "DISABLED"})
	id, s = mk(map[string]any{"project_id": p1, "permission_mode": "restricted", "scopes": docRead})
	patch(id, map[string]any{"status": "disabled"})
	checks = append(checks, check{"disabled, wrong project and permissions", s, map[string]any{"project_id": p2, "permissions": "files:read"}, "DISABLED"})
	id, s = mk(map[string]any{})
	rotate(id)
	patch(id, map[string]any{"status": "disabled"})
	checks = append(checks, check{"disabled and rotated", s, nil, "DISABLED"})
	// ROTATED before FORBIDDEN_IP, WRONG_PROJECT, INSUFFICIENT_PERMISSIONS.
	id, s = mk(map[string]any{"ip_allowlist": []string{"10.0.0.1"}, "project_id": p1, "permission_mode": "restricted", "scopes": docRead})
	newS := rotate(id)
	checks = append(checks, check{"rotated and everything after", s, map[string]any{"ip": "10.0.0.2", "project_id": p2, "permissions": "files:read"}, "ROTATED"})
	checks = append(checks, check{"its new secret, forbidden ip", newS, map[string]any{"ip": "10.0.0.2", "project_id": p2, "permissions": "files:read"}, "FORBIDDEN_IP"})
	// FORBIDDEN_IP before WRONG_PROJECT before INSUFFICIENT_PERMISSIONS.
	_, s = mk(map[string]any{"ip_allowlist": []string{"10.0.0.1"}, "project_id": p1, "permission_mode": "restricted", "scopes": docRead})
	checks = append(checks,
		check{"forbidden ip, wrong project, permissions", s, map[string]any{"ip": "10.0.0.2", "project_id": p2, "permissions": "files:read"}, "FORBIDDEN_IP"},
		check{"no ip, wrong project", s, map[string]any{"project_id": p2}, "FORBIDDEN_IP"},
		check{"wrong project and permissions", s, map[string]any{"ip": "10.0.0.1", "project_id": p2, "permissions": "files:read"}, "WRONG_PROJECT"},
		check{"permissions only", s, map[string]any{"ip": "10.0.0.1", "project_id": p1, "permissions": "files:read"}, "INSUFFICIENT_PERMISSIONS"},
		check{"all pass", s, map[string]any{"ip": "10.0.0.1", "project_id": p1, "permissions": "documents:read"}, "VALID"},
	)
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if got := lcCode(t, e, c.secret, c.extra); got != c.want {
				t.Fatalf("code %s, want %s", got, c.want)
			}
		})
	}
}

// TestLcVerifyExpiry waits for keys created with a short expiry to expire,
// then checks EXPIRED and its place in the order of checks.
func TestLcVerifyExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p1, p2 := lcProject(t, e, "one"), lcProject(t, e, "two")
	soon := future(2 * time.Second)
	mk := func(body map[string]any) (string, string) {
		body["name"] = "expiring"
		body["expires_at"] = soon
		k := newKey(t, e, nil, body)
		return k["id"].(string), k["secret"].(string)
	}
	_, sentinel := mk(map[string]any{})
	revokedID, revoked := mk(map[string]any{})
	lcPatch(t, e, revokedID, map[string]any{"status": "revoked"})
	disabledID, disabled := mk(map[string]any{})
	lcPatch(t, e, disabledID, map[string]any{"status": "disabled"})
	rotatedID, rotatedOld := mk(map[string]any{})
	rotatedNew := must(t, e, http.StatusOK, req{Method: "POST", Path: "/v1/keys/" + rotatedID + "/rotate"}).JSON(t)["secret"].(string)
	_, guarded := mk(map[string]any{"ip_allowlist": []string{"10.0.0.1"}, "project_id": p1, "permission_mode": "restricted", "scopes": []any{}})
	laterID, later := mk(map[string]any{})
	lcPatch(t, e, laterID, map[string]any{"expires_at": future(time.Hour)})
	clearedID, cleared := mk(map[string]any{})
	lcPatch(t, e, clearedID, map[string]any{"clear_expires_at": true})

	// Before expiry (the sentinel says when it has passed).
	if got := lcCode(t, e, sentinel, nil); got != "VALID" && got != "EXPIRED" {
		t.Fatalf("sentinel before expiry: %s", got)
	}
	keywardtest.WaitFor(t, "the sentinel key to expire", 20*time.Second, func() bool {
		code := lcCode(t, e, sentinel, nil)
		if code != "VALID" && code != "EXPIRED" {
			t.Fatalf("sentinel: %s", code)
		}
		return code == "EXPIRED"
	})
	for _, c := range []struct {
		name   string
		secret string
		extra  map[string]any
		want   string
	}{
		{"expired", sentinel, nil, "EXPIRED"},
		{"expired stays expired", sentinel, map[string]any{"permissions": "documents:read"}, "EXPIRED"},
		{"revoked and expired", revoked, nil, "REVOKED"},
		{"disabled and expired", disabled, nil, "DISABLED"},
		{"expired and rotated", rotatedOld, nil, "EXPIRED"},
		{"expired, new secret", rotatedNew, nil, "EXPIRED"},
		{"expired before ip, project and permissions", guarded, map[string]any{"ip": "10.0.0.2", "project_id": p2, "permissions": "documents:read"}, "EXPIRED"},
		{"expiry moved later", later, nil, "VALID"},
		{"expiry cleared", cleared, nil, "VALID"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := lcCode(t, e, c.secret, c.extra); got != c.want {
				t.Fatalf("code %s, want %s", got, c.want)
			}
		})
	}
	// An expired key can be given a new expiry and works again.
	id := verify(t, e, nil, map[string]any{"key": sentinel})["key_id"].(string)
	lcPatch(t, e, id, map[string]any{"expires_at": future(time.Hour)})
	lcWantCode(t, e, sentinel, nil, "VALID")
}

func TestLcVerifyPermissionQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	docRead := lcRestricted(t, e, scope("documents", "read"))
	docWrite := lcRestricted(t, e, scope("documents", "write"))
	targeted := lcRestricted(t, e, scope("documents", "read", "doc_1", "doc.2"), scope("files", "write", "f1"), scope("webhooks", "read"))
	nothing := lcRestricted(t, e)
	all := newKey(t, e, nil, map[string]any{"name": "all"})["secret"].(string)
	ro := newKey(t, e, nil, map[string]any{"name": "ro", "permission_mode": "read_only"})["secret"].(string)

	cases := []struct {
		key   string
		query string
		want  bool
	}{
		// Atoms without targets.
		{docRead, "documents:read", true},
		{docRead, "documents:write", false},
		{docRead, "files:read", false},
		{docRead, "unknown:read", false},
		{docWrite, "documents:write", true},
		{docWrite, "documents:read", true}, // write implies read
		{docWrite, "documents:read:anything", true},
		{nothing, "documents:read", false},
		// Atoms with targets.
		{targeted, "documents:read:doc_1", true},
		{targeted, "documents:read:doc.2", true},
		{targeted, "documents:read:doc_3", false},
		{targeted, "documents:read", true}, // any scope on the resource
		{targeted, "documents:read:*", false},
		{targeted, "documents:write:doc_1", false},
		{targeted, "files:read:f1", true}, // write implies read, per target
		{targeted, "files:write:f1", true},
		{targeted, "files:write:f2", false},
		{targeted, "files:write", true},
		{targeted, "webhooks:read:wh_9", true}, // "*" covers every target
		{targeted, "webhooks:read:*", true},
		{targeted, "webhooks:write:wh_9", false},
		// AND binds tighter than OR.
		{docRead, "files:read AND files:write OR documents:read", true},
		{docRead, "documents:read OR files:read AND files:write", true},
		{docRead, "(documents:read OR files:read) AND files:write", false},
		{docRead, "files:read AND (files:write OR documents:read)", false},
		{docRead, "documents:read AND files:read OR files:write", false},
		{docRead, "documents:read AND (files:read OR documents:read)", true},
		{targeted, "documents:read:doc_1 AND (webhooks:write OR files:write:f1)", true},
		{targeted, "documents:read:doc_1 AND (webhooks:write OR files:write:f2)", false},
		{targeted, "((documents:read:doc_3 OR documents:read:doc_1)) AND webhooks:read", true},
		// Keywords are case-insensitive; whitespace is free.
		{docRead, "documents:read and documents:read", true},
		{docRead, "files:read Or documents:read", true},
		{docRead, "documents:read aNd files:read", false},
		{docRead, "  documents:read\tOR\nfiles:read  ", true},
		{docRead, "(documents:read)AND(documents:read)", true},
		// Mode all and read_only.
		{all, "documents:write AND files:write AND webhooks:write AND events:write", true},
		{all, "search:read AND usage:read AND documents:read:d1", true},
		{all, "search:write", false},
		{all, "billing:read", false},
		{all, "billing:write", false},
		{ro, "documents:read AND files:read AND search:read AND usage:read AND webhooks:read", true},
		{ro, "documents:write", false},
		{ro, "events:write", false},
		{ro, "billing:read", false},
	}
	for _, c := range cases {
		want := "INSUFFICIENT_PERMISSIONS"
		if c.want {
			want = "VALID"
		}
		if got := lcCode(t, e, c.key, map[string]any{"permissions": c.query}); got != want {
			t.Errorf("query %q on %s: %s, want %s", c.query, lcKeyName(c.key, docRead, docWrite, targeted, nothing, all, ro), got, want)
		}
	}
}

func lcKeyName(s string, keys ...string) string {
	names := []string{"docRead", "docWrite", "targeted", "nothing", "all", "ro"}
	for i, k := range keys {
		if k == s {
			return names[i]
		}
	}
	return "?"
}

func TestLcVerifyMalformedRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret := newKey(t, e, nil, map[string]any{"name": "m"})["secret"].(string)
	for _, q := range []string{
		"",
		"   ",
		"(documents:read",
		"documents:read)",
		"()",
		"documents:read AND",
		"AND documents:read",
		"documents:read OR OR files:read",
		"documents:read files:read",
		"documents",
		"documents:",
		"documents:admin",
		"documents:READ",
		"documents:none",
		":read",
		"Documents:read",
		"documents:read:",
		"documents:read:a b",
		"documents:read:(x)",
		strings.Repeat("(", 40) + "documents:read" + strings.Repeat(")", 40),
	} {
		t.Run(q, func(t *testing.T) {
			audit := e.auditCount()
			p := problem(t, e.do(req{Method: "POST", Path: "/v1/keys/verify", Body: map[string]any{"key": secret, "permissions": q}}),
				http.StatusUnprocessableEntity, "invalid_permission_query")
			lcFieldNamed(t, p, "permissions")
			if e.auditCount() != audit {
				t.Fatal("a verification wrote an audit event")
			}
		})
	}
	// A malformed query is a 422 even for an unknown key.
	problem(t, e.do(req{Method: "POST", Path: "/v1/keys/verify", Body: map[string]any{"key": "garbage", "permissions": "documents:"}}),
		http.StatusUnprocessableEntity, "invalid_permission_query")
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"key": secret, "ip": "10.0.0"}, "ip"},
		{map[string]any{"key": secret, "ip": "10.0.0.0/8"}, "ip"},
		{map[string]any{"key": secret, "project_id": "alpha"}, "project_id"},
		{map[string]any{"key": secret, "cost": -1}, "cost"},
		{map[string]any{"key": 12}, "key"},
		{map[string]any{}, "key"},
		{map[string]any{"key": nil}, "key"},
		{map[string]any{"permissions": "documents:read"}, "key"},
		{map[string]any{"key": secret, "permissions": 5}, "permissions"},
	} {
		p := problem(t, e.do(req{Method: "POST", Path: "/v1/keys/verify", Body: c.body}), http.StatusUnprocessableEntity, "validation_failed")
		lcFieldNamed(t, p, c.field)
	}
	problem(t, e.do(req{Method: "POST", Path: "/v1/keys/verify", Body: map[string]any{"key": secret, "permission": "documents:read"}}),
		http.StatusBadRequest, "unknown_field")
	problem(t, e.do(req{Method: "POST", Path: "/v1/keys/verify"}), http.StatusBadRequest, "malformed_json")
	lcWantCode(t, e, secret, nil, "VALID")
}

func TestLcVerifyLastUsed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	used := newKey(t, e, nil, map[string]any{"name": "used"})
	unused := newKey(t, e, nil, map[string]any{"name": "unused"})
	if used["last_used_at"] != nil {
		t.Fatalf("new key has last_used_at %v", used["last_used_at"])
	}
	before := time.Now().UTC().Truncate(time.Millisecond)
	lcWantCode(t, e, used["secret"], nil, "VALID")
	after := time.Now().UTC()
	var got map[string]any
	keywardtest.WaitFor(t, "last_used_at to be written behind", 20*time.Second, func() bool {
		got = lcGet(t, e, used["id"].(string))
		return got["last_used_at"] != nil
	})
	if lu := timeOf(t, got["last_used_at"]); lu.Before(before) || lu.After(after) {
		t.Fatalf("last_used_at %v, want within the verification [%v, %v]", lu, before, after)
	}
	if got["verifications"] != float64(1) {
		t.Fatalf("verifications %v after one verification, want 1", got["verifications"])
	}
	// Writing last_used_at is not a change: no version, no audit event.
	if got["etag"] != used["etag"] || got["updated_at"] != used["updated_at"] {
		t.Fatalf("last-use write-behind bumped the key: etag %v → %v, updated_at %v → %v", used["etag"], got["etag"], used["updated_at"], got["updated_at"])
	}
	if evs := events(t, e, "target_id="+url.QueryEscape(used["id"].(string)), nil); len(evs) != 1 {
		t.Fatalf("%d audit events after a verification, want only key.created", len(evs))
	}
	if u := lcGet(t, e, unused["id"].(string)); u["last_used_at"] != nil {
		t.Fatalf("a key never verified has last_used_at %v", u["last_used_at"])
	}
	// last_used_before includes never-used keys and excludes this one.
	ids, _ := lcListIDs(t, e, "?last_used_before="+before.Format(time.RFC3339Nano))
	if len(ids) != 1 || ids[0] != unused["id"] {
		t.Fatalf("last_used_before: %v, want only the unused key", ids)
	}
}

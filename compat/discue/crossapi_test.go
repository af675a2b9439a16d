package discue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// auditEvent is the part of a native audit event the tests look at.
type auditEvent struct {
	Action  string                     `json:"action"`
	Dialect string                     `json:"dialect"`
	Changes map[string]json.RawMessage `json:"changes"`
	Target  struct {
		ID string `json:"id"`
	} `json:"target"`
}

// events returns the audit events of a key, newest first.
func (e *env) events(keyID string) (events []auditEvent) {
	e.T.Helper()
	e.List(e.account, "/v1/audit-events?target_id="+keyID, &events)
	return events
}

// A key made through discue is a keyward key: the native API shows it with
// the same name, status, scopes, times and start, and the audit log
// records every change made through discue with "dialect":"discue".
func TestCrossAPI(t *testing.T) {
	e := newEnv(t)
	id, tok := e.create(map[string]any{"name": "cross", "scopes": []any{
		map[string]any{"resource": "queues", "access": "write", "targets": []string{"*"}},
	}})
	nid := nativeID(t, id)
	n := e.nativeKey(nid)
	want := []keyward.Scope{{Resource: "queues", Access: keyward.AccessWrite, Targets: []string{"*"}}}
	if n.Name != "cross" || n.Status != "active" || n.PermissionMode != "restricted" || !reflect.DeepEqual(n.Scopes, want) {
		t.Errorf("native view of a discue key: %+v", n)
	}
	k := e.getKey(id)
	if k.Key != n.Start || k.CreatedAt != n.CreatedAt.UnixMilli() {
		t.Errorf("discue %+v, native %+v", k, n)
	}
	// The native id works in discue's paths too, and answers with the
	// discue id.
	if k := e.getKey(nid); k.ID != id {
		t.Errorf("get by native id: id %q, want %q", k.ID, id)
	}
	verify(t, e, tok, "VALID")

	// A change made natively is seen through discue.
	if res := e.native("PATCH", "/v1/keys/"+nid, map[string]any{"name": "renamed natively", "status": "disabled",
		"scopes": []any{map[string]any{"resource": "messages", "access": "read", "targets": []string{"m_1", "m_2"}}}}); res.Status != http.StatusOK {
		t.Fatalf("native PATCH: %d %s", res.Status, res.Body)
	}
	k = e.getKey(id)
	if k.Name != "renamed natively" || k.Status != "disabled" ||
		!reflect.DeepEqual(k.Scopes, []keyward.Scope{{Resource: "messages", Access: "read", Targets: []string{"m_1", "m_2"}}}) {
		t.Errorf("discue view after a native change: %+v", k)
	}
	verify(t, e, tok, "DISABLED")

	// A change made through discue is seen natively, and audited as discue's.
	res := e.discue("PUT", "/api_keys/"+id, seedBody, "Content-Type: application/json")
	if res.Status != http.StatusOK {
		t.Fatalf("PUT: %d %s", res.Status, res.Body)
	}
	n = e.nativeKey(nid)
	if n.Name != "string" || n.Status != "disabled" || !reflect.DeepEqual(n.Scopes, seedScopes) {
		t.Errorf("native view after discue's PUT: %+v", n)
	}
	ev := e.events(nid)
	if len(ev) != 3 {
		t.Fatalf("%d events, want created, updated, updated: %+v", len(ev), ev)
	}
	for i, want := range []struct{ action, dialect string }{
		{keyward.ActionKeyUpdated, Dialect}, {keyward.ActionKeyUpdated, "native"}, {keyward.ActionKeyCreated, Dialect},
	} {
		if ev[i].Action != want.action || ev[i].Dialect != want.dialect {
			t.Errorf("event %d: %s by %s, want %s by %s", i, ev[i].Action, ev[i].Dialect, want.action, want.dialect)
		}
	}
	if _, ok := ev[0].Changes["name"]; !ok {
		t.Errorf("the PUT's event does not record the name change: %+v", ev[0].Changes)
	}

	// The same PUT again changes nothing: no event, same update time.
	before := e.nativeKey(nid)
	if res := e.discue("PUT", "/api_keys/"+id, seedBody); res.Status != http.StatusOK {
		t.Fatalf("PUT again: %d %s", res.Status, res.Body)
	}
	if after := e.nativeKey(nid); after.ETag != before.ETag || len(e.events(nid)) != 3 {
		t.Errorf("a PUT that changes nothing wrote: %+v → %+v", before, after)
	}

	// Delete through discue: gone natively, the token no longer verifies,
	// and the deletion is discue's.
	if res := e.discue("DELETE", "/api_keys/"+id, nil); res.Status != http.StatusOK {
		t.Fatalf("DELETE: %d %s", res.Status, res.Body)
	}
	if res := e.native("GET", "/v1/keys/"+nid, nil); res.Status != http.StatusNotFound {
		t.Errorf("native get after discue's delete: %d", res.Status)
	}
	verify(t, e, tok, "NOT_FOUND")
	if ev := e.events(nid); len(ev) != 4 || ev[0].Action != keyward.ActionKeyDeleted || ev[0].Dialect != Dialect {
		t.Errorf("events after delete: %+v", ev)
	}
}

// A key made natively, with what discue cannot express (a description,
// an expiry, an IP allowlist, roles, a permission mode), shows through
// discue as the scopes it grants; discue's PUT replaces what discue
// states (name, status, scopes) and keeps the rest.
func TestNativeKeyThroughDiscue(t *testing.T) {
	e := newEnv(t)
	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Millisecond)
	if res := e.native("POST", "/v1/roles", map[string]any{"name": "reader",
		"scopes": []any{map[string]any{"resource": "stats", "access": "read"}, map[string]any{"resource": "queues", "access": "read", "targets": []string{"q_9"}}}}); res.Status != http.StatusCreated {
		t.Fatalf("role: %d %s", res.Status, res.Body)
	}
	nid, _ := e.APIKey(e.account, map[string]any{"name": "native", "description": "kept", "expires_at": exp,
		"ip_allowlist": []string{"10.0.0.0/8"}, "permission_mode": "restricted", "roles": []string{"reader"},
		"scopes": []any{map[string]any{"resource": "queues", "access": "read", "targets": []string{"q_1"}}}})
	id := publicID(nid)

	// Own scopes first, then the role's, merged by resource and access.
	want := []keyward.Scope{
		{Resource: "queues", Access: "read", Targets: []string{"q_1", "q_9"}},
		{Resource: "stats", Access: "read", Targets: []string{"*"}},
	}
	if k := e.getKey(id); !reflect.DeepEqual(k.Scopes, want) || k.Status != "enabled" {
		t.Errorf("discue view of a native key with a role: %+v", k)
	}
	// A PUT of what discue shows keeps the key's power.
	body := map[string]any{"name": "native", "status": "enabled", "scopes": want}
	if res := e.discue("PUT", "/api_keys/"+id, body); res.Status != http.StatusOK {
		t.Fatalf("PUT: %d %s", res.Status, res.Body)
	}
	n := e.nativeKey(nid)
	if n.Description == nil || *n.Description != "kept" || n.ExpiresAt == nil || !n.ExpiresAt.Equal(exp) || len(n.IPAllowlist) != 1 {
		t.Errorf("discue's PUT dropped what discue cannot state: %+v", n)
	}
	if !reflect.DeepEqual(n.Scopes, want) || len(n.Roles) != 0 || n.PermissionMode != "restricted" {
		t.Errorf("after PUT: %+v", n)
	}

	// Mode read_only shows as read on every readable resource.
	if res := e.native("PATCH", "/v1/keys/"+nid, map[string]any{"permission_mode": "read_only"}); res.Status != http.StatusOK {
		t.Fatalf("native PATCH: %d %s", res.Status, res.Body)
	}
	k := e.getKey(id)
	if len(k.Scopes) != 9 {
		t.Errorf("read_only shows %d scopes, want the 9 grantable resources: %+v", len(k.Scopes), k.Scopes)
	}
	for _, s := range k.Scopes {
		if s.Access != keyward.AccessRead {
			t.Errorf("read_only scope %+v", s)
		}
	}

	// A PUT without scopes and status: the default set and enabled, as a
	// new key gets; name is what it states.
	if res := e.native("PATCH", "/v1/keys/"+nid, map[string]any{"status": "disabled"}); res.Status != http.StatusOK {
		t.Fatalf("native PATCH: %d %s", res.Status, res.Body)
	}
	if res := e.discue("PUT", "/api_keys/"+id, map[string]any{"name": "defaults"}); res.Status != http.StatusOK {
		t.Fatalf("PUT: %d %s", res.Status, res.Body)
	}
	n = e.nativeKey(nid)
	if n.Name != "defaults" || n.Status != "active" || n.PermissionMode != "all" || n.Description == nil {
		t.Errorf("after a PUT of only a name: %+v", n)
	}
}

// discue's other request forms: alias for name, scopes as an object keyed
// by resource, targets as a bare "*" or empty, access defaulting to write.
func TestRequestForms(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		body string
		want []keyward.Scope
	}{
		{"object form", `{"alias":"tf-key","scopes":{"queues":{"access":"read","targets":["q_1"]},"listeners":{"access":"write"}}}`,
			[]keyward.Scope{{Resource: "listeners", Access: "write", Targets: []string{"*"}}, {Resource: "queues", Access: "read", Targets: []string{"q_1"}}}},
		{"bare wildcard", `{"name":"a","scopes":[{"resource":"queues","access":"read","targets":"*"}]}`,
			[]keyward.Scope{{Resource: "queues", Access: "read", Targets: []string{"*"}}}},
		{"empty targets", `{"name":"a","scopes":[{"resource":"queues","access":"read","targets":[]}]}`,
			[]keyward.Scope{{Resource: "queues", Access: "read", Targets: []string{"*"}}}},
		{"access omitted", `{"name":"a","scopes":[{"resource":"stats"}]}`,
			[]keyward.Scope{{Resource: "stats", Access: "write", Targets: []string{"*"}}}},
		{"no scopes", `{"name":"a","scopes":[]}`, []keyward.Scope{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, _ := e.create(tc.body)
			k := e.getKey(id)
			if !reflect.DeepEqual(k.Scopes, tc.want) {
				t.Errorf("scopes %+v, want %+v", k.Scopes, tc.want)
			}
			n := e.nativeKey(nativeID(t, id))
			if n.PermissionMode != "restricted" || !reflect.DeepEqual(n.Scopes, tc.want) {
				t.Errorf("native %+v", n)
			}
			if tc.name == "object form" && n.Name != "tf-key" {
				t.Errorf("alias did not name the key: %q", n.Name)
			}
		})
	}
}

// An operator key acts on the account its X-Account-Id names (and on the
// default account without one), as on the native API.
func TestOperatorKey(t *testing.T) {
	e := newEnv(t)
	id, _ := e.create(map[string]any{"name": "in the discue org"})
	path := "/compat/discue/v1/api_keys/" + id
	if res := e.Do("GET", path, nil, "X-API-KEY: "+e.Op, "X-Account-Id: "+e.account); res.Status != http.StatusOK {
		t.Errorf("operator with X-Account-Id: %d %s", res.Status, res.Body)
	}
	wantError(t, e.Do("GET", path, nil, "X-API-KEY: "+e.Op), http.StatusNotFound)
}

// last_used_at is null until the key is used, then the (written-behind)
// time of its last use in epoch milliseconds.
func TestLastUsedAt(t *testing.T) {
	e := newEnv(t)
	id, _ := e.create(nil)
	if k := e.getKey(id); k.LastUsedAt != nil {
		t.Fatalf("last_used_at %d on a new key", *k.LastUsedAt)
	}
	used := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	err := e.Store.Write(context.Background(), func(tx keyward.Tx) error {
		return tx.TouchKeys(context.Background(), map[string]keyward.KeyUsage{nativeID(t, id): {LastUsed: used, Verifications: 1}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if k := e.getKey(id); k.LastUsedAt == nil || *k.LastUsedAt != used.UnixMilli() {
		t.Errorf("last_used_at %v, want %d", k.LastUsedAt, used.UnixMilli())
	}
}

// In an account whose keys default to restricted, discue's default set of
// scopes is empty: a key created or replaced without scopes grants nothing.
func TestRestrictedDefault(t *testing.T) {
	e := newEnv(t)
	if res := e.Native("PATCH", "/v1/accounts/"+e.account, map[string]any{"default_permission_mode": "restricted"}); res.Status != http.StatusOK {
		t.Fatalf("account: %d %s", res.Status, res.Body)
	}
	id, _ := e.create(nil)
	if k := e.getKey(id); len(k.Scopes) != 0 {
		t.Errorf("scopes %+v", k.Scopes)
	}
	if res := e.discue("PUT", "/api_keys/"+id, seedBody); res.Status != http.StatusOK {
		t.Fatalf("PUT: %d %s", res.Status, res.Body)
	}
	if res := e.discue("PUT", "/api_keys/"+id, `{"name":"no scopes"}`); res.Status != http.StatusOK {
		t.Fatalf("PUT: %d %s", res.Status, res.Body)
	}
	n := e.nativeKey(nativeID(t, id))
	if n.PermissionMode != "restricted" || len(n.Scopes) != 0 || n.Status != "active" {
		t.Errorf("after a PUT without scopes: %+v", n)
	}
}

// discue has no pagination: the list holds every key of the account, even
// beyond keyward's largest page.
func TestListAll(t *testing.T) {
	e := newEnv(t)
	const n = keyward.MaxPageLimit + 50
	items := make([]any, n)
	for i := range items {
		h := sha256.Sum256([]byte(fmt.Sprintf("imported token %d", i)))
		items[i] = map[string]any{"hash": hex.EncodeToString(h[:]), "name": fmt.Sprintf("imported %d", i)}
	}
	if res := e.native("POST", "/v1/keys/import", map[string]any{"keys": items}); res.Status != http.StatusCreated {
		t.Fatalf("import: %d %.300s", res.Status, res.Body)
	}
	res := e.discue("GET", "/api_keys", nil)
	var l struct {
		APIKeys []keyView `json:"api_keys"`
	}
	res.JSON(t, &l)
	if len(l.APIKeys) != n {
		t.Fatalf("listed %d keys, want %d", len(l.APIKeys), n)
	}
	seen := map[string]bool{}
	for _, k := range l.APIKeys {
		seen[k.ID] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct ids in %d keys", len(seen), n)
	}
}

package pulsecrm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/api"
)

// auditEvents returns the key's audit events, newest first.
func (f *fixture) auditEvents(keyID string) (events []map[string]any) {
	f.T.Helper()
	f.List(f.acct, "/v1/audit-events?target_id="+keyID, &events)
	return events
}

// scopes returns a native key's scopes as [resource, access, targets…] strings.
func scopesOf(t *testing.T, k map[string]any) []string {
	t.Helper()
	var out []string
	for _, s := range k["scopes"].([]any) {
		m := s.(map[string]any)
		var targets []string
		for _, tg := range m["targets"].([]any) {
			targets = append(targets, tg.(string))
		}
		out = append(out, m["resource"].(string)+":"+m["access"].(string)+":"+strings.Join(targets, ","))
	}
	slices.Sort(out)
	return out
}

func TestCreatedThroughPulseSeenNatively(t *testing.T) {
	f := newFixture(t)
	exp := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Millisecond)
	k := f.create(map[string]any{"description": "Zapier integration", "expiresAt": exp.Format(time.RFC3339Nano),
		"flatPermissionsList": []string{"readApplications", "writeApplications", "readCRM"}})
	id := nativeID(k.APIKey)
	if intID(id) != k.ID {
		t.Fatalf("id %d is not the PulseCRM id of %s", k.ID, id)
	}

	n := f.nativeKey(id)
	if n["name"] != "Zapier integration" || n["description"] != nil || n["permission_mode"] != "restricted" || n["status"] != "active" ||
		n["last4"] != k.LastFourOfSecret || !strings.HasPrefix(k.APISecret, n["start"].(string)) {
		t.Errorf("native key %v", n)
	}
	if got, want := scopesOf(t, n), []string{"applications:read:*", "applications:write:*", "crm:read:*"}; !slices.Equal(got, want) {
		t.Errorf("scopes %v, want %v", got, want)
	}
	if ne, _ := time.Parse(time.RFC3339Nano, n["expires_at"].(string)); !ne.Equal(exp) {
		t.Errorf("expires_at %v, want %v", n["expires_at"], exp)
	}
	if n["created_by_id"] != f.nativeKeyIDOf(f.admin) {
		t.Errorf("created_by_id %v", n["created_by_id"])
	}

	// The apiSecret is the key's token: it verifies, with its permissions.
	res := f.native("POST", "/v1/keys/verify", map[string]any{"key": k.APISecret, "permissions": "applications:write AND crm:read"})
	var v struct {
		Valid bool   `json:"valid"`
		Code  string `json:"code"`
		KeyID string `json:"key_id"`
	}
	res.JSON(t, &v)
	if !v.Valid || v.KeyID != id {
		t.Errorf("verify: %s", res.Body)
	}

	// Create, change and delete through the dialect are audited as pulsecrm.
	f.pulse("PATCH", "/apikeys/"+strconv.FormatInt(k.ID, 10), map[string]any{"description": "renamed", "flatPermissionsList": []string{"readCRM"}})
	f.pulse("DELETE", "/apikeys/"+strconv.FormatInt(k.ID, 10), nil)
	events := f.auditEvents(id)
	var actions []string
	for _, e := range events {
		actions = append(actions, e["action"].(string))
		if e["dialect"] != Dialect {
			t.Errorf("event %v: dialect %v, want %s", e["action"], e["dialect"], Dialect)
		}
		if b, _ := json.Marshal(e); strings.Contains(string(b), k.APISecret) {
			t.Error("an audit event holds the secret")
		}
	}
	if want := []string{"key.deleted", "key.updated", "key.created"}; !slices.Equal(actions, want) {
		t.Errorf("audit actions %v, want %v", actions, want)
	}
	if ch := events[1]["changes"].(map[string]any); ch["name"] == nil || ch["scopes"] == nil {
		t.Errorf("update event changes %v", ch)
	}
	if res := f.native("GET", "/v1/keys/"+id, nil); res.Status != http.StatusNotFound {
		t.Errorf("deleted key natively: %d", res.Status)
	}
}

func TestNativeChangesSeenThroughPulse(t *testing.T) {
	f := newFixture(t)
	id, _ := f.APIKey(f.acct, map[string]any{"name": "native key", "description": "not shown by PulseCRM"})
	pid := intID(id)

	// A key in mode all (the account default) holds every non-protected
	// permission, at both levels.
	got := f.get(pid)
	want := sorted("readApplications", "writeApplications", "readCRM", "writeCRM", "readMerchants", "writeMerchants", "readSupport", "writeSupport")
	if got.Description != "native key" || !slices.Equal(got.names(), want) || got.ExpiresAt != nil || got.APIKey != apiKeyOf(id) {
		t.Errorf("through PulseCRM: %+v", got)
	}
	var list []apiKeyView
	f.pulse("GET", "/apikeys", nil).JSON(t, &list)
	if len(list) != 1 || list[0].ID != pid || !reflect.DeepEqual(list[0], got) {
		t.Errorf("list %+v", list)
	}

	// Natively renamed, given an expiry, made read-only, disabled.
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	res := f.native("PATCH", "/v1/keys/"+id, map[string]any{"name": "renamed natively", "expires_at": exp, "permission_mode": "read_only", "status": "disabled"})
	if res.Status != http.StatusOK {
		t.Fatalf("native PATCH: %d %s", res.Status, res.Body)
	}
	got = f.get(pid)
	if got.Description != "renamed natively" || got.ExpiresAt == nil || *got.ExpiresAt != exp.Format("2006-01-02T15:04:05.000Z") ||
		!slices.Equal(got.names(), sorted("readApplications", "readCRM", "readMerchants", "readSupport")) || got.UpdatedAt == got.CreatedAt {
		t.Errorf("after the native change: %+v", got)
	}

	// A native rotation changes lastFourOfSecret, not the id or apiKey.
	var rot struct {
		Last4 string `json:"last4"`
	}
	f.native("POST", "/v1/keys/"+id+"/rotate", nil).JSON(t, &rot)
	if got := f.get(pid); got.LastFourOfSecret != rot.Last4 || got.ID != pid || got.APIKey != apiKeyOf(id) {
		t.Errorf("after rotation: %+v (last4 %s)", got, rot.Last4)
	}

	// Revoked natively: still listed (PulseCRM has no status), cannot be
	// changed (409), can be deleted.
	f.native("PATCH", "/v1/keys/"+id, map[string]any{"status": "revoked"})
	res = f.pulse("PATCH", "/apikeys/"+strconv.FormatInt(pid, 10), map[string]any{"description": "x", "flatPermissionsList": []string{}})
	if msg := wantError(t, res, http.StatusConflict); !strings.Contains(msg, "revoked") {
		t.Errorf("PATCH of a revoked key: %q", msg)
	}
	if res := f.pulse("DELETE", "/apikeys/"+strconv.FormatInt(pid, 10), nil); res.Status != http.StatusOK {
		t.Errorf("DELETE of a revoked key: %d %s", res.Status, res.Body)
	}
}

func TestPatchSemantics(t *testing.T) {
	f := newFixture(t)
	exp := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Millisecond)
	k := f.create(map[string]any{"description": "d", "expiresAt": exp.Format(time.RFC3339Nano), "flatPermissionsList": []string{"readApplications"}})
	id, path := nativeID(k.APIKey), "/apikeys/"+strconv.FormatInt(k.ID, 10)
	patch := func(body string) {
		t.Helper()
		if res := f.pulse("PATCH", path, body); res.Status != http.StatusOK || string(res.Body) != "{\"success\":true}\n" {
			t.Fatalf("PATCH %s: %d %s", body, res.Status, res.Body)
		}
	}
	expiry := func() any { t.Helper(); return f.nativeKey(id)["expires_at"] }

	// The same values again: nothing written, no audit event.
	events := len(f.auditEvents(id))
	etag := f.nativeKey(id)["etag"]
	patch(`{"description": "d", "flatPermissionsList": ["readApplications"]}`)
	if len(f.auditEvents(id)) != events || f.nativeKey(id)["etag"] != etag {
		t.Error("a PATCH with the current values wrote a change")
	}

	// expiresAt absent keeps the expiry.
	patch(`{"description": "e", "flatPermissionsList": ["readApplications"]}`)
	if expiry() == nil {
		t.Error("absent expiresAt cleared the expiry")
	}
	// null clears it.
	patch(`{"description": "e", "expiresAt": null, "flatPermissionsList": ["readApplications"]}`)
	if expiry() != nil {
		t.Error("expiresAt null did not clear the expiry")
	}
	// A value sets it, with any offset and precision.
	patch(`{"description": "e", "expiresAt": "` + exp.In(time.FixedZone("", 2*3600)).Format("2006-01-02T15:04:05.000000-07:00") + `", "flatPermissionsList": ["readApplications"]}`)
	if got, _ := time.Parse(time.RFC3339Nano, expiry().(string)); !got.Equal(exp) {
		t.Errorf("expires_at %v, want %v", expiry(), exp)
	}
	// "" clears it too ("null/empty for no expiration").
	patch(`{"description": "e", "expiresAt": "", "flatPermissionsList": ["readApplications"]}`)
	if expiry() != nil {
		t.Error(`expiresAt "" did not clear the expiry`)
	}

	// The list replaces the permissions wholesale; duplicates collapse; [] clears.
	patch(`{"description": "e", "flatPermissionsList": ["writeSupport", "readMerchants", "writeSupport"]}`)
	if got := scopesOf(t, f.nativeKey(id)); !slices.Equal(got, []string{"merchants:read:*", "support:write:*"}) {
		t.Errorf("scopes %v", got)
	}
	if got := f.get(k.ID).names(); !slices.Equal(got, sorted("readMerchants", "writeSupport")) {
		t.Errorf("names %v", got)
	}
	patch(`{"description": "e", "flatPermissionsList": []}`)
	if n := f.nativeKey(id); n["permission_mode"] != "restricted" || len(n["scopes"].([]any)) != 0 {
		t.Errorf("after []: %v", n)
	}
	if got := f.get(k.ID); len(got.Permissions) != 0 {
		t.Errorf("after []: %+v", got)
	}
}

func TestPermissionsRoundTrip(t *testing.T) {
	f := newFixture(t)
	res := f.native("POST", "/v1/roles", map[string]any{"name": "support_agent", "scopes": []map[string]any{{"resource": "support", "access": "write"}}})
	if res.Status != http.StatusCreated {
		t.Fatalf("create role: %d %s", res.Status, res.Body)
	}
	allKey, _ := f.APIKey(f.acct, map[string]any{"name": "all"})
	roleKey, _ := f.APIKey(f.acct, map[string]any{"name": "role", "permission_mode": "restricted", "scopes": []any{}, "roles": []string{"support_agent"}})
	targeted, _ := f.APIKey(f.acct, map[string]any{"name": "targeted", "permission_mode": "restricted",
		"scopes": []map[string]any{{"resource": "applications", "access": "read", "targets": []string{"app_1", "app_2"}}}})

	// Sending back what was read keeps mode all, and the roles.
	for _, id := range []string{allKey, roleKey} {
		got := f.get(intID(id))
		body := map[string]any{"description": "renamed", "flatPermissionsList": got.names()}
		if res := f.pulse("PATCH", "/apikeys/"+strconv.FormatInt(got.ID, 10), body); res.Status != http.StatusOK {
			t.Fatalf("PATCH: %d %s", res.Status, res.Body)
		}
		n := f.nativeKey(id)
		if n["name"] != "renamed" {
			t.Errorf("%s: name %v", id, n["name"])
		}
		if id == allKey && n["permission_mode"] != "all" {
			t.Errorf("mode all became %v", n["permission_mode"])
		}
		if id == roleKey && !reflect.DeepEqual(n["roles"], []any{"support_agent"}) {
			t.Errorf("roles became %v", n["roles"])
		}
	}
	if got := f.get(intID(roleKey)).names(); !slices.Equal(got, []string{"writeSupport"}) {
		t.Errorf("a role's permissions through PulseCRM: %v", got)
	}

	// A different list makes the key restricted to it, without roles; a
	// grant it held keeps its targets (never widened), a new one covers all.
	res = f.pulse("PATCH", "/apikeys/"+strconv.FormatInt(intID(roleKey), 10), map[string]any{"description": "role", "flatPermissionsList": []string{"writeSupport", "readCRM"}})
	if res.Status != http.StatusOK {
		t.Fatalf("PATCH: %d %s", res.Status, res.Body)
	}
	n := f.nativeKey(roleKey)
	if !reflect.DeepEqual(n["roles"], []any{}) || !slices.Equal(scopesOf(t, n), []string{"crm:read:*", "support:write:*"}) {
		t.Errorf("after a new list: roles %v scopes %v", n["roles"], scopesOf(t, n))
	}
	got := f.get(intID(targeted))
	if !slices.Equal(got.names(), []string{"readApplications"}) {
		t.Errorf("targeted key: %v", got.names())
	}
	res = f.pulse("PATCH", "/apikeys/"+strconv.FormatInt(got.ID, 10), map[string]any{"description": "targeted", "flatPermissionsList": []string{"readApplications", "readMerchants"}})
	if res.Status != http.StatusOK {
		t.Fatalf("PATCH: %d %s", res.Status, res.Body)
	}
	if got := scopesOf(t, f.nativeKey(targeted)); !slices.Equal(got, []string{"applications:read:app_1,app_2", "merchants:read:*"}) {
		t.Errorf("targeted key after PATCH: %v", got)
	}
}

func TestAccountPolicyAndProjects(t *testing.T) {
	f := newFixture(t)
	// An account that requires an expiry: a key without one is a 400 on expiresAt.
	if res := f.Native("PATCH", "/v1/accounts/"+f.acct, map[string]any{"require_expiry": true}); res.Status != http.StatusOK {
		t.Fatalf("account: %d %s", res.Status, res.Body)
	}
	res := f.pulse("POST", "/apikeys", map[string]any{"description": "x", "flatPermissionsList": []string{}})
	if msg := wantError(t, res, http.StatusBadRequest); !strings.Contains(msg, "expiresAt") {
		t.Errorf("require_expiry: %q", msg)
	}
	// A key scoped natively to one project cannot get a resource that only
	// all-project keys may hold: 400 naming the permission.
	f.Native("PATCH", "/v1/accounts/"+f.acct, map[string]any{"require_expiry": false})
	var prj struct {
		ID string `json:"id"`
	}
	f.native("POST", "/v1/projects", map[string]any{"name": "p"}).JSON(t, &prj)
	f.native("PUT", "/v1/catalog/resources/notes", map[string]any{})
	id, _ := f.APIKey(f.acct, map[string]any{"project_id": prj.ID, "permission_mode": "restricted", "scopes": []map[string]any{{"resource": "notes", "access": "read"}}})
	res = f.pulse("PATCH", "/apikeys/"+strconv.FormatInt(intID(id), 10), map[string]any{"description": "x", "flatPermissionsList": []string{"readNotes", "readApplications"}})
	if msg := wantError(t, res, http.StatusBadRequest); !strings.HasPrefix(msg, "Invalid permissions provided: readApplications") {
		t.Errorf("single-project key: %q", msg)
	}
}

// Concurrent PATCHes of one key: each is applied to the version it read or
// retried, never half-applied; none fails with a 500.
func TestConcurrentPatches(t *testing.T) {
	f := newFixture(t)
	k := f.create(map[string]any{"description": "start", "flatPermissionsList": []string{}})
	path := "/apikeys/" + strconv.FormatInt(k.ID, 10)
	lists := [][]string{{"readApplications"}, {"readCRM", "writeCRM"}, {"readMerchants"}, {"writeSupport", "readSupport"}, {}, {"readApplications", "readCRM"}}
	type answer struct {
		status int
		body   string
	}
	answers := make(chan answer, len(lists))
	for i, l := range lists {
		body, _ := json.Marshal(map[string]any{"description": "writer " + strconv.Itoa(i), "flatPermissionsList": l})
		go func() {
			res := f.pulse("PATCH", path, string(body))
			answers <- answer{res.Status, string(res.Body)}
		}()
	}
	for range lists {
		a := <-answers
		if a.status != http.StatusOK && !(a.status == http.StatusConflict && strings.Contains(a.body, "being changed")) {
			t.Errorf("concurrent PATCH: %d %s", a.status, a.body)
		}
	}
	// The final state is one writer's whole request.
	got := f.get(k.ID)
	i, err := strconv.Atoi(strings.TrimPrefix(got.Description, "writer "))
	if err != nil {
		t.Fatalf("description %q", got.Description)
	}
	if want := sorted(lists[i]...); !slices.Equal(got.names(), want) {
		t.Errorf("description of writer %d with permissions %v, want %v", i, got.names(), want)
	}
}

// Keys imported natively in bulk (hundreds in one minute, more than one
// page): all listed, each reachable by its integer id.
func TestBulkImportedKeys(t *testing.T) {
	f := newFixture(t)
	const n = 250
	items := make([]map[string]any, n)
	for i := range items {
		sum := sha256.Sum256([]byte("legacy token " + strconv.Itoa(i)))
		items[i] = map[string]any{"hash": hex.EncodeToString(sum[:]), "name": "legacy " + strconv.Itoa(i), "last4": "l" + strconv.Itoa(i%1000)}
	}
	res := f.native("POST", "/v1/keys/import", map[string]any{"keys": items})
	if res.Status != http.StatusCreated {
		t.Fatalf("import: %d %s", res.Status, res.Body)
	}
	var imported api.Page[api.Key]
	res.JSON(t, &imported)

	var list []apiKeyView
	f.pulse("GET", "/apikeys", nil).JSON(t, &list)
	ids := map[int64]bool{}
	for _, k := range list {
		ids[k.ID] = true
	}
	if len(list) != n || len(ids) != n {
		t.Fatalf("listed %d keys with %d distinct ids, want %d", len(list), len(ids), n)
	}
	// The oldest ones sit beyond the first page of their minute.
	for _, k := range []int{0, 1, n / 2, n - 1} {
		want := imported.Data[k]
		if got := f.get(intID(want.ID)); got.Description != want.Name || got.APIKey != apiKeyOf(want.ID) {
			t.Errorf("key %d by id: %+v", k, got)
		}
	}
}

// x-account-id is optional: without it a key bound to an account acts in
// that account (PulseCRM: "the caller's primary account"), and the
// operator key in the default account.
func TestAccountHeader(t *testing.T) {
	f := newFixture(t)
	res := f.Do("POST", base+"/apikeys", `{"description": "no header", "flatPermissionsList": ["readSupport"]}`, "Authorization: Bearer "+f.admin)
	if res.Status != http.StatusCreated {
		t.Fatalf("create without x-account-id: %d %s", res.Status, res.Body)
	}
	var k createdView
	res.JSON(t, &k)
	if n := f.nativeKey(nativeID(k.APIKey)); n["account_id"] != f.acct {
		t.Errorf("created in %v, want %s", n["account_id"], f.acct)
	}

	// The operator key without the header: the default account, whose
	// catalog (the default template) has other permissions.
	res = f.Do("POST", base+"/apikeys", `{"description": "default", "flatPermissionsList": ["readDocuments", "writeWebhooks"]}`, "Authorization: Bearer "+f.Op)
	if res.Status != http.StatusCreated {
		t.Fatalf("operator create: %d %s", res.Status, res.Body)
	}
	res.JSON(t, &k)
	if n := f.Native("GET", "/v1/keys/"+nativeID(k.APIKey), nil); n.Status != http.StatusOK {
		t.Errorf("not in the default account: %d", n.Status)
	}
	// The operator key with the header acts in the named account.
	res = f.Do("GET", base+"/apikeys", nil, "Authorization: Bearer "+f.Op, "x-account-id: "+f.acct)
	var list []apiKeyView
	res.JSON(t, &list)
	if len(list) != 1 || list[0].Description != "no header" {
		t.Errorf("operator in %s: %s", f.acct, res.Body)
	}
}

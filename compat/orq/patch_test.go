package orq

import (
	"net/http"
	"testing"
	"time"
)

// TestUpdate checks the seed page's PATCH semantics member by member:
// absent stays, values replace, access applies only in restricted mode,
// expires_at and clear_expires_at.
func TestUpdate(t *testing.T) {
	e := newEnv(t)
	prj := e.native("POST", "/v1/projects", map[string]any{"name": "p1"}).Map(t)["id"].(string)
	orqPrj := "proj_" + prj[len("prj_"):]
	future := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)

	tests := []struct {
		name   string
		create string // the key before the change (orq create body)
		patch  string
		want   map[string]any // members of the answer's api_key
		absent []string       // members the answer must not have
		native map[string]any // members of the native view after
	}{
		{name: "name", create: `{"name":"a"}`, patch: `{"name":"b"}`,
			want: map[string]any{"name": "b", "status": "API_KEY_STATUS_ACTIVE", "permission_mode": "PERMISSION_MODE_ALL"}},
		{name: "disable", create: `{"name":"a"}`, patch: `{"status":"API_KEY_STATUS_DISABLED"}`,
			want: map[string]any{"name": "a", "status": "API_KEY_STATUS_DISABLED"}, native: map[string]any{"status": "disabled"}},
		{name: "revoke", create: `{"name":"a"}`, patch: `{"status":"API_KEY_STATUS_REVOKED"}`,
			want: map[string]any{"status": "API_KEY_STATUS_REVOKED"}, native: map[string]any{"status": "revoked"}},
		{name: "read only, access ignored", create: `{"name":"a"}`, patch: `{"permission_mode":"PERMISSION_MODE_READ_ONLY","access":{"agent":"ACCESS_LEVEL_WRITE"}}`,
			want: map[string]any{"permission_mode": "PERMISSION_MODE_READ_ONLY"}, absent: []string{"access"},
			native: map[string]any{"permission_mode": "read_only", "scopes": []any{}}},
		{name: "node SDK lowercase mode", create: `{"name":"a"}`, patch: `{"permission_mode":"read_only"}`,
			want: map[string]any{"permission_mode": "PERMISSION_MODE_READ_ONLY"}},
		{name: "to restricted with access", create: `{"name":"a"}`,
			patch: `{"permission_mode":"PERMISSION_MODE_RESTRICTED","access":{"agent":"ACCESS_LEVEL_WRITE","dataset":"ACCESS_LEVEL_READ","prompt":"ACCESS_LEVEL_NONE"}}`,
			want:  map[string]any{"permission_mode": "PERMISSION_MODE_RESTRICTED", "access": map[string]any{"agent": "ACCESS_LEVEL_WRITE", "dataset": "ACCESS_LEVEL_READ"}},
			native: map[string]any{"permission_mode": "restricted", "scopes": []any{
				map[string]any{"resource": "agent", "access": "write", "targets": []any{"*"}},
				map[string]any{"resource": "dataset", "access": "read", "targets": []any{"*"}}}}},
		{name: "to restricted with an empty map", create: `{"name":"a"}`, patch: `{"permission_mode":"PERMISSION_MODE_RESTRICTED","access":{}}`,
			want: map[string]any{"permission_mode": "PERMISSION_MODE_RESTRICTED", "access": map[string]any{}}},
		{name: "access replaces the map", create: `{"name":"a","permission_mode":"PERMISSION_MODE_RESTRICTED","access":{"agent":"ACCESS_LEVEL_WRITE"}}`,
			patch: `{"access":{"tool":"ACCESS_LEVEL_READ"}}`, want: map[string]any{"access": map[string]any{"tool": "ACCESS_LEVEL_READ"}}},
		{name: "empty access clears", create: `{"name":"a","permission_mode":"PERMISSION_MODE_RESTRICTED","access":{"agent":"ACCESS_LEVEL_WRITE"}}`,
			patch: `{"access":{}}`, want: map[string]any{"access": map[string]any{}}, native: map[string]any{"scopes": []any{}}},
		{name: "access ignored in mode ALL", create: `{"name":"a"}`, patch: `{"access":{"agent":"ACCESS_LEVEL_READ"}}`,
			want: map[string]any{"permission_mode": "PERMISSION_MODE_ALL"}, absent: []string{"access"}},
		{name: "leaving restricted drops access", create: `{"name":"a","permission_mode":"PERMISSION_MODE_RESTRICTED","access":{"agent":"ACCESS_LEVEL_WRITE"}}`,
			patch: `{"permission_mode":"PERMISSION_MODE_ALL"}`, want: map[string]any{"permission_mode": "PERMISSION_MODE_ALL"}, absent: []string{"access"}},
		{name: "restricted stays restricted without access", create: `{"name":"a","permission_mode":"PERMISSION_MODE_RESTRICTED","access":{"agent":"ACCESS_LEVEL_WRITE"}}`,
			patch: `{"permission_mode":"PERMISSION_MODE_RESTRICTED","name":"c"}`, want: map[string]any{"name": "c", "access": map[string]any{"agent": "ACCESS_LEVEL_WRITE"}}},
		{name: "single project", create: `{"name":"a"}`, patch: `{"project_scope":{"single":{"project_id":"` + orqPrj + `"}}}`,
			want:   map[string]any{"project_scope": map[string]any{"single": map[string]any{"project_id": orqPrj}}},
			native: map[string]any{"project_id": prj}},
		{name: "keyward project id accepted", create: `{"name":"a"}`, patch: `{"project_scope":{"single":{"project_id":"` + prj + `"}}}`,
			want: map[string]any{"project_scope": map[string]any{"single": map[string]any{"project_id": orqPrj}}}},
		{name: "all projects", create: `{"name":"a","project_scope":{"single":{"project_id":"` + orqPrj + `"}}}`, patch: `{"project_scope":{"all":{}}}`,
			want: map[string]any{"project_scope": map[string]any{"all": map[string]any{}}}, native: map[string]any{"project_id": nil}},
		{name: "expires_at", create: `{"name":"a"}`, patch: `{"expires_at":"` + future + `"}`,
			want: map[string]any{"expires_at": future}},
		{name: "zero expires_at is no change", create: `{"name":"a","expires_at":"` + future + `"}`, patch: `{"expires_at":"1970-01-01T00:00:00Z","name":"z"}`,
			want: map[string]any{"expires_at": future, "name": "z"}},
		{name: "clear_expires_at", create: `{"name":"a","expires_at":"` + future + `"}`, patch: `{"clear_expires_at":true}`,
			absent: []string{"expires_at"}, native: map[string]any{"expires_at": nil}},
		{name: "clear_expires_at false is no change", create: `{"name":"a","expires_at":"` + future + `"}`, patch: `{"clear_expires_at":false}`,
			want: map[string]any{"expires_at": future}},
		{name: "expires_at null clears", create: `{"name":"a","expires_at":"` + future + `"}`, patch: `{"expires_at":null}`,
			absent: []string{"expires_at"}},
		{name: "unrestricted mcp_access accepted", create: `{"name":"a"}`, patch: `{"mcp_access":{"deny_all":false,"allowed_mcp_gateway_ids":[]},"name":"m"}`,
			want: map[string]any{"name": "m"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := str(e.create(tc.create)["api_key_id"])
			res := e.orq("PATCH", "/v2/api-keys/"+id, tc.patch)
			if res.Status != http.StatusOK {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			k := obj(res.Map(t)["api_key"])
			checkAPIKey(t, k)
			wantMembers(t, "", k, tc.want)
			for _, n := range tc.absent {
				if v, ok := k[n]; ok {
					t.Errorf("%s is %v, want absent", n, v)
				}
			}
			wantMembers(t, "native ", e.nativeKey(id), tc.native)
			// The dialect's answer is what a later GET shows.
			got := obj(e.orq("GET", "/v2/api-keys/"+id, nil).Map(t)["api_key"])
			if d := diff(k, got); d != "" {
				t.Errorf("GET after PATCH:\n%s", d)
			}
		})
	}
}

// TestUpdateNoOp: {} changes nothing, writes no audit event and keeps the
// version (keyward's PATCH rule).
func TestUpdateNoOp(t *testing.T) {
	e := newEnv(t)
	k := e.create(`{"name":"a"}`)
	id := str(k["api_key_id"])
	before := e.nativeKey(id)
	for _, body := range []string{`{}`, `{"name":"a"}`, `{"access":{"agent":"ACCESS_LEVEL_READ"}}`, `{"expires_at":"0001-01-01T00:00:00Z"}`} {
		res := e.orq("PATCH", "/v2/api-keys/"+id, body)
		if res.Status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", body, res.Status, res.Body)
		}
		if d := diff(k, obj(res.Map(t)["api_key"])); d != "" {
			t.Errorf("%s: the key changed:\n%s", body, d)
		}
	}
	if after := e.nativeKey(id); after["etag"] != before["etag"] {
		t.Errorf("etag %v → %v", before["etag"], after["etag"])
	}
	if n := len(e.auditEvents("key_" + id)); n != 1 {
		t.Errorf("%d audit events, want only key.created", n)
	}
}

// TestRevokedIsTerminal: nothing leaves API_KEY_STATUS_REVOKED (409), but
// the key can be deleted.
func TestRevokedIsTerminal(t *testing.T) {
	e := newEnv(t)
	id := str(e.create(`{"name":"a"}`)["api_key_id"])
	if res := e.orq("PATCH", "/v2/api-keys/"+id, `{"status":"API_KEY_STATUS_REVOKED"}`); res.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
	for _, body := range []string{`{"status":"API_KEY_STATUS_ACTIVE"}`, `{"name":"again"}`} {
		res := e.orq("PATCH", "/v2/api-keys/"+id, body)
		if res.Status != http.StatusConflict || errorCode(t, res) != "api_key_revoked" {
			t.Errorf("%s: %d %s", body, res.Status, res.Body)
		}
	}
	res := e.orq("POST", "/v2/api-keys/"+id+":rotate", nil)
	if res.Status != http.StatusConflict || errorCode(t, res) != "api_key_revoked" {
		t.Errorf("rotate: %d %s", res.Status, res.Body)
	}
	if got := str(e.nativeKey(id)["status"]); got != "revoked" {
		t.Errorf("native status %q", got)
	}
	if res := e.orq("DELETE", "/v2/api-keys/"+id, nil); res.Status != http.StatusOK {
		t.Errorf("delete: %d %s", res.Status, res.Body)
	}
}

package orq

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// verify verifies a token through the native API and returns its code.
func (e *env) verify(token string) string {
	e.T.Helper()
	res := e.native("POST", "/v1/keys/verify", map[string]any{"key": token})
	if res.Status != http.StatusOK {
		e.T.Fatalf("verify: %d %s", res.Status, res.Body)
	}
	return str(res.Map(e.T)["code"])
}

// checkAudit checks that the newest audit event of a key is action, made
// through the orq dialect.
func (e *env) checkAudit(keyID, action string) {
	e.T.Helper()
	evs := e.auditEvents(keyID)
	if len(evs) == 0 {
		e.T.Fatalf("no audit events for %s", keyID)
	}
	if evs[0]["action"] != action || evs[0]["dialect"] != Dialect {
		e.T.Errorf("newest audit event of %s: action %v dialect %v, want %s through orq", keyID, evs[0]["action"], evs[0]["dialect"], action)
	}
}

// TestCrossAPI: a key made and changed through the dialect is the native
// API's key, changes go both ways, and the audit log names the dialect.
func TestCrossAPI(t *testing.T) {
	e := newEnv(t)
	res := e.orq("POST", "/v2/api-keys", `{"name":"cross","permission_mode":"PERMISSION_MODE_RESTRICTED","access":{"agent":"ACCESS_LEVEL_WRITE","model":"ACCESS_LEVEL_READ"},"expires_at":"2999-01-02T03:04:05Z"}`)
	if res.Status != http.StatusOK {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	created := res.Map(t)
	k, token := obj(created["api_key"]), str(created["token"])
	id := str(k["api_key_id"])
	nid := "key_" + id

	// Created through orq, seen natively.
	n := e.nativeKey(id)
	want := map[string]any{
		"id": nid, "account_id": e.acc, "kind": "api", "name": "cross", "status": "active", "permission_mode": "restricted",
		"owner": map[string]any{"type": "account", "id": e.acc}, "project_id": nil, "expires_at": "2999-01-02T03:04:05Z",
		"scopes": []any{
			map[string]any{"resource": "agent", "access": "write", "targets": []any{"*"}},
			map[string]any{"resource": "model", "access": "read", "targets": []any{"*"}}},
		"start": k["token_prefix"], "created_by_id": n["created_by_id"],
	}
	wantMembers(t, "native ", n, want)
	if "key_"+str(k["created_by_id"]) != str(n["created_by_id"]) {
		t.Errorf("created_by_id %v, native %v", k["created_by_id"], n["created_by_id"])
	}
	if !strings.HasPrefix(token, str(k["token_prefix"])) {
		t.Errorf("token_prefix %v is not the token's start", k["token_prefix"])
	}
	if code := e.verify(token); code != "VALID" {
		t.Errorf("verify the created token: %s", code)
	}
	e.checkAudit(nid, "key.created")

	// Changed natively, seen through orq.
	if res := e.native("PATCH", "/v1/keys/"+nid, map[string]any{"name": "renamed natively", "scopes": []any{map[string]any{"resource": "tool", "access": "read"}}}); res.Status != http.StatusOK {
		t.Fatalf("native PATCH: %d %s", res.Status, res.Body)
	}
	got := obj(e.orq("GET", "/v2/api-keys/"+id, nil).Map(t)["api_key"])
	if got["name"] != "renamed natively" || diff(map[string]any{"tool": "ACCESS_LEVEL_READ"}, got["access"]) != "" {
		t.Errorf("orq view after a native change: %v", got)
	}

	// Changed through orq, seen natively, audited as orq.
	res = e.orq("PATCH", "/v2/api-keys/"+id, `{"name":"renamed in orq","status":"API_KEY_STATUS_DISABLED","clear_expires_at":true}`)
	if res.Status != http.StatusOK {
		t.Fatalf("orq PATCH: %d %s", res.Status, res.Body)
	}
	n = e.nativeKey(id)
	if n["name"] != "renamed in orq" || n["status"] != "disabled" || n["expires_at"] != nil {
		t.Errorf("native view after an orq change: %v", n)
	}
	e.checkAudit(nid, "key.updated")
	if code := e.verify(token); code != "DISABLED" {
		t.Errorf("verify a disabled key: %s", code)
	}
	if res := e.orq("PATCH", "/v2/api-keys/"+id, `{"status":"API_KEY_STATUS_ACTIVE"}`); res.Status != http.StatusOK {
		t.Fatalf("enable: %d %s", res.Status, res.Body)
	}

	// Rotated through orq: same id, new token, the old one stops at once.
	res = e.orq("POST", "/v2/api-keys/"+id+":rotate", `{"api_key_id":"`+id+`"}`)
	if res.Status != http.StatusOK {
		t.Fatalf("rotate: %d %s", res.Status, res.Body)
	}
	rot := res.Map(t)
	rk, newToken := obj(rot["api_key"]), str(rot["token"])
	checkAPIKey(t, rk)
	if rk["api_key_id"] != id || newToken == "" || newToken == token || rk["token_prefix"] == k["token_prefix"] && !strings.HasPrefix(newToken, str(rk["token_prefix"])) {
		t.Errorf("rotate answer: %v", rot)
	}
	if code := e.verify(newToken); code != "VALID" {
		t.Errorf("verify the rotated token: %s", code)
	}
	if code := e.verify(token); code != "ROTATED" {
		t.Errorf("verify the old token: %s", code)
	}
	e.checkAudit(nid, "key.rotated")
	// Without a body, or with the key_ form of the id, too.
	if res := e.orq("POST", "/v2/api-keys/"+nid+":rotate", nil); res.Status != http.StatusOK {
		t.Errorf("rotate without a body: %d %s", res.Status, res.Body)
	}

	// Revoked through orq.
	if res := e.orq("PATCH", "/v2/api-keys/"+id, `{"status":"API_KEY_STATUS_REVOKED"}`); res.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
	e.checkAudit(nid, "key.revoked")

	// Deleted through orq.
	if res := e.orq("DELETE", "/v2/api-keys/"+id, nil); res.Status != http.StatusOK {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	if res := e.native("GET", "/v1/keys/"+nid, nil); res.Status != http.StatusNotFound {
		t.Errorf("native GET after delete: %d", res.Status)
	}
	e.checkAudit(nid, "key.deleted")

	// A native delete is seen through orq.
	nid2, _ := e.APIKey(e.acc, nil)
	if res := e.native("DELETE", "/v1/keys/"+nid2, nil); res.Status != http.StatusNoContent {
		t.Fatalf("native delete: %d", res.Status)
	}
	if res := e.orq("GET", "/v2/api-keys/"+strings.TrimPrefix(nid2, "key_"), nil); res.Status != http.StatusNotFound {
		t.Errorf("orq GET after a native delete: %d", res.Status)
	}
}

// TestNativeKeysInOrq: what orq's model can express of keys made natively.
func TestNativeKeysInOrq(t *testing.T) {
	e := newEnv(t)
	user := e.native("POST", "/v1/users", map[string]any{"external_id": "u1", "name": "User", "roles": []string{}}).Map(t)
	sa := e.native("POST", "/v1/service-accounts", map[string]any{"name": "ci"}).Map(t)
	role := e.native("POST", "/v1/roles", map[string]any{"name": "viewer", "scopes": []any{map[string]any{"resource": "dataset", "access": "read"}}})
	if role.Status != http.StatusCreated {
		t.Fatalf("role: %d %s", role.Status, role.Body)
	}
	tests := []struct {
		name   string
		fields map[string]any
		want   map[string]any
	}{
		{"user owned", map[string]any{"owner": map[string]any{"type": "user", "id": user["id"]}},
			map[string]any{"owner": map[string]any{"user": map[string]any{"user_id": user["id"]}}}},
		{"service account owned", map[string]any{"owner": map[string]any{"type": "service_account", "id": sa["id"]}},
			map[string]any{"owner": map[string]any{"service_account": map[string]any{"service_account_id": sa["id"]}}}},
		{"account owned", nil, map[string]any{"owner": map[string]any{"service_account": map[string]any{}}}},
		{"object-limited scopes are not shown as the whole domain", map[string]any{"permission_mode": "restricted", "scopes": []any{
			map[string]any{"resource": "agent", "access": "write", "targets": []any{"agent_1"}},
			map[string]any{"resource": "tool", "access": "read"}}},
			map[string]any{"access": map[string]any{"tool": "ACCESS_LEVEL_READ"}}},
		{"roles are not expanded", map[string]any{"permission_mode": "restricted", "roles": []string{"viewer"}},
			map[string]any{"access": map[string]any{}, "permission_mode": "PERMISSION_MODE_RESTRICTED"}},
		{"legacy key id", map[string]any{"legacy_key_id": "mongo-123"}, map[string]any{"legacy_key_id": "mongo-123"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nid, _ := e.APIKey(e.acc, tc.fields)
			res := e.orq("GET", "/v2/api-keys/"+strings.TrimPrefix(nid, "key_"), nil)
			if res.Status != http.StatusOK {
				t.Fatalf("GET: %d %s", res.Status, res.Body)
			}
			k := obj(res.Map(t)["api_key"])
			checkAPIKey(t, k)
			wantMembers(t, "", k, tc.want)
		})
	}
	// A PATCH of access on a key with roles keeps the roles.
	nid, _ := e.APIKey(e.acc, map[string]any{"permission_mode": "restricted", "roles": []string{"viewer"}})
	if res := e.orq("PATCH", "/v2/api-keys/"+strings.TrimPrefix(nid, "key_"), `{"access":{"tool":"ACCESS_LEVEL_READ"}}`); res.Status != http.StatusOK {
		t.Fatalf("PATCH: %d %s", res.Status, res.Body)
	}
	if n := e.native("GET", "/v1/keys/"+nid, nil).Map(t); diff([]any{"viewer"}, n["roles"]) != "" {
		t.Errorf("roles %v", n["roles"])
	}
}

// TestCreate covers create's members beyond the documented examples.
func TestCreate(t *testing.T) {
	e := newEnv(t)
	user := str(e.native("POST", "/v1/users", map[string]any{"external_id": "u1", "roles": []string{}}).Map(t)["id"])
	sa := str(e.native("POST", "/v1/service-accounts", map[string]any{"name": "ci"}).Map(t)["id"])
	t.Run("defaults", func(t *testing.T) {
		k := e.create(`{"name":"plain"}`)
		want := map[string]any{"owner": map[string]any{"service_account": map[string]any{}}, "project_scope": map[string]any{"all": map[string]any{}},
			"permission_mode": "PERMISSION_MODE_ALL", "status": "API_KEY_STATUS_ACTIVE"}
		wantMembers(t, "", k, want)
		for _, m := range []string{"expires_at", "last_used_at", "legacy_key_id", "access"} {
			if _, ok := k[m]; ok {
				t.Errorf("%s is set on a new key", m)
			}
		}
	})
	t.Run("user owner", func(t *testing.T) {
		k := e.create(`{"name":"mine","owner":{"user":{"user_id":"` + user + `"}}}`)
		if d := diff(map[string]any{"user": map[string]any{"user_id": user}}, k["owner"]); d != "" {
			t.Error(d)
		}
		if n := e.nativeKey(str(k["api_key_id"])); diff(map[string]any{"type": "user", "id": user}, n["owner"]) != "" {
			t.Errorf("native owner %v", n["owner"])
		}
	})
	t.Run("keyward service account owner", func(t *testing.T) {
		k := e.create(`{"name":"ci","owner":{"service_account":{"service_account_id":"` + sa + `"}}}`)
		if n := e.nativeKey(str(k["api_key_id"])); diff(map[string]any{"type": "service_account", "id": sa}, n["owner"]) != "" {
			t.Errorf("native owner %v", n["owner"])
		}
	})
	t.Run("read only ignores access", func(t *testing.T) {
		k := e.create(`{"name":"ro","permission_mode":"PERMISSION_MODE_READ_ONLY","access":{"agent":"ACCESS_LEVEL_WRITE"}}`)
		if _, ok := k["access"]; ok || k["permission_mode"] != "PERMISSION_MODE_READ_ONLY" {
			t.Errorf("key %v", k)
		}
	})
	t.Run("access without a mode in an account whose default is ALL", func(t *testing.T) {
		res := e.orq("POST", "/v2/api-keys", `{"name":"x","access":{"agent":"ACCESS_LEVEL_WRITE"}}`)
		if res.Status != http.StatusBadRequest || errorCode(t, res) != "invalid_request_body" {
			t.Errorf("%d %s", res.Status, res.Body)
		}
	})
	t.Run("operator key with the account header", func(t *testing.T) {
		res := e.Do("POST", "/compat/orq/v2/api-keys", `{"name":"op"}`, "Authorization: Bearer "+e.Op, "X-Account-Id: "+e.acc)
		if res.Status != http.StatusOK {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
		if n := e.nativeKey(str(obj(res.Map(t)["api_key"])["api_key_id"])); n["account_id"] != e.acc {
			t.Errorf("account %v", n["account_id"])
		}
	})
	t.Run("pretty", func(t *testing.T) {
		res := e.orq("GET", "/v2/api-keys?pretty", nil)
		if res.Status != http.StatusOK || !strings.Contains(string(res.Body), "\n  \"object\": \"list\"") {
			t.Errorf("%d %s", res.Status, res.Body)
		}
	})
}

// TestList checks orq's cursors and filters, in particular the repeated
// owner_type and permission_mode filters, against the keys made.
func TestList(t *testing.T) {
	e := newEnv(t)
	user := str(e.native("POST", "/v1/users", map[string]any{"external_id": "u1", "roles": []string{}}).Map(t)["id"])
	prj := str(e.native("POST", "/v1/projects", map[string]any{"name": "p"}).Map(t)["id"])
	type made struct {
		id, owner, mode, name, status string
		project                       bool
	}
	var keys []made // oldest first
	owners := []string{"account", "user"}
	modesN := []string{"all", "read_only", "restricted"}
	for i := range 18 {
		m := made{owner: owners[i%2], mode: modesN[i%3], name: fmt.Sprintf("key %02d", i), status: "active", project: i%4 == 0}
		f := map[string]any{"name": m.name, "permission_mode": m.mode}
		if m.mode == "restricted" {
			f["scopes"] = []any{}
		}
		if m.owner == "user" {
			f["owner"] = map[string]any{"type": "user", "id": user}
		}
		if m.project {
			f["project_id"] = prj
		}
		if i%5 == 0 {
			f["status"] = "disabled"
			m.status = "disabled"
		}
		nid, _ := e.APIKey(e.acc, f)
		m.id = strings.TrimPrefix(nid, "key_")
		keys = append(keys, m)
	}
	newest := slices.Clone(keys)
	slices.Reverse(newest)
	orqModeN := map[string]string{"all": "PERMISSION_MODE_ALL", "read_only": "PERMISSION_MODE_READ_ONLY", "restricted": "PERMISSION_MODE_RESTRICTED"}

	tests := []struct {
		name  string
		query string
		keep  func(m made) bool
	}{
		{"all", "", func(made) bool { return true }},
		{"status", "status=API_KEY_STATUS_DISABLED", func(m made) bool { return m.status == "disabled" }},
		{"status unspecified is no filter", "status=API_KEY_STATUS_UNSPECIFIED", func(made) bool { return true }},
		{"search", "search=KEY+0", func(m made) bool { return strings.HasPrefix(m.name, "key 0") }},
		{"project", "project_id=proj_" + strings.TrimPrefix(prj, "prj_"), func(m made) bool { return m.project }},
		{"one owner type", "owner_type=OWNER_TYPE_USER", func(m made) bool { return m.owner == "user" }},
		{"service accounts", "owner_type=OWNER_TYPE_SERVICE_ACCOUNT", func(m made) bool { return m.owner == "account" }},
		{"both owner types, bracketed", "owner_type[]=OWNER_TYPE_USER&owner_type[]=OWNER_TYPE_SERVICE_ACCOUNT", func(made) bool { return true }},
		{"two modes", "permission_mode=PERMISSION_MODE_ALL&permission_mode=PERMISSION_MODE_RESTRICTED", func(m made) bool { return m.mode != "read_only" }},
		{"modes and owner", "permission_mode[]=PERMISSION_MODE_READ_ONLY&permission_mode[]=PERMISSION_MODE_RESTRICTED&owner_type[]=OWNER_TYPE_SERVICE_ACCOUNT&status=API_KEY_STATUS_ACTIVE",
			func(m made) bool { return m.mode != "all" && m.owner == "account" && m.status == "active" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, m := range newest {
				if tc.keep(m) {
					want = append(want, m.id)
				}
			}
			for _, limit := range []int{1, 2, 5, 200} {
				// Forward through every page.
				var got []string
				after := ""
				for pages := 0; ; pages++ {
					q := fmt.Sprintf("/v2/api-keys?limit=%d&%s", limit, tc.query)
					if after != "" {
						q += "&starting_after=" + after
					}
					ids, more := e.listPage(q)
					for _, k := range ids {
						got = append(got, k["api_key_id"].(string))
						m := keys[slices.IndexFunc(keys, func(m made) bool { return m.id == k["api_key_id"] })]
						if k["status"] != map[string]string{"active": "API_KEY_STATUS_ACTIVE", "disabled": "API_KEY_STATUS_DISABLED"}[m.status] ||
							k["permission_mode"] != orqModeN[m.mode] || obj(k["owner"])[map[string]string{"account": "service_account", "user": "user"}[m.owner]] == nil {
							t.Errorf("key %s: %v", m.id, k)
						}
					}
					if !more {
						break
					}
					if len(ids) == 0 || pages > 40 {
						t.Fatalf("has_more with an empty page")
					}
					after = ids[len(ids)-1]["api_key_id"].(string)
				}
				if d := diff(want, got); d != "" && !(len(want) == 0 && len(got) == 0) {
					t.Errorf("limit %d forward:\n%s", limit, d)
				}
				// Backward from the oldest: ending_before gives the
				// keys just newer than the cursor, newest first.
				if len(want) < 2 {
					continue
				}
				var back []string
				before := want[len(want)-1]
				for pages := 0; ; pages++ {
					q := fmt.Sprintf("/v2/api-keys?limit=%d&ending_before=%s&%s", limit, before, tc.query)
					ids, more := e.listPage(q)
					var page []string
					for _, k := range ids {
						page = append(page, k["api_key_id"].(string))
					}
					back = append(page, back...)
					if !more {
						break
					}
					if len(ids) == 0 || pages > 40 {
						t.Fatalf("has_more with an empty page")
					}
					before = page[0]
				}
				if d := diff(want[:len(want)-1], back); d != "" {
					t.Errorf("limit %d backward:\n%s", limit, d)
				}
			}
		})
	}
}

// listPage gets one page of the list.
func (e *env) listPage(path string) ([]map[string]any, bool) {
	e.T.Helper()
	res := e.orq("GET", path, nil)
	if res.Status != http.StatusOK {
		e.T.Fatalf("GET %s: %d %s", path, res.Status, res.Body)
	}
	var out struct {
		Object  string           `json:"object"`
		Data    []map[string]any `json:"data"`
		HasMore bool             `json:"has_more"`
	}
	res.JSON(e.T, &out)
	if out.Object != "list" {
		e.T.Errorf("object %q", out.Object)
	}
	return out.Data, out.HasMore
}

package orq

import (
	"net/http"
	"testing"
)

// The examples of orq's documentation, sent verbatim: the same path below
// the base URL, the same body and headers; only the base URL and the
// credential ($ORQ_API_KEY) differ. They come from the seed page (the
// PATCH) and from the x-code-samples of orq's OpenAPI document, as
// published in its SDKs (orq-python src/orq_ai_sdk/apikeys.py).
func TestDocumentedExamples(t *testing.T) {
	e := newEnv(t)
	e.fixtures()

	t.Run("Core - List capability catalog", func(t *testing.T) {
		// curl --request GET --url 'https://api.orq.ai/v2/api-keys/capabilities' \
		//   --header 'Authorization: Bearer $ORQ_API_KEY'
		res := e.orq("GET", "/v2/api-keys/capabilities", nil)
		if res.Status != http.StatusOK {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		var out struct {
			Domains []struct {
				ID            string   `json:"id"`
				DisplayName   string   `json:"display_name"`
				Group         string   `json:"group"`
				AllowedScopes []string `json:"allowed_scopes"`
				Readable      *bool    `json:"readable"`
				Writable      *bool    `json:"writable"`
			} `json:"domains"`
		}
		res.JSON(t, &out)
		if len(out.Domains) == 0 {
			t.Fatal("no domains")
		}
		// Workspace-admin first, then platform, then gateway; within a
		// group alphabetically by display_name.
		rank := map[string]int{"DOMAIN_GROUP_WORKSPACE_ADMIN": 0, "DOMAIN_GROUP_PLATFORM": 1, "DOMAIN_GROUP_GATEWAY": 2}
		for i, d := range out.Domains {
			if _, ok := rank[d.Group]; !ok {
				t.Errorf("domain %s: group %q", d.ID, d.Group)
			}
			if d.Readable == nil || d.Writable == nil || d.DisplayName == "" || len(d.AllowedScopes) == 0 {
				t.Errorf("domain %s lacks members: %+v", d.ID, d)
			}
			if i == 0 {
				continue
			}
			p := out.Domains[i-1]
			if rank[p.Group] > rank[d.Group] || rank[p.Group] == rank[d.Group] && p.DisplayName > d.DisplayName {
				t.Errorf("domain %s (%s) listed after %s (%s)", d.ID, d.Group, p.ID, p.Group)
			}
		}
		byID := map[string]int{}
		for i, d := range out.Domains {
			byID[d.ID] = i
		}
		// member is ALL-only (orq's own example); model is read-only;
		// api-key is protected in keyward (API keys never manage keys).
		if d := out.Domains[byID["member"]]; d.ID != "member" || diff([]string{"SCOPE_MODE_ALL"}, d.AllowedScopes) != "" {
			t.Errorf("member: %+v", d)
		}
		if d := out.Domains[byID["model"]]; d.ID != "model" || !*d.Readable || *d.Writable {
			t.Errorf("model: %+v", d)
		}
		if _, ok := byID["api-key"]; ok {
			t.Error("the protected api-key domain is offered")
		}
	})

	var serviceKeyID string
	t.Run("Core - Create service account key", func(t *testing.T) {
		res := e.orq("POST", "/v2/api-keys", `{
    "name": "Production service key",
    "owner": {
      "service_account": {}
    },
    "project_scope": {
      "all": {}
    },
    "permission_mode": "PERMISSION_MODE_ALL"
  }`, "Content-Type: application/json")
		if res.Status != http.StatusOK {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		m := res.Map(t)
		if tok := str(m["token"]); tok == "" {
			t.Fatalf("no token: %s", res.Body)
		}
		k := obj(m["api_key"])
		checkAPIKey(t, k)
		want := map[string]any{
			"name": "Production service key", "owner": map[string]any{"service_account": map[string]any{}},
			"project_scope": map[string]any{"all": map[string]any{}}, "permission_mode": "PERMISSION_MODE_ALL",
			"status": "API_KEY_STATUS_ACTIVE",
		}
		wantMembers(t, "", k, want)
		if _, ok := k["access"]; ok {
			t.Errorf("access is shown for a key in mode ALL: %v", k["access"])
		}
		serviceKeyID = str(k["api_key_id"])
	})

	restricted := `{
    "name": "Support automation key",
    "project_scope": {
      "single": {
        "project_id": "proj_01HZXW2K7Y8Q9M0N1P2R3S4T5V"
      }
    },
    "permission_mode": "PERMISSION_MODE_RESTRICTED",
    "access": {
      "agents": "ACCESS_LEVEL_WRITE",
      "deployments": "ACCESS_LEVEL_READ"
    }
  }`
	t.Run("Core - Create restricted project key, plural domains not in the catalog", func(t *testing.T) {
		// The example names "agents" and "deployments"; orq's catalog
		// (and the orq template) says "agent" and "deployment". Access
		// is validated against the account's catalog: refused, naming
		// the domains.
		res := e.orq("POST", "/v2/api-keys", restricted, "Content-Type: application/json")
		if res.Status != http.StatusBadRequest || errorCode(t, res) != "invalid_request_body" {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		if d := diff([]string{"access.agents", "access.deployments"}, fieldViolations(t, res)); d != "" {
			t.Errorf("fields (-want +got):\n%s", d)
		}
	})

	var restrictedID string
	t.Run("Core - Create restricted project key", func(t *testing.T) {
		// A catalog that has the example's domains takes it as is.
		e.addDomain("agents", "platform")
		e.addDomain("deployments", "platform")
		res := e.orq("POST", "/v2/api-keys", restricted, "Content-Type: application/json")
		if res.Status != http.StatusOK {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		m := res.Map(t)
		k := obj(m["api_key"])
		checkAPIKey(t, k)
		if str(m["token"]) == "" {
			t.Error("no token")
		}
		want := map[string]any{
			"name":            "Support automation key",
			"project_scope":   map[string]any{"single": map[string]any{"project_id": exampleProjectID}},
			"permission_mode": "PERMISSION_MODE_RESTRICTED",
			"access":          map[string]any{"agents": "ACCESS_LEVEL_WRITE", "deployments": "ACCESS_LEVEL_READ"},
			"owner":           map[string]any{"service_account": map[string]any{}},
		}
		wantMembers(t, "", k, want)
		restrictedID = str(k["api_key_id"])
	})

	t.Run("Core - List active project keys", func(t *testing.T) {
		// curl --get 'https://api.orq.ai/v2/api-keys' --data-urlencode 'limit=25'
		//   --data-urlencode 'project_id=proj_01HZXW2K7Y8Q9M0N1P2R3S4T5V'
		//   --data-urlencode 'status=API_KEY_STATUS_ACTIVE'
		res := e.orq("GET", "/v2/api-keys?limit=25&project_id=proj_01HZXW2K7Y8Q9M0N1P2R3S4T5V&status=API_KEY_STATUS_ACTIVE", nil)
		if res.Status != http.StatusOK {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		var out struct {
			Object  string           `json:"object"`
			Data    []map[string]any `json:"data"`
			HasMore *bool            `json:"has_more"`
		}
		res.JSON(t, &out)
		if out.Object != "list" || out.HasMore == nil || *out.HasMore {
			t.Errorf("object %q has_more %v", out.Object, out.HasMore)
		}
		var ids []string
		for _, k := range out.Data {
			checkAPIKey(t, k)
			if _, ok := k["token"]; ok {
				t.Error("a listed key carries a token")
			}
			ids = append(ids, str(k["api_key_id"]))
		}
		// The service key is of all projects: not listed.
		if d := diff([]string{restrictedID}, ids); d != "" || serviceKeyID == "" {
			t.Errorf("listed ids (-want +got):\n%s", d)
		}
	})

	t.Run("Core - Retrieve key metadata", func(t *testing.T) {
		res := e.orq("GET", "/v2/api-keys/01HZXW2K7Y8Q9M0N1P2R3S4T5V", nil)
		if res.Status != http.StatusOK {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		m := res.Map(t)
		if _, ok := m["token"]; ok {
			t.Error("get returns a token")
		}
		k := obj(m["api_key"])
		checkAPIKey(t, k)
		if k["api_key_id"] != exampleKeyID || k["name"] != "example key" {
			t.Errorf("api_key: %v", k)
		}
	})

	t.Run("Core - Disable a key (the seed)", func(t *testing.T) {
		res := e.orq("PATCH", "/v2/api-keys/01HZXW2K7Y8Q9M0N1P2R3S4T5V", `{
    "status": "API_KEY_STATUS_DISABLED"
  }`, "Content-Type: application/json")
		if res.Status != http.StatusOK {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		m := res.Map(t)
		k := obj(m["api_key"])
		checkAPIKey(t, k)
		// Every member the seed's response shows is there.
		for _, n := range []string{"api_key_id", "name", "owner", "project_scope", "token_prefix", "created_at", "updated_at",
			"access", "created_by_id", "updated_by_id", "last_used_at", "expires_at", "legacy_key_id"} {
			if _, ok := k[n]; !ok {
				t.Errorf("the answer lacks %q", n)
			}
		}
		if k["status"] != "API_KEY_STATUS_DISABLED" {
			t.Errorf("status %v", k["status"])
		}
		if d := diff(map[string]any{"agent": "ACCESS_LEVEL_WRITE"}, k["access"]); d != "" {
			t.Errorf("access changed (-want +got):\n%s", d)
		}
		if got := str(e.nativeKey(exampleKeyID)["status"]); got != "disabled" {
			t.Errorf("native status %q", got)
		}
	})

	t.Run("Core - Delete a key", func(t *testing.T) {
		res := e.orq("DELETE", "/v2/api-keys/01HZXW2K7Y8Q9M0N1P2R3S4T5V", nil)
		if res.Status != http.StatusOK {
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
		if d := diff(map[string]any{}, res.Map(t)); d != "" {
			t.Errorf("body (-want +got):\n%s", d)
		}
		if res := e.orq("GET", "/v2/api-keys/01HZXW2K7Y8Q9M0N1P2R3S4T5V", nil); res.Status != http.StatusNotFound {
			t.Errorf("GET after delete: %d", res.Status)
		}
		if res := e.native("GET", "/v1/keys/key_"+exampleKeyID, nil); res.Status != http.StatusNotFound {
			t.Errorf("native GET after delete: %d", res.Status)
		}
	})
}

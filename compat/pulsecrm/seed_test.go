package pulsecrm

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The examples of PulseCRM's PATCH page (the seed) and of the reference,
// sent verbatim: same path below the base, same body, same headers but for
// the credential and the account id.

// seedBody and seedBodyWithExpiry are the two request bodies the seed page
// shows, byte for byte.
const (
	seedBody           = `{ "description": "string", "flatPermissionsList": [ "string" ]}`
	seedBodyWithExpiry = `{ "description": "string", "expiresAt": "string", "flatPermissionsList": [ "string" ]}`
)

var isoRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

func TestSeedPatchExamples(t *testing.T) {
	f := newFixture(t)
	k := f.create(map[string]any{"description": "Zapier integration", "flatPermissionsList": []string{"readApplications"}})
	path := "/apikeys/" + strconv.FormatInt(k.ID, 10)

	// Both of the seed's bodies use the placeholder "string" as a
	// permission: "Bad Request - Invalid permissions provided".
	for _, body := range []string{seedBody, seedBodyWithExpiry} {
		msg := wantError(t, f.pulse("PATCH", path, body), http.StatusBadRequest)
		if !strings.Contains(msg, "expiresAt") && !strings.HasPrefix(msg, "Invalid permissions provided") {
			t.Errorf("error %q", msg)
		}
	}
	if got := f.get(k.ID); got.Description != "Zapier integration" || !slices.Equal(got.names(), []string{"readApplications"}) {
		t.Errorf("a refused PATCH changed the key: %+v", got)
	}

	// The schema's example list, without and with expiresAt: 200
	// {"success": true}.
	res := f.pulse("PATCH", path, `{ "description": "string", "flatPermissionsList": [ "readApplications", "writeApplications" ]}`)
	if res.Status != http.StatusOK || string(res.Body) != "{\"success\":true}\n" {
		t.Fatalf("PATCH: %d %s", res.Status, res.Body)
	}
	got := f.get(k.ID)
	if got.Description != "string" || !slices.Equal(got.names(), []string{"readApplications", "writeApplications"}) || got.ExpiresAt != nil {
		t.Errorf("after PATCH: %+v", got)
	}
	exp := time.Now().Add(48 * time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
	res = f.pulse("PATCH", path, `{ "description": "string", "expiresAt": "`+exp+`", "flatPermissionsList": [ "readApplications", "writeApplications" ]}`)
	if res.Status != http.StatusOK || string(res.Body) != "{\"success\":true}\n" {
		t.Fatalf("PATCH with expiresAt: %d %s", res.Status, res.Body)
	}
	if got := f.get(k.ID); got.ExpiresAt == nil || *got.ExpiresAt != exp {
		t.Errorf("expiresAt = %v, want %s", got.ExpiresAt, exp)
	}

	// "ApiKey not found": {"error": "API key not found"}, exactly.
	res = f.pulse("PATCH", "/apikeys/12345", `{ "description": "string", "flatPermissionsList": [ "readApplications", "writeApplications" ]}`)
	if res.Status != http.StatusNotFound || string(res.Body) != "{\"error\":\"API key not found\"}\n" {
		t.Errorf("unknown id: %d %s", res.Status, res.Body)
	}
}

func TestSeedCreateListDelete(t *testing.T) {
	f := newFixture(t)

	// POST /apikeys with an ApiKeyInput: the key and its apiSecret, once.
	res := f.pulse("POST", "/apikeys", `{ "description": "string", "flatPermissionsList": [ "readApplications", "writeApplications" ]}`)
	if res.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	m := res.Map(t)
	if want, got := sorted("id", "description", "expiresAt", "permissions", "apiKey", "lastFourOfSecret", "createdAt", "updatedAt", "apiSecret"), sorted(keys(m)...); !slices.Equal(want, got) {
		t.Errorf("create answer members: got %v, want %v", got, want)
	}
	var k createdView
	res.JSON(t, &k)
	if k.ID <= 0 || k.ID > maxIntID || !strings.HasPrefix(k.APIKey, "apiKey-") || k.APISecret == "" ||
		!strings.HasSuffix(k.APISecret, k.LastFourOfSecret) || !isoRE.MatchString(k.CreatedAt) || !isoRE.MatchString(k.UpdatedAt) {
		t.Errorf("created key: %+v", k)
	}
	if res.Header.Get("Location") != base+"/apikeys/"+strconv.FormatInt(k.ID, 10) {
		t.Errorf("Location %q", res.Header.Get("Location"))
	}

	// GET /apikeys: a bare array of ApiKey, with lastFourOfSecret and no secret.
	res = f.pulse("GET", "/apikeys", nil)
	if res.Status != http.StatusOK {
		t.Fatalf("list: %d %s", res.Status, res.Body)
	}
	var list []map[string]any
	res.JSON(t, &list)
	if len(list) != 1 {
		t.Fatalf("list: %s", res.Body)
	}
	if want, got := sorted("id", "description", "expiresAt", "permissions", "apiKey", "lastFourOfSecret", "createdAt", "updatedAt"), sorted(keys(list[0])...); !slices.Equal(want, got) {
		t.Errorf("list item members: got %v, want %v", got, want)
	}
	if strings.Contains(string(res.Body), k.APISecret) {
		t.Error("the list shows the secret")
	}
	if list[0]["lastFourOfSecret"] != k.LastFourOfSecret || list[0]["id"] != float64(k.ID) {
		t.Errorf("list item %v", list[0])
	}
	perms := list[0]["permissions"].([]any)
	if len(perms) != 2 || perms[0].(map[string]any)["permission"] != "readApplications" || perms[1].(map[string]any)["permission"] != "writeApplications" {
		t.Errorf("permissions %v", perms)
	}
	if want, got := sorted("id", "permission", "description", "category"), sorted(keys(perms[0].(map[string]any))...); !slices.Equal(want, got) {
		t.Errorf("permission members: got %v, want %v", got, want)
	}

	// DELETE /apikeys/{id}: 200 {"success": true}; then it is gone.
	path := "/apikeys/" + strconv.FormatInt(k.ID, 10)
	res = f.pulse("DELETE", path, nil)
	if res.Status != http.StatusOK || string(res.Body) != "{\"success\":true}\n" {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	res = f.pulse("DELETE", path, nil)
	if res.Status != http.StatusNotFound || string(res.Body) != "{\"error\":\"API key not found\"}\n" {
		t.Errorf("second delete: %d %s", res.Status, res.Body)
	}
	if res := f.pulse("GET", "/apikeys", nil); string(res.Body) != "[]\n" {
		t.Errorf("list after delete: %s", res.Body)
	}
}

func TestSeedPermissions(t *testing.T) {
	f := newFixture(t)

	// GET /permissions: Permission objects {id, permission, description, category}.
	res := f.pulse("GET", "/permissions", nil)
	if res.Status != http.StatusOK {
		t.Fatalf("permissions: %d %s", res.Status, res.Body)
	}
	var perms []map[string]any
	res.JSON(t, &perms)
	var names []string
	ids := map[float64]bool{}
	for _, p := range perms {
		if want, got := sorted("id", "permission", "description", "category"), sorted(keys(p)...); !slices.Equal(want, got) {
			t.Errorf("permission members: got %v, want %v", got, want)
		}
		names = append(names, p["permission"].(string))
		ids[p["id"].(float64)] = true
	}
	// Every name PulseCRM's docs mention, spelt as they spell it.
	for _, want := range []string{"readApplications", "writeApplications", "readMerchants", "writeMerchants", "writeApiKeys", "readSupport", "readCRM"} {
		if !slices.Contains(names, want) {
			t.Errorf("permissions lack %s: %v", want, names)
		}
	}
	if len(ids) != len(perms) {
		t.Errorf("permission ids repeat: %v", perms)
	}

	// ?detailed, with no value or any: grouped by category, with descriptions.
	for _, q := range []string{"?detailed", "?detailed=true", "?detailed=1"} {
		res := f.pulse("GET", "/permissions"+q, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", q, res.Status, res.Body)
		}
		var chart map[string][]map[string]string
		res.JSON(t, &chart)
		crm := chart["crm"]
		if len(chart) != 3 || len(crm) == 0 {
			t.Fatalf("%s: %s", q, res.Body)
		}
		found := false
		for _, e := range crm {
			if e["permission"] == "readCRM" {
				found = e["name"] == "View CRM" && e["description"] != ""
			}
			if want, got := sorted("name", "description", "permission"), sorted(keys(e)...); !slices.Equal(want, got) {
				t.Errorf("chart entry members: got %v, want %v", got, want)
			}
		}
		if !found {
			t.Errorf("%s: no readCRM entry named View CRM: %v", q, crm)
		}
	}

	// accountId (super-admin only): the operator key names the account.
	res = f.Do("GET", base+"/permissions?accountId="+f.acct, nil, "Authorization: Bearer "+f.Op)
	if res.Status != http.StatusOK || !strings.Contains(string(res.Body), `"readCRM"`) {
		t.Errorf("accountId with the operator key: %d %s", res.Status, res.Body)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

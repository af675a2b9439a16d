package compat_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/compat"
	"github.com/keyward/keyward/compat/compattest"
)

// dialect is what the cross-dialect test needs of one wire format: how to
// create a key, find a key by name in its list (its id there and whether
// it is enabled), disable one, and delete one.
type dialect struct {
	name    string
	create  func(e *compattest.Env, name string)
	find    func(e *compattest.Env, name string) (id string, enabled bool)
	disable func(e *compattest.Env, id string) // nil: the format has no status
	rename  func(e *compattest.Env, id, name string)
	delete  func(e *compattest.Env, id string)
}

// must fails the test unless res has status want, and returns its body.
func must(e *compattest.Env, what string, res *compattest.Response, want int) map[string]any {
	e.T.Helper()
	if res.Status != want {
		e.T.Fatalf("%s: %d, want %d\n%s", what, res.Status, want, res.Body)
	}
	if len(res.Body) == 0 {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(res.Body, &m) != nil {
		return nil // a bare array
	}
	return m
}

// listed finds the key named name in a dialect's list answer res (a 200):
// the keys are the array at member items ("": the answer itself), each
// one's id at idMember and name at nameMember; enabled says whether a key
// is enabled (nil: never).
func listed(e *compattest.Env, what string, res *compattest.Response, items, idMember, nameMember, name string, enabled func(k map[string]any) bool) (id string, on, found bool) {
	e.T.Helper()
	must(e, what, res, http.StatusOK)
	d := json.NewDecoder(bytes.NewReader(res.Body))
	d.UseNumber() // PulseCRM's ids are integers
	var list any
	if err := d.Decode(&list); err != nil {
		e.T.Fatalf("%s: %v", what, err)
	}
	if items != "" {
		list = list.(map[string]any)[items]
	}
	for _, k := range list.([]any) {
		k := k.(map[string]any)
		if k[nameMember] == name {
			return fmt.Sprint(k[idMember]), enabled != nil && enabled(k), true
		}
	}
	return "", false, false
}

// enabledMember says whether a key with an enabled member (Vectara's,
// Unkey's) is enabled.
func enabledMember(k map[string]any) bool { return k["enabled"] == true }

func dialects() []dialect {
	orqH := func(e *compattest.Env) string { return "Authorization: Bearer " + e.Op }
	discueH := func(e *compattest.Env) string { return "X-API-KEY: " + e.Op }
	pulseH := func(e *compattest.Env) string { return "Authorization: Bearer " + e.Op }
	vecH := func(e *compattest.Env) string { return "x-api-key: " + e.Op }
	unkeyH := func(e *compattest.Env) string { return "Authorization: Bearer " + e.Op }
	unkey := func(e *compattest.Env, proc string, body any) map[string]any {
		e.T.Helper()
		m := must(e, "unkey "+proc, e.Do("POST", "/compat/unkey/v2/"+proc, body, unkeyH(e)), http.StatusOK)
		d, _ := m["data"].(map[string]any)
		return d
	}
	// unkeyAPI is the Unkey api (a project) the cross test's keys are
	// made in, created on first use.
	unkeyAPI := func(e *compattest.Env) string {
		e.T.Helper()
		var l struct {
			Data []struct{ ID, Name string } `json:"data"`
		}
		e.Get("", "/v1/projects", &l)
		for _, p := range l.Data {
			if p.Name == "unkey" {
				return "api_" + strings.TrimPrefix(p.ID, "prj_")
			}
		}
		return unkey(e, "apis.createApi", map[string]any{"name": "unkey"})["apiId"].(string)
	}
	return []dialect{
		{
			name: "orq",
			create: func(e *compattest.Env, name string) {
				must(e, "orq create", e.Do("POST", "/compat/orq/v2/api-keys", map[string]any{"name": name}, orqH(e)), http.StatusOK)
			},
			find: func(e *compattest.Env, name string) (string, bool) {
				res := e.Do("GET", "/compat/orq/v2/api-keys?limit=200", nil, orqH(e))
				id, enabled, _ := listed(e, "orq list", res, "data", "api_key_id", "name", name, func(k map[string]any) bool {
					return k["status"] == "API_KEY_STATUS_ACTIVE"
				})
				return id, enabled
			},
			disable: func(e *compattest.Env, id string) {
				must(e, "orq disable", e.Do("PATCH", "/compat/orq/v2/api-keys/"+id, map[string]any{"status": "API_KEY_STATUS_DISABLED"}, orqH(e)), http.StatusOK)
			},
			rename: func(e *compattest.Env, id, name string) {
				must(e, "orq rename", e.Do("PATCH", "/compat/orq/v2/api-keys/"+id, map[string]any{"name": name}, orqH(e)), http.StatusOK)
			},
			delete: func(e *compattest.Env, id string) {
				must(e, "orq delete", e.Do("DELETE", "/compat/orq/v2/api-keys/"+id, nil, orqH(e)), http.StatusOK)
			},
		},
		{
			name: "discue",
			create: func(e *compattest.Env, name string) {
				must(e, "discue create", e.Do("POST", "/compat/discue/v1/api_keys", map[string]any{"name": name}, discueH(e)), http.StatusOK)
			},
			find: func(e *compattest.Env, name string) (string, bool) {
				res := e.Do("GET", "/compat/discue/v1/api_keys", nil, discueH(e))
				id, enabled, _ := listed(e, "discue list", res, "api_keys", "id", "name", name, func(k map[string]any) bool {
					return k["status"] == "enabled"
				})
				return id, enabled
			},
			disable: func(e *compattest.Env, id string) {
				// discue's PUT states the key: name and status (the
				// scopes omitted keep the account's default set).
				var g struct {
					APIKey struct{ Name string } `json:"api_key"`
				}
				res := e.Do("GET", "/compat/discue/v1/api_keys/"+id, nil, discueH(e))
				must(e, "discue get", res, http.StatusOK)
				res.JSON(e.T, &g)
				must(e, "discue disable", e.Do("PUT", "/compat/discue/v1/api_keys/"+id, map[string]any{"name": g.APIKey.Name, "status": "disabled"}, discueH(e)), http.StatusOK)
			},
			rename: func(e *compattest.Env, id, name string) {
				must(e, "discue rename", e.Do("PUT", "/compat/discue/v1/api_keys/"+id, map[string]any{"name": name}, discueH(e)), http.StatusOK)
			},
			delete: func(e *compattest.Env, id string) {
				must(e, "discue delete", e.Do("DELETE", "/compat/discue/v1/api_keys/"+id, nil, discueH(e)), http.StatusOK)
			},
		},
		{
			name: "pulsecrm",
			create: func(e *compattest.Env, name string) {
				must(e, "pulsecrm create", e.Do("POST", "/compat/pulsecrm/apikeys", map[string]any{"description": name, "flatPermissionsList": []string{}}, pulseH(e)), http.StatusCreated)
			},
			find: func(e *compattest.Env, name string) (string, bool) {
				res := e.Do("GET", "/compat/pulsecrm/apikeys", nil, pulseH(e))
				// PulseCRM shows no status.
				id, _, found := listed(e, "pulsecrm list", res, "", "id", "description", name, nil)
				return id, found
			},
			rename: func(e *compattest.Env, id, name string) {
				// PulseCRM's PATCH requires the permissions: send back
				// what the key holds, which changes nothing.
				var l []struct {
					ID    json.Number `json:"id"`
					Perms []struct {
						Permission string `json:"permission"`
					} `json:"permissions"`
				}
				res := e.Do("GET", "/compat/pulsecrm/apikeys", nil, pulseH(e))
				res.JSON(e.T, &l)
				perms := []string{}
				for _, k := range l {
					if k.ID.String() == id {
						for _, p := range k.Perms {
							perms = append(perms, p.Permission)
						}
					}
				}
				must(e, "pulsecrm rename", e.Do("PATCH", "/compat/pulsecrm/apikeys/"+id, map[string]any{"description": name, "flatPermissionsList": perms}, pulseH(e)), http.StatusOK)
			},
			delete: func(e *compattest.Env, id string) {
				must(e, "pulsecrm delete", e.Do("DELETE", "/compat/pulsecrm/apikeys/"+id, nil, pulseH(e)), http.StatusOK)
			},
		},
		{
			name: "vectara",
			create: func(e *compattest.Env, name string) {
				must(e, "vectara create", e.Do("POST", "/compat/vectara/v2/api_keys", map[string]any{"name": name, "api_key_role": "personal"}, vecH(e)), http.StatusCreated)
			},
			find: func(e *compattest.Env, name string) (string, bool) {
				res := e.Do("GET", "/compat/vectara/v2/api_keys?limit=100", nil, vecH(e))
				id, enabled, _ := listed(e, "vectara list", res, "api_keys", "id", "name", name, enabledMember)
				return id, enabled
			},
			disable: func(e *compattest.Env, id string) {
				must(e, "vectara disable", e.Do("PATCH", "/compat/vectara/v2/api_keys/"+id, map[string]any{"enabled": false}, vecH(e)), http.StatusOK)
			},
			rename: nil,
			delete: func(e *compattest.Env, id string) {
				must(e, "vectara delete", e.Do("DELETE", "/compat/vectara/v2/api_keys/"+id, nil, vecH(e)), http.StatusNoContent)
			},
		},
		{
			name: "unkey",
			create: func(e *compattest.Env, name string) {
				unkey(e, "keys.createKey", map[string]any{"apiId": unkeyAPI(e), "name": name})
			},
			// Unkey lists the keys of one api (apis.listKeys); a key of
			// all projects is in none, and Unkey reaches it by its id
			// (keys.getKey), which is the native id.
			find: func(e *compattest.Env, name string) (string, bool) {
				res := e.Do("POST", "/compat/unkey/v2/apis.listKeys", map[string]any{"apiId": unkeyAPI(e)}, unkeyH(e))
				if id, enabled, found := listed(e, "unkey listKeys", res, "data", "keyId", "name", name, enabledMember); found {
					return id, enabled
				}
				var keys []map[string]any
				e.List("", "/v1/keys?limit=200", &keys)
				for _, k := range keys {
					if k["name"] != name {
						continue
					}
					res := e.Do("POST", "/compat/unkey/v2/keys.getKey", map[string]any{"keyId": k["id"]}, unkeyH(e))
					if res.Status != http.StatusOK {
						return "", false
					}
					d := must(e, "unkey getKey", res, http.StatusOK)["data"].(map[string]any)
					if d["name"] != name {
						e.T.Fatalf("unkey getKey %v: name %v", k["id"], d["name"])
					}
					return d["keyId"].(string), d["enabled"] == true
				}
				return "", false
			},
			disable: func(e *compattest.Env, id string) {
				unkey(e, "keys.updateKey", map[string]any{"keyId": id, "enabled": false})
			},
			rename: func(e *compattest.Env, id, name string) {
				unkey(e, "keys.updateKey", map[string]any{"keyId": id, "name": name})
			},
			delete: func(e *compattest.Env, id string) {
				unkey(e, "keys.deleteKey", map[string]any{"keyId": id, "permanent": true})
			},
		},
	}
}

// nativeKey returns the native key named name and the dialects of its
// audit events, oldest first.
func nativeKey(e *compattest.Env, name string) (map[string]any, []string) {
	e.T.Helper()
	var keys []map[string]any
	e.List("", "/v1/keys?limit=200", &keys)
	for _, k := range keys {
		if k["name"] == name {
			var ev []struct{ Action, Dialect string }
			e.List("", "/v1/audit-events?target_id="+k["id"].(string), &ev)
			var ds []string
			for i := len(ev) - 1; i >= 0; i-- {
				ds = append(ds, ev[i].Action+"@"+ev[i].Dialect)
			}
			return k, ds
		}
	}
	return nil, nil
}

// TestCrossDialect: a key created through any dialect is visible through
// the native API and every other dialect; a change made through one is
// seen through all the others; the audit log names the dialect of each
// change.
func TestCrossDialect(t *testing.T) {
	e := compattest.New(t, compat.Mount, compattest.Options{})
	ds := dialects()
	for _, d := range ds {
		d.create(e, "made by "+d.name)
	}
	for _, d := range ds {
		name := "made by " + d.name
		k, events := nativeKey(e, name)
		if k == nil {
			t.Fatalf("the key created through %s is not in the native list", d.name)
		}
		if k["status"] != "active" || k["kind"] != "api" {
			t.Errorf("%s's key natively: status %v kind %v", d.name, k["status"], k["kind"])
		}
		if want := []string{"key.created@" + d.name}; strings.Join(events, ",") != strings.Join(want, ",") {
			t.Errorf("%s's key: audit %v, want %v", d.name, events, want)
		}
		for _, other := range ds {
			if id, enabled := other.find(e, name); id == "" || !enabled {
				t.Errorf("the key created through %s, seen through %s: id %q enabled %v", d.name, other.name, id, enabled)
			}
		}
	}

	// Each dialect with a status disables the key the next one made;
	// everyone sees it disabled, and the audit says who.
	for i, d := range ds {
		if d.disable == nil {
			continue
		}
		target := "made by " + ds[(i+1)%len(ds)].name
		id, _ := d.find(e, target)
		d.disable(e, id)
		k, events := nativeKey(e, target)
		if k["status"] != "disabled" {
			t.Errorf("%s disabled %q: native status %v", d.name, target, k["status"])
		}
		if last := events[len(events)-1]; last != "key.updated@"+d.name {
			t.Errorf("%s disabled %q: last audit event %s", d.name, target, last)
		}
		for _, other := range ds {
			if other.disable == nil {
				continue
			}
			if id, enabled := other.find(e, target); id == "" || enabled {
				t.Errorf("%s disabled %q; %s shows id %q enabled %v", d.name, target, other.name, id, enabled)
			}
		}
	}

	// Renames: each dialect that can renames the key of the one before;
	// the others find it under its new name.
	for i, d := range ds {
		if d.rename == nil {
			continue
		}
		target := "made by " + ds[(i+len(ds)-1)%len(ds)].name
		id, _ := d.find(e, target)
		renamed := fmt.Sprintf("%s, renamed by %s", target, d.name)
		d.rename(e, id, renamed)
		for _, other := range ds {
			if id, _ := other.find(e, renamed); id == "" {
				t.Errorf("%s renamed %q to %q; %s does not find it", d.name, target, renamed, other.name)
			}
		}
		if k, _ := nativeKey(e, renamed); k == nil {
			t.Errorf("%s renamed %q to %q; the native list does not have it", d.name, target, renamed)
		}
	}

	// Every dialect deletes a key another made: gone everywhere.
	var l struct {
		Data []map[string]any `json:"data"`
	}
	res := e.Native("GET", "/v1/keys?limit=200", nil)
	res.JSON(t, &l)
	if len(l.Data) != len(ds) {
		t.Fatalf("%d keys natively, want %d", len(l.Data), len(ds))
	}
	for i, d := range ds {
		name := l.Data[i]["name"].(string)
		nid := l.Data[i]["id"].(string)
		id, _ := d.find(e, name)
		d.delete(e, id)
		must(e, "native get of a deleted key", e.Native("GET", "/v1/keys/"+nid, nil), http.StatusNotFound)
		for _, other := range ds {
			if id, _ := other.find(e, name); id != "" {
				t.Errorf("%s deleted %q; %s still lists it as %s", d.name, name, other.name, id)
			}
		}
		if _, events := nativeKey(e, name); events != nil {
			t.Errorf("deleted key %q still listed natively", name)
		}
	}
}

// TestUnkeyKeysAreKeywardKeys: a key made through the Unkey dialect
// verifies natively with the permissions it was given, and a key made
// natively or through another dialect verifies through Unkey's
// verifyKey, its permissions checked with Unkey's query language.
func TestUnkeyKeysAreKeywardKeys(t *testing.T) {
	e := compattest.New(t, compat.Mount, compattest.Options{})
	call := func(proc string, body any) map[string]any {
		t.Helper()
		m := must(e, proc, e.Do("POST", "/compat/unkey/v2/"+proc, body, "Authorization: Bearer "+e.Op), http.StatusOK)
		return m["data"].(map[string]any)
	}
	nativeVerify := func(tok, perms string) string {
		t.Helper()
		body := map[string]any{"key": tok}
		if perms != "" {
			body["permissions"] = perms
		}
		return must(e, "native verify", e.Native("POST", "/v1/keys/verify", body), http.StatusOK)["code"].(string)
	}
	api := call("apis.createApi", map[string]any{"name": "cross"})["apiId"].(string)
	made := call("keys.createKey", map[string]any{"apiId": api, "name": "u", "permissions": []string{"documents", "files:write"}})
	tok, id := made["key"].(string), made["keyId"].(string)
	for q, want := range map[string]string{"documents:read": "VALID", "documents:write": "INSUFFICIENT_PERMISSIONS",
		"files:write": "VALID", "search:read": "INSUFFICIENT_PERMISSIONS"} {
		if c := nativeVerify(tok, q); c != want {
			t.Errorf("the Unkey key natively, %s: %s, want %s", q, c, want)
		}
	}
	var k map[string]any
	e.Get("", "/v1/keys/"+id, &k)
	if k["permission_mode"] != "restricted" || k["project_id"] != "prj_"+strings.TrimPrefix(api, "api_") || len(k["scopes"].([]any)) != 2 {
		t.Fatalf("the Unkey key natively: %v", k)
	}
	// Natively disabled: Unkey says DISABLED.
	must(e, "native disable", e.Native("PATCH", "/v1/keys/"+id, map[string]any{"status": "disabled"}), http.StatusOK)
	if v := call("keys.verifyKey", map[string]any{"key": tok}); v["code"] != "DISABLED" {
		t.Fatalf("natively disabled: %v", v)
	}

	// A native restricted key, checked in Unkey's words.
	res := e.Native("POST", "/v1/keys", map[string]any{"name": "n", "permission_mode": "restricted",
		"scopes": []any{map[string]any{"resource": "documents", "access": "read"}}})
	nk := must(e, "native create", res, http.StatusCreated)
	for q, want := range map[string]string{"documents": "VALID", "documents:write": "INSUFFICIENT_PERMISSIONS",
		"documents OR files": "VALID", "documents AND files": "INSUFFICIENT_PERMISSIONS"} {
		if v := call("keys.verifyKey", map[string]any{"key": nk["secret"], "permissions": q}); v["code"] != want {
			t.Errorf("native key, %q: %v, want %s", q, v["code"], want)
		}
	}
	// A discue key, read and verified through Unkey.
	o := must(e, "discue create", e.Do("POST", "/compat/discue/v1/api_keys", map[string]any{"name": "from discue"}, "X-API-KEY: "+e.Op), http.StatusOK)
	otok, _ := o["api_key"].(string)
	oid, _ := nativeKey(e, "from discue")
	if oid == nil {
		t.Fatalf("the discue key is not listed natively")
	}
	var g map[string]any
	if g = call("keys.getKey", map[string]any{"keyId": oid["id"]}); g["name"] != "from discue" || g["enabled"] != true {
		t.Fatalf("the discue key through Unkey: %v", g)
	}
	if v := call("keys.verifyKey", map[string]any{"key": otok}); v["code"] != "VALID" || v["keyId"] != g["keyId"] {
		t.Fatalf("the discue key verified through Unkey: %v", v)
	}
}

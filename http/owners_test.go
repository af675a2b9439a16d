package http_test

// Key owners: a user-owned key never has more power than the user's current
// roles (docs/permissions.md), a disabled owner's keys fail OWNER_INACTIVE, and deleting
// an owner revokes its keys, one audit event each.

import (
	"fmt"
	"slices"
	"testing"

	"github.com/keyward/keyward"
)

func meOwner(typ, id string) map[string]any { return map[string]any{"type": typ, "id": id} }

// meScopesText renders verify's or whoami's scopes for comparison.
func meScopesText(v any) string { return fmt.Sprint(v) }

func TestMeOwnerAtCreation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acct := defaultAccount(t, e)
	u := create(t, e, nil, "/v1/users", map[string]any{"name": "owner"})["id"].(string)
	u2 := create(t, e, nil, "/v1/users", map[string]any{"name": "someone else"})["id"].(string)
	sa := create(t, e, nil, "/v1/service-accounts", map[string]any{"name": "ci"})["id"].(string)
	other := account(t, e, "me other")
	inOther := map[string]string{"X-Account-Id": other}
	ou := create(t, e, inOther, "/v1/users", map[string]any{"name": "elsewhere"})["id"].(string)
	osa := create(t, e, inOther, "/v1/service-accounts", map[string]any{"name": "ci"})["id"].(string)

	for _, c := range []struct {
		name  string
		owner any // nil: absent
		want  map[string]any
	}{
		{"default", nil, meOwner("account", acct)},
		{"account without id", map[string]any{"type": "account"}, meOwner("account", acct)},
		{"account with its id", meOwner("account", acct), meOwner("account", acct)},
		{"user", meOwner("user", u), meOwner("user", u)},
		{"service account", meOwner("service_account", sa), meOwner("service_account", sa)},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := map[string]any{"name": "me " + c.name}
			if c.owner != nil {
				body["owner"] = c.owner
			}
			k := must(t, e, 201, req{Method: "POST", Path: "/v1/keys", Body: body}).JSON(t)
			if fmt.Sprint(k["owner"]) != fmt.Sprint(c.want) {
				t.Errorf("owner %v, want %v", k["owner"], c.want)
			}
		})
	}

	for _, c := range []struct {
		name  string
		owner any
		field string
	}{
		{"unknown user", meOwner("user", newID(keyward.PrefixUser)), "owner.id"},
		{"malformed user id", meOwner("user", "usr_nope"), "owner.id"},
		{"service account id as user", meOwner("user", sa), "owner.id"},
		{"user id as service account", meOwner("service_account", u), "owner.id"},
		{"unknown service account", meOwner("service_account", newID(keyward.PrefixService)), "owner.id"},
		{"another account's user", meOwner("user", ou), "owner.id"},
		{"another account's service account", meOwner("service_account", osa), "owner.id"},
		{"another account", meOwner("account", other), "owner.id"},
		{"unknown type", meOwner("group", u), "owner.type"},
		{"null", nil, "owner"},
	} {
		t.Run("refused "+c.name, func(t *testing.T) {
			meInvalidReq(t, e, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "x", "owner": c.owner}}, c.field)
		})
	}

	// The owner never changes.
	k := must(t, e, 201, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "owned", "owner": meOwner("user", u)}}).JSON(t)
	id := k["id"].(string)
	for _, r := range []req{
		{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"owner": meOwner("user", u2)}},
		{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"owner": meOwner("account", acct)}},
		{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"owner": meOwner("service_account", sa)}},
		{Method: "PATCH", Path: "/v1/keys/" + id, Body: map[string]any{"owner": nil}},
		{Method: "PUT", Path: "/v1/keys/" + id, Body: map[string]any{"name": "owned", "owner": meOwner("user", u2)}},
	} {
		meInvalidReq(t, e, r, "owner")
	}
	// Sending back the current owner is accepted, and PUT keeps the owner.
	if got := patch(t, e, "/v1/keys/"+id, map[string]any{"owner": meOwner("user", u)}); got["etag"] != k["etag"] {
		t.Errorf("PATCH with the same owner changed the key")
	}
	put := must(t, e, 200, req{Method: "PUT", Path: "/v1/keys/" + id, Body: map[string]any{"name": "owned again"}}).JSON(t)
	if fmt.Sprint(put["owner"]) != fmt.Sprint(meOwner("user", u)) {
		t.Errorf("PUT without owner: owner %v", put["owner"])
	}

	ids, _ := meIDs(t, e, "/v1/keys?owner_type=user&owner_id="+u)
	if len(ids) != 2 || !slices.Contains(ids, id) {
		t.Errorf("keys?owner_type=user&owner_id=u: %v", ids)
	}
	ids, _ = meIDs(t, e, "/v1/keys?owner_type=service_account")
	if len(ids) != 1 {
		t.Errorf("keys?owner_type=service_account: %v", ids)
	}
}

// TestMeUserBoundsKey: each check must pass for the key and for the owner's
// current roles; the verify answer's scopes are the intersection.
func TestMeUserBoundsKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	meRole(t, e, "reader", scope("documents", "read"))
	meRole(t, e, "writer", scope("documents", "write"))
	meRole(t, e, "bc", scope("documents", "read", "b", "c"))
	u := create(t, e, nil, "/v1/users", map[string]any{"name": "reader", "roles": []string{"reader"}})["id"].(string)
	uPath := "/v1/users/" + u
	_, all := apiKey(t, e, nil, map[string]any{"name": "all", "permission_mode": "all", "owner": meOwner("user", u)})

	readDocs := "[map[access:read resource:documents targets:[*]]]"
	v := meVerifyCode(t, e, all, "", "VALID")
	if meScopesText(v["scopes"]) != readDocs || fmt.Sprint(v["owner"]) != fmt.Sprint(meOwner("user", u)) {
		t.Errorf("verify: scopes %v owner %v", v["scopes"], v["owner"])
	}
	meVerifyCode(t, e, all, "documents:read", "VALID")
	meVerifyCode(t, e, all, "documents:read:d_1", "VALID")
	meVerifyCode(t, e, all, "documents:write", "INSUFFICIENT_PERMISSIONS")
	meVerifyCode(t, e, all, "files:read", "INSUFFICIENT_PERMISSIONS")
	meVerifyCode(t, e, all, "files:read OR documents:read", "VALID")
	who := must(t, e, 200, req{Method: "GET", Path: "/v1/whoami", Token: all}).JSON(t)
	if meScopesText(who["effective_scopes"]) != readDocs {
		t.Errorf("whoami effective_scopes %v, want %s", who["effective_scopes"], readDocs)
	}

	// Targets intersect: key [a b] ∩ role [b c] = [b].
	u2 := create(t, e, nil, "/v1/users", map[string]any{"name": "bc", "roles": []string{"bc"}})["id"].(string)
	_, ab := apiKey(t, e, nil, map[string]any{"name": "ab", "permission_mode": "restricted",
		"scopes": []any{scope("documents", "read", "a", "b")}, "owner": meOwner("user", u2)})
	v = meVerifyCode(t, e, ab, "documents:read:b", "VALID")
	if got := meScopesText(v["scopes"]); got != "[map[access:read resource:documents targets:[b]]]" {
		t.Errorf("intersected scopes %s, want documents read [b]", got)
	}
	meVerifyCode(t, e, ab, "documents:read:a", "INSUFFICIENT_PERMISSIONS")
	meVerifyCode(t, e, ab, "documents:read:c", "INSUFFICIENT_PERMISSIONS")
	meVerifyCode(t, e, ab, "documents:read:*", "INSUFFICIENT_PERMISSIONS")
	meVerifyCode(t, e, ab, "documents:read", "VALID")

	// Levels meet: a read-only key of a writer reads; a writer's mode-all key writes.
	u3 := create(t, e, nil, "/v1/users", map[string]any{"name": "writer", "roles": []string{"writer"}})["id"].(string)
	_, ro := apiKey(t, e, nil, map[string]any{"name": "ro", "permission_mode": "read_only", "owner": meOwner("user", u3)})
	v = meVerifyCode(t, e, ro, "documents:read", "VALID")
	if meScopesText(v["scopes"]) != readDocs {
		t.Errorf("read_only key of a writer: scopes %v", v["scopes"])
	}
	meVerifyCode(t, e, ro, "documents:write", "INSUFFICIENT_PERMISSIONS")
	_, w := apiKey(t, e, nil, map[string]any{"name": "w", "owner": meOwner("user", u3)})
	meVerifyCode(t, e, w, "documents:write", "VALID")

	// The user's roles change: the very next verification follows.
	patch(t, e, uPath, map[string]any{"roles": []string{}})
	v = meVerifyCode(t, e, all, "documents:read", "INSUFFICIENT_PERMISSIONS")
	if meScopesText(v["scopes"]) != "[]" {
		t.Errorf("scopes of a key whose user has no roles: %v", v["scopes"])
	}
	meVerifyCode(t, e, all, "", "VALID")
	patch(t, e, uPath, map[string]any{"roles": []string{"writer"}})
	meVerifyCode(t, e, all, "documents:write", "VALID")
	patch(t, e, uPath, map[string]any{"roles": []string{"reader"}})
	meVerifyCode(t, e, all, "documents:write", "INSUFFICIENT_PERMISSIONS")
	// So does a change to what a role grants.
	patch(t, e, "/v1/roles/reader", map[string]any{"scopes": []any{scope("files", "read")}})
	meVerifyCode(t, e, all, "files:read", "VALID")
	meVerifyCode(t, e, all, "documents:read", "INSUFFICIENT_PERMISSIONS")
	patch(t, e, "/v1/roles/reader", map[string]any{"scopes": []any{scope("documents", "read")}})

	// Disabling the user stops its keys until it is enabled again.
	patch(t, e, uPath, map[string]any{"status": "disabled"})
	meVerifyCode(t, e, all, "", "OWNER_INACTIVE")
	meVerifyCode(t, e, all, "documents:read", "OWNER_INACTIVE")
	meRefused(t, e, req{Method: "GET", Path: "/v1/whoami", Token: all}, 401, "unauthenticated")
	meVerifyCode(t, e, w, "documents:write", "VALID") // another user's key
	patch(t, e, uPath, map[string]any{"status": "active"})
	meVerifyCode(t, e, all, "documents:read", "VALID")
	must(t, e, 200, req{Method: "GET", Path: "/v1/whoami", Token: all})

	// A key's own status comes first.
	_, dis := apiKey(t, e, nil, map[string]any{"name": "dis", "status": "disabled", "owner": meOwner("user", u)})
	patch(t, e, uPath, map[string]any{"status": "disabled"})
	meVerifyCode(t, e, dis, "", "DISABLED")
}

// TestMeUserWithoutRoles: a key owned by a user without roles can do
// nothing, whatever it holds itself.
func TestMeUserWithoutRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := create(t, e, nil, "/v1/users", map[string]any{"name": "nobody"})["id"].(string)
	for _, body := range []map[string]any{
		{"name": "all", "owner": meOwner("user", u)},
		{"name": "ro", "permission_mode": "read_only", "owner": meOwner("user", u)},
		{"name": "restricted", "permission_mode": "restricted", "scopes": []any{scope("documents", "write")}, "owner": meOwner("user", u)},
	} {
		_, s := apiKey(t, e, nil, body)
		v := meVerifyCode(t, e, s, "", "VALID")
		if meScopesText(v["scopes"]) != "[]" {
			t.Errorf("%s: scopes %v, want []", body["name"], v["scopes"])
		}
		meVerifyCode(t, e, s, "documents:read", "INSUFFICIENT_PERMISSIONS")
		meVerifyCode(t, e, s, "search:read", "INSUFFICIENT_PERMISSIONS")
		who := must(t, e, 200, req{Method: "GET", Path: "/v1/whoami", Token: s}).JSON(t)
		if meScopesText(who["effective_scopes"]) != "[]" {
			t.Errorf("%s: whoami effective_scopes %v", body["name"], who["effective_scopes"])
		}
	}
}

// meRevokedOnce checks that key was revoked by exactly one key.revoked
// event (carrying a reason when withReason: a revocation as the consequence
// of another change), and that it verifies REVOKED.
func meRevokedOnce(t *testing.T, e *testEnv, id, secret string, withReason bool) {
	t.Helper()
	k := must(t, e, 200, req{Method: "GET", Path: "/v1/keys/" + id}).JSON(t)
	if k["status"] != "revoked" {
		t.Errorf("key %s: status %v, want revoked", id, k["status"])
	}
	evs := events(t, e, "target_id="+id+"&action="+"key.revoked", nil)
	if len(evs) != 1 {
		t.Fatalf("key %s: %d key.revoked events, want 1", id, len(evs))
	}
	ch, _ := evs[0]["changes"].(map[string]any)
	reason, _ := ch["reason"].(map[string]any)
	status, _ := ch["status"].(map[string]any)
	if s, _ := reason["after"].(string); withReason && s == "" {
		t.Errorf("key %s: key.revoked without a reason: %v", id, ch)
	}
	if status["after"] != "revoked" || status["before"] == "revoked" {
		t.Errorf("key %s: status change %v", id, status)
	}
	meVerifyCode(t, e, secret, "", "REVOKED")
}

// TestMeDeleteUserRevokesKeys: deleting a user revokes every key it owns
// (one key.revoked event each), and nothing else.
func TestMeDeleteUserRevokesKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	meRole(t, e, "reader", scope("documents", "read"))
	u := create(t, e, nil, "/v1/users", map[string]any{"name": "leaver", "roles": []string{"reader"}})["id"].(string)
	u2 := create(t, e, nil, "/v1/users", map[string]any{"name": "stayer", "roles": []string{"reader"}})["id"].(string)
	sa := create(t, e, nil, "/v1/service-accounts", map[string]any{"name": "ci"})["id"].(string)

	k1, s1 := apiKey(t, e, nil, map[string]any{"name": "k1", "owner": meOwner("user", u)})
	k2, s2 := apiKey(t, e, nil, map[string]any{"name": "k2", "status": "disabled", "owner": meOwner("user", u)})
	k3, s3 := apiKey(t, e, nil, map[string]any{"name": "k3", "owner": meOwner("user", u)})
	patch(t, e, "/v1/keys/"+k3, map[string]any{"status": "revoked"}) // already revoked: no second event
	others := map[string]string{}
	for name, owner := range map[string]any{"stayer": meOwner("user", u2), "ci": meOwner("service_account", sa), "account": nil} {
		body := map[string]any{"name": name}
		if owner != nil {
			body["owner"] = owner
		}
		id, s := apiKey(t, e, nil, body)
		others[id] = s
	}
	etags := map[string]any{}
	for id := range others {
		etags[id] = must(t, e, 200, req{Method: "GET", Path: "/v1/keys/" + id}).JSON(t)["etag"]
	}

	before := e.auditCount()
	must(t, e, 204, req{Method: "DELETE", Path: "/v1/users/" + u})
	if n := e.auditCount() - before; n != 3 {
		t.Errorf("deleting a user with 2 live keys wrote %d audit events, want 3 (2 key.revoked + user.deleted)", n)
	}
	meRevokedOnce(t, e, k1, s1, true)
	meRevokedOnce(t, e, k2, s2, true)
	meRevokedOnce(t, e, k3, s3, false) // revoked before, by hand
	for id, s := range others {
		k := must(t, e, 200, req{Method: "GET", Path: "/v1/keys/" + id}).JSON(t)
		if k["etag"] != etags[id] || k["status"] != "active" {
			t.Errorf("key %s of another owner changed: %v", id, k)
		}
		meVerifyCode(t, e, s, "", "VALID")
	}
	// The revoked keys stay, owned by the deleted user, and stay revoked.
	ids, _ := meIDs(t, e, "/v1/keys?owner_id="+u)
	meSameIDs(t, "keys of the deleted user", ids, k3, k2, k1)
	meRefused(t, e, req{Method: "PATCH", Path: "/v1/keys/" + k1, Body: map[string]any{"status": "active"}}, 409, "key_revoked")
	meInvalidReq(t, e, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "x", "owner": meOwner("user", u)}}, "owner.id")
}

// TestMeServiceAccountOwner: service-account keys are not bounded by roles,
// stop while it is disabled, and are revoked when it is deleted.
func TestMeServiceAccountOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sa := create(t, e, nil, "/v1/service-accounts", map[string]any{"name": "ci"})["id"].(string)
	sa2 := create(t, e, nil, "/v1/service-accounts", map[string]any{"name": "cron"})["id"].(string)
	k, s := apiKey(t, e, nil, map[string]any{"name": "ci key", "owner": meOwner("service_account", sa)})
	_, ro := apiKey(t, e, nil, map[string]any{"name": "ci ro", "permission_mode": "read_only", "owner": meOwner("service_account", sa)})
	k2, s2 := apiKey(t, e, nil, map[string]any{"name": "cron key", "owner": meOwner("service_account", sa2)})

	v := meVerifyCode(t, e, s, "documents:write AND files:write", "VALID")
	all := verify(t, e, nil, map[string]any{"key": must(t, e, 201, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "plain"}}).JSON(t)["secret"]})
	if meScopesText(v["scopes"]) != meScopesText(all["scopes"]) {
		t.Errorf("a service account's mode-all key: scopes %v, want those of an account key %v", v["scopes"], all["scopes"])
	}
	meVerifyCode(t, e, ro, "documents:write", "INSUFFICIENT_PERMISSIONS")

	patch(t, e, "/v1/service-accounts/"+sa, map[string]any{"status": "disabled"})
	meVerifyCode(t, e, s, "", "OWNER_INACTIVE")
	meVerifyCode(t, e, ro, "documents:read", "OWNER_INACTIVE")
	meRefused(t, e, req{Method: "GET", Path: "/v1/whoami", Token: s}, 401, "unauthenticated")
	meVerifyCode(t, e, s2, "", "VALID")
	patch(t, e, "/v1/service-accounts/"+sa, map[string]any{"status": "active"})
	meVerifyCode(t, e, s, "documents:write", "VALID")
	must(t, e, 200, req{Method: "GET", Path: "/v1/whoami", Token: s})

	etag2 := must(t, e, 200, req{Method: "GET", Path: "/v1/keys/" + k2}).JSON(t)["etag"]
	before := e.auditCount()
	must(t, e, 204, req{Method: "DELETE", Path: "/v1/service-accounts/" + sa})
	if n := e.auditCount() - before; n != 3 {
		t.Errorf("deleting a service account with 2 keys wrote %d audit events, want 3", n)
	}
	meRevokedOnce(t, e, k, s, true)
	if got := must(t, e, 200, req{Method: "GET", Path: "/v1/keys/" + k2}).JSON(t)["etag"]; got != etag2 {
		t.Errorf("another service account's key changed")
	}
	meVerifyCode(t, e, s2, "", "VALID")
	meInvalidReq(t, e, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "x", "owner": meOwner("service_account", sa)}}, "owner.id")
}

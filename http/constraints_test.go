package http_test

// Issue 9, point 8: "no escalation" covers a management key's constraints
// as well as its permissions. The old code let a key with a one-hour
// expiry and an IP allowlist, holding management_keys:write, create a key
// with the same permissions, no expiry and no allowlist.

import (
	"net/http"
	"testing"
	"time"
)

func TestManagementKeyConstraintsNoEscalation(t *testing.T) {
	e := newEnv(t)
	at := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
	perms := []string{"management_keys:read", "management_keys:write", "keys:read"}
	c := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/management-keys", Body: map[string]any{
		"name": "constrained", "permissions": perms, "expires_at": at(time.Hour), "ip_allowlist": []string{"127.0.0.0/8"}}}).JSON(t)
	ctok := c["secret"].(string)
	// A key of the same permissions with no constraints, made by the
	// operator: the constrained key must not be able to take it over.
	free := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/management-keys", Body: map[string]any{
		"name": "free", "permissions": perms}}).JSON(t)
	freeID := free["id"].(string)

	before := dump(t, e)
	n := e.auditCount()
	refused := []struct {
		name       string
		r          req
		constraint string
	}{
		{"create without expiry", req{Method: "POST", Path: "/v1/management-keys", Body: map[string]any{
			"name": "x", "permissions": perms, "ip_allowlist": []string{"127.0.0.1"}}}, "expires_at"},
		{"create expiring later", req{Method: "POST", Path: "/v1/management-keys", Body: map[string]any{
			"name": "x", "permissions": perms, "ip_allowlist": []string{"127.0.0.1"}, "expires_at": at(2 * time.Hour)}}, "expires_at"},
		{"create without allowlist", req{Method: "POST", Path: "/v1/management-keys", Body: map[string]any{
			"name": "x", "permissions": perms, "expires_at": at(30 * time.Minute)}}, "ip_allowlist"},
		{"create with a wider allowlist", req{Method: "POST", Path: "/v1/management-keys", Body: map[string]any{
			"name": "x", "permissions": perms, "expires_at": at(30 * time.Minute), "ip_allowlist": []string{"0.0.0.0/0"}}}, "ip_allowlist"},
		{"create with an allowlist partly outside", req{Method: "POST", Path: "/v1/management-keys", Body: map[string]any{
			"name": "x", "permissions": perms, "expires_at": at(30 * time.Minute), "ip_allowlist": []string{"127.0.0.1", "10.0.0.1"}}}, "ip_allowlist"},
		{"rotate an unconstrained key (its new secret)", req{Method: "POST", Path: "/v1/management-keys/" + freeID + "/rotate"}, "expires_at"},
		{"patch an unconstrained key", req{Method: "PATCH", Path: "/v1/management-keys/" + freeID, Body: map[string]any{"name": "mine"}}, "expires_at"},
		{"delete an unconstrained key", req{Method: "DELETE", Path: "/v1/management-keys/" + freeID}, "expires_at"},
	}
	for _, c := range refused {
		c.r.Token = ctok
		p := e.problem(e.do(c.r), http.StatusForbidden, "permission_denied")
		if p["constraint"] != c.constraint {
			t.Errorf("%s: constraint %v, want %s\n%v", c.name, p["constraint"], c.constraint, p)
		}
	}
	unchanged(t, e, before, "refused escalations")
	if got := e.auditCount(); got != n {
		t.Errorf("audit events %d → %d after refused escalations", n, got)
	}

	// Within its bounds it works, and the child can be changed within them
	// but not out of them.
	child := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/management-keys", Token: ctok, Body: map[string]any{
		"name": "child", "permissions": []string{"keys:read"}, "expires_at": at(30 * time.Minute), "ip_allowlist": []string{"127.0.0.1"}}}).JSON(t)
	cid := child["id"].(string)
	path := "/v1/management-keys/" + cid
	e.must(http.StatusOK, req{Method: "PATCH", Path: path, Token: ctok, Body: map[string]any{"name": "child 2", "expires_at": at(50 * time.Minute)}})
	for _, r := range []req{
		{Method: "PATCH", Path: path, Body: map[string]any{"expires_at": nil}},
		{Method: "PATCH", Path: path, Body: map[string]any{"clear_expires_at": true}},
		{Method: "PATCH", Path: path, Body: map[string]any{"expires_at": at(3 * time.Hour)}},
		{Method: "PATCH", Path: path, Body: map[string]any{"ip_allowlist": nil}},
		{Method: "PATCH", Path: path, Body: map[string]any{"ip_allowlist": []string{"192.168.0.0/16"}}},
		{Method: "PUT", Path: path, Body: map[string]any{"name": "child", "permissions": []string{"keys:read"}, "ip_allowlist": []string{"127.0.0.1"}}},
		{Method: "POST", Path: path + "/rotate", Body: map[string]any{"expires_at": at(3 * time.Hour)}},
	} {
		r.Token = ctok
		e.problem(e.do(r), http.StatusForbidden, "permission_denied")
	}
	e.must(http.StatusOK, req{Method: "POST", Path: path + "/rotate", Token: ctok})
	e.must(http.StatusNoContent, req{Method: "DELETE", Path: path, Token: ctok})
	// The operator key, unconstrained, still manages the free key.
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/management-keys/" + freeID, Body: map[string]any{"name": "still free"}})
}

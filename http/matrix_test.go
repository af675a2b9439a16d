package http_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// This file holds the bad-input and credential matrices of every management
// route, and the helpers the other px* test files share.

// pxCtx is the context of every direct service or store call in these tests.
var pxCtx = context.Background()

// pxProblem checks that res is a complete RFC 9457 problem with the given
// status and code and returns its members (nil after reporting a failure).
func pxProblem(t *testing.T, res *resp, status int, code string) map[string]any {
	t.Helper()
	if res.Status != status {
		t.Errorf("status %d, want %d (%s)\n%s", res.Status, status, code, short(res.Body))
		return nil
	}
	return pxProblemShape(t, res, code)
}

// pxProblemShape checks the problem document's shape whatever its status.
func pxProblemShape(t *testing.T, res *resp, code string) map[string]any {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("status %d: Content-Type %q, want application/problem+json\n%s", res.Status, ct, short(res.Body))
		return nil
	}
	var p map[string]any
	if err := json.Unmarshal(res.Body, &p); err != nil {
		t.Errorf("problem body is not a JSON object: %v\n%s", err, short(res.Body))
		return nil
	}
	if code != "" && p["code"] != code {
		t.Errorf("code %v, want %s\n%s", p["code"], code, short(res.Body))
		return nil
	}
	for _, m := range []string{"type", "title", "detail", "code", "request_id"} {
		if s, ok := p[m].(string); !ok || s == "" {
			t.Errorf("problem member %q is %v, want a non-empty string\n%s", m, p[m], short(res.Body))
		}
	}
	if _, ok := p["errors"].([]any); !ok {
		t.Errorf("problem member errors is %v, want an array", p["errors"])
	}
	if p["status"] != float64(res.Status) {
		t.Errorf("problem status %v, response status %d", p["status"], res.Status)
	}
	if rid := res.Header.Get("X-Request-Id"); rid == "" || p["request_id"] != rid {
		t.Errorf("problem request_id %v, X-Request-Id header %q", p["request_id"], rid)
	}
	return p
}

// fields returns the field names of a problem's errors.
func fields(p map[string]any) []string {
	var out []string
	errs, _ := p["errors"].([]any)
	for _, fe := range errs {
		if m, ok := fe.(map[string]any); ok {
			f, _ := m["field"].(string)
			out = append(out, f)
		}
	}
	return out
}

// pxNames reports whether one of the problem's errors names the member
// (itself, or a path inside it).
func pxNames(p map[string]any, member string) bool {
	for _, f := range fields(p) {
		if f == member || strings.HasPrefix(f, member+".") || strings.HasPrefix(f, member+"[") {
			return true
		}
	}
	return false
}

// pxRaw sends a request outside the harness: for chunked bodies (length
// -1) and other things http.NewRequest with a byte slice cannot express.
func pxRaw(t *testing.T, e *testEnv, method, path string, header map[string]string, body io.Reader, length int64) *resp {
	t.Helper()
	hr, err := http.NewRequest(method, e.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	hr.ContentLength = length
	for k, v := range header {
		hr.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &resp{Status: res.StatusCode, Header: res.Header, Body: rb}
}

// pxActor returns the operator key's actor in the default account, or in
// the account named by accountID.
func pxActor(t *testing.T, e *testEnv, accountID string) *keyward.Actor {
	t.Helper()
	a, err := e.Service.Authenticate(pxCtx, service.Credential{Token: keyward.TokenFromString(e.Op), AccountID: accountID, ClientIP: "127.0.0.1"})
	if err != nil {
		t.Fatalf("authenticate operator: %v", err)
	}
	a.RequestID, a.ClientIP, a.UserAgent, a.Dialect = "px-setup", "127.0.0.1", "px-setup", "native"
	return a
}

// pxSetStatus changes a key's status with the operator key, through PATCH.
func pxSetStatus(t *testing.T, e *testEnv, a *keyward.Actor, kind keyward.KeyKind, id string, st keyward.KeyStatus) {
	t.Helper()
	path := "/v1/keys/"
	if kind == keyward.KindManagement {
		path = "/v1/management-keys/"
	}
	must(t, e, http.StatusOK, req{Method: "PATCH", Path: path + id,
		Header: map[string]string{"X-Account-Id": a.AccountID}, Body: map[string]any{"status": st}})
}

// newID returns a well-formed id that names nothing.
func newID(prefix string) string {
	return keyward.NewIDs(keyward.SystemClock).New(prefix)
}

// pxOtherAccount creates a second account with the default catalog and
// returns its id. It goes through the store, not POST /v1/accounts, so the
// account starts with no audit event at all (tests count its events).
func pxOtherAccount(t *testing.T, e *testEnv, name string) string {
	t.Helper()
	now := keyward.Timestamp(time.Now())
	acct := &keyward.Account{
		ID: newID(keyward.PrefixAccount), Name: name, DefaultPrefix: keyward.DefaultPrefix,
		CatalogTemplate: keyward.TemplateDefault, DefaultPermissionMode: keyward.ModeAll,
		CreatedAt: now, UpdatedAt: now, Version: 1,
	}
	res, _, _ := keyward.CatalogTemplate(keyward.TemplateDefault, now)
	err := e.DB.Write(pxCtx, func(tx keyward.Tx) error {
		if err := tx.CreateAccount(pxCtx, acct); err != nil {
			return err
		}
		for _, r := range res {
			if err := tx.PutResource(pxCtx, acct.ID, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("create account: %v", err)
	}
	return acct.ID
}

// pxFixture is a server with one object of every kind a management route
// can name, and credentials of every kind.
type pxFixture struct {
	e      *testEnv
	op     *keyward.Actor
	acctID string

	project     string
	apiKeyID    string
	apiKey      string
	apiDisabled string
	apiRevoked  string
	resource    string // a catalog resource no key holds

	user           string
	serviceAccount string
	role           string // a role no user or key holds
	acct           string // an account for the /v1/accounts/{id} routes

	mgmtKeyID    string // an active management key's id (a key_ id of the wrong kind)
	mgmtDisabled string
	mgmtRevoked  string
	auditOnly    string            // a management key with only audit:read
	keysReadOnly string            // a management key with only keys:read
	without      map[string]string // permission -> a key holding every other account permission

	other struct{ acct, key, project, resource, mgmtKey, user, sa, role string }
}

func pxSetup(t *testing.T) *pxFixture {
	t.Helper()
	e := newEnv(t)
	f := &pxFixture{e: e, op: pxActor(t, e, ""), resource: "pxres", without: map[string]string{}}
	f.acctID = f.op.AccountID

	f.project = must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "px project"}}).Str(t, "id")
	k := must(t, e, 201, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "px api key"}}).JSON(t)
	f.apiKeyID, f.apiKey = k["id"].(string), k["secret"].(string)
	for _, st := range []keyward.KeyStatus{keyward.StatusDisabled, keyward.StatusRevoked} {
		k := must(t, e, 201, req{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "px " + string(st)}}).JSON(t)
		pxSetStatus(t, e, f.op, keyward.KindAPI, k["id"].(string), st)
		if st == keyward.StatusDisabled {
			f.apiDisabled = k["secret"].(string)
		} else {
			f.apiRevoked = k["secret"].(string)
		}
	}
	must(t, e, 201, req{Method: "PUT", Path: "/v1/catalog/resources/" + f.resource, Body: map[string]any{"display_name": "PX"}})

	f.mgmtKeyID, _ = mgmtKey(t, e, f.op.AccountID, boundPerms...)
	var id string
	id, f.mgmtDisabled = mgmtKey(t, e, f.op.AccountID, boundPerms...)
	pxSetStatus(t, e, f.op, keyward.KindManagement, id, keyward.StatusDisabled)
	id, f.mgmtRevoked = mgmtKey(t, e, f.op.AccountID, boundPerms...)
	pxSetStatus(t, e, f.op, keyward.KindManagement, id, keyward.StatusRevoked)
	_, f.auditOnly = mgmtKey(t, e, f.op.AccountID, keyward.PermAuditRead)
	_, f.keysReadOnly = mgmtKey(t, e, f.op.AccountID, keyward.PermKeysRead)
	for _, p := range boundPerms {
		rest := slices.DeleteFunc(slices.Clone(boundPerms), func(q string) bool { return q == p })
		_, f.without[p] = mgmtKey(t, e, f.op.AccountID, rest...)
	}

	f.other.acct = pxOtherAccount(t, e, "px-other")
	oa := pxActor(t, e, f.other.acct)
	ok, _, err := e.Service.CreateKey(pxCtx, oa, keyward.KindAPI, &keyward.KeyFields{Name: keyward.Some("px other key")})
	if err != nil {
		t.Fatal(err)
	}
	f.other.key = ok.ID
	pr := must(t, e, 201, req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "px other project"},
		Header: map[string]string{"X-Account-Id": f.other.acct}})
	f.other.project = pr.Str(t, "id")
	f.other.resource = "pxother"
	oh := map[string]string{"X-Account-Id": f.other.acct}
	must(t, e, 201, req{Method: "PUT", Path: "/v1/catalog/resources/" + f.other.resource, Body: map[string]any{}, Header: oh})
	f.other.mgmtKey, _ = mgmtKey(t, e, oa.AccountID, keyward.PermKeysRead)
	f.other.user = must(t, e, 201, req{Method: "POST", Path: "/v1/users", Body: map[string]any{"name": "px other user"}, Header: oh}).Str(t, "id")
	f.other.sa = must(t, e, 201, req{Method: "POST", Path: "/v1/service-accounts", Body: map[string]any{"name": "px other sa"}, Header: oh}).Str(t, "id")
	f.other.role = "pxotherrole"
	must(t, e, 201, req{Method: "POST", Path: "/v1/roles", Body: map[string]any{"name": f.other.role}, Header: oh})

	f.user = must(t, e, 201, req{Method: "POST", Path: "/v1/users", Body: map[string]any{"name": "px user", "email": "px@example.com"}}).Str(t, "id")
	f.serviceAccount = must(t, e, 201, req{Method: "POST", Path: "/v1/service-accounts", Body: map[string]any{"name": "px sa"}}).Str(t, "id")
	f.role = "pxrole"
	must(t, e, 201, req{Method: "POST", Path: "/v1/roles", Body: map[string]any{"name": f.role,
		"scopes": []any{map[string]any{"resource": "documents", "access": "read"}}}})
	f.acct = must(t, e, 201, req{Method: "POST", Path: "/v1/accounts", Body: map[string]any{"name": "px target"}}).Str(t, "id")
	// The accounts permissions exist only on operator keys: a bound key
	// holding every permission it can hold still lacks them.
	_, full := mgmtKey(t, e, f.op.AccountID, boundPerms...)
	f.without[keyward.PermAccountsRead], f.without[keyward.PermAccountsWrite] = full, full
	return f
}

// pxWrong is a member sent with a value of the wrong JSON type.
type pxWrong struct {
	member string // the member the 422 must name
	body   string // the whole body
}

// pxRoute is one management route with what its matrix needs.
type pxRoute struct {
	method, pattern string
	perm            string // the management permission it needs
	ok              int    // status of a valid request
	// idKind names what fills {id} or {name}: "key", "mgmtkey", "account",
	// "user", "sa", "role", "project", "resource" or "" (none).
	idKind string
	// body returns a valid body ("" = none).
	body func(f *pxFixture) string
	// bodyRequired: an empty body is a 400 (else the body is optional).
	bodyRequired bool
	dupTop       string
	dupNested    string
	unknownNest  []string // bodies with an unknown member inside a nested object
	wrong        []pxWrong
}

func (r pxRoute) name() string { return r.method + " " + r.pattern }

// path fills {id} or {name} with id.
func (r pxRoute) path(id string) string {
	return strings.NewReplacer("{id}", id, "{name}", id).Replace(r.pattern)
}

// id returns the fixture's object for the route's {id}.
func (r pxRoute) id(f *pxFixture) string {
	switch r.idKind {
	case "key":
		return f.apiKeyID
	case "mgmtkey":
		return f.mgmtKeyID
	case "account":
		return f.acct
	case "user":
		return f.user
	case "sa":
		return f.serviceAccount
	case "role":
		return f.role
	case "project":
		return f.project
	case "resource":
		return f.resource
	}
	return ""
}

// pxWrongTypes builds bodies that send each member with a value of the
// wrong type; prefix is a valid member to send alongside ("" for none).
func pxWrongTypes(prefix string, members map[string][]string) []pxWrong {
	var out []pxWrong
	names := make([]string, 0, len(members))
	for m := range members {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		for _, v := range members[m] {
			body := `{"` + m + `":` + v + `}`
			if prefix != "" && !strings.HasPrefix(prefix, `"`+m+`"`) {
				body = `{` + prefix + `,"` + m + `":` + v + `}`
			}
			out = append(out, pxWrong{member: m, body: body})
		}
	}
	return out
}

var pxKeyWrongTypes = map[string][]string{
	"name":             {`5`, `true`, `["a"]`, `{"a":1}`, `1e400`},
	"description":      {`5`, `[]`},
	"status":           {`1`, `{}`},
	"kind":             {`[]`, `2`},
	"prefix":           {`true`, `{}`},
	"owner":            {`"account"`, `5`, `[]`, `{"type":1}`, `{"type":"account","id":5}`},
	"project_id":       {`7`, `{}`},
	"permission_mode":  {`{}`, `0`},
	"scopes":           {`"documents:read"`, `{}`, `[5]`, `["documents"]`, `[{"resource":1,"access":"read"}]`, `[{"resource":"documents","access":2}]`, `[{"resource":"documents","access":"read","targets":"*"}]`, `[{"resource":"documents","access":"read","targets":[1]}]`, `[{"resource":"documents","access":"read","targets":null}]`},
	"roles":            {`"admin"`, `[1]`, `{}`},
	"permissions":      {`"keys:read"`, `[true]`},
	"expires_at":       {`1700000000`, `"tomorrow"`, `"2030-13-45T00:00:00Z"`, `true`, `[]`},
	"clear_expires_at": {`"true"`, `1`},
	"metadata":         {`[]`, `"x"`, `5`},
	"ip_allowlist":     {`"10.0.0.0/8"`, `[1]`, `{}`},
	"rate_limit":       {`100`, `"x"`, `{"limit":"x","window":1}`},
	"credits":          {`"10"`, `[]`, `{"remaining":"x"}`, `{"remaining":1,"refill":5}`},
	"recoverable":      {`"yes"`, `1`},
	"legacy_key_id":    {`12`, `[]`},
}

var pxKeyUnknownNested = []string{
	`{"name":"px","permission_mode":"restricted","scopes":[{"resource":"documents","access":"read","px_bogus":1}]}`,
	`{"name":"px","owner":{"type":"account","px_bogus":1}}`,
	`{"name":"px","credits":{"remaining":1,"refill":{"amount":1,"interval":60,"px_bogus":1}}}`,
	`{"name":"px","rate_limit":{"limit":1,"window":1,"px_bogus":true}}`,
}

// pxImportHash is the SHA-256 (hex) of a token no key has: a valid import.
var pxImportHash = strings.Repeat("ab", 32)

// pxRotateKind is the {id} kind of the rotate routes.
var pxRotateKind = map[string]string{"/v1/keys/{id}/rotate": "key", "/v1/management-keys/{id}/rotate": "mgmtkey"}

// pxRoutes is every management route of routes.go.
func pxRoutes() []pxRoute {
	keyBody := func(name string) func(*pxFixture) string {
		return func(*pxFixture) string { return `{"name":"` + name + `"}` }
	}
	keyRoute := func(method, pattern, perm string, ok int, idKind, name string) pxRoute {
		return pxRoute{method: method, pattern: pattern, perm: perm, ok: ok, idKind: idKind,
			body: keyBody(name), bodyRequired: true,
			dupTop:      `{"name":"a","name":"b"}`,
			dupNested:   `{"name":"a","metadata":{"x":1,"x":2}}`,
			unknownNest: pxKeyUnknownNested,
			wrong:       pxWrongTypes(`"name":"px"`, pxKeyWrongTypes),
		}
	}
	projectWrong := pxWrongTypes(`"name":"px w"`, map[string][]string{
		"name":        {`5`, `[]`, `{}`, `false`},
		"description": {`5`, `{}`, `["x"]`},
	})
	resourceWrong := pxWrongTypes("", map[string][]string{
		"display_name":   {`5`, `[]`},
		"group":          {`true`},
		"description":    {`{}`},
		"readable":       {`"yes"`, `1`},
		"writable":       {`1`, `"false"`},
		"project_scopes": {`"all"`, `[1]`, `{}`},
		"protected":      {`"true"`, `[]`},
	})
	rotateRoute := func(pattern, perm string) pxRoute {
		return pxRoute{method: "POST", pattern: pattern, perm: perm, ok: 200, idKind: pxRotateKind[pattern],
			body:      func(*pxFixture) string { return `{"grace_period_seconds":60}` },
			dupTop:    `{"grace_period_seconds":1,"grace_period_seconds":2}`,
			dupNested: `{"grace_period_seconds":{"a":1,"a":2}}`,
			wrong: pxWrongTypes("", map[string][]string{
				"grace_period_seconds": {`"60"`, `1.5`, `true`, `[]`, `{}`, `1e400`, `99999999999999999999`},
				"expires_at":           {`1700000000`, `"tomorrow"`, `"2030-13-45T00:00:00Z"`, `true`, `[]`, `{}`},
			}),
		}
	}
	mgmtWrong := map[string][]string{"operator": {`"yes"`, `1`, `[]`}}
	for m, v := range pxKeyWrongTypes {
		mgmtWrong[m] = v
	}
	mgmtRoute := func(method, pattern, perm string, ok int, idKind, body string) pxRoute {
		return pxRoute{method: method, pattern: pattern, perm: perm, ok: ok, idKind: idKind,
			body: func(*pxFixture) string { return body }, bodyRequired: true,
			dupTop:      `{"name":"a","permissions":["keys:read"],"name":"b"}`,
			dupNested:   `{"name":"a","metadata":{"x":1,"x":2}}`,
			unknownNest: pxKeyUnknownNested,
			wrong:       pxWrongTypes(`"name":"px"`, mgmtWrong),
		}
	}
	accountWrong := pxWrongTypes(`"name":"px w"`, map[string][]string{
		"name":                    {`5`, `[]`, `{}`, `false`},
		"default_prefix":          {`5`, `true`, `["kw"]`},
		"catalog_template":        {`1`, `{}`},
		"default_permission_mode": {`{}`, `0`},
		"max_key_lifetime":        {`"3600"`, `1.5`, `true`, `1e400`, `99999999999999999999`},
		"require_expiry":          {`"yes"`, `1`},
		"default_key_lifetime":    {`"x"`, `{}`, `-1.5`},
	})
	userWrong := pxWrongTypes(`"name":"px w"`, map[string][]string{
		"external_id": {`5`, `[]`},
		"email":       {`5`, `true`, `{}`},
		"name":        {`5`, `{}`},
		"roles":       {`"pxrole"`, `[1]`, `{}`, `[["pxrole"]]`},
		"status":      {`1`, `{}`, `true`},
	})
	saWrong := pxWrongTypes(`"name":"px w"`, map[string][]string{
		"name":        {`5`, `[]`, `{}`},
		"description": {`5`, `{}`},
		"status":      {`1`, `["active"]`},
	})
	roleScopesWrong := []string{`"documents:read"`, `{}`, `[5]`, `["documents"]`, `[{"resource":1,"access":"read"}]`,
		`[{"resource":"documents","access":2}]`, `[{"resource":"documents","access":"read","targets":"*"}]`}
	roleCreateWrong := pxWrongTypes(`"name":"pxw"`, map[string][]string{
		"name":        {`5`, `[]`, `{}`},
		"description": {`5`, `[]`},
		"scopes":      roleScopesWrong,
	})
	rolePatchWrong := pxWrongTypes("", map[string][]string{
		"name":        {`5`, `{}`},
		"description": {`5`, `[]`},
		"scopes":      roleScopesWrong,
	})
	return []pxRoute{
		{method: "GET", pattern: "/v1/keys", perm: keyward.PermKeysRead, ok: 200},
		keyRoute("POST", "/v1/keys", keyward.PermKeysWrite, 201, "", "px created"),
		{method: "GET", pattern: "/v1/keys/{id}", perm: keyward.PermKeysRead, ok: 200, idKind: "key"},
		keyRoute("PATCH", "/v1/keys/{id}", keyward.PermKeysWrite, 200, "key", "px patched"),
		keyRoute("PUT", "/v1/keys/{id}", keyward.PermKeysWrite, 200, "key", "px replaced"),
		{method: "DELETE", pattern: "/v1/keys/{id}", perm: keyward.PermKeysWrite, ok: 204, idKind: "key"},
		rotateRoute("/v1/keys/{id}/rotate", keyward.PermKeysWrite),
		// The harness has no master key, so no key is recoverable: a
		// request that passes authentication and authorization gets 409.
		{method: "GET", pattern: "/v1/keys/{id}/secret", perm: keyward.PermKeysReveal, ok: 409, idKind: "key"},
		// The fixture's keys have no credits: a request that passes
		// authentication and authorization gets 409.
		{method: "POST", pattern: "/v1/keys/{id}/credits", perm: keyward.PermKeysWrite, ok: 409, idKind: "key",
			body:         func(*pxFixture) string { return `{"add":5}` },
			bodyRequired: true,
			dupTop:       `{"add":1,"add":2}`,
			dupNested:    `{"add":[{"a":1,"a":2}]}`,
			wrong: pxWrongTypes("", map[string][]string{
				"set": {`"5"`, `1.5`, `true`, `[]`, `1e400`}, "add": {`"x"`, `{}`}, "subtract": {`false`, `[1]`},
			}),
		},
		{method: "POST", pattern: "/v1/keys/import", perm: keyward.PermKeysWrite, ok: 201,
			body:         func(*pxFixture) string { return `{"keys":[{"hash":"` + pxImportHash + `","name":"px imported"}]}` },
			bodyRequired: true,
			dupTop:       `{"keys":[],"keys":[]}`,
			dupNested:    `{"keys":[{"hash":"a","name":"b","hash":"c"}]}`,
			unknownNest: []string{
				`{"keys":[{"hash":"` + pxImportHash + `","name":"px","px_bogus":1}]}`,
				`{"keys":[{"hash":"` + pxImportHash + `","name":"px","owner":{"type":"account","px_bogus":1}}]}`,
			},
			wrong: pxWrongTypes("", map[string][]string{
				"keys": {`5`, `"x"`, `{}`, `[5]`, `["x"]`, `[{"hash":5}]`, `[{"hash":"` + pxImportHash + `","name":5}]`,
					`[{"hash":"` + pxImportHash + `","name":"px","start":7}]`, `[{"hash":"` + pxImportHash + `","name":"px","scopes":"x"}]`},
			}),
		},
		{method: "GET", pattern: "/v1/management-keys", perm: keyward.PermManagementKeysRead, ok: 200},
		mgmtRoute("POST", "/v1/management-keys", keyward.PermManagementKeysWrite, 201, "", `{"name":"px mk created","permissions":["keys:read"]}`),
		{method: "GET", pattern: "/v1/management-keys/{id}", perm: keyward.PermManagementKeysRead, ok: 200, idKind: "mgmtkey"},
		mgmtRoute("PATCH", "/v1/management-keys/{id}", keyward.PermManagementKeysWrite, 200, "mgmtkey", `{"name":"px mk patched"}`),
		mgmtRoute("PUT", "/v1/management-keys/{id}", keyward.PermManagementKeysWrite, 200, "mgmtkey", `{"name":"px mk replaced","permissions":["keys:read"]}`),
		{method: "DELETE", pattern: "/v1/management-keys/{id}", perm: keyward.PermManagementKeysWrite, ok: 204, idKind: "mgmtkey"},
		rotateRoute("/v1/management-keys/{id}/rotate", keyward.PermManagementKeysWrite),
		{method: "GET", pattern: "/v1/accounts", perm: keyward.PermAccountsRead, ok: 200},
		{method: "POST", pattern: "/v1/accounts", perm: keyward.PermAccountsWrite, ok: 201,
			body:         func(*pxFixture) string { return `{"name":"px account 2","catalog_template":"orq"}` },
			bodyRequired: true,
			dupTop:       `{"name":"a","default_prefix":"x","name":"b"}`,
			dupNested:    `{"name":"a","default_prefix":{"x":1,"x":2}}`,
			wrong:        accountWrong,
		},
		{method: "GET", pattern: "/v1/accounts/{id}", perm: keyward.PermAccountsRead, ok: 200, idKind: "account"},
		{method: "PATCH", pattern: "/v1/accounts/{id}", perm: keyward.PermAccountsWrite, ok: 200, idKind: "account",
			body:         func(*pxFixture) string { return `{"name":"px account renamed","require_expiry":true}` },
			bodyRequired: true,
			dupTop:       `{"require_expiry":true,"require_expiry":false}`,
			dupNested:    `{"max_key_lifetime":[{"a":1,"a":2}]}`,
			wrong:        accountWrong,
		},
		{method: "DELETE", pattern: "/v1/accounts/{id}", perm: keyward.PermAccountsWrite, ok: 204, idKind: "account"},
		{method: "GET", pattern: "/v1/users", perm: keyward.PermMembersRead, ok: 200},
		{method: "POST", pattern: "/v1/users", perm: keyward.PermMembersWrite, ok: 201,
			body:         func(*pxFixture) string { return `{"name":"px user 2","email":"px2@example.com","roles":["pxrole"]}` },
			bodyRequired: true,
			dupTop:       `{"name":"a","email":"a@example.com","name":"b"}`,
			dupNested:    `{"roles":[{"a":1,"a":2}]}`,
			wrong:        userWrong,
		},
		{method: "GET", pattern: "/v1/users/{id}", perm: keyward.PermMembersRead, ok: 200, idKind: "user"},
		{method: "PATCH", pattern: "/v1/users/{id}", perm: keyward.PermMembersWrite, ok: 200, idKind: "user",
			body:         func(*pxFixture) string { return `{"name":"px user renamed","status":"disabled"}` },
			bodyRequired: true,
			dupTop:       `{"status":"active","status":"disabled"}`,
			dupNested:    `{"external_id":{"a":1,"a":2}}`,
			wrong:        userWrong,
		},
		{method: "DELETE", pattern: "/v1/users/{id}", perm: keyward.PermMembersWrite, ok: 204, idKind: "user"},
		{method: "GET", pattern: "/v1/service-accounts", perm: keyward.PermMembersRead, ok: 200},
		{method: "POST", pattern: "/v1/service-accounts", perm: keyward.PermMembersWrite, ok: 201,
			body:         func(*pxFixture) string { return `{"name":"px sa 2","description":"d"}` },
			bodyRequired: true,
			dupTop:       `{"name":"a","name":"b"}`,
			dupNested:    `{"name":"a","description":[{"a":1,"a":2}]}`,
			wrong:        saWrong,
		},
		{method: "GET", pattern: "/v1/service-accounts/{id}", perm: keyward.PermMembersRead, ok: 200, idKind: "sa"},
		{method: "PATCH", pattern: "/v1/service-accounts/{id}", perm: keyward.PermMembersWrite, ok: 200, idKind: "sa",
			body:         func(*pxFixture) string { return `{"description":"px","status":"disabled"}` },
			bodyRequired: true,
			dupTop:       `{"description":"a","description":"b"}`,
			dupNested:    `{"status":{"a":1,"a":2}}`,
			wrong:        saWrong,
		},
		{method: "DELETE", pattern: "/v1/service-accounts/{id}", perm: keyward.PermMembersWrite, ok: 204, idKind: "sa"},
		{method: "GET", pattern: "/v1/roles", perm: keyward.PermMembersRead, ok: 200},
		{method: "POST", pattern: "/v1/roles", perm: keyward.PermMembersWrite, ok: 201,
			body: func(*pxFixture) string {
				return `{"name":"pxrole2","scopes":[{"resource":"documents","access":"read"}]}`
			},
			bodyRequired: true,
			dupTop:       `{"name":"a","description":"x","name":"b"}`,
			dupNested:    `{"name":"a","scopes":[{"resource":"documents","resource":"files"}]}`,
			unknownNest:  []string{`{"name":"pxr","scopes":[{"resource":"documents","access":"read","px_bogus":1}]}`},
			wrong:        roleCreateWrong,
		},
		{method: "GET", pattern: "/v1/roles/{name}", perm: keyward.PermMembersRead, ok: 200, idKind: "role"},
		{method: "PATCH", pattern: "/v1/roles/{name}", perm: keyward.PermMembersWrite, ok: 200, idKind: "role",
			body: func(*pxFixture) string {
				return `{"description":"px","scopes":[{"resource":"files","access":"write"}]}`
			},
			bodyRequired: true,
			dupTop:       `{"description":"a","description":"b"}`,
			dupNested:    `{"scopes":[{"resource":"documents","resource":"files"}]}`,
			unknownNest:  []string{`{"scopes":[{"resource":"documents","access":"read","px_bogus":1}]}`},
			wrong:        rolePatchWrong,
		},
		{method: "DELETE", pattern: "/v1/roles/{name}", perm: keyward.PermMembersWrite, ok: 204, idKind: "role"},
		{method: "POST", pattern: "/v1/keys/verify", perm: keyward.PermKeysVerify, ok: 200,
			body:         func(f *pxFixture) string { return `{"key":"` + f.apiKey + `"}` },
			bodyRequired: true,
			dupTop:       `{"key":"a","key":"b"}`,
			dupNested:    `{"key":"a","permissions":{"x":1,"x":2}}`,
			wrong: pxWrongTypes(`"key":"kw_x"`, map[string][]string{
				"key":         {`5`, `[]`, `{}`, `true`},
				"permissions": {`5`, `["documents:read"]`},
				"project_id":  {`true`, `5`},
				"ip":          {`[]`, `127`},
				"cost":        {`"1"`, `1.5`, `1e400`},
			}),
		},
		{method: "GET", pattern: "/v1/projects", perm: keyward.PermKeysRead, ok: 200},
		{method: "POST", pattern: "/v1/projects", perm: keyward.PermKeysWrite, ok: 201,
			body:         func(*pxFixture) string { return `{"name":"px project 2","description":"d"}` },
			bodyRequired: true,
			dupTop:       `{"name":"a","description":"x","name":"b"}`,
			dupNested:    `{"name":{"a":1,"a":2}}`,
			wrong:        projectWrong,
		},
		{method: "GET", pattern: "/v1/projects/{id}", perm: keyward.PermKeysRead, ok: 200, idKind: "project"},
		{method: "PATCH", pattern: "/v1/projects/{id}", perm: keyward.PermKeysWrite, ok: 200, idKind: "project",
			body:         func(*pxFixture) string { return `{"name":"px project renamed"}` },
			bodyRequired: true,
			dupTop:       `{"description":"a","description":"b"}`,
			dupNested:    `{"description":["x",{"a":1,"a":2}]}`,
			wrong:        projectWrong,
		},
		{method: "DELETE", pattern: "/v1/projects/{id}", perm: keyward.PermKeysWrite, ok: 204, idKind: "project"},
		{method: "GET", pattern: "/v1/catalog", perm: keyward.PermCatalogRead, ok: 200},
		{method: "PUT", pattern: "/v1/catalog/resources/{id}", perm: keyward.PermCatalogWrite, ok: 200, idKind: "resource",
			body:         func(*pxFixture) string { return `{"display_name":"PX 2","readable":true,"project_scopes":["all"]}` },
			bodyRequired: true,
			dupTop:       `{"readable":true,"readable":false}`,
			dupNested:    `{"project_scopes":[{"a":1,"a":2}]}`,
			wrong:        resourceWrong,
		},
		{method: "DELETE", pattern: "/v1/catalog/resources/{id}", perm: keyward.PermCatalogWrite, ok: 204, idKind: "resource"},
		{method: "GET", pattern: "/v1/audit-events", perm: keyward.PermAuditRead, ok: 200},
		{method: "GET", pattern: "/v1/keys/{id}/usage", perm: keyward.PermUsageRead, ok: 200, idKind: "key"},
		{method: "GET", pattern: "/v1/usage", perm: keyward.PermUsageRead, ok: 200},
	}
}

// TestPxMatrixCoversEveryRoute keeps the matrix honest: every management
// route of routes.go is in pxRoutes, and nothing else.
func TestPxMatrixCoversEveryRoute(t *testing.T) {
	e := newEnv(t)
	var tested []string
	for _, r := range pxRoutes() {
		tested = append(tested, r.name())
	}
	// The invalidation stream never ends for an accepted credential: its
	// credential cases are in stream_test.go.
	sameRoutes(t, e, "management routes", managementRoute, "the matrix", tested)
}

// pxCred is one credential case: the headers sent (instead of the
// operator key) and the answer expected.
type pxCred struct {
	name   string
	header map[string]string
	status int
	code   string
	// missing is the permission the problem must name (permission_denied).
	missing string
	// authFirst: the answer must be the same whatever else is wrong with
	// the request (authentication runs before any validation).
	authFirst bool
}

func pxCreds(f *pxFixture, r pxRoute) []pxCred {
	badSum := []byte(f.e.Op)
	last := len(badSum) - 1
	if badSum[last] == 'A' {
		badSum[last] = 'B'
	} else {
		badSum[last] = 'A'
	}
	unknownM, _ := keyward.NewToken(keyward.DefaultManagementPrefix, nil)
	unknownA, _ := keyward.NewToken(keyward.DefaultPrefix, nil)
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	lackKey, lackPerm := f.auditOnly, r.perm
	if r.perm == keyward.PermAuditRead {
		lackKey = f.keysReadOnly
	}
	const u, forbidden = "unauthenticated", 403
	return []pxCred{
		{name: "none", header: map[string]string{}, status: 401, code: u, authFirst: true},
		{name: "basic", header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(f.e.Op+":"))}, status: 401, code: u, authFirst: true},
		{name: "bearer without token", header: map[string]string{"Authorization": "Bearer"}, status: 401, code: u, authFirst: true},
		{name: "token without scheme", header: map[string]string{"Authorization": f.e.Op}, status: 401, code: u, authFirst: true},
		{name: "bearer garbage", header: bearer("not-a-token"), status: 401, code: u, authFirst: true},
		{name: "x-api-key garbage", header: map[string]string{"X-API-Key": "garbage garbage"}, status: 401, code: u, authFirst: true},
		{name: "bad checksum", header: bearer(string(badSum)), status: 401, code: u, authFirst: true},
		{name: "unknown management-shaped token", header: bearer(unknownM.Reveal()), status: 401, code: u, authFirst: true},
		{name: "unknown api-shaped token", header: map[string]string{"X-API-Key": unknownA.Reveal()}, status: 401, code: u, authFirst: true},
		{name: "disabled management key", header: bearer(f.mgmtDisabled), status: 401, code: u, authFirst: true},
		{name: "revoked management key", header: bearer(f.mgmtRevoked), status: 401, code: u, authFirst: true},
		{name: "disabled management key as x-api-key", header: map[string]string{"X-API-Key": f.mgmtDisabled}, status: 401, code: u, authFirst: true},
		{name: "api key", header: bearer(f.apiKey), status: forbidden, code: "api_key_forbidden", authFirst: true},
		{name: "api key as x-api-key", header: map[string]string{"X-API-Key": f.apiKey}, status: forbidden, code: "api_key_forbidden", authFirst: true},
		{name: "disabled api key", header: bearer(f.apiDisabled), status: 401, code: u, authFirst: true},
		{name: "revoked api key", header: map[string]string{"X-API-Key": f.apiRevoked}, status: 401, code: u, authFirst: true},
		{name: "two different credentials", header: map[string]string{"Authorization": "Bearer " + f.e.Op, "X-API-Key": f.apiKey}, status: 400, code: "bad_request", authFirst: true},
		{name: "two different management keys", header: map[string]string{"Authorization": "Bearer " + f.auditOnly, "X-API-Key": f.e.Op}, status: 400, code: "bad_request", authFirst: true},
		{name: "bound key naming another account", header: map[string]string{"Authorization": "Bearer " + f.without[r.perm], "X-Account-Id": f.other.acct}, status: forbidden, code: "account_mismatch", authFirst: true},
		{name: "operator naming an unknown account", header: map[string]string{"Authorization": "Bearer " + f.e.Op, "X-Account-Id": newID(keyward.PrefixAccount)}, status: 404, code: "not_found", authFirst: true},
		{name: "operator naming a malformed account", header: map[string]string{"Authorization": "Bearer " + f.e.Op, "X-Account-Id": "default"}, status: 404, code: "not_found", authFirst: true},
		{name: "lacks the permission", header: bearer(f.without[r.perm]), status: forbidden, code: "permission_denied", missing: r.perm},
		{name: "only " + lackPermName(lackKey == f.auditOnly), header: bearer(lackKey), status: forbidden, code: "permission_denied", missing: lackPerm},
	}
}

func lackPermName(auditOnly bool) string {
	if auditOnly {
		return "audit:read"
	}
	return "keys:read"
}

// pxSend sends the route's request with the given headers and no
// operator credential (unless the headers carry one).
func pxSend(e *testEnv, method, path, body string, header map[string]string) *resp {
	h := map[string]string{}
	for k, v := range header {
		h[k] = v
	}
	r := req{Method: method, Path: path, NoAuth: true, Header: h}
	if body != "" {
		r.Body = body
	}
	return e.do(r)
}

// TestPxCredentialMatrix sends every management route every kind of bad
// credential; each gets its documented problem and changes nothing. A
// management key sent as X-API-Key alone works.
func TestPxCredentialMatrix(t *testing.T) {
	for _, r := range pxRoutes() {
		t.Run(r.name(), func(t *testing.T) {
			f := pxSetup(t)
			e := f.e
			path := r.path(r.id(f))
			body := ""
			if r.body != nil {
				body = r.body(f)
			}
			for _, c := range pxCreds(f, r) {
				t.Run(c.name, func(t *testing.T) {
					before := dump(t, e)
					n := e.auditCount()
					res := pxSend(e, r.method, path, body, c.header)
					p := pxProblem(t, res, c.status, c.code)
					if p != nil && c.status == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("401 without a Bearer WWW-Authenticate header: %q", res.Header.Get("WWW-Authenticate"))
					}
					if p != nil && c.missing != "" && p["missing_permission"] != c.missing {
						t.Errorf("missing_permission %v, want %s", p["missing_permission"], c.missing)
					}
					if p != nil && c.missing != "" && !strings.Contains(p["detail"].(string), c.missing) &&
						!(strings.HasPrefix(c.missing, "accounts:") && strings.Contains(p["detail"].(string), "operator")) {
						t.Errorf("detail %q names neither %s nor why a bound key cannot have it", p["detail"], c.missing)
					}
					if c.authFirst {
						// Everything else wrong too: an unknown query
						// parameter, a malformed id, a malformed body of
						// the wrong media type.
						bad := path
						if r.idKind != "" {
							bad = r.path("not-an-id")
						}
						h := map[string]string{"Content-Type": "text/plain"}
						for k, v := range c.header {
							h[k] = v
						}
						res := pxSend(e, r.method, bad+"?px_bogus=1", `{"px":`, h)
						pxProblem(t, res, c.status, c.code)
					}
					unchanged(t, e, before, c.name)
					if got := e.auditCount(); got != n {
						t.Errorf("audit events %d → %d", n, got)
					}
				})
			}
			if r.method == "GET" {
				t.Run("same token in both headers", func(t *testing.T) {
					res := pxSend(e, r.method, path, body, map[string]string{"Authorization": "Bearer " + e.Op, "X-API-Key": e.Op})
					if res.Status != r.ok {
						t.Errorf("status %d, want %d\n%s", res.Status, r.ok, short(res.Body))
					}
				})
			}
			t.Run("x-api-key alone works", func(t *testing.T) {
				res := pxSend(e, r.method, path, body, map[string]string{"X-API-Key": e.Op})
				if res.Status != r.ok {
					t.Errorf("status %d, want %d\n%s", res.Status, r.ok, short(res.Body))
				}
			})
		})
	}
}

// pxBodyCase is one bad body.
type pxBodyCase struct {
	name   string
	body   string
	header map[string]string
	status int
	code   string
	member string // the member the problem must name
}

func pxBodyCases(f *pxFixture, r pxRoute) []pxBodyCase {
	valid := r.body(f)
	cases := []pxBodyCase{
		{name: "malformed", body: `{"name":`, status: 400, code: "malformed_json"},
		{name: "not json", body: `name=px`, status: 400, code: "malformed_json"},
		{name: "single quotes", body: `{'name':'px'}`, status: 400, code: "malformed_json"},
		{name: "trailing comma", body: `{"name":"px",}`, status: 400, code: "malformed_json"},
		{name: "array", body: `[]`, status: 400, code: "malformed_json"},
		{name: "array of the object", body: `[` + valid + `]`, status: 400, code: "malformed_json"},
		{name: "string", body: `"px"`, status: 400, code: "malformed_json"},
		{name: "number", body: `42`, status: 400, code: "malformed_json"},
		{name: "null", body: `null`, status: 400, code: "malformed_json"},
		{name: "true", body: `true`, status: 400, code: "malformed_json"},
		{name: "trailing garbage", body: valid + ` x`, status: 400, code: "malformed_json"},
		{name: "two objects", body: valid + valid, status: 400, code: "malformed_json"},
		{name: "trailing bracket", body: valid + `}`, status: 400, code: "malformed_json"},
		{name: "duplicate member", body: r.dupTop, status: 400, code: "malformed_json"},
		{name: "duplicate nested member", body: r.dupNested, status: 400, code: "malformed_json"},
		{name: "unknown member", body: strings.TrimSuffix(valid, "}") + `,"px_bogus":1}`, status: 400, code: "unknown_field", member: "px_bogus"},
		{name: "unknown member only", body: `{"px_bogus":null}`, status: 400, code: "unknown_field", member: "px_bogus"},
		{name: "invalid utf-8", body: strings.TrimSuffix(valid, "}") + `,"description":"` + "\xff\xfe" + `"}`, status: 400, code: "malformed_json"},
		{name: "invalid utf-8 in a key", body: "{\"\xc3\x28\":1}", status: 400, code: "malformed_json"},
		{name: "no content type", body: valid, header: map[string]string{"Content-Type": ""}, status: 415, code: "unsupported_media_type"},
		{name: "text/plain", body: valid, header: map[string]string{"Content-Type": "text/plain"}, status: 415, code: "unsupported_media_type"},
		{name: "form", body: valid, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type"},
		{name: "latin1", body: valid, header: map[string]string{"Content-Type": "application/json; charset=latin1"}, status: 415, code: "unsupported_media_type"},
		{name: "malformed content type", body: valid, header: map[string]string{"Content-Type": "application/json; charset"}, status: 415, code: "unsupported_media_type"},
		{name: "too large", body: `{"name":"` + strings.Repeat("a", keyward.MaxNameLen) + `"}` + strings.Repeat(" ", 1<<20), status: 413, code: "body_too_large"},
	}
	if r.bodyRequired {
		cases = append(cases,
			pxBodyCase{name: "empty", body: "", status: 400, code: "malformed_json"},
			pxBodyCase{name: "whitespace only", body: " \n\t ", status: 400, code: "malformed_json"},
		)
	}
	for _, b := range r.unknownNest {
		cases = append(cases, pxBodyCase{name: "unknown nested member " + b, body: b, status: 400, code: "unknown_field", member: "px_bogus"})
	}
	for _, w := range r.wrong {
		cases = append(cases, pxBodyCase{name: "wrong type " + w.body, body: w.body, status: 422, code: "validation_failed", member: w.member})
	}
	return cases
}

// TestPxBodyMatrix sends every route with a body every kind of bad body:
// each gets its documented problem, naming the member where one is at
// fault, and changes nothing.
func TestPxBodyMatrix(t *testing.T) {
	for _, r := range pxRoutes() {
		if r.body == nil {
			continue
		}
		t.Run(r.name(), func(t *testing.T) {
			f := pxSetup(t)
			e := f.e
			path := r.path(r.id(f))
			for _, c := range pxBodyCases(f, r) {
				t.Run(c.name, func(t *testing.T) {
					before := dump(t, e)
					rq := req{Method: r.method, Path: path, Header: c.header}
					if c.body != "" {
						rq.Body = c.body
					}
					res := e.do(rq)
					p := pxProblem(t, res, c.status, c.code)
					if p != nil && c.member != "" && !pxNames(p, c.member) {
						t.Errorf("the problem does not name %q: errors %v\n%s", c.member, fields(p), short(res.Body))
					}
					unchanged(t, e, before, c.name)
				})
			}
			t.Run("too large chunked", func(t *testing.T) {
				before := dump(t, e)
				big := io.MultiReader(strings.NewReader(`{"name":"px","description":"`), strings.NewReader(strings.Repeat("a", 1<<20)), strings.NewReader(`"}`))
				res := pxRaw(t, e, r.method, path, map[string]string{"Authorization": "Bearer " + e.Op, "Content-Type": "application/json"}, io.NopCloser(big), -1)
				pxProblem(t, res, 413, "body_too_large")
				unchanged(t, e, before, "chunked body")
			})
			t.Run("valid body works", func(t *testing.T) {
				res := e.do(req{Method: r.method, Path: path, Body: r.body(f)})
				if res.Status != r.ok {
					t.Errorf("status %d, want %d\n%s", res.Status, r.ok, short(res.Body))
				}
			})
		})
	}
}

// TestPxBodyMediaTypes: JSON media types keyward accepts.
func TestPxBodyMediaTypes(t *testing.T) {
	e := newEnv(t)
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8", "APPLICATION/JSON"} {
		t.Run(ct, func(t *testing.T) {
			res := e.do(req{Method: "POST", Path: "/v1/projects", Body: `{"name":"px ` + ct + `"}`, Header: map[string]string{"Content-Type": ct}})
			if res.Status != 201 {
				t.Errorf("Content-Type %q: status %d\n%s", ct, res.Status, short(res.Body))
			}
		})
	}
}

// TestPxBodySizeBoundary: exactly 1 MiB is accepted, one byte more is 413,
// with Content-Length and chunked.
func TestPxBodySizeBoundary(t *testing.T) {
	e := newEnv(t)
	body := func(n int) []byte {
		b := []byte(`{"name":"px big"}`)
		return append(b, bytes.Repeat([]byte(" "), n-len(b))...)
	}
	auth := map[string]string{"Authorization": "Bearer " + e.Op, "Content-Type": "application/json"}
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			send := func(b []byte) *resp {
				if chunked {
					return pxRaw(t, e, "POST", "/v1/keys", auth, io.NopCloser(bytes.NewReader(b)), -1)
				}
				return pxRaw(t, e, "POST", "/v1/keys", auth, bytes.NewReader(b), int64(len(b)))
			}
			if res := send(body(1 << 20)); res.Status != 201 {
				t.Errorf("1 MiB body: status %d\n%s", res.Status, short(res.Body))
			}
			before := dump(t, e)
			pxProblem(t, send(body(1<<20+1)), 413, "body_too_large")
			unchanged(t, e, before, "a body one byte too large")
		})
	}
}

// TestPxIDMatrix: on every {id} route, ids of the wrong kind, malformed ids,
// unknown ids and other accounts' ids are all the same 404, and change
// nothing; the other account's objects are there for that account.
func TestPxIDMatrix(t *testing.T) {
	f := pxSetup(t)
	e := f.e
	ids := map[string][]string{
		"key": {
			f.project, f.mgmtKeyID, e.OperatorKeyID, "key_123", "key_" + strings.ToLower(strings.TrimPrefix(newID(keyward.PrefixKey), "key_")),
			"KEY_" + strings.TrimPrefix(newID(keyward.PrefixKey), "key_"), "key-" + strings.TrimPrefix(newID(keyward.PrefixKey), "key_"),
			strings.TrimPrefix(f.apiKeyID, "key_"), f.apiKeyID + "0", " " + f.apiKeyID, "x", newID(keyward.PrefixKey), f.other.key,
			"key_ZZZZZZZZZZZZZZZZZZZZZZZZZZ",
		},
		"project": {
			f.apiKeyID, "prj_123", "prj_" + strings.ToLower(strings.TrimPrefix(newID(keyward.PrefixProject), "prj_")),
			newID(keyward.PrefixProject), f.other.project, "x",
		},
		"resource": {"nope", "BAD", "1x", "documents.nope", strings.Repeat("a", 65), f.other.resource},
		"mgmtkey": {
			f.apiKeyID, f.project, "key_123", newID(keyward.PrefixKey), f.other.mgmtKey, "x", strings.TrimPrefix(f.mgmtKeyID, "key_"),
			"key_" + strings.ToLower(strings.TrimPrefix(f.mgmtKeyID, "key_")), f.mgmtKeyID + "0",
		},
		"account": {
			"acc_123", newID(keyward.PrefixAccount), f.project, f.user, "x", keyward.DefaultAccountName, "px target",
			"acc_" + strings.ToLower(strings.TrimPrefix(f.acct, "acc_")), f.acct + "0", strings.TrimPrefix(f.acct, "acc_"),
		},
		"user": {
			f.other.user, newID(keyward.PrefixUser), "usr_123", f.serviceAccount, f.apiKeyID, "x", f.user + "0",
			"usr_" + strings.ToLower(strings.TrimPrefix(f.user, "usr_")),
		},
		"sa": {
			f.other.sa, newID(keyward.PrefixService), "sa_123", f.user, f.apiKeyID, "x", f.serviceAccount + "0",
		},
		"role": {"nope", "BAD", "PXROLE", "1x", strings.Repeat("a", 65), f.other.role, "pxrole.x", f.role + " "},
	}
	for _, r := range pxRoutes() {
		if r.idKind == "" || (r.idKind == "resource" && r.method == "PUT") {
			continue // PUT of an unknown resource creates it
		}
		body := ""
		if r.body != nil {
			body = r.body(f)
		}
		for _, id := range ids[r.idKind] {
			t.Run(r.name()+" "+id, func(t *testing.T) {
				before := dump(t, e)
				rq := req{Method: r.method, Path: r.path(pxEscape(id))}
				if body != "" {
					rq.Body = body
				}
				pxProblem(t, e.do(rq), 404, "not_found")
				unchanged(t, e, before, "a bad id")
			})
		}
	}
	t.Run("the other account sees its objects", func(t *testing.T) {
		h := map[string]string{"X-Account-Id": f.other.acct}
		must(t, e, 200, req{Method: "GET", Path: "/v1/keys/" + f.other.key, Header: h})
		must(t, e, 200, req{Method: "GET", Path: "/v1/projects/" + f.other.project, Header: h})
		must(t, e, 404, req{Method: "GET", Path: "/v1/keys/" + f.apiKeyID, Header: h})
		must(t, e, 404, req{Method: "GET", Path: "/v1/projects/" + f.project, Header: h})
		must(t, e, 404, req{Method: "DELETE", Path: "/v1/catalog/resources/" + f.resource, Header: h})
		must(t, e, 200, req{Method: "GET", Path: "/v1/management-keys/" + f.other.mgmtKey, Header: h})
		must(t, e, 200, req{Method: "GET", Path: "/v1/users/" + f.other.user, Header: h})
		must(t, e, 200, req{Method: "GET", Path: "/v1/service-accounts/" + f.other.sa, Header: h})
		must(t, e, 200, req{Method: "GET", Path: "/v1/roles/" + f.other.role, Header: h})
		must(t, e, 404, req{Method: "GET", Path: "/v1/management-keys/" + f.mgmtKeyID, Header: h})
		must(t, e, 404, req{Method: "GET", Path: "/v1/users/" + f.user, Header: h})
		must(t, e, 404, req{Method: "GET", Path: "/v1/service-accounts/" + f.serviceAccount, Header: h})
		must(t, e, 404, req{Method: "GET", Path: "/v1/roles/" + f.role, Header: h})
	})
}

// pxEscape escapes an id for a path segment.
func pxEscape(id string) string {
	return strings.NewReplacer(" ", "%20", "/", "%2F", "?", "%3F", "#", "%23", "%", "%25").Replace(id)
}

// TestPxNoServerErrors sweeps every route with odd inputs: none yields a
// 5xx, and every error is a proper problem.
func TestPxNoServerErrors(t *testing.T) {
	nest := func(n int, open, close, inner string) string {
		return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
	}
	longID := "key_" + strings.Repeat("A", 10000)
	pathIDs := []string{
		longID, "%00", "key_%00", "%ff%fe", "%D0%BA%D0%BB%D1%8E%D1%87", "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "key_01J%00",
		"%F0%9F%94%91", strings.Repeat("%25", 200), "a%0Ab", "%20",
	}
	queries := []string{
		"limit=-1", "limit=0", "limit=1e400", "limit=99999999999999999999999", "limit=0x10", "limit=%00", "limit=",
		"starting_after=%00", "starting_after=" + longID, "ending_before=key_" + strings.Repeat("Z", 26),
		"since=9999-99-99", "since=1e400", "until=-1", "since=0001-01-01T00:00:00Z", "until=9999-12-31T23:59:59.999999999Z",
		"created_after=%ff", "status=%00", "search=" + strings.Repeat("%F0%9F%94%91", 300), "resource=%C3%BC",
		"target_id=" + strings.Repeat("x", 1000), "action=%00", "expired=maybe", "owner_id=" + strings.Repeat("u", 100),
		"pretty=%00", "%00=1", "a=1&a=2", strings.Repeat("x=1&", 500) + "y=2",
	}
	bodies := []string{
		`{"name":1e400}`, `{"name":"x","expires_at":"99999-01-01T00:00:00Z"}`, `{"name":"x","expires_at":"0001-01-01T00:00:00Z"}`,
		`{"name":"x","expires_at":"9999-12-31T23:59:59Z"}`, `{"name":"x","expires_at":"2030-01-01T00:00:00+99:00"}`,
		`{"name":"` + strings.Repeat("ü", 10000) + `"}`, `{"name":"\u0000"}`, `{"name":"\ud800"}`, `{"name":"x","description":"\u0000\u001f"}`,
		`{"name":"x","metadata":{"a":` + nest(10000, "[", "]", "1") + `}}`,
		`{"name":"x","metadata":` + nest(5000, `{"a":`, "}", "1") + `}`,
		nest(10000, `{"a":`, "}", "1"), nest(100000, `{"a":`, "}", "1"), nest(100000, "[", "]", ""),
		`{"name":"x","metadata":{"` + strings.Repeat("k", 100000) + `":1}}`,
		`{"name":"x","permission_mode":"restricted","scopes":[` + strings.TrimSuffix(strings.Repeat(`{"resource":"documents","access":"read"},`, 10000), ",") + `]}`,
		`{"name":"x","permission_mode":"restricted","scopes":[{"resource":"documents","access":"read","targets":[` + strings.TrimSuffix(strings.Repeat(`"t",`, 50000), ",") + `]}]}`,
		`{"name":"x","permission_mode":"restricted","scopes":[{"resource":"` + strings.Repeat("r", 10000) + `","access":"` + strings.Repeat("w", 1000) + `"}]}`,
		`{"name":"x","ip_allowlist":["999.1.1.1","::ffff:1.2.3.4/200","10.0.0.0/-1","` + strings.Repeat("1", 5000) + `"]}`,
		`{"name":"x","roles":[` + strings.TrimSuffix(strings.Repeat(`"r",`, 10000), ",") + `]}`,
		`{"name":"x","prefix":"` + strings.Repeat("p", 10000) + `"}`, `{"name":"x","owner":{"type":"user","id":"` + strings.Repeat("u", 10000) + `"}}`,
		`{"name":"x","project_id":"` + longID + `"}`, `{"name":"x","legacy_key_id":"` + strings.Repeat("l", 10000) + `"}`,
		`{"name":"x","rate_limit":{"limit":-1,"window":0}}`, `{"name":"x","credits":{"remaining":9223372036854775807,"refill":{"amount":-1,"interval":0}}}`,
		`{"grace_period_seconds":1e400}`, `{"grace_period_seconds":-9223372036854775808}`, `{"grace_period_seconds":9223372036854775807}`,
		`{"key":"` + strings.Repeat("k", 100000) + `"}`, `{"key":"kw_` + strings.Repeat("\u00e9", 100) + `"}`,
		`{"key":"x","permissions":"` + nest(100000, "(", ")", "documents:read") + `"}`,
		`{"key":"x","permissions":"` + strings.TrimSuffix(strings.Repeat("documents:read AND ", 20000), " AND ") + `"}`,
		`{"key":"x","permissions":"` + strings.Repeat(")", 1000) + `"}`, `{"key":"x","permissions":"documents:read:` + strings.Repeat("t", 100000) + `"}`,
		`{"key":"x","cost":1e400}`, `{"key":"x","cost":-1}`, `{"key":"x","cost":9223372036854775807}`, `{"key":"x","ip":"` + strings.Repeat("1", 10000) + `"}`,
		`{"key":"x","project_id":"` + longID + `"}`,
		`{"display_name":"` + strings.Repeat("d", 100000) + `","project_scopes":[` + strings.TrimSuffix(strings.Repeat(`"all",`, 10000), ",") + `]}`,
		`{"display_name":"x\u0000y","group":"\u2028","description":"` + strings.Repeat("\\n", 5000) + `"}`,
	}
	headers := []map[string]string{
		{"X-Account-Id": strings.Repeat("a", 10000)}, {"X-Account-Id": "acc_" + strings.Repeat("Z", 26)},
		{"If-Match": strings.Repeat(`"x",`, 2000)}, {"If-Match": `W/`}, {"If-Match": `""`},
		{"Request-Timeout-Millis": "99999999999999999999"}, {"Request-Timeout": "9223372036854775807"},
		{"Accept": ";;;"}, {"Accept": "application/json;q=abc"}, {"Accept": strings.Repeat("a/b,", 2000)},
		{"Content-Type": "application/json; charset=\"utf-8"}, {"X-Request-Id": strings.Repeat("r", 5000)},
		{"Authorization": "Bearer " + strings.Repeat("k", 10000)}, {"Authorization": strings.Repeat("Bearer ", 1000)},
		{"X-API-Key": "kwm_" + strings.Repeat("\u00e9", 50)}, {"Idempotency-Key": strings.Repeat("i", 10000)},
	}
	check := func(t *testing.T, what string, res *resp) {
		t.Helper()
		if res.Status >= 500 {
			t.Errorf("%s: status %d\n%s", what, res.Status, short(res.Body))
			return
		}
		if res.Status >= 400 {
			pxProblemShape(t, res, "")
		}
	}
	for _, r := range pxRoutes() {
		t.Run(r.name(), func(t *testing.T) {
			f := pxSetup(t)
			e := f.e
			body := ""
			if r.body != nil {
				body = r.body(f)
			}
			send := func(path, body string, h map[string]string) *resp {
				header := map[string]string{"Authorization": "Bearer " + e.Op, "Content-Type": "application/json"}
				for k, v := range h {
					header[k] = v
				}
				var rd io.Reader
				if body != "" {
					rd = strings.NewReader(body)
				}
				return pxRaw(t, e, r.method, path, header, rd, int64(len(body)))
			}
			if r.idKind != "" {
				for _, id := range pathIDs {
					check(t, "id "+short([]byte(id)), send(r.path(id), body, nil))
				}
			}
			for _, q := range queries {
				check(t, "query "+short([]byte(q)), send(r.path(r.id(f))+"?"+q, body, nil))
			}
			for _, h := range headers {
				check(t, fmt.Sprintf("headers %.80v", h), send(r.path(r.id(f)), body, h))
			}
			if r.body != nil {
				for _, b := range bodies {
					check(t, "body "+short([]byte(b)), send(r.path(r.id(f)), b, nil))
				}
			}
		})
	}
}

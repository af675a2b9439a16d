package orq

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat/compattest"
)

// The ids of orq's documentation examples (its SDKs' x-code-samples).
const (
	exampleKeyID     = "01HZXW2K7Y8Q9M0N1P2R3S4T5V"
	exampleProjectID = "proj_01HZXW2K7Y8Q9M0N1P2R3S4T5V"
)

// env is a keyward server with the orq dialect mounted, an account on the
// orq catalog template and a management key bound to it.
type env struct {
	*compattest.Env
	acc string // the orq account's id
	mk  string // a management key of the account: keys:read, keys:write, catalog:read
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := compattest.New(t, compattest.Dialect(Dialect, New), compattest.Options{})
	acc := e.Account("orq-workspace", keyward.TemplateOrq)
	return &env{Env: e, acc: acc, mk: e.ManagementKeyIn(acc, keyward.PermKeysRead, keyward.PermKeysWrite, keyward.PermCatalogRead)}
}

// orq sends a request to the dialect with the account's management key.
func (e *env) orq(method, path string, body any, headers ...string) *compattest.Response {
	e.T.Helper()
	return e.Do(method, "/compat/orq"+path, body, append([]string{"Authorization: Bearer " + e.mk}, headers...)...)
}

// native sends a request to the native API in the orq account.
func (e *env) native(method, path string, body any) *compattest.Response {
	e.T.Helper()
	return e.Native(method, path, body, "X-Account-Id: "+e.acc)
}

// nativeKey returns the native view of a key, by its orq id.
func (e *env) nativeKey(orqID string) (k map[string]any) {
	e.T.Helper()
	e.Get(e.acc, "/v1/keys/key_"+orqID, &k)
	return k
}

// create creates a key through the dialect and returns its api_key.
func (e *env) create(body string) map[string]any {
	e.T.Helper()
	res := e.orq("POST", "/v2/api-keys", body)
	if res.Status != http.StatusOK {
		e.T.Fatalf("create: %d %s", res.Status, res.Body)
	}
	return res.Map(e.T)["api_key"].(map[string]any)
}

// addDomain adds a resource to the account's catalog through the native API.
func (e *env) addDomain(id, group string) {
	e.T.Helper()
	res := e.native("PUT", "/v1/catalog/resources/"+id, map[string]any{"group": group})
	if res.Status != http.StatusCreated && res.Status != http.StatusOK {
		e.T.Fatalf("PUT catalog resource %s: %d %s", id, res.Status, res.Body)
	}
}

// auditEvents returns the audit events of a key, newest first.
func (e *env) auditEvents(keyID string) (events []map[string]any) {
	e.T.Helper()
	e.List(e.acc, "/v1/audit-events?target_id="+keyID, &events)
	return events
}

// fixtures stores the objects orq's examples name, with their ids: the
// project proj_01HZXW2K7Y8Q9M0N1P2R3S4T5V and the key
// 01HZXW2K7Y8Q9M0N1P2R3S4T5V, written to the store directly (no API
// lets a client choose an id). The key has every optional member set, so
// its answers show every member of orq's ApiKey.
func (e *env) fixtures() {
	e.T.Helper()
	now := keyward.Timestamp(time.Now())
	tok, err := keyward.NewToken("kw", rand.Reader)
	if err != nil {
		e.T.Fatal(err)
	}
	exp, used, legacy := now.Add(30*24*time.Hour), now.Add(-time.Hour), "legacy-0001"
	k := &keyward.Key{
		ID: "key_" + exampleKeyID, AccountID: e.acc, Kind: keyward.KindAPI, Name: "example key", Status: keyward.StatusActive,
		Prefix: "kw", Start: tok.Start(), Last4: tok.Last4(), Owner: keyward.Owner{Type: keyward.OwnerAccount, ID: e.acc},
		PermissionMode: keyward.ModeRestricted, Scopes: []keyward.Scope{{Resource: "agent", Access: keyward.AccessWrite, Targets: []string{"*"}}},
		Roles: []string{}, ExpiresAt: &exp, LegacyKeyID: &legacy, CreatedAt: now, UpdatedAt: now, CreatedByID: e.OpID,
		UpdatedByID: e.OpID, LastUsedAt: &used, Version: 1,
	}
	p := &keyward.Project{ID: "prj_01HZXW2K7Y8Q9M0N1P2R3S4T5V", AccountID: e.acc, Name: "example project", CreatedAt: now, UpdatedAt: now, Version: 1}
	err = e.Store.Write(context.Background(), func(tx keyward.Tx) error {
		if err := tx.CreateProject(context.Background(), p); err != nil {
			return err
		}
		return tx.CreateKey(context.Background(), k, tok.Hash())
	})
	if err != nil {
		e.T.Fatalf("store fixtures: %v", err)
	}
}

var timestampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$`)

// checkAPIKey checks the shape of an orq ApiKey: the members orq requires,
// and the format of those present.
func checkAPIKey(t *testing.T, k map[string]any) {
	t.Helper()
	for _, m := range []string{"api_key_id", "name", "owner", "project_scope", "permission_mode", "token_prefix", "status", "created_at", "updated_at"} {
		if _, ok := k[m]; !ok {
			t.Errorf("api_key lacks %q: %v", m, k)
		}
	}
	if id, _ := k["api_key_id"].(string); !keyward.ValidID("key_", "key_"+id) {
		t.Errorf("api_key_id %q is not a bare ULID", id)
	}
	for _, m := range []string{"created_at", "updated_at", "last_used_at", "expires_at"} {
		if v, ok := k[m]; ok && !timestampRE.MatchString(v.(string)) {
			t.Errorf("%s %q is not an RFC 3339 UTC timestamp", m, v)
		}
	}
	for _, m := range []string{"status", "permission_mode"} {
		if v, _ := k[m].(string); !strings.HasPrefix(v, map[string]string{"status": "API_KEY_STATUS_", "permission_mode": "PERMISSION_MODE_"}[m]) {
			t.Errorf("%s %q is not an orq enum name", m, v)
		}
	}
	for m, v := range k {
		if v == nil {
			t.Errorf("member %q is null: orq omits unset members", m)
		}
	}
}

// errorCode checks an orq error answer and returns its code.
func errorCode(t *testing.T, res *compattest.Response) string {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var body struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	res.JSON(t, &body)
	if body.Error == nil || body.Error.Code == "" || body.Error.Message == "" {
		t.Fatalf("not an orq error body {error:{code,message}}: %s", res.Body)
	}
	return body.Error.Code
}

// fieldViolations returns the fields an orq error names
// (details.field_violations).
func fieldViolations(t *testing.T, res *compattest.Response) []string {
	t.Helper()
	var body struct {
		Error struct {
			Details struct {
				FieldViolations []struct{ Field string } `json:"field_violations"`
			} `json:"details"`
		} `json:"error"`
	}
	res.JSON(t, &body)
	var fields []string
	for _, f := range body.Error.Details.FieldViolations {
		fields = append(fields, f.Field)
	}
	return fields
}

// wantMembers checks members of an object (native or orq) against want.
func wantMembers(t *testing.T, what string, k, want map[string]any) {
	t.Helper()
	for m, v := range want {
		if d := diff(v, k[m]); d != "" {
			t.Errorf("%s%s:\n%s", what, m, d)
		}
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// diff returns "" when want and got are deeply equal, else both, for a
// failure message (go-cmp is not a dependency of the module).
func diff(want, got any) string {
	if reflect.DeepEqual(want, got) {
		return ""
	}
	return fmt.Sprintf("-want %#v\n+got  %#v", want, got)
}

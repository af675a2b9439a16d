package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

func ctPtr[T any](v T) *T { return &v }

// ctSameJSON fails unless got, encoded as JSON, is the same JSON value as
// raw (the server's body), with the members in drop removed from raw: the
// decoded value kept every member and every value the server sent.
func ctSameJSON(t *testing.T, what string, got any, raw []byte, drop ...string) {
	t.Helper()
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("%s: marshal the decoded value: %v", what, err)
	}
	var g, w any
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		t.Fatalf("%s: the server's body is not JSON: %v\n%s", what, err, raw)
	}
	if m, ok := w.(map[string]any); ok {
		for _, d := range drop {
			delete(m, d)
		}
	}
	if !reflect.DeepEqual(g, w) {
		gb, _ := json.Marshal(g)
		wb, _ := json.Marshal(w)
		t.Errorf("%s: the decoded value differs from the server's JSON\n got: %s\nwant: %s", what, gb, wb)
	}
}

func ctCheck(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func ctEq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestEveryRoute calls every method of the client once against a real
// server, checks that the decoded value holds exactly the JSON the server
// sent and that the change happened, and at the end that every route the
// server declares was reached.
func TestEveryRoute(t *testing.T) {
	const exposition = "# TYPE keyward_up gauge\nkeyward_up 1\n"
	s := ctNewServer(t, ctServerOptions{Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, exposition)
	})})
	c := ctOpClient(t, s)
	ctx := context.Background()
	var res client.Response
	capture := client.Capture(&res)
	start := time.Now().Add(-time.Second)

	// ---- health ----
	st, err := c.Health(ctx, capture)
	ctCheck(t, "Health", err)
	ctEq(t, "Health status", st.Status, "ok")
	ctSameJSON(t, "Health", st, res.Body)
	st, err = c.Ready(ctx, capture)
	ctCheck(t, "Ready", err)
	ctEq(t, "Ready status", st.Status, "ready")
	ctSameJSON(t, "Ready", st, res.Body)
	doc, err := c.OpenAPI(ctx)
	ctCheck(t, "OpenAPI", err)
	var d struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	ctCheck(t, "decode OpenAPI", json.Unmarshal(doc, &d))
	if !strings.HasPrefix(d.OpenAPI, "3.") || d.Paths["/v1/keys"] == nil {
		t.Errorf("OpenAPI: openapi %q, %d paths: not keyward's document", d.OpenAPI, len(d.Paths))
	}

	m, err := c.Metrics(ctx)
	ctCheck(t, "Metrics", err)
	if string(m) != exposition || s.last(t).Header.Get("Accept") != "text/plain" {
		t.Errorf("Metrics = %q (Accept %q), want the handler's text", m, s.last(t).Header.Get("Accept"))
	}
	if _, err := ctOpClient(t, ctNewServer(t, ctServerOptions{})).Metrics(ctx); keyward.ErrorCode(err) != keyward.ECodeNotFound {
		t.Errorf("Metrics on a server without metrics: %v, want not_found", err)
	}

	// ---- catalog ----
	cat, err := c.GetCatalog(ctx, capture)
	ctCheck(t, "GetCatalog", err)
	ctSameJSON(t, "GetCatalog", cat, res.Body)
	if !slices.ContainsFunc(cat.Resources, func(r keyward.Resource) bool { return r.ID == "documents" }) || len(cat.ManagementPermissions) == 0 || len(cat.Presets) != 3 {
		t.Errorf("GetCatalog: %d resources (documents?), %d management permissions, %d presets", len(cat.Resources), len(cat.ManagementPermissions), len(cat.Presets))
	}
	r, err := c.PutResource(ctx, "reports", &keyward.ResourceFields{DisplayName: keyward.Some("Reports"), Writable: keyward.Some(false)}, capture)
	ctCheck(t, "PutResource (create)", err)
	ctSameJSON(t, "PutResource", r, res.Body)
	if !r.Created || res.StatusCode != http.StatusCreated || r.DisplayName != "Reports" || r.Writable || !r.Readable {
		t.Errorf("PutResource (create) = created %v (status %d), %+v", r.Created, res.StatusCode, r.Resource)
	}
	r, err = c.PutResource(ctx, "reports", &keyward.ResourceFields{DisplayName: keyward.Some("Reports"), Group: keyward.Some("analytics")}, capture)
	ctCheck(t, "PutResource (replace)", err)
	if r.Created || res.StatusCode != http.StatusOK || r.Group != "analytics" || !r.Writable {
		t.Errorf("PutResource (replace) = created %v (status %d), %+v", r.Created, res.StatusCode, r.Resource)
	}

	// ---- roles ----
	readDocs := []keyward.Scope{{Resource: "documents", Access: keyward.AccessRead}}
	role, err := c.CreateRole(ctx, &keyward.RoleFields{Name: keyward.Some("reader"), Description: keyward.Some("reads documents"), Scopes: keyward.Some(readDocs)}, capture)
	ctCheck(t, "CreateRole", err)
	ctSameJSON(t, "CreateRole", role, res.Body)
	ctEq(t, "CreateRole ETag header", res.ETag, role.ETag)
	if len(role.Scopes) != 1 || !slices.Equal(role.Scopes[0].Targets, []string{"*"}) {
		t.Errorf("CreateRole scopes = %+v, want documents:read on every target (targets left out)", role.Scopes)
	}
	roles, err := c.ListRoles(ctx, capture)
	ctCheck(t, "ListRoles", err)
	ctSameJSON(t, "ListRoles", client.Page[client.Role]{Data: roles}, res.Body)
	if !slices.ContainsFunc(roles, func(r client.Role) bool { return r.Name == "reader" }) {
		t.Errorf("ListRoles has no reader: %+v", roles)
	}
	role, err = c.GetRole(ctx, "reader", capture)
	ctCheck(t, "GetRole", err)
	ctSameJSON(t, "GetRole", role, res.Body)
	role, err = c.UpdateRole(ctx, "reader", &keyward.RoleFields{Description: keyward.Null[string]()}, client.IfMatch(role.ETag), capture)
	ctCheck(t, "UpdateRole", err)
	ctSameJSON(t, "UpdateRole", role, res.Body)
	if role.Description != nil {
		t.Errorf("UpdateRole with a null description left %q", *role.Description)
	}

	// ---- users ----
	u, err := c.CreateUser(ctx, &keyward.UserFields{ExternalID: keyward.Some("ext-1"), Email: keyward.Some("ada@example.com"),
		Name: keyward.Some("Ada"), Roles: keyward.Some([]string{"reader"})}, capture)
	ctCheck(t, "CreateUser", err)
	ctSameJSON(t, "CreateUser", u, res.Body)
	ctEq(t, "CreateUser ETag header", res.ETag, u.ETag)
	users, err := c.ListUsers(ctx, &client.UserListParams{Limit: 5, Status: keyward.MemberActive, Role: "reader", ExternalID: "ext-1", Search: "ada"}, capture)
	ctCheck(t, "ListUsers", err)
	ctSameJSON(t, "ListUsers", users, res.Body)
	if len(users.Data) != 1 || users.Data[0].ID != u.ID {
		t.Errorf("ListUsers with every filter = %+v, want just %s", users.Data, u.ID)
	}
	ctSentQuery(t, s, "limit", "status", "role", "external_id", "search")
	ctCollect(t, "UsersPager", c.UsersPager(&client.UserListParams{Role: "reader"}).All(ctx), u.ID)
	got, err := c.GetUser(ctx, u.ID, capture)
	ctCheck(t, "GetUser", err)
	ctSameJSON(t, "GetUser", got, res.Body)
	got, err = c.UpdateUser(ctx, u.ID, &keyward.UserFields{Name: keyward.Null[string]()}, capture)
	ctCheck(t, "UpdateUser", err)
	ctSameJSON(t, "UpdateUser", got, res.Body)
	if got.Name != nil || got.Email == nil {
		t.Errorf("UpdateUser {name: null} = name %v, email %v; want name cleared, email kept", got.Name, got.Email)
	}

	// ---- service accounts ----
	sa, err := c.CreateServiceAccount(ctx, &keyward.ServiceAccountFields{Name: keyward.Some("ci"), Description: keyward.Some("the CI job")}, capture)
	ctCheck(t, "CreateServiceAccount", err)
	ctSameJSON(t, "CreateServiceAccount", sa, res.Body)
	sas, err := c.ListServiceAccounts(ctx, &client.ServiceAccountListParams{Status: keyward.MemberActive}, capture)
	ctCheck(t, "ListServiceAccounts", err)
	ctSameJSON(t, "ListServiceAccounts", sas, res.Body)
	ctSentQuery(t, s, "status")
	ctCollect(t, "ServiceAccountsPager", c.ServiceAccountsPager(nil).All(ctx), sa.ID)
	sa, err = c.GetServiceAccount(ctx, sa.ID, capture)
	ctCheck(t, "GetServiceAccount", err)
	ctSameJSON(t, "GetServiceAccount", sa, res.Body)
	sa, err = c.UpdateServiceAccount(ctx, sa.ID, &keyward.ServiceAccountFields{Status: keyward.Some(keyward.MemberDisabled), Description: keyward.Null[string]()}, capture)
	ctCheck(t, "UpdateServiceAccount", err)
	ctSameJSON(t, "UpdateServiceAccount", sa, res.Body)
	if sa.Status != keyward.MemberDisabled || sa.Description != nil {
		t.Errorf("UpdateServiceAccount = status %s, description %v", sa.Status, sa.Description)
	}

	// ---- projects ----
	p, err := c.CreateProject(ctx, &keyward.ProjectFields{Name: keyward.Some("web"), Description: keyward.Some("the web app")}, capture)
	ctCheck(t, "CreateProject", err)
	ctSameJSON(t, "CreateProject", p, res.Body)
	ctEq(t, "CreateProject ETag header", res.ETag, p.ETag)
	ps, err := c.ListProjects(ctx, &client.PageParams{Limit: 1}, capture)
	ctCheck(t, "ListProjects", err)
	ctSameJSON(t, "ListProjects", ps, res.Body)
	ctCollect(t, "ProjectsPager", c.ProjectsPager(nil).All(ctx), p.ID)
	p, err = c.GetProject(ctx, p.ID, capture)
	ctCheck(t, "GetProject", err)
	ctSameJSON(t, "GetProject", p, res.Body)
	p2, err := c.UpdateProject(ctx, p.ID, &keyward.ProjectFields{Description: keyward.Null[string]()}, client.IfMatch(p.ETag), capture)
	ctCheck(t, "UpdateProject", err)
	ctSameJSON(t, "UpdateProject", p2, res.Body)
	if p2.Description != nil || p2.ETag == p.ETag {
		t.Errorf("UpdateProject {description: null} = %v, etag %s (was %s)", p2.Description, p2.ETag, p.ETag)
	}

	// ---- API keys ----
	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Millisecond)
	scopes := []keyward.Scope{{Resource: "documents", Access: keyward.AccessRead, Targets: []string{"d_1", "d_2"}}}
	k, err := c.CreateKey(ctx, &keyward.KeyFields{
		Name:           keyward.Some("acme production"),
		Description:    keyward.Some("first key"),
		Prefix:         keyward.Some("acme"),
		Owner:          keyward.Some(keyward.Owner{Type: keyward.OwnerUser, ID: u.ID}),
		ProjectID:      keyward.Some(p.ID),
		PermissionMode: keyward.Some(keyward.ModeRestricted),
		Scopes:         keyward.Some(scopes),
		Roles:          keyward.Some([]string{"reader"}),
		ExpiresAt:      keyward.Some(exp),
		Metadata:       keyward.Some(map[string]json.RawMessage{"tier": json.RawMessage(`3`), "team": json.RawMessage(`"data"`)}),
		IPAllowlist:    keyward.Some([]string{"10.0.0.0/8"}),
		LegacyKeyID:    keyward.Some("legacy-1"),
	}, capture)
	ctCheck(t, "CreateKey", err)
	ctSameJSON(t, "CreateKey", k, res.Body, "secret")
	var raw struct {
		Secret string `json:"secret"`
	}
	json.Unmarshal(res.Body, &raw)
	if k.Secret.Reveal() != raw.Secret || !strings.HasPrefix(raw.Secret, "acme_") {
		t.Errorf("CreateKey secret does not match the server's (prefix acme_)")
	}
	if k.Replayed {
		t.Error("CreateKey without Idempotency-Key says Replayed")
	}
	ctEq(t, "CreateKey ETag header", res.ETag, k.ETag)
	if k.Owner.ID != u.ID || *k.ProjectID != p.ID || !k.ExpiresAt.Equal(exp) || string(k.Metadata["tier"]) != "3" ||
		!slices.Equal(k.IPAllowlist, []string{"10.0.0.0/8"}) || !slices.Equal(k.Scopes[0].Targets, []string{"d_1", "d_2"}) || *k.LegacyKeyID != "legacy-1" {
		t.Errorf("CreateKey = %+v: not what was sent", k.Key)
	}
	after := time.Now().Add(time.Second)
	list, err := c.ListKeys(ctx, &client.KeyListParams{Limit: 10, Status: keyward.StatusActive, OwnerType: keyward.OwnerUser, OwnerID: u.ID,
		ProjectID: p.ID, PermissionMode: keyward.ModeRestricted, Resource: "documents", Role: "reader", Search: "ACME",
		Expired: ctPtr(false), CreatedAfter: start, CreatedBefore: after, LastUsedBefore: after}, capture)
	ctCheck(t, "ListKeys", err)
	ctSameJSON(t, "ListKeys", list, res.Body)
	if len(list.Data) != 1 || list.Data[0].ID != k.ID || list.HasMore {
		t.Errorf("ListKeys with every filter = %d keys (more %v), want just %s", len(list.Data), list.HasMore, k.ID)
	}
	ctSentQuery(t, s, "limit", "status", "owner_type", "owner_id", "project_id", "permission_mode", "resource", "role", "search",
		"expired", "created_after", "created_before", "last_used_before")
	ctCollect(t, "KeysPager", c.KeysPager(&client.KeyListParams{Search: "acme"}).All(ctx), k.ID)
	gk, err := c.GetKey(ctx, k.ID, capture)
	ctCheck(t, "GetKey", err)
	ctSameJSON(t, "GetKey", gk, res.Body)
	ctEq(t, "GetKey ETag header", res.ETag, gk.ETag)

	v, err := c.VerifyKey(ctx, &keyward.VerifyRequest{Key: keyward.Some(k.Secret), Permissions: ctPtr("documents:read:d_1"),
		ProjectID: &p.ID, IP: ctPtr("10.1.2.3"), Cost: ctPtr(int64(1))}, capture)
	ctCheck(t, "VerifyKey", err)
	ctSameJSON(t, "VerifyKey", v, res.Body)
	if !v.Valid || v.Code != keyward.VerifyValid || v.KeyID != k.ID || v.AccountID != k.AccountID || v.Name != k.Name ||
		v.Owner != k.Owner || *v.ProjectID != p.ID || v.PermissionMode != keyward.ModeRestricted || !v.ExpiresAt.Equal(exp) ||
		!slices.Equal(v.Roles, []string{"reader"}) || string(v.Metadata["team"]) != `"data"` || v.CreditsRemaining != nil || v.RateLimit != nil || len(v.Scopes) == 0 {
		t.Errorf("VerifyKey = %+v", v)
	}
	var members map[string]json.RawMessage
	json.Unmarshal(res.Body, &members)
	for _, m := range []string{"valid", "code", "key_id", "account_id", "name", "owner", "project_id", "permission_mode", "scopes", "roles", "expires_at", "metadata", "credits_remaining", "rate_limit"} {
		if _, ok := members[m]; !ok {
			t.Errorf("the verify answer has no %q member", m)
		}
	}
	bogus, _ := keyward.NewToken("acme", nil)
	v, err = c.VerifyKey(ctx, &keyward.VerifyRequest{Key: keyward.Some(bogus)}, capture)
	ctCheck(t, "VerifyKey (unknown)", err)
	ctSameJSON(t, "VerifyKey (unknown)", v, res.Body)
	if v.Valid || v.Code != keyward.VerifyNotFound || v.KeyID != "" {
		t.Errorf("VerifyKey (unknown) = %+v", v)
	}

	uk, err := c.UpdateKey(ctx, k.ID, &keyward.KeyFields{Description: keyward.Null[string](), Metadata: keyward.Null[map[string]json.RawMessage](),
		IPAllowlist: keyward.Null[[]string](), ExpiresAt: keyward.Null[time.Time]()}, client.IfMatch(gk.ETag), capture)
	ctCheck(t, "UpdateKey", err)
	ctSameJSON(t, "UpdateKey", uk, res.Body)
	if uk.Description != nil || len(uk.Metadata) != 0 || uk.IPAllowlist != nil || uk.ExpiresAt != nil || uk.Name != k.Name || uk.ETag == gk.ETag {
		t.Errorf("UpdateKey with nulls = %+v", uk)
	}
	ctEq(t, "UpdateKey ETag header", res.ETag, uk.ETag)

	rk, err := c.ReplaceKey(ctx, k.ID, &keyward.KeyFields{Name: keyward.Some("replaced"), Metadata: keyward.Some(map[string]json.RawMessage{"v": json.RawMessage(`2`)})}, client.IfMatch(uk.ETag), capture)
	ctCheck(t, "ReplaceKey", err)
	ctSameJSON(t, "ReplaceKey", rk, res.Body)
	if rk.Name != "replaced" || rk.ProjectID != nil || rk.PermissionMode != keyward.ModeAll || len(rk.Scopes) != 0 || len(rk.Roles) != 0 || rk.Owner.ID != u.ID {
		t.Errorf("ReplaceKey = %+v: want a new key's defaults, same owner", rk)
	}

	exp2 := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Millisecond)
	rot, err := c.RotateKey(ctx, k.ID, &client.RotateRequest{GracePeriodSeconds: keyward.Some(int64(600)), ExpiresAt: keyward.Some(exp2)}, capture)
	ctCheck(t, "RotateKey", err)
	ctSameJSON(t, "RotateKey", rot, res.Body, "secret")
	if rot.Secret.IsZero() || rot.Secret.Reveal() == k.Secret.Reveal() || rot.RotatedAt == nil || !rot.ExpiresAt.Equal(exp2) || rot.ID != k.ID {
		t.Errorf("RotateKey = %+v: want a new secret, rotated_at and the new expiry", rot.Key)
	}
	for _, tc := range []struct {
		name string
		tok  keyward.Token
	}{{"old secret in its grace period", k.Secret}, {"new secret", rot.Secret}} {
		v, err := c.VerifyKey(ctx, &keyward.VerifyRequest{Key: keyward.Some(tc.tok)})
		ctCheck(t, "VerifyKey "+tc.name, err)
		if v.Code != keyward.VerifyValid {
			t.Errorf("VerifyKey %s after RotateKey = %s, want VALID", tc.name, v.Code)
		}
	}

	rec, err := c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("recoverable"), Recoverable: keyward.Some(true)})
	ctCheck(t, "CreateKey (recoverable)", err)
	sec, err := c.RevealSecret(ctx, rec.ID, capture)
	ctCheck(t, "RevealSecret", err)
	if sec.ID != rec.ID || sec.Secret.Reveal() != rec.Secret.Reveal() {
		t.Errorf("RevealSecret = %s, not the created key's secret", sec.ID)
	}
	ctSameJSON(t, "RevealSecret", map[string]string{"id": sec.ID, "secret": sec.Secret.Reveal()}, res.Body)

	legacy := "sk_live_0123456789abcdef0123456789abcdef"
	sum := sha256.Sum256([]byte(legacy))
	imported, err := c.ImportKeys(ctx, []keyward.ImportItem{{Hash: hex.EncodeToString(sum[:]), Start: ctPtr("sk_live"), Last4: ctPtr("cdef"),
		KeyFields: keyward.KeyFields{Name: keyward.Some("legacy"), PermissionMode: keyward.Some(keyward.ModeRestricted), Scopes: keyward.Some(readDocs)}}}, capture)
	ctCheck(t, "ImportKeys", err)
	ctSameJSON(t, "ImportKeys", client.Page[client.Key]{Data: imported}, res.Body)
	if len(imported) != 1 || imported[0].Start != "sk_live" || imported[0].Last4 != "cdef" || imported[0].Name != "legacy" {
		t.Errorf("ImportKeys = %+v", imported)
	}
	v, err = c.VerifyKey(ctx, &keyward.VerifyRequest{Key: keyward.Some(keyward.TokenFromString(legacy)), Permissions: ctPtr("documents:read")})
	ctCheck(t, "VerifyKey (imported)", err)
	if v.Code != keyward.VerifyValid || v.KeyID != imported[0].ID {
		t.Errorf("VerifyKey of the imported token = %s %s", v.Code, v.KeyID)
	}

	// ---- rate limits and credits ----
	metered, err := c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("metered"),
		RateLimit: keyward.Some(keyward.RateLimit{Limit: 2, Window: 60}), Credits: keyward.Some(keyward.Credits{Remaining: 5})}, capture)
	ctCheck(t, "CreateKey (metered)", err)
	ctSameJSON(t, "CreateKey (metered)", metered, res.Body, "secret")
	if metered.RateLimit == nil || *metered.RateLimit != (keyward.RateLimit{Limit: 2, Window: 60}) || metered.Credits == nil || metered.Credits.Remaining != 5 {
		t.Errorf("CreateKey (metered) = rate limit %+v, credits %+v", metered.RateLimit, metered.Credits)
	}
	for i, want := range []struct {
		code             keyward.VerifyCode
		credits, remains int64
	}{{keyward.VerifyValid, 3, 1}, {keyward.VerifyUsageExceeded, 3, 0}, {keyward.VerifyRateLimited, 3, 0}} {
		before := time.Now()
		v, err := c.VerifyKey(ctx, &keyward.VerifyRequest{Key: keyward.Some(metered.Secret), Cost: ctPtr(int64(2 + 2*i))}, capture)
		ctCheck(t, "VerifyKey (metered)", err)
		ctSameJSON(t, "VerifyKey (metered)", v, res.Body)
		if v.Code != want.code || v.Valid != (want.code == keyward.VerifyValid) || v.CreditsRemaining == nil || *v.CreditsRemaining != want.credits ||
			v.RateLimit == nil || v.RateLimit.Limit != 2 || v.RateLimit.Remaining != want.remains || !v.RateLimit.ResetAt.After(before) {
			t.Errorf("verification %d of the metered key = %s, credits %v, rate limit %+v; want %s, %d credits, %d remaining", i+1, v.Code, v.CreditsRemaining, v.RateLimit, want.code, want.credits, want.remains)
		}
	}
	for _, tc := range []struct {
		name string
		in   client.CreditsChange
		want int64
	}{{"set", client.CreditsChange{Set: keyward.Some(int64(10))}, 10}, {"add", client.CreditsChange{Add: keyward.Some(int64(5))}, 15}, {"subtract", client.CreditsChange{Subtract: keyward.Some(int64(4))}, 11}} {
		ck, err := c.ChangeCredits(ctx, metered.ID, &tc.in, capture)
		ctCheck(t, "ChangeCredits "+tc.name, err)
		ctSameJSON(t, "ChangeCredits "+tc.name, ck, res.Body)
		if ck.Credits == nil || ck.Credits.Remaining != tc.want || res.ETag != ck.ETag {
			t.Errorf("ChangeCredits %s = credits %+v, want %d remaining", tc.name, ck.Credits, tc.want)
		}
	}
	if evs, err := c.ListAuditEvents(ctx, &client.AuditListParams{TargetID: metered.ID, Action: keyward.ActionKeyCreditsChanged}); err != nil || len(evs.Data) != 3 {
		t.Errorf("audit events of the credit changes: %v, %v; want 3", evs, err)
	}

	// ---- usage: the three verifications of the metered key, by outcome,
	// within 5 s (the write-behind runs every 2 s) ----
	var series *client.UsageSeries
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		series, err = c.KeyUsage(ctx, metered.ID, &client.UsageParams{Granularity: "minute", From: start.Add(-time.Minute), To: time.Now().Add(time.Minute)}, capture)
		ctCheck(t, "KeyUsage", err)
		if series.Total == 3 || time.Now().After(deadline) {
			break
		}
	}
	ctSameJSON(t, "KeyUsage", series, res.Body)
	ctSentQuery(t, s, "granularity", "from", "to")
	if series.KeyID != metered.ID || series.Total != 3 || series.Outcomes["VALID"] != 1 || series.Outcomes["USAGE_EXCEEDED"] != 1 || series.Outcomes["RATE_LIMITED"] != 1 {
		t.Errorf("KeyUsage = %+v, want VALID, USAGE_EXCEEDED and RATE_LIMITED once each", series)
	}
	top, err := c.AccountUsage(ctx, &client.UsageParams{GroupBy: "key", Limit: 100}, capture)
	ctCheck(t, "AccountUsage", err)
	ctSameJSON(t, "AccountUsage", top, res.Body)
	ctSentQuery(t, s, "group_by", "limit")
	if !slices.ContainsFunc(top.Groups, func(g client.UsageGroup) bool { return g.Value == metered.ID && g.Total == 3 }) {
		t.Errorf("AccountUsage groups = %+v, want the metered key with 3", top.Groups)
	}

	// ---- whoami ----
	w, err := c.Whoami(ctx, capture)
	ctCheck(t, "Whoami (operator)", err)
	ctSameJSON(t, "Whoami (operator)", w, res.Body)
	if w.ManagementKey == nil || w.Key != nil || w.ManagementKey.ID != s.OpID || !w.ManagementKey.Operator || w.ManagementKey.AccountID != nil {
		t.Errorf("Whoami (operator) = %+v", w)
	}
	ac, err := c.With(client.WithToken(rot.Secret))
	ctCheck(t, "With", err)
	w, err = ac.Whoami(ctx, capture)
	ctCheck(t, "Whoami (API key)", err)
	ctSameJSON(t, "Whoami (API key)", w, res.Body)
	if w.Key == nil || w.ManagementKey != nil || w.Key.ID != k.ID || len(w.EffectiveScopes) == 0 {
		t.Errorf("Whoami (API key) = %+v", w)
	}

	cur, err := c.GetKey(ctx, k.ID)
	ctCheck(t, "GetKey", err)
	ctCheck(t, "DeleteKey", c.DeleteKey(ctx, k.ID, client.IfMatch(cur.ETag), capture))
	ctEq(t, "DeleteKey status", res.StatusCode, http.StatusNoContent)
	if _, err := c.GetKey(ctx, k.ID); keyward.ErrorCode(err) != keyward.ECodeNotFound {
		t.Errorf("GetKey after DeleteKey: %v, want not_found", err)
	}

	// ---- management keys ----
	mk, err := c.CreateManagementKey(ctx, &keyward.KeyFields{Name: keyward.Some("reader bot"), Permissions: keyward.Some([]string{"keys:read", "keys:verify"})}, capture)
	ctCheck(t, "CreateManagementKey", err)
	ctSameJSON(t, "CreateManagementKey", mk, res.Body, "secret")
	if mk.Secret.IsZero() || !strings.HasPrefix(mk.Secret.Reveal(), "kwm_") || mk.Kind != keyward.KindManagement || mk.Operator || mk.AccountID == nil {
		t.Errorf("CreateManagementKey = %+v", mk.ManagementKey)
	}
	mks, err := c.ListManagementKeys(ctx, &client.KeyListParams{Search: "bot"}, capture)
	ctCheck(t, "ListManagementKeys", err)
	ctSameJSON(t, "ListManagementKeys", mks, res.Body)
	if len(mks.Data) != 1 || mks.Data[0].ID != mk.ID {
		t.Errorf("ListManagementKeys search=bot = %+v", mks.Data)
	}
	ctCollect(t, "ManagementKeysPager", c.ManagementKeysPager(&client.KeyListParams{Search: "bot"}).All(ctx), mk.ID)
	gm, err := c.GetManagementKey(ctx, mk.ID, capture)
	ctCheck(t, "GetManagementKey", err)
	ctSameJSON(t, "GetManagementKey", gm, res.Body)
	um, err := c.UpdateManagementKey(ctx, mk.ID, &keyward.KeyFields{Description: keyward.Some("reads")}, client.IfMatch(gm.ETag), capture)
	ctCheck(t, "UpdateManagementKey", err)
	ctSameJSON(t, "UpdateManagementKey", um, res.Body)
	if um.Description == nil || *um.Description != "reads" {
		t.Errorf("UpdateManagementKey description = %v", um.Description)
	}
	pm, err := c.ReplaceManagementKey(ctx, mk.ID, &keyward.KeyFields{Name: keyward.Some("bot"), Permissions: keyward.Some([]string{"keys:read"})}, capture)
	ctCheck(t, "ReplaceManagementKey", err)
	ctSameJSON(t, "ReplaceManagementKey", pm, res.Body)
	if pm.Description != nil || !slices.Equal(pm.Permissions, []string{"keys:read"}) {
		t.Errorf("ReplaceManagementKey = %+v", pm)
	}
	rm, err := c.RotateManagementKey(ctx, mk.ID, nil, capture)
	ctCheck(t, "RotateManagementKey", err)
	ctSameJSON(t, "RotateManagementKey", rm, res.Body, "secret")
	if rm.Secret.IsZero() || rm.Secret.Reveal() == mk.Secret.Reveal() {
		t.Error("RotateManagementKey gave no new secret")
	}
	ctCheck(t, "DeleteManagementKey", c.DeleteManagementKey(ctx, mk.ID))
	if _, err := c.GetManagementKey(ctx, mk.ID); keyward.ErrorCode(err) != keyward.ECodeNotFound {
		t.Errorf("GetManagementKey after delete: %v", err)
	}

	// ---- accounts ----
	acct, err := c.CreateAccount(ctx, &keyward.AccountFields{Name: keyward.Some("acme"), CatalogTemplate: keyward.Some("orq"),
		DefaultPrefix: keyward.Some("ac"), MaxKeyLifetime: keyward.Some(int64(30 * 86400))}, capture)
	ctCheck(t, "CreateAccount", err)
	ctSameJSON(t, "CreateAccount", acct, res.Body)
	if acct.CatalogTemplate != "orq" || acct.DefaultPrefix != "ac" || acct.MaxKeyLifetime == nil || *acct.MaxKeyLifetime != 30*86400 {
		t.Errorf("CreateAccount = %+v", acct)
	}
	accts, err := c.ListAccounts(ctx, &client.PageParams{Limit: 1}, capture)
	ctCheck(t, "ListAccounts", err)
	ctSameJSON(t, "ListAccounts", accts, res.Body)
	if len(accts.Data) != 1 || accts.Data[0].ID != acct.ID || !accts.HasMore {
		t.Errorf("ListAccounts limit 1 = %+v, has_more %v; want acme first and more", accts.Data, accts.HasMore)
	}
	ctCollect(t, "AccountsPager", c.AccountsPager(&client.PageParams{Limit: 1}).All(ctx), acct.ID)
	ga, err := c.GetAccount(ctx, acct.ID, capture)
	ctCheck(t, "GetAccount", err)
	ctSameJSON(t, "GetAccount", ga, res.Body)
	ua, err := c.UpdateAccount(ctx, acct.ID, &keyward.AccountFields{MaxKeyLifetime: keyward.Null[int64](), RequireExpiry: keyward.Some(true)}, capture)
	ctCheck(t, "UpdateAccount", err)
	ctSameJSON(t, "UpdateAccount", ua, res.Body)
	if ua.MaxKeyLifetime != nil || !ua.RequireExpiry {
		t.Errorf("UpdateAccount = %+v", ua)
	}
	ctCheck(t, "DeleteAccount", c.DeleteAccount(ctx, acct.ID))
	if _, err := c.GetAccount(ctx, acct.ID); keyward.ErrorCode(err) != keyward.ECodeNotFound {
		t.Errorf("GetAccount after delete: %v", err)
	}

	// ---- audit log ----
	evs, err := c.ListAuditEvents(ctx, &client.AuditListParams{Limit: 50, TargetID: k.ID, ActorID: s.OpID, Action: "key.updated", Since: start, Until: time.Now().Add(time.Second)}, capture)
	ctCheck(t, "ListAuditEvents", err)
	ctSameJSON(t, "ListAuditEvents", evs, res.Body)
	if len(evs.Data) != 2 { // the PATCH and the PUT
		t.Errorf("ListAuditEvents key.updated on %s = %d events, want 2", k.ID, len(evs.Data))
	}
	for _, e := range evs.Data {
		if e.Action != "key.updated" || e.Target.ID != k.ID || e.Actor.ID != s.OpID || e.UserAgent != client.DefaultUserAgent {
			t.Errorf("audit event %+v", e)
		}
	}
	ctSentQuery(t, s, "limit", "target_id", "actor_id", "action", "since", "until")
	n := 0
	for e, err := range c.AuditEventsPager(&client.AuditListParams{Limit: 2, TargetID: k.ID}).All(ctx) {
		ctCheck(t, "AuditEventsPager", err)
		if e.Target.ID != k.ID {
			t.Errorf("AuditEventsPager yielded an event of %s", e.Target.ID)
		}
		n++
	}
	if n != 5 { // created, updated twice, rotated, deleted
		t.Errorf("AuditEventsPager over %s = %d events, want 5", k.ID, n)
	}

	// ---- deletes ----
	ctCheck(t, "DeleteUser", c.DeleteUser(ctx, u.ID))
	ctCheck(t, "DeleteServiceAccount", c.DeleteServiceAccount(ctx, sa.ID))
	ctCheck(t, "DeleteRole", c.DeleteRole(ctx, "reader"))
	ctCheck(t, "DeleteProject", c.DeleteProject(ctx, p.ID))
	ctCheck(t, "DeleteResource", c.DeleteResource(ctx, "reports"))
	for what, err := range map[string]error{
		"GetUser":           ignore(c.GetUser(ctx, u.ID)),
		"GetServiceAccount": ignore(c.GetServiceAccount(ctx, sa.ID)),
		"GetRole":           ignore(c.GetRole(ctx, "reader")),
		"GetProject":        ignore(c.GetProject(ctx, p.ID)),
	} {
		if keyward.ErrorCode(err) != keyward.ECodeNotFound {
			t.Errorf("%s after delete: %v, want not_found", what, err)
		}
	}
	cat, err = c.GetCatalog(ctx)
	ctCheck(t, "GetCatalog", err)
	if slices.ContainsFunc(cat.Resources, func(r keyward.Resource) bool { return r.ID == "reports" }) {
		t.Error("DeleteResource left the resource in the catalog")
	}

	// ---- invalidation stream ----
	stream, err := c.WatchInvalidations(ctx, capture)
	ctCheck(t, "WatchInvalidations", err)
	ev, err := stream.Next()
	ctCheck(t, "InvalidationStream.Next", err)
	if ev.Type != client.EventHello || !ev.FeedHealthy || res.StatusCode != http.StatusOK {
		t.Errorf("first event = %+v (status %d), want a healthy hello", ev, res.StatusCode)
	}
	ctCheck(t, "InvalidationStream.Close", stream.Close())

	// ---- every route was reached ----
	mux := ctRouteMux(s)
	reached := map[string]bool{}
	for _, r := range s.requests() {
		if _, pattern := mux.Handler(r); pattern != "" {
			reached[pattern] = true
		}
	}
	for _, p := range s.Srv.Routes() {
		if !reached[p] {
			t.Errorf("no client method reached the route %s", p)
		}
	}
}

func ignore[T any](_ T, err error) error { return err }

// ctSentQuery fails unless the last request carried exactly the given
// query parameters, once each.
func ctSentQuery(t *testing.T, s *ctServer, names ...string) {
	t.Helper()
	q := s.last(t).URL.Query()
	var got []string
	for name, v := range q {
		got = append(got, name)
		if len(v) != 1 || v[0] == "" {
			t.Errorf("query parameter %s = %q", name, v)
		}
	}
	slices.Sort(got)
	want := slices.Clone(names)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the request's query parameters = %v, want %v", got, want)
	}
}

// ctCollect runs a pager's iterator and fails unless it yields want among
// its objects, without error.
func ctCollect[T any](t *testing.T, what string, seq func(func(*T, error) bool), want string) {
	t.Helper()
	var ids []string
	for obj, err := range seq {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		ids = append(ids, ctIDOf(obj))
	}
	if !slices.Contains(ids, want) {
		t.Errorf("%s yielded %v, not %s", what, ids, want)
	}
}

func ctIDOf(v any) string {
	b, _ := json.Marshal(v)
	var m struct {
		ID string `json:"id"`
	}
	json.Unmarshal(b, &m)
	return m.ID
}

// TestCreditsRemainingAfterChange: a verification reports the credits the
// key has now, also right after POST /v1/keys/{id}/credits changed them
// and when it spends nothing (cost 0, or rate limited).
func TestCreditsRemainingAfterChange(t *testing.T) {
	_, c, ctx := ctStart(t)
	k, err := c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("metered"), Credits: keyward.Some(keyward.Credits{Remaining: 5})})
	ctCheck(t, "CreateKey", err)
	verify := func(cost int64) int64 {
		t.Helper()
		v, err := c.VerifyKey(ctx, &keyward.VerifyRequest{Key: keyward.Some(k.Secret), Cost: &cost})
		ctCheck(t, "VerifyKey", err)
		if v.CreditsRemaining == nil {
			t.Fatalf("VerifyKey (cost %d) = %s without credits_remaining", cost, v.Code)
		}
		return *v.CreditsRemaining
	}
	if got := verify(2); got != 3 {
		t.Fatalf("after spending 2 of 5: credits_remaining %d, want 3", got)
	}
	for _, tc := range []struct {
		name string
		in   client.CreditsChange
		want int64
	}{{"set", client.CreditsChange{Set: keyward.Some(int64(10))}, 10}, {"add", client.CreditsChange{Add: keyward.Some(int64(5))}, 15}} {
		ck, err := c.ChangeCredits(ctx, k.ID, &tc.in)
		ctCheck(t, "ChangeCredits", err)
		if ck.Credits.Remaining != tc.want {
			t.Errorf("ChangeCredits %s: the key shows %d credits, want %d", tc.name, ck.Credits.Remaining, tc.want)
		}
		if got := verify(0); got != tc.want {
			t.Errorf("a cost-0 verification after ChangeCredits %s reports credits_remaining %d, want %d", tc.name, got, tc.want)
		}
	}
}

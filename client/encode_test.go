package client

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TestEncodeBody checks the request encoder on the cases encoding/json
// gets wrong for keyward's request types.
func TestEncodeBody(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 6e6, time.UTC)
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"absent members are left out", &keyward.KeyFields{}, `{}`},
		{"null and values", &keyward.KeyFields{Name: keyward.Some("n"), Description: keyward.Null[string](), ExpiresAt: keyward.Some(exp)},
			`{"name":"n","description":null,"expires_at":"2030-01-02T03:04:05.006Z"}`},
		{"Some(nil) is empty, Null is null", &keyward.KeyFields{Scopes: keyward.Some[[]keyward.Scope](nil), Roles: keyward.Null[[]string](),
			Metadata: keyward.Some[map[string]json.RawMessage](nil), IPAllowlist: keyward.Some([]string{})},
			`{"scopes":[],"roles":null,"metadata":{},"ip_allowlist":[]}`},
		{"scope without targets leaves them out", &keyward.RoleFields{Scopes: keyward.Some([]keyward.Scope{
			{Resource: "documents", Access: keyward.AccessRead},
			{Resource: "files", Access: keyward.AccessWrite, Targets: []string{"f_1"}}})},
			`{"scopes":[{"access":"read","resource":"documents"},{"access":"write","resource":"files","targets":["f_1"]}]}`},
		{"owner without id leaves it out", &keyward.KeyFields{Owner: keyward.Some(keyward.Owner{Type: keyward.OwnerAccount})},
			`{"owner":{"type":"account"}}`},
		{"owner with id", &keyward.KeyFields{Owner: keyward.Some(keyward.Owner{Type: keyward.OwnerUser, ID: "usr_1"})},
			`{"owner":{"id":"usr_1","type":"user"}}`},
		{"metadata values as sent, keys sorted", &keyward.KeyFields{Metadata: keyward.Some(map[string]json.RawMessage{"b": json.RawMessage(`{"x": [1, 2]}`), "a": json.RawMessage(`null`)})},
			`{"metadata":{"a":null,"b":{"x":[1,2]}}}`},
		{"the token to verify is sent in clear", &keyward.VerifyRequest{Key: keyward.Some(keyward.TokenFromString("kw_secret")), Permissions: ptr("a:read")},
			`{"key":"kw_secret","permissions":"a:read","project_id":null,"ip":null,"cost":null}`},
		{"embedded fields are flattened, omitempty honoured", &keyward.ImportItem{Hash: "h", KeyFields: keyward.KeyFields{Name: keyward.Some("n")}},
			`{"hash":"h","name":"n"}`},
		{"rotate", &RotateRequest{GracePeriodSeconds: keyward.Some(int64(0)), ExpiresAt: keyward.Null[time.Time]()},
			`{"grace_period_seconds":0,"expires_at":null}`},
		{"import list", struct {
			Keys []keyward.ImportItem `json:"keys"`
		}{[]keyward.ImportItem{{Hash: "h", Start: ptr("s")}}}, `{"keys":[{"hash":"h","start":"s"}]}`},
		{"account lifetimes", &keyward.AccountFields{MaxKeyLifetime: keyward.Null[int64](), RequireExpiry: keyward.Some(false)},
			`{"max_key_lifetime":null,"require_expiry":false}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := encodeBody(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, b, []byte(tc.want)) {
				t.Errorf("encodeBody = %s\n          want %s", b, tc.want)
			}
		})
	}
}

// TestVerifyResultDecoding decodes the members of a verify answer that the
// server cannot produce yet (rate limits and credits are not enforced in
// this version) from the shape docs/api.md and the OpenAPI document give.
func TestVerifyResultDecoding(t *testing.T) {
	body := `{"valid":false,"code":"RATE_LIMITED","key_id":"key_01J9Z8K3M4N5P6Q7R8S9T0V1W2","account_id":"acc_01J9Z8K3M4N5P6Q7R8S9T0V1W2",
	"name":"n","owner":{"type":"account","id":"acc_01J9Z8K3M4N5P6Q7R8S9T0V1W2"},"project_id":null,"permission_mode":"all",
	"scopes":[{"resource":"documents","access":"write","targets":["*"]}],"roles":[],"expires_at":null,"metadata":{},
	"credits_remaining":41,"rate_limit":{"limit":100,"remaining":0,"reset_at":"2025-01-31T12:00:00Z"}}`
	var r VerifyResult
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if r.Code != keyward.VerifyRateLimited || r.CreditsRemaining == nil || *r.CreditsRemaining != 41 || r.RateLimit == nil ||
		r.RateLimit.Limit != 100 || r.RateLimit.Remaining != 0 || !r.RateLimit.ResetAt.Equal(time.Date(2025, 1, 31, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("decoded %+v (rate limit %+v)", r, r.RateLimit)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, b, []byte(body)) {
		t.Errorf("re-encoded %s", b)
	}
}

// TestProblemDetails: extra members keep the server's types.
func TestProblemDetails(t *testing.T) {
	res := &Response{StatusCode: 409, Header: map[string][]string{"Content-Type": {"application/problem+json"}, "Retry-After": {"3"}},
		Body: []byte(`{"type":"urn:keyward:error:resource_in_use","title":"Conflict","status":409,"detail":"in use","code":"resource_in_use",
		"errors":[],"request_id":"req_1","key_ids":["key_a","key_b"],"key_count":2,"ratio":0.5,"nested":{"a":1},"mixed":[1,"x"]}`)}
	e := problemError("DELETE", "/v1/catalog/resources/x", res)
	want := map[string]any{"key_ids": []string{"key_a", "key_b"}, "key_count": int64(2), "ratio": 0.5,
		"nested": map[string]any{"a": float64(1)}, "mixed": []any{float64(1), "x"}}
	if len(e.Err.Details) != len(want) {
		t.Errorf("Details = %#v", e.Err.Details)
	}
	for k, v := range want {
		if got, _ := json.Marshal(e.Err.Details[k]); string(got) != mustJSON(v) || typeName(e.Err.Details[k]) != typeName(v) {
			t.Errorf("Details[%s] = %#v, want %#v", k, e.Err.Details[k], v)
		}
	}
	if e.RetryAfter != 3*time.Second || e.RequestID != "req_1" || e.Err.Fields != nil && len(e.Err.Fields) != 0 {
		t.Errorf("RetryAfter %s, RequestID %q, Fields %v", e.RetryAfter, e.RequestID, e.Err.Fields)
	}
}

func ptr[T any](v T) *T { return &v }

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return mustJSON(x) == mustJSON(y)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// typeName names the Go types a detail may decode to.
func typeName(v any) string {
	switch v.(type) {
	case []string:
		return "[]string"
	case int64:
		return "int64"
	case float64:
		return "float64"
	case map[string]any:
		return "map"
	case []any:
		return "[]any"
	}
	return "other"
}

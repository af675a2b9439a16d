package pulsecrm

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/oklog/ulid/v2"
)

func keyIDAt(t *testing.T, ms uint64) string {
	t.Helper()
	u, err := ulid.New(ms, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keyward.PrefixKey + u.String()
}

func TestIntID(t *testing.T) {
	epoch := uint64(idEpochMillis)
	if got := intID(keyIDAt(t, epoch+5*idUnitMillis+999)) >> idHashBits; got != 5 {
		t.Errorf("time part %d, want 5 (minutes)", got)
	}
	// Ids grow from one minute to the next and stay exact in JavaScript
	// until 2147.
	now := uint64(time.Now().UnixMilli())
	if a, b := intID(keyIDAt(t, now)), intID(keyIDAt(t, now+idUnitMillis)); a >= b {
		t.Errorf("ids do not grow with time: %d, %d", a, b)
	}
	late := uint64(time.Date(2147, 6, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	if id := intID(keyIDAt(t, late)); id <= 0 || id > maxIntID || id>>idHashBits != int64(late-epoch)/idUnitMillis {
		t.Errorf("id in 2147: %d", id)
	}
	if maxIntID != 1<<53-1 {
		t.Errorf("maxIntID %d", maxIntID)
	}
	if intID("key_bad") != 0 {
		t.Error("a malformed key id has an id")
	}
	// Keys of one minute get distinct ids (27 bits of hash).
	seen := map[int64]bool{}
	for range 1000 {
		seen[intID(keyIDAt(t, now))] = true
	}
	if len(seen) < 999 {
		t.Errorf("1000 keys of one millisecond got only %d ids", len(seen))
	}
	id := keyIDAt(t, now)
	if apiKeyOf(id) != "apiKey-"+strings.TrimPrefix(id, "key_") {
		t.Error(apiKeyOf(id))
	}
}

func TestParseKeyRef(t *testing.T) {
	id := keyIDAt(t, uint64(time.Now().UnixMilli()))
	for _, c := range []struct {
		in   string
		want keyRef
		ok   bool
	}{
		{"895225926040578", keyRef{intID: 895225926040578}, true},
		{"0", keyRef{intID: 0}, true},
		{"9007199254740991", keyRef{intID: maxIntID}, true},
		{"9007199254740992", keyRef{}, false},
		{"99999999999999999999", keyRef{}, false},
		{"-1", keyRef{}, false},
		{"+1", keyRef{}, false},
		{"1e3", keyRef{}, false},
		{"", keyRef{}, false},
		{"abc", keyRef{}, false},
		{id, keyRef{keyID: id}, true},
		{apiKeyOf(id), keyRef{keyID: id}, true},
		{"key_" + strings.ToLower(strings.TrimPrefix(id, "key_")), keyRef{}, false},
		{"apiKey-nope", keyRef{}, false},
	} {
		got, ok := parseKeyRef(c.in)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parseKeyRef(%q) = %+v, %v; want %+v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestMatchIntID(t *testing.T) {
	start := uint64(time.Now().UnixMilli()) / idUnitMillis * idUnitMillis
	a := keyIDAt(t, start+30_000)
	other := keyIDAt(t, start)
	older := keyIDAt(t, start-1)
	// The same id twice in a page stands for two keys whose ids collide
	// (one pair in 2^27 per minute: too rare to make for a test).
	page := []*keyward.Key{{ID: a}, {ID: other}, {ID: a}, {ID: older}}

	found, past := matchIntID(page, intID(a), start)
	if len(found) != 2 || !past {
		t.Errorf("collision: found %d, past %v", len(found), past)
	}
	found, past = matchIntID(page[:3], intID(other), start)
	if len(found) != 1 || found[0].ID != other || past {
		t.Errorf("single: %v, past %v", found, past)
	}
	if found, _ := matchIntID(page, intID(older), start); len(found) != 0 {
		t.Errorf("a key of the previous minute matched: %v", found)
	}
}

func resource(id, display string, read, write, protected bool) *keyward.Resource {
	return &keyward.Resource{ID: id, DisplayName: display, Group: "g", Readable: read, Writable: write, Protected: protected,
		ProjectScopes: []string{keyward.ProjectScopeAll}}
}

func TestVocabulary(t *testing.T) {
	v := newVocabulary([]*keyward.Resource{
		resource("applications", "Applications", true, true, false),
		resource("crm", "CRM", true, true, false),
		resource("api_keys", "API keys", true, true, true),
		resource("notes", "notes", true, true, false),
		resource("search", "Search", true, false, false),
		resource("events", "Events", false, true, false),
		resource("guardrail-rule", "Guardrail rule", true, true, false),
		resource("a_b", "A b", true, false, false),
		resource("a-b", "A-b", true, false, false),
	}, nil)
	var names []string
	for _, g := range v.order {
		names = append(names, v.names[g])
	}
	want := []string{"readApplications", "writeApplications", "readCRM", "writeCRM", "readApiKeys", "writeApiKeys",
		"readNotes", "writeNotes", "readSearch", "writeEvents", "readGuardrailRule", "writeGuardrailRule", "a_b:read", "a-b:read"}
	if !slices.Equal(names, want) {
		t.Errorf("names\n got %v\nwant %v", names, want)
	}

	got, err := v.parse([]string{"writeCRM", "readApplications", "writeCRM", "a-b:read"})
	if err != nil || !slices.Equal(got, []grant{{"crm", "write"}, {"applications", "read"}, {"a-b", "read"}}) {
		t.Errorf("parse: %v, %v", got, err)
	}
	for _, bad := range [][]string{{"writeSearch"}, {"readEvents"}, {"writeApiKeys"}, {"readCrm"}, {"crm:read"}, {""}} {
		if _, err := v.parse(bad); keyward.ErrorCode(err) != keyward.ECodeValidation || !strings.HasPrefix(keyward.AsError(err).Message, "Invalid permissions provided: ") {
			t.Errorf("parse(%q): %v", bad, err)
		}
	}

	// What keys hold, by mode.
	single := "prj_x"
	for _, c := range []struct {
		name string
		k    *keyward.Key
		want []string
	}{
		{"all", &keyward.Key{PermissionMode: keyward.ModeAll}, []string{"readApplications", "writeApplications", "readCRM", "writeCRM", "readNotes", "writeNotes",
			"readSearch", "writeEvents", "readGuardrailRule", "writeGuardrailRule", "a_b:read", "a-b:read"}},
		{"read_only", &keyward.Key{PermissionMode: keyward.ModeReadOnly}, []string{"readApplications", "readCRM", "readNotes", "readSearch", "readGuardrailRule", "a_b:read", "a-b:read"}},
		{"all, single project", &keyward.Key{PermissionMode: keyward.ModeAll, ProjectID: &single}, []string{}},
		{"restricted", &keyward.Key{PermissionMode: keyward.ModeRestricted, Scopes: []keyward.Scope{{Resource: "crm", Access: "write", Targets: []string{"*"}},
			{Resource: "gone", Access: "read", Targets: []string{"*"}}}}, []string{"writeCRM"}},
	} {
		var got []string
		for _, p := range v.permissionsOf(c.k) {
			got = append(got, p.Permission)
		}
		if got == nil {
			got = []string{}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestMergeTargets(t *testing.T) {
	for _, c := range []struct{ a, b, want []string }{
		{nil, []string{"x"}, []string{"x"}},
		{[]string{"x"}, []string{"y", "x"}, []string{"x", "y"}},
		{[]string{"x"}, []string{"*"}, []string{"*"}},
		{[]string{"*"}, []string{"y"}, []string{"*"}},
	} {
		if got := mergeTargets(c.a, c.b); !slices.Equal(got, c.want) {
			t.Errorf("mergeTargets(%v, %v) = %v", c.a, c.b, got)
		}
	}
}

func TestParseTime(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"2026-12-31T23:59:59.000Z", true},
		{"2026-12-31T23:59:59Z", true},
		{"2026-12-31T23:59:59.123456789+02:00", true},
		{"2026-12-31t23:59:59z", true},
		{"2026-12-31", false},
		{"2026-12-31T23:59", false},
		{"2026-12-31T23:59:59", false},
		{"2026-13-01T00:00:00Z", false},
		{"31/12/2026", false},
		{"string", false},
	} {
		if _, err := parseTime(c.in); (err == nil) != c.ok {
			t.Errorf("parseTime(%q): %v", c.in, err)
		}
	}
}

// TestErrorBody: PulseCRM's status and body for an error, in each of its
// two shapes (the kit writes them, and sets Retry-After).
func TestErrorBody(t *testing.T) {
	for _, c := range []struct {
		name   string
		err    error
		perms  bool // the permissions route's shape
		status int
		body   string
		header map[string]string
	}{
		{"validation is 400", keyward.InvalidField("description", "is required"), false, 400,
			`{"error":"description: is required"}`, nil},
		{"locked", &keyward.Error{Code: keyward.ECodeLocked, Message: "too many failed authentications", Details: map[string]any{"retry_after_seconds": int64(42)}}, false, 429,
			`{"error":"too many failed authentications"}`, nil},
		{"internal causes are not shown", keyward.Internal(errors.New("database password is hunter2")), false, 500,
			`{"error":"Internal server error"}`, nil},
		{"foreign errors are internal", errors.New("boom"), true, 500,
			`{"error":"Internal Server Error","status":500,"message":"Internal server error"}`, nil},
		{"unavailable", &keyward.Error{Code: keyward.ECodeUnavailable, Message: "db down", Err: errors.New("dial tcp")}, false, 503,
			`{"error":"Service unavailable: the database cannot be reached; retry"}`, nil},
		{"timeout", context.DeadlineExceeded, false, 504, `{"error":"the request took longer than its timeout"}`, nil},
		{"unauthenticated", keyward.Errorf(keyward.ECodeUnauthenticated, "Unauthorized"), true, 401,
			`{"error":"Unauthorized","status":401,"message":"Unauthorized"}`, map[string]string{"WWW-Authenticate": `Bearer realm="keyward"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", base+"/apikeys", nil)
			if c.perms {
				r.Pattern = permissionsRoute
			}
			h := http.Header{}
			status, body := errorBody(r, h, c.err)
			b, err := json.Marshal(body)
			if err != nil || status != c.status || string(b) != c.body {
				t.Errorf("%d %s (%v), want %d %s", status, b, err, c.status, c.body)
			}
			for k, v := range c.header {
				if got := h.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

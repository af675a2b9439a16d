package http

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// vfSeeds are verify bodies of every shape: the common ones the fast path
// takes and the unusual ones it must hand to the general decoder.
var vfSeeds = []string{
	`{"key":"kw_abc"}`, `{"key":"kw_abc","permissions":"documents:read AND files:write:f1","project_id":"prj_01J0000000000000000000000A","ip":"10.0.0.1","cost":3}`,
	` { "key" : "x" , "cost" : 0 } `, `{"key":null}`, `{"key":""}`, `{}`, `{"permissions":null,"ip":null,"project_id":null,"cost":null,"key":"k"}`,
	`{"key":"a","key":"b"}`, `{"key":"a\"b"}`, `{"key":"\u006b"}`, `{"kéy":"a"}`, `{"key":"é日本"}`, `{"key":5}`, `{"key":"a","cost":"1"}`,
	`{"key":"a","cost":1.5}`, `{"key":"a","cost":1e3}`, `{"key":"a","cost":-1}`, `{"key":"a","cost":01}`, `{"key":"a","cost":99999999999999999999}`,
	`{"key":"a","bogus":1}`, `{"key":"a",}`, `{"key":"a"} x`, `[]`, `"x"`, `{"key":true}`, `{"key":{}}`, `{"key":"a\tb"}`, "{\"key\":\"\xff\"}",
	`{"key":"a","permissions":""}`, `{"key":"a","ip":"::1"}`, `{"key" "a"}`, `{"key":"a" "ip":"b"}`, `{`, `{"key":"a"`, `{"key":nul}`, `{"key":nulll}`,
}

// vfDecode runs a body through the fast path when it takes it, else the
// general decoder — what the handler does.
func vfDecode(b []byte) (keyward.VerifyRequest, error, bool) {
	if fv, ok := parseVerifyFast(b); ok {
		return fv.request(), nil, true
	}
	var r keyward.VerifyRequest
	return r, api.DecodeStrict(b, &r), false
}

// vfSame reports whether two decoded requests mean the same.
func vfSame(a, b keyward.VerifyRequest) bool {
	if a.Key.Set != b.Key.Set || a.Key.Null != b.Key.Null || a.Key.Value.Reveal() != b.Key.Value.Reveal() {
		return false
	}
	return reflect.DeepEqual(a.Permissions, b.Permissions) && reflect.DeepEqual(a.ProjectID, b.ProjectID) &&
		reflect.DeepEqual(a.IP, b.IP) && reflect.DeepEqual(a.Cost, b.Cost)
}

// FuzzVerifyFastPath holds the fast reader to the general decoder: whenever
// it takes a body, the general decoder must accept it too and read the same
// request.
func FuzzVerifyFastPath(f *testing.F) {
	for _, s := range vfSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fv, ok := parseVerifyFast(b)
		if !ok {
			return
		}
		var general keyward.VerifyRequest
		if err := api.DecodeStrict(b, &general); err != nil {
			t.Fatalf("fast path took %q, the general decoder refuses it: %v", b, err)
		}
		if fast := fv.request(); !vfSame(fast, general) {
			t.Fatalf("fast path read %q differently: %+v vs %+v", b, fast, general)
		}
	})
}

func TestVerifyFastPathSeeds(t *testing.T) {
	took := 0
	for _, s := range vfSeeds {
		_, err, fast := vfDecode([]byte(s))
		var general keyward.VerifyRequest
		gerr := api.DecodeStrict([]byte(s), &general)
		if fast {
			took++
			if gerr != nil {
				t.Errorf("%s: fast path took a body the general decoder refuses (%v)", s, gerr)
			}
		} else if keyward.ErrorCode(err) != keyward.ErrorCode(gerr) {
			t.Errorf("%s: %v, want %v", s, err, gerr)
		}
	}
	if took < 5 {
		t.Errorf("the fast path took only %d of the common bodies", took)
	}
}

// appendVerify writes exactly what the general encoder writes of the wire
// type (api.VerifyResult). Metadata is given as the service makes it
// (json.Marshal of the key's metadata: members in the order of their
// names), which the wire type's map keeps.
func TestAppendVerifyMatchesEncoder(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	results := []keyward.VerifyResult{
		{Code: keyward.VerifyNotFound},
		{Valid: true, Code: keyward.VerifyValid, KeyID: "key_1", AccountID: "acc_1", Name: "a \"quoted\" \\ name\n\t<&> é \u2028 \x01",
			Owner: keyward.Owner{Type: keyward.OwnerUser, ID: "usr_1"}, ProjectID: "prj_1", PermissionMode: keyward.ModeRestricted,
			Scopes: []keyward.Scope{{Resource: "documents", Access: keyward.AccessRead, Targets: []string{"*"}}, {Resource: "files", Access: keyward.AccessWrite, Targets: []string{"a", "b/c"}}},
			Roles:  []string{"reader"}, ExpiresAt: exp, HasExpiry: true, Metadata: json.RawMessage(`{"n":[1,2],"plan":"pro \u003ctier\u003e"}`),
			HasCredits: true, CreditsRemaining: 42, HasRateLimit: true, RateLimit: keyward.RateLimitState{Limit: 10, Remaining: 3, ResetAt: exp}},
		{Code: keyward.VerifyRevoked, KeyID: "key_2", AccountID: "acc_1", Name: "", Owner: keyward.Owner{Type: keyward.OwnerAccount, ID: "acc_1"},
			PermissionMode: keyward.ModeAll, Scopes: []keyward.Scope{}, Roles: []string{}, Metadata: json.RawMessage(`{}`)},
		{Code: keyward.VerifyValid, Valid: true, KeyID: "key_3", Name: "bad utf8 \xff end", Roles: []string{}, Metadata: nil},
	}
	for _, r := range results {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(api.VerifyResultOf(&r)); err != nil {
			t.Fatal(err)
		}
		got := appendVerify(nil, &r)
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("appendVerify:\n got %s\nwant %s", got, want.Bytes())
		}
	}
}

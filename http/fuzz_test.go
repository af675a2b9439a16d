package http

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// pxFuzzSeeds are good and bad bodies of every route with a body.
var pxFuzzSeeds = []string{
	`{}`,
	`{"name":"a"}`,
	`{"name":"a","description":null,"status":"disabled","expires_at":"2030-01-01T00:00:00Z","clear_expires_at":false}`,
	`{"name":"a","permission_mode":"restricted","scopes":[{"resource":"documents","access":"read","targets":["*"]}],"roles":[]}`,
	`{"name":"a","scopes":[{"resource":"documents","access":"write","targets":null}]}`,
	`{"name":"a","owner":{"type":"user","id":"usr_01J0000000000000000000000"},"project_id":"prj_01J0000000000000000000000"}`,
	`{"name":"a","metadata":{"a":[1,{"b":null}],"c":"d"},"ip_allowlist":["10.0.0.0/8","::1"]}`,
	`{"name":"a","rate_limit":{"limit":1,"window":60},"credits":{"remaining":5,"refill":{"amount":1,"interval":60}}}`,
	`{"name":"a","permissions":["keys:read"],"kind":"management","prefix":"abc","recoverable":true,"legacy_key_id":"x"}`,
	`{"name":"a","name":"b"}`,
	`{"name":"a","metadata":{"x":1,"x":2}}`,
	`{"name":"a","bogus":1}`,
	`{"name":"a","owner":{"type":"account","bogus":1}}`,
	`{"name":5}`,
	`{"name":1e400}`,
	`{"metadata":{"big":1e400}}`,
	`{"expires_at":"tomorrow"}`,
	`{"scopes":[5]}`,
	`{"name":"a"} x`,
	`{"name":"a"}{}`,
	`[]`, `"x"`, `null`, `1`, ``, ` `, `{`, `}`, `{"name":`, `{"name":"\ud800"}`, `{"":{}}`,
	"{\"name\":\"\xff\"}",
	"\xef\xbb\xbf{}",
	`{"grace_period_seconds":60}`, `{"key":"kw_x","permissions":"a:read AND (b:write OR c:read)","cost":1}`,
	`{"display_name":"x","project_scopes":["all"],"readable":true}`,
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	`{"a":` + strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 201),
}

// FuzzDecodeKeyFields feeds arbitrary bytes to the strict decoder: it never
// panics; every failure is a *keyward.Error with a 4xx code of the
// decoder's own (malformed_json, unknown_field or validation_failed naming
// a field); whatever it accepts is one valid, UTF-8 JSON object. The other
// body types get the same bytes.
func FuzzDecodeKeyFields(f *testing.F) {
	for _, s := range pxFuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var in keyward.KeyFields
		pxCheckDecode(t, b, &in)
		pxCheckDecode(t, b, &keyward.ProjectFields{})
		pxCheckDecode(t, b, &keyward.ResourceFields{})
		pxCheckDecode(t, b, &keyward.VerifyRequest{})
		pxCheckDecode(t, b, &api.RotateRequest{})
		pxCheckDecode(t, b, &api.CreditsChange{})
		pxCheckDecode(t, b, &api.ImportRequest{})
	})
}

func pxCheckDecode(t *testing.T, b []byte, dst any) {
	t.Helper()
	err := api.DecodeStrict(b, dst)
	if err == nil {
		var obj map[string]json.RawMessage
		if !utf8.Valid(b) || json.Unmarshal(b, &obj) != nil || obj == nil {
			t.Fatalf("%T: accepted %q, which is not one UTF-8 JSON object", dst, b)
		}
		return
	}
	var ke *keyward.Error
	if !errors.As(err, &ke) {
		t.Fatalf("%T: %q: error %T %v is not a *keyward.Error", dst, b, err, err)
	}
	if s := api.StatusOf(ke.Code); s < 400 || s >= 500 {
		t.Fatalf("%T: %q: code %s maps to %d", dst, b, ke.Code, s)
	}
	switch ke.Code {
	case keyward.ECodeMalformedJSON:
	case keyward.ECodeUnknownField:
		// The member's name may be "" ({"":1}), but it must be named.
		if len(ke.Fields) == 0 {
			t.Fatalf("%T: %q: %s names no field: %v", dst, b, ke.Code, err)
		}
	case keyward.ECodeValidation:
		if len(ke.Fields) == 0 || ke.Fields[0].Field == "" {
			t.Fatalf("%T: %q: %s names no field: %v", dst, b, ke.Code, err)
		}
	default:
		t.Fatalf("%T: %q: unexpected code %s", dst, b, ke.Code)
	}
	if ke.Message == "" {
		t.Fatalf("%T: %q: error without a message", dst, b)
	}
}

package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// TestImports: the wire contract imports the root package and the
// standard library only, so the client (and every program embedding it)
// carries nothing of the server.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, imp := range strings.Fields(string(out)) {
		if imp == "github.com/keyward/keyward" {
			continue
		}
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") {
			t.Errorf("package api imports %s: only the root package and the standard library are allowed", imp)
		}
	}
}

// TestStatusTable: every code has its status, and a bare status reads back
// as a code with that status (the most general one where several share it).
func TestStatusTable(t *testing.T) {
	codes := []keyward.Code{
		keyward.ECodeBadRequest, keyward.ECodeMalformedJSON, keyward.ECodeUnknownField, keyward.ECodeInvalidParameter,
		keyward.ECodeUnauthenticated, keyward.ECodeAPIKeyForbidden, keyward.ECodePermissionDenied, keyward.ECodeAccountMismatch,
		keyward.ECodeNotFound, keyward.ECodeMethodNotAllowed, keyward.ECodeNotAcceptable, keyward.ECodeConflict,
		keyward.ECodeKeyRevoked, keyward.ECodeDuplicate, keyward.ECodeResourceInUse, keyward.ECodeIdempotencyConflict,
		keyward.ECodePreconditionFail, keyward.ECodeBodyTooLarge, keyward.ECodeUnsupportedMedia, keyward.ECodeValidation,
		keyward.ECodeInvalidPermission, keyward.ECodeLocked, keyward.ECodeRateLimited, keyward.ECodeInternal,
		keyward.ECodeUnavailable, keyward.ECodeTimeout,
	}
	for _, c := range codes {
		s := api.StatusOf(c)
		if s == http.StatusInternalServerError && c != keyward.ECodeInternal {
			t.Errorf("StatusOf(%s) = 500: the code is not in the table", c)
		}
		if back := api.CodeOfStatus(s); api.StatusOf(back) != s {
			t.Errorf("CodeOfStatus(%d) = %s, whose status is %d", s, back, api.StatusOf(back))
		}
	}
	for status, want := range map[int]keyward.Code{
		400: keyward.ECodeBadRequest, 403: keyward.ECodePermissionDenied, 409: keyward.ECodeConflict,
		422: keyward.ECodeValidation, 429: keyward.ECodeRateLimited, 401: keyward.ECodeUnauthenticated,
		502: keyward.ECodeUnavailable, 418: keyward.ECodeBadRequest, 501: keyward.ECodeInternal,
	} {
		if got := api.CodeOfStatus(status); got != want {
			t.Errorf("CodeOfStatus(%d) = %s, want %s", status, got, want)
		}
	}
	if got := api.StatusOf("no_such_code"); got != http.StatusInternalServerError {
		t.Errorf("StatusOf(unknown) = %d", got)
	}
}

// TestProblemRoundTrip: a problem written by the server reads back as the
// same error, extra members with the server's types, and the standard
// members win over extra ones of the same name.
func TestProblemRoundTrip(t *testing.T) {
	err := &keyward.Error{Code: keyward.ECodeResourceInUse, Message: "in use <here> & there",
		Fields:  []keyward.FieldError{{Field: "scopes", Message: "bad"}},
		Details: map[string]any{"key_ids": []string{"key_a"}, "key_count": int64(2), "code": "forged", "status": 1}}
	p := api.ProblemOf(err, "req_1")
	if p.Status != http.StatusConflict || p.Title != "Conflict" || p.Type != "urn:keyward:error:resource_in_use" {
		t.Fatalf("ProblemOf = %+v", p)
	}
	b, jerr := json.Marshal(p)
	if jerr != nil {
		t.Fatal(jerr)
	}
	back, ok := api.ReadProblem("application/problem+json", b)
	if !ok {
		t.Fatalf("ReadProblem(%s) refused it", b)
	}
	e := back.Err()
	if e.Code != err.Code || e.Message != err.Message || len(e.Fields) != 1 || e.Fields[0] != err.Fields[0] || back.RequestID != "req_1" {
		t.Errorf("read back %+v from %s", e, b)
	}
	if ids, _ := e.Details["key_ids"].([]string); !slices.Equal(ids, []string{"key_a"}) || e.Details["key_count"] != int64(2) {
		t.Errorf("details %#v", e.Details)
	}
	if _, ok := e.Details["code"]; ok {
		t.Errorf("an extra member overrode a standard one: %s", b)
	}
	var n int
	if found, err := back.Member("key_count", &n); !found || err != nil || n != 2 {
		t.Errorf("Member(key_count) = %d, %v, %v", n, found, err)
	}
	if found, _ := back.Member("absent", &n); found {
		t.Error("Member(absent) found")
	}

	// The encoder around decides on HTML escaping, as for any struct.
	var plain bytes.Buffer
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	enc.Encode(p)
	if !strings.Contains(plain.String(), "<here> & there") || strings.Contains(string(b), "<here>") {
		t.Errorf("escaping: encoder %s, json.Marshal %s", plain.String(), b)
	}
}

func TestReadProblemRefuses(t *testing.T) {
	for _, c := range []struct{ ct, body string }{
		{"text/html", `{"code":"not_found"}`},
		{"application/json", `<html>`},
		{"application/json", `null`},
		{"application/json", `{"detail":"no code"}`},
		{"application/problem+json", `{"code":"not_found","status":"404"}`},
	} {
		if p, ok := api.ReadProblem(c.ct, []byte(c.body)); ok {
			t.Errorf("ReadProblem(%s, %s) = %+v", c.ct, c.body, p)
		}
	}
}

func TestProblemOfCancelled(t *testing.T) {
	p := api.ProblemOf(fmt.Errorf("store: %w", context.Canceled), "r")
	if p.Code != keyward.ECodeTimeout || p.Status != http.StatusGatewayTimeout {
		t.Errorf("a cancelled request is %s %d", p.Code, p.Status)
	}
	p = api.ProblemOf(errors.New("driver: connection refused"), "r")
	if p.Code != keyward.ECodeInternal || strings.Contains(p.Detail, "driver") {
		t.Errorf("an internal cause reached the problem: %+v", p)
	}
}

// TestWithSecret: the one place a secret is written into JSON, and read
// back.
func TestWithSecret(t *testing.T) {
	tok := keyward.TokenFromString("kw_secret<&>")
	for _, c := range []struct {
		v    any
		want string
	}{
		{api.KeyRef{ID: "key_1"}, `{"id":"key_1","secret":"kw_secret\u003c\u0026\u003e"}`},
		{struct{}{}, `{"secret":"kw_secret\u003c\u0026\u003e"}`},
	} {
		b, err := json.Marshal(api.WithSecret(c.v, tok))
		if err != nil || string(b) != c.want {
			t.Errorf("WithSecret(%v) = %s, %v; want %s", c.v, b, err, c.want)
		}
		var ref api.KeyRef
		got, err := api.ReadSecret(b, &ref)
		if err != nil || got.Reveal() != tok.Reveal() {
			t.Errorf("ReadSecret(%s) = %v", b, err)
		}
	}
	if b, _ := json.Marshal(api.WithSecret(api.KeyRef{ID: "key_1"}, keyward.Token{})); string(b) != `{"id":"key_1"}` {
		t.Errorf("a zero secret wrote %s", b)
	}
	if _, err := json.Marshal(api.WithSecret([]int{1}, tok)); err == nil {
		t.Error("WithSecret of an array did not fail")
	}
}

// TestCreditsChangeOp: the body's one member is the operation; none,
// several or a null amount give an operation the service refuses.
func TestCreditsChangeOp(t *testing.T) {
	for _, tc := range []struct {
		body string
		want keyward.CreditsOp
	}{
		{`{"set": 0}`, keyward.CreditsOp{Action: keyward.CreditsSet}},
		{`{"add": 5}`, keyward.CreditsOp{Action: keyward.CreditsAdd, Amount: 5}},
		{`{"subtract": 2}`, keyward.CreditsOp{Action: keyward.CreditsSubtract, Amount: 2}},
		{`{"set": null}`, keyward.CreditsOp{Action: keyward.CreditsSet, Amount: -1}},
		{`{}`, keyward.CreditsOp{}},
		{`{"set": 1, "add": 1}`, keyward.CreditsOp{}},
	} {
		var in api.CreditsChange
		if err := api.DecodeStrict([]byte(tc.body), &in); err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		if got := in.Op(); got != tc.want {
			t.Errorf("%s: Op() = %+v, want %+v", tc.body, got, tc.want)
		}
	}
}

// TestRotateGrace: the grace period in seconds as a duration; absent or
// null is 0, and a number beyond the bounds stays beyond them without
// overflowing.
func TestRotateGrace(t *testing.T) {
	for _, tc := range []struct {
		body string
		want time.Duration
	}{
		{`{}`, 0},
		{`{"grace_period_seconds": null}`, 0},
		{`{"grace_period_seconds": 90}`, 90 * time.Second},
		{`{"grace_period_seconds": 604800}`, keyward.MaxGracePeriod},
		{`{"grace_period_seconds": 9223372036854775807}`, keyward.MaxGracePeriod + time.Second},
		{`{"grace_period_seconds": -9223372036854775808}`, -time.Second},
	} {
		var in api.RotateRequest
		if err := api.DecodeStrict([]byte(tc.body), &in); err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		if got := in.Grace(); got != tc.want {
			t.Errorf("%s: Grace() = %s, want %s", tc.body, got, tc.want)
		}
	}
}

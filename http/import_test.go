package http_test

// Tests of POST /v1/keys/import (issue 3 item 7): keys imported from
// another system by the SHA-256 of their tokens verify with those tokens;
// a request is all or nothing.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// rkForeignToken returns a random token in another vendor's format.
func rkForeignToken(t *testing.T, prefix string) string {
	t.Helper()
	return prefix + keywardtest.RandomHex(t, 24)
}

// rkHashHex returns the SHA-256 of a token as 64 hex characters.
func rkHashHex(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// rkImport sends an import of items and returns the response.
func rkImport(e *testEnv, items []map[string]any, r req) *resp {
	r.Method, r.Path, r.Body = "POST", "/v1/keys/import", map[string]any{"keys": items}
	return e.do(r)
}

// rkImportData returns the data member of a 201 import answer.
func rkImportData(t *testing.T, res *resp) []map[string]any {
	t.Helper()
	if res.Status != http.StatusCreated {
		t.Fatalf("import: status %d, want 201\n%.2000s", res.Status, res.Body)
	}
	raw, _ := res.JSON(t)["data"].([]any)
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		out[i], _ = v.(map[string]any)
	}
	return out
}

func TestImportKeys(t *testing.T) {
	t.Parallel()

	t.Run("hash encodings and foreign tokens verify", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		// A token whose hash has + or / in standard base64, so the URL
		// alphabet really differs.
		var urlTok string
		for i := 0; ; i++ {
			urlTok = fmt.Sprintf("sk_live_urlalphabet%04d", i)
			h := sha256.Sum256([]byte(urlTok))
			if strings.ContainsAny(base64.StdEncoding.EncodeToString(h[:]), "+/") {
				break
			}
		}
		kwTok, err := keyward.NewToken("acme", rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		type item struct {
			name, token string
			hash        func([]byte) string
		}
		items := []item{
			{"hex", rkForeignToken(t, "sk_live_"), hex.EncodeToString},
			{"upper hex", rkForeignToken(t, "sk_test_"), func(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }},
			{"base64 std", rkForeignToken(t, "pk_"), base64.StdEncoding.EncodeToString},
			{"base64 std unpadded", rkForeignToken(t, "ghp_"), base64.RawStdEncoding.EncodeToString},
			{"base64 url", urlTok, base64.URLEncoding.EncodeToString},
			{"base64 url unpadded", urlTok + "x", base64.RawURLEncoding.EncodeToString},
			{"keyward format from another keyward", kwTok.Reveal(), hex.EncodeToString},
			{"no underscore at all", rkForeignToken(t, "legacy"), hex.EncodeToString},
		}
		var body []map[string]any
		for i, it := range items {
			h := sha256.Sum256([]byte(it.token))
			body = append(body, map[string]any{
				"hash": it.hash(h[:]), "name": it.name,
				"start": it.token[:6], "last4": it.token[len(it.token)-4:],
				"metadata": map[string]any{"n": i},
			})
		}
		data := rkImportData(t, rkImport(e, body, req{}))
		if len(data) != len(items) {
			t.Fatalf("import answered %d keys, want %d", len(data), len(items))
		}
		for i, it := range items {
			k := data[i]
			t.Run(it.name, func(t *testing.T) {
				id, _ := k["id"].(string)
				if k["name"] != it.name || !keyward.ValidID(keyward.PrefixKey, id) {
					t.Fatalf("key %d of the answer: %v", i, k)
				}
				if _, ok := k["secret"]; ok {
					t.Errorf("an imported key comes back with a secret")
				}
				if k["start"] != it.token[:6] || k["last4"] != it.token[len(it.token)-4:] {
					t.Errorf("start/last4 are %v/%v, want %q/%q", k["start"], k["last4"], it.token[:6], it.token[len(it.token)-4:])
				}
				got := e.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys/" + id}).JSON(t)
				if got["start"] != it.token[:6] || got["last4"] != it.token[len(it.token)-4:] || got["status"] != "active" {
					t.Errorf("GET shows start %v, last4 %v, status %v", got["start"], got["last4"], got["status"])
				}
				v := e.verify(map[string]any{"key": it.token})
				if v["valid"] != true || v["code"] != "VALID" || v["key_id"] != id {
					t.Errorf("the original token verifies as %v", v)
				}
				if m, _ := v["metadata"].(map[string]any); m["n"] != float64(i) {
					t.Errorf("the imported key's metadata is %v", v["metadata"])
				}
				if v := e.verify(map[string]any{"key": it.token + "zz"}); v["code"] != "NOT_FOUND" {
					t.Errorf("a token that is not the original verifies as %v", v["code"])
				}
			})
		}
	})

	t.Run("fields of the key", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		tok := rkForeignToken(t, "sk_live_")
		exp := future(48 * time.Hour)
		data := rkImportData(t, rkImport(e, []map[string]any{{
			"hash": rkHashHex(tok), "name": "restricted", "description": "from the old system",
			"permission_mode": "restricted", "scopes": []map[string]any{{"resource": "documents", "access": "read", "targets": []string{"*"}}},
			"expires_at": exp, "legacy_key_id": "old-42",
		}}, req{}))
		k := data[0]
		if k["permission_mode"] != "restricted" || k["description"] != "from the old system" || k["legacy_key_id"] != "old-42" || k["expires_at"] == nil {
			t.Errorf("the imported key lost fields: %v", k)
		}
		if k["start"] == tok[:8] || k["last4"] == tok[len(tok)-4:] {
			t.Errorf("without start/last4 keyward cannot know them, yet shows %v/%v", k["start"], k["last4"])
		}
		v := e.verify(map[string]any{"key": tok, "permissions": "documents:read"})
		if v["code"] != "VALID" {
			t.Errorf("documents:read: %v", v["code"])
		}
		if v := e.verify(map[string]any{"key": tok, "permissions": "documents:write"}); v["code"] != "INSUFFICIENT_PERMISSIONS" {
			t.Errorf("documents:write on a read-only import: %v", v["code"])
		}
	})

	t.Run("1000 keys in one request, one audit event each", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		tokens := make([]string, 1000)
		items := make([]map[string]any, len(tokens))
		for i := range tokens {
			tokens[i] = rkForeignToken(t, "bulk_")
			items[i] = map[string]any{"hash": rkHashHex(tokens[i]), "name": fmt.Sprintf("bulk %d", i)}
		}
		before := len(list(t, e, req{Path: "/v1/keys"}))
		data := rkImportData(t, rkImport(e, items, req{}))
		if len(data) != 1000 {
			t.Fatalf("imported %d keys, want 1000", len(data))
		}
		if n := len(list(t, e, req{Path: "/v1/keys"})); n != before+1000 {
			t.Errorf("%d keys after importing 1000, want %d", n, before+1000)
		}
		evs := events(t, e, "action=key.imported", nil)
		if len(evs) != 1000 {
			t.Fatalf("%d key.imported events, want 1000 (one per key)", len(evs))
		}
		targets := map[string]bool{}
		for _, ev := range evs {
			tg, _ := ev["target"].(map[string]any)
			ac, _ := ev["actor"].(map[string]any)
			targets[tg["id"].(string)] = true
			if ac["id"] != e.OperatorKeyID {
				t.Fatalf("a key.imported event has actor %v, want the operator key", ac)
			}
		}
		for i, k := range data {
			if !targets[k["id"].(string)] {
				t.Errorf("imported key %d (%s) has no key.imported event", i, k["id"])
			}
		}
		for _, i := range []int{0, 499, 999} {
			if v := e.verify(map[string]any{"key": tokens[i]}); v["code"] != "VALID" || v["key_id"] != data[i]["id"] {
				t.Errorf("token %d verifies as %v (%v), want VALID for %v", i, v["code"], v["key_id"], data[i]["id"])
			}
		}
	})

	t.Run("sizes", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		many := make([]map[string]any, 1001)
		for i := range many {
			many[i] = map[string]any{"hash": rkHashHex(fmt.Sprintf("tok_%d", i)), "name": "k"}
		}
		for _, tc := range []struct {
			name string
			body any
		}{
			{"1001 keys", map[string]any{"keys": many}},
			{"0 keys", map[string]any{"keys": []any{}}},
			{"keys missing", map[string]any{}},
			{"keys null", map[string]any{"keys": nil}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := problem(t, e.do(req{Method: "POST", Path: "/v1/keys/import", Body: tc.body}), http.StatusUnprocessableEntity, "validation_failed")
				rkWantFields(t, p, "keys")
				rkWantField(t, p, "keys", "1000")
			})
		}
		if n := len(list(t, e, req{Path: "/v1/keys"})); n != 0 {
			t.Errorf("refused imports left %d keys", n)
		}
		problem(t, e.do(req{Method: "POST", Path: "/v1/keys/import", Body: map[string]any{"keys": []map[string]any{{"hash": rkHashHex("x"), "name": "k", "nope": 1}}}}),
			http.StatusBadRequest, "unknown_field")
		problem(t, e.do(req{Method: "POST", Path: "/v1/keys/import", Body: map[string]any{"keys": []any{}, "extra": true}}),
			http.StatusBadRequest, "unknown_field")
		problem(t, e.do(req{Method: "POST", Path: "/v1/keys/import", Body: `{"keys": [`}), http.StatusBadRequest, "malformed_json")
	})

	t.Run("all or nothing", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		existing := e.createKey(map[string]any{"name": "existing"})["secret"].(string)
		prevTok := rkForeignToken(t, "sk_live_")
		rkImportData(t, rkImport(e, []map[string]any{{"hash": rkHashHex(prevTok), "name": "imported before"}}, req{}))

		batch := func() ([]string, []map[string]any) {
			toks := make([]string, 10)
			items := make([]map[string]any, 10)
			for i := range toks {
				toks[i] = rkForeignToken(t, "sk_live_")
				items[i] = map[string]any{"hash": rkHashHex(toks[i]), "name": fmt.Sprintf("batch %d", i)}
			}
			return toks, items
		}
		h := sha256.Sum256([]byte(existing))
		for _, tc := range []struct {
			name   string
			change func(items []map[string]any)
			status int
			code   string
			fields []string
			words  map[string]string
		}{
			{"the hash of a key keyward issued", func(it []map[string]any) { it[4]["hash"] = rkHashHex(existing) },
				http.StatusConflict, "duplicate", []string{"keys[4].hash"}, map[string]string{"keys[4].hash": "in use"}},
			{"the same, as base64", func(it []map[string]any) { it[6]["hash"] = base64.StdEncoding.EncodeToString(h[:]) },
				http.StatusConflict, "duplicate", []string{"keys[6].hash"}, nil},
			{"the hash of an imported key", func(it []map[string]any) { it[0]["hash"] = rkHashHex(prevTok) },
				http.StatusConflict, "duplicate", []string{"keys[0].hash"}, nil},
			{"a hash repeated in the batch", func(it []map[string]any) { it[7]["hash"] = it[2]["hash"] },
				http.StatusConflict, "duplicate", []string{"keys[7].hash"}, map[string]string{"keys[7].hash": "keys[2]"}},
			{"a hash repeated in another encoding", func(it []map[string]any) {
				b, _ := hex.DecodeString(it[1]["hash"].(string))
				it[9]["hash"] = base64.RawURLEncoding.EncodeToString(b)
			}, http.StatusConflict, "duplicate", []string{"keys[9].hash"}, nil},
			{"an invalid item and a duplicate", func(it []map[string]any) {
				it[1]["hash"] = "not a hash"
				it[3]["hash"] = rkHashHex(existing)
			}, http.StatusUnprocessableEntity, "validation_failed", []string{"keys[1].hash", "keys[3].hash"}, nil},
			{"hash of the wrong length", func(it []map[string]any) { it[5]["hash"] = rkHashHex("x")[:62] },
				http.StatusUnprocessableEntity, "validation_failed", []string{"keys[5].hash"}, nil},
			{"hash missing", func(it []map[string]any) { delete(it[5], "hash") },
				http.StatusUnprocessableEntity, "validation_failed", []string{"keys[5].hash"}, nil},
			{"recoverable", func(it []map[string]any) { it[2]["recoverable"] = true },
				http.StatusUnprocessableEntity, "validation_failed", []string{"keys[2].recoverable"}, nil},
			{"name missing", func(it []map[string]any) { delete(it[8], "name") },
				http.StatusUnprocessableEntity, "validation_failed", []string{"keys[8].name"}, nil},
			{"protected resource", func(it []map[string]any) {
				it[0]["permission_mode"] = "restricted"
				it[0]["scopes"] = []map[string]any{{"resource": "billing", "access": "read", "targets": []string{"*"}}}
			}, http.StatusUnprocessableEntity, "validation_failed", []string{"keys[0].scopes[0].resource"}, map[string]string{"keys[0].scopes[0].resource": "protected"}},
			{"unknown resource and bad access", func(it []map[string]any) {
				it[3]["permission_mode"] = "restricted"
				it[3]["scopes"] = []map[string]any{
					{"resource": "nope", "access": "read", "targets": []string{"*"}},
					{"resource": "search", "access": "write", "targets": []string{"*"}},
				}
			}, http.StatusUnprocessableEntity, "validation_failed", []string{"keys[3].scopes[0].resource", "keys[3].scopes[1].access"}, nil},
			{"scopes without restricted", func(it []map[string]any) {
				it[4]["scopes"] = []map[string]any{{"resource": "documents", "access": "read", "targets": []string{"*"}}}
			}, http.StatusUnprocessableEntity, "validation_failed", []string{"keys[4].scopes"}, nil},
			{"start and last4 too long", func(it []map[string]any) {
				it[6]["start"] = strings.Repeat("s", 21)
				it[6]["last4"] = "12345"
			}, http.StatusUnprocessableEntity, "validation_failed", []string{"keys[6].start", "keys[6].last4"}, nil},
			{"expiry in the past", func(it []map[string]any) { it[7]["expires_at"] = "2001-01-01T00:00:00Z" },
				http.StatusUnprocessableEntity, "validation_failed", []string{"keys[7].expires_at"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				toks, items := batch()
				tc.change(items)
				keys, audits := len(list(t, e, req{Path: "/v1/keys"})), e.auditCount()
				p := problem(t, rkImport(e, items, req{}), tc.status, tc.code)
				got := rkWantFields(t, p, tc.fields...)
				for f, w := range tc.words {
					if !strings.Contains(got[f], w) {
						t.Errorf("the message for %s is %q, want it to mention %q", f, got[f], w)
					}
				}
				if !strings.Contains(p["detail"].(string), "nothing was imported") {
					t.Errorf("the detail does not say nothing was imported: %v", p["detail"])
				}
				if n := len(list(t, e, req{Path: "/v1/keys"})); n != keys {
					t.Errorf("a refused import changed the key count from %d to %d", keys, n)
				}
				if n := e.auditCount(); n != audits {
					t.Errorf("a refused import wrote %d audit events", n-audits)
				}
				for i, tok := range toks {
					if code := lcCode(t, e, tok, nil); code != "NOT_FOUND" {
						t.Errorf("after a refused import token %d verifies as %s", i, code)
					}
				}
			})
		}
		if code := lcCode(t, e, existing, nil); code != "VALID" {
			t.Errorf("the existing key verifies as %s", code)
		}
	})

	t.Run("permissions", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		items := []map[string]any{{"hash": rkHashHex(rkForeignToken(t, "sk_")), "name": "k"}}
		_, reader := mgmtKey(t, e, "", "keys:read", "keys:verify", "keys:reveal")
		p := problem(t, rkImport(e, items, req{Token: reader}), http.StatusForbidden, "permission_denied")
		if p["missing_permission"] != "keys:write" {
			t.Errorf("missing_permission %v, want keys:write", p["missing_permission"])
		}
		apiKey := e.createKey(map[string]any{"name": "api"})["secret"].(string)
		problem(t, rkImport(e, items, req{Token: apiKey}), http.StatusForbidden, "api_key_forbidden")
		problem(t, rkImport(e, items, req{NoAuth: true}), http.StatusUnauthorized, "unauthenticated")
		if n := len(list(t, e, req{Path: "/v1/keys"})); n != 1 {
			t.Errorf("refused imports left %d keys, want only the API key", n)
		}
		_, writer := mgmtKey(t, e, "", "keys:write")
		data := rkImportData(t, rkImport(e, items, req{Token: writer}))
		if len(data) != 1 {
			t.Fatalf("keys:write imported %d keys", len(data))
		}
	})

	t.Run("into another account", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		other := account(t, e, "other")
		tok := rkForeignToken(t, "sk_live_")
		data := rkImportData(t, rkImport(e, []map[string]any{{"hash": rkHashHex(tok), "name": "theirs"}}, req{Header: map[string]string{"X-Account-Id": other}}))
		if data[0]["account_id"] != other {
			t.Errorf("imported into account %v, want %s", data[0]["account_id"], other)
		}
		_, bound := mgmtKey(t, e, "", "keys:verify")
		if v := e.verify(map[string]any{"key": tok}); v["code"] != "VALID" || v["account_id"] != other {
			t.Errorf("the operator verifies the imported key as %v in %v", v["code"], v["account_id"])
		}
		if v := e.must(http.StatusOK, req{Method: "POST", Path: "/v1/keys/verify", Token: bound, Body: map[string]any{"key": tok}}).JSON(t); v["code"] != "NOT_FOUND" {
			t.Errorf("a key of the default account verifies another account's import as %v", v["code"])
		}
		// Hashes are unique across accounts: a second import elsewhere is
		// a duplicate.
		p := problem(t, rkImport(e, []map[string]any{{"hash": rkHashHex(tok), "name": "mine"}}, req{}), http.StatusConflict, "duplicate")
		rkWantFields(t, p, "keys[0].hash")
	})
}

// TestImportRefusalRevealsNothing (issue 9, point 10): a hash keyward
// already holds is refused with one answer, whoever holds it (this
// account or another) and whatever it is (an active key, a revoked one,
// an old secret of a rotated key): the importer learns that the token it
// hashed is in use, not where or how. The old answer said "a key with this
// hash already exists".
func TestImportRefusalRevealsNothing(t *testing.T) {
	e := newEnv(t)
	other := account(t, e, "other")
	inOther := map[string]string{"X-Account-Id": other}
	theirs := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/keys", Header: inOther, Body: map[string]any{"name": "theirs"}}).JSON(t)
	revoked := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/keys", Header: inOther, Body: map[string]any{"name": "revoked"}}).JSON(t)
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + revoked["id"].(string), Header: inOther, Body: map[string]any{"status": "revoked"}})
	rotated := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/keys", Header: inOther, Body: map[string]any{"name": "rotated"}}).JSON(t)
	e.must(http.StatusOK, req{Method: "POST", Path: "/v1/keys/" + rotated["id"].(string) + "/rotate", Header: inOther})
	mine := e.createKey(map[string]any{"name": "mine"})

	answer := func(tok string) string {
		p := problem(t, rkImport(e, []map[string]any{{"hash": rkHashHex(tok), "name": "imported"}}, req{}), http.StatusConflict, "duplicate")
		delete(p, "request_id")
		b, _ := json.Marshal(p)
		return string(b)
	}
	want := answer(mine["secret"].(string))
	for name, tok := range map[string]string{
		"another account's key":            theirs["secret"].(string),
		"another account's revoked key":    revoked["secret"].(string),
		"another account's rotated secret": rotated["secret"].(string),
	} {
		if got := answer(tok); got != want {
			t.Errorf("%s: the refusal differs from that of a key of the importing account:\n%s\n%s", name, got, want)
		}
	}
	for _, word := range []string{"exist", "revoked", "rotated", "account " + other, theirs["id"].(string)} {
		if strings.Contains(want, word) {
			t.Errorf("the refusal says %q: %s", word, want)
		}
	}
}

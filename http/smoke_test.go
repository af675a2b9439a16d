package http_test

import (
	"net/http"
	"testing"
)

func TestSmokeHarness(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "a"})
	res := e.verify(map[string]any{"key": k["secret"]})
	if res["code"] != "VALID" {
		t.Fatalf("%v", res)
	}
	e.problem(e.do(req{Method: "GET", Path: "/v1/keys", NoAuth: true}), http.StatusUnauthorized, "unauthenticated")
}

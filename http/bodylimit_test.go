package http_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/compat/compattest"
)

// TestBodyTooLargeWrittenFirst (issue 9 point 6): a client that writes
// its whole over-limit body before reading (no Expect: 100-continue, as
// Python's urllib does) reads the 413 problem, for Content-Length and
// chunked bodies. Before, the server answered without reading the body
// and closed the connection with the rest unread: the kernel reset it,
// and the client saw ECONNRESET instead of the answer.
func TestBodyTooLargeWrittenFirst(t *testing.T) {
	e := newEnv(t)
	auth := "Authorization: Bearer " + e.Op
	json := "Content-Type: application/json"
	for _, c := range []struct {
		name    string
		path    string
		headers []string
		size    int64
		chunked bool
	}{
		{"create, Content-Length just over", "/v1/keys", nil, api.MaxBodyBytes + 1, false},
		{"create, Content-Length 8 MiB", "/v1/keys", nil, 8 << 20, false},
		{"create, Content-Length 48 MiB", "/v1/keys", nil, 48 << 20, false},
		{"create, chunked just over", "/v1/keys", nil, api.MaxBodyBytes + 1, true},
		{"create, chunked 8 MiB", "/v1/keys", nil, 8 << 20, true},
		{"create, chunked 48 MiB", "/v1/keys", nil, 48 << 20, true},
		{"idempotent create, chunked 8 MiB", "/v1/keys", []string{"Idempotency-Key: 4b0c5a0e-3a8f-4c55-9d0e-0b1f2a3c4d5e"}, 8 << 20, true},
		{"verify, Content-Length 8 MiB", "/v1/keys/verify", nil, 8 << 20, false},
		{"PATCH, chunked 8 MiB", "/v1/keys/key_01ARZ3NDEKTSV4RRFFQ69G5FAV", nil, 8 << 20, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			method := "POST"
			if strings.HasPrefix(c.name, "PATCH") {
				method = "PATCH"
			}
			before := dump(t, e)
			res, err := compattest.WriteFirst(e.URL, method, c.path, append([]string{auth, json}, c.headers...), c.size, c.chunked)
			if err != nil {
				t.Fatalf("the client does not get the answer: %v", err)
			}
			pxProblem(t, &resp{Status: res.Status, Header: res.Header, Body: res.Body}, http.StatusRequestEntityTooLarge, "body_too_large")
			unchanged(t, e, before, "an over-limit body")
		})
	}
}

// TestBodyTooLargeExpectContinue: a client that asks for 100 Continue
// before sending an over-limit body gets the 413 at once, without being
// asked for the body (the drain must not read what was never sent).
func TestBodyTooLargeExpectContinue(t *testing.T) {
	e := newEnv(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "POST /v1/keys HTTP/1.1\r\nHost: keyward\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", e.Op, 48<<20)
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "POST"})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413 without 100 Continue", res.StatusCode)
	}
}

package client_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	khttp "github.com/keyward/keyward/http"
)

// ctProblem is a problem document as the server sent it.
type ctProblem struct {
	Type      string               `json:"type"`
	Title     string               `json:"title"`
	Status    int                  `json:"status"`
	Detail    string               `json:"detail"`
	Code      keyward.Code         `json:"code"`
	Errors    []keyward.FieldError `json:"errors"`
	RequestID string               `json:"request_id"`
}

// ctCheckProblem fails unless err is the *client.Error of the problem in
// res (status and code as given), reachable as a *keyward.Error and
// through keyward.ErrorCode.
func ctCheckProblem(t *testing.T, err error, res *client.Response, status int, code keyward.Code) *client.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %d %s", status, code)
	}
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %T %v is not a *client.Error", err, err)
	}
	var ke *keyward.Error
	if !errors.As(err, &ke) || ke != ce.Err {
		t.Fatalf("error %v does not unwrap to its *keyward.Error", err)
	}
	if got := keyward.ErrorCode(err); got != code {
		t.Errorf("keyward.ErrorCode = %s, want %s (%v)", got, code, err)
	}
	if ce.StatusCode != status || res.StatusCode != status {
		t.Errorf("status = %d (captured %d), want %d", ce.StatusCode, res.StatusCode, status)
	}
	if pr := ce.Problem(); pr == nil || pr.Code != code || ce.Network != "" {
		t.Errorf("Problem() = %v, Network %q: want the problem read, with code %s", pr, ce.Network, code)
	}
	var p ctProblem
	if err := json.Unmarshal(res.Body, &p); err != nil {
		t.Fatalf("the server's body is not a problem: %v", err)
	}
	if ke.Message != p.Detail || ke.Code != p.Code || ce.Type != p.Type || ce.Title != p.Title {
		t.Errorf("decoded %q %q type %q title %q; the server sent %q %q type %q title %q", ke.Code, ke.Message, ce.Type, ce.Title, p.Code, p.Detail, p.Type, p.Title)
	}
	if !reflect.DeepEqual(ke.Fields, p.Errors) && (len(ke.Fields) != 0 || len(p.Errors) != 0) {
		t.Errorf("Fields = %+v, the server sent %+v", ke.Fields, p.Errors)
	}
	if ce.RequestID == "" || ce.RequestID != p.RequestID || ce.RequestID != res.Header.Get("X-Request-Id") {
		t.Errorf("RequestID = %q; problem %q, header %q", ce.RequestID, p.RequestID, res.Header.Get("X-Request-Id"))
	}
	if msg := err.Error(); !strings.Contains(msg, string(code)) || !strings.Contains(msg, p.Detail) || !strings.Contains(msg, p.RequestID) {
		t.Errorf("Error() = %q: want the code, the detail and the request id", msg)
	}
	return ce
}

func TestProblemErrors(t *testing.T) {
	_, c, ctx := ctStart(t)

	// Fixtures: a management key that may only read, an API key, a user
	// holding a role, a revoked key, a project.
	ro, err := c.CreateManagementKey(ctx, &keyward.KeyFields{Name: keyward.Some("read only"), Permissions: keyward.Some([]string{"keys:read"})})
	ctCheck(t, "CreateManagementKey", err)
	roc, _ := c.With(client.WithToken(ro.Secret))
	api, err := c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("api")})
	ctCheck(t, "CreateKey", err)
	apic, _ := c.With(client.WithToken(api.Secret))
	bad, _ := c.With(client.WithToken(keyward.TokenFromString("kwm_notakeyatall")))
	_, err = c.CreateRole(ctx, &keyward.RoleFields{Name: keyward.Some("support"), Scopes: keyward.Some([]keyward.Scope{{Resource: "documents", Access: keyward.AccessRead}})})
	ctCheck(t, "CreateRole", err)
	u, err := c.CreateUser(ctx, &keyward.UserFields{Name: keyward.Some("Bo"), Roles: keyward.Some([]string{"support"})})
	ctCheck(t, "CreateUser", err)
	held, err := c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("held"), PermissionMode: keyward.Some(keyward.ModeRestricted), Roles: keyward.Some([]string{"support"})})
	ctCheck(t, "CreateKey", err)
	revoked, err := c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("revoked"), Status: keyward.Some(keyward.StatusDisabled)})
	ctCheck(t, "CreateKey", err)
	_, err = c.UpdateKey(ctx, revoked.ID, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)})
	ctCheck(t, "revoke", err)
	_, err = c.CreateProject(ctx, &keyward.ProjectFields{Name: keyward.Some("web")})
	ctCheck(t, "CreateProject", err)

	tests := []struct {
		name   string
		call   func(opt client.CallOption) error
		status int
		code   keyward.Code
		fields []string // the fields the problem names
		check  func(t *testing.T, ce *client.Error)
	}{
		{
			name: "401 unknown management key", status: 401, code: keyward.ECodeUnauthenticated,
			call: func(o client.CallOption) error { return ignore(bad.GetKey(ctx, api.ID, o)) },
			check: func(t *testing.T, ce *client.Error) {
				if !strings.HasPrefix(ce.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q", ce.Header.Get("WWW-Authenticate"))
				}
			},
		},
		{
			name: "403 missing permission", status: 403, code: keyward.ECodePermissionDenied,
			call: func(o client.CallOption) error {
				return ignore(roc.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("x")}, o))
			},
			check: func(t *testing.T, ce *client.Error) {
				if got := ce.Err.Details["missing_permission"]; got != "keys:write" {
					t.Errorf("Details[missing_permission] = %#v, want keys:write", got)
				}
				var mp string
				if ok, err := ce.Detail("missing_permission", &mp); !ok || err != nil || mp != "keys:write" {
					t.Errorf("Detail(missing_permission) = %v, %v, %q", ok, err, mp)
				}
			},
		},
		{
			name: "403 API key on a management route", status: 403, code: keyward.ECodeAPIKeyForbidden,
			call: func(o client.CallOption) error { return ignore(apic.ListKeys(ctx, nil, o)) },
		},
		{
			name: "404 unknown key", status: 404, code: keyward.ECodeNotFound,
			call: func(o client.CallOption) error { return ignore(c.GetKey(ctx, "key_01J00000000000000000000000", o)) },
		},
		{
			name: "404 an id with a slash stays one path segment", status: 404, code: keyward.ECodeNotFound,
			call: func(o client.CallOption) error { return ignore(c.GetKey(ctx, "x/../../v1/keys", o)) },
		},
		{
			name: "409 duplicate project name", status: 409, code: keyward.ECodeDuplicate,
			call: func(o client.CallOption) error {
				return ignore(c.CreateProject(ctx, &keyward.ProjectFields{Name: keyward.Some("web")}, o))
			},
		},
		{
			name: "409 role in use", status: 409, code: keyward.ECodeResourceInUse,
			call: func(o client.CallOption) error { return c.DeleteRole(ctx, "support", o) },
			check: func(t *testing.T, ce *client.Error) {
				if got := ce.Err.Details["user_ids"]; !reflect.DeepEqual(got, []string{u.ID}) {
					t.Errorf("Details[user_ids] = %#v, want [%s]", got, u.ID)
				}
				var ids []string
				if ok, err := ce.Detail("key_ids", &ids); !ok || err != nil || len(ids) != 1 || ids[0] != held.ID {
					t.Errorf("Detail(key_ids) = %v, %v, %v; want [%s]", ok, err, ids, held.ID)
				}
				if ok, _ := ce.Detail("no_such_member", new(any)); ok {
					t.Error("Detail reports an absent member as present")
				}
			},
		},
		{
			name: "409 revoked key", status: 409, code: keyward.ECodeKeyRevoked,
			call: func(o client.CallOption) error {
				return ignore(c.UpdateKey(ctx, revoked.ID, &keyward.KeyFields{Name: keyward.Some("y")}, o))
			},
		},
		{
			name: "412 stale If-Match", status: 412, code: keyward.ECodePreconditionFail,
			call: func(o client.CallOption) error {
				return ignore(c.UpdateKey(ctx, api.ID, &keyward.KeyFields{Name: keyward.Some("z")}, client.IfMatch("stale"), o))
			},
		},
		{
			name: "422 fields", status: 422, code: keyward.ECodeValidation, fields: []string{"name", "scopes[0].resource"},
			call: func(o client.CallOption) error {
				return ignore(c.CreateKey(ctx, &keyward.KeyFields{PermissionMode: keyward.Some(keyward.ModeRestricted),
					Scopes: keyward.Some([]keyward.Scope{{Resource: "billing", Access: keyward.AccessRead}})}, o))
			},
		},
		{
			name: "422 null name on PATCH", status: 422, code: keyward.ECodeValidation, fields: []string{"name"},
			call: func(o client.CallOption) error {
				return ignore(c.UpdateKey(ctx, api.ID, &keyward.KeyFields{Name: keyward.Null[string]()}, o))
			},
		},
		{
			name: "422 malformed permission query", status: 422, code: keyward.ECodeInvalidPermission,
			call: func(o client.CallOption) error {
				return ignore(c.VerifyKey(ctx, &keyward.VerifyRequest{Key: keyward.Some(api.Secret), Permissions: ctPtr("documents:read AND (")}, o))
			},
		},
		{
			name: "400 bad list parameter", status: 400, code: keyward.ECodeInvalidParameter, fields: []string{"limit"},
			call: func(o client.CallOption) error { return ignore(c.ListKeys(ctx, &client.KeyListParams{Limit: 500}, o)) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var res client.Response
			err := tc.call(client.Capture(&res))
			ce := ctCheckProblem(t, err, &res, tc.status, tc.code)
			var names []string
			for _, f := range ce.Err.Fields {
				names = append(names, f.Field)
				if f.Message == "" {
					t.Errorf("field %s has no message", f.Field)
				}
			}
			if tc.fields != nil && !reflect.DeepEqual(names, tc.fields) {
				t.Errorf("fields = %v, want %v", names, tc.fields)
			}
			if tc.check != nil {
				tc.check(t, ce)
			}
		})
	}
}

// TestUnavailable: a 503 keeps its Retry-After, and the code is unavailable.
func TestUnavailable(t *testing.T) {
	s := ctNewServer(t, ctServerOptions{})
	c := ctOpClient(t, s)
	if err := s.DB.Close(); err != nil {
		t.Fatal(err)
	}
	var res client.Response
	_, err := c.Ready(context.Background(), client.Capture(&res))
	ce := ctCheckProblem(t, err, &res, http.StatusServiceUnavailable, keyward.ECodeUnavailable)
	if want := res.Header.Get("Retry-After"); want == "" || ce.RetryAfter != ctSeconds(t, want) {
		t.Errorf("RetryAfter = %s, Retry-After header %q", ce.RetryAfter, want)
	}
}

// TestLocked: the lockout's 429 keeps Retry-After and retry_after_seconds.
func TestLocked(t *testing.T) {
	s := ctNewServer(t, ctServerOptions{Lockout: &khttp.LockoutPolicy{Threshold: 2, Window: time.Minute, Duration: time.Minute}})
	c, err := client.New(s.URL, client.WithToken(keyward.TokenFromString("kwm_wrong")))
	ctCheck(t, "New", err)
	ctx := context.Background()
	for range 2 {
		if _, err := c.ListKeys(ctx, nil); keyward.ErrorCode(err) != keyward.ECodeUnauthenticated {
			t.Fatalf("ListKeys with a wrong key: %v", err)
		}
	}
	var res client.Response
	_, err = ctOpClient(t, s).ListKeys(ctx, nil, client.Capture(&res))
	ce := ctCheckProblem(t, err, &res, http.StatusTooManyRequests, keyward.ECodeLocked)
	secs, ok := ce.Err.Details["retry_after_seconds"].(int64)
	if !ok || secs < 1 || ce.RetryAfter != time.Duration(secs)*time.Second || ce.RetryAfter != ctSeconds(t, res.Header.Get("Retry-After")) {
		t.Errorf("RetryAfter = %s, retry_after_seconds %#v, header %q", ce.RetryAfter, ce.Err.Details["retry_after_seconds"], res.Header.Get("Retry-After"))
	}
}

func ctSeconds(t *testing.T, v string) time.Duration {
	t.Helper()
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("Retry-After %q is not seconds", v)
	}
	return time.Duration(n) * time.Second
}

// TestNetworkErrors: no answer is an *Error with status 0 that unwraps to
// the cause, with code unavailable, or timeout when the context ended or
// the answer took too long; Network says why, and NotSent whether the
// request never reached the server.
func TestNetworkErrors(t *testing.T) {
	tok, _ := keyward.NewToken("kwm", nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ctCheck(t, "listen", err)
	dead := "http://" + l.Addr().String()
	l.Close()
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	untrusted := httptest.NewUnstartedServer(http.NotFoundHandler())
	untrusted.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	untrusted.StartTLS()
	defer untrusted.Close()
	release := make(chan struct{})
	defer close(release)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer hangup.Close()

	for _, tc := range []struct {
		name    string
		url     string
		hc      *http.Client // nil: the default
		ctx     func() (context.Context, context.CancelFunc)
		network client.NetworkFailure
		code    keyward.Code
		cause   func(error) bool
	}{
		{name: "connection refused", url: dead, network: client.NetUnreachable, code: keyward.ECodeUnavailable,
			cause: func(err error) bool { var op *net.OpError; return errors.As(err, &op) }},
		{name: "https to a plain HTTP server", url: strings.Replace(plain.URL, "http:", "https:", 1), network: client.NetPlainHTTP, code: keyward.ECodeUnavailable,
			cause: func(err error) bool { return errors.Is(err, http.ErrSchemeMismatch) }},
		{name: "untrusted certificate", url: untrusted.URL, network: client.NetTLS, code: keyward.ECodeUnavailable,
			cause: func(err error) bool { var ca *tls.CertificateVerificationError; return errors.As(err, &ca) }},
		{name: "http.Client timeout", url: hang.URL, hc: &http.Client{Timeout: 50 * time.Millisecond}, network: client.NetTimeout, code: keyward.ECodeTimeout,
			cause: func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{name: "context deadline", url: hang.URL, network: client.NetTimeout, code: keyward.ECodeTimeout,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 50*time.Millisecond)
			},
			cause: func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{name: "context cancelled", url: hang.URL, network: client.NetCancelled, code: keyward.ECodeTimeout,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx, cancel
			},
			cause: func(err error) bool { return errors.Is(err, context.Canceled) }},
		{name: "connection closed without an answer", url: hangup.URL, network: client.NetBroken, code: keyward.ECodeUnavailable,
			cause: func(err error) bool { return errors.Is(err, io.EOF) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []client.Option{client.WithToken(tok)}
			if tc.hc != nil {
				opts = append(opts, client.WithHTTPClient(tc.hc))
			}
			c, err := client.New(tc.url, opts...)
			ctCheck(t, "New", err)
			ctx, cancel := context.WithCancel(context.Background())
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			_, err = c.GetKey(ctx, "key_01J00000000000000000000000")
			var ce *client.Error
			if !errors.As(err, &ce) || ce.StatusCode != 0 || ce.Network != tc.network || keyward.ErrorCode(err) != tc.code || ce.Problem() != nil {
				t.Fatalf("error = %T %v (network %q): want a *client.Error, status 0, network %s, code %s", err, err, ce.Network, tc.network, tc.code)
			}
			if !tc.cause(err) {
				t.Errorf("error %v does not unwrap to its cause", err)
			}
			wantNotSent := tc.network == client.NetUnreachable || tc.network == client.NetPlainHTTP || tc.network == client.NetTLS
			if ce.Network.NotSent() != wantNotSent {
				t.Errorf("NotSent() = %t, want %t", ce.Network.NotSent(), wantNotSent)
			}
			if ctContains(tok.Reveal(), err.Error()) {
				t.Error("the error contains the token")
			}
		})
	}

	t.Run("not a problem document", func(t *testing.T) {
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("<html>bad gateway</html>"))
		}))
		defer proxy.Close()
		c, err := client.New(proxy.URL, client.WithToken(tok))
		ctCheck(t, "New", err)
		_, err = c.Health(context.Background())
		var ce *client.Error
		if !errors.As(err, &ce) || ce.StatusCode != http.StatusBadGateway || ce.Code() != keyward.ECodeUnavailable || ce.RetryAfter != 7*time.Second {
			t.Fatalf("error = %v: want 502, unavailable, RetryAfter 7s", err)
		}
		if ce.Problem() != nil || ce.Network != "" {
			t.Errorf("a proxy's page: Problem() = %v, Network %q; want neither", ce.Problem(), ce.Network)
		}
	})

	t.Run("success that is not JSON", func(t *testing.T) {
		odd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }))
		defer odd.Close()
		c, err := client.New(odd.URL)
		ctCheck(t, "New", err)
		if _, err := c.Health(context.Background()); err == nil || !strings.Contains(err.Error(), "not the JSON keyward sends") {
			t.Fatalf("error = %v", err)
		}
	})
}

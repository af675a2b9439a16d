package service_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlite"
)

// env is a service on a real SQLite store in a temporary directory, with
// the bootstrap operator key acting on the default account.
type env struct {
	t       testing.TB
	ctx     context.Context
	svc     *service.Service
	op      *keyward.Actor // the operator key, on the default account
	opToken keyward.Token

	mu  sync.Mutex
	now time.Time
	n   int // names made unique
}

// newEnv opens a fresh service. Its clock (creation times, expiry checks
// of changes) stands a day in the past, while verification checks expiry
// and grace periods against the wall clock: a key that expires an hour
// after its creation is expired when verified.
func newEnv(t *testing.T) *env { t.Helper(); return newEnvWith(t, service.Options{}) }

// newEnvWith is newEnv with options: a new SQLite store unless o sets one
// (a test's wrapper of a real store), and the clock unless o sets one.
func newEnvWith(t testing.TB, o service.Options) *env {
	t.Helper()
	ctx := t.Context()
	if o.Store == nil {
		db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keyward.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		o.Store = db
	}
	e := &env{t: t, ctx: ctx, now: time.Now().Add(-24 * time.Hour).Truncate(time.Millisecond)}
	if o.Clock == nil {
		o.Clock = e.clock
	}
	e.svc = service.New(o)
	t.Cleanup(func() { e.svc.Close(context.Background()) })
	_, op, err := e.svc.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.op, e.opToken = e.authenticate(service.Credential{Token: op, ClientIP: "127.0.0.1"}), op
	return e
}

// advance moves the service's clock.
func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

// unique returns a name no earlier call returned.
func (e *env) unique(prefix string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	return fmt.Sprintf("%s-%d", prefix, e.n)
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

// authenticate returns the actor of a credential that must authenticate.
func (e *env) authenticate(c service.Credential) *keyward.Actor {
	e.t.Helper()
	a, err := e.svc.Authenticate(e.ctx, c)
	if err != nil {
		e.t.Fatalf("Authenticate: %v", err)
	}
	return a
}

// mgmtKey creates a management key of the default account with the
// permissions (and mods) and returns it and its token.
func (e *env) mgmtKey(perms []string, mods ...func(*keyward.KeyFields)) (*keyward.Key, keyward.Token) {
	e.t.Helper()
	in := &keyward.KeyFields{Name: keyward.Some("manager"), Permissions: keyward.Some(perms)}
	for _, m := range mods {
		m(in)
	}
	k, tok, err := e.svc.CreateKey(e.ctx, e.op, keyward.KindManagement, in)
	if err != nil {
		e.t.Fatalf("creating a management key: %v", err)
	}
	return k, tok
}

// manager returns the actor of a new management key with the permissions.
func (e *env) manager(perms ...string) *keyward.Actor {
	e.t.Helper()
	_, tok := e.mgmtKey(perms)
	return e.authenticate(service.Credential{Token: tok, ClientIP: "127.0.0.1"})
}

// allBut returns the permissions from, but perm.
func allBut(perm string, from ...string) []string {
	return slices.DeleteFunc(slices.Clone(from), func(p string) bool { return p == perm })
}

// apiKey creates an API key of the actor's account from the fields.
func (e *env) apiKey(a *keyward.Actor, in *keyward.KeyFields) (*keyward.Key, keyward.Token) {
	e.t.Helper()
	if !in.Name.Set {
		in.Name = keyward.Some("api")
	}
	k, tok, err := e.svc.CreateKey(e.ctx, a, keyward.KindAPI, in)
	if err != nil {
		e.t.Fatalf("creating an API key: %v", err)
	}
	return k, tok
}

// verify verifies tok as the operator with the request's other members.
func (e *env) verify(tok keyward.Token, req keyward.VerifyRequest) keyward.VerifyResult {
	e.t.Helper()
	req.Key = keyward.Some(tok)
	res, err := e.svc.Verify(e.ctx, e.op, &req)
	if err != nil {
		e.t.Fatalf("Verify: %v", err)
	}
	return res
}

// must fails the test on err.
func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// scope is one scope of all targets.
func scope(resource string, access keyward.Access) keyward.Scope {
	return keyward.Scope{Resource: resource, Access: access, Targets: []string{"*"}}
}

// restricted is a restricted key's fields with the scopes.
func restricted(scopes ...keyward.Scope) *keyward.KeyFields {
	return &keyward.KeyFields{PermissionMode: keyward.Some(keyward.ModeRestricted), Scopes: keyward.Some(scopes)}
}

func str(s string) *string { return &s }

// wantCode fails unless err carries the code (ECode "" for no error).
func wantCode(t *testing.T, what string, err error, code keyward.Code) {
	t.Helper()
	if got := keyward.ErrorCode(err); (err == nil && code != "") || (err != nil && got != code) {
		t.Fatalf("%s: error %v, want code %q", what, err, code)
	}
}

// Package storetest is the conformance suite of the keyward.Store contract
// (store.go in package keyward). Every storage backend runs it from its own
// tests, so the backends cannot drift apart (STYLE habit 3):
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) keyward.Store { return openFresh(t) })
//	}
//
// The suite uses only the Store and Tx interfaces. It decides the parts of
// the contract the interface comments leave open, from what package
// sqlstore does and what the layers above rely on:
//
//   - every field of a Key, Account, Project, Resource and AuditEvent
//     round-trips exactly, nil and empty slices and maps kept apart (a
//     restricted key with no scopes is [] in the API, an unrestricted one
//     null), and times come back in UTC truncated to the millisecond;
//   - lists are ordered by id, newest first; a cursor need not be an
//     existing id, it is a position in that order;
//   - errors carry the codes not_found, duplicate and conflict, and a failed
//     Write leaves nothing behind;
//   - users, service accounts and roles round-trip like keys; their roles
//     and scopes lists are never nil ([] when empty); user search is a
//     case-insensitive substring of name or email (non-ASCII letters too,
//     as for key names), the role filter matches whole role names;
//   - a getter or deleter given another account's id answers not_found
//     and changes nothing; operator keys (no account) are found only by
//     GetOperatorKey, which finds nothing else;
//   - an empty SealedSecret is no sealed secret: it reads back nil;
//   - KeysWithRole lists ids in id order; KeysOwnedBy's order is not part
//     of the contract;
//   - an idempotency record belongs to the account whose id, followed by
//     ":", starts its Scope (the service builds scopes as
//     "<account id>:<actor id>"): DeleteAccount removes those records;
//     concurrent ReserveIdempotency calls of one key never fail: one gets
//     nil, the others the winner's record; FinishIdempotency of an unknown
//     record is not_found.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// Run runs the conformance suite. open must return a new, empty, migrated
// store for each call and arrange for it to be closed when t ends.
func Run(t *testing.T, open func(t *testing.T) keyward.Store) {
	t.Helper()
	groups := []struct {
		name  string
		tests []test
	}{
		{"Accounts", accountTests},
		{"AccountChanges", accountChangeTests},
		{"Keys", keyTests},
		{"ListKeys", listKeyTests},
		{"KeyMembers", keyMemberTests},
		{"Projects", projectTests},
		{"Catalog", catalogTests},
		{"Users", userTests},
		{"ServiceAccounts", serviceAccountTests},
		{"Roles", roleTests},
		{"Audit", auditTests},
		{"Idempotency", idempotencyTests},
		{"Transactions", txTests},
		{"TenantScoping", scopeTests},
		{"Usage", usageTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.fn(newEnv(t, open))
				})
			}
		})
	}
}

// test is one case of the suite, run against a fresh store.
type test struct {
	name string
	fn   func(e *env)
}

// env is a fresh store and what the cases need around it.
type env struct {
	t   *testing.T
	ctx context.Context
	s   keyward.Store
	ids *keyward.IDs

	mu    sync.Mutex
	clock time.Time
}

func newEnv(t *testing.T, open func(t *testing.T) keyward.Store) *env {
	t.Helper()
	s := open(t)
	if s == nil {
		t.Fatal("open returned a nil store")
	}
	return &env{
		t:     t,
		ctx:   t.Context(),
		s:     s,
		ids:   keyward.NewIDs(keyward.SystemClock),
		clock: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC),
	}
}

// now returns a new instant each call, one second after the previous, at
// the millisecond precision the store keeps.
func (e *env) now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clock = e.clock.Add(time.Second + 7*time.Millisecond)
	return e.clock
}

// write runs fn in a write transaction and fails the test if it fails.
func (e *env) write(fn func(tx keyward.Tx) error) {
	e.t.Helper()
	if err := e.s.Write(e.ctx, fn); err != nil {
		e.t.Fatalf("Write: %v", err)
	}
}

// read runs fn in a read transaction and fails the test if it fails.
func (e *env) read(fn func(tx keyward.Tx) error) {
	e.t.Helper()
	if err := e.s.Read(e.ctx, fn); err != nil {
		e.t.Fatalf("Read: %v", err)
	}
}

// tryWrite runs fn in a write transaction that commits whatever fn
// returns, and returns fn's error: for a change that must fail, in a
// transaction that goes on.
func (e *env) tryWrite(fn func(tx keyward.Tx) error) error {
	e.t.Helper()
	var err error
	e.write(func(tx keyward.Tx) error {
		err = fn(tx)
		return nil
	})
	return err
}

// readOne runs fn in a read transaction and returns what it read; the
// test fails if fn fails.
func readOne[T any](e *env, fn func(tx keyward.Tx) (T, error)) T {
	e.t.Helper()
	return inTx(e, e.read, fn)
}

// writeOne is readOne in a write transaction.
func writeOne[T any](e *env, fn func(tx keyward.Tx) (T, error)) T {
	e.t.Helper()
	return inTx(e, e.write, fn)
}

// inTx runs fn in a transaction of run (e.read or e.write) and returns
// what it read.
func inTx[T any](e *env, run func(func(keyward.Tx) error), fn func(tx keyward.Tx) (T, error)) T {
	e.t.Helper()
	var v T
	run(func(tx keyward.Tx) (err error) {
		v, err = fn(tx)
		return err
	})
	return v
}

// get reads an object of the account that must exist with the store's
// getter of its kind (keyward.Tx.GetUser…).
func get[T any](e *env, getter func(keyward.Tx, context.Context, string, string) (*T, error), accountID, id string) *T {
	e.t.Helper()
	return readOne(e, func(tx keyward.Tx) (*T, error) { return getter(tx, e.ctx, accountID, id) })
}

// gone fails unless the account has no object with the id, as the getter
// of its kind finds.
func gone[T any](e *env, getter func(keyward.Tx, context.Context, string, string) (*T, error), accountID, id string) {
	e.t.Helper()
	err := e.s.Read(e.ctx, func(tx keyward.Tx) error {
		_, err := getter(tx, e.ctx, accountID, id)
		return err
	})
	wantCode(e.t, err, keyward.ECodeNotFound)
}

// account creates an account with the given name.
func (e *env) account(name string) *keyward.Account {
	e.t.Helper()
	at := e.now()
	a := &keyward.Account{
		ID: e.ids.New(keyward.PrefixAccount), Name: name, DefaultPrefix: "kw", CatalogTemplate: keyward.TemplateDefault,
		DefaultPermissionMode: keyward.ModeAll, CreatedAt: at, UpdatedAt: at, Version: 1,
	}
	e.write(func(tx keyward.Tx) error { return tx.CreateAccount(e.ctx, a) })
	return a
}

// apiKey returns an unsaved API key of the account with the required
// fields set; mods change it.
func (e *env) apiKey(a *keyward.Account, mods ...func(*keyward.Key)) *keyward.Key {
	at := e.now()
	k := &keyward.Key{
		ID: e.ids.New(keyward.PrefixKey), AccountID: a.ID, Kind: keyward.KindAPI, Name: "key", Status: keyward.StatusActive,
		Prefix: "kw", Start: "kw_abcd", Last4: "wxyz", Owner: keyward.Owner{Type: keyward.OwnerAccount, ID: a.ID},
		PermissionMode: keyward.ModeAll, CreatedAt: at, UpdatedAt: at, CreatedByID: "system", UpdatedByID: "system", Version: 1,
	}
	for _, m := range mods {
		m(k)
	}
	return k
}

// create stores k with a fresh random secret hash and returns the hash.
func (e *env) create(k *keyward.Key) keyward.TokenHash {
	e.t.Helper()
	h := randomHash(e.t)
	e.write(func(tx keyward.Tx) error { return tx.CreateKey(e.ctx, k, h) })
	return h
}

// getKey reads a key of the account that must exist; with no account, an
// operator key.
func (e *env) getKey(accountID, id string) *keyward.Key {
	e.t.Helper()
	return get(e, keyOf, accountID, id)
}

// keyOf is GetKey, or GetOperatorKey for no account.
func keyOf(tx keyward.Tx, ctx context.Context, accountID, id string) (*keyward.Key, error) {
	if accountID == "" {
		return tx.GetOperatorKey(ctx, id)
	}
	return tx.GetKey(ctx, accountID, id)
}

func randomHash(t testing.TB) keyward.TokenHash {
	var h keyward.TokenHash
	if _, err := rand.Read(h[:]); err != nil {
		t.Fatal(err)
	}
	return h
}

// wantCode fails unless err carries the keyward error code.
func wantCode(t testing.TB, err error, code keyward.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want code %s", code)
	}
	var ke *keyward.Error
	if !errors.As(err, &ke) {
		t.Fatalf("error %v (%T) is not a *keyward.Error, want code %s", err, err, code)
	}
	if ke.Code != code {
		t.Fatalf("error code %s (%v), want %s", ke.Code, err, code)
	}
}

// same fails with a field-by-field report unless got and want are deeply
// equal.
func same(t testing.TB, what string, got, want any) {
	t.Helper()
	if d := diff(got, want); d != "" {
		t.Fatalf("%s differs (got vs want):\n%s", what, d)
	}
}

// diff describes how got differs from want: per exported field for
// structs (and pointers to them), as a whole otherwise.
func diff(got, want any) string {
	if reflect.DeepEqual(got, want) {
		return ""
	}
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for gv.IsValid() && wv.IsValid() && gv.Kind() == reflect.Pointer && wv.Kind() == reflect.Pointer && !gv.IsNil() && !wv.IsNil() {
		gv, wv = gv.Elem(), wv.Elem()
	}
	if !gv.IsValid() || !wv.IsValid() || gv.Kind() != reflect.Struct || gv.Type() != wv.Type() {
		return fmt.Sprintf("  %s\n  %s", show(got), show(want))
	}
	var b strings.Builder
	for i := 0; i < gv.NumField(); i++ {
		f := gv.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !reflect.DeepEqual(g, w) {
			fmt.Fprintf(&b, "  %s: %s\n  %s  vs %s\n", f.Name, show(g), strings.Repeat(" ", len(f.Name)), show(w))
		}
	}
	return b.String()
}

// show renders a value with nil and empty told apart.
func show(v any) string {
	rv := reflect.ValueOf(v)
	if rv.IsValid() {
		switch rv.Kind() {
		case reflect.Slice, reflect.Map, reflect.Pointer:
			if rv.IsNil() {
				return fmt.Sprintf("nil %T", v)
			}
		}
	}
	if t, ok := v.(time.Time); ok {
		return t.Format(time.RFC3339Nano) + " (" + t.Location().String() + ")"
	}
	if t, ok := v.(*time.Time); ok {
		return "&" + t.Format(time.RFC3339Nano) + " (" + t.Location().String() + ")"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return fmt.Sprintf("%T %s", v, b)
}

func ptr[T any](v T) *T { return &v }

// ms returns t at the precision stores keep.
func ms(t time.Time) time.Time { return keyward.Timestamp(t) }

// keyIDs returns the ids of keys, in order.
func keyIDs(keys []*keyward.Key) []string {
	return idsOf(keys, func(k *keyward.Key) string { return k.ID })
}

// idsOf returns the ids of objects ([] for none), which id reads.
func idsOf[T any](items []*T, id func(*T) string) []string {
	out := []string{}
	for _, v := range items {
		out = append(out, id(v))
	}
	return out
}

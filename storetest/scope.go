package storetest

import (
	"context"

	"github.com/keyward/keyward"
)

// Tenant scoping: a getter or deleter of an account's object given another
// account answers not_found, as for an id that does not exist, and changes
// nothing. Operator keys belong to no account: only GetOperatorKey finds
// them, and it finds nothing else.
var scopeTests = []test{
	{"ForeignIDsAreNotFound", testForeignIDs},
	{"ForeignDeletesAreNotFound", testForeignDeletes},
	{"OperatorKeys", testOperatorKeyScope},
}

// accountObjects creates one object of every kind a getter takes an
// account for, in account a.
type accountObjects struct {
	api, mgmt *keyward.Key
	user      *keyward.User
	sa        *keyward.ServiceAccount
	role      *keyward.Role
	project   *keyward.Project
}

func (e *env) accountObjects(a *keyward.Account) *accountObjects {
	e.t.Helper()
	o := &accountObjects{
		api: e.apiKey(a),
		mgmt: e.apiKey(a, func(k *keyward.Key) {
			k.Kind, k.PermissionMode, k.Permissions = keyward.KindManagement, "", []string{keyward.PermKeysRead}
		}),
		// The role is named after its account: role names are per account.
		user: e.user(a), sa: e.serviceAccount(a, "ci"), role: e.role(a, "reader-"+a.Name), project: e.project(a, "web"),
	}
	e.create(o.api)
	e.create(o.mgmt)
	return o
}

// getters returns, by name, a read of each object of o in the account given.
func (e *env) getters(o *accountObjects) map[string]func(tx keyward.Tx, accountID string) error {
	return map[string]func(tx keyward.Tx, accountID string) error{
		"GetKey of an API key":         func(tx keyward.Tx, acc string) error { _, err := tx.GetKey(e.ctx, acc, o.api.ID); return err },
		"GetKey of a management key":   func(tx keyward.Tx, acc string) error { _, err := tx.GetKey(e.ctx, acc, o.mgmt.ID); return err },
		"GetUser":                      func(tx keyward.Tx, acc string) error { _, err := tx.GetUser(e.ctx, acc, o.user.ID); return err },
		"GetServiceAccount":            func(tx keyward.Tx, acc string) error { _, err := tx.GetServiceAccount(e.ctx, acc, o.sa.ID); return err },
		"GetRole":                      func(tx keyward.Tx, acc string) error { _, err := tx.GetRole(e.ctx, acc, o.role.Name); return err },
		"GetProject":                   func(tx keyward.Tx, acc string) error { _, err := tx.GetProject(e.ctx, acc, o.project.ID); return err },
		"GetOperatorKey of an API key": func(tx keyward.Tx, _ string) error { _, err := tx.GetOperatorKey(e.ctx, o.api.ID); return err },
	}
}

func testForeignIDs(e *env) {
	a, b := e.account("a"), e.account("b")
	o := e.accountObjects(a)
	e.accountObjects(b) // b has objects of its own: scoping is not "b is empty"
	for name, get := range e.getters(o) {
		for _, acc := range []string{b.ID, "", "acc_01HZX3K8Q4W2N5R7T9V0B1C2D3"} {
			// In a read, and in a write (where the row would be locked).
			for tx, run := range map[string]func(context.Context, func(keyward.Tx) error) error{"Read": e.s.Read, "Write": e.s.Write} {
				err := run(e.ctx, func(tx keyward.Tx) error { return get(tx, acc) })
				if keyward.ErrorCode(err) != keyward.ECodeNotFound {
					e.t.Errorf("%s in %s with account %q: %v, want not_found", name, tx, acc, err)
				}
			}
		}
		if name == "GetOperatorKey of an API key" {
			continue
		}
		if err := e.s.Read(e.ctx, func(tx keyward.Tx) error { return get(tx, a.ID) }); err != nil {
			e.t.Fatalf("%s in its own account: %v", name, err)
		}
	}
}

func testForeignDeletes(e *env) {
	a, b := e.account("a"), e.account("b")
	o := e.accountObjects(a)
	for name, del := range map[string]func(tx keyward.Tx) error{
		"DeleteUser":           func(tx keyward.Tx) error { return tx.DeleteUser(e.ctx, b.ID, o.user.ID) },
		"DeleteServiceAccount": func(tx keyward.Tx) error { return tx.DeleteServiceAccount(e.ctx, b.ID, o.sa.ID) },
		"DeleteRole":           func(tx keyward.Tx) error { return tx.DeleteRole(e.ctx, b.ID, o.role.Name) },
		"DeleteProject":        func(tx keyward.Tx) error { return tx.DeleteProject(e.ctx, b.ID, o.project.ID) },
	} {
		err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return del(tx) })
		if keyward.ErrorCode(err) != keyward.ECodeNotFound {
			e.t.Errorf("%s in another account: %v, want not_found", name, err)
		}
	}
	for name, get := range e.getters(o) {
		if name == "GetOperatorKey of an API key" {
			continue
		}
		if err := e.s.Read(e.ctx, func(tx keyward.Tx) error { return get(tx, a.ID) }); err != nil {
			e.t.Errorf("%s after deletes from another account: %v", name, err)
		}
	}
}

func testOperatorKeyScope(e *env) {
	a := e.account("a")
	o := e.accountObjects(a)
	op := e.fullOperatorKey()
	e.create(op)
	e.read(func(tx keyward.Tx) error {
		got, err := tx.GetOperatorKey(e.ctx, op.ID)
		if err != nil {
			e.t.Fatalf("GetOperatorKey: %v", err)
		}
		same(e.t, "GetOperatorKey", got, op)
		return nil
	})
	for name, get := range map[string]func(tx keyward.Tx) error{
		"GetKey of an operator key in an account":       func(tx keyward.Tx) error { _, err := tx.GetKey(e.ctx, a.ID, op.ID); return err },
		"GetKey of an operator key without account":     func(tx keyward.Tx) error { _, err := tx.GetKey(e.ctx, "", op.ID); return err },
		"GetOperatorKey of an account's management key": func(tx keyward.Tx) error { _, err := tx.GetOperatorKey(e.ctx, o.mgmt.ID); return err },
	} {
		err := e.s.Read(e.ctx, func(tx keyward.Tx) error { return get(tx) })
		if keyward.ErrorCode(err) != keyward.ECodeNotFound {
			e.t.Errorf("%s: %v, want not_found", name, err)
		}
	}
}

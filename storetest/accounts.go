package storetest

import (
	"time"

	"github.com/keyward/keyward"
)

var accountChangeTests = []test{
	{"Update", testUpdateAccount},
	{"UpdateWrongVersion", testUpdateAccountConflict},
	{"UpdateDuplicateName", testUpdateAccountDuplicate},
	{"DeleteUnknown", func(e *env) {
		a := e.account("a")
		err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.DeleteAccount(e.ctx, "acc_01HZX3K8Q4W2N5R7T9V0B1C2D3") })
		wantCode(e.t, err, keyward.ECodeNotFound)
		e.getAccount(a.ID)
	}},
	{"DeleteCascades", testDeleteAccount},
}

func (e *env) getAccount(id string) *keyward.Account {
	e.t.Helper()
	return readOne(e, func(tx keyward.Tx) (*keyward.Account, error) { return tx.GetAccount(e.ctx, id) })
}

func testUpdateAccount(e *env) {
	a := e.account("acme")
	steps := []func(a *keyward.Account){
		func(a *keyward.Account) {
			a.Name, a.DefaultPrefix, a.CatalogTemplate, a.DefaultPermissionMode = "Acme 2 é", "acme", keyward.TemplateOrq, keyward.ModeRestricted
			a.MaxKeyLifetime, a.RequireExpiry, a.DefaultKeyLifetime = ptr(int64(keyward.MaxLifetimeSeconds)), true, ptr(int64(1))
		},
		func(a *keyward.Account) {
			a.MaxKeyLifetime, a.RequireExpiry, a.DefaultKeyLifetime, a.DefaultPermissionMode = nil, false, nil, keyward.ModeReadOnly
		},
		func(a *keyward.Account) { a.Name = "acme" }, // back to the first name
	}
	for i, step := range steps {
		next := *e.getAccount(a.ID)
		step(&next)
		next.UpdatedAt, next.Version = e.now(), next.Version+1
		e.write(func(tx keyward.Tx) error { return tx.UpdateAccount(e.ctx, &next) })
		got := e.getAccount(a.ID)
		same(e.t, name("account after update", i), got, &next)
		var byName *keyward.Account
		e.read(func(tx keyward.Tx) (err error) {
			byName, err = tx.GetAccountByName(e.ctx, next.Name)
			return err
		})
		same(e.t, "GetAccountByName after update", byName, &next)
	}
	// Times come back in UTC at millisecond precision.
	next := *e.getAccount(a.ID)
	next.UpdatedAt = time.Date(2025, 8, 1, 1, 2, 3, 456_789_000, time.FixedZone("X", -7200))
	next.Version++
	e.write(func(tx keyward.Tx) error { return tx.UpdateAccount(e.ctx, &next) })
	if got := e.getAccount(a.ID).UpdatedAt; !got.Equal(ms(next.UpdatedAt)) || got.Location() != time.UTC {
		e.t.Fatalf("updated_at = %s, want %s", show(got), show(ms(next.UpdatedAt)))
	}
}

func testUpdateAccountConflict(e *env) {
	a := e.account("acme")
	for _, v := range []int64{a.Version, a.Version + 2, 0} {
		stale := *a
		stale.Name, stale.RequireExpiry, stale.Version = "stale", true, v
		wantCode(e.t, e.tryWrite(func(tx keyward.Tx) error { return tx.UpdateAccount(e.ctx, &stale) }), keyward.ECodeConflict)
		same(e.t, "account after a conflicting update", e.getAccount(a.ID), a)
	}
	ghost := *a
	ghost.ID, ghost.Name, ghost.Version = "acc_01HZX3K8Q4W2N5R7T9V0B1C2D3", "ghost", 2
	err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.UpdateAccount(e.ctx, &ghost) })
	if c := keyward.ErrorCode(err); c != keyward.ECodeConflict && c != keyward.ECodeNotFound {
		e.t.Fatalf("UpdateAccount of an unknown account: %v, want conflict or not_found", err)
	}
}

func testUpdateAccountDuplicate(e *env) {
	a, b := e.account("acme"), e.account("other")
	renamed := *b
	renamed.Name, renamed.Version = "acme", b.Version+1
	err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.UpdateAccount(e.ctx, &renamed) })
	wantCode(e.t, err, keyward.ECodeDuplicate)
	same(e.t, "account after a duplicate rename", e.getAccount(b.ID), b)
	same(e.t, "the account holding the name", e.getAccount(a.ID), a)
	// A different case is a different name.
	renamed.Name = "ACME"
	e.write(func(tx keyward.Tx) error { return tx.UpdateAccount(e.ctx, &renamed) })
}

// accountWorld is one of everything an account can hold.
type accountWorld struct {
	account            *keyward.Account
	apiKey, mgmtKey    *keyward.Key
	userKey, saKey     *keyward.Key
	hashes             []keyward.TokenHash
	project            *keyward.Project
	user               *keyward.User
	serviceAccount     *keyward.ServiceAccount
	role               *keyward.Role
	event              *keyward.AuditEvent
	idem, idemFinished *keyward.IdempotencyRecord
}

func (e *env) populate(n string) *accountWorld {
	e.t.Helper()
	w := &accountWorld{account: e.account(n)}
	a := w.account
	w.project = e.project(a, "web")
	e.putResource(a.ID, &keyward.Resource{ID: "docs", DisplayName: "Docs", Group: "data", Readable: true, Writable: true,
		ProjectScopes: []string{keyward.ProjectScopeAll}, CreatedAt: e.now(), UpdatedAt: e.now()})
	w.role = e.role(a, "reader", readScope("docs"))
	w.user = e.user(a, func(u *keyward.User) { u.ExternalID, u.Roles = ptr("ext-1"), []string{"reader"} })
	w.serviceAccount = e.serviceAccount(a, "ci")
	w.apiKey = e.apiKey(a, func(k *keyward.Key) {
		k.PermissionMode, k.Scopes, k.Roles = keyward.ModeRestricted, []keyward.Scope{readScope("docs")}, []string{"reader"}
		k.ProjectID, k.Recoverable, k.SealedSecret = ptr(w.project.ID), true, []byte{1, 2, 3}
	})
	w.mgmtKey = e.apiKey(a, func(k *keyward.Key) {
		k.Kind, k.Prefix, k.PermissionMode, k.Permissions = keyward.KindManagement, "kwm", "", []string{keyward.PermKeysRead}
	})
	w.userKey = e.apiKey(a, func(k *keyward.Key) {
		k.Owner = keyward.Owner{Type: keyward.OwnerUser, ID: w.user.ID}
		k.PermissionMode, k.Scopes, k.Roles = keyward.ModeRestricted, []keyward.Scope{}, []string{"reader"}
	})
	w.saKey = e.apiKey(a, func(k *keyward.Key) {
		k.Owner = keyward.Owner{Type: keyward.OwnerServiceAccount, ID: w.serviceAccount.ID}
	})
	for _, k := range []*keyward.Key{w.apiKey, w.mgmtKey, w.userKey, w.saKey} {
		w.hashes = append(w.hashes, e.create(k))
	}
	// A rotated secret still in its grace period.
	now := e.now()
	h := randomHash(e.t)
	e.rotate(w.apiKey.ID, h, now, now.Add(24*time.Hour))
	w.hashes = append(w.hashes, h)
	w.event = e.event(a, keyward.ActionKeyCreated, w.apiKey.ID, w.mgmtKey.ID)
	at := e.now()
	w.idem = idemRecord(a, w.mgmtKey.ID, "pending-key-0001", "req", at)
	w.idemFinished = idemRecord(a, w.mgmtKey.ID, "finished-key-001", "req", at)
	for _, r := range []*keyward.IdempotencyRecord{w.idem, w.idemFinished} {
		if e.reserve(r, at) != nil {
			e.t.Fatal("not new")
		}
	}
	fin := *w.idemFinished
	fin.Pending, fin.Status, fin.Response = false, 201, []byte("answer")
	e.write(func(tx keyward.Tx) error { return tx.FinishIdempotency(e.ctx, &fin) })
	w.idemFinished = &fin
	return w
}

// accountSnapshot is everything readable about one account.
type accountSnapshot struct {
	Account   *keyward.Account
	Keys      []*keyward.Key
	Projects  []*keyward.Project
	Resources []*keyward.Resource
	Users     []*keyward.User
	SAs       []*keyward.ServiceAccount
	Roles     []*keyward.Role
	Events    []*keyward.AuditEvent
	UsingDocs []string
	WithRole  []string
	Matches   []*keyward.KeyMatch
	Idem      []*keyward.IdempotencyRecord
}

func (e *env) snapshot(w *accountWorld) *accountSnapshot {
	e.t.Helper()
	id := w.account.ID
	s := &accountSnapshot{}
	page := keyward.Page{Limit: keyward.MaxPageLimit}
	e.read(func(tx keyward.Tx) error {
		var err error
		if s.Account, err = tx.GetAccount(e.ctx, id); err != nil && keyward.ErrorCode(err) != keyward.ECodeNotFound {
			return err
		}
		if s.Keys, _, err = tx.ListKeys(e.ctx, &keyward.KeyFilter{Page: page, AccountID: id}); err != nil {
			return err
		}
		if s.Projects, _, err = tx.ListProjects(e.ctx, &keyward.ProjectFilter{Page: page, AccountID: id}); err != nil {
			return err
		}
		if s.Resources, err = tx.ListResources(e.ctx, id); err != nil {
			return err
		}
		if s.Users, _, err = tx.ListUsers(e.ctx, &keyward.UserFilter{Page: page, AccountID: id}); err != nil {
			return err
		}
		if s.SAs, _, err = tx.ListServiceAccounts(e.ctx, &keyward.ServiceAccountFilter{Page: page, AccountID: id}); err != nil {
			return err
		}
		if s.Roles, err = tx.ListRoles(e.ctx, id); err != nil {
			return err
		}
		if s.Events, _, err = tx.ListAuditEvents(e.ctx, &keyward.AuditFilter{Page: page, AccountID: id}); err != nil {
			return err
		}
		if s.UsingDocs, err = tx.KeysUsingResource(e.ctx, id, "docs", 100); err != nil {
			return err
		}
		if s.WithRole, err = tx.KeysWithRole(e.ctx, id, "reader", 100); err != nil {
			return err
		}
		for _, h := range w.hashes {
			m, err := tx.FindKeyByHash(e.ctx, h)
			if err != nil && keyward.ErrorCode(err) != keyward.ECodeNotFound {
				return err
			}
			s.Matches = append(s.Matches, m)
		}
		return nil
	})
	for _, r := range []*keyward.IdempotencyRecord{w.idem, w.idemFinished} {
		s.Idem = append(s.Idem, e.peekIdem(r.Scope, r.KeyHash))
	}
	return s
}

// Deleting an account removes everything in it, at once and for good;
// its audit events stay; other accounts and operator keys are untouched.
func testDeleteAccount(e *env) {
	a, b := e.populate("a"), e.populate("b")
	// An operator key belongs to no account, even when a names it as owner.
	op := e.fullOperatorKey()
	op.Owner.ID = a.account.ID
	opHash := e.create(op)
	before := e.snapshot(b)
	if len(before.Keys) != 4 || len(before.Matches) != 5 || before.Matches[4] == nil || len(before.WithRole) != 2 || before.Idem[0] == nil {
		e.t.Fatalf("fixture: account b holds %d keys, %d secrets, %d keys with the role", len(before.Keys), len(before.Matches), len(before.WithRole))
	}

	e.write(func(tx keyward.Tx) error { return tx.DeleteAccount(e.ctx, a.account.ID) })

	id := a.account.ID
	gone := func(what string, err error) {
		e.t.Helper()
		if keyward.ErrorCode(err) != keyward.ECodeNotFound {
			e.t.Errorf("%s after DeleteAccount: %v, want not_found", what, err)
		}
	}
	e.read(func(tx keyward.Tx) error {
		_, err := tx.GetAccount(e.ctx, id)
		gone("GetAccount", err)
		_, err = tx.GetAccountByName(e.ctx, "a")
		gone("GetAccountByName", err)
		for _, k := range []*keyward.Key{a.apiKey, a.mgmtKey, a.userKey, a.saKey} {
			_, err = tx.GetKey(e.ctx, k.AccountID, k.ID)
			gone("GetKey "+k.ID, err)
		}
		for i, h := range a.hashes {
			_, err = tx.FindKeyByHash(e.ctx, h)
			gone(name("FindKeyByHash of secret", i), err)
		}
		_, err = tx.GetProject(e.ctx, a.project.AccountID, a.project.ID)
		gone("GetProject", err)
		_, err = tx.GetUser(e.ctx, a.user.AccountID, a.user.ID)
		gone("GetUser", err)
		_, err = tx.GetServiceAccount(e.ctx, a.serviceAccount.AccountID, a.serviceAccount.ID)
		gone("GetServiceAccount", err)
		_, err = tx.GetRole(e.ctx, id, "reader")
		gone("GetRole", err)
		return nil
	})
	after := e.snapshot(a)
	for what, n := range map[string]int{
		"keys": len(after.Keys), "projects": len(after.Projects), "resources": len(after.Resources), "users": len(after.Users),
		"service accounts": len(after.SAs), "roles": len(after.Roles), "keys using docs": len(after.UsingDocs), "keys with the role": len(after.WithRole),
	} {
		if n != 0 {
			e.t.Errorf("%d %s of the deleted account remain", n, what)
		}
	}
	for i, r := range after.Idem {
		if r != nil {
			e.t.Errorf("idempotency record %d of the deleted account remains: %+v", i, r)
		}
	}
	// The audit trail outlives the account.
	if len(after.Events) != 1 || after.Events[0].ID != a.event.ID {
		e.t.Errorf("audit events of the deleted account = %d, want its 1 event kept", len(after.Events))
	}
	// Nothing else changed.
	same(e.t, "account b", e.snapshot(b), before)
	e.wantSecret(opHash, op.ID, nil)
	same(e.t, "operator key", e.getKey(op.AccountID, op.ID), op)

	// Deleting again is not_found; the name is free, and a new account of
	// that name starts empty.
	err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.DeleteAccount(e.ctx, id) })
	wantCode(e.t, err, keyward.ECodeNotFound)
	fresh := &accountWorld{account: e.account("a"), hashes: a.hashes, idem: a.idem, idemFinished: a.idemFinished}
	s := e.snapshot(fresh)
	if len(s.Keys)+len(s.Projects)+len(s.Resources)+len(s.Users)+len(s.SAs)+len(s.Roles)+len(s.Events) != 0 {
		e.t.Errorf("a new account named like the deleted one is not empty: %+v", s)
	}
	// Its ids and names can be used again.
	e.user(fresh.account, func(u *keyward.User) { u.ExternalID = ptr("ext-1") })
	e.serviceAccount(fresh.account, "ci")
	e.role(fresh.account, "reader")
	e.project(fresh.account, "web")
	k := a.apiKey.Clone()
	k.AccountID, k.ProjectID, k.Version = fresh.account.ID, nil, 1
	e.write(func(tx keyward.Tx) error { return tx.CreateKey(e.ctx, k, a.hashes[0]) })
	e.wantSecret(a.hashes[0], k.ID, nil)
}

package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

var txTests = []test{
	{"FailedWriteLeavesNothing", testWriteRollback},
	{"PanicInWriteLeavesNothing", testWritePanic},
	{"ReadCannotWrite", testReadOnly},
	{"UncommittedIsInvisible", testUncommitted},
	{"ConcurrentReadModifyWrite", testConcurrentWrites},
	{"KeyAndAuditEventTogether", testAtomicAudit},
	{"CanceledContext", testCanceled},
	{"Ping", func(e *env) {
		if err := e.s.Ping(e.ctx); err != nil {
			e.t.Fatalf("Ping: %v", err)
		}
	}},
}

// writeEverything writes one object of each kind in tx.
func (e *env) writeEverything(tx keyward.Tx, a *keyward.Account, k *keyward.Key, ev *keyward.AuditEvent, p *keyward.Project) error {
	if err := tx.CreateKey(e.ctx, k, randomHash(e.t)); err != nil {
		return err
	}
	if err := tx.AppendAuditEvent(e.ctx, ev); err != nil {
		return err
	}
	if err := tx.CreateProject(e.ctx, p); err != nil {
		return err
	}
	return tx.PutResource(e.ctx, a.ID, &keyward.Resource{ID: "docs", ProjectScopes: []string{}, CreatedAt: e.now(), UpdatedAt: e.now()})
}

// nothingWritten fails if any object writeEverything makes exists.
func (e *env) nothingWritten(a *keyward.Account, k *keyward.Key, p *keyward.Project) {
	e.t.Helper()
	gone(e, keyOf, k.AccountID, k.ID)
	evs, _, err := e.listEvents(&keyward.AuditFilter{AccountID: a.ID}, keyward.Page{})
	if err != nil || len(evs) != 0 {
		e.t.Fatalf("audit events after a failed write: %d (%v)", len(evs), err)
	}
	err = e.s.Read(e.ctx, func(tx keyward.Tx) error {
		_, err := tx.GetProject(e.ctx, p.AccountID, p.ID)
		return err
	})
	wantCode(e.t, err, keyward.ECodeNotFound)
	if rs := e.resources(a.ID); len(rs) != 0 {
		e.t.Fatalf("catalog after a failed write: %v", rs)
	}
}

func (e *env) fixtures(a *keyward.Account) (*keyward.Key, *keyward.AuditEvent, *keyward.Project) {
	k := e.apiKey(a)
	ev := &keyward.AuditEvent{ID: e.ids.New(keyward.PrefixAuditEvent), AccountID: a.ID, Time: e.now(), ActorType: keyward.ActorSystem,
		ActorID: "system", Action: keyward.ActionKeyCreated, TargetType: keyward.TargetKey, TargetID: k.ID}
	at := e.now()
	p := &keyward.Project{ID: e.ids.New(keyward.PrefixProject), AccountID: a.ID, Name: "p", CreatedAt: at, UpdatedAt: at, Version: 1}
	return k, ev, p
}

func testWriteRollback(e *env) {
	a := e.account("acme")
	k, ev, p := e.fixtures(a)
	boom := errors.New("storetest: fn failed")
	err := e.s.Write(e.ctx, func(tx keyward.Tx) error {
		if err := e.writeEverything(tx, a, k, ev, p); err != nil {
			e.t.Fatalf("writes inside the transaction: %v", err)
		}
		// Visible inside the transaction itself.
		if _, err := tx.GetKey(e.ctx, k.AccountID, k.ID); err != nil {
			e.t.Fatalf("a key created in this transaction is not visible in it: %v", err)
		}
		return fmt.Errorf("wrapped: %w", boom)
	})
	if !errors.Is(err, boom) {
		e.t.Fatalf("Write returned %v, want fn's error", err)
	}
	e.nothingWritten(a, k, p)

	// A keyward error from fn comes back as it is.
	err = e.s.Write(e.ctx, func(tx keyward.Tx) error {
		if err := e.writeEverything(tx, a, k, ev, p); err != nil {
			return err
		}
		return keyward.Errorf(keyward.ECodeConflict, "changed meanwhile")
	})
	wantCode(e.t, err, keyward.ECodeConflict)
	e.nothingWritten(a, k, p)
}

// A panic inside Write rolls back and frees the store for the next writer.
func testWritePanic(e *env) {
	a := e.account("acme")
	k, ev, p := e.fixtures(a)
	func() {
		defer func() {
			if r := recover(); r == nil {
				e.t.Fatal("the panic did not propagate out of Write")
			}
		}()
		_ = e.s.Write(e.ctx, func(tx keyward.Tx) error {
			if err := e.writeEverything(tx, a, k, ev, p); err != nil {
				e.t.Fatalf("writes inside the transaction: %v", err)
			}
			panic("storetest: panic inside Write")
		})
	}()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := e.s.Write(ctx, func(tx keyward.Tx) error { return nil }); err != nil {
		e.t.Fatalf("Write after a panicking Write: %v", err)
	}
	e.nothingWritten(a, k, p)
}

// Every method that changes data fails inside Read, and changes nothing.
func testReadOnly(e *env) {
	a := e.account("acme")
	k := e.apiKey(a)
	h := e.create(k)
	p := e.project(a, "web")
	e.putResource(a.ID, &keyward.Resource{ID: "docs", ProjectScopes: []string{}, CreatedAt: e.now(), UpdatedAt: e.now()})
	u := e.user(a)
	sa := e.serviceAccount(a, "ci")
	role := e.role(a, "reader", readScope("docs"))
	idem := idemRecord(a, "k", "read-only-key-01", "req", e.now())
	if e.reserve(idem, idem.CreatedAt) != nil {
		e.t.Fatal("not new")
	}
	now := e.now()
	next := k.Clone()
	next.Name, next.Version = "changed", k.Version+1
	pnext := *p
	pnext.Name, pnext.Version = "changed", p.Version+1
	writes := map[string]func(tx keyward.Tx) error{
		"CreateAccount": func(tx keyward.Tx) error {
			return tx.CreateAccount(e.ctx, &keyward.Account{ID: e.ids.New(keyward.PrefixAccount), Name: "new", DefaultPrefix: "kw", CatalogTemplate: "default", DefaultPermissionMode: keyward.ModeAll, CreatedAt: now, UpdatedAt: now, Version: 1})
		},
		"CreateKey":       func(tx keyward.Tx) error { return tx.CreateKey(e.ctx, e.apiKey(a), randomHash(e.t)) },
		"UpdateKey":       func(tx keyward.Tx) error { return tx.UpdateKey(e.ctx, next) },
		"DeleteKey":       func(tx keyward.Tx) error { return tx.DeleteKey(e.ctx, k.ID) },
		"RotateKeySecret": func(tx keyward.Tx) error { return tx.RotateKeySecret(e.ctx, k.ID, randomHash(e.t), now, now) },
		"TouchKeys": func(tx keyward.Tx) error {
			return tx.TouchKeys(e.ctx, map[string]keyward.KeyUsage{k.ID: {LastUsed: now, Verifications: 1}})
		},
		"CreateProject": func(tx keyward.Tx) error {
			q := *p
			q.ID, q.Name = e.ids.New(keyward.PrefixProject), "new"
			return tx.CreateProject(e.ctx, &q)
		},
		"UpdateProject": func(tx keyward.Tx) error { return tx.UpdateProject(e.ctx, &pnext) },
		"DeleteProject": func(tx keyward.Tx) error { return tx.DeleteProject(e.ctx, p.AccountID, p.ID) },
		"PutResource": func(tx keyward.Tx) error {
			return tx.PutResource(e.ctx, a.ID, &keyward.Resource{ID: "files", CreatedAt: now, UpdatedAt: now})
		},
		"DeleteResource": func(tx keyward.Tx) error { return tx.DeleteResource(e.ctx, a.ID, "docs") },
		"AppendAuditEvent": func(tx keyward.Tx) error {
			return tx.AppendAuditEvent(e.ctx, &keyward.AuditEvent{ID: e.ids.New(keyward.PrefixAuditEvent), AccountID: a.ID, Time: now})
		},
		"UpdateAccount": func(tx keyward.Tx) error {
			next := *a
			next.Name, next.Version = "changed", a.Version+1
			return tx.UpdateAccount(e.ctx, &next)
		},
		"DeleteAccount": func(tx keyward.Tx) error { return tx.DeleteAccount(e.ctx, a.ID) },
		"CreateUser": func(tx keyward.Tx) error {
			return tx.CreateUser(e.ctx, &keyward.User{ID: e.ids.New(keyward.PrefixUser), AccountID: a.ID, Roles: []string{}, Status: keyward.MemberActive, CreatedAt: now, UpdatedAt: now, Version: 1})
		},
		"UpdateUser": func(tx keyward.Tx) error {
			next := *u
			next.Name, next.Version = ptr("changed"), u.Version+1
			return tx.UpdateUser(e.ctx, &next)
		},
		"DeleteUser": func(tx keyward.Tx) error { return tx.DeleteUser(e.ctx, u.AccountID, u.ID) },
		"CreateServiceAccount": func(tx keyward.Tx) error {
			return tx.CreateServiceAccount(e.ctx, &keyward.ServiceAccount{ID: e.ids.New(keyward.PrefixService), AccountID: a.ID, Name: "new", Status: keyward.MemberActive, CreatedAt: now, UpdatedAt: now, Version: 1})
		},
		"UpdateServiceAccount": func(tx keyward.Tx) error {
			next := *sa
			next.Name, next.Version = "changed", sa.Version+1
			return tx.UpdateServiceAccount(e.ctx, &next)
		},
		"DeleteServiceAccount": func(tx keyward.Tx) error { return tx.DeleteServiceAccount(e.ctx, sa.AccountID, sa.ID) },
		"CreateRole": func(tx keyward.Tx) error {
			return tx.CreateRole(e.ctx, &keyward.Role{AccountID: a.ID, Name: "new", Scopes: []keyward.Scope{}, CreatedAt: now, UpdatedAt: now, Version: 1})
		},
		"UpdateRole": func(tx keyward.Tx) error {
			next := *role
			next.Scopes, next.Version = []keyward.Scope{}, role.Version+1
			return tx.UpdateRole(e.ctx, &next)
		},
		"DeleteRole": func(tx keyward.Tx) error { return tx.DeleteRole(e.ctx, a.ID, role.Name) },
		"ReserveIdempotency": func(tx keyward.Tx) error {
			_, err := tx.ReserveIdempotency(e.ctx, idemRecord(a, "k", "read-only-new-01", "req", now), now)
			return err
		},
		"FinishIdempotency": func(tx keyward.Tx) error {
			fin := *idem
			fin.Pending, fin.Status, fin.Response = false, 201, []byte("x")
			return tx.FinishIdempotency(e.ctx, &fin)
		},
		"ReleaseIdempotency": func(tx keyward.Tx) error { return tx.ReleaseIdempotency(e.ctx, idem.Scope, idem.KeyHash) },
		"PurgeIdempotency":   func(tx keyward.Tx) error { return tx.PurgeIdempotency(e.ctx, now.Add(time.Hour)) },
	}
	for n, w := range writes {
		var inner error
		err := e.s.Read(e.ctx, func(tx keyward.Tx) error {
			inner = w(tx)
			return nil // try to commit anyway
		})
		if inner == nil {
			e.t.Errorf("%s succeeded inside Read", n)
		}
		if err != nil {
			e.t.Errorf("%s: Read itself failed: %v", n, err)
		}
	}
	// Nothing changed.
	same(e.t, "key", e.getKey(k.AccountID, k.ID), k)
	e.wantSecret(h, k.ID, nil)
	same(e.t, "project", get(e, keyward.Tx.GetProject, p.AccountID, p.ID), p)
	if rs := e.resources(a.ID); len(rs) != 1 || rs[0].ID != "docs" {
		e.t.Errorf("catalog = %v", rs)
	}
	evs, _, _ := e.listEvents(&keyward.AuditFilter{AccountID: a.ID}, keyward.Page{})
	if len(evs) != 0 {
		e.t.Errorf("%d audit events appended inside Read", len(evs))
	}
	same(e.t, "account", e.getAccount(a.ID), a)
	same(e.t, "user", get(e, keyward.Tx.GetUser, u.AccountID, u.ID), u)
	same(e.t, "service account", get(e, keyward.Tx.GetServiceAccount, sa.AccountID, sa.ID), sa)
	same(e.t, "role", get(e, keyward.Tx.GetRole, a.ID, role.Name), role)
	e.wantRecord("idempotency record", e.peekIdem(idem.Scope, idem.KeyHash), idem)
	if got := e.peekIdem(a.ID+":k", idemRecord(a, "k", "read-only-new-01", "", now).KeyHash); got != nil {
		e.t.Errorf("ReserveIdempotency inside Read left a record")
	}
	e.read(func(tx keyward.Tx) error {
		as, _, err := tx.ListAccounts(e.ctx, &keyward.AccountFilter{})
		if err != nil {
			return err
		}
		if len(as) != 1 {
			e.t.Errorf("%d accounts, want 1", len(as))
		}
		keys, _, err := tx.ListKeys(e.ctx, &keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindAPI})
		if err != nil {
			return err
		}
		if len(keys) != 1 {
			e.t.Errorf("%d keys, want 1", len(keys))
		}
		return nil
	})
}

// A reader does not see a write transaction's changes before it commits.
func testUncommitted(e *env) {
	a := e.account("acme")
	k := e.apiKey(a)
	e.create(k)
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	err := e.s.Write(ctx, func(tx keyward.Tx) error {
		next := k.Clone()
		next.Name, next.Version = "uncommitted", k.Version+1
		if err := tx.UpdateKey(ctx, next); err != nil {
			return err
		}
		return e.s.Read(ctx, func(rtx keyward.Tx) error {
			got, err := rtx.GetKey(ctx, k.AccountID, k.ID)
			if err != nil {
				return err
			}
			if got.Name != k.Name || got.Version != k.Version {
				e.t.Errorf("a reader sees an uncommitted update: name %q version %d", got.Name, got.Version)
			}
			return nil
		})
	})
	if err != nil {
		e.t.Fatalf("Write: %v", err)
	}
	if got := e.getKey(k.AccountID, k.ID); got.Name != "uncommitted" {
		e.t.Fatalf("committed update not visible: %q", got.Name)
	}
}

// Concurrent read-modify-write transactions on one key never lose an
// update (store.go: "a read-check-write inside fn never loses an update").
func testConcurrentWrites(e *env) {
	a := e.account("acme")
	k := e.apiKey(a)
	e.create(k)
	const workers, each = 20, 10
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				err := e.s.Write(e.ctx, func(tx keyward.Tx) error {
					cur, err := tx.GetKey(e.ctx, k.AccountID, k.ID)
					if err != nil {
						return err
					}
					cur.Version++
					cur.Name = fmt.Sprintf("w%d-%d", w, i)
					return tx.UpdateKey(e.ctx, cur)
				})
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		e.t.Fatalf("%d of %d writes failed; first: %v", len(errs), workers*each, errs[0])
	}
	if got := e.getKey(k.AccountID, k.ID).Version; got != 1+workers*each {
		e.t.Fatalf("version = %d after %d increments, want %d", got, workers*each, 1+workers*each)
	}
}

// A key change and its audit event are written together: a reader sees
// both or neither, whatever the moment.
func testAtomicAudit(e *env) {
	a := e.account("acme")
	k := e.apiKey(a)
	e.create(k)
	const rounds = 30
	done := make(chan struct{})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		problems []string
	)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				err := e.s.Read(e.ctx, func(tx keyward.Tx) error {
					cur, err := tx.GetKey(e.ctx, k.AccountID, k.ID)
					if err != nil {
						return err
					}
					evs, _, err := tx.ListAuditEvents(e.ctx, &keyward.AuditFilter{AccountID: a.ID, TargetID: k.ID, Page: keyward.Page{Limit: keyward.MaxPageLimit}})
					if err != nil {
						return err
					}
					if int64(len(evs)) != cur.Version-1 {
						mu.Lock()
						problems = append(problems, fmt.Sprintf("version %d with %d audit events", cur.Version, len(evs)))
						mu.Unlock()
					}
					return nil
				})
				if err != nil {
					mu.Lock()
					problems = append(problems, err.Error())
					mu.Unlock()
					return
				}
			}
		}()
	}
	for i := 0; i < rounds; i++ {
		e.write(func(tx keyward.Tx) error {
			cur, err := tx.GetKey(e.ctx, k.AccountID, k.ID)
			if err != nil {
				return err
			}
			cur.Version++
			if err := tx.UpdateKey(e.ctx, cur); err != nil {
				return err
			}
			return tx.AppendAuditEvent(e.ctx, &keyward.AuditEvent{ID: e.ids.New(keyward.PrefixAuditEvent), AccountID: a.ID, Time: e.now(),
				ActorType: keyward.ActorSystem, ActorID: "system", Action: keyward.ActionKeyUpdated, TargetType: keyward.TargetKey, TargetID: k.ID})
		})
	}
	close(done)
	wg.Wait()
	if len(problems) > 0 {
		e.t.Fatalf("readers saw a key change without its audit event (or the reverse) %d times; first: %s", len(problems), problems[0])
	}
	evs, _, err := e.listEvents(&keyward.AuditFilter{AccountID: a.ID, TargetID: k.ID}, keyward.Page{Limit: keyward.MaxPageLimit})
	if err != nil || len(evs) != rounds || e.getKey(k.AccountID, k.ID).Version != 1+rounds {
		e.t.Fatalf("after %d rounds: %d events (%v), version %d", rounds, len(evs), err, e.getKey(k.AccountID, k.ID).Version)
	}
}

func testCanceled(e *env) {
	a := e.account("acme")
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	k := e.apiKey(a)
	err := e.s.Write(ctx, func(tx keyward.Tx) error { return tx.CreateKey(ctx, k, randomHash(e.t)) })
	if err == nil {
		e.t.Fatal("Write with a canceled context succeeded")
	}
	err = e.s.Read(ctx, func(tx keyward.Tx) error {
		_, err := tx.GetKey(ctx, k.AccountID, k.ID)
		return err
	})
	if err == nil {
		e.t.Fatal("Read with a canceled context succeeded")
	}
	gone(e, keyOf, k.AccountID, k.ID)
}

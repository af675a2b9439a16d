package storetest

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

var accountTests = []test{
	{"CreateAndGet", func(e *env) {
		at := e.now()
		full := &keyward.Account{
			ID: e.ids.New(keyward.PrefixAccount), Name: "Acme Corp é", DefaultPrefix: "acme", CatalogTemplate: "default",
			DefaultPermissionMode: keyward.ModeRestricted, MaxKeyLifetime: ptr(int64(86400 * 90)), RequireExpiry: true,
			DefaultKeyLifetime: ptr(int64(86400)), CreatedAt: at, UpdatedAt: at.Add(time.Second), Version: 3,
		}
		plain := &keyward.Account{
			ID: e.ids.New(keyward.PrefixAccount), Name: "plain", DefaultPrefix: "kw", CatalogTemplate: "default",
			DefaultPermissionMode: keyward.ModeAll, CreatedAt: at, UpdatedAt: at, Version: 1,
		}
		for _, a := range []*keyward.Account{full, plain} {
			want := *a
			e.write(func(tx keyward.Tx) error { return tx.CreateAccount(e.ctx, a) })
			e.read(func(tx keyward.Tx) error {
				got, err := tx.GetAccount(e.ctx, a.ID)
				if err != nil {
					return err
				}
				same(e.t, "GetAccount", got, &want)
				got, err = tx.GetAccountByName(e.ctx, a.Name)
				if err != nil {
					return err
				}
				same(e.t, "GetAccountByName", got, &want)
				return nil
			})
		}
	}},
	{"NotFound", func(e *env) {
		a := e.account("acme")
		err := e.s.Read(e.ctx, func(tx keyward.Tx) error {
			_, err := tx.GetAccount(e.ctx, "acc_01HZX3K8Q4W2N5R7T9V0B1C2D3")
			return err
		})
		wantCode(e.t, err, keyward.ECodeNotFound)
		for _, n := range []string{"ACME", "acme ", "other", ""} {
			err = e.s.Read(e.ctx, func(tx keyward.Tx) error {
				_, err := tx.GetAccountByName(e.ctx, n)
				return err
			})
			wantCode(e.t, err, keyward.ECodeNotFound)
		}
		err = e.s.Read(e.ctx, func(tx keyward.Tx) error {
			_, err := tx.GetAccount(e.ctx, a.Name) // a name is not an id
			return err
		})
		wantCode(e.t, err, keyward.ECodeNotFound)
	}},
	{"DuplicateName", func(e *env) {
		a := e.account("acme")
		dup := *a
		dup.ID = e.ids.New(keyward.PrefixAccount)
		dup.DefaultPrefix = "other"
		err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.CreateAccount(e.ctx, &dup) })
		wantCode(e.t, err, keyward.ECodeDuplicate)
		err = e.s.Read(e.ctx, func(tx keyward.Tx) error {
			_, err := tx.GetAccount(e.ctx, dup.ID)
			return err
		})
		wantCode(e.t, err, keyward.ECodeNotFound)
		e.read(func(tx keyward.Tx) error {
			got, err := tx.GetAccountByName(e.ctx, "acme")
			if err != nil {
				return err
			}
			same(e.t, "the first account", got, a)
			return nil
		})
		// Names differing only in case are different names.
		e.account("ACME")
	}},
	{"List", func(e *env) {
		lister := idLister(e, keyward.Tx.ListAccounts, &keyward.AccountFilter{}, func(f *keyward.AccountFilter) *keyward.Page { return &f.Page },
			func(a *keyward.Account) string { return a.ID })
		checkEmptyPages(e.t, lister)
		var ids []string
		for i := 0; i < 6; i++ {
			ids = append(ids, e.account(name("acct", i)).ID)
		}
		checkPages(e.t, reversed(ids), lister)
	}},
}

var projectTests = []test{
	{"CreateGetUpdateDelete", func(e *env) {
		a := e.account("acme")
		at := e.now()
		p := &keyward.Project{ID: e.ids.New(keyward.PrefixProject), AccountID: a.ID, Name: "web", Description: ptr("the web app"), CreatedAt: at, UpdatedAt: at, Version: 1}
		q := &keyward.Project{ID: e.ids.New(keyward.PrefixProject), AccountID: a.ID, Name: "empty description", Description: ptr(""), CreatedAt: at, UpdatedAt: at, Version: 1}
		r := &keyward.Project{ID: e.ids.New(keyward.PrefixProject), AccountID: a.ID, Name: "no description", CreatedAt: at, UpdatedAt: at, Version: 1}
		for _, x := range []*keyward.Project{p, q, r} {
			e.write(func(tx keyward.Tx) error { return tx.CreateProject(e.ctx, x) })
			same(e.t, "GetProject", get(e, keyward.Tx.GetProject, x.AccountID, x.ID), x)
		}
		next := *p
		next.Name, next.Description, next.UpdatedAt, next.Version = "web 2", nil, at.Add(time.Minute), 2
		e.write(func(tx keyward.Tx) error { return tx.UpdateProject(e.ctx, &next) })
		same(e.t, "GetProject after update", get(e, keyward.Tx.GetProject, p.AccountID, p.ID), &next)

		e.write(func(tx keyward.Tx) error { return tx.DeleteProject(e.ctx, p.AccountID, p.ID) })
		err := e.s.Read(e.ctx, func(tx keyward.Tx) error {
			_, err := tx.GetProject(e.ctx, p.AccountID, p.ID)
			return err
		})
		wantCode(e.t, err, keyward.ECodeNotFound)
		err = e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.DeleteProject(e.ctx, p.AccountID, p.ID) })
		wantCode(e.t, err, keyward.ECodeNotFound)
		same(e.t, "the other project", get(e, keyward.Tx.GetProject, q.AccountID, q.ID), q)
		// The name is free again.
		again := *p
		again.ID = e.ids.New(keyward.PrefixProject)
		e.write(func(tx keyward.Tx) error { return tx.CreateProject(e.ctx, &again) })
	}},
	{"DuplicateName", func(e *env) {
		a, b := e.account("a"), e.account("b")
		p := e.project(a, "web")
		dup := *p
		dup.ID = e.ids.New(keyward.PrefixProject)
		err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.CreateProject(e.ctx, &dup) })
		wantCode(e.t, err, keyward.ECodeDuplicate)
		// The same name in another account is fine.
		e.project(b, "web")
		// Renaming onto a taken name is a duplicate too, and changes nothing.
		other := e.project(a, "api")
		renamed := *other
		renamed.Name, renamed.Version = "web", other.Version+1
		err = e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.UpdateProject(e.ctx, &renamed) })
		wantCode(e.t, err, keyward.ECodeDuplicate)
		same(e.t, "project after a duplicate rename", get(e, keyward.Tx.GetProject, other.AccountID, other.ID), other)
	}},
	{"UpdateWrongVersion", func(e *env) {
		a := e.account("a")
		p := e.project(a, "web")
		for _, v := range []int64{p.Version, p.Version + 2, 0} {
			stale := *p
			stale.Name, stale.Version = "stale", v
			wantCode(e.t, e.tryWrite(func(tx keyward.Tx) error { return tx.UpdateProject(e.ctx, &stale) }), keyward.ECodeConflict)
			same(e.t, "project after a conflicting update", get(e, keyward.Tx.GetProject, p.AccountID, p.ID), p)
		}
	}},
	{"GetUnknown", func(e *env) {
		a := e.account("a")
		err := e.s.Read(e.ctx, func(tx keyward.Tx) error {
			_, err := tx.GetProject(e.ctx, a.ID, "prj_01HZX3K8Q4W2N5R7T9V0B1C2D4")
			return err
		})
		wantCode(e.t, err, keyward.ECodeNotFound)
	}},
	{"List", func(e *env) {
		a, b := e.account("a"), e.account("b")
		lister := idLister(e, keyward.Tx.ListProjects, &keyward.ProjectFilter{AccountID: a.ID}, func(f *keyward.ProjectFilter) *keyward.Page { return &f.Page },
			func(p *keyward.Project) string { return p.ID })
		checkEmptyPages(e.t, lister)
		var ids []string
		for i := 0; i < 5; i++ {
			ids = append(ids, e.project(a, name("p", i)).ID)
			e.project(b, name("p", i))
		}
		checkPages(e.t, reversed(ids), lister)
	}},
}

// project creates a project in the account.
func (e *env) project(a *keyward.Account, n string) *keyward.Project {
	e.t.Helper()
	at := e.now()
	p := &keyward.Project{ID: e.ids.New(keyward.PrefixProject), AccountID: a.ID, Name: n, CreatedAt: at, UpdatedAt: at, Version: 1}
	e.write(func(tx keyward.Tx) error { return tx.CreateProject(e.ctx, p) })
	return p
}

func (e *env) resources(accountID string) []*keyward.Resource {
	e.t.Helper()
	return readOne(e, func(tx keyward.Tx) ([]*keyward.Resource, error) { return tx.ListResources(e.ctx, accountID) })
}

func (e *env) putResource(accountID string, r *keyward.Resource) {
	e.t.Helper()
	e.write(func(tx keyward.Tx) error { return tx.PutResource(e.ctx, accountID, r) })
}

var catalogTests = []test{
	{"PutListDelete", func(e *env) {
		a, b := e.account("a"), e.account("b")
		if rs := e.resources(a.ID); len(rs) != 0 {
			e.t.Fatalf("a new account has resources: %v", rs)
		}
		at := e.now()
		mk := func(id, group string, scopes []string) *keyward.Resource {
			return &keyward.Resource{ID: id, DisplayName: "Name of " + id, Group: group, Description: "about " + id,
				Readable: true, Writable: id != "search", ProjectScopes: scopes, Protected: id == "billing", CreatedAt: at, UpdatedAt: at}
		}
		both := []string{keyward.ProjectScopeAll, keyward.ProjectScopeSingle}
		put := []*keyward.Resource{
			mk("files", "data", both), mk("billing", "account", []string{keyward.ProjectScopeAll}), mk("docs", "data", both),
			mk("search", "data", []string{keyward.ProjectScopeSingle}), mk("usage", "account", []string{}), mk("a.b-c_d", "", nil),
		}
		for _, r := range put {
			e.putResource(a.ID, r)
		}
		e.putResource(b.ID, mk("docs", "other", both))
		// Ordered by group, then id.
		want := []*keyward.Resource{put[5], put[1], put[4], put[2], put[0], put[3]}
		got := e.resources(a.ID)
		if len(got) != len(want) {
			e.t.Fatalf("ListResources has %d resources, want %d", len(got), len(want))
		}
		for i := range want {
			same(e.t, "resource "+want[i].ID, got[i], want[i])
		}

		// Put replaces every field; the creation time stays.
		repl := mk("docs", "zz", []string{keyward.ProjectScopeSingle})
		repl.DisplayName, repl.Description, repl.Readable, repl.Writable, repl.Protected = "Docs 2", "", false, true, true
		repl.CreatedAt, repl.UpdatedAt = at.Add(time.Hour), at.Add(time.Hour)
		e.putResource(a.ID, repl)
		got = e.resources(a.ID)
		wantRepl := *repl
		wantRepl.CreatedAt = at
		same(e.t, "replaced resource", got[len(got)-1], &wantRepl)
		if len(got) != len(want) {
			e.t.Fatalf("replacing added a resource: %d", len(got))
		}
		// Account b's resource of the same id is untouched.
		if gb := e.resources(b.ID); len(gb) != 1 || gb[0].Group != "other" || gb[0].DisplayName != "Name of docs" {
			e.t.Fatalf("account b's catalog = %+v", gb)
		}

		e.write(func(tx keyward.Tx) error { return tx.DeleteResource(e.ctx, a.ID, "docs") })
		for _, r := range e.resources(a.ID) {
			if r.ID == "docs" {
				e.t.Fatal("deleted resource still listed")
			}
		}
		err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.DeleteResource(e.ctx, a.ID, "docs") })
		wantCode(e.t, err, keyward.ECodeNotFound)
		err = e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.DeleteResource(e.ctx, a.ID, "ghost") })
		wantCode(e.t, err, keyward.ECodeNotFound)
		if gb := e.resources(b.ID); len(gb) != 1 {
			e.t.Fatalf("deleting a's resource touched b's: %v", gb)
		}
	}},
}

var auditTests = []test{
	{"AppendAndList", testAudit},
	{"Pagination", func(e *env) {
		a, b := e.account("a"), e.account("b")
		lister := e.auditLister(&keyward.AuditFilter{AccountID: a.ID})
		checkEmptyPages(e.t, lister)
		var ids []string
		for i := 0; i < 6; i++ {
			ids = append(ids, e.event(a, "key.updated", "key_x", "actor").ID)
			e.event(b, "key.updated", "key_x", "actor")
		}
		checkPages(e.t, reversed(ids), lister)
		var filtered []string
		for i := 0; i < 8; i++ {
			ev := e.event(a, "key.created", name("key", i%2), "actor")
			if i%2 == 1 {
				filtered = append(filtered, ev.ID)
			}
		}
		checkPages(e.t, reversed(filtered), e.auditLister(&keyward.AuditFilter{AccountID: a.ID, TargetID: name("key", 1)}))
	}},
}

// event appends an audit event of the account.
func (e *env) event(a *keyward.Account, action, target, actor string) *keyward.AuditEvent {
	e.t.Helper()
	ev := &keyward.AuditEvent{
		ID: e.ids.New(keyward.PrefixAuditEvent), AccountID: a.ID, Time: e.now(), ActorType: keyward.ActorManagementKey,
		ActorID: actor, Action: action, TargetType: keyward.TargetKey, TargetID: target,
		Changes:   map[string]keyward.Change{"name": {Before: json.RawMessage(`"a"`), After: json.RawMessage(`"b"`)}},
		RequestID: "req_1", ClientIP: "127.0.0.1", UserAgent: "test", Dialect: "native",
	}
	e.write(func(tx keyward.Tx) error { return tx.AppendAuditEvent(e.ctx, ev) })
	return ev
}

func (e *env) auditLister(f *keyward.AuditFilter) lister {
	return idLister(e, keyward.Tx.ListAuditEvents, f, auditPage, func(ev *keyward.AuditEvent) string { return ev.ID })
}

func (e *env) listEvents(f *keyward.AuditFilter, p keyward.Page) ([]*keyward.AuditEvent, bool, error) {
	return listPage(e, keyward.Tx.ListAuditEvents, f, auditPage, p)
}

func auditPage(f *keyward.AuditFilter) *keyward.Page { return &f.Page }

func testAudit(e *env) {
	a, b := e.account("a"), e.account("b")
	full := &keyward.AuditEvent{
		ID: e.ids.New(keyward.PrefixAuditEvent), AccountID: a.ID, Time: e.now(), ActorType: keyward.ActorManagementKey,
		ActorID: "key_01HZX3K8Q4W2N5R7T9V0B1C2D8", Action: keyward.ActionKeyUpdated, TargetType: keyward.TargetKey, TargetID: "key_target",
		Changes: map[string]keyward.Change{
			"name":         {Before: json.RawMessage(`"old"`), After: json.RawMessage(`"new"`)},
			"scopes":       {Before: json.RawMessage(`null`), After: json.RawMessage(`[{"resource":"docs","access":"read","targets":["*"]}]`)},
			"expires_at":   {Before: json.RawMessage(`"2025-01-01T00:00:00Z"`), After: json.RawMessage(`null`)},
			"ip_allowlist": {Before: json.RawMessage(`[]`), After: json.RawMessage(`["10.0.0.0/8"]`)},
		},
		RequestID: "req_01HZX3K8Q4W2N5R7T9V0B1C2D8", ClientIP: "2001:db8::1", UserAgent: "curl/8.0 (x)", Dialect: "orq",
	}
	want := *full
	e.write(func(tx keyward.Tx) error { return tx.AppendAuditEvent(e.ctx, full) })
	evs, _, err := e.listEvents(&keyward.AuditFilter{AccountID: a.ID}, keyward.Page{})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(evs) != 1 {
		e.t.Fatalf("%d events, want 1", len(evs))
	}
	same(e.t, "audit event", evs[0], &want)

	// An event without changes (a deletion, say) keeps them empty.
	bare := e.event(a, keyward.ActionKeyDeleted, "key_target", "system")
	bare.Changes = nil
	e2 := *bare
	e2.ID = e.ids.New(keyward.PrefixAuditEvent)
	e.write(func(tx keyward.Tx) error { return tx.AppendAuditEvent(e.ctx, &e2) })
	evs, _, _ = e.listEvents(&keyward.AuditFilter{AccountID: a.ID}, keyward.Page{Limit: 1})
	if len(evs) != 1 || len(evs[0].Changes) != 0 {
		e.t.Fatalf("event without changes came back with %v", evs)
	}

	// Filters.
	t1 := e.now()
	x1 := e.event(a, keyward.ActionKeyCreated, "key_one", "actor_1")
	x2 := e.event(a, keyward.ActionKeyUpdated, "key_one", "actor_2")
	t2 := e.now()
	x3 := e.event(a, keyward.ActionKeyUpdated, "key_two", "actor_1")
	e.event(b, keyward.ActionKeyUpdated, "key_one", "actor_1")
	ids := func(evs ...*keyward.AuditEvent) []string {
		out := []string{}
		for _, ev := range evs {
			out = append(out, ev.ID)
		}
		return out
	}
	tests := []struct {
		name string
		f    keyward.AuditFilter
		want []string
	}{
		{"target", keyward.AuditFilter{TargetID: "key_one"}, ids(x2, x1)},
		{"actor", keyward.AuditFilter{ActorID: "actor_1"}, ids(x3, x1)},
		{"action", keyward.AuditFilter{Action: keyward.ActionKeyUpdated}, ids(x3, x2, full)},
		{"target and action", keyward.AuditFilter{TargetID: "key_one", Action: keyward.ActionKeyUpdated}, ids(x2)},
		{"since (inclusive)", keyward.AuditFilter{Since: ptr(x1.Time)}, ids(x3, x2, x1)},
		{"until (exclusive)", keyward.AuditFilter{Until: ptr(x2.Time)}, ids(x1, &e2, bare, full)},
		{"since and until", keyward.AuditFilter{Since: ptr(t1), Until: ptr(t2)}, ids(x2, x1)},
		{"nothing", keyward.AuditFilter{Action: "key.nothing"}, ids()},
	}
	for _, tc := range tests {
		f := tc.f
		f.AccountID = a.ID
		evs, more, err := e.listEvents(&f, keyward.Page{Limit: 50})
		got := []string{}
		for _, ev := range evs {
			got = append(got, ev.ID)
		}
		if err != nil || !slices.Equal(got, tc.want) || more {
			e.t.Errorf("%s: ListAuditEvents = %v (has_more %v, %v), want %v", tc.name, got, more, err, tc.want)
		}
	}
	evs, _, err = e.listEvents(&keyward.AuditFilter{AccountID: b.ID}, keyward.Page{})
	if err != nil || len(evs) != 1 || evs[0].AccountID != b.ID {
		e.t.Fatalf("account b's events = %v, %v", evs, err)
	}
}

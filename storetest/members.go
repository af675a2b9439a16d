package storetest

import (
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// Fixed member ids the cases use where only the id matters.
const (
	ghostUser = "usr_01HZX3K8Q4W2N5R7T9V0B1C2D9"
	ghostSA   = "sa_01HZX3K8Q4W2N5R7T9V0B1C2D9"
)

// user creates a user of the account; mods change it before it is saved.
func (e *env) user(a *keyward.Account, mods ...func(*keyward.User)) *keyward.User {
	e.t.Helper()
	at := e.now()
	u := &keyward.User{ID: e.ids.New(keyward.PrefixUser), AccountID: a.ID, Roles: []string{}, Status: keyward.MemberActive,
		CreatedAt: at, UpdatedAt: at, Version: 1}
	for _, m := range mods {
		m(u)
	}
	e.write(func(tx keyward.Tx) error { return tx.CreateUser(e.ctx, u) })
	return u
}

// serviceAccount creates a service account of the account.
func (e *env) serviceAccount(a *keyward.Account, n string, mods ...func(*keyward.ServiceAccount)) *keyward.ServiceAccount {
	e.t.Helper()
	at := e.now()
	sa := &keyward.ServiceAccount{ID: e.ids.New(keyward.PrefixService), AccountID: a.ID, Name: n, Status: keyward.MemberActive,
		CreatedAt: at, UpdatedAt: at, Version: 1}
	for _, m := range mods {
		m(sa)
	}
	e.write(func(tx keyward.Tx) error { return tx.CreateServiceAccount(e.ctx, sa) })
	return sa
}

// role creates a role of the account with the given scopes.
func (e *env) role(a *keyward.Account, n string, scopes ...keyward.Scope) *keyward.Role {
	e.t.Helper()
	at := e.now()
	if scopes == nil {
		scopes = []keyward.Scope{}
	}
	r := &keyward.Role{AccountID: a.ID, Name: n, Scopes: scopes, CreatedAt: at, UpdatedAt: at, Version: 1}
	e.write(func(tx keyward.Tx) error { return tx.CreateRole(e.ctx, r) })
	return r
}

func (e *env) listRoles(accountID string) []*keyward.Role {
	e.t.Helper()
	return readOne(e, func(tx keyward.Tx) ([]*keyward.Role, error) { return tx.ListRoles(e.ctx, accountID) })
}

func readScope(res string, targets ...string) keyward.Scope {
	if len(targets) == 0 {
		targets = []string{"*"}
	}
	return keyward.Scope{Resource: res, Access: keyward.AccessRead, Targets: targets}
}

// userLister lists users with filter f and the page.
func (e *env) userLister(f *keyward.UserFilter) lister {
	return idLister(e, keyward.Tx.ListUsers, f, func(f *keyward.UserFilter) *keyward.Page { return &f.Page },
		func(u *keyward.User) string { return u.ID })
}

func (e *env) serviceAccountLister(f *keyward.ServiceAccountFilter) lister {
	return idLister(e, keyward.Tx.ListServiceAccounts, f, func(f *keyward.ServiceAccountFilter) *keyward.Page { return &f.Page },
		func(sa *keyward.ServiceAccount) string { return sa.ID })
}

var userTests = []test{
	{"RoundTrip", testUserRoundTrip},
	{"DuplicateExternalID", testUserDuplicate},
	{"Update", testUserUpdate},
	{"UpdateWrongVersion", testUserConflict},
	{"GetAndDeleteUnknown", func(e *env) {
		a := e.account("a")
		gone(e, keyward.Tx.GetUser, a.ID, ghostUser)
		err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.DeleteUser(e.ctx, a.ID, ghostUser) })
		wantCode(e.t, err, keyward.ECodeNotFound)
	}},
	{"Delete", testUserDelete},
	{"ListFilters", testUserFilters},
	{"EmptyList", func(e *env) {
		a := e.account("a")
		checkEmptyPages(e.t, e.userLister(&keyward.UserFilter{AccountID: a.ID}))
	}},
	{"Pagination", func(e *env) {
		a, b := e.account("a"), e.account("b")
		var ids, disabled []string
		for i := 0; i < 9; i++ {
			u := e.user(a, func(u *keyward.User) {
				if i%2 == 1 {
					u.Status = keyward.MemberDisabled
				}
			})
			ids = append(ids, u.ID)
			if i%2 == 1 {
				disabled = append(disabled, u.ID)
			}
			e.user(b)
		}
		checkPages(e.t, reversed(ids), e.userLister(&keyward.UserFilter{AccountID: a.ID}))
		checkPages(e.t, reversed(disabled), e.userLister(&keyward.UserFilter{AccountID: a.ID, Status: keyward.MemberDisabled}))
	}},
	{"DefaultLimit", func(e *env) {
		a := e.account("a")
		var ids []string
		for i := 0; i < keyward.DefaultPageLimit+1; i++ {
			ids = append(ids, e.user(a).ID)
		}
		checkDefaultLimit(e.t, reversed(ids), e.userLister(&keyward.UserFilter{AccountID: a.ID}))
	}},
}

func testUserRoundTrip(e *env) {
	a := e.account("acme")
	zone := time.FixedZone("UTC-3", -3*3600)
	at := time.Date(2025, 7, 4, 10, 11, 12, 345_678_901, zone)
	full := &keyward.User{ID: e.ids.New(keyward.PrefixUser), AccountID: a.ID, ExternalID: ptr("ext-1/é"), Email: ptr("ann.lee+x@example.com"),
		Name: ptr("Ann Lee 日本"), Roles: []string{"writer", "reader", "ops.team-1"}, Status: keyward.MemberDisabled,
		CreatedAt: at, UpdatedAt: at.Add(time.Hour), Version: 9}
	bare := &keyward.User{ID: e.ids.New(keyward.PrefixUser), AccountID: a.ID, Roles: []string{}, Status: keyward.MemberActive,
		CreatedAt: ms(at), UpdatedAt: ms(at), Version: 1}
	empty := &keyward.User{ID: e.ids.New(keyward.PrefixUser), AccountID: a.ID, ExternalID: ptr(""), Email: ptr(""), Name: ptr(""),
		Roles: []string{}, Status: keyward.MemberActive, CreatedAt: ms(at), UpdatedAt: ms(at), Version: 1}
	for _, u := range []*keyward.User{full, bare, empty} {
		want := *u
		want.Roles = slices.Clone(u.Roles)
		want.CreatedAt, want.UpdatedAt = ms(u.CreatedAt), ms(u.UpdatedAt)
		e.write(func(tx keyward.Tx) error { return tx.CreateUser(e.ctx, u) })
		same(e.t, "GetUser", get(e, keyward.Tx.GetUser, u.AccountID, u.ID), &want)
		// Inside a write transaction too.
		e.write(func(tx keyward.Tx) error {
			got, err := tx.GetUser(e.ctx, u.AccountID, u.ID)
			if err != nil {
				return err
			}
			same(e.t, "GetUser in Write", got, &want)
			return nil
		})
		us, _, err := e.listUsers(&keyward.UserFilter{AccountID: a.ID, ExternalID: deref(u.ExternalID)})
		if err != nil {
			e.t.Fatal(err)
		}
		if u.ExternalID != nil && *u.ExternalID != "" {
			if len(us) != 1 {
				e.t.Fatalf("ListUsers by external id = %d users", len(us))
			}
			same(e.t, "ListUsers", us[0], &want)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (e *env) listUsers(f *keyward.UserFilter) ([]*keyward.User, bool, error) {
	var (
		us   []*keyward.User
		more bool
	)
	err := e.s.Read(e.ctx, func(tx keyward.Tx) (err error) {
		us, more, err = tx.ListUsers(e.ctx, f)
		return err
	})
	return us, more, err
}

func testUserDuplicate(e *env) {
	a, b := e.account("a"), e.account("b")
	u := e.user(a, func(u *keyward.User) { u.ExternalID = ptr("ext-1") })
	at := e.now()
	dup := &keyward.User{ID: e.ids.New(keyward.PrefixUser), AccountID: a.ID, ExternalID: ptr("ext-1"), Roles: []string{}, Status: keyward.MemberActive,
		CreatedAt: at, UpdatedAt: at, Version: 1}
	err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.CreateUser(e.ctx, dup) })
	wantCode(e.t, err, keyward.ECodeDuplicate)
	gone(e, keyward.Tx.GetUser, dup.AccountID, dup.ID)
	same(e.t, "the first user", get(e, keyward.Tx.GetUser, u.AccountID, u.ID), u)

	// The same external id in another account, ids differing in case, and
	// any number of users without one are fine.
	e.user(b, func(u *keyward.User) { u.ExternalID = ptr("ext-1") })
	e.user(a, func(u *keyward.User) { u.ExternalID = ptr("EXT-1") })
	n1, n2 := e.user(a), e.user(a)

	// Taking an id by update is a duplicate too, and changes nothing.
	next := *n1
	next.ExternalID, next.Name, next.Version = ptr("ext-1"), ptr("renamed"), n1.Version+1
	err = e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.UpdateUser(e.ctx, &next) })
	wantCode(e.t, err, keyward.ECodeDuplicate)
	same(e.t, "user after a duplicate update", get(e, keyward.Tx.GetUser, n1.AccountID, n1.ID), n1)
	// A user may keep its own external id, and the id is free once its holder drops it.
	next = *u
	next.Name, next.Version = ptr("kept"), u.Version+1
	e.write(func(tx keyward.Tx) error { return tx.UpdateUser(e.ctx, &next) })
	drop := next
	drop.ExternalID, drop.Version = nil, next.Version+1
	e.write(func(tx keyward.Tx) error { return tx.UpdateUser(e.ctx, &drop) })
	take := *n2
	take.ExternalID, take.Version = ptr("ext-1"), n2.Version+1
	e.write(func(tx keyward.Tx) error { return tx.UpdateUser(e.ctx, &take) })
	same(e.t, "user that took the free external id", get(e, keyward.Tx.GetUser, n2.AccountID, n2.ID), &take)
}

func testUserUpdate(e *env) {
	a := e.account("a")
	u := e.user(a, func(u *keyward.User) {
		u.ExternalID, u.Email, u.Name, u.Roles = ptr("e"), ptr("a@example.com"), ptr("A"), []string{"reader"}
	})
	steps := []func(u *keyward.User){
		func(u *keyward.User) {
			u.ExternalID, u.Email, u.Name, u.Roles, u.Status = ptr("e2"), ptr("b@example.com"), ptr("B"), []string{"writer", "reader"}, keyward.MemberDisabled
		},
		func(u *keyward.User) { u.ExternalID, u.Email, u.Name, u.Roles = nil, nil, nil, []string{} },
		func(u *keyward.User) { u.Status, u.Roles = keyward.MemberActive, []string{"x"} },
	}
	for i, step := range steps {
		next := *get(e, keyward.Tx.GetUser, u.AccountID, u.ID)
		step(&next)
		next.UpdatedAt, next.Version = e.now(), next.Version+1
		e.write(func(tx keyward.Tx) error { return tx.UpdateUser(e.ctx, &next) })
		got := get(e, keyward.Tx.GetUser, u.AccountID, u.ID)
		same(e.t, name("user after update", i), got, &next)
		if !got.CreatedAt.Equal(u.CreatedAt) {
			e.t.Fatalf("created_at changed")
		}
	}
}

func testUserConflict(e *env) {
	a := e.account("a")
	u := e.user(a, func(u *keyward.User) { u.Version = 5; u.Roles = []string{"reader"} })
	for _, v := range []int64{5, 7, 4, 0} {
		stale := *u
		stale.Name, stale.Roles, stale.Version = ptr("stale"), []string{"writer"}, v
		wantCode(e.t, e.tryWrite(func(tx keyward.Tx) error { return tx.UpdateUser(e.ctx, &stale) }), keyward.ECodeConflict)
		same(e.t, "user after a conflicting update", get(e, keyward.Tx.GetUser, u.AccountID, u.ID), u)
	}
	ghost := *u
	ghost.ID, ghost.Version = ghostUser, 2
	err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.UpdateUser(e.ctx, &ghost) })
	if c := keyward.ErrorCode(err); c != keyward.ECodeConflict && c != keyward.ECodeNotFound {
		e.t.Fatalf("UpdateUser of an unknown user: %v, want conflict or not_found", err)
	}
	gone(e, keyward.Tx.GetUser, u.AccountID, ghostUser)
}

func testUserDelete(e *env) {
	a, b := e.account("a"), e.account("b")
	u := e.user(a, func(u *keyward.User) { u.ExternalID = ptr("x") })
	keep := e.user(a)
	other := e.user(b, func(u *keyward.User) { u.ExternalID = ptr("x") })
	e.write(func(tx keyward.Tx) error { return tx.DeleteUser(e.ctx, a.ID, u.ID) })
	gone(e, keyward.Tx.GetUser, u.AccountID, u.ID)
	err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.DeleteUser(e.ctx, a.ID, u.ID) })
	wantCode(e.t, err, keyward.ECodeNotFound)
	same(e.t, "the other user", get(e, keyward.Tx.GetUser, keep.AccountID, keep.ID), keep)
	same(e.t, "the other account's user", get(e, keyward.Tx.GetUser, other.AccountID, other.ID), other)
	// The external id is free again.
	e.user(a, func(u *keyward.User) { u.ExternalID = ptr("x") })
	ids, _, err := e.userLister(&keyward.UserFilter{AccountID: a.ID})(keyward.Page{Limit: 10})
	if err != nil || len(ids) != 2 || slices.Contains(ids, u.ID) {
		e.t.Fatalf("ListUsers after delete = %v, %v", ids, err)
	}
}

func testUserFilters(e *env) {
	a, b := e.account("a"), e.account("b")
	u1 := e.user(a, func(u *keyward.User) {
		u.Name, u.Email, u.Roles, u.ExternalID = ptr("Ann Lee"), ptr("ann@example.com"), []string{"reader"}, ptr("e1")
	})
	u2 := e.user(a, func(u *keyward.User) {
		u.Name, u.Email, u.Roles, u.Status, u.ExternalID = ptr("Bob"), ptr("bob@EXAMPLE.com"), []string{"writer", "reader"}, keyward.MemberDisabled, ptr("E1")
	})
	u3 := e.user(a, func(u *keyward.User) { u.Email = ptr("carol_x@example.org") })
	u4 := e.user(a, func(u *keyward.User) { u.Name, u.Roles = ptr("Äpfel 50% off"), []string{"read"} })
	u5 := e.user(a, func(u *keyward.User) {
		u.Name, u.Email, u.Roles, u.Status = ptr(`dave \ back`), ptr("dave@ann.io"), []string{"reader.x", "x-reader"}, keyward.MemberDisabled
	})
	b1 := e.user(b, func(u *keyward.User) {
		u.Name, u.Email, u.Roles, u.ExternalID = ptr("Ann"), ptr("ann@example.com"), []string{"reader"}, ptr("e1")
	})
	ids := func(us ...*keyward.User) []string {
		out := []string{}
		for _, u := range us {
			out = append(out, u.ID)
		}
		return out
	}
	names := map[string]string{u1.ID: "u1", u2.ID: "u2", u3.ID: "u3", u4.ID: "u4", u5.ID: "u5", b1.ID: "b1"}
	in := func(f keyward.UserFilter) *keyward.UserFilter { f.AccountID = a.ID; return &f }
	tests := []filterCase[keyward.UserFilter]{
		{"no filter", in(keyward.UserFilter{}), ids(u5, u4, u3, u2, u1)},
		{"status active", in(keyward.UserFilter{Status: keyward.MemberActive}), ids(u4, u3, u1)},
		{"status disabled", in(keyward.UserFilter{Status: keyward.MemberDisabled}), ids(u5, u2)},
		{"role reader (not read, reader.x, x-reader)", in(keyward.UserFilter{Role: "reader"}), ids(u2, u1)},
		{"role read", in(keyward.UserFilter{Role: "read"}), ids(u4)},
		{"role writer", in(keyward.UserFilter{Role: "writer"}), ids(u2)},
		{"role with a dot", in(keyward.UserFilter{Role: "reader.x"}), ids(u5)},
		{"role nobody holds", in(keyward.UserFilter{Role: "admin"}), ids()},
		{"role matching part of a name", in(keyward.UserFilter{Role: "eade"}), ids()},
		{"external id", in(keyward.UserFilter{ExternalID: "e1"}), ids(u1)},
		{"external id is case-sensitive", in(keyward.UserFilter{ExternalID: "E1"}), ids(u2)},
		{"external id unknown", in(keyward.UserFilter{ExternalID: "e"}), ids()},
		{"search name or email", in(keyward.UserFilter{Search: "ann"}), ids(u5, u1)},
		{"search is case-insensitive", in(keyward.UserFilter{Search: "EXAMPLE"}), ids(u3, u2, u1)},
		{"search name", in(keyward.UserFilter{Search: "bob"}), ids(u2)},
		{"search percent is literal", in(keyward.UserFilter{Search: "%"}), ids(u4)},
		{"search underscore is literal", in(keyward.UserFilter{Search: "_"}), ids(u3)},
		{"search backslash is literal", in(keyward.UserFilter{Search: `\`}), ids(u5)},
		{"search non-ASCII case-insensitively", in(keyward.UserFilter{Search: "äPF"}), ids(u4)},
		{"search matches nothing", in(keyward.UserFilter{Search: "zzz"}), ids()},
		{"status and role", in(keyward.UserFilter{Status: keyward.MemberActive, Role: "reader"}), ids(u1)},
		{"search and status", in(keyward.UserFilter{Search: "ann", Status: keyward.MemberDisabled}), ids(u5)},
		{"every filter", in(keyward.UserFilter{Status: keyward.MemberDisabled, Role: "writer", ExternalID: "E1", Search: "bob"}), ids(u2)},
		{"other account", &keyward.UserFilter{AccountID: b.ID, Role: "reader", Search: "ann", ExternalID: "e1"}, ids(b1)},
		{"unknown account", &keyward.UserFilter{AccountID: "acc_01HZX3K8Q4W2N5R7T9V0B1C2D3"}, ids()},
	}
	checkFilters(e, "ListUsers", e.userLister, tests, namedBy(names))
}

var serviceAccountTests = []test{
	{"RoundTrip", func(e *env) {
		a := e.account("a")
		zone := time.FixedZone("UTC+9", 9*3600)
		at := time.Date(2025, 7, 4, 10, 11, 12, 345_678_901, zone)
		full := &keyward.ServiceAccount{ID: e.ids.New(keyward.PrefixService), AccountID: a.ID, Name: "CI é", Description: ptr("two\nlines"),
			Status: keyward.MemberDisabled, CreatedAt: at, UpdatedAt: at.Add(time.Second), Version: 4}
		bare := &keyward.ServiceAccount{ID: e.ids.New(keyward.PrefixService), AccountID: a.ID, Name: "bare", Status: keyward.MemberActive,
			CreatedAt: ms(at), UpdatedAt: ms(at), Version: 1}
		empty := &keyward.ServiceAccount{ID: e.ids.New(keyward.PrefixService), AccountID: a.ID, Name: "empty", Description: ptr(""),
			Status: keyward.MemberActive, CreatedAt: ms(at), UpdatedAt: ms(at), Version: 1}
		for _, sa := range []*keyward.ServiceAccount{full, bare, empty} {
			want := *sa
			want.CreatedAt, want.UpdatedAt = ms(sa.CreatedAt), ms(sa.UpdatedAt)
			e.write(func(tx keyward.Tx) error { return tx.CreateServiceAccount(e.ctx, sa) })
			same(e.t, "GetServiceAccount", get(e, keyward.Tx.GetServiceAccount, sa.AccountID, sa.ID), &want)
		}
		var listed []*keyward.ServiceAccount
		e.read(func(tx keyward.Tx) (err error) {
			listed, _, err = tx.ListServiceAccounts(e.ctx, &keyward.ServiceAccountFilter{AccountID: a.ID})
			return err
		})
		if len(listed) != 3 {
			e.t.Fatalf("ListServiceAccounts = %d", len(listed))
		}
		same(e.t, "listed service account", listed[2], get(e, keyward.Tx.GetServiceAccount, full.AccountID, full.ID))
	}},
	{"DuplicateName", func(e *env) {
		a, b := e.account("a"), e.account("b")
		sa := e.serviceAccount(a, "ci")
		at := e.now()
		dup := &keyward.ServiceAccount{ID: e.ids.New(keyward.PrefixService), AccountID: a.ID, Name: "ci", Status: keyward.MemberActive, CreatedAt: at, UpdatedAt: at, Version: 1}
		err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.CreateServiceAccount(e.ctx, dup) })
		wantCode(e.t, err, keyward.ECodeDuplicate)
		gone(e, keyward.Tx.GetServiceAccount, dup.AccountID, dup.ID)
		e.serviceAccount(b, "ci")
		e.serviceAccount(a, "CI")
		other := e.serviceAccount(a, "deploy")
		renamed := *other
		renamed.Name, renamed.Version = "ci", other.Version+1
		err = e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.UpdateServiceAccount(e.ctx, &renamed) })
		wantCode(e.t, err, keyward.ECodeDuplicate)
		same(e.t, "service account after a duplicate rename", get(e, keyward.Tx.GetServiceAccount, other.AccountID, other.ID), other)
		same(e.t, "the first service account", get(e, keyward.Tx.GetServiceAccount, sa.AccountID, sa.ID), sa)
	}},
	{"Update", func(e *env) {
		a := e.account("a")
		sa := e.serviceAccount(a, "ci", func(s *keyward.ServiceAccount) { s.Description = ptr("d") })
		next := *sa
		next.Name, next.Description, next.Status, next.UpdatedAt, next.Version = "ci-2", nil, keyward.MemberDisabled, e.now(), sa.Version+1
		e.write(func(tx keyward.Tx) error { return tx.UpdateServiceAccount(e.ctx, &next) })
		same(e.t, "service account after update", get(e, keyward.Tx.GetServiceAccount, sa.AccountID, sa.ID), &next)
		// The old name is free.
		e.serviceAccount(a, "ci")
	}},
	{"UpdateWrongVersion", func(e *env) {
		a := e.account("a")
		sa := e.serviceAccount(a, "ci", func(s *keyward.ServiceAccount) { s.Version = 3 })
		for _, v := range []int64{3, 5, 2, 0} {
			stale := *sa
			stale.Name, stale.Status, stale.Version = "stale", keyward.MemberDisabled, v
			wantCode(e.t, e.tryWrite(func(tx keyward.Tx) error { return tx.UpdateServiceAccount(e.ctx, &stale) }), keyward.ECodeConflict)
			same(e.t, "service account after a conflicting update", get(e, keyward.Tx.GetServiceAccount, sa.AccountID, sa.ID), sa)
		}
		ghost := *sa
		ghost.ID, ghost.Name, ghost.Version = ghostSA, "ghost", 2
		err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.UpdateServiceAccount(e.ctx, &ghost) })
		if c := keyward.ErrorCode(err); c != keyward.ECodeConflict && c != keyward.ECodeNotFound {
			e.t.Fatalf("UpdateServiceAccount of an unknown one: %v, want conflict or not_found", err)
		}
		gone(e, keyward.Tx.GetServiceAccount, sa.AccountID, ghostSA)
	}},
	{"Delete", func(e *env) {
		a, b := e.account("a"), e.account("b")
		sa, keep, other := e.serviceAccount(a, "ci"), e.serviceAccount(a, "keep"), e.serviceAccount(b, "ci")
		e.write(func(tx keyward.Tx) error { return tx.DeleteServiceAccount(e.ctx, a.ID, sa.ID) })
		gone(e, keyward.Tx.GetServiceAccount, sa.AccountID, sa.ID)
		err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.DeleteServiceAccount(e.ctx, a.ID, sa.ID) })
		wantCode(e.t, err, keyward.ECodeNotFound)
		err = e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.DeleteServiceAccount(e.ctx, a.ID, ghostSA) })
		wantCode(e.t, err, keyward.ECodeNotFound)
		same(e.t, "the other service account", get(e, keyward.Tx.GetServiceAccount, keep.AccountID, keep.ID), keep)
		same(e.t, "the other account's service account", get(e, keyward.Tx.GetServiceAccount, other.AccountID, other.ID), other)
		e.serviceAccount(a, "ci")
	}},
	{"List", func(e *env) {
		a, b := e.account("a"), e.account("b")
		lister := e.serviceAccountLister(&keyward.ServiceAccountFilter{AccountID: a.ID})
		checkEmptyPages(e.t, lister)
		var ids, active []string
		for i := 0; i < 8; i++ {
			sa := e.serviceAccount(a, name("sa", i), func(s *keyward.ServiceAccount) {
				if i%3 == 0 {
					s.Status = keyward.MemberDisabled
				}
			})
			ids = append(ids, sa.ID)
			if i%3 != 0 {
				active = append(active, sa.ID)
			}
			e.serviceAccount(b, name("sa", i))
		}
		checkPages(e.t, reversed(ids), lister)
		checkPages(e.t, reversed(active), e.serviceAccountLister(&keyward.ServiceAccountFilter{AccountID: a.ID, Status: keyward.MemberActive}))
		got, _, err := e.serviceAccountLister(&keyward.ServiceAccountFilter{AccountID: a.ID, Status: keyward.MemberDisabled})(keyward.Page{Limit: 50})
		if err != nil || !slices.Equal(got, []string{ids[6], ids[3], ids[0]}) {
			e.t.Fatalf("disabled service accounts = %v, %v", got, err)
		}
	}},
}

var roleTests = []test{
	{"RoundTrip", func(e *env) {
		a := e.account("a")
		zone := time.FixedZone("UTC+1", 3600)
		at := time.Date(2025, 7, 4, 10, 11, 12, 345_678_901, zone)
		full := &keyward.Role{AccountID: a.ID, Name: "ops.team-1", Description: ptr("ops é\nsecond line"),
			Scopes: []keyward.Scope{
				{Resource: "docs", Access: keyward.AccessWrite, Targets: []string{"d1", "d/2=x"}},
				{Resource: "search", Access: keyward.AccessRead, Targets: []string{"*"}},
			}, CreatedAt: at, UpdatedAt: at.Add(time.Minute), Version: 6}
		bare := &keyward.Role{AccountID: a.ID, Name: "bare", Scopes: []keyward.Scope{}, CreatedAt: ms(at), UpdatedAt: ms(at), Version: 1}
		empty := &keyward.Role{AccountID: a.ID, Name: "empty", Description: ptr(""), Scopes: []keyward.Scope{}, CreatedAt: ms(at), UpdatedAt: ms(at), Version: 1}
		for _, r := range []*keyward.Role{full, bare, empty} {
			want := *r
			want.Scopes = keyward.CloneScopes(r.Scopes)
			want.CreatedAt, want.UpdatedAt = ms(r.CreatedAt), ms(r.UpdatedAt)
			e.write(func(tx keyward.Tx) error { return tx.CreateRole(e.ctx, r) })
			same(e.t, "GetRole", get(e, keyward.Tx.GetRole, a.ID, r.Name), &want)
		}
		rs := e.listRoles(a.ID)
		if len(rs) != 3 {
			e.t.Fatalf("ListRoles = %d roles", len(rs))
		}
		same(e.t, "listed role", rs[2], get(e, keyward.Tx.GetRole, a.ID, full.Name))
	}},
	{"ListByName", func(e *env) {
		a, b, c := e.account("a"), e.account("b"), e.account("c")
		for _, n := range []string{"writer", "admin", "reader", "a.b", "a-b", "a_b", "z"} {
			e.role(a, n)
		}
		e.role(b, "other")
		var got []string
		for _, r := range e.listRoles(a.ID) {
			got = append(got, r.Name)
		}
		want := []string{"a-b", "a.b", "a_b", "admin", "reader", "writer", "z"}
		if !slices.Equal(got, want) {
			e.t.Fatalf("ListRoles = %v, want by name %v", got, want)
		}
		if rs := e.listRoles(c.ID); len(rs) != 0 {
			e.t.Fatalf("an account without roles lists %d", len(rs))
		}
	}},
	{"Duplicate", func(e *env) {
		a, b := e.account("a"), e.account("b")
		r := e.role(a, "reader", readScope("docs"))
		at := e.now()
		dup := &keyward.Role{AccountID: a.ID, Name: "reader", Description: ptr("dup"), Scopes: []keyward.Scope{}, CreatedAt: at, UpdatedAt: at, Version: 1}
		err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.CreateRole(e.ctx, dup) })
		wantCode(e.t, err, keyward.ECodeDuplicate)
		same(e.t, "the first role", get(e, keyward.Tx.GetRole, a.ID, "reader"), r)
		e.role(b, "reader")
	}},
	{"Update", func(e *env) {
		a := e.account("a")
		r := e.role(a, "reader", readScope("docs"))
		next := *r
		next.Description, next.Scopes, next.UpdatedAt, next.Version = ptr("new"), []keyward.Scope{readScope("files", "f1")}, e.now(), r.Version+1
		e.write(func(tx keyward.Tx) error { return tx.UpdateRole(e.ctx, &next) })
		same(e.t, "role after update", get(e, keyward.Tx.GetRole, a.ID, "reader"), &next)
		again := next
		again.Description, again.Scopes, again.Version = nil, []keyward.Scope{}, next.Version+1
		e.write(func(tx keyward.Tx) error { return tx.UpdateRole(e.ctx, &again) })
		same(e.t, "role after clearing", get(e, keyward.Tx.GetRole, a.ID, "reader"), &again)
	}},
	{"UpdateWrongVersion", func(e *env) {
		a, b := e.account("a"), e.account("b")
		r := e.role(a, "reader", readScope("docs"))
		for _, v := range []int64{1, 3, 0} {
			stale := *r
			stale.Scopes, stale.Version = []keyward.Scope{}, v
			wantCode(e.t, e.tryWrite(func(tx keyward.Tx) error { return tx.UpdateRole(e.ctx, &stale) }), keyward.ECodeConflict)
			same(e.t, "role after a conflicting update", get(e, keyward.Tx.GetRole, a.ID, "reader"), r)
		}
		// A role of that name in another account is another role.
		ghost := *r
		ghost.AccountID, ghost.Version = b.ID, 2
		err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.UpdateRole(e.ctx, &ghost) })
		if c := keyward.ErrorCode(err); c != keyward.ECodeConflict && c != keyward.ECodeNotFound {
			e.t.Fatalf("UpdateRole of an unknown role: %v, want conflict or not_found", err)
		}
		gone(e, keyward.Tx.GetRole, b.ID, "reader")
		same(e.t, "role", get(e, keyward.Tx.GetRole, a.ID, "reader"), r)
	}},
	{"GetAndDelete", func(e *env) {
		a, b := e.account("a"), e.account("b")
		r := e.role(a, "reader")
		keep := e.role(a, "writer")
		other := e.role(b, "reader", readScope("docs"))
		gone(e, keyward.Tx.GetRole, a.ID, "Reader")
		gone(e, keyward.Tx.GetRole, a.ID, "nobody")
		gone(e, keyward.Tx.GetRole, "acc_01HZX3K8Q4W2N5R7T9V0B1C2D3", "reader")
		e.write(func(tx keyward.Tx) error { return tx.DeleteRole(e.ctx, a.ID, "reader") })
		gone(e, keyward.Tx.GetRole, a.ID, "reader")
		err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.DeleteRole(e.ctx, a.ID, "reader") })
		wantCode(e.t, err, keyward.ECodeNotFound)
		err = e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.DeleteRole(e.ctx, a.ID, "nobody") })
		wantCode(e.t, err, keyward.ECodeNotFound)
		same(e.t, "the other role", get(e, keyward.Tx.GetRole, a.ID, "writer"), keep)
		same(e.t, "the other account's role of the same name", get(e, keyward.Tx.GetRole, b.ID, "reader"), other)
		// The name is free again.
		e.role(a, r.Name)
	}},
}

var keyMemberTests = []test{
	{"KeysWithRole", testKeysWithRole},
	{"ListKeysByRole", testListKeysByRole},
	{"KeysOwnedBy", testKeysOwnedBy},
	{"ListKeysIncludeOperator", testListKeysIncludeOperator},
	{"SealedSecret", testSealedSecret},
	{"SampleSealedSecret", testSampleSealedSecret},
}

func withRoles(roles ...string) func(*keyward.Key) {
	return func(k *keyward.Key) {
		k.PermissionMode, k.Scopes, k.Roles = keyward.ModeRestricted, []keyward.Scope{}, roles
	}
}

func withStatus(s keyward.KeyStatus) func(*keyward.Key) {
	return func(k *keyward.Key) { k.Status = s }
}

func (e *env) keysWithRole(accountID, role string, limit int) []string {
	e.t.Helper()
	var ids []string
	e.read(func(tx keyward.Tx) (err error) {
		ids, err = tx.KeysWithRole(e.ctx, accountID, role, limit)
		return err
	})
	if ids == nil {
		ids = []string{}
	}
	return ids
}

func sortedIDs(keys ...*keyward.Key) []string {
	out := keyIDs(keys)
	slices.Sort(out)
	return out
}

func testKeysWithRole(e *env) {
	a, b := e.account("a"), e.account("b")
	k1 := e.apiKey(a, withRoles("reader"))
	k2 := e.apiKey(a, withRoles("reader", "writer"), withStatus(keyward.StatusDisabled))
	k3 := e.apiKey(a, withRoles("reader"), withStatus(keyward.StatusRevoked))
	k4 := e.apiKey(a, withRoles("writer"))
	k5 := e.apiKey(a, withRoles("read", "reader.x"))
	k6 := e.apiKey(a, withRoles("reader", "reader")) // listed once
	kb := e.apiKey(b, withRoles("reader"))
	for _, k := range []*keyward.Key{k6, k3, k1, kb, k5, k2, k4} {
		e.create(k)
	}
	check := func(what, account, role string, limit int, want []string) {
		e.t.Helper()
		if got := e.keysWithRole(account, role, limit); !slices.Equal(got, want) {
			e.t.Fatalf("%s: KeysWithRole(%s, %d) = %v, want %v (not revoked, by id)", what, role, limit, got, want)
		}
	}
	check("reader", a.ID, "reader", 100, sortedIDs(k1, k2, k6))
	check("limit", a.ID, "reader", 2, sortedIDs(k1, k2, k6)[:2])
	check("writer", a.ID, "writer", 100, sortedIDs(k2, k4))
	check("read is not reader", a.ID, "read", 100, sortedIDs(k5))
	check("other account", b.ID, "reader", 100, sortedIDs(kb))
	check("nobody", a.ID, "admin", 100, []string{})
	// Inside a write transaction too (the service checks it there).
	e.write(func(tx keyward.Tx) error {
		ids, err := tx.KeysWithRole(e.ctx, a.ID, "writer", 10)
		if err != nil {
			return err
		}
		if !slices.Equal(ids, sortedIDs(k2, k4)) {
			e.t.Fatalf("KeysWithRole in Write = %v", ids)
		}
		return nil
	})

	// The index follows updates and deletes.
	next := e.getKey(k1.AccountID, k1.ID)
	next.Roles, next.Version = []string{"writer"}, next.Version+1
	e.write(func(tx keyward.Tx) error { return tx.UpdateKey(e.ctx, next) })
	revoked := e.getKey(k4.AccountID, k4.ID)
	revoked.Status, revoked.Version = keyward.StatusRevoked, revoked.Version+1
	e.write(func(tx keyward.Tx) error { return tx.UpdateKey(e.ctx, revoked) })
	e.write(func(tx keyward.Tx) error { return tx.DeleteKey(e.ctx, k6.ID) })
	check("reader after updates", a.ID, "reader", 100, sortedIDs(k2))
	check("writer after updates", a.ID, "writer", 100, sortedIDs(k1, k2))
	// A key that left restricted mode holds no role.
	allMode := e.getKey(k2.AccountID, k2.ID)
	allMode.PermissionMode, allMode.Scopes, allMode.Roles, allMode.Version = keyward.ModeAll, nil, nil, allMode.Version+1
	e.write(func(tx keyward.Tx) error { return tx.UpdateKey(e.ctx, allMode) })
	check("reader after mode all", a.ID, "reader", 100, []string{})
	// A conflicting update does not touch the index.
	stale := e.getKey(k1.AccountID, k1.ID)
	stale.Roles = []string{"ghost"} // same version: a conflict
	wantCode(e.t, e.tryWrite(func(tx keyward.Tx) error { return tx.UpdateKey(e.ctx, stale) }), keyward.ECodeConflict)
	check("ghost after a conflicting update", a.ID, "ghost", 100, []string{})
}

func testListKeysByRole(e *env) {
	a, b := e.account("a"), e.account("b")
	k1 := e.apiKey(a, withRoles("reader"))
	k2 := e.apiKey(a, withRoles("writer", "reader"), withStatus(keyward.StatusRevoked))
	k3 := e.apiKey(a, withRoles("writer"))
	k4 := e.apiKey(a, withRoles("readers"))
	kb := e.apiKey(b, withRoles("reader"))
	for _, k := range []*keyward.Key{k1, k2, k3, k4, kb} {
		e.create(k)
	}
	tests := []filterCase[keyward.KeyFilter]{
		{"reader, revoked included", &keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindAPI, Role: "reader"}, keyIDs([]*keyward.Key{k2, k1})},
		{"writer", &keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindAPI, Role: "writer"}, keyIDs([]*keyward.Key{k3, k2})},
		{"role and status", &keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindAPI, Role: "reader", Status: keyward.StatusActive}, keyIDs([]*keyward.Key{k1})},
		{"other account", &keyward.KeyFilter{AccountID: b.ID, Kind: keyward.KindAPI, Role: "reader"}, keyIDs([]*keyward.Key{kb})},
		{"nobody", &keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindAPI, Role: "read"}, []string{}},
	}
	checkFilters(e, "ListKeys", e.keyLister, tests, nil)
	// Pagination with the role filter.
	var ids []string
	for i := 0; i < 6; i++ {
		k := e.apiKey(a, withRoles("pager"))
		e.create(k)
		ids = append(ids, k.ID)
		e.create(e.apiKey(a, withRoles("other")))
	}
	checkPages(e.t, reversed(ids), e.keyLister(&keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindAPI, Role: "pager"}))
}

func testKeysOwnedBy(e *env) {
	a, b := e.account("a"), e.account("b")
	u := e.user(a)
	sa := e.serviceAccount(a, "ci")
	byUser := keyward.Owner{Type: keyward.OwnerUser, ID: u.ID}
	bySA := keyward.Owner{Type: keyward.OwnerServiceAccount, ID: sa.ID}
	owned := func(o keyward.Owner) func(*keyward.Key) { return func(k *keyward.Key) { k.Owner = o } }
	ku1 := e.fullAPIKey(a)
	ku1.Owner, ku1.Status = byUser, keyward.StatusActive
	ku2 := e.apiKey(a, owned(byUser), withStatus(keyward.StatusDisabled))
	ku3 := e.apiKey(a, owned(byUser), withStatus(keyward.StatusRevoked))
	ks1 := e.apiKey(a, owned(bySA))
	ka := e.apiKey(a)
	kbu := e.apiKey(b, owned(byUser)) // another account's key naming the same owner id
	typeMix := e.apiKey(a, owned(keyward.Owner{Type: keyward.OwnerServiceAccount, ID: u.ID}))
	for _, k := range []*keyward.Key{ku3, ku1, ks1, kbu, ka, typeMix, ku2} {
		e.create(k)
	}
	ownedBy := func(account string, o keyward.Owner) []*keyward.Key {
		e.t.Helper()
		var keys []*keyward.Key
		e.write(func(tx keyward.Tx) (err error) {
			keys, err = tx.KeysOwnedBy(e.ctx, account, o)
			return err
		})
		slices.SortFunc(keys, func(x, y *keyward.Key) int {
			switch {
			case x.ID < y.ID:
				return -1
			case x.ID > y.ID:
				return 1
			}
			return 0
		})
		return keys
	}
	check := func(what string, got []*keyward.Key, want ...*keyward.Key) {
		e.t.Helper()
		if !slices.Equal(keyIDs(got), sortedIDs(want...)) {
			e.t.Fatalf("%s: KeysOwnedBy = %v, want %v (not revoked, this account, this owner)", what, keyIDs(got), sortedIDs(want...))
		}
	}
	got := ownedBy(a.ID, byUser)
	check("user", got, ku1, ku2)
	same(e.t, "a key from KeysOwnedBy", got[slices.Index(keyIDs(got), ku1.ID)], ku1)
	check("service account", ownedBy(a.ID, bySA), ks1)
	check("owner type matters", ownedBy(a.ID, keyward.Owner{Type: keyward.OwnerServiceAccount, ID: u.ID}), typeMix)
	check("other account", ownedBy(b.ID, byUser), kbu)
	check("unknown owner", ownedBy(a.ID, keyward.Owner{Type: keyward.OwnerUser, ID: ghostUser}))
	check("account owner", ownedBy(a.ID, keyward.Owner{Type: keyward.OwnerAccount, ID: a.ID}), ka)
	// Read transactions may ask too.
	keys := readOne(e, func(tx keyward.Tx) ([]*keyward.Key, error) { return tx.KeysOwnedBy(e.ctx, a.ID, bySA) })
	if !slices.Equal(keyIDs(keys), []string{ks1.ID}) {
		e.t.Fatalf("KeysOwnedBy in Read = %v", keyIDs(keys))
	}
}

func testListKeysIncludeOperator(e *env) {
	a, b := e.account("a"), e.account("b")
	mgmt := func(acc *keyward.Account) *keyward.Key {
		k := e.apiKey(acc, func(k *keyward.Key) {
			k.Kind, k.Prefix, k.PermissionMode, k.Permissions = keyward.KindManagement, "kwm", "", []string{keyward.PermKeysRead}
		})
		e.create(k)
		return k
	}
	op := func() *keyward.Key {
		k := e.fullOperatorKey()
		e.create(k)
		return k
	}
	ma := mgmt(a)
	op1 := op()
	mb := mgmt(b)
	api := e.apiKey(a)
	e.create(api)
	op2 := op()
	ma2 := mgmt(a)
	ids := func(keys ...*keyward.Key) []string { return keyIDs(keys) }
	tests := []filterCase[keyward.KeyFilter]{
		{"account's management keys", &keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindManagement}, ids(ma2, ma)},
		{"with operator keys", &keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindManagement, IncludeOperator: true}, ids(ma2, op2, op1, ma)},
		{"other account with operator keys", &keyward.KeyFilter{AccountID: b.ID, Kind: keyward.KindManagement, IncludeOperator: true}, ids(op2, mb, op1)},
		{"with operator keys, filtered", &keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindManagement, IncludeOperator: true, Search: "operator"}, ids(op2, op1)},
		{"API keys are never operator keys", &keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindAPI, IncludeOperator: true}, ids(api)},
		{"every account", &keyward.KeyFilter{Kind: keyward.KindManagement}, ids(ma2, op2, mb, op1, ma)},
	}
	checkFilters(e, "ListKeys", e.keyLister, tests, nil)
	checkPages(e.t, ids(ma2, op2, op1, ma), e.keyLister(&keyward.KeyFilter{AccountID: a.ID, Kind: keyward.KindManagement, IncludeOperator: true}))
}

// The sealed token of a recoverable key round-trips byte for byte; an
// empty one is no sealed secret (nil), like an absent one.
func testSealedSecret(e *env) {
	a := e.account("a")
	sealed := []byte{1, 0, 255, 0, 'k', 'w', '_', 0x80}
	for i := 0; i < 80; i++ {
		sealed = append(sealed, byte(i*7))
	}
	withSealed := e.apiKey(a, func(k *keyward.Key) { k.Recoverable, k.SealedSecret = true, slices.Clone(sealed) })
	none := e.apiKey(a)
	empty := e.apiKey(a, func(k *keyward.Key) { k.SealedSecret = []byte{} })
	hs := e.create(withSealed)
	e.create(none)
	e.create(empty)
	got := e.getKey(withSealed.AccountID, withSealed.ID)
	if !slices.Equal(got.SealedSecret, sealed) {
		e.t.Fatalf("sealed secret = %x, want %x", got.SealedSecret, sealed)
	}
	m, err := e.findHash(hs)
	if err != nil || !slices.Equal(m.Key.SealedSecret, sealed) {
		e.t.Fatalf("FindKeyByHash sealed secret = %v, %v", m, err)
	}
	if s := e.getKey(none.AccountID, none.ID).SealedSecret; s != nil {
		e.t.Fatalf("a key without a sealed secret reads back %x", s)
	}
	if s := e.getKey(empty.AccountID, empty.ID).SealedSecret; s != nil {
		e.t.Fatalf("an empty sealed secret reads back as %s, want nil", show(s))
	}
	// Update sets, replaces and clears it.
	next := e.getKey(none.AccountID, none.ID)
	next.Recoverable, next.SealedSecret, next.Version = true, []byte{9, 8, 7}, next.Version+1
	e.write(func(tx keyward.Tx) error { return tx.UpdateKey(e.ctx, next) })
	same(e.t, "key after setting a sealed secret", e.getKey(none.AccountID, none.ID), next)
	next = e.getKey(withSealed.AccountID, withSealed.ID)
	next.SealedSecret, next.Version = nil, next.Version+1
	e.write(func(tx keyward.Tx) error { return tx.UpdateKey(e.ctx, next) })
	same(e.t, "key after clearing its sealed secret", e.getKey(withSealed.AccountID, withSealed.ID), next)
}

// SampleSealedSecret finds one recoverable key's sealed secret in any
// account (the server checks its master key against it at start).
func testSampleSealedSecret(e *env) {
	sample := func() (string, []byte, error) {
		var (
			id     string
			sealed []byte
		)
		err := e.s.Read(e.ctx, func(tx keyward.Tx) (err error) {
			id, sealed, err = tx.SampleSealedSecret(e.ctx)
			return err
		})
		return id, sealed, err
	}
	_, _, err := sample()
	wantCode(e.t, err, keyward.ECodeNotFound)
	a, b := e.account("a"), e.account("b")
	e.create(e.apiKey(a))
	e.create(e.apiKey(a, func(k *keyward.Key) { k.SealedSecret = []byte{} }))
	_, _, err = sample()
	wantCode(e.t, err, keyward.ECodeNotFound)

	k1 := e.apiKey(b, func(k *keyward.Key) { k.Recoverable, k.SealedSecret = true, []byte{1, 0, 2} })
	k2 := e.apiKey(a, func(k *keyward.Key) { k.Recoverable, k.SealedSecret = true, []byte{3, 4} })
	e.create(k1)
	e.create(k2)
	id, sealed, err := sample()
	if err != nil {
		e.t.Fatalf("SampleSealedSecret: %v", err)
	}
	switch id {
	case k1.ID, k2.ID:
		if want := e.getKey(map[string]string{k1.ID: b.ID, k2.ID: a.ID}[id], id).SealedSecret; !slices.Equal(sealed, want) {
			e.t.Fatalf("SampleSealedSecret = %s with %x, but that key's sealed secret is %x", id, sealed, want)
		}
	default:
		e.t.Fatalf("SampleSealedSecret = %q, want one of the recoverable keys", id)
	}
	for _, k := range []*keyward.Key{k1, k2} {
		e.write(func(tx keyward.Tx) error { return tx.DeleteKey(e.ctx, k.ID) })
	}
	_, _, err = sample()
	wantCode(e.t, err, keyward.ECodeNotFound)
}

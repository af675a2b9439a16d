package storetest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

var idempotencyTests = []test{
	{"ReserveThenExisting", testIdemReserve},
	{"FinishThenReplay", testIdemFinish},
	{"FinishUnknown", func(e *env) {
		a := e.account("a")
		rec := idemRecord(a, "actor", "k", "req", e.now())
		err := e.s.Write(e.ctx, func(tx keyward.Tx) error { return tx.FinishIdempotency(e.ctx, rec) })
		wantCode(e.t, err, keyward.ECodeNotFound)
		if got := e.peekIdem(rec.Scope, rec.KeyHash); got != nil {
			e.t.Fatalf("FinishIdempotency of an unknown record created one: %+v", got)
		}
	}},
	{"ScopesAndKeysApart", testIdemApart},
	{"Release", testIdemRelease},
	{"ExpiredIsReplaced", testIdemExpiry},
	{"Purge", testIdemPurge},
	{"ConcurrentReservations", testIdemConcurrent},
}

// idemRecord returns a pending record of the account's actor for the
// Idempotency-Key key and a request described by req. Scopes start with
// the account id and a colon, as the service builds them: that is how
// DeleteAccount finds an account's records.
func idemRecord(a *keyward.Account, actor, key, req string, at time.Time) *keyward.IdempotencyRecord {
	kh := sha256.Sum256([]byte(key))
	rh := sha256.Sum256([]byte(req))
	return &keyward.IdempotencyRecord{Scope: a.ID + ":" + actor, KeyHash: kh[:], RequestHash: rh[:], Pending: true, CreatedAt: at}
}

func (e *env) reserve(rec *keyward.IdempotencyRecord, notBefore time.Time) *keyward.IdempotencyRecord {
	e.t.Helper()
	var got *keyward.IdempotencyRecord
	e.write(func(tx keyward.Tx) (err error) {
		got, err = tx.ReserveIdempotency(e.ctx, rec, notBefore)
		return err
	})
	return got
}

var errPeek = errors.New("storetest: roll back the peek")

// peekIdem returns the live record under (scope, key hash), or nil,
// leaving nothing behind: the reservation it makes to look is rolled back.
func (e *env) peekIdem(scope string, keyHash []byte) *keyward.IdempotencyRecord {
	e.t.Helper()
	var got *keyward.IdempotencyRecord
	err := e.s.Write(e.ctx, func(tx keyward.Tx) error {
		var err error
		got, err = tx.ReserveIdempotency(e.ctx, &keyward.IdempotencyRecord{Scope: scope, KeyHash: keyHash,
			RequestHash: []byte("peek"), Pending: true, CreatedAt: time.Unix(0, 0)}, time.Time{})
		if err != nil {
			return err
		}
		return errPeek
	})
	if !errors.Is(err, errPeek) {
		e.t.Fatalf("peek at an idempotency record: %v", err)
	}
	return got
}

// wantRecord fails unless got is the record want, as stored.
func (e *env) wantRecord(what string, got, want *keyward.IdempotencyRecord) {
	e.t.Helper()
	if got == nil {
		e.t.Fatalf("%s: no record, want %+v", what, want)
	}
	w := *want
	w.CreatedAt = ms(want.CreatedAt)
	g := *got
	if len(g.Response) == 0 && len(w.Response) == 0 {
		g.Response, w.Response = nil, nil // nil and empty answers are the same answer
	}
	same(e.t, what, &g, &w)
	if got.CreatedAt.Location() != time.UTC {
		e.t.Fatalf("%s: created_at in %s, want UTC", what, got.CreatedAt.Location())
	}
}

func testIdemReserve(e *env) {
	a := e.account("a")
	at := time.Date(2025, 5, 6, 7, 8, 9, 123_456_789, time.FixedZone("X", 3600))
	first := idemRecord(a, "key_actor", "idem-key-0001", "POST /v1/keys {a}", at)
	if got := e.reserve(first, at.Add(-time.Hour)); got != nil {
		e.t.Fatalf("first reservation returned %+v, want nil", got)
	}
	// The same key again, with the same or another request: the record
	// already there comes back unchanged (pending, the first request's hash).
	for _, req := range []string{"POST /v1/keys {a}", "POST /v1/keys {b}"} {
		again := idemRecord(a, "key_actor", "idem-key-0001", req, at.Add(time.Minute))
		got := e.reserve(again, at.Add(-time.Hour))
		want := *first
		want.Pending, want.Status, want.Response = true, 0, nil
		e.wantRecord("second reservation", got, &want)
	}
}

func testIdemFinish(e *env) {
	a := e.account("a")
	at := e.now()
	rec := idemRecord(a, "key_actor", "idem-key-0002", "req", at)
	if got := e.reserve(rec, at); got != nil {
		e.t.Fatalf("first reservation returned %+v", got)
	}
	done := *rec
	done.Pending, done.Status, done.Response = false, 201, []byte{0, 1, 2, 255, 'x', 0}
	e.write(func(tx keyward.Tx) error { return tx.FinishIdempotency(e.ctx, &done) })
	for i := 0; i < 2; i++ {
		retry := idemRecord(a, "key_actor", "idem-key-0002", "other", e.now())
		got := e.reserve(retry, at)
		e.wantRecord("reservation after finish", got, &done)
	}
	// Finishing a record twice stores the latest answer (the service never
	// does; the store need not refuse it).
	again := done
	again.Status, again.Response = 200, []byte("second")
	e.write(func(tx keyward.Tx) error { return tx.FinishIdempotency(e.ctx, &again) })
	e.wantRecord("after a second finish", e.peekIdem(rec.Scope, rec.KeyHash), &again)
}

func testIdemApart(e *env) {
	a, b := e.account("a"), e.account("b")
	at := e.now()
	base := idemRecord(a, "key_1", "shared-key-0001", "req", at)
	if got := e.reserve(base, at); got != nil {
		e.t.Fatal("first reservation is not new")
	}
	for what, rec := range map[string]*keyward.IdempotencyRecord{
		"another actor":             idemRecord(a, "key_2", "shared-key-0001", "req", at),
		"another account":           idemRecord(b, "key_1", "shared-key-0001", "req", at),
		"another Idempotency-Key":   idemRecord(a, "key_1", "shared-key-0002", "req", at),
		"a key differing in case":   idemRecord(a, "key_1", "SHARED-KEY-0001", "req", at),
		"a scope differing in case": {Scope: a.ID + ":KEY_1", KeyHash: base.KeyHash, RequestHash: base.RequestHash, Pending: true, CreatedAt: at},
	} {
		if got := e.reserve(rec, at); got != nil {
			e.t.Fatalf("%s: reservation found %+v, want a new one", what, got)
		}
	}
	e.wantRecord("the first record", e.peekIdem(base.Scope, base.KeyHash), base)
}

func testIdemRelease(e *env) {
	a := e.account("a")
	at := e.now()
	pending := idemRecord(a, "k", "release-key-0001", "req", at)
	done := idemRecord(a, "k", "release-key-0002", "req", at)
	for _, r := range []*keyward.IdempotencyRecord{pending, done} {
		if got := e.reserve(r, at); got != nil {
			e.t.Fatal("not new")
		}
	}
	finished := *done
	finished.Pending, finished.Status, finished.Response = false, 201, []byte("answer")
	e.write(func(tx keyward.Tx) error { return tx.FinishIdempotency(e.ctx, &finished) })

	release := func(scope string, key []byte) {
		e.t.Helper()
		e.write(func(tx keyward.Tx) error { return tx.ReleaseIdempotency(e.ctx, scope, key) })
	}
	// Releasing under another scope touches nothing.
	release(a.ID+":other", pending.KeyHash)
	e.wantRecord("pending record after a release elsewhere", e.peekIdem(pending.Scope, pending.KeyHash), pending)
	// A pending reservation goes, a finished answer stays.
	release(pending.Scope, pending.KeyHash)
	release(done.Scope, done.KeyHash)
	if got := e.peekIdem(pending.Scope, pending.KeyHash); got != nil {
		e.t.Fatalf("released reservation still there: %+v", got)
	}
	e.wantRecord("finished record after release", e.peekIdem(done.Scope, done.KeyHash), &finished)
	// Releasing what is not there is no error.
	release(pending.Scope, pending.KeyHash)
	release("nobody", []byte("nothing"))
	// After a release the key can be reserved again, by a new request.
	next := idemRecord(a, "k", "release-key-0001", "new request", e.now())
	if got := e.reserve(next, at); got != nil {
		e.t.Fatalf("reservation after release found %+v", got)
	}
	e.wantRecord("the new reservation", e.peekIdem(next.Scope, next.KeyHash), next)
}

func testIdemExpiry(e *env) {
	a := e.account("a")
	t0 := e.now()
	old := idemRecord(a, "k", "expiry-key-0001", "first", t0)
	if e.reserve(old, t0.Add(-24*time.Hour)) != nil {
		e.t.Fatal("not new")
	}
	// Created exactly at notBefore: not expired.
	t1 := e.now()
	second := idemRecord(a, "k", "expiry-key-0001", "second", t1)
	e.wantRecord("record created at notBefore", e.reserve(second, t0), old)
	// Created before notBefore: expired and replaced by the new reservation.
	if got := e.reserve(second, t0.Add(time.Millisecond)); got != nil {
		e.t.Fatalf("an expired record was returned: %+v", got)
	}
	third := idemRecord(a, "k", "expiry-key-0001", "third", e.now())
	e.wantRecord("the replacement", e.reserve(third, t0.Add(time.Millisecond)), second)

	// A finished answer expires the same way.
	fin := *second
	fin.Pending, fin.Status, fin.Response = false, 201, []byte("answer")
	e.write(func(tx keyward.Tx) error { return tx.FinishIdempotency(e.ctx, &fin) })
	e.wantRecord("finished, not expired", e.reserve(third, t1), &fin)
	if got := e.reserve(third, t1.Add(time.Second)); got != nil {
		e.t.Fatalf("an expired answer was returned: %+v", got)
	}
	e.wantRecord("the replacement of an answer", e.peekIdem(third.Scope, third.KeyHash), third)
}

func testIdemPurge(e *env) {
	a, b := e.account("a"), e.account("b")
	t0 := e.now()
	t1, t2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
	r0 := idemRecord(a, "k", "purge-0", "req", t0)
	r1 := idemRecord(a, "k", "purge-1", "req", t1)
	r2 := idemRecord(b, "k", "purge-2", "req", t2)
	rb := idemRecord(b, "k", "purge-b", "req", t0.Add(time.Minute))
	for _, r := range []*keyward.IdempotencyRecord{r0, r1, r2, rb} {
		if e.reserve(r, t0) != nil {
			e.t.Fatal("not new")
		}
	}
	fin := *r1
	fin.Pending, fin.Status, fin.Response = false, 201, []byte("x")
	e.write(func(tx keyward.Tx) error { return tx.FinishIdempotency(e.ctx, &fin) })

	e.write(func(tx keyward.Tx) error { return tx.PurgeIdempotency(e.ctx, t1) })
	for what, r := range map[string]*keyward.IdempotencyRecord{"r0": r0, "rb (another account)": rb} {
		if got := e.peekIdem(r.Scope, r.KeyHash); got != nil {
			e.t.Errorf("%s created before the purge time survived: %+v", what, got)
		}
	}
	e.wantRecord("r1, created at the purge time", e.peekIdem(r1.Scope, r1.KeyHash), &fin)
	e.wantRecord("r2", e.peekIdem(r2.Scope, r2.KeyHash), r2)
	e.write(func(tx keyward.Tx) error { return tx.PurgeIdempotency(e.ctx, t2.Add(time.Millisecond)) })
	for _, r := range []*keyward.IdempotencyRecord{r1, r2} {
		if got := e.peekIdem(r.Scope, r.KeyHash); got != nil {
			e.t.Errorf("record survived a purge after it: %+v", got)
		}
	}
}

// Of many concurrent reservations of one key, exactly one gets nil (it
// runs the request); every other gets the winner's pending record, never
// an error.
func testIdemConcurrent(e *env) {
	a := e.account("a")
	const n = 20
	at := e.now()
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results = make([]*keyward.IdempotencyRecord, n)
		errs    = make([]error, n)
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rec := idemRecord(a, "key_actor", "concurrent-key-01", fmt.Sprintf("request %d", i), at)
			errs[i] = e.s.Write(e.ctx, func(tx keyward.Tx) (err error) {
				results[i], err = tx.ReserveIdempotency(e.ctx, rec, at.Add(-time.Hour))
				return err
			})
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			e.t.Fatalf("reservation %d failed: %v", i, errs[i])
		}
		if results[i] == nil {
			if winner >= 0 {
				e.t.Fatalf("reservations %d and %d both got the key", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		e.t.Fatal("no reservation got the key")
	}
	want := idemRecord(a, "key_actor", "concurrent-key-01", fmt.Sprintf("request %d", winner), at)
	for i, r := range results {
		if i != winner {
			e.wantRecord(fmt.Sprintf("reservation %d", i), r, want)
		}
	}
	e.wantRecord("stored record", e.peekIdem(want.Scope, want.KeyHash), want)
	if !slices.Equal(results[(winner+1)%n].RequestHash, want.RequestHash) {
		e.t.Fatal("a loser sees another request than the winner's")
	}
}

package service

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

// Credits are spent from leases: a node takes a block of credits out of the
// key's pool in the database with one locked read-modify-write, then spends
// them in memory, so most verifications write nothing. Credits are never
// over-spent: every credit spent was first removed from the pool
// atomically, on whichever node. They can be under-spent briefly: a node
// that holds a lease while another node's pool is empty makes that node
// answer USAGE_EXCEEDED until the lease is given back (leases of idle keys
// go back every write-behind interval, and at shutdown). A node that dies
// loses its lease (those credits are gone until the next refill).

// creditState is this node's lease on one key's credits.
//
// mu guards the fields and is held only for work in memory, never across
// a database call: a verification that must renew the lease releases it,
// takes renew (one renewal or return of this key's lease at a time; the
// wait honours the request's context), reads and writes the pool, and
// takes mu again to apply what it got. Invalidations (delivered by the
// store after a commit) only take mu, so they never wait for the writer.
type creditState struct {
	account string        // the key's account, for account invalidations
	renew   chan struct{} // held while the lease is renewed or returned

	mu      sync.Mutex
	left    int64              // leased and not yet spent
	pool    keyward.CreditPool // the pool as the last lease left it
	end     time.Time          // end of the leased pool's refill period
	stale   bool               // the key changed: check the pool before spending
	read    bool               // pool was read from the database (it may be all zero)
	gen     uint64             // invalidations seen: a renewal that overlapped one leaves the state stale
	renewed uint64             // renewals completed: one queued behind another may use what it read
	spent   time.Time          // until then, the last read found the pool spent: trust it (emptyHold)
	lastUse time.Time
}

type creditBook struct {
	mu     sync.Mutex
	states map[string]*creditState
}

func newCreditBook() *creditBook { return &creditBook{states: map[string]*creditState{}} }

func (b *creditBook) state(keyID, account string) *creditState {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.states[keyID]
	if st == nil {
		st = &creditState{account: account, renew: make(chan struct{}, 1)}
		b.states[keyID] = st
	}
	return st
}

// invalidate marks leases stale: a changed key may have a new pool. Only
// the key's own changes, its account's and "everything" concern a pool.
func (b *creditBook) invalidate(inv keyward.Invalidation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	mark := func(st *creditState) {
		st.mu.Lock()
		st.stale = true
		st.gen++
		st.mu.Unlock()
	}
	switch inv.Kind {
	case keyward.InvalidateKey:
		if st := b.states[inv.ID]; st != nil {
			mark(st)
		}
	case keyward.InvalidateAccount, keyward.InvalidateAll:
		for _, st := range b.states {
			if inv.Kind == keyward.InvalidateAll || st.account == inv.ID {
				mark(st)
			}
		}
	}
}

// errKeyGone is what a lease renewal answers when the key was deleted
// since the verification found it: the verification is then NOT_FOUND.
var errKeyGone = errors.New("the key was deleted")

// spendCredits takes cost credits of a key for a verification that passed
// every other check. It reports whether they were available and the
// credits remaining as this node knows them. It waits for the database
// (a lease renewal) at most until ctx ends or the budget, holding no lock
// meanwhile.
func (s *Service) spendCredits(ctx context.Context, keyID string, st *creditState, cost int64, now, budget time.Time) (bool, int64, error) {
	if ok, left, done := st.trySpend(cost, now, false); done {
		return ok, left, nil
	}
	ctx, cancel := keyward.WithBudgetUntil(ctx, budget)
	defer cancel()
	if err := s.renewLease(ctx, keyID, st, cost, now); err != nil {
		return false, 0, err
	}
	// The pool was read just now, for this verification: spend from what
	// the renewal left, even if a change came in meanwhile (the next
	// verification re-reads).
	ok, left, _ := st.trySpend(cost, now, true)
	return ok, left, nil
}

// trySpend spends cost from the lease if it can decide without the
// database: done is false when the lease must be renewed first (the key
// changed, the refill period ended, or the lease is short). With final,
// it decides anyway.
func (st *creditState) trySpend(cost int64, now time.Time, final bool) (ok bool, left int64, done bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if now.After(st.lastUse) {
		st.lastUse = now
	}
	if !final && (st.stale || !st.read || (!st.end.IsZero() && !now.Before(st.end)) || st.left < cost) {
		return false, 0, false
	}
	if st.left < cost {
		return false, st.pool.Remaining + st.left, true
	}
	st.left -= cost
	return true, st.pool.Remaining + st.left, true
}

// acquire takes the key's renewal slot, waiting at most until ctx ends.
func (st *creditState) acquire(ctx context.Context) error {
	select {
	case st.renew <- struct{}{}:
		return nil
	case <-ctx.Done():
		return keyward.ContextError(ctx)
	}
}

func (st *creditState) release() { <-st.renew }

// emptyHold is how long a node trusts a read that found a key's pool
// without enough credits before reading it again, unless the key changes
// (an invalidation) or its refill period ends: a client hammering a spent
// key costs each node at most one write transaction per emptyHold, and
// credits another node gives back are seen that much later.
const emptyHold = 100 * time.Millisecond

// renewLease re-reads the key's pool (applying a due refill), voids a lease
// from another epoch or period, and takes enough credits for cost if the
// pool has them. Renewals of one key run one at a time; one that finds the
// lease renewed by the one before it reads nothing when that renewal left
// enough for cost, or found the pool without enough (as does any renewal
// within emptyHold of such a read): a burst on a spent key costs one read,
// not one per verification.
func (s *Service) renewLease(ctx context.Context, keyID string, st *creditState, cost int64, now time.Time) error {
	st.mu.Lock()
	seen := st.renewed
	st.mu.Unlock()
	if err := st.acquire(ctx); err != nil {
		return err
	}
	defer st.release()
	st.mu.Lock()
	fresh := !st.stale && st.read && (st.end.IsZero() || now.Before(st.end))
	short := st.pool.Remaining+st.left < cost && (st.renewed != seen || now.Before(st.spent))
	if fresh && (st.left >= cost || short) {
		st.mu.Unlock()
		return nil
	}
	gen, have, held := st.gen, st.left, st.pool
	st.mu.Unlock()

	var (
		gone, void bool
		grant      int64
		pool       keyward.CreditPool
		end        time.Time
		none       bool
	)
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		gone, void, grant, none = false, false, 0, false
		k, err := tx.GetKey(ctx, st.account, keyID)
		if isNotFound(err) {
			gone = true
			return nil
		}
		if err != nil {
			return err
		}
		if k.Credits == nil {
			none = true
			return nil
		}
		stored := k.Credits.Pool()
		pool = k.Credits.At(stored, now)
		left := have
		if pool.Epoch != held.Epoch || !pool.PeriodStart.Equal(held.PeriodStart) {
			void, left = true, 0 // carved out of a pool that no longer exists
		}
		if need := cost - left; need > 0 && pool.Remaining >= need {
			grant = min(pool.Remaining, max(need, leaseSize(pool.Remaining, need)))
		}
		pool.Remaining -= grant
		end = k.Credits.PeriodEnd(pool)
		if pool != stored {
			return tx.SetCreditPool(ctx, keyID, pool)
		}
		return nil
	})
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case gone || none:
		st.left, st.pool, st.end, st.read = 0, keyward.CreditPool{}, time.Time{}, false
	default:
		if void {
			st.left = 0
		}
		st.left += grant
		st.pool, st.end, st.read = pool, end, true
	}
	st.renewed++
	if st.read && st.pool.Remaining+st.left < cost {
		st.spent = now.Add(emptyHold)
	}
	if st.gen == gen {
		st.stale = false // else a change overlapped the read: look again next time
	}
	if gone {
		return errKeyGone
	}
	return nil
}

// leaseSize returns how many credits a node takes from a pool at once to
// pay for a verification costing cost: enough that most verifications need
// no database write, few enough that other nodes are not starved. A nearly
// empty pool is taken cost by cost.
func leaseSize(remaining, cost int64) int64 {
	n := remaining / 16
	switch {
	case n > 1000:
		n = 1000
	case n < cost:
		n = cost
	}
	return n
}

// returnIdleLeases gives back the leases of keys not spent from since
// idle before (all of them at shutdown), so other nodes can spend them. A
// lease being returned is taken out of the state first, so nothing spends
// it meanwhile; a failed return puts it back.
func (s *Service) returnIdleLeases(ctx context.Context, idleSince time.Time) {
	s.credits.mu.Lock()
	var idle []*creditState
	var ids []string
	for id, st := range s.credits.states {
		st.mu.Lock()
		if st.left > 0 && st.lastUse.Before(idleSince) {
			idle, ids = append(idle, st), append(ids, id)
		}
		st.mu.Unlock()
	}
	s.credits.mu.Unlock()
	for i, st := range idle {
		s.returnLease(ctx, ids[i], st)
		if ctx.Err() != nil {
			return // the rest waits for the next pass
		}
	}
}

func (s *Service) returnLease(ctx context.Context, id string, st *creditState) error {
	if err := st.acquire(ctx); err != nil {
		return err
	}
	defer st.release()
	st.mu.Lock()
	give, held := st.left, st.pool
	st.left = 0
	st.mu.Unlock()
	if give == 0 {
		return nil
	}
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		k, err := tx.GetKey(ctx, st.account, id)
		if err != nil || k.Credits == nil {
			return err
		}
		pool := k.Credits.Pool()
		if pool.Epoch != held.Epoch || !pool.PeriodStart.Equal(held.PeriodStart) {
			return nil // a new pool: the lease is void
		}
		pool.Remaining += give
		return tx.SetCreditPool(ctx, id, pool)
	})
	if err == nil || isNotFound(err) {
		return nil
	}
	s.log.Warn("returning leased credits failed; retrying next interval", "key_id", id, "err", err)
	st.mu.Lock()
	if st.pool.Epoch == held.Epoch && st.pool.PeriodStart.Equal(held.PeriodStart) {
		st.left += give
	}
	st.mu.Unlock()
	return err
}

// ChangeCredits applies op to a key's credits (set, add or subtract; see
// keyward.CreditsOp), with an audit event. Subtracting more than the pool
// holds empties it (credits leased by nodes are not in the pool).
func (s *Service) ChangeCredits(ctx context.Context, a *keyward.Actor, id string, op keyward.CreditsOp, ifMatch string) (*keyward.Key, error) {
	if err := require(a, keyward.PermKeysWrite); err != nil {
		return nil, err
	}
	if err := op.Check(); err != nil {
		return nil, err
	}
	var out *keyward.Key
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadKeyToChange(ctx, tx, a, keyward.KindAPI, id, ifMatch, true)
		if err != nil {
			return err
		}
		switch {
		case cur.Status == keyward.StatusRevoked:
			return keyward.Errorf(keyward.ECodeKeyRevoked, "key %s is revoked: a revoked key cannot be changed, only deleted", id)
		case cur.Credits == nil:
			return keyward.Errorf(keyward.ECodeConflict, "key %s has no credits: give it credits with PATCH first", id)
		}
		next := cur.Clone()
		pool := op.Apply(next.Credits.At(next.Credits.Pool(), s.now()))
		next.Credits.Remaining, next.Credits.PeriodStart, next.Credits.Epoch = pool.Remaining, pool.PeriodStart, pool.Epoch
		op := map[string]keyward.Change{"credits_operation": {Before: json.RawMessage("null"), After: mustJSON(map[string]int64{string(op.Action): op.Amount})}}
		out, err = s.storeKeyChange(ctx, tx, a, cur, next, keyward.ActionKeyCreditsChanged, op)
		return err
	})
	return out, err
}

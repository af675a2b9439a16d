package service

import (
	"context"
	"encoding/json"
	"fmt"
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
type creditState struct {
	mu      sync.Mutex
	left    int64              // leased and not yet spent
	pool    keyward.CreditPool // the pool as the last lease left it
	end     time.Time          // end of the leased pool's refill period
	stale   bool               // the key changed: check the pool before spending
	read    bool               // pool was read from the database (it may be all zero)
	lastUse time.Time
}

type creditBook struct {
	mu     sync.Mutex
	states map[string]*creditState
}

func newCreditBook() *creditBook { return &creditBook{states: map[string]*creditState{}} }

func (b *creditBook) state(keyID string) *creditState {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.states[keyID]
	if st == nil {
		st = &creditState{}
		b.states[keyID] = st
	}
	return st
}

// invalidate marks leases stale: a changed key may have a new pool.
func (b *creditBook) invalidate(inv keyward.Invalidation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, st := range b.states {
		if inv.Kind == keyward.InvalidateKey && id != inv.ID {
			continue
		}
		if inv.Kind == keyward.InvalidateHash {
			continue
		}
		st.mu.Lock()
		st.stale = true
		st.mu.Unlock()
	}
}

// spendCredits takes cost credits of a key for a verification that passed
// every other check. It reports whether they were available and the
// credits remaining as this node knows them.
func (s *Service) spendCredits(ctx context.Context, keyID string, st *creditState, cost int64, now time.Time) (bool, int64, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.lastUse = now
	if st.stale || (!st.end.IsZero() && !now.Before(st.end)) {
		// The key changed or its refill period ended: the lease may be
		// void. Re-read the pool.
		if err := s.renewLease(ctx, keyID, st, 0, now); err != nil {
			return false, 0, err
		}
	}
	if st.left < cost {
		if err := s.renewLease(ctx, keyID, st, cost-st.left, now); err != nil {
			return false, 0, err
		}
		if st.left < cost {
			return false, st.pool.Remaining + st.left, nil
		}
	}
	st.left -= cost
	return true, st.pool.Remaining + st.left, nil
}

// renewLease re-reads the key's pool (applying a due refill), voids a lease
// from another epoch or period, and takes at least need more credits if the
// pool has them (need 0: only re-read).
func (s *Service) renewLease(ctx context.Context, keyID string, st *creditState, need int64, now time.Time) error {
	return s.store.Write(ctx, func(tx keyward.Tx) error {
		k, err := tx.GetKey(ctx, keyID)
		if err != nil {
			return err
		}
		if k.Credits == nil {
			st.left, st.pool, st.end, st.stale, st.read = 0, keyward.CreditPool{}, time.Time{}, false, false
			return nil
		}
		stored := k.Credits.Pool()
		pool := k.Credits.At(stored, now)
		if pool.Epoch != st.pool.Epoch || !pool.PeriodStart.Equal(st.pool.PeriodStart) {
			st.left = 0 // carved out of a pool that no longer exists
		}
		var grant int64
		if need > 0 && pool.Remaining >= need {
			grant = min(pool.Remaining, max(need, keyward.LeaseSize(pool.Remaining, need)))
		}
		pool.Remaining -= grant
		if pool != stored {
			if err := tx.SetCreditPool(ctx, keyID, pool); err != nil {
				return err
			}
		}
		st.left += grant
		st.pool, st.end, st.stale, st.read = pool, k.Credits.PeriodEnd(pool), false, true
		return nil
	})
}

// returnIdleLeases gives back the leases of keys not spent from since
// idle before (all of them at shutdown), so other nodes can spend them.
func (s *Service) returnIdleLeases(ctx context.Context, idleSince time.Time) {
	s.credits.mu.Lock()
	var idle []string
	for id, st := range s.credits.states {
		st.mu.Lock()
		if st.left > 0 && st.lastUse.Before(idleSince) {
			idle = append(idle, id)
		}
		st.mu.Unlock()
	}
	s.credits.mu.Unlock()
	for _, id := range idle {
		st := s.credits.state(id)
		st.mu.Lock()
		err := s.store.Write(ctx, func(tx keyward.Tx) error {
			k, err := tx.GetKey(ctx, id)
			if err != nil || k.Credits == nil {
				return err
			}
			pool := k.Credits.Pool()
			if pool.Epoch != st.pool.Epoch || !pool.PeriodStart.Equal(st.pool.PeriodStart) {
				return nil // a new pool: the lease is void
			}
			pool.Remaining += st.left
			return tx.SetCreditPool(ctx, id, pool)
		})
		if err == nil || isNotFound(err) {
			st.left = 0
		} else {
			s.log.Warn("returning leased credits failed; retrying next interval", "key_id", id, "err", err)
		}
		st.mu.Unlock()
	}
}

// CreditsChange is the body of POST /v1/keys/{id}/credits: exactly one of
// set, add or subtract.
type CreditsChange struct {
	Set      keyward.Field[int64] `json:"set"`
	Add      keyward.Field[int64] `json:"add"`
	Subtract keyward.Field[int64] `json:"subtract"`
}

// ChangeCredits sets, adds to or subtracts from a key's credits, with an
// audit event. Setting starts a new pool (credits nodes leased from the old
// one are void); adding and subtracting keep it. Subtracting more than the
// pool holds empties it (credits leased by nodes are not in the pool).
func (s *Service) ChangeCredits(ctx context.Context, a *keyward.Actor, id string, in *CreditsChange, ifMatch string) (*keyward.Key, error) {
	if err := require(a, keyward.PermKeysWrite); err != nil {
		return nil, err
	}
	ops := 0
	var fields []keyward.FieldError
	for name, f := range map[string]keyward.Field[int64]{"set": in.Set, "add": in.Add, "subtract": in.Subtract} {
		if !f.Set {
			continue
		}
		ops++
		min := int64(1)
		if name == "set" {
			min = 0
		}
		if f.Null || f.Value < min || f.Value > keyward.MaxCredits {
			fields = append(fields, keyward.FieldError{Field: name, Message: fmt.Sprintf("must be an integer from %d to %d", min, keyward.MaxCredits)})
		}
	}
	if ops != 1 {
		return nil, keyward.InvalidField("set", "send exactly one of set, add or subtract")
	}
	if len(fields) > 0 {
		return nil, keyward.Invalid(fields...)
	}
	var out *keyward.Key
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadKey(ctx, tx, a, keyward.KindAPI, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.ETag()); err != nil {
			return err
		}
		switch {
		case cur.Status == keyward.StatusRevoked:
			return keyward.Errorf(keyward.ECodeKeyRevoked, "key %s is revoked: a revoked key cannot be changed, only deleted", id)
		case cur.Credits == nil:
			return keyward.Errorf(keyward.ECodeConflict, "key %s has no credits: give it credits with PATCH first", id)
		}
		next := cur.Clone()
		pool := next.Credits.At(next.Credits.Pool(), s.now())
		switch {
		case in.Set.Set:
			pool.Remaining, pool.Epoch = in.Set.Value, pool.Epoch+1
		case in.Add.Set:
			pool.Remaining = min(pool.Remaining+in.Add.Value, keyward.MaxCredits)
		default:
			pool.Remaining = max(pool.Remaining-in.Subtract.Value, 0)
		}
		next.Credits.Remaining, next.Credits.PeriodStart, next.Credits.Epoch = pool.Remaining, pool.PeriodStart, pool.Epoch
		op := map[string]keyward.Change{"credits_operation": {Before: json.RawMessage("null"), After: mustJSON(creditsOp(in))}}
		out, err = s.writeKey(ctx, tx, a, cur, next, keyward.ActionKeyCreditsChanged, op)
		return err
	})
	return out, err
}

func creditsOp(in *CreditsChange) map[string]int64 {
	switch {
	case in.Set.Set:
		return map[string]int64{"set": in.Set.Value}
	case in.Add.Set:
		return map[string]int64{"add": in.Add.Value}
	}
	return map[string]int64{"subtract": in.Subtract.Value}
}

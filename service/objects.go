package service

import (
	"context"
	"time"

	"github.com/keyward/keyward"
)

// readAs runs fn in a read transaction once the actor holds perm: the
// shape of every single-object read of the service.
func readAs[T any](ctx context.Context, s *Service, a *keyward.Actor, perm string, fn func(tx keyward.Tx) (T, error)) (T, error) {
	var out T
	if err := require(a, perm); err != nil {
		return out, err
	}
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		out, err = fn(tx)
		return err
	})
	return out, err
}

// listAs is readAs for one page of a list: the items and whether more follow.
func listAs[T any](ctx context.Context, s *Service, a *keyward.Actor, perm string, fn func(tx keyward.Tx) ([]T, bool, error)) ([]T, bool, error) {
	if err := require(a, perm); err != nil {
		return nil, false, err
	}
	var (
		out  []T
		more bool
	)
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		out, more, err = fn(tx)
		return err
	})
	return out, more, err
}

// objectKind describes one kind of object an account holds (users, service
// accounts, roles, projects) to the operations they share. Its getter and
// deleter are the store's, which take the account: an id of another
// account is not_found there.
type objectKind[T any] struct {
	name        string // in not_found messages: "service account"
	target      string // the audit target type
	read, write string // the management permissions
	validID     func(id string) bool
	id          func(v *T) string
	etag        func(v *T) string
	// next makes v the next version of itself, changed at now.
	next func(v *T, now time.Time)
	// fields returns the client-visible fields, for the audit's changes.
	fields func(v *T) map[string]any

	get    func(tx keyward.Tx, ctx context.Context, accountID, id string) (*T, error)
	create func(tx keyward.Tx, ctx context.Context, v *T) error
	update func(tx keyward.Tx, ctx context.Context, v *T) error
	delete func(tx keyward.Tx, ctx context.Context, accountID, id string) error

	created, updated, deleted string // audit actions
}

// load returns the object of the actor's account with the id, or
// not_found; inside Write, its row stays locked.
func (o *objectKind[T]) load(ctx context.Context, tx keyward.Tx, a *keyward.Actor, id string) (*T, error) {
	if !o.validID(id) {
		return nil, keyward.NotFound(o.name, id)
	}
	return o.get(tx, ctx, a.AccountID, id)
}

// getOne returns an object of the actor's account (read permission).
func (o *objectKind[T]) getOne(ctx context.Context, s *Service, a *keyward.Actor, id string) (*T, error) {
	return readAs(ctx, s, a, o.read, func(tx keyward.Tx) (*T, error) { return o.load(ctx, tx, a, id) })
}

// add creates v in the actor's account (write permission) with its audit
// event: apply fills it in from the request first, in the same transaction
// (where it may read what it checks against), and returns nil or a
// validation error; nothing is written then.
func (o *objectKind[T]) add(ctx context.Context, s *Service, a *keyward.Actor, v *T, apply func(tx keyward.Tx) error) (*T, error) {
	if err := require(a, o.write); err != nil {
		return nil, err
	}
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		if err := apply(tx); err != nil {
			return err
		}
		if err := o.create(tx, ctx, v); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, a.AccountID, o.created, o.target, o.id(v), keyward.Diff(nil, o.fields(v)))
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// patch applies a PATCH to an object of the actor's account (write
// permission): apply changes a copy of the current version, which must
// match ifMatch when it is given (else 412). A PATCH that changes no field
// returns the object as it is and writes nothing; otherwise the copy is
// stored as the next version with one audit event of what changed.
func (o *objectKind[T]) patch(ctx context.Context, s *Service, a *keyward.Actor, id, ifMatch string, apply func(tx keyward.Tx, next *T) error) (*T, error) {
	if err := require(a, o.write); err != nil {
		return nil, err
	}
	var out *T
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := o.load(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, o.etag(cur)); err != nil {
			return err
		}
		next := *cur
		if err := apply(tx, &next); err != nil {
			return err
		}
		changes := keyward.Diff(o.fields(cur), o.fields(&next))
		if changes == nil {
			out = cur
			return nil
		}
		o.next(&next, s.now())
		if err := o.update(tx, ctx, &next); err != nil {
			return err
		}
		out = &next
		return s.audit(ctx, tx, a, a.AccountID, o.updated, o.target, id, changes)
	})
	return out, err
}

// remove deletes an object of the actor's account (write permission),
// which must match ifMatch when it is given (else 412), with one audit
// event. before runs first in the same transaction: what the deletion
// entails (revoking the keys the object owned) or forbids (an object in
// use); nil for nothing.
func (o *objectKind[T]) remove(ctx context.Context, s *Service, a *keyward.Actor, id, ifMatch string, before func(tx keyward.Tx, cur *T) error) error {
	if err := require(a, o.write); err != nil {
		return err
	}
	return s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := o.load(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, o.etag(cur)); err != nil {
			return err
		}
		if before != nil {
			if err := before(tx, cur); err != nil {
				return err
			}
		}
		if err := o.delete(tx, ctx, a.AccountID, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, a.AccountID, o.deleted, o.target, id, keyward.Diff(o.fields(cur), nil))
	})
}

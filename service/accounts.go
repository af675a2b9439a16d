package service

import (
	"context"

	"github.com/keyward/keyward"
)

// requireOperator fails with 403 unless the actor is an operator key
// holding perm: accounts are managed only by operator keys.
func requireOperator(a *keyward.Actor, perm string) error {
	if !isOperator(a) {
		return &keyward.Error{
			Code:    keyward.ECodePermissionDenied,
			Message: "only operator keys manage accounts: this route needs an operator key with " + perm,
			Details: map[string]any{"missing_permission": perm},
		}
	}
	return require(a, perm)
}

// createAccount creates an account with its template's catalog and roles
// and an audit event, inside tx.
func (s *Service) createAccount(ctx context.Context, tx keyward.Tx, a *keyward.Actor, in *keyward.AccountFields) (*keyward.Account, error) {
	now := s.now()
	acct := &keyward.Account{ID: s.ids.New(keyward.PrefixAccount), CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := keyward.ApplyAccount(acct, in, true); err != nil {
		return nil, err
	}
	resources, roles, _ := keyward.CatalogTemplate(acct.CatalogTemplate, now)
	if err := tx.CreateAccount(ctx, acct); err != nil {
		return nil, err
	}
	for _, r := range resources {
		if err := tx.PutResource(ctx, acct.ID, r); err != nil {
			return nil, err
		}
	}
	for _, r := range roles {
		r.AccountID = acct.ID
		if err := tx.CreateRole(ctx, r); err != nil {
			return nil, err
		}
	}
	return acct, s.audit(ctx, tx, a, acct.ID, keyward.ActionAccountCreated, keyward.TargetAccount, acct.ID,
		keyward.Diff(nil, keyward.AccountFieldMap(acct)))
}

// CreateAccount creates an account (operator keys with accounts:write).
func (s *Service) CreateAccount(ctx context.Context, a *keyward.Actor, in *keyward.AccountFields) (*keyward.Account, error) {
	if err := requireOperator(a, keyward.PermAccountsWrite); err != nil {
		return nil, err
	}
	var acct *keyward.Account
	err := s.store.Write(ctx, func(tx keyward.Tx) (err error) {
		acct, err = s.createAccount(ctx, tx, a, in)
		return err
	})
	return acct, err
}

func loadAccount(ctx context.Context, tx keyward.Tx, id string) (*keyward.Account, error) {
	if !keyward.ValidID(keyward.PrefixAccount, id) {
		return nil, keyward.NotFound("account", id)
	}
	return tx.GetAccount(ctx, id)
}

// GetAccount returns an account (operator keys with accounts:read).
func (s *Service) GetAccount(ctx context.Context, a *keyward.Actor, id string) (*keyward.Account, error) {
	if err := requireOperator(a, keyward.PermAccountsRead); err != nil {
		return nil, err
	}
	var acct *keyward.Account
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		acct, err = loadAccount(ctx, tx, id)
		return err
	})
	return acct, err
}

// ListAccounts returns one page of accounts, newest first.
func (s *Service) ListAccounts(ctx context.Context, a *keyward.Actor, pg keyward.Page) ([]*keyward.Account, bool, error) {
	if err := requireOperator(a, keyward.PermAccountsRead); err != nil {
		return nil, false, err
	}
	var (
		out  []*keyward.Account
		more bool
	)
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		out, more, err = tx.ListAccounts(ctx, &keyward.AccountFilter{Page: pg})
		return err
	})
	return out, more, err
}

// UpdateAccount applies a PATCH to an account's settings. The new policy
// applies to later changes of keys; existing keys are not rewritten.
func (s *Service) UpdateAccount(ctx context.Context, a *keyward.Actor, id string, in *keyward.AccountFields, ifMatch string) (*keyward.Account, error) {
	if err := requireOperator(a, keyward.PermAccountsWrite); err != nil {
		return nil, err
	}
	var out *keyward.Account
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadAccount(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.ETag()); err != nil {
			return err
		}
		next := *cur
		if err := keyward.ApplyAccount(&next, in, false); err != nil {
			return err
		}
		changes := keyward.Diff(keyward.AccountFieldMap(cur), keyward.AccountFieldMap(&next))
		if changes == nil {
			out = cur
			return nil
		}
		next.Version, next.UpdatedAt = cur.Version+1, s.now()
		if err := tx.UpdateAccount(ctx, &next); err != nil {
			return err
		}
		out = &next
		return s.audit(ctx, tx, a, id, keyward.ActionAccountUpdated, keyward.TargetAccount, id, changes)
	})
	return out, err
}

// DeleteAccount deletes an account and everything in it: no key of it
// verifies any more. Its audit events stay in the database (append-only),
// closed by an account.deleted event, but no route reaches them.
func (s *Service) DeleteAccount(ctx context.Context, a *keyward.Actor, id, ifMatch string) error {
	if err := requireOperator(a, keyward.PermAccountsWrite); err != nil {
		return err
	}
	return s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadAccount(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.ETag()); err != nil {
			return err
		}
		if err := tx.DeleteAccount(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, id, keyward.ActionAccountDeleted, keyward.TargetAccount, id, keyward.Diff(keyward.AccountFieldMap(cur), nil))
	})
}

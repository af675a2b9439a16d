package service

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// Bootstrap prepares an empty database: it creates the account "default"
// (catalog template default) and an operator management key holding every
// management permission, and returns that key's secret. On a database that
// has any account or management key it does nothing and returns a zero
// token, so a restart never mints a second operator key; of several nodes
// starting together on an empty shared database, exactly one bootstraps.
func (s *Service) Bootstrap(ctx context.Context) (*keyward.Key, keyward.Token, error) {
	return s.BootstrapWith(ctx, nil)
}

// BootstrapWith is Bootstrap that hands the new key and its secret to keep
// inside the bootstrap's transaction, before it commits: if keep fails,
// nothing is committed and BootstrapWith fails, so a secret that could
// not be kept (a key file that cannot be written) never becomes a key. On
// a database that needs no bootstrap keep is not called. keep may run
// again if the database retries the transaction; only the last run's key
// is committed.
func (s *Service) BootstrapWith(ctx context.Context, keep func(*keyward.Key, keyward.Token) error) (*keyward.Key, keyward.Token, error) {
	system := &keyward.Actor{RequestID: "bootstrap", Dialect: "system"}
	var (
		k   *keyward.Key
		tok keyward.Token
	)
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		accts, _, err := tx.ListAccounts(ctx, &keyward.AccountFilter{Page: keyward.Page{Limit: 1}})
		if err != nil || len(accts) > 0 {
			return err
		}
		mk, _, err := tx.ListKeys(ctx, &keyward.KeyFilter{Page: keyward.Page{Limit: 1}, Kind: keyward.KindManagement})
		if err != nil || len(mk) > 0 {
			return err
		}
		acct, err := s.createAccount(ctx, tx, system, &keyward.AccountFields{Name: keyward.Some(keyward.DefaultAccountName)})
		if err != nil {
			return err
		}
		k = &keyward.Key{
			Kind:        keyward.KindManagement,
			Operator:    true,
			Name:        "bootstrap operator key",
			Status:      keyward.StatusActive,
			Prefix:      keyward.DefaultManagementPrefix,
			Owner:       keyward.Owner{Type: keyward.OwnerAccount, ID: acct.ID},
			Permissions: keyward.AllManagementPermissions(),
		}
		if tok, err = s.newToken(k.Prefix); err != nil {
			return err
		}
		s.stamp(k, system, tok)
		if err := tx.CreateKey(ctx, k, tok.Hash()); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, system, acct.ID, keyward.ActionMgmtKeyCreated, keyward.TargetManagementKey, k.ID,
			keyward.Diff(nil, keyward.KeyFieldMap(k))); err != nil {
			return err
		}
		if keep != nil {
			return keep(k, tok)
		}
		return nil
	})
	if keyward.ErrorCode(err) == keyward.ECodeDuplicate {
		// Another node sharing the database bootstrapped it at the same
		// moment; its transaction won and this one rolled back entirely.
		return nil, keyward.Token{}, nil
	}
	if err != nil {
		return nil, keyward.Token{}, err
	}
	return k, tok, nil
}

// CheckMasterKey fails if recoverable secrets exist that the server's
// master key does not open (a wrong or rotated master key): better to refuse
// to start than to fail every reveal later.
func (s *Service) CheckMasterKey(ctx context.Context) error {
	if s.master == nil {
		return nil
	}
	var (
		id     string
		sealed []byte
	)
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		id, sealed, err = tx.SampleSealedSecret(ctx)
		return err
	})
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := s.master.Open(id, sealed); err != nil {
		return fmt.Errorf("the master key does not open the recoverable secrets in this database (key %s): start keyward with the master key they were sealed with", id)
	}
	return nil
}

// SystemActor returns the actor of keyward itself acting on an account,
// named by id or by name: what the admin commands use, with every
// permission. It fails with not_found for an unknown account.
func (s *Service) SystemActor(ctx context.Context, account, requestID string) (*keyward.Actor, error) {
	var acct *keyward.Account
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		if keyward.ValidID(keyward.PrefixAccount, account) {
			acct, err = tx.GetAccount(ctx, account)
		} else {
			acct, err = tx.GetAccountByName(ctx, account)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &keyward.Actor{AccountID: acct.ID, RequestID: requestID, Dialect: "admin"}, nil
}

// PolicyExpiry returns the expiry a key made now in the actor's account
// must have under the account's policy, and whether it needs one: want, or
// less if the account's max_key_lifetime is shorter.
func (s *Service) PolicyExpiry(ctx context.Context, a *keyward.Actor, want time.Duration) (time.Time, bool, error) {
	var acct *keyward.Account
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		acct, err = tx.GetAccount(ctx, a.AccountID)
		return err
	})
	if err != nil || (!acct.RequireExpiry && acct.MaxKeyLifetime == nil) {
		return time.Time{}, false, err
	}
	if acct.MaxKeyLifetime != nil {
		want = min(want, time.Duration(*acct.MaxKeyLifetime)*time.Second)
	}
	return s.now().Add(want), true, nil
}

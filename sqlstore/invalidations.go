package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/keyward/keyward"
)

// The invalidations of a write are derived from the write itself: every
// Tx method that changes something verification reads records what it
// made stale, so no caller can forget to (a role created without telling
// the caches once made the role grant nothing until some unrelated
// change). What verification reads, and the invalidation each change
// records:
//
//	keys and their secrets   CreateKey: the new secret's hash (a cached "unknown token");
//	                         UpdateKey, DeleteKey: the key;
//	                         RotateKeySecret: the key and the new hash
//	users, service accounts  create, update, delete: the owner
//	roles, catalog resources create, update, delete: the account (every key's power)
//	accounts                 create, update, delete: the account
//
// Projects are not read by verification (a key carries its project id;
// deleting a project revokes its keys, which is UpdateKey); usage
// (TouchKeys) and credit leases (SetCreditPool) are this node's own
// bookkeeping, not what a cached answer depends on.

func (t *Tx) keyChanged(ctx context.Context, id, account string) error {
	return t.Invalidate(ctx, keyward.Invalidation{Kind: keyward.InvalidateKey, ID: id, Account: account})
}

func (t *Tx) hashTaken(ctx context.Context, h keyward.TokenHash) error {
	return t.Invalidate(ctx, keyward.Invalidation{Kind: keyward.InvalidateHash, ID: h.String()})
}

func (t *Tx) ownerChanged(ctx context.Context, id, account string) error {
	return t.Invalidate(ctx, keyward.Invalidation{Kind: keyward.InvalidateOwner, ID: id, Account: account})
}

func (t *Tx) accountChanged(ctx context.Context, id string) error {
	return t.Invalidate(ctx, keyward.Invalidation{Kind: keyward.InvalidateAccount, ID: id, Account: id})
}

// keyAccount returns the account of a key by id, for the invalidation of
// a writer that takes only the id: "" for an operator key, which has none,
// and for a key that does not exist (the change that follows reports that).
func (t *Tx) keyAccount(ctx context.Context, id string) (string, error) {
	var account sql.Null[string]
	err := t.queryRow(ctx, `SELECT account_id FROM keys WHERE id = ?`, id).Scan(&account)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", t.s.classify(err)
	}
	return account.V, nil
}

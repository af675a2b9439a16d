package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

// A key's usage (last_used_at, verifications) is written behind every few
// seconds. Where the store has a usage database of its own (SQLite's usage
// file, SetUsageDB), it lives there in key_usage, and the key database's
// handles see that table under the same name (the usage file is attached
// to their connections, read-only): the reads of keys LEFT JOIN it, and no
// write-behind commit ever touches the keys' file, so it never empties the
// page cache of the connections that read keys. Elsewhere (PostgreSQL) it
// stays in the keys table's columns.
//
// The writes to key_usage run on the usage handle after the key
// database's transaction committed (Tx.afterCommit): TouchKeys, the usage
// of a key created with some (an import), and the removal of a deleted
// key's or account's rows. The usage handle sees the keys under their
// name too (the keys' file is attached to it, read-only), so a touch of a
// key that no longer exists writes nothing.

// keyUsageColumns is what the reads of keys select of their usage, and from what.
func (s *Store) keyUsageColumns() (cols, from string) {
	if s.usageWrite != nil {
		return `u.last_used_at, COALESCE(u.verifications, 0)`, ` FROM keys k LEFT JOIN key_usage u ON u.key_id = k.id`
	}
	return `k.last_used_at, k.verifications`, ` FROM keys k`
}

// keySelect is "SELECT <the key's columns> FROM keys k …".
func (s *Store) keySelect() string {
	cols, from := s.keyUsageColumns()
	return `SELECT ` + keyColumns + `, ` + cols + from
}

// usageApart reports whether key usage lives in the usage database.
func (s *Store) usageApart() bool { return s.usageWrite != nil }

const (
	qTouchKeyColumns = `UPDATE keys SET verifications = verifications + ?,
		last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < ? THEN ? ELSE last_used_at END WHERE id = ?`
	// qTouchKeyUsage inserts nothing for a key that does not exist.
	qTouchKeyUsage = `INSERT INTO key_usage (key_id, account_id, verifications, last_used_at)
		SELECT id, account_id, ?, ? FROM keys WHERE id = ?
		ON CONFLICT (key_id) DO UPDATE SET verifications = key_usage.verifications + excluded.verifications,
		last_used_at = CASE WHEN key_usage.last_used_at IS NULL OR key_usage.last_used_at < excluded.last_used_at
			THEN excluded.last_used_at ELSE key_usage.last_used_at END`
)

// TouchKeys implements keyward.Tx. The write-behind calls it with every
// key used in an interval (thousands under load): one statement, prepared
// once, run per key. Where usage lives apart it is written when the
// transaction has committed, before Write returns (its error is Write's).
func (t *Tx) TouchKeys(ctx context.Context, usage map[string]keyward.KeyUsage) error {
	if len(usage) == 0 {
		return nil
	}
	if !t.writable {
		return keyward.Internal(errors.New("write inside a read transaction"))
	}
	if t.s.usageApart() {
		t.afterCommit(true, func(ctx context.Context, tx *sql.Tx) error { return touchUsage(ctx, t.s, tx, qTouchKeyUsage, usage) })
		return nil
	}
	return touchUsage(ctx, t.s, t.tx, qTouchKeyColumns, usage)
}

func touchUsage(ctx context.Context, s *Store, tx *sql.Tx, query string, usage map[string]keyward.KeyUsage) error {
	st, err := tx.PrepareContext(ctx, s.q(query))
	if err != nil {
		return s.classify(err)
	}
	defer st.Close()
	for id, u := range usage {
		var err error
		if at := msPtr(nonZero(u.LastUsed)); query == qTouchKeyColumns {
			_, err = st.ExecContext(ctx, u.Verifications, at, at, id)
		} else {
			_, err = st.ExecContext(ctx, u.Verifications, at, id)
		}
		if err != nil {
			return s.classify(err)
		}
	}
	return nil
}

func nonZero(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// afterCommit queues work on the usage database for when the transaction
// has committed: must work fails Write; other work (removing the usage of
// deleted keys, which a key id never reused makes harmless to keep) only
// is tried.
func (t *Tx) afterCommit(must bool, fn func(context.Context, *sql.Tx) error) {
	t.after = append(t.after, afterWork{must: must, fn: fn})
}

type afterWork struct {
	must bool
	fn   func(context.Context, *sql.Tx) error
}

// runAfter runs the work queued by a committed transaction, in one
// transaction of the usage database.
func (s *Store) runAfter(ctx context.Context, work []afterWork) error {
	if len(work) == 0 {
		return nil
	}
	must := false
	for _, w := range work {
		must = must || w.must
	}
	err := func() error {
		tx, err := s.usageWrite.BeginTx(ctx, nil)
		if err != nil {
			return s.classify(err)
		}
		defer tx.Rollback()
		for _, w := range work {
			if err := w.fn(ctx, tx); err != nil {
				return err
			}
		}
		return s.classify(tx.Commit())
	}()
	if !must {
		return nil
	}
	return err
}

// keyUsageCreated writes the usage a key is created with (an import), where
// usage lives apart.
func (t *Tx) keyUsageCreated(k *keyward.Key) {
	if !t.s.usageApart() || (k.LastUsedAt == nil && k.Verifications == 0) {
		return
	}
	u := keyward.KeyUsage{Verifications: k.Verifications}
	if k.LastUsedAt != nil {
		u.LastUsed = *k.LastUsedAt
	}
	t.afterCommit(true, func(ctx context.Context, tx *sql.Tx) error {
		return touchUsage(ctx, t.s, tx, qTouchKeyUsage, map[string]keyward.KeyUsage{k.ID: u})
	})
}

// keyUsageGone removes the usage of a deleted key (column "key_id") or of
// an account's keys ("account_id"), where usage lives apart.
func (t *Tx) keyUsageGone(column, id string) {
	if !t.s.usageApart() {
		return
	}
	t.afterCommit(false, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, t.s.q(`DELETE FROM key_usage WHERE `+column+` = ?`), id)
		return err
	})
}

package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward"
)

const keyColumns = `k.id, k.account_id, k.kind, k.operator, k.name, k.description, k.status, k.prefix, k.start, k.last4,
	k.owner_type, k.owner_id, k.project_id, k.permission_mode, k.scopes, k.roles, k.permissions,
	k.expires_at, k.metadata, k.ip_allowlist, k.rate_limit, k.credits, k.recoverable, k.secret_sealed, k.legacy_key_id,
	k.created_at, k.updated_at, k.created_by_id, k.updated_by_id, k.rotated_at, k.version,
	k.credits_remaining, k.credits_period_start, k.credits_epoch`

// keyColumns are followed by the key's usage: last_used_at and
// verifications (see keyUsageColumns).

type scanner interface{ Scan(dest ...any) error }

func scanKey(row scanner, extra ...any) (*keyward.Key, error) {
	var (
		k                                              keyward.Key
		accountID, description, projectID, mode        sql.Null[string]
		scopes, roles, perms, metadata, ipList, rl, cr sql.Null[string]
		legacy                                         sql.Null[string]
		expires, lastUsed, rotated                     sql.Null[int64]
		created, updated                               int64
		creditsLeft, creditsPeriod                     sql.Null[int64]
		creditsEpoch                                   int64
	)
	dest := []any{&k.ID, &accountID, &k.Kind, &k.Operator, &k.Name, &description, &k.Status, &k.Prefix, &k.Start, &k.Last4,
		&k.Owner.Type, &k.Owner.ID, &projectID, &mode, &scopes, &roles, &perms,
		&expires, &metadata, &ipList, &rl, &cr, &k.Recoverable, &k.SealedSecret, &legacy,
		&created, &updated, &k.CreatedByID, &k.UpdatedByID, &rotated, &k.Version,
		&creditsLeft, &creditsPeriod, &creditsEpoch, &lastUsed, &k.Verifications}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	k.AccountID = accountID.V
	k.Description = fromNull(description)
	k.ProjectID = fromNull(projectID)
	k.PermissionMode = keyward.PermissionMode(mode.V)
	k.LegacyKeyID = fromNull(legacy)
	k.ExpiresAt = fromNullMs(expires)
	k.LastUsedAt = fromNullMs(lastUsed)
	k.RotatedAt = fromNullMs(rotated)
	k.CreatedAt, k.UpdatedAt = fromMs(created), fromMs(updated)
	var credits *creditSettings
	for _, c := range []struct {
		col sql.Null[string]
		dst any
	}{{scopes, &k.Scopes}, {roles, &k.Roles}, {perms, &k.Permissions}, {metadata, &k.Metadata}, {ipList, &k.IPAllowlist}, {rl, &k.RateLimit}, {cr, &credits}} {
		if err := decodeJSON(c.col, c.dst); err != nil {
			return nil, err
		}
	}
	if credits != nil {
		k.Credits = &keyward.Credits{Refill: credits.Refill, Remaining: creditsLeft.V, Epoch: creditsEpoch}
		if creditsPeriod.Valid {
			k.Credits.PeriodStart = fromMs(creditsPeriod.V)
		}
	}
	return &k, nil
}

// creditSettings is what the credits column holds: the refill settings.
// The pool itself (remaining, period, epoch) has columns of its own so
// leases can update it atomically.
type creditSettings struct {
	Refill *keyward.Refill `json:"refill"`
}

// keyArgs returns the values of the mutable and immutable columns, in the
// order of the INSERT below, then of the usage columns (last_used_at,
// verifications), which UpdateKey leaves alone. Where usage lives apart
// (usageApart), the keys' usage columns stay NULL and 0.
func keyArgs(k *keyward.Key, usageApart bool) ([]any, error) {
	var (
		enc                        [7]any
		credits                    *creditSettings
		creditsLeft, creditsPeriod any
		creditsEpoch               int64
	)
	if c := k.Credits; c != nil {
		credits = &creditSettings{Refill: c.Refill}
		creditsLeft, creditsEpoch = c.Remaining, c.Epoch
		if !c.PeriodStart.IsZero() {
			creditsPeriod = ms(c.PeriodStart)
		}
	}
	for i, v := range []any{k.Scopes, k.Roles, k.Permissions, k.Metadata, k.IPAllowlist, k.RateLimit, credits} {
		e, err := jsonOrNull(v)
		if err != nil {
			return nil, err
		}
		enc[i] = e
	}
	lastUsed, verifications := msPtr(k.LastUsedAt), k.Verifications
	if usageApart {
		lastUsed, verifications = nil, 0
	}
	return []any{nullIfEmpty(k.AccountID), string(k.Kind), k.Operator, k.Name, fold(k.Name), orNull(k.Description), string(k.Status),
		k.Prefix, k.Start, k.Last4, string(k.Owner.Type), k.Owner.ID, orNull(k.ProjectID), nullIfEmpty(string(k.PermissionMode)),
		enc[0], enc[1], enc[2], msPtr(k.ExpiresAt), enc[3], enc[4], enc[5], enc[6], k.Recoverable, sealed(k.SealedSecret), orNull(k.LegacyKeyID),
		ms(k.CreatedAt), ms(k.UpdatedAt), k.CreatedByID, k.UpdatedByID, msPtr(k.RotatedAt), k.Version,
		creditsLeft, creditsPeriod, creditsEpoch, lastUsed, verifications}, nil
}

// fold is the case folding used for name search.
func fold(s string) string { return strings.ToLower(s) }

// secretTaken is taken for a key's secret.
func (t *Tx) secretTaken(err error) error {
	return t.taken(err, "a key with this secret already exists")
}

// CreateKey implements keyward.Tx.
func (t *Tx) CreateKey(ctx context.Context, k *keyward.Key, hash keyward.TokenHash) error {
	args, err := keyArgs(k, t.s.usageApart())
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO keys (id, account_id, kind, operator, name, name_fold, description, status,
		prefix, start, last4, owner_type, owner_id, project_id, permission_mode, scopes, roles, permissions,
		expires_at, metadata, ip_allowlist, rate_limit, credits, recoverable, secret_sealed, legacy_key_id,
		created_at, updated_at, created_by_id, updated_by_id, rotated_at, version,
		credits_remaining, credits_period_start, credits_epoch, last_used_at, verifications)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		append([]any{k.ID}, args...)...)
	if err := t.taken(err, "key %s already exists", k.ID); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `INSERT INTO key_secrets (hash, key_id, created_at, valid_until) VALUES (?, ?, ?, NULL)`,
		hash[:], k.ID, ms(k.CreatedAt)); err != nil {
		return t.secretTaken(err)
	}
	if err := t.indexKey(ctx, k, false); err != nil {
		return err
	}
	t.keyUsageCreated(k)
	return t.hashTaken(ctx, hash)
}

// indexKey maintains key_resources and key_roles, the side tables the
// resource and role filters and the in-use checks use.
func (t *Tx) indexKey(ctx context.Context, k *keyward.Key, replace bool) error {
	if replace {
		for _, q := range []string{`DELETE FROM key_resources WHERE key_id = ?`, `DELETE FROM key_roles WHERE key_id = ?`} {
			if _, err := t.exec(ctx, q, k.ID); err != nil {
				return err
			}
		}
	}
	for _, role := range k.Roles {
		if _, err := t.exec(ctx, `INSERT INTO key_roles (key_id, account_id, role) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			k.ID, nullIfEmpty(k.AccountID), role); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, s := range k.Scopes {
		if seen[s.Resource] {
			continue
		}
		seen[s.Resource] = true
		if _, err := t.exec(ctx, `INSERT INTO key_resources (key_id, account_id, resource) VALUES (?, ?, ?)`,
			k.ID, nullIfEmpty(k.AccountID), s.Resource); err != nil {
			return err
		}
	}
	return nil
}

// GetKey implements keyward.Tx.
func (t *Tx) GetKey(ctx context.Context, accountID, id string) (*keyward.Key, error) {
	return t.getKey(ctx, id, `k.account_id = ?`, accountID)
}

// GetOperatorKey implements keyward.Tx.
func (t *Tx) GetOperatorKey(ctx context.Context, id string) (*keyward.Key, error) {
	return t.getKey(ctx, id, `k.operator AND k.account_id IS NULL`)
}

// getKey returns the key with the id if it also meets the condition scope
// (with its arguments), else not_found.
func (t *Tx) getKey(ctx context.Context, id, scope string, args ...any) (*keyward.Key, error) {
	return scanOne(t, t.queryRow(ctx, t.s.keySelect()+` WHERE k.id = ? AND `+scope+t.lock(), append([]any{id}, args...)...),
		scanKeyRow, "key", id)
}

// UpdateKey implements keyward.Tx.
func (t *Tx) UpdateKey(ctx context.Context, k *keyward.Key) error {
	args, err := keyArgs(k, t.s.usageApart())
	if err != nil {
		return err
	}
	r, err := t.exec(ctx, `UPDATE keys SET account_id = ?, kind = ?, operator = ?, name = ?, name_fold = ?, description = ?,
		status = ?, prefix = ?, start = ?, last4 = ?, owner_type = ?, owner_id = ?, project_id = ?, permission_mode = ?,
		scopes = ?, roles = ?, permissions = ?, expires_at = ?, metadata = ?, ip_allowlist = ?, rate_limit = ?,
		credits = ?, recoverable = ?, secret_sealed = ?, legacy_key_id = ?, created_at = ?, updated_at = ?, created_by_id = ?,
		updated_by_id = ?, rotated_at = ?, version = ?,
		credits_remaining = ?, credits_period_start = ?, credits_epoch = ?
		WHERE id = ? AND version = ?`, append(args[:len(args)-2], k.ID, k.Version-1)...)
	if err := mustAffect(r, err, conflictErr("key", k.ID)); err != nil {
		return err
	}
	if err := t.indexKey(ctx, k, true); err != nil {
		return err
	}
	return t.keyChanged(ctx, k.ID, k.AccountID)
}

// DeleteKey implements keyward.Tx.
func (t *Tx) DeleteKey(ctx context.Context, id string) error {
	account, err := t.keyAccount(ctx, id)
	if err != nil {
		return err
	}
	for _, q := range []string{`DELETE FROM key_secrets WHERE key_id = ?`, `DELETE FROM key_resources WHERE key_id = ?`, `DELETE FROM key_roles WHERE key_id = ?`} {
		if _, err := t.exec(ctx, q, id); err != nil {
			return err
		}
	}
	r, err := t.exec(ctx, `DELETE FROM keys WHERE id = ?`, id)
	if err := mustAffect(r, err, keyward.NotFound("key", id)); err != nil {
		return err
	}
	t.keyUsageGone("key_id", id)
	return t.keyChanged(ctx, id, account)
}

// ListKeys implements keyward.Tx.
func (t *Tx) ListKeys(ctx context.Context, f *keyward.KeyFilter) ([]*keyward.Key, bool, error) {
	c := &conds{}
	c.addText("k.kind = ?", string(f.Kind))
	switch {
	case f.AccountID != "" && f.IncludeOperator:
		c.add("(k.account_id = ? OR (k.operator AND k.account_id IS NULL))", f.AccountID)
	case f.AccountID != "":
		c.add("k.account_id = ?", f.AccountID)
	}
	c.addText("k.status = ?", string(f.Status))
	c.addText("k.owner_type = ?", string(f.OwnerType))
	c.addText("k.owner_id = ?", f.OwnerID)
	c.addText("k.project_id = ?", f.ProjectID)
	c.addText("k.permission_mode = ?", string(f.PermissionMode))
	c.addText("EXISTS (SELECT 1 FROM key_resources r WHERE r.key_id = k.id AND r.resource = ?)", f.Resource)
	c.addText("EXISTS (SELECT 1 FROM key_roles r WHERE r.key_id = k.id AND r.role = ?)", f.Role)
	if f.Search != "" {
		s := fold(f.Search)
		c.add(`k.name_fold LIKE ? ESCAPE '\'`, likePattern(s))
		if err := t.searchCandidates(ctx, c, s); err != nil {
			return nil, false, err
		}
	}
	if f.Expired != nil {
		if *f.Expired {
			c.add("(k.expires_at IS NOT NULL AND k.expires_at <= ?)", ms(f.Now))
		} else {
			c.add("(k.expires_at IS NULL OR k.expires_at > ?)", ms(f.Now))
		}
	}
	c.addTime("k.created_at > ?", f.CreatedAfter)
	c.addTime("k.created_at < ?", f.CreatedBefore)
	// A window (both bounds) is read from the index keys_expires; one
	// bound alone usually matches most keys, which are then better found
	// in the order of the page (the unary + keeps the planner off the
	// index).
	expires := "k.expires_at"
	if f.ExpiresAfter == nil || f.ExpiresBefore == nil {
		expires = "+k.expires_at"
	}
	c.addTime(expires+" > ?", f.ExpiresAfter)
	c.addTime(expires+" < ?", f.ExpiresBefore)
	lastUsed := "k.last_used_at"
	if t.s.usageApart() {
		lastUsed = "u.last_used_at"
	}
	c.addTime("("+lastUsed+" IS NULL OR "+lastUsed+" < ?)", f.LastUsedBefore)
	return listPage(ctx, t, t.s.keySelect(), c, f.Page, "k.id", scanKeyRow)
}

const expiringKeysWhere = ` WHERE k.account_id = ? AND k.kind = ? AND k.expires_at > ? AND k.expires_at < ?
	AND k.status = 'active' ORDER BY k.expires_at, k.id LIMIT ?`

// ExpiringKeys implements keyward.Tx: read from keys_expires (account,
// kind, expiry) in expiry order, stopping at the limit.
func (t *Tx) ExpiringKeys(ctx context.Context, accountID string, kind keyward.KeyKind, after, before time.Time, limit int) ([]*keyward.Key, error) {
	rows, err := t.query(ctx, t.s.keySelect()+expiringKeysWhere, t.s.dialect.PlanWith([]any{accountID, string(kind), ms(after), ms(before), limit})...)
	if err != nil {
		return nil, err
	}
	return scanAll(t, rows, scanKeyRow)
}

// maxSearchCandidates bounds the keys the trigram index may hand the key
// list (all accounts together). A search that matches more is common
// enough that the list, read in its own order, finds a page sooner.
const maxSearchCandidates = 2000

// searchCandidatesCond keeps the keys of the documents listed in its
// argument, a JSON array of key_search.doc numbers.
const searchCandidatesCond = `k.id IN (SELECT s.key_id FROM json_each(?) j JOIN key_search s ON s.doc = j.value)`

// searchCandidates narrows a key search (s, folded) on SQLite to the keys
// whose names the trigram index keys_fts (migration 11) says contain s,
// when they are at most maxSearchCandidates: their document numbers are
// read once and handed to the list query as a JSON array. The LIKE on
// name_fold still decides each key. A substring shorter than a trigram,
// or one that many names contain, is left to that LIKE over the list's
// own order. PostgreSQL needs no help: its planner chooses pg_trgm's index
// (migration 11) for the LIKE by itself, from its statistics.
func (t *Tx) searchCandidates(ctx context.Context, c *conds, s string) error {
	if t.s.dialect.Name() != "sqlite" || utf8.RuneCountInString(s) < 3 {
		return nil
	}
	phrase := `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	rows, err := t.query(ctx, `SELECT rowid FROM keys_fts WHERE keys_fts MATCH ? LIMIT ?`, phrase, maxSearchCandidates+1)
	if err != nil {
		return err
	}
	defer rows.Close()
	docs := make([]byte, 0, 64)
	docs = append(docs, '[')
	n := 0
	for rows.Next() {
		var doc int64
		if err := rows.Scan(&doc); err != nil {
			return t.s.classify(err)
		}
		if n++; n > maxSearchCandidates {
			return nil
		}
		if n > 1 {
			docs = append(docs, ',')
		}
		docs = strconv.AppendInt(docs, doc, 10)
	}
	if err := rows.Err(); err != nil {
		return t.s.classify(err)
	}
	c.add(searchCandidatesCond, string(append(docs, ']')))
	return nil
}

// FindKeyByHash implements keyward.Tx.
func (t *Tx) FindKeyByHash(ctx context.Context, h keyward.TokenHash) (*keyward.KeyMatch, error) {
	var validUntil sql.Null[int64]
	k, err := scanKey(t.hotQueryRow(ctx, qKeyBySecret, h[:]), &validUntil)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.Errorf(keyward.ECodeNotFound, "no key has this secret")
	}
	if err != nil {
		return nil, t.s.classify(err)
	}
	return &keyward.KeyMatch{Key: k, ValidUntil: fromNullMs(validUntil)}, nil
}

// RotateKeySecret implements keyward.Tx. Every earlier secret still valid
// past oldValidUntil is cut to it, so rotating with no grace period ends
// every old secret at once.
func (t *Tx) RotateKeySecret(ctx context.Context, keyID string, hash keyward.TokenHash, now, oldValidUntil time.Time) error {
	if _, err := t.exec(ctx, `UPDATE key_secrets SET valid_until = ? WHERE key_id = ? AND (valid_until IS NULL OR valid_until > ?)`,
		ms(oldValidUntil), keyID, ms(oldValidUntil)); err != nil {
		return err
	}
	_, err := t.exec(ctx, `INSERT INTO key_secrets (hash, key_id, created_at, valid_until) VALUES (?, ?, ?, NULL)`, hash[:], keyID, ms(now))
	if err := t.secretTaken(err); err != nil {
		return err
	}
	account, err := t.keyAccount(ctx, keyID)
	if err != nil {
		return err
	}
	if err := t.keyChanged(ctx, keyID, account); err != nil {
		return err
	}
	return t.hashTaken(ctx, hash)
}

// SetCreditPool implements keyward.Tx.
func (t *Tx) SetCreditPool(ctx context.Context, keyID string, pool keyward.CreditPool) error {
	var period any
	if !pool.PeriodStart.IsZero() {
		period = ms(pool.PeriodStart)
	}
	r, err := t.exec(ctx, `UPDATE keys SET credits_remaining = ?, credits_period_start = ?, credits_epoch = ? WHERE id = ?`,
		pool.Remaining, period, pool.Epoch, keyID)
	return mustAffect(r, err, keyward.NotFound("key", keyID))
}

// KeysInProject implements keyward.Tx.
func (t *Tx) KeysInProject(ctx context.Context, accountID, projectID string) ([]*keyward.Key, error) {
	rows, err := t.query(ctx, t.s.keySelect()+` WHERE k.account_id = ? AND k.project_id = ? AND k.status <> 'revoked' ORDER BY k.id`+t.lock(),
		accountID, projectID)
	if err != nil {
		return nil, err
	}
	return scanAll(t, rows, scanKeyRow)
}

// KeysUsingResource implements keyward.Tx.
func (t *Tx) KeysUsingResource(ctx context.Context, accountID, resourceID string, limit int) ([]string, error) {
	rows, err := t.query(ctx, `SELECT key_id FROM key_resources WHERE account_id = ? AND resource = ? ORDER BY key_id LIMIT ?`,
		accountID, resourceID, limit)
	if err != nil {
		return nil, err
	}
	return scanIDs(t, rows)
}

// KeysWithRole implements keyward.Tx.
func (t *Tx) KeysWithRole(ctx context.Context, accountID, role string, limit int) ([]string, error) {
	rows, err := t.query(ctx, `SELECT r.key_id FROM key_roles r JOIN keys k ON k.id = r.key_id
		WHERE r.account_id = ? AND r.role = ? AND k.status <> 'revoked' ORDER BY r.key_id LIMIT ?`, accountID, role, limit)
	if err != nil {
		return nil, err
	}
	return scanIDs(t, rows)
}

// KeysOwnedBy implements keyward.Tx.
func (t *Tx) KeysOwnedBy(ctx context.Context, accountID string, o keyward.Owner) ([]*keyward.Key, error) {
	rows, err := t.query(ctx, t.s.keySelect()+` WHERE k.account_id = ? AND k.owner_type = ? AND k.owner_id = ?
		AND k.status <> 'revoked' ORDER BY k.id`+t.lock(), accountID, string(o.Type), o.ID)
	if err != nil {
		return nil, err
	}
	return scanAll(t, rows, scanKeyRow)
}

// scanKeyRow is scanKey of a row with only the key's columns.
func scanKeyRow(row scanner) (*keyward.Key, error) { return scanKey(row) }

func scanIDs(t *Tx, rows *sql.Rows) ([]string, error) {
	return scanAll(t, rows, func(row scanner) (id string, err error) {
		err = row.Scan(&id)
		return id, err
	})
}

// sealed stores an empty sealed secret as NULL.
func sealed(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// SampleSealedSecret implements keyward.Tx.
func (t *Tx) SampleSealedSecret(ctx context.Context) (string, []byte, error) {
	var (
		id     string
		sealed []byte
	)
	err := t.queryRow(ctx, `SELECT id, secret_sealed FROM keys WHERE secret_sealed IS NOT NULL ORDER BY id LIMIT 1`).Scan(&id, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, keyward.Errorf(keyward.ECodeNotFound, "no recoverable key")
	}
	if err != nil {
		return "", nil, t.s.classify(err)
	}
	return id, sealed, nil
}

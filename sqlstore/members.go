package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// UpdateAccount implements keyward.Tx.
func (t *Tx) UpdateAccount(ctx context.Context, a *keyward.Account) error {
	r, err := t.exec(ctx, `UPDATE accounts SET name = ?, default_prefix = ?, catalog_template = ?, default_permission_mode = ?,
		max_key_lifetime = ?, require_expiry = ?, default_key_lifetime = ?, updated_at = ?, version = ?
		WHERE id = ? AND version = ?`,
		a.Name, a.DefaultPrefix, a.CatalogTemplate, string(a.DefaultPermissionMode), orNull(a.MaxKeyLifetime),
		a.RequireExpiry, orNull(a.DefaultKeyLifetime), ms(a.UpdatedAt), a.Version, a.ID, a.Version-1)
	if err := mustAffect(r, t.taken(err, "an account named %q already exists", a.Name), conflictErr("account", a.ID)); err != nil {
		return err
	}
	return t.accountChanged(ctx, a.ID)
}

// DeleteAccount implements keyward.Tx. Foreign keys cascade to everything
// the account holds; idempotency records are keyed by a scope that starts
// with the account id.
func (t *Tx) DeleteAccount(ctx context.Context, id string) error {
	if _, err := t.exec(ctx, `DELETE FROM idempotency_keys WHERE scope LIKE ? ESCAPE '\'`, likePrefix(id+":")); err != nil {
		return err
	}
	r, err := t.exec(ctx, `DELETE FROM accounts WHERE id = ?`, id)
	if err := mustAffect(r, err, keyward.NotFound("account", id)); err != nil {
		return err
	}
	t.keyUsageGone("account_id", id)
	return t.accountChanged(ctx, id)
}

// likePrefix returns a LIKE pattern matching strings that start with s.
func likePrefix(s string) string {
	return strings.TrimSuffix(likePattern(s), "%")[1:] + "%"
}

const userColumns = `id, account_id, external_id, email, name, roles, status, created_at, updated_at, version`

func scanUser(row scanner) (*keyward.User, error) {
	var (
		u                keyward.User
		ext, email, name sql.Null[string]
		roles            string
		created, updated int64
	)
	if err := row.Scan(&u.ID, &u.AccountID, &ext, &email, &name, &roles, &u.Status, &created, &updated, &u.Version); err != nil {
		return nil, err
	}
	u.ExternalID, u.Email, u.Name = fromNull(ext), fromNull(email), fromNull(name)
	u.CreatedAt, u.UpdatedAt = fromMs(created), fromMs(updated)
	if err := json.Unmarshal([]byte(roles), &u.Roles); err != nil {
		return nil, keyward.Internal(err)
	}
	return &u, nil
}

// listJSON is a list column's JSON: [] for none.
func listJSON[T any](list []T) (string, error) {
	if list == nil {
		list = []T{}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", keyward.Internal(err)
	}
	return string(b), nil
}

// CreateUser implements keyward.Tx.
func (t *Tx) CreateUser(ctx context.Context, u *keyward.User) error {
	roles, err := listJSON(u.Roles)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO users (`+userColumns+`, search_fold) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.AccountID, orNull(u.ExternalID), orNull(u.Email), orNull(u.Name), roles, string(u.Status),
		ms(u.CreatedAt), ms(u.UpdatedAt), u.Version, userFold(u))
	if err := t.userTaken(err, u); err != nil {
		return err
	}
	return t.ownerChanged(ctx, u.ID, u.AccountID)
}

// userFold is the folded text the user search matches: name and email,
// on two lines (neither may hold a newline), so a search cannot match
// across the two; a NUL would end the text for SQLite's LIKE.
func userFold(u *keyward.User) string {
	return fold(deref(u.Name)) + "\n" + fold(deref(u.Email))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// GetUser implements keyward.Tx.
func (t *Tx) GetUser(ctx context.Context, accountID, id string) (*keyward.User, error) {
	return scanOne(t, t.hotQueryRow(ctx, qUser+t.lock(), id, accountID), scanUser, "user", id)
}

// userTaken is taken for a user's external_id.
func (t *Tx) userTaken(err error, u *keyward.User) error {
	return t.taken(err, "a user with external_id %q already exists in this account", deref(u.ExternalID))
}

// UpdateUser implements keyward.Tx.
func (t *Tx) UpdateUser(ctx context.Context, u *keyward.User) error {
	roles, err := listJSON(u.Roles)
	if err != nil {
		return err
	}
	r, err := t.exec(ctx, `UPDATE users SET external_id = ?, email = ?, name = ?, roles = ?, status = ?, updated_at = ?, version = ?,
		search_fold = ? WHERE id = ? AND version = ?`, orNull(u.ExternalID), orNull(u.Email), orNull(u.Name), roles, string(u.Status),
		ms(u.UpdatedAt), u.Version, userFold(u), u.ID, u.Version-1)
	if err := mustAffect(r, t.userTaken(err, u), conflictErr("user", u.ID)); err != nil {
		return err
	}
	return t.ownerChanged(ctx, u.ID, u.AccountID)
}

// DeleteUser implements keyward.Tx.
func (t *Tx) DeleteUser(ctx context.Context, accountID, id string) error {
	return t.deleteOwner(ctx, "users", "user", accountID, id)
}

// deleteOwner deletes a user or a service account from table: the keys it
// owned verify again without it.
func (t *Tx) deleteOwner(ctx context.Context, table, noun, accountID, id string) error {
	r, err := t.exec(ctx, `DELETE FROM `+table+` WHERE id = ? AND account_id = ?`, id, accountID)
	if err := mustAffect(r, err, keyward.NotFound(noun, id)); err != nil {
		return err
	}
	return t.ownerChanged(ctx, id, accountID)
}

// ListUsers implements keyward.Tx. The role filter reads the roles column
// in Go: users of one account are few enough, and it keeps the SQL the
// same on every database.
func (t *Tx) ListUsers(ctx context.Context, f *keyward.UserFilter) ([]*keyward.User, bool, error) {
	c := &conds{}
	c.add("account_id = ?", f.AccountID)
	c.addText("status = ?", string(f.Status))
	c.addText("external_id = ?", f.ExternalID)
	if f.Role != "" {
		// roles is a JSON array of names; names cannot contain quotes.
		c.add(`roles LIKE ? ESCAPE '\'`, likePattern(`"`+f.Role+`"`))
	}
	if f.Search != "" {
		c.add(`search_fold LIKE ? ESCAPE '\'`, likePattern(fold(f.Search)))
	}
	return listPage(ctx, t, `SELECT `+userColumns+` FROM users`, c, f.Page, "id", scanUser)
}

const serviceAccountColumns = `id, account_id, name, description, status, created_at, updated_at, version`

func scanServiceAccount(row scanner) (*keyward.ServiceAccount, error) {
	var (
		sa               keyward.ServiceAccount
		desc             sql.Null[string]
		created, updated int64
	)
	if err := row.Scan(&sa.ID, &sa.AccountID, &sa.Name, &desc, &sa.Status, &created, &updated, &sa.Version); err != nil {
		return nil, err
	}
	sa.Description = fromNull(desc)
	sa.CreatedAt, sa.UpdatedAt = fromMs(created), fromMs(updated)
	return &sa, nil
}

// CreateServiceAccount implements keyward.Tx.
func (t *Tx) CreateServiceAccount(ctx context.Context, sa *keyward.ServiceAccount) error {
	_, err := t.exec(ctx, `INSERT INTO service_accounts (`+serviceAccountColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		sa.ID, sa.AccountID, sa.Name, orNull(sa.Description), string(sa.Status), ms(sa.CreatedAt), ms(sa.UpdatedAt), sa.Version)
	if err := t.taken(err, "a service account named %q already exists in this account", sa.Name); err != nil {
		return err
	}
	return t.ownerChanged(ctx, sa.ID, sa.AccountID)
}

// GetServiceAccount implements keyward.Tx.
func (t *Tx) GetServiceAccount(ctx context.Context, accountID, id string) (*keyward.ServiceAccount, error) {
	return scanOne(t, t.hotQueryRow(ctx, qServiceAccount+t.lock(), id, accountID), scanServiceAccount, "service account", id)
}

// UpdateServiceAccount implements keyward.Tx.
func (t *Tx) UpdateServiceAccount(ctx context.Context, sa *keyward.ServiceAccount) error {
	r, err := t.exec(ctx, `UPDATE service_accounts SET name = ?, description = ?, status = ?, updated_at = ?, version = ?
		WHERE id = ? AND version = ?`, sa.Name, orNull(sa.Description), string(sa.Status), ms(sa.UpdatedAt), sa.Version, sa.ID, sa.Version-1)
	if err := mustAffect(r, t.taken(err, "a service account named %q already exists in this account", sa.Name),
		conflictErr("service account", sa.ID)); err != nil {
		return err
	}
	return t.ownerChanged(ctx, sa.ID, sa.AccountID)
}

// DeleteServiceAccount implements keyward.Tx.
func (t *Tx) DeleteServiceAccount(ctx context.Context, accountID, id string) error {
	return t.deleteOwner(ctx, "service_accounts", "service account", accountID, id)
}

// ListServiceAccounts implements keyward.Tx.
func (t *Tx) ListServiceAccounts(ctx context.Context, f *keyward.ServiceAccountFilter) ([]*keyward.ServiceAccount, bool, error) {
	c := &conds{}
	c.add("account_id = ?", f.AccountID)
	c.addText("status = ?", string(f.Status))
	return listPage(ctx, t, `SELECT `+serviceAccountColumns+` FROM service_accounts`, c, f.Page, "id", scanServiceAccount)
}

const roleColumns = `account_id, name, description, scopes, created_at, updated_at, version`

func scanRole(row scanner) (*keyward.Role, error) {
	var (
		r                keyward.Role
		desc             sql.Null[string]
		scopes           string
		created, updated int64
	)
	if err := row.Scan(&r.AccountID, &r.Name, &desc, &scopes, &created, &updated, &r.Version); err != nil {
		return nil, err
	}
	r.Description = fromNull(desc)
	r.CreatedAt, r.UpdatedAt = fromMs(created), fromMs(updated)
	if err := json.Unmarshal([]byte(scopes), &r.Scopes); err != nil {
		return nil, keyward.Internal(err)
	}
	return &r, nil
}

// CreateRole implements keyward.Tx.
func (t *Tx) CreateRole(ctx context.Context, r *keyward.Role) error {
	scopes, err := listJSON(r.Scopes)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO roles (`+roleColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.AccountID, r.Name, orNull(r.Description), scopes, ms(r.CreatedAt), ms(r.UpdatedAt), r.Version)
	if err := t.taken(err, "a role named %q already exists in this account", r.Name); err != nil {
		return err
	}
	return t.accountChanged(ctx, r.AccountID)
}

// GetRole implements keyward.Tx.
func (t *Tx) GetRole(ctx context.Context, accountID, name string) (*keyward.Role, error) {
	return scanOne(t, t.queryRow(ctx, `SELECT `+roleColumns+` FROM roles WHERE account_id = ? AND name = ?`+t.lock(), accountID, name),
		scanRole, "role", name)
}

// UpdateRole implements keyward.Tx.
func (t *Tx) UpdateRole(ctx context.Context, r *keyward.Role) error {
	scopes, err := listJSON(r.Scopes)
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, `UPDATE roles SET description = ?, scopes = ?, updated_at = ?, version = ?
		WHERE account_id = ? AND name = ? AND version = ?`, orNull(r.Description), scopes, ms(r.UpdatedAt), r.Version,
		r.AccountID, r.Name, r.Version-1)
	if err := mustAffect(res, err, conflictErr("role", r.Name)); err != nil {
		return err
	}
	return t.accountChanged(ctx, r.AccountID)
}

// DeleteRole implements keyward.Tx.
func (t *Tx) DeleteRole(ctx context.Context, accountID, name string) error {
	r, err := t.exec(ctx, `DELETE FROM roles WHERE account_id = ? AND name = ?`, accountID, name)
	if err := mustAffect(r, err, keyward.NotFound("role", name)); err != nil {
		return err
	}
	return t.accountChanged(ctx, accountID)
}

// ListRoles implements keyward.Tx.
func (t *Tx) ListRoles(ctx context.Context, accountID string) ([]*keyward.Role, error) {
	rows, err := t.hotQuery(ctx, qRoles, accountID)
	if err != nil {
		return nil, err
	}
	return scanAll(t, rows, scanRole)
}

// ReserveIdempotency implements keyward.Tx. The insert does nothing when
// the record exists, so concurrent reservations on any database leave
// exactly one winner; the others read the winner's record.
func (t *Tx) ReserveIdempotency(ctx context.Context, rec *keyward.IdempotencyRecord, notBefore time.Time) (*keyward.IdempotencyRecord, error) {
	if _, err := t.exec(ctx, `DELETE FROM idempotency_keys WHERE scope = ? AND key_hash = ? AND created_at < ?`,
		rec.Scope, rec.KeyHash, ms(notBefore)); err != nil {
		return nil, err
	}
	r, err := t.exec(ctx, `INSERT INTO idempotency_keys (scope, key_hash, request_hash, state, status, response, created_at)
		VALUES (?, ?, ?, 'pending', 0, NULL, ?) ON CONFLICT (scope, key_hash) DO NOTHING`,
		rec.Scope, rec.KeyHash, rec.RequestHash, ms(rec.CreatedAt))
	if err != nil {
		return nil, err
	}
	if n, err := r.RowsAffected(); err != nil {
		return nil, keyward.Internal(err)
	} else if n == 1 {
		return nil, nil
	}
	var (
		cur     keyward.IdempotencyRecord
		state   string
		created int64
	)
	err = t.queryRow(ctx, `SELECT request_hash, state, status, response, created_at FROM idempotency_keys
		WHERE scope = ? AND key_hash = ?`, rec.Scope, rec.KeyHash).Scan(&cur.RequestHash, &state, &cur.Status, &cur.Response, &created)
	if err != nil {
		return nil, t.s.classify(err)
	}
	cur.Scope, cur.KeyHash, cur.Pending, cur.CreatedAt = rec.Scope, rec.KeyHash, state == "pending", fromMs(created)
	return &cur, nil
}

// FinishIdempotency implements keyward.Tx.
func (t *Tx) FinishIdempotency(ctx context.Context, rec *keyward.IdempotencyRecord) error {
	r, err := t.exec(ctx, `UPDATE idempotency_keys SET state = 'done', status = ?, response = ? WHERE scope = ? AND key_hash = ?`,
		rec.Status, rec.Response, rec.Scope, rec.KeyHash)
	return mustAffect(r, err, keyward.NotFound("idempotency record", ""))
}

// ReleaseIdempotency implements keyward.Tx.
func (t *Tx) ReleaseIdempotency(ctx context.Context, scope string, keyHash []byte) error {
	_, err := t.exec(ctx, `DELETE FROM idempotency_keys WHERE scope = ? AND key_hash = ? AND state = 'pending'`, scope, keyHash)
	return err
}

// PurgeIdempotency implements keyward.Tx.
func (t *Tx) PurgeIdempotency(ctx context.Context, before time.Time) error {
	_, err := t.exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, ms(before))
	return err
}

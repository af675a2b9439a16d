package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/keyward/keyward"
)

const accountColumns = `id, name, default_prefix, catalog_template, default_permission_mode, max_key_lifetime,
	require_expiry, default_key_lifetime, created_at, updated_at, version`

func scanAccount(row scanner) (*keyward.Account, error) {
	var (
		a                keyward.Account
		maxLife, defLife sql.NullInt64
		created, updated int64
	)
	if err := row.Scan(&a.ID, &a.Name, &a.DefaultPrefix, &a.CatalogTemplate, &a.DefaultPermissionMode, &maxLife,
		&a.RequireExpiry, &defLife, &created, &updated, &a.Version); err != nil {
		return nil, err
	}
	a.MaxKeyLifetime, a.DefaultKeyLifetime = fromNullInt(maxLife), fromNullInt(defLife)
	a.CreatedAt, a.UpdatedAt = fromMs(created), fromMs(updated)
	return &a, nil
}

// CreateAccount implements keyward.Tx.
func (t *Tx) CreateAccount(ctx context.Context, a *keyward.Account) error {
	_, err := t.exec(ctx, `INSERT INTO accounts (`+accountColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Name, a.DefaultPrefix, a.CatalogTemplate, string(a.DefaultPermissionMode), int64Ptr(a.MaxKeyLifetime),
		a.RequireExpiry, int64Ptr(a.DefaultKeyLifetime), ms(a.CreatedAt), ms(a.UpdatedAt), a.Version)
	if err != nil && t.s.dialect.IsUniqueViolation(err) {
		return keyward.Errorf(keyward.ECodeDuplicate, "an account named %q already exists", a.Name)
	}
	if err != nil {
		return err
	}
	return t.accountChanged(ctx, a.ID)
}

// GetAccount implements keyward.Tx.
func (t *Tx) GetAccount(ctx context.Context, id string) (*keyward.Account, error) {
	return t.getAccount(ctx, "id", id)
}

// GetAccountByName implements keyward.Tx.
func (t *Tx) GetAccountByName(ctx context.Context, name string) (*keyward.Account, error) {
	return t.getAccount(ctx, "name", name)
}

func (t *Tx) getAccount(ctx context.Context, col, v string) (*keyward.Account, error) {
	a, err := scanAccount(t.queryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE `+col+` = ?`, v))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.NotFound("account", v)
	}
	if err != nil {
		return nil, t.s.classify(err)
	}
	return a, nil
}

// ListAccounts implements keyward.Tx.
func (t *Tx) ListAccounts(ctx context.Context, f *keyward.AccountFilter) ([]*keyward.Account, bool, error) {
	var where []string
	var args []any
	tail, limit, reverse := page(f.Page, &where, &args, "id")
	rows, err := t.query(ctx, `SELECT `+accountColumns+` FROM accounts`+whereSQL(where)+tail, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []*keyward.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, false, t.s.classify(err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, false, t.s.classify(err)
	}
	items, more := trim(out, limit, reverse)
	return items, more, nil
}

const projectColumns = `id, account_id, name, description, created_at, updated_at, version`

func scanProject(row scanner) (*keyward.Project, error) {
	var (
		p                keyward.Project
		desc             sql.NullString
		created, updated int64
	)
	if err := row.Scan(&p.ID, &p.AccountID, &p.Name, &desc, &created, &updated, &p.Version); err != nil {
		return nil, err
	}
	p.Description = fromNullStr(desc)
	p.CreatedAt, p.UpdatedAt = fromMs(created), fromMs(updated)
	return &p, nil
}

// CreateProject implements keyward.Tx.
func (t *Tx) CreateProject(ctx context.Context, p *keyward.Project) error {
	_, err := t.exec(ctx, `INSERT INTO projects (`+projectColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.AccountID, p.Name, strPtr(p.Description), ms(p.CreatedAt), ms(p.UpdatedAt), p.Version)
	if err != nil && t.s.dialect.IsUniqueViolation(err) {
		return keyward.Errorf(keyward.ECodeDuplicate, "a project named %q already exists in this account", p.Name)
	}
	return err
}

// GetProject implements keyward.Tx.
func (t *Tx) GetProject(ctx context.Context, accountID, id string) (*keyward.Project, error) {
	p, err := scanProject(t.queryRow(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = ? AND account_id = ?`+t.lock(), id, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, keyward.NotFound("project", id)
	}
	if err != nil {
		return nil, t.s.classify(err)
	}
	return p, nil
}

// UpdateProject implements keyward.Tx.
func (t *Tx) UpdateProject(ctx context.Context, p *keyward.Project) error {
	r, err := t.exec(ctx, `UPDATE projects SET name = ?, description = ?, updated_at = ?, version = ? WHERE id = ? AND version = ?`,
		p.Name, strPtr(p.Description), ms(p.UpdatedAt), p.Version, p.ID, p.Version-1)
	if err != nil && t.s.dialect.IsUniqueViolation(err) {
		return keyward.Errorf(keyward.ECodeDuplicate, "a project named %q already exists in this account", p.Name)
	}
	return mustAffect(r, err, conflictErr("project", p.ID))
}

// DeleteProject implements keyward.Tx.
func (t *Tx) DeleteProject(ctx context.Context, accountID, id string) error {
	r, err := t.exec(ctx, `DELETE FROM projects WHERE id = ? AND account_id = ?`, id, accountID)
	return mustAffect(r, err, keyward.NotFound("project", id))
}

// ListProjects implements keyward.Tx.
func (t *Tx) ListProjects(ctx context.Context, f *keyward.ProjectFilter) ([]*keyward.Project, bool, error) {
	where := []string{"account_id = ?"}
	args := []any{f.AccountID}
	tail, limit, reverse := page(f.Page, &where, &args, "id")
	rows, err := t.query(ctx, `SELECT `+projectColumns+` FROM projects`+whereSQL(where)+tail, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []*keyward.Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, false, t.s.classify(err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, false, t.s.classify(err)
	}
	items, more := trim(out, limit, reverse)
	return items, more, nil
}

const resourceColumns = `id, display_name, grp, description, readable, writable, project_scopes, protected, created_at, updated_at`

// ListResources implements keyward.Tx.
func (t *Tx) ListResources(ctx context.Context, accountID string) ([]*keyward.Resource, error) {
	rows, err := t.hotQuery(ctx, qResources, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keyward.Resource
	for rows.Next() {
		var (
			r                keyward.Resource
			scopes           string
			created, updated int64
		)
		if err := rows.Scan(&r.ID, &r.DisplayName, &r.Group, &r.Description, &r.Readable, &r.Writable, &scopes,
			&r.Protected, &created, &updated); err != nil {
			return nil, t.s.classify(err)
		}
		if err := json.Unmarshal([]byte(scopes), &r.ProjectScopes); err != nil {
			return nil, keyward.Internal(err)
		}
		r.CreatedAt, r.UpdatedAt = fromMs(created), fromMs(updated)
		out = append(out, &r)
	}
	return out, t.s.classify(rows.Err())
}

// PutResource implements keyward.Tx.
func (t *Tx) PutResource(ctx context.Context, accountID string, r *keyward.Resource) error {
	scopes, err := json.Marshal(r.ProjectScopes)
	if err != nil {
		return keyward.Internal(err)
	}
	_, err = t.exec(ctx, `INSERT INTO catalog_resources (account_id, `+resourceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id, id) DO UPDATE SET display_name = excluded.display_name, grp = excluded.grp,
		description = excluded.description, readable = excluded.readable, writable = excluded.writable,
		project_scopes = excluded.project_scopes, protected = excluded.protected, updated_at = excluded.updated_at`,
		accountID, r.ID, r.DisplayName, r.Group, r.Description, r.Readable, r.Writable, string(scopes), r.Protected,
		ms(r.CreatedAt), ms(r.UpdatedAt))
	if err != nil {
		return err
	}
	return t.accountChanged(ctx, accountID)
}

// DeleteResource implements keyward.Tx.
func (t *Tx) DeleteResource(ctx context.Context, accountID, id string) error {
	r, err := t.exec(ctx, `DELETE FROM catalog_resources WHERE account_id = ? AND id = ?`, accountID, id)
	if err := mustAffect(r, err, keyward.NotFound("catalog resource", id)); err != nil {
		return err
	}
	return t.accountChanged(ctx, accountID)
}

const auditColumns = `id, account_id, created_at, actor_type, actor_id, action, target_type, target_id, changes,
	request_id, client_ip, user_agent, dialect`

// AppendAuditEvent implements keyward.Tx.
func (t *Tx) AppendAuditEvent(ctx context.Context, e *keyward.AuditEvent) error {
	changes, err := json.Marshal(e.Changes)
	if err != nil {
		return keyward.Internal(err)
	}
	_, err = t.exec(ctx, `INSERT INTO audit_events (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, nullIfEmpty(e.AccountID), ms(e.Time), string(e.ActorType), e.ActorID, e.Action, e.TargetType, e.TargetID,
		string(changes), e.RequestID, e.ClientIP, e.UserAgent, e.Dialect)
	return err
}

// ListAuditEvents implements keyward.Tx.
func (t *Tx) ListAuditEvents(ctx context.Context, f *keyward.AuditFilter) ([]*keyward.AuditEvent, bool, error) {
	where := []string{"account_id = ?"}
	args := []any{f.AccountID}
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.TargetID != "" {
		add("target_id = ?", f.TargetID)
	}
	if f.ActorID != "" {
		add("actor_id = ?", f.ActorID)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.Since != nil {
		add("created_at >= ?", ms(*f.Since))
	}
	if f.Until != nil {
		add("created_at < ?", ms(*f.Until))
	}
	tail, limit, reverse := page(f.Page, &where, &args, "id")
	rows, err := t.query(ctx, `SELECT `+auditColumns+` FROM audit_events`+whereSQL(where)+tail, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []*keyward.AuditEvent
	for rows.Next() {
		var (
			e         keyward.AuditEvent
			accountID sql.NullString
			at        int64
			changes   string
		)
		if err := rows.Scan(&e.ID, &accountID, &at, &e.ActorType, &e.ActorID, &e.Action, &e.TargetType, &e.TargetID,
			&changes, &e.RequestID, &e.ClientIP, &e.UserAgent, &e.Dialect); err != nil {
			return nil, false, t.s.classify(err)
		}
		e.AccountID, e.Time = accountID.String, fromMs(at)
		if err := json.Unmarshal([]byte(changes), &e.Changes); err != nil {
			return nil, false, keyward.Internal(err)
		}
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, t.s.classify(err)
	}
	items, more := trim(out, limit, reverse)
	return items, more, nil
}

package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/keyward/keyward"
)

const accountColumns = `id, name, default_prefix, catalog_template, default_permission_mode, max_key_lifetime,
	require_expiry, default_key_lifetime, created_at, updated_at, version`

func scanAccount(row scanner) (*keyward.Account, error) {
	var (
		a                keyward.Account
		maxLife, defLife sql.Null[int64]
		created, updated int64
	)
	if err := row.Scan(&a.ID, &a.Name, &a.DefaultPrefix, &a.CatalogTemplate, &a.DefaultPermissionMode, &maxLife,
		&a.RequireExpiry, &defLife, &created, &updated, &a.Version); err != nil {
		return nil, err
	}
	a.MaxKeyLifetime, a.DefaultKeyLifetime = fromNull(maxLife), fromNull(defLife)
	a.CreatedAt, a.UpdatedAt = fromMs(created), fromMs(updated)
	return &a, nil
}

// CreateAccount implements keyward.Tx.
func (t *Tx) CreateAccount(ctx context.Context, a *keyward.Account) error {
	_, err := t.exec(ctx, `INSERT INTO accounts (`+accountColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Name, a.DefaultPrefix, a.CatalogTemplate, string(a.DefaultPermissionMode), orNull(a.MaxKeyLifetime),
		a.RequireExpiry, orNull(a.DefaultKeyLifetime), ms(a.CreatedAt), ms(a.UpdatedAt), a.Version)
	if err := t.taken(err, "an account named %q already exists", a.Name); err != nil {
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
	return scanOne(t, t.queryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE `+col+` = ?`, v), scanAccount, "account", v)
}

// ListAccounts implements keyward.Tx.
func (t *Tx) ListAccounts(ctx context.Context, f *keyward.AccountFilter) ([]*keyward.Account, bool, error) {
	return listPage(ctx, t, `SELECT `+accountColumns+` FROM accounts`, &conds{}, f.Page, "id", scanAccount)
}

const projectColumns = `id, account_id, name, description, created_at, updated_at, version`

func scanProject(row scanner) (*keyward.Project, error) {
	var (
		p                keyward.Project
		desc             sql.Null[string]
		created, updated int64
	)
	if err := row.Scan(&p.ID, &p.AccountID, &p.Name, &desc, &created, &updated, &p.Version); err != nil {
		return nil, err
	}
	p.Description = fromNull(desc)
	p.CreatedAt, p.UpdatedAt = fromMs(created), fromMs(updated)
	return &p, nil
}

// CreateProject implements keyward.Tx.
func (t *Tx) CreateProject(ctx context.Context, p *keyward.Project) error {
	_, err := t.exec(ctx, `INSERT INTO projects (`+projectColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.AccountID, p.Name, orNull(p.Description), ms(p.CreatedAt), ms(p.UpdatedAt), p.Version)
	return t.taken(err, "a project named %q already exists in this account", p.Name)
}

// GetProject implements keyward.Tx.
func (t *Tx) GetProject(ctx context.Context, accountID, id string) (*keyward.Project, error) {
	return scanOne(t, t.queryRow(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = ? AND account_id = ?`+t.lock(), id, accountID),
		scanProject, "project", id)
}

// UpdateProject implements keyward.Tx.
func (t *Tx) UpdateProject(ctx context.Context, p *keyward.Project) error {
	r, err := t.exec(ctx, `UPDATE projects SET name = ?, description = ?, updated_at = ?, version = ? WHERE id = ? AND version = ?`,
		p.Name, orNull(p.Description), ms(p.UpdatedAt), p.Version, p.ID, p.Version-1)
	return mustAffect(r, t.taken(err, "a project named %q already exists in this account", p.Name), conflictErr("project", p.ID))
}

// DeleteProject implements keyward.Tx.
func (t *Tx) DeleteProject(ctx context.Context, accountID, id string) error {
	r, err := t.exec(ctx, `DELETE FROM projects WHERE id = ? AND account_id = ?`, id, accountID)
	return mustAffect(r, err, keyward.NotFound("project", id))
}

// ListProjects implements keyward.Tx.
func (t *Tx) ListProjects(ctx context.Context, f *keyward.ProjectFilter) ([]*keyward.Project, bool, error) {
	c := &conds{}
	c.add("account_id = ?", f.AccountID)
	return listPage(ctx, t, `SELECT `+projectColumns+` FROM projects`, c, f.Page, "id", scanProject)
}

const resourceColumns = `id, display_name, grp, description, readable, writable, project_scopes, protected, created_at, updated_at`

// ListResources implements keyward.Tx.
func (t *Tx) ListResources(ctx context.Context, accountID string) ([]*keyward.Resource, error) {
	rows, err := t.hotQuery(ctx, qResources, accountID)
	if err != nil {
		return nil, err
	}
	return scanAll(t, rows, scanResource)
}

func scanResource(row scanner) (*keyward.Resource, error) {
	var (
		r                keyward.Resource
		scopes           string
		created, updated int64
	)
	if err := row.Scan(&r.ID, &r.DisplayName, &r.Group, &r.Description, &r.Readable, &r.Writable, &scopes,
		&r.Protected, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &r.ProjectScopes); err != nil {
		return nil, keyward.Internal(err)
	}
	r.CreatedAt, r.UpdatedAt = fromMs(created), fromMs(updated)
	return &r, nil
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
	c := &conds{}
	c.add("account_id = ?", f.AccountID)
	c.addText("target_id = ?", f.TargetID)
	c.addText("actor_id = ?", f.ActorID)
	c.addText("action = ?", f.Action)
	c.addTime("created_at >= ?", f.Since)
	c.addTime("created_at < ?", f.Until)
	return listPage(ctx, t, `SELECT `+auditColumns+` FROM audit_events`, c, f.Page, "id", scanAuditEvent)
}

func scanAuditEvent(row scanner) (*keyward.AuditEvent, error) {
	var (
		e         keyward.AuditEvent
		accountID sql.Null[string]
		at        int64
		changes   string
	)
	if err := row.Scan(&e.ID, &accountID, &at, &e.ActorType, &e.ActorID, &e.Action, &e.TargetType, &e.TargetID,
		&changes, &e.RequestID, &e.ClientIP, &e.UserAgent, &e.Dialect); err != nil {
		return nil, err
	}
	e.AccountID, e.Time = accountID.V, fromMs(at)
	if err := json.Unmarshal([]byte(changes), &e.Changes); err != nil {
		return nil, keyward.Internal(err)
	}
	return &e, nil
}

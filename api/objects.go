package api

import (
	"time"

	"github.com/keyward/keyward"
)

// Page is one page of a list: Data newest first, and HasMore when more
// objects exist in the direction of travel.
type Page[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"has_more"`
}

// PageOf returns the page of items in wire form (of converts one).
func PageOf[S, T any](items []S, more bool, of func(S) T) Page[T] {
	return Page[T]{Data: listOf(items, of), HasMore: more}
}

// listOf returns items in wire form (of converts one), [] for none.
func listOf[S, T any](items []S, of func(S) T) []T {
	out := make([]T, 0, len(items))
	for _, it := range items {
		out = append(out, of(it))
	}
	return out
}

// array is s, or [] for nil: lists travel as arrays, never as null.
func array[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Status is the answer of the health routes (GET /healthz: "ok", GET
// /readyz: "ready").
type Status struct {
	Status string `json:"status"`
}

// Account is a tenant (operator keys only).
type Account struct {
	ID                    string                 `json:"id"`
	Name                  string                 `json:"name"`
	DefaultPrefix         string                 `json:"default_prefix"`
	CatalogTemplate       string                 `json:"catalog_template"`
	DefaultPermissionMode keyward.PermissionMode `json:"default_permission_mode"`
	MaxKeyLifetime        *int64                 `json:"max_key_lifetime"` // seconds; nil: none
	RequireExpiry         bool                   `json:"require_expiry"`
	DefaultKeyLifetime    *int64                 `json:"default_key_lifetime"` // seconds; nil: none
	CreatedAt             time.Time              `json:"created_at"`
	UpdatedAt             time.Time              `json:"updated_at"`
	ETag                  string                 `json:"etag"`
}

// AccountOf returns the wire form of an account.
func AccountOf(a *keyward.Account) Account {
	return Account{a.ID, a.Name, a.DefaultPrefix, a.CatalogTemplate, a.DefaultPermissionMode, a.MaxKeyLifetime,
		a.RequireExpiry, a.DefaultKeyLifetime, a.CreatedAt, a.UpdatedAt, a.ETag()}
}

// User is a member of an account; keys it owns never exceed its roles.
type User struct {
	ID         string               `json:"id"`
	AccountID  string               `json:"account_id"`
	ExternalID *string              `json:"external_id"`
	Email      *string              `json:"email"`
	Name       *string              `json:"name"`
	Roles      []string             `json:"roles"`
	Status     keyward.MemberStatus `json:"status"`
	CreatedAt  time.Time            `json:"created_at"`
	UpdatedAt  time.Time            `json:"updated_at"`
	ETag       string               `json:"etag"`
}

// UserOf returns the wire form of a user.
func UserOf(u *keyward.User) User {
	return User{u.ID, u.AccountID, u.ExternalID, u.Email, u.Name, array(u.Roles), u.Status, u.CreatedAt, u.UpdatedAt, u.ETag()}
}

// ServiceAccount is a non-human owner of keys.
type ServiceAccount struct {
	ID          string               `json:"id"`
	AccountID   string               `json:"account_id"`
	Name        string               `json:"name"`
	Description *string              `json:"description"`
	Status      keyward.MemberStatus `json:"status"`
	CreatedAt   time.Time            `json:"created_at"`
	UpdatedAt   time.Time            `json:"updated_at"`
	ETag        string               `json:"etag"`
}

// ServiceAccountOf returns the wire form of a service account.
func ServiceAccountOf(sa *keyward.ServiceAccount) ServiceAccount {
	return ServiceAccount{sa.ID, sa.AccountID, sa.Name, sa.Description, sa.Status, sa.CreatedAt, sa.UpdatedAt, sa.ETag()}
}

// Role is a named list of scopes of an account; its name is its id.
type Role struct {
	Name        string          `json:"name"`
	AccountID   string          `json:"account_id"`
	Description *string         `json:"description"`
	Scopes      []keyward.Scope `json:"scopes"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	ETag        string          `json:"etag"`
}

// RoleOf returns the wire form of a role.
func RoleOf(r *keyward.Role) Role {
	return Role{r.Name, r.AccountID, r.Description, array(r.Scopes), r.CreatedAt, r.UpdatedAt, r.ETag()}
}

// Project is a subdivision of an account; keys may be scoped to one.
type Project struct {
	ID          string    `json:"id"`
	AccountID   string    `json:"account_id"`
	Name        string    `json:"name"`
	Description *string   `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	ETag        string    `json:"etag"`
}

// ProjectOf returns the wire form of a project.
func ProjectOf(p *keyward.Project) Project {
	return Project{p.ID, p.AccountID, p.Name, p.Description, p.CreatedAt, p.UpdatedAt, p.ETag()}
}

// AuditEvent records one change.
type AuditEvent struct {
	ID        string                    `json:"id"`
	AccountID string                    `json:"account_id"`
	CreatedAt time.Time                 `json:"created_at"`
	Actor     AuditRef                  `json:"actor"`
	Action    string                    `json:"action"`
	Target    AuditRef                  `json:"target"`
	Changes   map[string]keyward.Change `json:"changes"`
	RequestID string                    `json:"request_id"`
	ClientIP  string                    `json:"client_ip"`
	UserAgent string                    `json:"user_agent"`
	Dialect   string                    `json:"dialect"`
}

// AuditRef names the actor or the target of an event.
type AuditRef struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// AuditEventOf returns the wire form of an audit event.
func AuditEventOf(e *keyward.AuditEvent) AuditEvent {
	ch := e.Changes
	if ch == nil {
		ch = map[string]keyward.Change{}
	}
	return AuditEvent{e.ID, e.AccountID, e.Time, AuditRef{string(e.ActorType), e.ActorID}, e.Action,
		AuditRef{e.TargetType, e.TargetID}, ch, e.RequestID, e.ClientIP, e.UserAgent, e.Dialect}
}

// Catalog is an account's permission catalog with everything a key can be
// granted (GET /v1/catalog).
type Catalog struct {
	Resources             []keyward.Resource             `json:"resources"`
	AccessLevels          []keyward.Access               `json:"access_levels"`
	Presets               []Preset                       `json:"presets"`
	Roles                 []Role                         `json:"roles"`
	ManagementPermissions []keyward.ManagementPermission `json:"management_permissions"`
}

// Preset describes a permission mode.
type Preset struct {
	ID          keyward.PermissionMode `json:"id"`
	Description string                 `json:"description"`
}

// presets are the permission modes, as the catalog describes them.
var presets = []Preset{
	{keyward.ModeAll, "every non-protected resource at its highest level, every object"},
	{keyward.ModeReadOnly, "every non-protected readable resource at read, every object"},
	{keyward.ModeRestricted, "exactly the key's scopes and the scopes of its roles"},
}

// CatalogOf returns the catalog of an account: its resources, the access
// levels, its roles and the management permissions.
func CatalogOf(resources []*keyward.Resource, levels []keyward.Access, roles []*keyward.Role, perms []keyward.ManagementPermission) Catalog {
	return Catalog{
		Resources:             PageOf(resources, false, func(r *keyward.Resource) keyward.Resource { return *r }).Data,
		AccessLevels:          levels,
		Presets:               append([]Preset(nil), presets...),
		Roles:                 PageOf(roles, false, RoleOf).Data,
		ManagementPermissions: perms,
	}
}

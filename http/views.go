package http

import (
	"encoding/json"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// The JSON shapes of the native API. They are built from domain values here
// so the domain types carry no wire format.

type keyCommon struct {
	ID          string                     `json:"id"`
	AccountID   *string                    `json:"account_id"`
	Kind        keyward.KeyKind            `json:"kind"`
	Name        string                     `json:"name"`
	Description *string                    `json:"description"`
	Status      keyward.KeyStatus          `json:"status"`
	Prefix      string                     `json:"prefix"`
	Start       string                     `json:"start"`
	Last4       string                     `json:"last4"`
	Owner       keyward.Owner              `json:"owner"`
	ExpiresAt   *time.Time                 `json:"expires_at"`
	Metadata    map[string]json.RawMessage `json:"metadata"`
	IPAllowlist []string                   `json:"ip_allowlist"`
	RateLimit   *keyward.RateLimit         `json:"rate_limit"`
	Credits     *keyward.Credits           `json:"credits"`
	Recoverable bool                       `json:"recoverable"`
	LegacyKeyID *string                    `json:"legacy_key_id"`
	CreatedAt   time.Time                  `json:"created_at"`
	UpdatedAt   time.Time                  `json:"updated_at"`
	CreatedByID string                     `json:"created_by_id"`
	UpdatedByID string                     `json:"updated_by_id"`
	LastUsedAt  *time.Time                 `json:"last_used_at"`
	RotatedAt   *time.Time                 `json:"rotated_at"`
	// Verifications counts successful verifications (written behind:
	// trails by up to the write-behind interval).
	Verifications int64  `json:"verifications"`
	ETag          string `json:"etag"`
}

type apiKeyView struct {
	keyCommon
	ProjectID      *string                `json:"project_id"`
	PermissionMode keyward.PermissionMode `json:"permission_mode"`
	Scopes         []keyward.Scope        `json:"scopes"`
	Roles          []string               `json:"roles"`
	Secret         string                 `json:"secret,omitempty"`
}

type managementKeyView struct {
	keyCommon
	Operator    bool     `json:"operator"`
	Permissions []string `json:"permissions"`
	Secret      string   `json:"secret,omitempty"`
}

// keyView returns the native JSON of a key; secret, if not zero, is
// included (create and rotate only).
func keyView(k *keyward.Key, secret keyward.Token) any {
	md := k.Metadata
	if md == nil {
		md = map[string]json.RawMessage{}
	}
	var acct *string
	if k.AccountID != "" {
		acct = &k.AccountID
	}
	c := keyCommon{
		ID: k.ID, AccountID: acct, Kind: k.Kind, Name: k.Name, Description: k.Description, Status: k.Status,
		Prefix: k.Prefix, Start: k.Start, Last4: k.Last4, Owner: k.Owner, ExpiresAt: k.ExpiresAt, Metadata: md,
		IPAllowlist: k.IPAllowlist, RateLimit: k.RateLimit, Credits: k.Credits, Recoverable: k.Recoverable,
		LegacyKeyID: k.LegacyKeyID, CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt, CreatedByID: k.CreatedByID,
		UpdatedByID: k.UpdatedByID, LastUsedAt: k.LastUsedAt, RotatedAt: k.RotatedAt, Verifications: k.Verifications, ETag: k.ETag(),
	}
	if k.Kind == keyward.KindManagement {
		perms := k.Permissions
		if perms == nil {
			perms = []string{}
		}
		return managementKeyView{keyCommon: c, Operator: k.Operator, Permissions: perms, Secret: secret.Reveal()}
	}
	scopes, roles := k.Scopes, k.Roles
	if scopes == nil {
		scopes = []keyward.Scope{}
	}
	if roles == nil {
		roles = []string{}
	}
	return apiKeyView{keyCommon: c, ProjectID: k.ProjectID, PermissionMode: k.PermissionMode, Scopes: scopes, Roles: roles, Secret: secret.Reveal()}
}

type listView[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"has_more"`
}

func list[S, T any](items []S, more bool, view func(S) T) listView[T] {
	out := listView[T]{Data: make([]T, 0, len(items)), HasMore: more}
	for _, it := range items {
		out.Data = append(out.Data, view(it))
	}
	return out
}

type projectView struct {
	ID          string    `json:"id"`
	AccountID   string    `json:"account_id"`
	Name        string    `json:"name"`
	Description *string   `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	ETag        string    `json:"etag"`
}

func projectViewOf(p *keyward.Project) projectView {
	return projectView{p.ID, p.AccountID, p.Name, p.Description, p.CreatedAt, p.UpdatedAt, p.ETag()}
}

type auditView struct {
	ID        string                    `json:"id"`
	AccountID string                    `json:"account_id"`
	CreatedAt time.Time                 `json:"created_at"`
	Actor     auditRef                  `json:"actor"`
	Action    string                    `json:"action"`
	Target    auditRef                  `json:"target"`
	Changes   map[string]keyward.Change `json:"changes"`
	RequestID string                    `json:"request_id"`
	ClientIP  string                    `json:"client_ip"`
	UserAgent string                    `json:"user_agent"`
	Dialect   string                    `json:"dialect"`
}

type auditRef struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

func auditViewOf(e *keyward.AuditEvent) auditView {
	ch := e.Changes
	if ch == nil {
		ch = map[string]keyward.Change{}
	}
	return auditView{e.ID, e.AccountID, e.Time, auditRef{string(e.ActorType), e.ActorID}, e.Action,
		auditRef{e.TargetType, e.TargetID}, ch, e.RequestID, e.ClientIP, e.UserAgent, e.Dialect}
}

type presetView struct {
	ID          keyward.PermissionMode `json:"id"`
	Description string                 `json:"description"`
}

type catalogView struct {
	Resources             []*keyward.Resource            `json:"resources"`
	AccessLevels          []keyward.Access               `json:"access_levels"`
	Presets               []presetView                   `json:"presets"`
	Roles                 []roleView                     `json:"roles"`
	ManagementPermissions []keyward.ManagementPermission `json:"management_permissions"`
}

func catalogViewOf(c *service.Catalog) catalogView {
	return catalogView{
		Resources:    c.Resources,
		AccessLevels: c.AccessLevels,
		Presets: []presetView{
			{keyward.ModeAll, "every non-protected resource at its highest level, every object"},
			{keyward.ModeReadOnly, "every non-protected readable resource at read, every object"},
			{keyward.ModeRestricted, "exactly the key's scopes and the scopes of its roles"},
		},
		Roles:                 list(c.Roles, false, roleViewOf).Data,
		ManagementPermissions: c.ManagementPermissions,
	}
}

type verifyView struct {
	Valid            bool                   `json:"valid"`
	Code             keyward.VerifyCode     `json:"code"`
	KeyID            string                 `json:"key_id"`
	AccountID        string                 `json:"account_id"`
	Name             string                 `json:"name"`
	Owner            keyward.Owner          `json:"owner"`
	ProjectID        *string                `json:"project_id"`
	PermissionMode   keyward.PermissionMode `json:"permission_mode"`
	Scopes           []keyward.Scope        `json:"scopes"`
	Roles            []string               `json:"roles"`
	ExpiresAt        *time.Time             `json:"expires_at"`
	Metadata         json.RawMessage        `json:"metadata"`
	CreditsRemaining *int64                 `json:"credits_remaining"`
	RateLimit        *rateLimitState        `json:"rate_limit"`
}

type rateLimitState struct {
	Limit     int64     `json:"limit"`
	Remaining int64     `json:"remaining"`
	ResetAt   time.Time `json:"reset_at"`
}

type verifyNotFoundView struct {
	Valid bool               `json:"valid"`
	Code  keyward.VerifyCode `json:"code"`
}

// verifyViewOf renders a verification: only valid and code for an unknown key.
func verifyViewOf(r *keyward.VerifyResult) any {
	if r.Code == keyward.VerifyNotFound {
		return verifyNotFoundView{r.Valid, r.Code}
	}
	v := verifyView{Valid: r.Valid, Code: r.Code, KeyID: r.KeyID, AccountID: r.AccountID, Name: r.Name, Owner: r.Owner,
		PermissionMode: r.PermissionMode, Scopes: r.Scopes, Roles: r.Roles, Metadata: r.Metadata}
	if r.ProjectID != "" {
		v.ProjectID = &r.ProjectID
	}
	if r.HasExpiry {
		v.ExpiresAt = &r.ExpiresAt
	}
	if r.HasCredits {
		v.CreditsRemaining = &r.CreditsRemaining
	}
	if r.HasRateLimit {
		v.RateLimit = &rateLimitState{Limit: r.RateLimit.Limit, Remaining: r.RateLimit.Remaining, ResetAt: r.RateLimit.ResetAt}
	}
	if v.Scopes == nil {
		v.Scopes = []keyward.Scope{}
	}
	if v.Roles == nil {
		v.Roles = []string{}
	}
	if len(v.Metadata) == 0 {
		v.Metadata = json.RawMessage("{}")
	}
	return v
}

type accountView struct {
	ID                    string                 `json:"id"`
	Name                  string                 `json:"name"`
	DefaultPrefix         string                 `json:"default_prefix"`
	CatalogTemplate       string                 `json:"catalog_template"`
	DefaultPermissionMode keyward.PermissionMode `json:"default_permission_mode"`
	MaxKeyLifetime        *int64                 `json:"max_key_lifetime"`
	RequireExpiry         bool                   `json:"require_expiry"`
	DefaultKeyLifetime    *int64                 `json:"default_key_lifetime"`
	CreatedAt             time.Time              `json:"created_at"`
	UpdatedAt             time.Time              `json:"updated_at"`
	ETag                  string                 `json:"etag"`
}

func accountViewOf(a *keyward.Account) accountView {
	return accountView{a.ID, a.Name, a.DefaultPrefix, a.CatalogTemplate, a.DefaultPermissionMode, a.MaxKeyLifetime,
		a.RequireExpiry, a.DefaultKeyLifetime, a.CreatedAt, a.UpdatedAt, a.ETag()}
}

type userView struct {
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

func userViewOf(u *keyward.User) userView {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return userView{u.ID, u.AccountID, u.ExternalID, u.Email, u.Name, roles, u.Status, u.CreatedAt, u.UpdatedAt, u.ETag()}
}

type serviceAccountView struct {
	ID          string               `json:"id"`
	AccountID   string               `json:"account_id"`
	Name        string               `json:"name"`
	Description *string              `json:"description"`
	Status      keyward.MemberStatus `json:"status"`
	CreatedAt   time.Time            `json:"created_at"`
	UpdatedAt   time.Time            `json:"updated_at"`
	ETag        string               `json:"etag"`
}

func serviceAccountViewOf(sa *keyward.ServiceAccount) serviceAccountView {
	return serviceAccountView{sa.ID, sa.AccountID, sa.Name, sa.Description, sa.Status, sa.CreatedAt, sa.UpdatedAt, sa.ETag()}
}

type roleView struct {
	Name        string          `json:"name"`
	AccountID   string          `json:"account_id"`
	Description *string         `json:"description"`
	Scopes      []keyward.Scope `json:"scopes"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	ETag        string          `json:"etag"`
}

func roleViewOf(r *keyward.Role) roleView {
	scopes := r.Scopes
	if scopes == nil {
		scopes = []keyward.Scope{}
	}
	return roleView{r.Name, r.AccountID, r.Description, scopes, r.CreatedAt, r.UpdatedAt, r.ETag()}
}

type secretView struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

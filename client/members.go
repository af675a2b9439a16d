package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/keyward/keyward"
)

// PageParams are the cursor of a list without filters.
type PageParams struct {
	Limit         int // 1–200 (server default 25)
	StartingAfter string
	EndingBefore  string
}

func (p *PageParams) values() url.Values {
	q := url.Values{}
	if p != nil {
		setPage(q, p.Limit, p.StartingAfter, p.EndingBefore)
	}
	return q
}

// UserListParams are the filters and cursor of GET /v1/users.
type UserListParams struct {
	Limit         int
	StartingAfter string
	EndingBefore  string

	Status     keyward.MemberStatus
	Role       string
	ExternalID string
	Search     string // name or email, case-insensitive
}

func (p *UserListParams) values() url.Values {
	q := url.Values{}
	if p == nil {
		return q
	}
	setPage(q, p.Limit, p.StartingAfter, p.EndingBefore)
	setStr(q, "status", string(p.Status))
	setStr(q, "role", p.Role)
	setStr(q, "external_id", p.ExternalID)
	setStr(q, "search", p.Search)
	return q
}

// ServiceAccountListParams are the filters and cursor of GET
// /v1/service-accounts.
type ServiceAccountListParams struct {
	Limit         int
	StartingAfter string
	EndingBefore  string

	Status keyward.MemberStatus
}

func (p *ServiceAccountListParams) values() url.Values {
	q := url.Values{}
	if p == nil {
		return q
	}
	setPage(q, p.Limit, p.StartingAfter, p.EndingBefore)
	setStr(q, "status", string(p.Status))
	return q
}

const (
	accountsPath        = "/v1/accounts"
	usersPath           = "/v1/users"
	serviceAccountsPath = "/v1/service-accounts"
	rolesPath           = "/v1/roles"
)

// ---- accounts (operator keys with accounts:read / accounts:write) ----

// CreateAccount creates an account with its catalog template (POST
// /v1/accounts). Honours IdempotencyKey. A taken name is 409 duplicate.
func (c *Client) CreateAccount(ctx context.Context, in *keyward.AccountFields, opts ...CallOption) (*Account, error) {
	return send[Account](ctx, c, http.MethodPost, segs(accountsPath), nil, fieldsBody(in), opts)
}

// ListAccounts returns one page of accounts, newest first.
func (c *Client) ListAccounts(ctx context.Context, p *PageParams, opts ...CallOption) (*Page[Account], error) {
	return send[Page[Account]](ctx, c, http.MethodGet, segs(accountsPath), p.values(), nil, opts)
}

// AccountsPager returns a pager over every account.
func (c *Client) AccountsPager(p *PageParams, opts ...CallOption) *Pager[Account] {
	return newPager(c, accountsPath, p.values(), opts, func(a *Account) string { return a.ID })
}

// GetAccount returns an account.
func (c *Client) GetAccount(ctx context.Context, id string, opts ...CallOption) (*Account, error) {
	return send[Account](ctx, c, http.MethodGet, segs(accountsPath, id), nil, nil, opts)
}

// UpdateAccount applies a partial update to an account's settings
// (catalog_template is immutable: 422). Honours IfMatch.
func (c *Client) UpdateAccount(ctx context.Context, id string, in *keyward.AccountFields, opts ...CallOption) (*Account, error) {
	return send[Account](ctx, c, http.MethodPatch, segs(accountsPath, id), nil, fieldsBody(in), opts)
}

// DeleteAccount deletes an account and everything in it; its keys stop
// verifying at once. Honours IfMatch.
func (c *Client) DeleteAccount(ctx context.Context, id string, opts ...CallOption) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: segs(accountsPath, id)}, opts)
	return err
}

// ---- users (members:read / members:write) ----

// CreateUser creates a user. A taken external_id is 409 duplicate.
func (c *Client) CreateUser(ctx context.Context, in *keyward.UserFields, opts ...CallOption) (*User, error) {
	return send[User](ctx, c, http.MethodPost, segs(usersPath), nil, fieldsBody(in), opts)
}

// ListUsers returns one page of users, newest first.
func (c *Client) ListUsers(ctx context.Context, p *UserListParams, opts ...CallOption) (*Page[User], error) {
	return send[Page[User]](ctx, c, http.MethodGet, segs(usersPath), p.values(), nil, opts)
}

// UsersPager returns a pager over every user matching p.
func (c *Client) UsersPager(p *UserListParams, opts ...CallOption) *Pager[User] {
	return newPager(c, usersPath, p.values(), opts, func(u *User) string { return u.ID })
}

// GetUser returns a user.
func (c *Client) GetUser(ctx context.Context, id string, opts ...CallOption) (*User, error) {
	return send[User](ctx, c, http.MethodGet, segs(usersPath, id), nil, nil, opts)
}

// UpdateUser applies a partial update to a user; disabling one makes its
// keys verify as OWNER_INACTIVE. Honours IfMatch.
func (c *Client) UpdateUser(ctx context.Context, id string, in *keyward.UserFields, opts ...CallOption) (*User, error) {
	return send[User](ctx, c, http.MethodPatch, segs(usersPath, id), nil, fieldsBody(in), opts)
}

// DeleteUser deletes a user and revokes every key it owns. Honours IfMatch.
func (c *Client) DeleteUser(ctx context.Context, id string, opts ...CallOption) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: segs(usersPath, id)}, opts)
	return err
}

// ---- service accounts (members:read / members:write) ----

// CreateServiceAccount creates a service account (names unique: 409 duplicate).
func (c *Client) CreateServiceAccount(ctx context.Context, in *keyward.ServiceAccountFields, opts ...CallOption) (*ServiceAccount, error) {
	return send[ServiceAccount](ctx, c, http.MethodPost, segs(serviceAccountsPath), nil, fieldsBody(in), opts)
}

// ListServiceAccounts returns one page of service accounts, newest first.
func (c *Client) ListServiceAccounts(ctx context.Context, p *ServiceAccountListParams, opts ...CallOption) (*Page[ServiceAccount], error) {
	return send[Page[ServiceAccount]](ctx, c, http.MethodGet, segs(serviceAccountsPath), p.values(), nil, opts)
}

// ServiceAccountsPager returns a pager over every service account matching p.
func (c *Client) ServiceAccountsPager(p *ServiceAccountListParams, opts ...CallOption) *Pager[ServiceAccount] {
	return newPager(c, serviceAccountsPath, p.values(), opts, func(s *ServiceAccount) string { return s.ID })
}

// GetServiceAccount returns a service account.
func (c *Client) GetServiceAccount(ctx context.Context, id string, opts ...CallOption) (*ServiceAccount, error) {
	return send[ServiceAccount](ctx, c, http.MethodGet, segs(serviceAccountsPath, id), nil, nil, opts)
}

// UpdateServiceAccount applies a partial update. Honours IfMatch.
func (c *Client) UpdateServiceAccount(ctx context.Context, id string, in *keyward.ServiceAccountFields, opts ...CallOption) (*ServiceAccount, error) {
	return send[ServiceAccount](ctx, c, http.MethodPatch, segs(serviceAccountsPath, id), nil, fieldsBody(in), opts)
}

// DeleteServiceAccount deletes a service account and revokes its keys.
func (c *Client) DeleteServiceAccount(ctx context.Context, id string, opts ...CallOption) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: segs(serviceAccountsPath, id)}, opts)
	return err
}

// ---- roles (members:read / members:write) ----

// CreateRole creates a role; its scopes are checked against the catalog.
func (c *Client) CreateRole(ctx context.Context, in *keyward.RoleFields, opts ...CallOption) (*Role, error) {
	return send[Role](ctx, c, http.MethodPost, segs(rolesPath), nil, fieldsBody(in), opts)
}

// ListRoles returns every role of the account (not paginated).
func (c *Client) ListRoles(ctx context.Context, opts ...CallOption) ([]Role, error) {
	p, err := send[Page[Role]](ctx, c, http.MethodGet, segs(rolesPath), nil, nil, opts)
	if err != nil {
		return nil, err
	}
	return p.Data, nil
}

// GetRole returns a role by name.
func (c *Client) GetRole(ctx context.Context, name string, opts ...CallOption) (*Role, error) {
	return send[Role](ctx, c, http.MethodGet, segs(rolesPath, name), nil, nil, opts)
}

// UpdateRole applies a partial update to a role (the name is immutable).
// Honours IfMatch.
func (c *Client) UpdateRole(ctx context.Context, name string, in *keyward.RoleFields, opts ...CallOption) (*Role, error) {
	return send[Role](ctx, c, http.MethodPatch, segs(rolesPath, name), nil, fieldsBody(in), opts)
}

// DeleteRole deletes a role; one a user or a non-revoked key holds is 409
// resource_in_use with user_ids and key_ids details.
func (c *Client) DeleteRole(ctx context.Context, name string, opts ...CallOption) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: segs(rolesPath, name)}, opts)
	return err
}

// send makes a call whose answer decodes into a T.
func send[T any](ctx context.Context, c *Client, method string, path []string, q url.Values, body any, opts []CallOption) (*T, error) {
	var out T
	if _, err := c.do(ctx, request{method: method, path: path, query: q, body: body, out: &out}, opts); err != nil {
		return nil, err
	}
	return &out, nil
}

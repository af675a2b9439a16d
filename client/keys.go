package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// KeyWithSecret is the answer of a create or a rotation: the key and its
// new secret, which keyward shows this once (and again only to a retry
// with the same Idempotency-Key, or through RevealSecret for a recoverable
// key). Secret prints as "[redacted]"; call Secret.Reveal to use it.
type KeyWithSecret struct {
	Key
	Secret keyward.Token `json:"-"`
	// Replayed is set when the answer is an earlier request's, replayed
	// for the same Idempotency-Key: the secret is that request's.
	Replayed bool `json:"-"`
}

// UnmarshalJSON reads the key and its secret.
func (k *KeyWithSecret) UnmarshalJSON(b []byte) error {
	s, err := api.ReadSecret(b, &k.Key)
	k.Secret = s
	return err
}

// ManagementKeyWithSecret is KeyWithSecret for a management key.
type ManagementKeyWithSecret struct {
	ManagementKey
	Secret   keyward.Token `json:"-"`
	Replayed bool          `json:"-"`
}

// UnmarshalJSON reads the key and its secret.
func (k *ManagementKeyWithSecret) UnmarshalJSON(b []byte) error {
	s, err := api.ReadSecret(b, &k.ManagementKey)
	k.Secret = s
	return err
}

func (k *KeyWithSecret) replayed(r bool)           { k.Replayed = r }
func (k *ManagementKeyWithSecret) replayed(r bool) { k.Replayed = r }

// created makes a call that creates (or rotates) a key: its answer holds
// the secret, and says whether it is a replay of an earlier request's.
func created[T any, P interface {
	*T
	replayed(bool)
}](ctx context.Context, c *Client, path []string, body any, opts []CallOption) (*T, error) {
	var out T
	res, err := c.do(ctx, request{method: http.MethodPost, path: path, body: body, out: &out}, opts)
	if err != nil {
		return nil, err
	}
	P(&out).replayed(res.Replayed)
	return &out, nil
}

// KeyListParams are the filters and cursor of GET /v1/keys (and
// /v1/management-keys). Zero values are not sent.
type KeyListParams struct {
	// Limit is the page size, 1–200 (server default 25).
	Limit int
	// StartingAfter gives the page after this id (the last of a page);
	// EndingBefore the page before it (the first of a page).
	StartingAfter string
	EndingBefore  string

	Status         keyward.KeyStatus
	OwnerType      keyward.OwnerType
	OwnerID        string
	ProjectID      string // keys scoped to this project
	PermissionMode keyward.PermissionMode
	Resource       string // keys with an explicit scope on this resource
	Role           string
	Search         string // case-insensitive substring of the name
	// Expired: true lists keys whose expiry has passed, false keys without
	// one or with a future one; nil does not filter.
	Expired        *bool
	CreatedAfter   time.Time // exclusive bounds; zero: none
	CreatedBefore  time.Time
	LastUsedBefore time.Time // includes never-used keys
	// ExpiresAfter and ExpiresBefore: keys with an expiry after, or
	// before, the time (exclusive; keys that never expire match neither).
	ExpiresAfter  time.Time
	ExpiresBefore time.Time
}

func (p *KeyListParams) values() url.Values {
	q := url.Values{}
	if p == nil {
		return q
	}
	setPage(q, p.Limit, p.StartingAfter, p.EndingBefore)
	setStr(q, "status", string(p.Status))
	setStr(q, "owner_type", string(p.OwnerType))
	setStr(q, "owner_id", p.OwnerID)
	setStr(q, "project_id", p.ProjectID)
	setStr(q, "permission_mode", string(p.PermissionMode))
	setStr(q, "resource", p.Resource)
	setStr(q, "role", p.Role)
	setStr(q, "search", p.Search)
	if p.Expired != nil {
		q.Set("expired", strconv.FormatBool(*p.Expired))
	}
	setTime(q, "created_after", p.CreatedAfter)
	setTime(q, "created_before", p.CreatedBefore)
	setTime(q, "last_used_before", p.LastUsedBefore)
	setTime(q, "expires_after", p.ExpiresAfter)
	setTime(q, "expires_before", p.ExpiresBefore)
	return q
}

// KeySecret is the secret of a recoverable key.
type KeySecret struct {
	ID     string
	Secret keyward.Token
}

// UnmarshalJSON reads the key's id and its secret.
func (k *KeySecret) UnmarshalJSON(b []byte) error {
	var ref api.KeyRef
	s, err := api.ReadSecret(b, &ref)
	k.ID, k.Secret = ref.ID, s
	return err
}

// ---- API keys ----

const (
	keysPath     = "/v1/keys"
	mgmtKeysPath = "/v1/management-keys"
)

// CreateKey creates an API key (POST /v1/keys, keys:write). name is
// required; see docs/api.md for every member and default. The answer holds
// the secret, shown this once; with IdempotencyKey a retry gets the same
// secret again (Replayed set). Failures are *Error (422 validation_failed
// names each field).
func (c *Client) CreateKey(ctx context.Context, in *keyward.KeyFields, opts ...CallOption) (*KeyWithSecret, error) {
	return created[KeyWithSecret](ctx, c, segs(keysPath), fieldsBody(in), opts)
}

// ListKeys returns one page of API keys, newest first (GET /v1/keys,
// keys:read). KeysPager follows the cursors.
func (c *Client) ListKeys(ctx context.Context, p *KeyListParams, opts ...CallOption) (*Page[Key], error) {
	return send[Page[Key]](ctx, c, http.MethodGet, segs(keysPath), p.values(), nil, opts)
}

// KeysPager returns a pager over every API key matching p, starting at p's
// cursor.
func (c *Client) KeysPager(p *KeyListParams, opts ...CallOption) *Pager[Key] {
	return newPager(c, keysPath, p.values(), opts, func(k *Key) string { return k.ID })
}

// GetKey returns an API key (GET /v1/keys/{id}, keys:read); an unknown id,
// or another account's, is a 404 not_found *Error.
func (c *Client) GetKey(ctx context.Context, id string, opts ...CallOption) (*Key, error) {
	return send[Key](ctx, c, http.MethodGet, segs(keysPath, id), nil, nil, opts)
}

// UpdateKey applies a partial update (PATCH /v1/keys/{id}, keys:write):
// members not Set stay, keyward.Null clears, a value replaces. Honours
// IfMatch (412). A revoked key is 409 key_revoked.
func (c *Client) UpdateKey(ctx context.Context, id string, in *keyward.KeyFields, opts ...CallOption) (*Key, error) {
	return send[Key](ctx, c, http.MethodPatch, segs(keysPath, id), nil, fieldsBody(in), opts)
}

// ReplaceKey replaces every mutable member (PUT /v1/keys/{id},
// keys:write): members not Set take a new key's values. Honours IfMatch.
func (c *Client) ReplaceKey(ctx context.Context, id string, in *keyward.KeyFields, opts ...CallOption) (*Key, error) {
	return send[Key](ctx, c, http.MethodPut, segs(keysPath, id), nil, fieldsBody(in), opts)
}

// DeleteKey deletes an API key for good (DELETE /v1/keys/{id},
// keys:write): its tokens verify as NOT_FOUND at once. Honours IfMatch.
func (c *Client) DeleteKey(ctx context.Context, id string, opts ...CallOption) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: segs(keysPath, id)}, opts)
	return err
}

// RotateKey gives an API key a new secret (POST /v1/keys/{id}/rotate,
// keys:write); in may be nil (grace 0). Honours IfMatch and
// IdempotencyKey.
func (c *Client) RotateKey(ctx context.Context, id string, in *RotateRequest, opts ...CallOption) (*KeyWithSecret, error) {
	return created[KeyWithSecret](ctx, c, segs(keysPath, id, "rotate"), fieldsBody(in), opts)
}

// ChangeCredits sets, adds to or subtracts from an API key's credits
// (POST /v1/keys/{id}/credits, keys:write; audited as
// key.credits_changed) and returns the key. A key without credits is 409
// conflict (give it credits with UpdateKey first); a revoked key is 409
// key_revoked. Honours IfMatch.
func (c *Client) ChangeCredits(ctx context.Context, id string, in *CreditsChange, opts ...CallOption) (*Key, error) {
	return send[Key](ctx, c, http.MethodPost, segs(keysPath, id, "credits"), nil, fieldsBody(in), opts)
}

// RevealSecret returns the secret of a recoverable key (GET
// /v1/keys/{id}/secret, keys:reveal; audited). A key that is not
// recoverable is 409 conflict.
func (c *Client) RevealSecret(ctx context.Context, id string, opts ...CallOption) (*KeySecret, error) {
	return send[KeySecret](ctx, c, http.MethodGet, segs(keysPath, id, "secret"), nil, nil, opts)
}

// ImportKeys imports 1–1000 keys by the hashes of their tokens (POST
// /v1/keys/import, keys:write), all or nothing: duplicates are 409
// duplicate, any other invalid item 422, each naming keys[i].
func (c *Client) ImportKeys(ctx context.Context, items []keyward.ImportItem, opts ...CallOption) ([]Key, error) {
	if items == nil {
		items = []keyward.ImportItem{}
	}
	body := api.ImportRequest{Keys: items}
	var out Page[Key]
	if _, err := c.do(ctx, request{method: http.MethodPost, path: segs(keysPath, "import"), body: body, out: &out}, opts); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// VerifyKey verifies a token (POST /v1/keys/verify, keys:verify). Every
// well-formed request gets a result, valid or not; only a malformed
// request is an error (422 invalid_permission_query for a bad query,
// validation_failed for a bad ip, project_id or cost).
func (c *Client) VerifyKey(ctx context.Context, in *keyward.VerifyRequest, opts ...CallOption) (*VerifyResult, error) {
	return send[VerifyResult](ctx, c, http.MethodPost, segs(keysPath, "verify"), nil, fieldsBody(in), opts)
}

// Whoami returns the key the client authenticates with (GET /v1/whoami):
// any key, API or management; an invalid or inactive one is 401.
func (c *Client) Whoami(ctx context.Context, opts ...CallOption) (*Whoami, error) {
	return send[Whoami](ctx, c, http.MethodGet, segs("/v1/whoami"), nil, nil, opts)
}

// ---- management keys ----

// CreateManagementKey creates a management key (POST /v1/management-keys,
// management_keys:write, within the caller's own permissions).
// Permissions is required. The answer holds the secret, shown this once.
func (c *Client) CreateManagementKey(ctx context.Context, in *keyward.KeyFields, opts ...CallOption) (*ManagementKeyWithSecret, error) {
	return created[ManagementKeyWithSecret](ctx, c, segs(mgmtKeysPath), fieldsBody(in), opts)
}

// ListManagementKeys returns one page of management keys (GET
// /v1/management-keys, management_keys:read).
func (c *Client) ListManagementKeys(ctx context.Context, p *KeyListParams, opts ...CallOption) (*Page[ManagementKey], error) {
	return send[Page[ManagementKey]](ctx, c, http.MethodGet, segs(mgmtKeysPath), p.values(), nil, opts)
}

// ManagementKeysPager returns a pager over every management key matching p.
func (c *Client) ManagementKeysPager(p *KeyListParams, opts ...CallOption) *Pager[ManagementKey] {
	return newPager(c, mgmtKeysPath, p.values(), opts, func(k *ManagementKey) string { return k.ID })
}

// GetManagementKey returns a management key (management_keys:read).
func (c *Client) GetManagementKey(ctx context.Context, id string, opts ...CallOption) (*ManagementKey, error) {
	return send[ManagementKey](ctx, c, http.MethodGet, segs(mgmtKeysPath, id), nil, nil, opts)
}

// UpdateManagementKey applies a partial update to a management key
// (management_keys:write; never the calling key itself: 403).
func (c *Client) UpdateManagementKey(ctx context.Context, id string, in *keyward.KeyFields, opts ...CallOption) (*ManagementKey, error) {
	return send[ManagementKey](ctx, c, http.MethodPatch, segs(mgmtKeysPath, id), nil, fieldsBody(in), opts)
}

// ReplaceManagementKey replaces a management key's mutable members (PUT).
func (c *Client) ReplaceManagementKey(ctx context.Context, id string, in *keyward.KeyFields, opts ...CallOption) (*ManagementKey, error) {
	return send[ManagementKey](ctx, c, http.MethodPut, segs(mgmtKeysPath, id), nil, fieldsBody(in), opts)
}

// DeleteManagementKey deletes a management key (management_keys:write).
func (c *Client) DeleteManagementKey(ctx context.Context, id string, opts ...CallOption) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: segs(mgmtKeysPath, id)}, opts)
	return err
}

// RotateManagementKey gives a management key a new secret; in may be nil.
func (c *Client) RotateManagementKey(ctx context.Context, id string, in *RotateRequest, opts ...CallOption) (*ManagementKeyWithSecret, error) {
	return created[ManagementKeyWithSecret](ctx, c, segs(mgmtKeysPath, id, "rotate"), fieldsBody(in), opts)
}

// fieldsBody sends {} for a nil body: the routes that take one need one.
func fieldsBody[T any](in *T) any {
	if in == nil {
		return new(T)
	}
	return in
}

func setPage(q url.Values, limit int, after, before string) {
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	setStr(q, "starting_after", after)
	setStr(q, "ending_before", before)
}

func setStr(q url.Values, name, v string) {
	if v != "" {
		q.Set(name, v)
	}
}

func setTime(q url.Values, name string, t time.Time) {
	if !t.IsZero() {
		q.Set(name, t.UTC().Format(time.RFC3339Nano))
	}
}

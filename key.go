package keyward

import (
	"encoding/json"
	"time"
)

// KeyKind tells API keys (issued to an account's customers, verified, never
// able to manage anything) from management keys (calling keyward's
// management API).
type KeyKind string

const (
	KindAPI        KeyKind = "api"
	KindManagement KeyKind = "management"
)

// KeyStatus is a key's lifecycle state. Revoked is terminal.
type KeyStatus string

const (
	StatusActive   KeyStatus = "active"
	StatusDisabled KeyStatus = "disabled"
	StatusRevoked  KeyStatus = "revoked"
)

// Valid reports whether s is a known status.
func (s KeyStatus) Valid() bool {
	return s == StatusActive || s == StatusDisabled || s == StatusRevoked
}

// PermissionMode says how an API key's permissions are derived.
type PermissionMode string

const (
	// ModeAll grants every non-protected catalog resource at its highest level.
	ModeAll PermissionMode = "all"
	// ModeReadOnly grants every non-protected readable resource at read.
	ModeReadOnly PermissionMode = "read_only"
	// ModeRestricted grants exactly the key's scopes and its roles' scopes.
	ModeRestricted PermissionMode = "restricted"
)

// Valid reports whether m is a known mode.
func (m PermissionMode) Valid() bool {
	return m == ModeAll || m == ModeReadOnly || m == ModeRestricted
}

// OwnerType says who a key belongs to.
type OwnerType string

const (
	OwnerAccount        OwnerType = "account"
	OwnerUser           OwnerType = "user"
	OwnerServiceAccount OwnerType = "service_account"
)

// Owner is who a key belongs to: the account itself, a user or a service account.
type Owner struct {
	Type OwnerType `json:"type"`
	ID   string    `json:"id"`
}

// RateLimit allows Limit verifications per Window seconds.
type RateLimit struct {
	Limit  int64 `json:"limit"`
	Window int64 `json:"window"`
}

// Credits is a usage budget taken from by verifications.
type Credits struct {
	Remaining int64   `json:"remaining"`
	Refill    *Refill `json:"refill"`
	// PeriodStart and Epoch belong to the pool (see CreditPool): the start
	// of the current refill period, and a number that changes when the
	// pool is set outright. Not part of the API.
	PeriodStart time.Time `json:"-"`
	Epoch       int64     `json:"-"`
}

// Pool returns the spendable state of the credits.
func (c *Credits) Pool() CreditPool {
	return CreditPool{Remaining: c.Remaining, PeriodStart: c.PeriodStart, Epoch: c.Epoch}
}

// Refill resets the credits to Amount every Interval seconds.
type Refill struct {
	Amount   int64 `json:"amount"`
	Interval int64 `json:"interval"`
}

// Key is an API key or a management key (docs/api.md). The secret is never part
// of it: the store keeps SHA-256 hashes of the current and earlier secrets.
type Key struct {
	ID        string
	AccountID string // "" only for operator management keys, which span accounts
	Kind      KeyKind
	Operator  bool // management keys only: acts on every account

	Name        string
	Description *string
	Status      KeyStatus

	Prefix string
	Start  string
	Last4  string

	Owner     Owner
	ProjectID *string // nil = all projects

	PermissionMode PermissionMode // API keys
	Scopes         []Scope        // API keys, restricted mode
	Roles          []string       // API keys, restricted mode
	Permissions    []string       // management keys

	ExpiresAt   *time.Time
	Metadata    map[string]json.RawMessage
	IPAllowlist []string // nil = any address
	RateLimit   *RateLimit
	Credits     *Credits

	Recoverable bool
	// SealedSecret is the token of a recoverable key, sealed under the
	// server's master key; nil for other keys. Never shown by the API.
	SealedSecret []byte
	LegacyKeyID  *string

	CreatedAt   time.Time
	UpdatedAt   time.Time
	CreatedByID string
	UpdatedByID string
	LastUsedAt  *time.Time
	RotatedAt   *time.Time

	// Verifications counts successful verifications (written behind, so
	// it trails by up to the write-behind interval).
	Verifications int64

	// Version counts changes; the etag is derived from it and the id.
	Version int64
}

// ETag returns the entity tag of this version of the key (without quotes).
func (k *Key) ETag() string { return entityTag(k.ID, k.Version) }

// Clone returns a deep copy, so rules can change a key without touching the
// original.
func (k *Key) Clone() *Key {
	c := *k
	c.Description = clonePtr(k.Description)
	c.ProjectID = clonePtr(k.ProjectID)
	c.ExpiresAt = clonePtr(k.ExpiresAt)
	c.LegacyKeyID = clonePtr(k.LegacyKeyID)
	c.LastUsedAt = clonePtr(k.LastUsedAt)
	c.RotatedAt = clonePtr(k.RotatedAt)
	if k.RateLimit != nil {
		r := *k.RateLimit
		c.RateLimit = &r
	}
	if k.Credits != nil {
		cr := *k.Credits
		cr.Refill = clonePtr(k.Credits.Refill)
		c.Credits = &cr
	}
	c.Scopes = CloneScopes(k.Scopes)
	c.Roles = cloneSlice(k.Roles)
	c.Permissions = cloneSlice(k.Permissions)
	c.SealedSecret = cloneSlice(k.SealedSecret)
	c.IPAllowlist = cloneSlice(k.IPAllowlist)
	if k.Metadata != nil {
		c.Metadata = make(map[string]json.RawMessage, len(k.Metadata))
		for n, v := range k.Metadata {
			c.Metadata[n] = v
		}
	}
	return &c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}

// KeyMatch is the result of looking a token up by its hash.
type KeyMatch struct {
	Key *Key
	// ValidUntil is nil for the current secret, and the end of the grace
	// period for a secret replaced by rotation.
	ValidUntil *time.Time
}

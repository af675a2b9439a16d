package keyward

import "time"

// DefaultAccountName is the name of the account created on an empty database.
const DefaultAccountName = "default"

// Account is a tenant; everything else belongs to exactly one account.
type Account struct {
	ID                    string
	Name                  string
	DefaultPrefix         string
	CatalogTemplate       string
	DefaultPermissionMode PermissionMode
	// MaxKeyLifetime, if set, bounds how far in the future (in seconds from
	// the change) a key's expiry may be.
	MaxKeyLifetime *int64
	// RequireExpiry makes an expiry mandatory on every key.
	RequireExpiry bool
	// DefaultKeyLifetime, if set, gives keys created without an expiry one
	// that many seconds after creation.
	DefaultKeyLifetime *int64
	CreatedAt          time.Time
	UpdatedAt          time.Time
	Version            int64
}

// Project is a subdivision of an account; a key may be scoped to one.
type Project struct {
	ID          string
	AccountID   string
	Name        string
	Description *string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Version     int64
}

// ETag returns the project's entity tag.
func (p *Project) ETag() string { return ETag(p.ID, p.Version) }

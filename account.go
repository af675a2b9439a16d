package keyward

import (
	"strings"
	"time"
)

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

// ETag returns the account's entity tag.
func (a *Account) ETag() string { return entityTag(a.ID, a.Version) }

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
func (p *Project) ETag() string { return entityTag(p.ID, p.Version) }

// ProjectFields is the body of a project create or PATCH.
type ProjectFields struct {
	Name        Field[string] `json:"name"`
	Description Field[string] `json:"description"`
}

// ApplyProject applies a create or PATCH to p: a name (required at
// creation) and a description (null clears it). Errors are 422 naming
// each field.
func ApplyProject(p *Project, in *ProjectFields, creating bool) error {
	v := &validator{}
	v.named(in.Name, in.Description, creating, &p.Name, &p.Description)
	return v.result()
}

// MaxLifetimeSeconds bounds max_key_lifetime and default_key_lifetime: 100 years.
const MaxLifetimeSeconds = 100 * 365 * 24 * 3600

// AccountFields is the body of an account create or PATCH.
type AccountFields struct {
	Name                  Field[string]         `json:"name"`
	DefaultPrefix         Field[string]         `json:"default_prefix"`
	CatalogTemplate       Field[string]         `json:"catalog_template"`
	DefaultPermissionMode Field[PermissionMode] `json:"default_permission_mode"`
	MaxKeyLifetime        Field[int64]          `json:"max_key_lifetime"`
	RequireExpiry         Field[bool]           `json:"require_expiry"`
	DefaultKeyLifetime    Field[int64]          `json:"default_key_lifetime"`
}

// ApplyAccount applies a create or PATCH to a. The catalog template is
// chosen at creation and immutable afterwards (the catalog itself can be
// edited). Lifetimes are seconds; default_key_lifetime cannot exceed
// max_key_lifetime.
func ApplyAccount(a *Account, in *AccountFields, creating bool) error {
	v := &validator{}
	switch {
	case creating && !in.Name.Set, in.Name.Null:
		v.add("name", "is required")
	case in.Name.Set:
		if msg := CheckText(in.Name.Value, MaxNameLen, true); msg != "" {
			v.add("name", "%s", msg)
		}
		a.Name = in.Name.Value
	}
	switch {
	case in.DefaultPrefix.Null:
		v.add("default_prefix", "cannot be null")
	case in.DefaultPrefix.Set && !ValidPrefix(in.DefaultPrefix.Value):
		v.add("default_prefix", "must match [a-z][a-z0-9]{0,15}")
	case in.DefaultPrefix.Set:
		a.DefaultPrefix = in.DefaultPrefix.Value
	}
	if in.CatalogTemplate.Set {
		switch {
		case !creating && (in.CatalogTemplate.Null || in.CatalogTemplate.Value != a.CatalogTemplate):
			v.add("catalog_template", "is chosen at creation; edit the catalog instead")
		case in.CatalogTemplate.Null:
			v.add("catalog_template", "cannot be null")
		case creating:
			if _, _, ok := CatalogTemplate(in.CatalogTemplate.Value, time.Time{}); !ok {
				v.add("catalog_template", "must be one of %s", strings.Join(Templates(), ", "))
			} else {
				a.CatalogTemplate = in.CatalogTemplate.Value
			}
		}
	}
	switch {
	case in.DefaultPermissionMode.Null:
		v.add("default_permission_mode", "cannot be null")
	case in.DefaultPermissionMode.Set && !in.DefaultPermissionMode.Value.Valid():
		v.add("default_permission_mode", "must be one of all, read_only, restricted")
	case in.DefaultPermissionMode.Set:
		a.DefaultPermissionMode = in.DefaultPermissionMode.Value
	}
	lifetime := func(name string, f Field[int64], dst **int64) {
		switch {
		case !f.Set:
		case f.Null:
			*dst = nil
		case f.Value < 1 || f.Value > MaxLifetimeSeconds:
			v.add(name, "must be between 1 and %d seconds (or null for none)", MaxLifetimeSeconds)
		default:
			n := f.Value
			*dst = &n
		}
	}
	lifetime("max_key_lifetime", in.MaxKeyLifetime, &a.MaxKeyLifetime)
	lifetime("default_key_lifetime", in.DefaultKeyLifetime, &a.DefaultKeyLifetime)
	if in.RequireExpiry.Null {
		v.add("require_expiry", "must be true or false")
	} else if in.RequireExpiry.Set {
		a.RequireExpiry = in.RequireExpiry.Value
	}
	if a.MaxKeyLifetime != nil && a.DefaultKeyLifetime != nil && *a.DefaultKeyLifetime > *a.MaxKeyLifetime {
		v.add("default_key_lifetime", "cannot exceed max_key_lifetime (%d seconds)", *a.MaxKeyLifetime)
	}
	if creating {
		if a.DefaultPrefix == "" {
			a.DefaultPrefix = DefaultPrefix
		}
		if a.CatalogTemplate == "" {
			a.CatalogTemplate = TemplateDefault
		}
		if a.DefaultPermissionMode == "" {
			a.DefaultPermissionMode = ModeAll
		}
	}
	return v.result()
}

// AccountFieldMap returns an account's client-visible settings by their API
// names, for audit diffs.
func AccountFieldMap(a *Account) map[string]any {
	if a == nil {
		return nil
	}
	return map[string]any{
		"name": a.Name, "default_prefix": a.DefaultPrefix, "catalog_template": a.CatalogTemplate,
		"default_permission_mode": a.DefaultPermissionMode, "max_key_lifetime": a.MaxKeyLifetime,
		"require_expiry": a.RequireExpiry, "default_key_lifetime": a.DefaultKeyLifetime,
	}
}

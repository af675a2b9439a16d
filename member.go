package keyward

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// MemberStatus is the state of a user or service account. Keys of a
// disabled owner fail verification with OWNER_INACTIVE.
type MemberStatus string

const (
	MemberActive   MemberStatus = "active"
	MemberDisabled MemberStatus = "disabled"
)

// User is a member of an account. A key a user owns never has more power
// than the user's current roles grant.
type User struct {
	ID         string
	AccountID  string
	ExternalID *string // the id in the customer's own system; unique per account
	Email      *string
	Name       *string
	Roles      []string
	Status     MemberStatus
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Version    int64
}

// ETag returns the user's entity tag.
func (u *User) ETag() string { return entityTag(u.ID, u.Version) }

// ServiceAccount is a non-human owner of keys (a backend, a CI job). Its
// keys are not bounded by roles but stop verifying while it is disabled.
type ServiceAccount struct {
	ID          string
	AccountID   string
	Name        string
	Description *string
	Status      MemberStatus
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Version     int64
}

// ETag returns the service account's entity tag.
func (s *ServiceAccount) ETag() string { return entityTag(s.ID, s.Version) }

// Role is a named list of scopes, defined per account, usable on API keys
// (restricted mode) and on users.
type Role struct {
	AccountID   string
	Name        string
	Description *string
	Scopes      []Scope
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Version     int64
}

// ETag returns the role's entity tag.
func (r *Role) ETag() string { return entityTag(r.AccountID+"/"+r.Name, r.Version) }

// ValidRoleName reports whether name can name a role: [a-z][a-z0-9_.-]*,
// at most 64 characters (the same form as resource ids).
func ValidRoleName(name string) bool { return ValidResourceID(name) }

// UserFields is the body of a user create or PATCH.
type UserFields struct {
	ExternalID Field[string]       `json:"external_id"`
	Email      Field[string]       `json:"email"`
	Name       Field[string]       `json:"name"`
	Roles      Field[[]string]     `json:"roles"`
	Status     Field[MemberStatus] `json:"status"`
}

// MemberEnv is what member rules need: which roles exist in the account.
type MemberEnv struct {
	RoleExists func(name string) (bool, error)
}

// ApplyUser applies a create (creating) or PATCH to u: absent members stay,
// null clears external_id, email and name, values replace. Rule violations
// are 422 naming each field.
func ApplyUser(u *User, in *UserFields, env *MemberEnv, creating bool) error {
	v := &validator{}
	optText := func(name string, f Field[string], max int, check func(string) string, dst **string) {
		switch {
		case !f.Set:
		case f.Null:
			*dst = nil
		default:
			if msg := CheckText(f.Value, max, true); msg != "" {
				v.add(name, "%s", msg)
			} else if check != nil && check(f.Value) != "" {
				v.add(name, "%s", check(f.Value))
			} else {
				s := f.Value
				*dst = &s
			}
		}
	}
	optText("external_id", in.ExternalID, 255, nil, &u.ExternalID)
	optText("email", in.Email, 254, checkEmail, &u.Email)
	optText("name", in.Name, MaxNameLen, nil, &u.Name)
	v.memberStatus(in.Status, &u.Status)
	if in.Roles.Set {
		if in.Roles.Null {
			v.add("roles", "cannot be null; send [] for no roles")
		} else {
			u.Roles = checkRoleNames(v, "roles", in.Roles.Value, env.RoleExists)
		}
	}
	if creating {
		if u.Status == "" {
			u.Status = MemberActive
		}
		if u.Roles == nil {
			u.Roles = []string{}
		}
	}
	return v.result()
}

func checkEmail(s string) string {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s, "@") {
		return "must be an email address (local@domain)"
	}
	return ""
}

// checkRoleNames validates and de-duplicates role names, each of which must
// exist in the account.
func checkRoleNames(v *validator, field string, names []string, exists func(string) (bool, error)) []string {
	out := dedupe(names)
	if len(out) > MaxRoles {
		v.add(field, "at most %d roles", MaxRoles)
		return out
	}
	for i, name := range out {
		at := fmt.Sprintf("%s[%d]", field, i)
		if !ValidRoleName(name) {
			v.add(at, "%q is not a role name", name)
			continue
		}
		ok, err := lookup(exists, name)
		if err != nil {
			v.err = err
		} else if !ok {
			v.add(at, "no role %q in this account", name)
		}
	}
	return out
}

// ServiceAccountFields is the body of a service account create or PATCH.
type ServiceAccountFields struct {
	Name        Field[string]       `json:"name"`
	Description Field[string]       `json:"description"`
	Status      Field[MemberStatus] `json:"status"`
}

// named applies the name (required at creation) and the description (null
// clears it) of an object that has both: service accounts and projects.
func (v *validator) named(name, description Field[string], creating bool, dstName *string, dstDescription **string) {
	switch {
	case creating && !name.Set, name.Null:
		v.add("name", "is required")
	case name.Set:
		if msg := CheckText(name.Value, MaxNameLen, true); msg != "" {
			v.add("name", "%s", msg)
		}
		*dstName = name.Value
	}
	if description.Null {
		*dstDescription = nil
	} else if description.Set {
		if msg := CheckText(description.Value, MaxDescriptionLen, false); msg != "" {
			v.add("description", "%s", msg)
		}
		d := description.Value
		*dstDescription = &d
	}
}

// memberStatus applies the status of a user or a service account.
func (v *validator) memberStatus(in Field[MemberStatus], dst *MemberStatus) {
	switch {
	case !in.Set:
	case in.Null:
		v.add("status", "cannot be null")
	case in.Value != MemberActive && in.Value != MemberDisabled:
		v.add("status", "must be active or disabled")
	default:
		*dst = in.Value
	}
}

// ApplyServiceAccount applies a create or PATCH to sa.
func ApplyServiceAccount(sa *ServiceAccount, in *ServiceAccountFields, creating bool) error {
	v := &validator{}
	v.named(in.Name, in.Description, creating, &sa.Name, &sa.Description)
	v.memberStatus(in.Status, &sa.Status)
	if creating && sa.Status == "" {
		sa.Status = MemberActive
	}
	return v.result()
}

// RoleFields is the body of a role create (with name) or PATCH.
type RoleFields struct {
	Name        Field[string]  `json:"name"`
	Description Field[string]  `json:"description"`
	Scopes      Field[[]Scope] `json:"scopes"`
}

// ApplyRole applies a create or PATCH to r, validating scopes against the
// catalog: roles are granted to API keys, so protected resources are refused
// as they are on keys. The name is set at creation and never changes.
func ApplyRole(r *Role, in *RoleFields, cat Catalog, creating bool) error {
	v := &validator{}
	if creating {
		switch {
		case !in.Name.HasValue():
			v.add("name", "is required")
		case !ValidRoleName(in.Name.Value):
			v.add("name", "must match [a-z][a-z0-9_.-]* and be at most 64 characters")
		default:
			r.Name = in.Name.Value
		}
	} else if in.Name.Set && (in.Name.Null || in.Name.Value != r.Name) {
		v.add("name", "is immutable: create a new role and move its holders")
	}
	if in.Description.Null {
		r.Description = nil
	} else if in.Description.Set {
		if msg := CheckText(in.Description.Value, MaxDescriptionLen, false); msg != "" {
			v.add("description", "%s", msg)
		}
		d := in.Description.Value
		r.Description = &d
	}
	switch {
	case in.Scopes.Null:
		v.add("scopes", "cannot be null; send [] for none")
	case in.Scopes.Set:
		r.Scopes = normalizeScopes(in.Scopes.Value)
		v.errs = append(v.errs, CheckScopes("scopes", r.Scopes, cat, false)...)
	case creating:
		r.Scopes = []Scope{}
	}
	return v.result()
}

package keyward

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Access is an access level: none < read < write; write includes read.
type Access string

const (
	AccessNone  Access = "none"
	AccessRead  Access = "read"
	AccessWrite Access = "write"
)

// Wildcard is the target that stands for every object of a resource.
const Wildcard = "*"

// Scope grants access to a catalog resource, on every object (targets
// ["*"]) or on the listed object ids.
type Scope struct {
	Resource string   `json:"resource"`
	Access   Access   `json:"access"`
	Targets  []string `json:"targets"`
}

// UnmarshalJSON reads a scope strictly. Absent targets mean every object
// (["*"]); null targets are refused rather than read as "every object",
// since a client sending null is more likely confused than generous.
func (s *Scope) UnmarshalJSON(b []byte) error {
	var in struct {
		Resource string          `json:"resource"`
		Access   Access          `json:"access"`
		Targets  Field[[]string] `json:"targets"`
	}
	if err := strictUnmarshal(b, &in); err != nil {
		return err
	}
	*s = Scope{Resource: in.Resource, Access: in.Access, Targets: in.Targets.Value}
	switch {
	case !in.Targets.Set:
		s.Targets = []string{Wildcard}
	case in.Targets.Null:
		return &json.UnmarshalTypeError{Value: "null", Type: reflect.TypeFor[[]string](), Field: "targets"}
	case s.Targets == nil:
		s.Targets = []string{}
	}
	return nil
}

// ParseScope reads a scope in its text form, resource:access or
// resource:access:target1,target2 (documents:read,
// documents:write:doc_1,doc_2), as the CLI's --scope and the dashboard's
// scope editor take it; without targets, Targets is nil (every object).
// The error says what is wrong with s.
func ParseScope(s string) (Scope, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 {
		return Scope{}, errors.New("missing the access level")
	}
	if !ValidResourceID(parts[0]) {
		return Scope{}, errors.New("the resource must match [a-z][a-z0-9_.-]*")
	}
	if parts[1] != string(AccessRead) && parts[1] != string(AccessWrite) {
		return Scope{}, errors.New("the access level must be read or write")
	}
	sc := Scope{Resource: parts[0], Access: Access(parts[1])}
	if len(parts) == 3 {
		targets := strings.Split(parts[2], ",")
		for _, t := range targets {
			if t != Wildcard && !ValidTarget(t) {
				return Scope{}, fmt.Errorf("target %q is not an object id", t)
			}
		}
		sc.Targets = targets
	}
	return sc, nil
}

// Text returns the scope in the text form ParseScope reads; targets are
// left out when they are every object.
func (s Scope) Text() string {
	t := s.Resource + ":" + string(s.Access)
	if len(s.Targets) > 0 && !(len(s.Targets) == 1 && s.Targets[0] == Wildcard) {
		t += ":" + strings.Join(s.Targets, ",")
	}
	return t
}

// CloneScopes returns a deep copy of s.
func CloneScopes(s []Scope) []Scope {
	if s == nil {
		return nil
	}
	out := make([]Scope, len(s))
	for i, sc := range s {
		out[i] = Scope{Resource: sc.Resource, Access: sc.Access, Targets: cloneSlice(sc.Targets)}
	}
	return out
}

// ProjectScope names how a resource may be granted with respect to projects.
const (
	ProjectScopeAll    = "all"    // to keys of all projects
	ProjectScopeSingle = "single" // to keys scoped to one project
)

// Resource is an entry of an account's permission catalog.
type Resource struct {
	ID            string    `json:"id"`
	DisplayName   string    `json:"display_name"`
	Group         string    `json:"group"`
	Description   string    `json:"description"`
	Readable      bool      `json:"readable"`
	Writable      bool      `json:"writable"`
	ProjectScopes []string  `json:"project_scopes"`
	Protected     bool      `json:"protected"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// ResourceFields is the body of PUT /v1/catalog/resources/{id}: the whole
// resource. Members not Set take their defaults (display name = id,
// readable and writable, both project scopes, not protected).
type ResourceFields struct {
	DisplayName   Field[string]   `json:"display_name"`
	Group         Field[string]   `json:"group"`
	Description   Field[string]   `json:"description"`
	Readable      Field[bool]     `json:"readable"`
	Writable      Field[bool]     `json:"writable"`
	ProjectScopes Field[[]string] `json:"project_scopes"`
	Protected     Field[bool]     `json:"protected"`
}

// NewResource returns the resource id that in describes, validated, with
// the defaults for what in leaves out. Errors are 422 naming each field.
func NewResource(id string, in *ResourceFields) (*Resource, error) {
	v := &validator{}
	r := &Resource{ID: id, DisplayName: id, Readable: true, Writable: true,
		ProjectScopes: []string{ProjectScopeAll, ProjectScopeSingle}}
	if !ValidResourceID(id) {
		v.add("id", "must match [a-z][a-z0-9_.-]* and be at most 64 characters")
	}
	text := func(name string, f Field[string], max int, dst *string) {
		switch {
		case !f.Set:
		case f.Null:
			v.add(name, "cannot be null")
		case len(f.Value) > max || strings.ContainsAny(f.Value, "\x00\r\n"):
			v.add(name, "must be at most %d characters on one line", max)
		default:
			*dst = f.Value
		}
	}
	text("display_name", in.DisplayName, 255, &r.DisplayName)
	if strings.TrimSpace(r.DisplayName) == "" {
		v.add("display_name", "must not be empty")
	}
	text("group", in.Group, 64, &r.Group)
	text("description", in.Description, 1024, &r.Description)
	flag := func(name string, f Field[bool], dst *bool) {
		if f.Null {
			v.add(name, "cannot be null")
		} else if f.Set {
			*dst = f.Value
		}
	}
	flag("readable", in.Readable, &r.Readable)
	flag("writable", in.Writable, &r.Writable)
	flag("protected", in.Protected, &r.Protected)
	if !r.Readable && !r.Writable {
		v.add("readable", "a resource must be readable, writable or both")
	}
	if in.ProjectScopes.Null {
		v.add("project_scopes", "cannot be null")
	} else if in.ProjectScopes.Set {
		ps := in.ProjectScopes.Value
		for i, p := range ps {
			if p != ProjectScopeAll && p != ProjectScopeSingle {
				v.add(fmt.Sprintf("project_scopes[%d]", i), "must be all or single")
			}
		}
		// Canonical order (all, then single) and no repeats, so the same
		// set is the same resource.
		r.ProjectScopes = nil
		for _, p := range []string{ProjectScopeAll, ProjectScopeSingle} {
			if slices.Contains(ps, p) {
				r.ProjectScopes = append(r.ProjectScopes, p)
			}
		}
		if len(ps) == 0 {
			v.add("project_scopes", "must hold all, single or both")
		}
	}
	if err := v.result(); err != nil {
		return nil, err
	}
	return r, nil
}

// Supports reports whether the resource can be granted at level a.
func (r *Resource) Supports(a Access) bool {
	switch a {
	case AccessRead:
		return r.Readable
	case AccessWrite:
		return r.Writable
	}
	return false
}

// AllowsSingleProject reports whether a key scoped to one project may hold it.
func (r *Resource) AllowsSingleProject() bool {
	return slices.Contains(r.ProjectScopes, ProjectScopeSingle)
}

// Catalog is an account's resources, by id.
type Catalog map[string]*Resource

// NewCatalog indexes resources by id.
func NewCatalog(resources []*Resource) Catalog {
	c := make(Catalog, len(resources))
	for _, r := range resources {
		c[r.ID] = r
	}
	return c
}

// ValidResourceID reports whether id matches [a-z][a-z0-9_.-]* and is at
// most 64 characters long.
func ValidResourceID(id string) bool {
	if len(id) == 0 || len(id) > 64 || id[0] < 'a' || id[0] > 'z' {
		return false
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Management permissions (docs/permissions.md): held only by management keys, never
// part of any catalog.
const (
	PermKeysRead            = "keys:read"
	PermKeysWrite           = "keys:write"
	PermKeysVerify          = "keys:verify"
	PermKeysReveal          = "keys:reveal"
	PermManagementKeysRead  = "management_keys:read"
	PermManagementKeysWrite = "management_keys:write"
	PermMembersRead         = "members:read"
	PermMembersWrite        = "members:write"
	PermCatalogRead         = "catalog:read"
	PermCatalogWrite        = "catalog:write"
	PermAuditRead           = "audit:read"
	PermUsageRead           = "usage:read"
	PermAccountsRead        = "accounts:read"  // operator keys only
	PermAccountsWrite       = "accounts:write" // operator keys only
)

// ManagementPermission describes one management permission.
type ManagementPermission struct {
	ID           string `json:"id"`
	Description  string `json:"description"`
	OperatorOnly bool   `json:"operator_only"`
}

// ManagementPermissions returns the fixed set of management permissions, in
// a stable order.
func ManagementPermissions() []ManagementPermission {
	return []ManagementPermission{
		{PermKeysRead, "list and read API keys and projects", false},
		{PermKeysWrite, "create, change, rotate, revoke and delete API keys; create, change and delete projects", false},
		{PermKeysVerify, "verify API keys", false},
		{PermKeysReveal, "read back the secret of recoverable keys", false},
		{PermManagementKeysRead, "list and read management keys", false},
		{PermManagementKeysWrite, "create, change, rotate and delete management keys (never beyond the caller's own permissions)", false},
		{PermMembersRead, "list and read users, service accounts and roles", false},
		{PermMembersWrite, "create, change and delete users, service accounts and roles", false},
		{PermCatalogRead, "read the permission catalog", false},
		{PermCatalogWrite, "add, change and remove catalog resources", false},
		{PermAuditRead, "read the audit log", false},
		{PermUsageRead, "read usage: verifications of keys over time, by outcome", false},
		{PermAccountsRead, "list and read accounts", true},
		{PermAccountsWrite, "create, change and delete accounts", true},
	}
}

// isManagementPermission reports whether p names a management permission.
func isManagementPermission(p string) bool {
	for _, mp := range ManagementPermissions() {
		if mp.ID == p {
			return true
		}
	}
	return false
}

// AllManagementPermissions returns every management permission id; the
// bootstrap operator key holds them all.
func AllManagementPermissions() []string {
	mps := ManagementPermissions()
	out := make([]string, len(mps))
	for i, mp := range mps {
		out[i] = mp.ID
	}
	return out
}

// AccessLevels lists the access levels in increasing order, for the catalog endpoint.
func AccessLevels() []Access { return []Access{AccessNone, AccessRead, AccessWrite} }

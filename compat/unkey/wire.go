package unkey

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// Ids. Unkey's keys are keyward's key_<ULID> ids as they are; an api is a
// project, api_<ULID> for prj_<ULID>; an identity is a service account,
// id_<ULID> for sa_<ULID>; a permission is a catalog resource,
// perm_<slug>; a role is a keyward role, role_<name>. The mapping is a
// change of prefix both ways, with no table.
const (
	apiPrefix      = "api_"
	identityPrefix = "id_"
	permPrefix     = "perm_"
	rolePrefix     = "role_"
	ratelimitPref  = "rl_"
)

// idPrefix is one of Unkey's id prefixes standing for one of keyward's:
// the same id with the prefix changed.
type idPrefix struct{ unkey, keyward string }

var (
	apiIDs      = idPrefix{apiPrefix, keyward.PrefixProject}
	identityIDs = idPrefix{identityPrefix, keyward.PrefixService}
)

// of returns the Unkey id of keyward's id.
func (p idPrefix) of(id string) string {
	return p.unkey + strings.TrimPrefix(id, p.keyward)
}

// parse returns keyward's id of an Unkey id (or of keyward's own), and
// false for anything else (then not found).
func (p idPrefix) parse(s string) (string, bool) {
	if keyward.ValidID(p.keyward, s) {
		return s, true
	}
	id := p.keyward + strings.TrimPrefix(s, p.unkey)
	return id, strings.HasPrefix(s, p.unkey) && keyward.ValidID(p.keyward, id)
}

// apiID is the api id (api_<ULID>) of a project.
func apiID(projectID string) string { return apiIDs.of(projectID) }

// projectID returns the project of an api id (api_<ULID>, or keyward's
// prj_<ULID>), and false for anything else (then not found).
func projectID(s string) (string, bool) { return apiIDs.parse(s) }

// identityID is the identity id (id_<ULID>) of a service account.
func identityID(saID string) string { return identityIDs.of(saID) }

// serviceAccountID returns the service account of an identity id
// (id_<ULID> or sa_<ULID>), and false for anything else.
func serviceAccountID(s string) (string, bool) { return identityIDs.parse(s) }

// ms is a time as Unkey sends it: unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

func msPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := t.UnixMilli()
	return &v
}

// keyData is Unkey's KeyResponseData.
type keyData struct {
	KeyID       string                     `json:"keyId"`
	Start       string                     `json:"start"`
	Enabled     bool                       `json:"enabled"`
	Name        string                     `json:"name,omitempty"`
	Meta        map[string]json.RawMessage `json:"meta,omitempty"`
	CreatedAt   int64                      `json:"createdAt"`
	UpdatedAt   *int64                     `json:"updatedAt,omitempty"`
	LastUsedAt  *int64                     `json:"lastUsedAt,omitempty"`
	Expires     *int64                     `json:"expires,omitempty"`
	Permissions []string                   `json:"permissions"`
	Roles       []string                   `json:"roles"`
	Credits     *creditsData               `json:"credits,omitempty"`
	Identity    *identityData              `json:"identity,omitempty"`
	Plaintext   string                     `json:"plaintext,omitempty"`
	Ratelimits  []ratelimitData            `json:"ratelimits,omitempty"`
}

// creditsData is Unkey's KeyCreditsData: remaining null is unlimited.
type creditsData struct {
	Remaining *int64      `json:"remaining"`
	Refill    *refillData `json:"refill,omitempty"`
}

// refillData is Unkey's KeyCreditsRefill. keyward refills every interval
// seconds: Unkey's daily is 86400; monthly (a calendar month, on a day)
// has no keyward equivalent.
type refillData struct {
	Interval  string `json:"interval"`
	Amount    int64  `json:"amount"`
	RefillDay *int64 `json:"refillDay,omitempty"`
}

const (
	intervalDaily   = "daily"
	intervalMonthly = "monthly"
	daySeconds      = 86400
)

// ratelimitData is Unkey's RatelimitResponse: keyward's one rate limit per
// key, which applies to every verification (autoApply).
type ratelimitData struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Duration  int64  `json:"duration"`
	AutoApply bool   `json:"autoApply"`
}

// defaultLimitName is the name keyward's one rate limit has in Unkey's
// answers: keyward's limit has no name.
const defaultLimitName = "default"

// ratelimitRequest is Unkey's RatelimitRequest.
type ratelimitRequest struct {
	Name      keyward.Field[string] `json:"name"`
	Limit     keyward.Field[int64]  `json:"limit"`
	Duration  keyward.Field[int64]  `json:"duration"`
	AutoApply keyward.Field[bool]   `json:"autoApply"`
}

// identityData is Unkey's Identity.
type identityData struct {
	ID         string                     `json:"id"`
	ExternalID string                     `json:"externalId"`
	Meta       map[string]json.RawMessage `json:"meta,omitempty"`
	Ratelimits []ratelimitData            `json:"ratelimits"`
}

func ratelimitsOf(k *keyward.Key) []ratelimitData {
	if k.RateLimit == nil {
		return nil
	}
	return []ratelimitData{{ID: ratelimitPref + strings.TrimPrefix(k.ID, keyward.PrefixKey), Name: defaultLimitName,
		Limit: k.RateLimit.Limit, Duration: k.RateLimit.Window * 1000, AutoApply: true}}
}

func creditsOf(c *keyward.Credits) *creditsData {
	if c == nil {
		return nil
	}
	rem := c.Remaining
	out := &creditsData{Remaining: &rem}
	if c.Refill != nil && c.Refill.Interval == daySeconds {
		out.Refill = &refillData{Interval: intervalDaily, Amount: c.Refill.Amount}
	}
	return out
}

// keyView renders a key. x is the account's scope expansion (the
// catalog, to name scopes as permission slugs); ident the key's identity,
// nil when it has none.
func keyView(k *keyward.Key, x *service.ScopeExpansion, ident *identityData) keyData {
	d := keyData{
		KeyID: k.ID, Start: k.Start, Enabled: k.Status == keyward.StatusActive, Name: k.Name,
		CreatedAt: ms(k.CreatedAt), LastUsedAt: msPtr(k.LastUsedAt), Expires: msPtr(k.ExpiresAt),
		Permissions: permissionsOf(k, x), Roles: slices.Clone(k.Roles), Credits: creditsOf(k.Credits),
		Identity: ident, Ratelimits: ratelimitsOf(k),
	}
	if d.Roles == nil {
		d.Roles = []string{}
	}
	if !k.UpdatedAt.Equal(k.CreatedAt) {
		u := ms(k.UpdatedAt)
		d.UpdatedAt = &u
	}
	if len(k.Metadata) > 0 {
		d.Meta = k.Metadata
	}
	return d
}

// permissionsOf names what a key holds directly as permission slugs: a
// restricted key's own scopes (its roles are listed apart), or what its
// mode all or read_only grants from the catalog.
func permissionsOf(k *keyward.Key, x *service.ScopeExpansion) []string {
	scopes := k.Scopes
	if k.PermissionMode != keyward.ModeRestricted {
		scopes = keyward.EffectiveScopes(k, x.Catalog, nil)
	}
	return slugsOf(scopes)
}

// slugsOf names scopes as Unkey permission slugs, one to one: a read
// scope on every object is the resource id (the slug of the permission
// createPermission made), any other is keyward's atom, resource:access
// or resource:access:target (one slug per target). The catalog is not
// needed, so every answer names a scope the same way.
func slugsOf(scopes []keyward.Scope) []string {
	out := []string{}
	for _, sc := range scopes {
		switch {
		case slices.Equal(sc.Targets, []string{keyward.Wildcard}) && sc.Access == keyward.AccessRead:
			out = append(out, sc.Resource)
		case slices.Equal(sc.Targets, []string{keyward.Wildcard}):
			out = append(out, sc.Resource+":"+string(sc.Access))
		default:
			for _, t := range sc.Targets {
				out = append(out, sc.Resource+":"+string(sc.Access)+":"+t)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// slugPattern is Unkey's permission slug.
var slugPattern = regexp.MustCompile(`^[a-zA-Z0-9_:\-.*]+$`)

const maxSlugLen = 512

// scopesOf reads permission slugs (at field, "permissions") as scopes,
// the inverse of slugsOf: a resource id is the resource at read on every
// object; resource:access and resource:access:target are keyward's atoms.
// A slug that names no resource of the catalog is a 400.
func scopesOf(field string, slugs []string, cat keyward.Catalog) ([]keyward.Scope, error) {
	var fields []keyward.FieldError
	out := make([]keyward.Scope, 0, len(slugs))
	for i, slug := range slugs {
		at := fmt.Sprintf("%s[%d]", field, i)
		sc, msg := scopeOf(slug, cat)
		if msg != "" {
			fields = append(fields, keyward.FieldError{Field: at, Message: msg})
			continue
		}
		out = append(out, sc)
	}
	if len(fields) > 0 {
		return nil, keyward.Invalid(fields...)
	}
	return mergeScopes(out), nil
}

func scopeOf(slug string, cat keyward.Catalog) (keyward.Scope, string) {
	if len(slug) == 0 || len(slug) > maxSlugLen || !slugPattern.MatchString(slug) {
		return keyward.Scope{}, "must be a permission slug: letters, digits, _ : - . *, 1 to 512 characters"
	}
	parts := strings.SplitN(slug, ":", 3)
	r := cat[parts[0]]
	if r == nil {
		return keyward.Scope{}, fmt.Sprintf("no permission %q in this workspace: create it with permissions.createPermission", parts[0])
	}
	sc := keyward.Scope{Resource: r.ID, Access: keyward.AccessRead, Targets: []string{keyward.Wildcard}}
	if len(parts) > 1 {
		sc.Access = keyward.Access(parts[1])
		if sc.Access != keyward.AccessRead && sc.Access != keyward.AccessWrite {
			return keyward.Scope{}, fmt.Sprintf("%q: the level after ':' must be read or write", slug)
		}
	}
	if !r.Supports(sc.Access) {
		return keyward.Scope{}, fmt.Sprintf("%q: permission %q has no level %s (send %s:write)", slug, r.ID, sc.Access, r.ID)
	}
	if len(parts) > 2 {
		sc.Targets = []string{parts[2]}
	}
	return sc, ""
}

// mergeScopes joins scopes on the same resource and level: their targets
// together, every object when one has it.
func mergeScopes(in []keyward.Scope) []keyward.Scope {
	var out []keyward.Scope
	for _, sc := range in {
		i := slices.IndexFunc(out, func(o keyward.Scope) bool { return o.Resource == sc.Resource && o.Access == sc.Access })
		switch {
		case i < 0:
			out = append(out, keyward.Scope{Resource: sc.Resource, Access: sc.Access, Targets: slices.Clone(sc.Targets)})
		case slices.Contains(out[i].Targets, keyward.Wildcard):
		case slices.Contains(sc.Targets, keyward.Wildcard):
			out[i].Targets = []string{keyward.Wildcard}
		default:
			for _, t := range sc.Targets {
				if !slices.Contains(out[i].Targets, t) {
					out[i].Targets = append(out[i].Targets, t)
				}
			}
		}
	}
	if out == nil {
		out = []keyward.Scope{}
	}
	return out
}

// unkeyField names a member of a native error in Unkey's terms.
func unkeyField(native string) string {
	head, rest, _ := strings.Cut(native, ".")
	name, index, _ := strings.Cut(head, "[")
	if index != "" {
		index = "[" + index
	}
	switch name {
	case "metadata":
		return "meta" + suffix(rest)
	case "expires_at", "clear_expires_at":
		return "expires"
	case "scopes", "permission_mode":
		return "permissions" + index
	case "owner":
		return "externalId"
	case "project_id":
		return "apiId"
	case "rate_limit":
		return "ratelimits[0]" + suffix(strings.ReplaceAll(rest, "window", "duration"))
	case "status":
		return "enabled"
	case "credits":
		return "credits" + suffix(rest)
	}
	return native
}

func suffix(rest string) string {
	if rest == "" {
		return ""
	}
	return "." + rest
}

// mapFields returns err with each member it names renamed by name (a
// keyward error with one member says so in its message too); other
// errors pass unchanged.
func mapFields(err error, name func(string) string) error {
	e, ok := err.(*keyward.Error)
	if !ok || len(e.Fields) == 0 {
		return err
	}
	c := *e
	c.Fields = make([]keyward.FieldError, len(e.Fields))
	for i, f := range e.Fields {
		c.Fields[i] = keyward.FieldError{Field: name(f.Field), Message: f.Message}
	}
	if len(c.Fields) == 1 {
		c.Message = c.Fields[0].Field + ": " + c.Fields[0].Message
	}
	return &c
}

// renamed returns err with its members named in Unkey's terms.
func renamed(err error) error { return mapFields(err, unkeyField) }

// renamer returns a renaming of one member, from to to.
func renamer(from, to string) func(string) string {
	return func(f string) string {
		if f == from {
			return to
		}
		return f
	}
}

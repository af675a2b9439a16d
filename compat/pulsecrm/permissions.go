package pulsecrm

import (
	"context"
	"hash/fnv"
	"net/http"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/compat/internal/kit"
)

// grant is one flat PulseCRM permission: an access level on a catalog
// resource (readApplications = applications at read).
type grant struct {
	resource string
	access   keyward.Access
}

// vocabulary names the grants of an account's catalog in PulseCRM's flat
// camelCase form, read<Resource> / write<Resource>, and back.
//
// The resource part is the catalog id in PascalCase (api_keys → ApiKeys),
// except that a resource whose display name is one capitalised word equal
// to it but for case lends that word its casing (crm, "CRM" → CRM): this gives
// exactly the names PulseCRM documents (readApplications, writeApiKeys,
// readCRM). Should two resources still get the same name (a_b and a-b),
// both fall back to keyward's own atom form, "a_b:read", so no name is
// ever ambiguous.
type vocabulary struct {
	order     []grant // catalog order, read before write
	names     map[grant]string
	grants    map[string]grant
	resources map[string]*keyward.Resource
	roles     map[string][]keyward.Scope
}

func newVocabulary(resources []*keyward.Resource, roles map[string][]keyward.Scope) *vocabulary {
	v := &vocabulary{names: map[grant]string{}, grants: map[string]grant{},
		resources: map[string]*keyward.Resource{}, roles: roles}
	count := map[string]int{}
	for _, r := range resources {
		v.resources[r.ID] = r
		count[resourceName(r)]++
	}
	for _, r := range resources {
		for _, g := range []grant{{r.ID, keyward.AccessRead}, {r.ID, keyward.AccessWrite}} {
			if !r.Supports(g.access) {
				continue
			}
			name := string(g.access) + resourceName(r)
			if count[resourceName(r)] > 1 {
				name = r.ID + ":" + string(g.access)
			}
			v.order = append(v.order, g)
			v.names[g] = name
			v.grants[name] = g
		}
	}
	return v
}

// resourceName is the resource part of a flat permission name.
func resourceName(r *keyward.Resource) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(r.ID, func(c rune) bool { return c == '_' || c == '.' || c == '-' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	p := b.String()
	if dn := r.DisplayName; strings.EqualFold(dn, p) && isAlnum(dn) && dn[0] >= 'A' && dn[0] <= 'Z' {
		return dn
	}
	return p
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// permission is PulseCRM's Permission object, used by GET /permissions and
// for the permissions of a key.
type permission struct {
	ID          int64  `json:"id"`
	Permission  string `json:"permission"`
	Description string `json:"description"`
	Category    string `json:"category"`
}

// chartEntry is one permission of GET /permissions?detailed.
type chartEntry struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Permission  string `json:"permission"`
}

// permissionID is the integer id PulseCRM gives a permission: a stable
// hash of the grant, so that it stays the same while the catalog changes
// around it (a position would not).
func permissionID(g grant) int64 {
	h := fnv.New32a()
	h.Write([]byte(g.resource + ":" + string(g.access)))
	return int64(h.Sum32() & 0x7fffffff)
}

func (v *vocabulary) permission(g grant) permission {
	r := v.resources[g.resource]
	return permission{ID: permissionID(g), Permission: v.names[g], Description: v.describe(g), Category: r.Group}
}

func (v *vocabulary) describe(g grant) string {
	r := v.resources[g.resource]
	verb := "Read"
	if g.access == keyward.AccessWrite {
		verb = "Write"
	}
	s := verb + " access to " + r.DisplayName
	if r.Description != "" {
		s += ": " + r.Description
	}
	if r.Protected {
		s += " (cannot be granted to API keys)"
	}
	return s
}

// chartName is the display name of a permission in the detailed list
// ("View CRM", "Edit Applications").
func (v *vocabulary) chartName(g grant) string {
	verb := "View "
	if g.access == keyward.AccessWrite {
		verb = "Edit "
	}
	return verb + v.resources[g.resource].DisplayName
}

// parse maps a flatPermissionsList to grants, in the request's order and
// without repeats. Names that are not permissions of the account, and
// protected ones (never granted to API keys), make it a 400 naming them.
func (v *vocabulary) parse(names []string) ([]grant, error) {
	var (
		out  []grant
		bad  []string
		seen = map[grant]bool{}
	)
	for _, n := range names {
		g, ok := v.grants[n]
		switch {
		case !ok:
			bad = append(bad, quote(n)+" is not a permission of this account")
		case v.resources[g.resource].Protected:
			bad = append(bad, n+" cannot be granted to an API key")
		case !seen[g]:
			seen[g] = true
			out = append(out, g)
		}
	}
	if len(bad) > 0 {
		return nil, invalidPermissions(strings.Join(bad, "; "))
	}
	return out, nil
}

// quote shows a client's string in a message, shortened so a huge value
// cannot blow up the answer.
func quote(s string) string {
	if r := []rune(s); len(r) > 64 {
		s = string(r[:64]) + "…"
	}
	return `"` + s + `"`
}

func invalidPermissions(detail string) error {
	return &keyward.Error{Code: keyward.ECodeValidation, Message: "Invalid permissions provided: " + detail,
		Fields: []keyward.FieldError{{Field: "flatPermissionsList", Message: detail}}}
}

// held returns what a key holds, by grant, with the targets of each: in
// mode all every non-protected resource at each level it supports, in
// read_only every readable one at read, in restricted the key's scopes and
// those of its roles. Resources a single-project key may not hold are left
// out, as verification leaves them out.
func (v *vocabulary) held(k *keyward.Key) map[grant][]string {
	out := map[grant][]string{}
	usable := func(r *keyward.Resource) bool {
		return r != nil && !r.Protected && (k.ProjectID == nil || r.AllowsSingleProject())
	}
	switch k.PermissionMode {
	case keyward.ModeAll, keyward.ModeReadOnly:
		for _, g := range v.order {
			if usable(v.resources[g.resource]) && (k.PermissionMode == keyward.ModeAll || g.access == keyward.AccessRead) {
				out[g] = []string{keyward.Wildcard}
			}
		}
	case keyward.ModeRestricted:
		scopes := keyward.CloneScopes(k.Scopes)
		for _, role := range k.Roles {
			scopes = append(scopes, v.roles[role]...)
		}
		for _, s := range scopes {
			g := grant{s.Resource, s.Access}
			if _, named := v.names[g]; !named || !usable(v.resources[g.resource]) {
				continue
			}
			out[g] = mergeTargets(out[g], s.Targets)
		}
	}
	return out
}

// mergeTargets returns the union of two target lists ("*" absorbs all).
func mergeTargets(a, b []string) []string {
	if a == nil {
		return append([]string(nil), b...)
	}
	for _, t := range [][]string{a, b} {
		if len(t) == 1 && t[0] == keyward.Wildcard {
			return []string{keyward.Wildcard}
		}
	}
	out := append([]string(nil), a...)
	for _, t := range b {
		dup := false
		for _, have := range out {
			dup = dup || have == t
		}
		if !dup {
			out = append(out, t)
		}
	}
	return out
}

// permissionsOf returns the Permission objects of what a key holds, in
// catalog order.
func (v *vocabulary) permissionsOf(k *keyward.Key) []permission {
	held := v.held(k)
	out := []permission{}
	for _, g := range v.order {
		if _, ok := held[g]; ok {
			out = append(out, v.permission(g))
		}
	}
	return out
}

// vocabulary reads the acting account's catalog and roles, which name a
// key's permissions: keys:read or keys:write is enough for that, as it is
// for reading keys natively.
func (h *handler) vocabulary(ctx context.Context, a *keyward.Actor) (*vocabulary, error) {
	x, err := h.Svc.ScopeExpansion(ctx, a)
	if err != nil {
		return nil, err
	}
	return newVocabulary(x.Resources, x.RoleScopes), nil
}

// catalogVocabulary reads the acting account's catalog for GET
// /permissions, which lists it: that needs catalog:read, like GET
// /v1/catalog.
func (h *handler) catalogVocabulary(ctx context.Context, a *keyward.Actor) (*vocabulary, error) {
	cat, err := h.Svc.GetCatalog(ctx, a)
	if err != nil {
		return nil, err
	}
	roles := map[string][]keyward.Scope{}
	for _, r := range cat.Roles {
		roles[r.Name] = r.Scopes
	}
	return newVocabulary(cat.Resources, roles), nil
}

// listPermissions serves GET /permissions: the account's catalog as
// PulseCRM permissions; with ?detailed (any value or none) grouped by
// category. accountId names the account (see account).
func (h *handler) listPermissions(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	q, err := api.ParseQuery(r)
	if err != nil {
		return err
	}
	v, err := h.catalogVocabulary(r.Context(), a)
	if err != nil {
		return err
	}
	if q.Has("detailed") {
		chart := map[string][]chartEntry{}
		for _, g := range v.order {
			cat := v.resources[g.resource].Group
			chart[cat] = append(chart[cat], chartEntry{Name: v.chartName(g), Description: v.describe(g), Permission: v.names[g]})
		}
		return kit.WriteJSON(w, r, http.StatusOK, chart)
	}
	out := make([]permission, 0, len(v.order))
	for _, g := range v.order {
		out = append(out, v.permission(g))
	}
	return kit.WriteJSON(w, r, http.StatusOK, out)
}

package orq

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/compat/internal/kit"
)

// listParams are the query parameters of GET /v2/api-keys. owner_type and
// permission_mode repeat (orq's SDKs send owner_type=…&owner_type=…; the
// bracketed owner_type[] form is accepted too).
var (
	listParams   = []string{"limit", "starting_after", "ending_before", "project_id", "status", "search", "include_budget"}
	listRepeated = []string{"owner_type", "owner_type[]", "permission_mode", "permission_mode[]"}
)

// list serves GET /v2/api-keys → 200 with a page of keys, newest first,
// with orq's cursors and filters.
func (h *handler) list(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	v, err := h.Kit.Query(r, listParams, listRepeated...)
	if err != nil {
		return err
	}
	f, owners, modes, err := listFilter(v)
	if err != nil {
		return err
	}
	if err := includeBudget(v); err != nil {
		return err
	}
	keys, more, err := h.listKeys(r.Context(), a, f, owners, modes)
	if err != nil {
		return err
	}
	return kit.WriteJSON(w, r, http.StatusOK, h.render.list(keys, more))
}

// listFilter reads the filters. owner types and modes come back as sets
// (nil: no filter), since keyward's filter takes one value of each.
func listFilter(v url.Values) (keyward.KeyFilter, []keyward.OwnerType, []keyward.PermissionMode, error) {
	f := keyward.KeyFilter{Page: keyward.Page{Limit: keyward.DefaultPageLimit}}
	if v.Has("limit") {
		n, err := strconv.Atoi(v.Get("limit"))
		if err != nil || n < 1 || n > keyward.MaxPageLimit {
			return f, nil, nil, api.BadParam("limit", "must be an integer from 1 to %d", keyward.MaxPageLimit)
		}
		f.Limit = n
	}
	for _, c := range []struct {
		name string
		dst  *string
	}{{"starting_after", &f.StartingAfter}, {"ending_before", &f.EndingBefore}} {
		if !v.Has(c.name) {
			continue
		}
		id, ok := keyID(v.Get(c.name))
		if !ok {
			return f, nil, nil, api.BadParam(c.name, "must be an api_key_id")
		}
		*c.dst = id
	}
	if f.StartingAfter != "" && f.EndingBefore != "" {
		return f, nil, nil, api.BadParam("ending_before", "cannot be combined with starting_after")
	}
	if v.Has("project_id") {
		id, ok := projectID(v.Get("project_id"))
		if !ok {
			return f, nil, nil, api.BadParam("project_id", "must be a project id (proj_…)")
		}
		f.ProjectID = id
	}
	if v.Has("status") {
		switch s := v.Get("status"); s {
		case statusUnspecified, "":
			// orq: an unset enum filter is no filter.
		default:
			st, ok := statuses[s]
			if !ok {
				return f, nil, nil, api.BadParam("status", "must be one of %s, %s, %s", statusActive, statusDisabled, statusRevoked)
			}
			f.Status = st
		}
	}
	if s := v.Get("search"); s != "" {
		if len(s) > 255 || !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
			return f, nil, nil, api.BadParam("search", "must be at most 255 bytes of UTF-8 text without control characters")
		}
		f.Search = s
	}
	var owners []keyward.OwnerType
	for _, s := range append(v["owner_type"], v["owner_type[]"]...) {
		switch s {
		case ownerUnspecified:
		case ownerUser:
			owners = append(owners, keyward.OwnerUser)
		case ownerServiceAccount:
			// orq's service-account keys are keyward's account-owned
			// keys and those of its service accounts.
			owners = append(owners, keyward.OwnerAccount, keyward.OwnerServiceAccount)
		default:
			return f, nil, nil, api.BadParam("owner_type", "must be one of %s, %s", ownerUser, ownerServiceAccount)
		}
	}
	var modeSet []keyward.PermissionMode
	for _, s := range append(v["permission_mode"], v["permission_mode[]"]...) {
		if s == modeUnspecified {
			continue
		}
		m, ok := modes[s]
		if !ok {
			return f, nil, nil, api.BadParam("permission_mode", "must be one of %s, %s, %s", modeAll, modeReadOnly, modeRestricted)
		}
		modeSet = append(modeSet, m)
	}
	slices.Sort(owners)
	slices.Sort(modeSet)
	return f, slices.Compact(owners), slices.Compact(modeSet), nil
}

// listKeys returns one page of keys matching f and any of owners and any
// of modes. keyward's filter takes one owner type and one mode, so a set
// of several is one query per combination (at most 3 × 3), each for a full
// page at the same cursor, merged by id (ids sort by creation time). The
// union of the combinations' pages holds the page of the union: it is
// exact, and bounded by the page size.
func (h *handler) listKeys(ctx context.Context, a *keyward.Actor, f keyward.KeyFilter,
	owners []keyward.OwnerType, modeSet []keyward.PermissionMode) ([]*keyward.Key, bool, error) {
	if len(owners) == 0 {
		owners = []keyward.OwnerType{""}
	}
	if len(modeSet) == 0 {
		modeSet = []keyward.PermissionMode{""}
	}
	if len(owners) == 1 && len(modeSet) == 1 {
		f.OwnerType, f.PermissionMode = owners[0], modeSet[0]
		return h.Svc.ListKeys(ctx, a, keyward.KindAPI, f)
	}
	var (
		all  []*keyward.Key
		more bool
	)
	for _, o := range owners {
		for _, m := range modeSet {
			g := f
			g.OwnerType, g.PermissionMode = o, m
			keys, mr, err := h.Svc.ListKeys(ctx, a, keyward.KindAPI, g)
			if err != nil {
				return nil, false, err
			}
			all = append(all, keys...)
			more = more || mr
		}
	}
	// The combinations are disjoint, so no key appears twice.
	slices.SortFunc(all, func(x, y *keyward.Key) int { return strings.Compare(y.ID, x.ID) })
	if len(all) > f.Limit {
		more = true
		if f.EndingBefore != "" {
			// Paging back: the page is the keys nearest the cursor,
			// the oldest of those newer than it.
			all = all[len(all)-f.Limit:]
		} else {
			all = all[:f.Limit]
		}
	}
	return all, more, nil
}

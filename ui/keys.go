package ui

import (
	"net/http"
	"net/url"
	"time"

	"github.com/keyward/keyward"
	khttp "github.com/keyward/keyward/http"
)

// keysPageSize is how many keys a page of the list shows.
const keysPageSize = 50

// expiresWithin are the choices of the list's "expires within" filter.
var expiresWithin = map[string]time.Duration{
	"1d": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour, "90d": 90 * 24 * time.Hour,
}

// keyListFields maps the API's list parameters to the filter form's
// fields, for its errors.
var keyListFields = map[string]string{
	"search": "q", "owner_type": "owner", "owner_id": "owner", "project_id": "project",
	"permission_mode": "mode", "starting_after": "after", "expired": "status",
}

// keysPage is the data of the list of keys.
type keysPage struct {
	Filters *form
	Rows    []keyRow
	Next    string
	// Activity is set when the key may read usage (the 24 h column).
	Activity bool
	CanWrite bool
}

// keyRow is one key of the list.
type keyRow struct {
	Key      *keyward.Key
	Status   string
	Activity int64
}

// keyFilter reads the list's filters (form#filters) into the API's list
// parameters and those through the API's own parsing (khttp.KeyFilterOf),
// so the page filters exactly as GET /v1/keys does. The owner field takes
// an owner type (account, user, service_account) or an owner id.
func keyFilter(q url.Values, now time.Time) (*keyward.KeyFilter, error) {
	v := url.Values{}
	set := func(name, value string) {
		if value != "" {
			v.Set(name, value)
		}
	}
	set("search", q.Get("q"))
	switch s := q.Get("status"); s {
	case "expired":
		v.Set("expired", "true")
	default:
		set("status", s)
	}
	switch o := q.Get("owner"); keyward.OwnerType(o) {
	case keyward.OwnerAccount, keyward.OwnerUser, keyward.OwnerServiceAccount:
		v.Set("owner_type", o)
	default:
		set("owner_id", o)
	}
	set("project_id", q.Get("project"))
	set("permission_mode", q.Get("mode"))
	if w := q.Get("expires_within"); w != "" {
		d, ok := expiresWithin[w]
		if !ok {
			return nil, keyward.InvalidField("expires_within", "choose one of the offered periods")
		}
		v.Set("expires_after", now.UTC().Format(time.RFC3339Nano))
		v.Set("expires_before", now.Add(d).UTC().Format(time.RFC3339Nano))
	}
	set("starting_after", q.Get("after"))
	v.Set("limit", itoa(keysPageSize))
	return khttp.KeyFilterOf(v)
}

// keyList serves GET /keys: one page of the account's API keys, filtered
// as the API filters them, with each key's verifications of the last 24
// hours read for the whole page at once.
func (u *UI) keyList(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx, a := r.Context(), c.actor
	q := r.URL.Query()
	now := u.svc.Now()
	p := keysPage{Filters: &form{Values: q}, Activity: can(a, keyward.PermUsageRead), CanWrite: can(a, keyward.PermKeysWrite)}
	f, err := keyFilter(q, now)
	if err != nil {
		fe, ok := formError(q, err, keyListFields)
		if !ok {
			return err
		}
		p.Filters = fe
		return u.render(w, r, c, http.StatusUnprocessableEntity, "keys.html", p)
	}
	keys, more, err := u.svc.ListKeys(ctx, a, keyward.KindAPI, *f)
	if err != nil {
		if fe, ok := formError(q, err, keyListFields); ok {
			p.Filters = fe
			return u.render(w, r, c, http.StatusUnprocessableEntity, "keys.html", p)
		}
		return err
	}
	activity := map[string]int64{}
	if p.Activity && len(keys) > 0 {
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = k.ID
		}
		g := usageRanges()[0]
		uq := g.query(now)
		uq.KeyIDs = ids
		sum, err := u.svc.AccountUsage(ctx, a, uq, keyward.GroupByKey, 0)
		if err != nil {
			return err
		}
		for _, grp := range sum.Groups {
			activity[grp.Value] = grp.Total
		}
	}
	for _, k := range keys {
		p.Rows = append(p.Rows, keyRow{Key: k, Status: keyStatus(k, now), Activity: activity[k.ID]})
	}
	if more && len(keys) > 0 {
		p.Next = nextPage("/keys", q, keys[len(keys)-1].ID)
	}
	return u.render(w, r, c, http.StatusOK, "keys.html", p)
}

// nextPage returns the address of the page of a list after the one that
// ended with id last: the same query (the filters), the cursor in
// "after" (a list page reads it as the API's starting_after).
func nextPage(path string, q url.Values, last string) string {
	next := url.Values{}
	for name, vs := range q {
		if name != "after" {
			next[name] = vs
		}
	}
	next.Set("after", last)
	return path + "?" + next.Encode()
}

// keyStatus is what a page says of a key's state: revoked, expired,
// disabled or active.
func keyStatus(k *keyward.Key, now time.Time) string {
	switch {
	case k.Status == keyward.StatusRevoked:
		return "revoked"
	case k.ExpiresAt != nil && !k.ExpiresAt.After(now):
		return "expired"
	}
	return string(k.Status)
}

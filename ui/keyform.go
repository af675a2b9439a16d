package ui

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// The key form (form#key-form) reads into the body of a key creation or
// PATCH (keyward.KeyFields): the service checks every value as it checks
// the API's, and its field errors come back next to the fields. Here the
// form's text is only read: lines into lists, numbers, the datetime-local
// expiry (UTC), the metadata's JSON.

// keyFormFields maps the members of the API's field errors to the form's
// fields (the rest go to the field of their first path element).
var keyFormFields = map[string]string{
	"rate_limit.window": "rate_window", "rate_limit.limit": "rate_limit",
	"project_id": "project", "clear_expires_at": "expires_at",
	"grace_period_seconds": "grace_period", "credits.refill": "credits",
}

// localTime is the format of an input type=datetime-local, read as UTC.
const localTime = "2006-01-02T15:04"

// keyFormValues returns the form's values for key k (the edit form,
// prefilled), or for a new key when k is nil.
func keyFormValues(k *keyward.Key) url.Values {
	v := url.Values{}
	if k == nil {
		return v
	}
	v.Set("name", k.Name)
	if k.Description != nil {
		v.Set("description", *k.Description)
	}
	v.Set("permission_mode", string(k.PermissionMode))
	v.Set("scopes", scopesText(k.Scopes))
	v.Set("roles", strings.Join(k.Roles, "\n"))
	if k.ProjectID != nil {
		v.Set("project", *k.ProjectID)
	}
	if k.Owner.Type != keyward.OwnerAccount {
		v.Set("owner", k.Owner.ID)
	}
	if k.ExpiresAt != nil {
		v.Set("expires_at", formatLocal(*k.ExpiresAt))
	}
	if k.RateLimit != nil {
		v.Set("rate_limit", itoa(k.RateLimit.Limit))
		v.Set("rate_window", itoa(k.RateLimit.Window))
	}
	if k.Credits != nil {
		v.Set("credits", itoa(k.Credits.Remaining))
		v.Set("credits_was", itoa(k.Credits.Remaining))
		if k.Credits.Refill != nil {
			v.Set("refill_amount", itoa(k.Credits.Refill.Amount))
			v.Set("refill_interval", itoa(k.Credits.Refill.Interval))
		}
	}
	v.Set("ip_allowlist", strings.Join(k.IPAllowlist, "\n"))
	if len(k.Metadata) > 0 {
		b, _ := json.MarshalIndent(k.Metadata, "", "  ")
		v.Set("metadata", string(b))
	}
	v.Set("etag", k.ETag())
	return v
}

func formatLocal(t time.Time) string {
	t = t.UTC()
	if t.Second() != 0 || t.Nanosecond() != 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format(localTime)
}

func scopesText(scopes []keyward.Scope) string {
	lines := make([]string, len(scopes))
	for i, s := range scopes {
		lines[i] = s.Text()
	}
	return strings.Join(lines, "\n")
}

// lines returns the non-blank lines of a textarea, trimmed.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// keyForm reads the key form. For a new key (cur nil) every filled field
// is sent; for an edit, only the members that differ from cur, so an
// untouched field changes nothing (and the audit trail records only
// what was changed). errs holds what could not even be read, by field.
func keyForm(v url.Values, cur *keyward.Key) (in *keyward.KeyFields, errs map[string]string) {
	in, errs = &keyward.KeyFields{}, map[string]string{}
	get := func(name string) string { return strings.TrimSpace(v.Get(name)) }
	was := keyFormValues(cur)
	changed := func(name string) bool {
		return cur == nil && get(name) != "" || cur != nil && get(name) != strings.TrimSpace(was.Get(name))
	}
	cleared := func(name string) bool { return cur != nil && get(name) == "" && was.Get(name) != "" }

	if cur == nil || changed("name") {
		in.Name = keyward.Some(get("name"))
	}
	switch {
	case cleared("description"):
		in.Description = keyward.Null[string]()
	case changed("description"):
		in.Description = keyward.Some(v.Get("description"))
	}

	scopes, err := parseScopes(lines(v.Get("scopes")))
	if err != "" {
		errs["scopes"] = err
	}
	roles := lines(v.Get("roles"))
	mode := keyward.PermissionMode(get("permission_mode"))
	// Scopes or roles given where there were none, with the mode left as
	// it was: the person means a restricted key (as the form's hint says).
	if (cur == nil && mode == "" || cur != nil && mode == cur.PermissionMode && cur.PermissionMode != keyward.ModeRestricted) &&
		(len(scopes) > 0 || len(roles) > 0) {
		mode = keyward.ModeRestricted
	}
	if mode != "" && (cur == nil || mode != cur.PermissionMode) {
		in.PermissionMode = keyward.Some(mode)
	}
	if changed("scopes") || cleared("scopes") || cur != nil && in.PermissionMode.Set && mode == keyward.ModeRestricted {
		in.Scopes = keyward.Some(scopes)
	}
	if changed("roles") || cleared("roles") {
		in.Roles = keyward.Some(roles)
	}
	if effective := mode; cur != nil && effective != keyward.ModeRestricted && (effective != "" || cur.PermissionMode != keyward.ModeRestricted) {
		// Emptied along with a change away from restricted: nothing to send.
		if len(scopes) == 0 {
			in.Scopes = keyward.Field[[]keyward.Scope]{}
		}
		if len(roles) == 0 {
			in.Roles = keyward.Field[[]string]{}
		}
	}

	switch {
	case cleared("project"):
		in.ProjectID = keyward.Null[string]()
	case changed("project"):
		in.ProjectID = keyward.Some(get("project"))
	}
	if changed("owner") || cleared("owner") {
		o, msg := parseOwner(get("owner"))
		if msg != "" {
			errs["owner"] = msg
		}
		in.Owner = keyward.Some(o)
	}

	switch {
	case cleared("expires_at"):
		in.ClearExpiresAt = keyward.Some(true)
	case changed("expires_at"):
		t, err := parseLocal(get("expires_at"))
		if err != nil {
			errs["expires_at"] = "must be a date and time (UTC), such as 2030-01-31T12:00"
		}
		in.ExpiresAt = keyward.Some(t)
	}

	if changed("rate_limit") || changed("rate_window") || cleared("rate_limit") || cleared("rate_window") {
		if get("rate_limit") == "" && get("rate_window") == "" {
			in.RateLimit = keyward.Null[keyward.RateLimit]()
		} else {
			limit, lok := integer(errs, "rate_limit", get("rate_limit"))
			window, wok := integer(errs, "rate_window", get("rate_window"))
			if lok && wok {
				in.RateLimit = keyward.Some(keyward.RateLimit{Limit: limit, Window: window})
			}
		}
	}

	// Credits are spent by verifications while the form is open: they
	// are sent only when the person changed the number they were shown
	// (credits_was), or the refill.
	creditsChanged := get("credits") != get("credits_was") || changed("refill_amount") || changed("refill_interval") ||
		cleared("refill_amount") || cleared("refill_interval")
	if creditsChanged {
		if get("credits") == "" {
			if cur != nil && cur.Credits != nil {
				in.Credits = keyward.Null[keyward.Credits]()
			}
		} else if n, ok := integer(errs, "credits", get("credits")); ok {
			c := keyward.Credits{Remaining: n}
			if get("refill_amount") != "" || get("refill_interval") != "" {
				amount, aok := integer(errs, "refill_amount", get("refill_amount"))
				interval, iok := integer(errs, "refill_interval", get("refill_interval"))
				if aok && iok {
					c.Refill = &keyward.Refill{Amount: amount, Interval: interval}
				}
			}
			in.Credits = keyward.Some(c)
		}
	}

	if changed("ip_allowlist") || cleared("ip_allowlist") {
		if list := lines(v.Get("ip_allowlist")); len(list) > 0 {
			in.IPAllowlist = keyward.Some(list)
		} else {
			in.IPAllowlist = keyward.Null[[]string]()
		}
	}

	if changed("metadata") || cleared("metadata") {
		if get("metadata") == "" {
			in.Metadata = keyward.Null[map[string]json.RawMessage]()
		} else {
			var m map[string]json.RawMessage
			if err := json.Unmarshal([]byte(get("metadata")), &m); err != nil || m == nil {
				errs["metadata"] = `must be a JSON object, such as {"plan": "pro"}`
			}
			in.Metadata = keyward.Some(m)
		}
	}
	return in, errs
}

// parseScopes reads the scope editor's lines (keyward.ParseScope); lines
// with the same resource and access are one scope with their targets.
func parseScopes(ls []string) ([]keyward.Scope, string) {
	out := []keyward.Scope{}
	for i, l := range ls {
		sc, err := keyward.ParseScope(l)
		if err != nil {
			return nil, "line " + strconv.Itoa(i+1) + " (" + l + "): " + err.Error() + "; write resource:access or resource:access:target, such as documents:read"
		}
		j := slices.IndexFunc(out, func(o keyward.Scope) bool { return o.Resource == sc.Resource && o.Access == sc.Access })
		switch {
		case j < 0:
			out = append(out, sc)
		case out[j].Targets == nil || sc.Targets == nil:
			// One line grants every object: the merged scope does.
			out[j].Targets = nil
		default:
			out[j].Targets = append(out[j].Targets, sc.Targets...)
		}
	}
	return out, ""
}

// parseOwner reads the owner field: empty for the account itself, else
// a user or service account id.
func parseOwner(s string) (keyward.Owner, string) {
	switch {
	case s == "":
		return keyward.Owner{Type: keyward.OwnerAccount}, ""
	case strings.HasPrefix(s, keyward.PrefixUser):
		return keyward.Owner{Type: keyward.OwnerUser, ID: s}, ""
	case strings.HasPrefix(s, keyward.PrefixService):
		return keyward.Owner{Type: keyward.OwnerServiceAccount, ID: s}, ""
	case strings.HasPrefix(s, keyward.PrefixAccount):
		return keyward.Owner{Type: keyward.OwnerAccount, ID: s}, ""
	}
	return keyward.Owner{}, "must be empty (the account) or a user (usr_…) or service account (sa_…) id"
}

// parseLocal reads a datetime-local value as UTC.
func parseLocal(s string) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01-02T15:04:05", s, time.UTC)
	if err != nil {
		t, err = time.ParseInLocation(localTime, s, time.UTC)
	}
	if err != nil {
		t, err = time.Parse(time.RFC3339, s)
	}
	return t, err
}

// integer reads a whole number for field, recording why not in errs.
func integer(errs map[string]string, field, s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		errs[field] = "must be a whole number"
		return 0, false
	}
	return n, true
}

package pulsecrm

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/compat/internal/kit"
)

// apiKey is PulseCRM's ApiKey object.
type apiKey struct {
	ID               int64        `json:"id"`
	Description      string       `json:"description"`
	ExpiresAt        *string      `json:"expiresAt"`
	Permissions      []permission `json:"permissions"`
	APIKey           string       `json:"apiKey"`
	LastFourOfSecret string       `json:"lastFourOfSecret"`
	CreatedAt        string       `json:"createdAt"`
	UpdatedAt        string       `json:"updatedAt"`
}

// createdKey is the answer to a create: the key and its secret, shown
// this once ("This is the only time you'll receive the full API secret").
type createdKey struct {
	apiKey
	APISecret string `json:"apiSecret"`
}

// success is the answer of PATCH and DELETE.
type success struct {
	Success bool `json:"success"`
}

// isoTime formats a time as PulseCRM (a JavaScript Date's toISOString)
// does: UTC, milliseconds, Z.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// view returns the ApiKey PulseCRM shows for k: description is the key's
// name (keyward's description has no place in it).
func (v *vocabulary) view(k *keyward.Key) apiKey {
	out := apiKey{
		ID: intID(k.ID), Description: k.Name, Permissions: v.permissionsOf(k), APIKey: apiKeyOf(k.ID),
		LastFourOfSecret: k.Last4, CreatedAt: isoTime(k.CreatedAt), UpdatedAt: isoTime(k.UpdatedAt),
	}
	if k.ExpiresAt != nil {
		s := isoTime(*k.ExpiresAt)
		out.ExpiresAt = &s
	}
	return out
}

// apiKeyInput is PulseCRM's ApiKeyInput, the body of create and PATCH.
// Every member records whether it was absent, null or a value.
type apiKeyInput struct {
	Description         keyward.Field[string]   `json:"description"`
	ExpiresAt           keyward.Field[string]   `json:"expiresAt"`
	FlatPermissionsList keyward.Field[[]string] `json:"flatPermissionsList"`
}

// readInput reads an ApiKeyInput (input) and the account's vocabulary,
// which names its permissions.
func (h *handler) readInput(r *http.Request, a *keyward.Actor) (*apiKeyInput, *time.Time, *vocabulary, error) {
	in, exp, err := input(r)
	if err != nil {
		return nil, nil, nil, err
	}
	v, err := h.vocabulary(r.Context(), a)
	return in, exp, v, err
}

// input reads and checks an ApiKeyInput: description and
// flatPermissionsList are required and cannot be null; expiresAt is an ISO
// date-time, and null or "" means no expiry.
func input(r *http.Request) (*apiKeyInput, *time.Time, error) {
	b, err := api.ReadBody(r)
	if err != nil {
		return nil, nil, err
	}
	if b == nil {
		return nil, nil, keyward.Errorf(keyward.ECodeMalformedJSON, "a JSON ApiKeyInput body is required")
	}
	var in apiKeyInput
	if err := api.DecodeStrict(b, &in); err != nil {
		// The decoder names the member but describes an element of the
		// list ("must be a string"); say what the member must be.
		if e := keyward.AsError(err); len(e.Fields) == 1 && e.Fields[0].Field == "flatPermissionsList" {
			return nil, nil, invalid([]keyward.FieldError{{Field: "flatPermissionsList", Message: "must be an array of permission names (strings)"}})
		}
		return nil, nil, err
	}
	var errs []keyward.FieldError
	if !in.Description.HasValue() {
		errs = append(errs, keyward.FieldError{Field: "description", Message: "is required"})
	}
	if !in.FlatPermissionsList.HasValue() {
		errs = append(errs, keyward.FieldError{Field: "flatPermissionsList", Message: "is required (an array of permission names; [] for none)"})
	}
	var exp *time.Time
	if in.ExpiresAt.HasValue() && in.ExpiresAt.Value != "" {
		t, err := parseTime(in.ExpiresAt.Value)
		if err != nil {
			errs = append(errs, keyward.FieldError{Field: "expiresAt", Message: "must be an ISO 8601 date-time such as 2026-12-31T23:59:59.000Z, or null for no expiration"})
		} else {
			exp = &t
		}
	}
	if len(errs) > 0 {
		return nil, nil, invalid(errs)
	}
	return &in, exp, nil
}

// isoDateTime is an ISO 8601 date-time with seconds and an offset, as
// JavaScript's toISOString and RFC 3339 write it; the fraction may have
// any precision.
var isoDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)

func parseTime(s string) (time.Time, error) {
	s = strings.ToUpper(s) // RFC 3339 allows t and z
	if !isoDateTime.MatchString(s) {
		return time.Time{}, fmt.Errorf("not an ISO date-time")
	}
	return time.Parse(time.RFC3339Nano, s)
}

// fields translates an ApiKeyInput into keyward's KeyFields for a key that
// holds cur (nil on create):
//
//   - description is the key's name;
//   - expiresAt absent leaves the expiry, null or "" clears it;
//   - flatPermissionsList replaces what the key holds. A list naming
//     exactly what the key holds already changes nothing (so a client that
//     sends back what it read keeps a key in mode all or with roles as it
//     is); any other list makes the key restricted to those grants, with no
//     roles. A grant the key already held keeps its targets (the objects it
//     was limited to), so a round trip never widens a key; a new one covers
//     every object.
//
// The second result names the permission of each scope sent, for messages.
func (v *vocabulary) fields(in *apiKeyInput, exp *time.Time, cur *keyward.Key) (*keyward.KeyFields, []string, error) {
	wanted, err := v.parse(in.FlatPermissionsList.Value)
	if err != nil {
		return nil, nil, err
	}
	f := &keyward.KeyFields{Name: keyward.Some(in.Description.Value)}
	switch {
	case exp != nil:
		f.ExpiresAt = keyward.Some(*exp)
	case in.ExpiresAt.Set:
		f.ExpiresAt = keyward.Null[time.Time]()
	}
	var held map[grant][]string
	if cur != nil {
		held = v.held(cur)
		if sameGrants(held, wanted) {
			return f, nil, nil
		}
	}
	scopes := make([]keyward.Scope, 0, len(wanted))
	names := make([]string, 0, len(wanted))
	for _, g := range wanted {
		targets := held[g]
		if targets == nil {
			targets = []string{keyward.Wildcard}
		}
		scopes = append(scopes, keyward.Scope{Resource: g.resource, Access: g.access, Targets: targets})
		names = append(names, v.names[g])
	}
	f.PermissionMode = keyward.Some(keyward.ModeRestricted)
	f.Scopes = keyward.Some(scopes)
	f.Roles = keyward.Some([]string{})
	return f, names, nil
}

func sameGrants(held map[grant][]string, wanted []grant) bool {
	if len(held) != len(wanted) {
		return false
	}
	for _, g := range wanted {
		if _, ok := held[g]; !ok {
			return false
		}
	}
	return true
}

// pulseFields names keyward's key fields as PulseCRM calls them, for
// validation messages.
var pulseFields = map[string]string{
	"name":             "description",
	"expires_at":       "expiresAt",
	"clear_expires_at": "expiresAt",
	"permission_mode":  "flatPermissionsList",
	"roles":            "flatPermissionsList",
}

// translate rewrites a validation error of the key rules in PulseCRM's
// terms: keyward field names become ApiKeyInput's, and an error on
// scopes[i] names the permission the client sent.
func translate(err error, scopeNames []string) error {
	e := keyward.AsError(err)
	if e.Code != keyward.ECodeValidation || len(e.Fields) == 0 {
		return err
	}
	var (
		fields     []keyward.FieldError
		permMsgs   []string // about the permissions: "Invalid permissions provided: …"
		otherMsgs  []string
		permission = "flatPermissionsList"
	)
	for _, fe := range e.Fields {
		name, msg := fe.Field, fe.Message
		if rest, ok := strings.CutPrefix(name, "scopes"); ok {
			var i int
			if _, err := fmt.Sscanf(rest, "[%d]", &i); err == nil && i >= 0 && i < len(scopeNames) {
				msg = scopeNames[i] + ": " + msg
			}
			fields = append(fields, keyward.FieldError{Field: permission, Message: msg})
			permMsgs = append(permMsgs, msg)
			continue
		}
		head, tail, _ := strings.Cut(name, ".")
		if p, ok := pulseFields[head]; ok {
			name = p
			if tail != "" {
				name += "." + tail
			}
		}
		fields = append(fields, keyward.FieldError{Field: name, Message: msg})
		if name == permission {
			permMsgs = append(permMsgs, msg)
		} else {
			otherMsgs = append(otherMsgs, name+": "+msg)
		}
	}
	var text []string
	if len(permMsgs) > 0 {
		text = append(text, "Invalid permissions provided: "+strings.Join(permMsgs, "; "))
	}
	text = append(text, otherMsgs...)
	return &keyward.Error{Code: e.Code, Message: strings.Join(text, "; "), Fields: fields, Err: err}
}

// invalid returns a validation error whose message names every field.
func invalid(errs []keyward.FieldError) error {
	msgs := make([]string, len(errs))
	for i, fe := range errs {
		msgs[i] = fe.Field + ": " + fe.Message
	}
	return &keyward.Error{Code: keyward.ECodeValidation, Message: strings.Join(msgs, "; "), Fields: errs}
}

// createKey serves POST /apikeys: 201 with the ApiKey and its apiSecret.
func (h *handler) createKey(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	in, exp, v, err := h.readInput(r, a)
	if err != nil {
		return err
	}
	f, names, err := v.fields(in, exp, nil)
	if err != nil {
		return err
	}
	k, tok, err := h.Svc.CreateKey(r.Context(), a, keyward.KindAPI, f)
	if err != nil {
		return translate(err, names)
	}
	w.Header().Set("Location", base+"/apikeys/"+strconv.FormatInt(intID(k.ID), 10))
	return kit.WriteJSON(w, r, http.StatusCreated, createdKey{apiKey: v.view(k), APISecret: tok.Reveal()})
}

// listKeys serves GET /apikeys: every API key of the account, newest
// first, as a bare array. PulseCRM documents no parameters, so none are
// read (and, as there, unknown ones are ignored).
func (h *handler) listKeys(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	v, err := h.vocabulary(r.Context(), a)
	if err != nil {
		return err
	}
	out := []apiKey{}
	f := keyward.KeyFilter{Page: keyward.Page{Limit: keyward.MaxPageLimit}}
	for {
		keys, more, err := h.Svc.ListKeys(r.Context(), a, keyward.KindAPI, f)
		if err != nil {
			return err
		}
		for _, k := range keys {
			out = append(out, v.view(k))
		}
		if !more || len(keys) == 0 {
			break
		}
		f.StartingAfter = keys[len(keys)-1].ID
	}
	return kit.WriteJSON(w, r, http.StatusOK, out)
}

// getKey serves GET /apikeys/{id}, which PulseCRM's reference does not
// list: the same ApiKey object as in the list.
func (h *handler) getKey(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	v, err := h.vocabulary(r.Context(), a)
	if err != nil {
		return err
	}
	k, err := h.findKey(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	return kit.WriteJSON(w, r, http.StatusOK, v.view(k))
}

// maxAttempts bounds the retries of a PATCH that raced another change.
const maxAttempts = 3

// updateKey serves PATCH /apikeys/{id} (PulseCRM's update page): 200 {"success": true}.
// The change is computed from the key as read and applied only to that
// version (If-Match on its etag), so a concurrent change is never undone;
// on such a race it starts again from the new version.
func (h *handler) updateKey(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	in, exp, v, err := h.readInput(r, a)
	if err != nil {
		return err
	}
	// Names are checked before the key is looked up: an invalid list is
	// the same 400 for every id.
	if _, err := v.parse(in.FlatPermissionsList.Value); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		cur, err := h.findKey(r.Context(), a, r.PathValue("id"))
		if err != nil {
			return err
		}
		f, names, err := v.fields(in, exp, cur)
		if err != nil {
			return err
		}
		_, err = h.Svc.UpdateKey(r.Context(), a, keyward.KindAPI, cur.ID, f, cur.ETag())
		// Another change came between the read and the write: the etag
		// no longer matches, or the store saw the version move.
		raced := keyward.ErrorCode(err) == keyward.ECodePreconditionFail || keyward.ErrorCode(err) == keyward.ECodeConflict
		switch {
		case raced && attempt < maxAttempts:
			continue
		case raced:
			return &keyward.Error{Code: keyward.ECodeConflict, Message: "the API key is being changed by other requests; retry", Err: err}
		case keyward.ErrorCode(err) == keyward.ECodeNotFound:
			return errKeyNotFound(err) // deleted meanwhile
		case keyward.ErrorCode(err) == keyward.ECodeKeyRevoked:
			return &keyward.Error{Code: keyward.ECodeKeyRevoked, Message: "the API key is revoked: it cannot be changed, only deleted", Err: err}
		case err != nil:
			return translate(err, names)
		}
		return kit.WriteJSON(w, r, http.StatusOK, success{Success: true})
	}
}

// deleteKey serves DELETE /apikeys/{id}: a hard delete; 200 {"success": true}.
func (h *handler) deleteKey(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	k, err := h.findKey(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := h.Svc.DeleteKey(r.Context(), a, keyward.KindAPI, k.ID, ""); err != nil {
		if keyward.ErrorCode(err) == keyward.ECodeNotFound {
			return errKeyNotFound(err)
		}
		return err
	}
	return kit.WriteJSON(w, r, http.StatusOK, success{Success: true})
}

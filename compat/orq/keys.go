package orq

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/compat/internal/kit"
)

// rotateSuffix ends the path of orq's custom rotate method.
const rotateSuffix = ":rotate"

// onKey reads what every route on one key reads first: {api_key_id} from
// the path, then the query, which takes names (Dialect.Query). The
// capabilities path matches the key pattern for methods it does not take:
// 405, not 404.
func (h *handler) onKey(w http.ResponseWriter, r *http.Request, names ...string) (string, url.Values, error) {
	raw := r.PathValue("id")
	if raw == "capabilities" {
		w.Header().Set("Allow", "GET, HEAD")
		return "", nil, methodNotAllowed(r.Method, "GET, HEAD")
	}
	id, ok := keyID(raw)
	if !ok {
		return "", nil, keyward.Errorf(keyward.ECodeNotFound, "no API key with this id in the workspace")
	}
	q, err := h.Kit.Query(r, names)
	return id, q, err
}

// notFound gives the service's not-found error a message in orq's terms:
// the service's names keyward's id form.
func notFound(err error, id string) error {
	if keyward.ErrorCode(err) == keyward.ECodeNotFound {
		return keyward.Errorf(keyward.ECodeNotFound, "API key %s not found", orqKeyID(id))
	}
	return err
}

// create serves POST /v2/api-keys → 200 with the key and its token.
func (h *handler) create(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	if _, err := h.Kit.Query(r, nil); err != nil {
		return err
	}
	var in createRequest
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	f, domains, err := createFields(&in)
	if err != nil {
		return err
	}
	k, tok, err := h.Svc.CreateKey(r.Context(), a, keyward.KindAPI, f)
	if err != nil {
		return translate(err, domains)
	}
	return kit.WriteJSON(w, r, http.StatusOK, h.render.created(k, tok.Reveal()))
}

// createFields translates CreateApiKeyRequest into keyward's fields.
func createFields(in *createRequest) (*keyward.KeyFields, []string, error) {
	f := &keyward.KeyFields{Name: in.Name}
	if !in.Name.Set {
		return nil, nil, keyward.InvalidField("name", "is required")
	}
	var err error
	if f.Owner, err = ownerField(in.Owner); err != nil {
		return nil, nil, err
	}
	if f.ProjectID, err = projectField(in.ProjectScope); err != nil {
		return nil, nil, err
	}
	if err := checkMcpAccess(in.McpAccess); err != nil {
		return nil, nil, err
	}
	if f.Metadata, err = labelsField(in.Labels); err != nil {
		return nil, nil, err
	}
	if f.ExpiresAt, err = expiryField(in.ExpiresAt); err != nil {
		return nil, nil, err
	}
	if f.ExpiresAt.Null {
		f.ExpiresAt = keyward.Field[time.Time]{} // a new key has no expiry to clear
	}
	if f.PermissionMode, err = modeField(in.PermissionMode); err != nil {
		return nil, nil, err
	}
	mode := f.PermissionMode.Value
	var domains []string
	switch {
	case in.Access.Null:
		return nil, nil, keyward.InvalidField("access", "cannot be null; send {} for no access")
	case !in.Access.Set:
		if mode == keyward.ModeRestricted {
			return nil, nil, keyward.InvalidField("access", "is required with %s ({} grants nothing)", modeRestricted)
		}
	case mode == "" || mode == keyward.ModeRestricted:
		// Without a mode the key gets the account's default: the
		// service refuses access unless that default is restricted.
		var scopes []keyward.Scope
		if scopes, domains, err = accessMap(in.Access.Value); err != nil {
			return nil, nil, err
		}
		f.Scopes = keyward.Some(scopes)
	}
	return f, domains, nil
}

// get serves GET /v2/api-keys/{api_key_id} → 200 with the key.
func (h *handler) get(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	id, q, err := h.onKey(w, r, "include_budget")
	if err != nil {
		return err
	}
	if err := includeBudget(q); err != nil {
		return err
	}
	k, err := h.Svc.GetKey(r.Context(), a, keyward.KindAPI, id)
	if err != nil {
		return notFound(err, id)
	}
	return kit.WriteJSON(w, r, http.StatusOK, h.render.key(k))
}

// maxAttempts bounds the retries of an update that read the key first and
// found it changed by a concurrent request when writing.
const maxAttempts = 3

// update serves PATCH /v2/api-keys/{api_key_id} → 200 with the key: orq's update
// page. Absent members stay; access is a replacement map, required when
// changing to RESTRICTED and ignored otherwise; expires_at and
// clear_expires_at are mutually exclusive.
func (h *handler) update(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	id, _, err := h.onKey(w, r)
	if err != nil {
		return err
	}
	var in updateRequest
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	f, err := updateFields(&in)
	if err != nil {
		return err
	}
	// Whether access applies, and whether it is required, depends on the
	// mode the key ends up in: read the key, and write only if it is
	// still that version (If-Match), else read again.
	needCurrent := in.PermissionMode.Set || in.Access.Set
	for attempt := 1; ; attempt++ {
		var (
			ifMatch string
			domains []string
		)
		if needCurrent {
			cur, err := h.Svc.GetKey(r.Context(), a, keyward.KindAPI, id)
			if err != nil {
				return notFound(err, id)
			}
			ifMatch = cur.ETag()
			if domains, err = applyAccess(f, &in, cur.PermissionMode); err != nil {
				return err
			}
		}
		k, err := h.Svc.UpdateKey(r.Context(), a, keyward.KindAPI, id, f, ifMatch)
		if keyward.ErrorCode(err) == keyward.ECodePreconditionFail {
			if attempt < maxAttempts {
				f.Scopes = keyward.Field[[]keyward.Scope]{}
				continue
			}
			return keyward.Errorf(keyward.ECodeConflict, "the API key was changed by concurrent requests; retry")
		}
		if err != nil {
			return notFound(translate(err, domains), id)
		}
		return kit.WriteJSON(w, r, http.StatusOK, h.render.key(k))
	}
}

// updateFields translates the members of UpdateApiKeyRequest that do not
// depend on the key's current state.
func updateFields(in *updateRequest) (*keyward.KeyFields, error) {
	f := &keyward.KeyFields{Name: in.Name, ClearExpiresAt: in.ClearExpiresAt}
	var err error
	if f.Status, err = statusField(in.Status); err != nil {
		return nil, err
	}
	if f.PermissionMode, err = modeField(in.PermissionMode); err != nil {
		return nil, err
	}
	if in.Access.Null {
		return nil, keyward.InvalidField("access", "cannot be null; send {} to clear it")
	}
	if f.ProjectID, err = projectField(in.ProjectScope); err != nil {
		return nil, err
	}
	if f.ExpiresAt, err = expiryField(in.ExpiresAt); err != nil {
		return nil, err
	}
	if err := checkMcpAccess(in.McpAccess); err != nil {
		return nil, err
	}
	return f, nil
}

// applyAccess sets the scopes from access when the key's resulting mode is
// restricted (cur is its mode now), and checks that access comes with a
// change to restricted. It returns the granted domains in scope order.
func applyAccess(f *keyward.KeyFields, in *updateRequest, cur keyward.PermissionMode) ([]string, error) {
	mode := cur
	if f.PermissionMode.HasValue() {
		mode = f.PermissionMode.Value
	}
	if mode != keyward.ModeRestricted {
		return nil, nil // "ignored otherwise"
	}
	if !in.Access.Set {
		if cur != keyward.ModeRestricted {
			return nil, keyward.InvalidField("access", "is required when changing permission_mode to %s ({} grants nothing)", modeRestricted)
		}
		return nil, nil
	}
	scopes, domains, err := accessMap(in.Access.Value)
	if err != nil {
		return nil, err
	}
	f.Scopes = keyward.Some(scopes)
	return domains, nil
}

// delete serves DELETE /v2/api-keys/{api_key_id}: 200 {} (orq's REST
// reference: "the response body is empty on success", and its SDKs up to
// 4.12.22), or 204 without a body (its SDKs from 4.13.1).
func (h *handler) delete(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	id, _, err := h.onKey(w, r)
	if err != nil {
		return err
	}
	if err := h.Svc.DeleteKey(r.Context(), a, keyward.KindAPI, id, ""); err != nil {
		return notFound(err, id)
	}
	return h.render.deleted(w, r)
}

// rotate serves POST /v2/api-keys/{api_key_id}:rotate → 200 with the key
// and its new token. The new secret replaces the old one at once (orq: "immediately
// revokes the previous key"); keyward keeps the key's id.
func (h *handler) rotate(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	raw, ok := strings.CutSuffix(r.PathValue("id"), rotateSuffix)
	if !ok {
		w.Header().Set("Allow", "GET, HEAD, PATCH, DELETE")
		return methodNotAllowed(r.Method, "GET, HEAD, PATCH, DELETE")
	}
	id, ok := keyID(raw)
	if !ok {
		return keyward.Errorf(keyward.ECodeNotFound, "no API key with this id in the workspace")
	}
	if _, err := h.Kit.Query(r, nil); err != nil {
		return err
	}
	var in rotateRequest
	if err := api.Decode(r, &in, false); err != nil {
		return err
	}
	if in.APIKeyID.Set {
		if other, ok := keyID(in.APIKeyID.Value); in.APIKeyID.Null || !ok || other != id {
			return keyward.InvalidField("api_key_id", "must be the api_key_id of the path")
		}
	}
	k, tok, err := h.Svc.RotateKey(r.Context(), a, keyward.KindAPI, id, 0, keyward.Field[time.Time]{}, "")
	if err != nil {
		return notFound(err, id)
	}
	return kit.WriteJSON(w, r, http.StatusOK, h.render.created(k, tok.Reveal()))
}

// includeBudget reads ?include_budget: keyward has no budgets, so there is
// never one to embed, but the parameter must still be well-formed.
func includeBudget(q url.Values) error {
	if !q.Has("include_budget") {
		return nil
	}
	switch strings.ToLower(q.Get("include_budget")) {
	case "true", "false", "1", "0":
		return nil
	}
	return api.BadParam("include_budget", "must be true or false")
}

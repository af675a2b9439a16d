package discue

import (
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat/internal/kit"
	"github.com/keyward/keyward/service"
)

// createResponse is discue's PostApiKeyResponse: the token, shown once,
// and a link to the new key (the only place its id appears).
type createResponse struct {
	APIKey string `json:"api_key"`
	Links  links  `json:"_links"`
}

// create serves POST /api_keys: 200 with the token. Without scopes the key
// gets discue's default set, which is the account's default permission
// mode (every resource, as discue's "very permissive" default is).
func (h *handler) create(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	in, err := readKeyRequest(r, false)
	if err != nil {
		return err
	}
	if !in.name.Set {
		in.name = keyward.Some(defaultName)
	}
	var mode keyward.PermissionMode
	if !in.scopesSet {
		x, err := h.Svc.ScopeExpansion(r.Context(), a)
		if err != nil {
			return err
		}
		mode = x.DefaultPermissionMode
	}
	k, tok, err := h.Svc.CreateKey(r.Context(), a, keyward.KindAPI, in.fields(false, mode))
	if err != nil {
		return in.clientFields(err)
	}
	path := base + "/" + publicID(k.ID)
	w.Header().Set("Location", path)
	return kit.WriteJSON(w, r, http.StatusOK, createResponse{APIKey: tok.Reveal(), Links: selfLink(r, path)})
}

// listResponse is discue's GetApiKeysResponse.
type listResponse struct {
	APIKeys []keyView `json:"api_keys"`
	Links   links     `json:"_links"`
}

// list serves GET /api_keys: every API key of the account, newest first.
// discue has no pagination ("Pagination is not yet available"), so the
// dialect pages through keyward's list itself.
func (h *handler) list(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var (
		all []*keyward.Key
		f   = keyward.KeyFilter{Page: keyward.Page{Limit: keyward.MaxPageLimit}}
	)
	for {
		keys, more, err := h.Svc.ListKeys(r.Context(), a, keyward.KindAPI, f)
		if err != nil {
			return err
		}
		all = append(all, keys...)
		if !more || len(keys) == 0 {
			break
		}
		f.StartingAfter = keys[len(keys)-1].ID
	}
	x, err := h.Svc.ScopeExpansion(r.Context(), a)
	if err != nil {
		return err
	}
	out := listResponse{APIKeys: make([]keyView, 0, len(all)), Links: selfLink(r, base)}
	for _, k := range all {
		out.APIKeys = append(out.APIKeys, viewOf(k, x))
	}
	return kit.WriteJSON(w, r, http.StatusOK, out)
}

// keyResponse is discue's GetApiKeyResponse, also the answer of a PUT.
type keyResponse struct {
	APIKey keyView `json:"api_key"`
	Links  links   `json:"_links"`
}

// get serves GET /api_keys/{api_key_id}; 404 for an id that names no key
// of the account.
func (h *handler) get(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	id, ok := keyID(r.PathValue("id"))
	if !ok {
		return errNotFound(r.PathValue("id"))
	}
	k, err := h.Svc.GetKey(r.Context(), a, keyward.KindAPI, id)
	if err != nil {
		return err
	}
	return h.writeKey(w, r, a, k, nil)
}

// writeKey answers with k; x is the account's scope expansion, nil to
// read it.
func (h *handler) writeKey(w http.ResponseWriter, r *http.Request, a *keyward.Actor, k *keyward.Key, x *service.ScopeExpansion) error {
	if x == nil {
		var err error
		if x, err = h.Svc.ScopeExpansion(r.Context(), a); err != nil {
			return err
		}
	}
	return kit.WriteJSON(w, r, http.StatusOK, keyResponse{APIKey: viewOf(k, x), Links: selfLink(r, base+"/"+publicID(k.ID))})
}

// update serves discue's update page, PUT /api_keys/{api_key_id}: the body states the
// key's name (required), status and scopes; an absent status is enabled
// and absent scopes are the default set, as for a new key. The scopes
// array replaces the key's permissions wholesale. Protected resources
// (api_clients, api_keys, subscriptions in discue's catalog) are refused
// by the catalog rules (422); a revoked key cannot change (409).
func (h *handler) update(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	id, ok := keyID(r.PathValue("id"))
	in, err := readKeyRequest(r, true)
	if err != nil {
		return err
	}
	if !ok {
		return errNotFound(r.PathValue("id"))
	}
	if !in.name.Set {
		return keyward.InvalidField("name", "is required")
	}
	var (
		x    *service.ScopeExpansion
		mode keyward.PermissionMode
	)
	if !in.scopesSet {
		if x, err = h.Svc.ScopeExpansion(r.Context(), a); err != nil {
			return err
		}
		mode = x.DefaultPermissionMode
	}
	k, err := h.Svc.UpdateKey(r.Context(), a, keyward.KindAPI, id, in.fields(true, mode), "")
	if err != nil {
		return in.clientFields(err)
	}
	return h.writeKey(w, r, a, k, x)
}

// deleteResponse is the answer of a DELETE, which discue documents as 200
// without a schema: its own clients read _links (and its examples parse
// the body as JSON).
type deleteResponse struct {
	Links links `json:"_links"`
}

// delete serves DELETE /api_keys/{api_key_id}: the key is gone ("There is
// no going back, only emptiness"); its token stops verifying at once.
func (h *handler) delete(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	raw := r.PathValue("id")
	id, ok := keyID(raw)
	if !ok {
		return errNotFound(raw)
	}
	if err := h.Svc.DeleteKey(r.Context(), a, keyward.KindAPI, id, ""); err != nil {
		return err
	}
	return kit.WriteJSON(w, r, http.StatusOK, deleteResponse{Links: selfLink(r, base+"/"+raw)})
}

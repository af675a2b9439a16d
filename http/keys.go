package http

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// keyHandlers serve the key routes for one kind of key; API keys and
// management keys share object, routes and semantics.
type keyHandlers struct {
	s    *Server
	kind keyward.KeyKind
}

func (h keyHandlers) create(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in keyward.KeyFields
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	k, tok, err := h.s.svc.CreateKey(r.Context(), a, h.kind, &in)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", `"`+k.ETag()+`"`)
	w.Header().Set("Location", r.URL.Path+"/"+k.ID)
	return h.s.writeJSON(w, r, http.StatusCreated, api.WithSecret(api.AnyKeyOf(k), tok))
}

func (h keyHandlers) list(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	p := query(r)
	f, err := keyFilter(p)
	if err != nil {
		return err
	}
	keys, more, err := h.s.svc.ListKeys(r.Context(), a, h.kind, *f)
	return writePage(h.s, w, r, keys, more, err, api.AnyKeyOf)
}

// KeyFilterOf reads the query parameters of GET /v1/keys (docs/api.md)
// from v exactly as the API does, for the dashboard's list of keys. It
// fails with invalid_parameter naming the parameter at fault.
func KeyFilterOf(v url.Values) (*keyward.KeyFilter, error) { return keyFilter(params{v: v}) }

func keyFilter(p params) (*keyward.KeyFilter, error) {
	var (
		f   keyward.KeyFilter
		err error
		s   string
	)
	if f.Page, err = p.page(keyward.PrefixKey); err != nil {
		return nil, err
	}
	if s, err = p.enum("status", "active", "disabled", "revoked"); err != nil {
		return nil, err
	}
	f.Status = keyward.KeyStatus(s)
	if s, err = p.enum("owner_type", "account", "user", "service_account"); err != nil {
		return nil, err
	}
	f.OwnerType = keyward.OwnerType(s)
	if f.OwnerID, err = p.text("owner_id", 64); err != nil {
		return nil, err
	}
	if f.ProjectID, err = p.id("project_id", keyward.PrefixProject); err != nil {
		return nil, err
	}
	if s, err = p.enum("permission_mode", "all", "read_only", "restricted"); err != nil {
		return nil, err
	}
	f.PermissionMode = keyward.PermissionMode(s)
	if p.v.Has("resource") {
		if f.Resource = p.str("resource"); !keyward.ValidResourceID(f.Resource) {
			return nil, api.BadParam("resource", "must be a resource id")
		}
	}
	if p.v.Has("role") {
		if f.Role = p.str("role"); !keyward.ValidRoleName(f.Role) {
			return nil, api.BadParam("role", "must be a role name")
		}
	}
	if f.Search, err = p.text("search", 255); err != nil {
		return nil, err
	}
	if f.Expired, err = p.boolean("expired"); err != nil {
		return nil, err
	}
	if f.CreatedAfter, err = p.time("created_after"); err != nil {
		return nil, err
	}
	if f.CreatedBefore, err = p.time("created_before"); err != nil {
		return nil, err
	}
	if f.LastUsedBefore, err = p.time("last_used_before"); err != nil {
		return nil, err
	}
	if f.ExpiresAfter, err = p.time("expires_after"); err != nil {
		return nil, err
	}
	if f.ExpiresBefore, err = p.time("expires_before"); err != nil {
		return nil, err
	}
	return &f, nil
}

func (h keyHandlers) get(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	id := r.PathValue("id")
	k, err := h.s.svc.GetKey(r.Context(), a, h.kind, id)
	if err != nil {
		return err
	}
	return h.s.writeKey(w, r, k)
}

func (s *Server) writeKey(w http.ResponseWriter, r *http.Request, k *keyward.Key) error {
	w.Header().Set("ETag", `"`+k.ETag()+`"`)
	return s.writeJSON(w, r, http.StatusOK, api.AnyKeyOf(k))
}

func (h keyHandlers) update(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return h.change(w, r, a, h.s.svc.UpdateKey)
}

func (h keyHandlers) replace(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return h.change(w, r, a, h.s.svc.ReplaceKey)
}

type changeFunc func(ctx context.Context, a *keyward.Actor, kind keyward.KeyKind, id string, in *keyward.KeyFields, ifMatch string) (*keyward.Key, error)

func (h keyHandlers) change(w http.ResponseWriter, r *http.Request, a *keyward.Actor, apply changeFunc) error {
	id := r.PathValue("id")
	var in keyward.KeyFields
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	k, err := apply(r.Context(), a, h.kind, id, &in, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return h.s.writeKey(w, r, k)
}

func (h keyHandlers) delete(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	id := r.PathValue("id")
	if err := h.s.svc.DeleteKey(r.Context(), a, h.kind, id, r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h keyHandlers) rotate(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in api.RotateRequest
	if err := api.Decode(r, &in, false); err != nil {
		return err
	}
	k, tok, err := h.s.svc.RotateKey(r.Context(), a, h.kind, r.PathValue("id"), in.Grace(), in.ExpiresAt, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", `"`+k.ETag()+`"`)
	return h.s.writeJSON(w, r, http.StatusOK, api.WithSecret(api.AnyKeyOf(k), tok))
}

// changeCredits serves POST /v1/keys/{id}/credits.
func (s *Server) changeCredits(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in api.CreditsChange
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	k, err := s.svc.ChangeCredits(r.Context(), a, r.PathValue("id"), in.Op(), r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return s.writeKey(w, r, k)
}

// revealSecret serves GET /v1/keys/{id}/secret for recoverable keys.
func (s *Server) revealSecret(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	k, tok, err := s.svc.RevealSecret(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.writeJSON(w, r, http.StatusOK, api.WithSecret(api.KeyRef{ID: k.ID}, tok))
}

// importKeys serves POST /v1/keys/import: 201 with the imported keys, or
// one error per refused item and nothing imported.
func (s *Server) importKeys(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in api.ImportRequest
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	keys, err := s.svc.ImportKeys(r.Context(), a, in.Keys)
	if err != nil {
		return err
	}
	return s.writeJSON(w, r, http.StatusCreated, api.PageOf(keys, false, api.AnyKeyOf))
}

// verify serves POST /v1/keys/verify: 200 with a result for every
// well-formed request. The body and answer go through the fast paths of
// verifyfast.go (the general decoder and encoder for anything unusual).
func (s *Server) verify(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	body, err := api.ReadBody(r)
	if err != nil {
		return err
	}
	if body == nil {
		return keyward.Errorf(keyward.ECodeMalformedJSON, "a JSON object body is required")
	}
	var in keyward.VerifyRequest
	if fv, ok := parseVerifyFast(body); ok {
		in = fv.request()
	} else if err := api.DecodeStrict(body, &in); err != nil {
		return err
	}
	p, err := in.PrepareWith(s.queries.parse)
	if err != nil {
		return err
	}
	res, err := s.svc.VerifyToken(r.Context(), a, in.Key.Value.Reveal(), p)
	if err != nil {
		return err
	}
	if api.StateOf(r).Pretty {
		return s.writeJSON(w, r, http.StatusOK, api.VerifyResultOf(&res))
	}
	buf := verifyBuffers.Get().(*[]byte)
	out := appendVerify((*buf)[:0], &res)
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	h["Content-Length"] = []string{strconv.Itoa(len(out))}
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(out)
	*buf = out
	verifyBuffers.Put(buf)
	return err
}

var (
	verifyBuffers   = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

// whoami serves GET /v1/whoami for the key that calls it.
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	if err := api.CheckCredentialHeaders(r); err != nil {
		return err
	}
	ip := api.StateOf(r).ClientIP
	if err := s.lockout.check(ip); err != nil {
		return err
	}
	var (
		k      *keyward.Key
		scopes []keyward.Scope
	)
	tok, err := token(r)
	if err == nil {
		k, scopes, err = s.svc.Whoami(r.Context(), tok, ip)
	}
	if keyward.ErrorCode(err) == keyward.ECodeUnauthenticated {
		s.lockout.fail(ip)
	}
	if err != nil {
		return err
	}
	return s.writeJSON(w, r, http.StatusOK, api.WhoamiOf(k, scopes))
}

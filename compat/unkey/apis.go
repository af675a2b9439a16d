package unkey

import (
	"context"
	"net/http"

	"github.com/keyward/keyward"
)

// List bounds: Unkey's lists take a limit from 1 to 100, 100 by default.
const (
	maxListLimit     = 100
	defaultListLimit = 100
)

// listLimit reads a list's limit.
func listLimit(f keyward.Field[int64]) (int, error) {
	switch {
	case !f.Set:
		return defaultListLimit, nil
	case f.Null || f.Value < 1 || f.Value > maxListLimit:
		return 0, badInput("limit", "must be an integer from 1 to %d", maxListLimit)
	}
	return int(f.Value), nil
}

type createAPIRequest struct {
	Name keyward.Field[string] `json:"name"`
}

// createAPI serves apis.createApi: a keyward project.
func (s *server) createAPI(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *createAPIRequest) error {
	name, err := required("name", in.Name)
	if err != nil {
		return err
	}
	p, err := s.Svc.CreateProject(r.Context(), a, &keyward.ProjectFields{Name: keyward.Some(name)})
	if err != nil {
		return err
	}
	return reply(w, r, map[string]string{"apiId": apiID(p.ID)})
}

type apiIDRequest struct {
	APIID keyward.Field[string] `json:"apiId"`
}

// apiOf is the project the body of a procedure on one api names.
func (s *server) apiOf(ctx context.Context, a *keyward.Actor, in *apiIDRequest) (*keyward.Project, error) {
	id, err := required("apiId", in.APIID)
	if err != nil {
		return nil, err
	}
	return s.project(ctx, a, id)
}

// getAPI serves apis.getApi.
func (s *server) getAPI(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *apiIDRequest) error {
	p, err := s.apiOf(r.Context(), a, in)
	if err != nil {
		return err
	}
	return reply(w, r, map[string]string{"id": apiID(p.ID), "name": p.Name})
}

// deleteAPI serves apis.deleteApi: the project is deleted and its keys
// revoked.
func (s *server) deleteAPI(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *apiIDRequest) error {
	p, err := s.apiOf(r.Context(), a, in)
	if err != nil {
		return err
	}
	_, err = s.Svc.DeleteProject(r.Context(), a, p.ID, "")
	return deleted(w, r, err, typeAPINotFound)
}

type listKeysRequest struct {
	APIID               keyward.Field[string] `json:"apiId"`
	Limit               keyward.Field[int64]  `json:"limit"`
	Cursor              keyward.Field[string] `json:"cursor"`
	ExternalID          keyward.Field[string] `json:"externalId"`
	Decrypt             keyward.Field[bool]   `json:"decrypt"`
	RevalidateKeysCache keyward.Field[bool]   `json:"revalidateKeysCache"`
}

// listKeys serves apis.listKeys: the api's keys that are not revoked,
// newest first, optionally those of one identity; decrypt adds the
// token of recoverable keys (keys:reveal). revalidateKeysCache has nothing
// to do: keyward's verification cache is kept exact by invalidations.
func (s *server) listKeys(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *listKeysRequest) error {
	id, err := required("apiId", in.APIID)
	if err != nil {
		return err
	}
	limit, err := listLimit(in.Limit)
	if err != nil {
		return err
	}
	for name, f := range map[string]keyward.Field[bool]{"decrypt": in.Decrypt, "revalidateKeysCache": in.RevalidateKeysCache} {
		if f.Null {
			return badInput(name, "must be true or false")
		}
	}
	f := keyward.KeyFilter{Kind: keyward.KindAPI}
	if in.Cursor.Set {
		if !in.Cursor.HasValue() || !keyward.ValidID(keyward.PrefixKey, in.Cursor.Value) {
			return badInput("cursor", "is not a cursor this list returned")
		}
		f.StartingAfter = in.Cursor.Value
	}
	p, err := s.project(r.Context(), a, id)
	if err != nil {
		return err
	}
	f.ProjectID = p.ID
	if in.ExternalID.Set {
		if !in.ExternalID.HasValue() || in.ExternalID.Value == "" {
			return badInput("externalId", "must be a non-empty string")
		}
		sa, err := s.findIdentity(r.Context(), a, in.ExternalID.Value)
		if err != nil {
			return err
		}
		if sa == nil {
			return replyPage(w, r, []keyData{}, "", false)
		}
		f.OwnerType, f.OwnerID = keyward.OwnerServiceAccount, sa.ID
	}
	keys, more, err := s.scanKeys(r.Context(), a, f, limit)
	if err != nil {
		return err
	}
	x, err := s.expansion(r.Context(), a)
	if err != nil {
		return err
	}
	out := make([]keyData, 0, len(keys))
	idents := map[string]*identityData{} // by owner: one read per identity
	for _, k := range keys {
		ident, seen := idents[k.Owner.ID]
		if !seen {
			ident = s.identityOfKey(r.Context(), a, k)
			idents[k.Owner.ID] = ident
		}
		d := keyView(k, x, ident)
		if in.Decrypt.Value && k.Recoverable {
			_, tok, err := s.Svc.RevealSecret(r.Context(), a, k.ID)
			if err != nil {
				return err
			}
			d.Plaintext = tok.Reveal()
		}
		out = append(out, d)
	}
	cursor := ""
	if len(keys) > 0 {
		cursor = keys[len(keys)-1].ID
	}
	return replyPage(w, r, out, cursor, more)
}

// scanKeys reads up to limit keys of f that are not revoked, and whether
// more follow.
func (s *server) scanKeys(ctx context.Context, a *keyward.Actor, f keyward.KeyFilter, limit int) ([]*keyward.Key, bool, error) {
	f.Limit = keyward.MaxPageLimit
	var out []*keyward.Key
	for {
		page, more, err := s.Svc.ListKeys(ctx, a, keyward.KindAPI, f)
		if err != nil {
			return nil, false, err
		}
		for _, k := range page {
			if k.Status == keyward.StatusRevoked {
				continue
			}
			if len(out) == limit {
				return out, true, nil
			}
			out = append(out, k)
		}
		if !more || len(page) == 0 {
			return out, false, nil
		}
		f.StartingAfter = page[len(page)-1].ID
	}
}

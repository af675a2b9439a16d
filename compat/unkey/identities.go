package unkey

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/keyward/keyward/compat/internal/kit"

	"github.com/keyward/keyward"
)

// identityOf renders a service account as Unkey's Identity: its name is
// the externalId.
func identityOf(sa *keyward.ServiceAccount) identityData {
	return identityData{ID: identityID(sa.ID), ExternalID: sa.Name, Ratelimits: []ratelimitData{}}
}

// findIdentity returns the service account whose name is externalID
// (names are unique in an account), nil when there is none.
func (s *server) findIdentity(ctx context.Context, a *keyward.Actor, externalID string) (*keyward.ServiceAccount, error) {
	f := keyward.ServiceAccountFilter{Page: keyward.Page{Limit: keyward.MaxPageLimit}}
	for {
		page, more, err := s.Svc.ListServiceAccounts(ctx, a, f)
		if err != nil {
			return nil, err
		}
		for _, sa := range page {
			if sa.Name == externalID {
				return sa, nil
			}
		}
		if !more || len(page) == 0 {
			return nil, nil
		}
		f.StartingAfter = page[len(page)-1].ID
	}
}

// newIdentity makes the service account of externalID; when a concurrent
// request made it first (the name is taken), that one is returned, with
// created false.
func (s *server) newIdentity(ctx context.Context, a *keyward.Actor, externalID string) (sa *keyward.ServiceAccount, created bool, err error) {
	sa, err = s.Svc.CreateServiceAccount(ctx, a, &keyward.ServiceAccountFields{Name: keyward.Some(externalID)})
	if keyward.ErrorCode(err) == keyward.ECodeDuplicate {
		if first, ferr := s.findIdentity(ctx, a, externalID); ferr == nil && first != nil {
			return first, false, nil
		}
	}
	if err != nil {
		return nil, false, mapFields(err, renamer("name", "externalId"))
	}
	return sa, true, nil
}

// identityFor returns the identity of externalID, creating it when there
// is none (Unkey creates the identity a key names); the id of one it
// creates is added to made, for undo.
func (s *server) identityFor(ctx context.Context, a *keyward.Actor, externalID string, made *[]string) (*keyward.ServiceAccount, error) {
	sa, err := s.findIdentity(ctx, a, externalID)
	if err != nil || sa != nil {
		return sa, err
	}
	sa, created, err := s.newIdentity(ctx, a, externalID)
	if created {
		*made = append(*made, sa.ID)
	}
	return sa, err
}

// undo deletes the identities a request made for keys it then failed to
// create, so that a refused request leaves no identity behind; one that a
// concurrent request has given a key meanwhile stays (deleting it would
// revoke that key).
func (s *server) undo(ctx context.Context, a *keyward.Actor, made []string) {
	ctx = context.WithoutCancel(ctx)
	for _, id := range made {
		// Best effort: the request's own error is the answer.
		f := keyward.KeyFilter{Kind: keyward.KindAPI, OwnerType: keyward.OwnerServiceAccount, OwnerID: id}
		if keys, _, err := s.scanKeys(ctx, a, f, 1); err == nil && len(keys) == 0 {
			_, _ = s.Svc.DeleteServiceAccount(ctx, a, id, "")
		}
	}
}

type createIdentityRequest struct {
	ExternalID keyward.Field[string]                     `json:"externalId"`
	Meta       keyward.Field[map[string]json.RawMessage] `json:"meta"`
	Ratelimits keyward.Field[[]ratelimitRequest]         `json:"ratelimits"`
}

// inexpressible refuses identity members keyward's service accounts
// cannot hold: metadata and rate limits (keyward's limits are per key).
func inexpressible(meta keyward.Field[map[string]json.RawMessage], rls keyward.Field[[]ratelimitRequest]) error {
	if meta.HasValue() && len(meta.Value) > 0 {
		return badInput("meta", "cannot be expressed: a keyward service account (an identity) has no metadata; put it on the keys")
	}
	if rls.HasValue() && len(rls.Value) > 0 {
		return badInput("ratelimits", "cannot be expressed: keyward rate limits are per key; set them on the keys")
	}
	return nil
}

// createIdentity serves identities.createIdentity: a service account
// named by the externalId (unique in the account).
func (s *server) createIdentity(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *createIdentityRequest) error {
	ext, err := required("externalId", in.ExternalID)
	if err != nil {
		return err
	}
	if err := inexpressible(in.Meta, in.Ratelimits); err != nil {
		return err
	}
	sa, err := s.findIdentity(r.Context(), a, ext)
	if err != nil {
		return err
	}
	exists := &kit.Error{Status: http.StatusConflict, Code: typeIdentExists,
		Err: keyward.Errorf(keyward.ECodeDuplicate, "an identity with externalId %q already exists", ext)}
	if sa != nil {
		return exists
	}
	sa, created, err := s.newIdentity(r.Context(), a, ext)
	switch {
	case err != nil:
		return err
	case !created:
		return exists
	}
	return reply(w, r, map[string]string{"identityId": identityID(sa.ID)})
}

type identityRequest struct {
	Identity keyward.Field[string] `json:"identity"`
}

// identity finds the service account an identity id or externalId names.
func (s *server) identity(ctx context.Context, a *keyward.Actor, f keyward.Field[string]) (*keyward.ServiceAccount, error) {
	v, err := required("identity", f)
	if err != nil {
		return nil, err
	}
	if id, ok := serviceAccountID(v); ok {
		sa, err := s.Svc.GetServiceAccount(ctx, a, id)
		if err == nil || keyward.ErrorCode(err) != keyward.ECodeNotFound {
			return sa, err
		}
	}
	sa, err := s.findIdentity(ctx, a, v)
	if err != nil {
		return nil, err
	}
	if sa == nil {
		return nil, notFound("identity", typeIdentNotFound, v)
	}
	return sa, nil
}

// getIdentity serves identities.getIdentity, by id or externalId.
func (s *server) getIdentity(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *identityRequest) error {
	sa, err := s.identity(r.Context(), a, in.Identity)
	if err != nil {
		return err
	}
	return reply(w, r, identityOf(sa))
}

type updateIdentityRequest struct {
	Identity   keyward.Field[string]                     `json:"identity"`
	Meta       keyward.Field[map[string]json.RawMessage] `json:"meta"`
	Ratelimits keyward.Field[[]ratelimitRequest]         `json:"ratelimits"`
}

// updateIdentity serves identities.updateIdentity: the members it
// changes (meta, ratelimits) cannot be held, so only their clearing is
// taken; the identity is answered as it is.
func (s *server) updateIdentity(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *updateIdentityRequest) error {
	if err := inexpressible(in.Meta, in.Ratelimits); err != nil {
		return err
	}
	sa, err := s.identity(r.Context(), a, in.Identity)
	if err != nil {
		return err
	}
	return reply(w, r, identityOf(sa))
}

// deleteIdentity serves identities.deleteIdentity. keyward revokes the
// keys of a service account it deletes, and a key's owner cannot change:
// an identity that still has keys is refused (412, naming them) rather
// than have its keys revoked.
func (s *server) deleteIdentity(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *identityRequest) error {
	sa, err := s.identity(r.Context(), a, in.Identity)
	if err != nil {
		return err
	}
	f := keyward.KeyFilter{Kind: keyward.KindAPI, OwnerType: keyward.OwnerServiceAccount, OwnerID: sa.ID}
	keys, _, err := s.scanKeys(r.Context(), a, f, 10)
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = k.ID
		}
		return &kit.Error{Status: http.StatusPreconditionFailed, Code: typePrecondition, Err: &keyward.Error{
			Code: keyward.ECodeResourceInUse, Message: "the identity still has keys (" + strings.Join(ids, ", ") +
				"): delete them first; keyward would revoke them with the identity", Details: map[string]any{"key_ids": ids}}}
	}
	if _, err := s.Svc.DeleteServiceAccount(r.Context(), a, sa.ID, ""); err != nil {
		return withType(err, typeIdentNotFound, "")
	}
	return kit.WriteJSON(w, r, http.StatusOK, struct {
		Meta meta `json:"meta"`
	}{metaOf(r)})
}

// listIdentities serves identities.listIdentities: service accounts,
// newest first; search matches the externalId.
func (s *server) listIdentities(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *listRequest) error {
	limit, err := listLimit(in.Limit)
	if err != nil {
		return err
	}
	if in.Search.Null {
		return badInput("search", "must be a string")
	}
	f := keyward.ServiceAccountFilter{Page: keyward.Page{Limit: keyward.MaxPageLimit}}
	if in.Cursor.Set {
		id, ok := serviceAccountID(in.Cursor.Value)
		if !in.Cursor.HasValue() || !ok {
			return badInput("cursor", "is not a cursor this list returned")
		}
		f.StartingAfter = id
	}
	out := []identityData{}
	more := false
scan:
	for {
		page, next, err := s.Svc.ListServiceAccounts(r.Context(), a, f)
		if err != nil {
			return err
		}
		for _, sa := range page {
			if !matches(in.Search.Value, sa.Name) {
				continue
			}
			if len(out) == limit {
				more = true
				break scan
			}
			out = append(out, identityOf(sa))
		}
		if !next || len(page) == 0 {
			break
		}
		f.StartingAfter = page[len(page)-1].ID
	}
	cursor := ""
	if len(out) > 0 {
		cursor = out[len(out)-1].ID
	}
	return replyPage(w, r, out, cursor, more)
}

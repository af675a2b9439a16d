package unkey

import (
	"context"
	"net/http"

	"github.com/keyward/keyward"
)

// identityOf renders a service account as Unkey's Identity: its name is
// the externalId.
func identityOf(sa *keyward.ServiceAccount) identityData {
	return identityData{ID: identityID(sa.ID), ExternalID: sa.Name, Ratelimits: []ratelimitData{}}
}

// findIdentity returns the service account whose name is externalID, nil
// when there is none.
func (s *server) findIdentity(ctx context.Context, a *keyward.Actor, externalID string) (*keyward.ServiceAccount, error) {
	f := keyward.ServiceAccountFilter{Page: keyward.Page{Limit: keyward.MaxPageLimit}}
	for {
		page, more, err := s.svc.ListServiceAccounts(ctx, a, f)
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

// identityFor returns the identity of externalID, creating it when there
// is none (Unkey creates the identity a key names).
func (s *server) identityFor(ctx context.Context, a *keyward.Actor, externalID string) (*keyward.ServiceAccount, error) {
	sa, err := s.findIdentity(ctx, a, externalID)
	if err != nil || sa != nil {
		return sa, err
	}
	sa, err = s.svc.CreateServiceAccount(ctx, a, &keyward.ServiceAccountFields{Name: keyward.Some(externalID)})
	if err != nil {
		return nil, renamedIdentity(err)
	}
	return sa, nil
}

// renamedIdentity names a service account's members as an identity's.
func renamedIdentity(err error) error {
	e, ok := err.(*keyward.Error)
	if !ok {
		return err
	}
	c := *e
	c.Fields = nil
	for _, f := range e.Fields {
		if f.Field == "name" {
			f.Field = "externalId"
		}
		c.Fields = append(c.Fields, f)
	}
	return &c
}

func (s *server) createIdentity(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) getIdentity(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) listIdentities(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) updateIdentity(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) deleteIdentity(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}

package service

import (
	"context"

	"github.com/keyward/keyward"
)

// ProjectFields is the body of a project create or PATCH.
type ProjectFields struct {
	Name        keyward.Field[string] `json:"name"`
	Description keyward.Field[string] `json:"description"`
}

func (in *ProjectFields) apply(p *keyward.Project, creating bool) error {
	var errs []keyward.FieldError
	switch {
	case creating && !in.Name.HasValue(), in.Name.Null:
		errs = append(errs, keyward.FieldError{Field: "name", Message: "is required"})
	case in.Name.Set:
		if msg := keyward.CheckText(in.Name.Value, keyward.MaxNameLen, true); msg != "" {
			errs = append(errs, keyward.FieldError{Field: "name", Message: msg})
		}
		p.Name = in.Name.Value
	}
	if in.Description.Null {
		p.Description = nil
	} else if in.Description.Set {
		if msg := keyward.CheckText(in.Description.Value, keyward.MaxDescriptionLen, false); msg != "" {
			errs = append(errs, keyward.FieldError{Field: "description", Message: msg})
		}
		d := in.Description.Value
		p.Description = &d
	}
	if len(errs) > 0 {
		return keyward.Invalid(errs...)
	}
	return nil
}

func projectMap(p *keyward.Project) map[string]any {
	if p == nil {
		return nil
	}
	return map[string]any{"name": p.Name, "description": p.Description}
}

// CreateProject creates a project in the actor's account; names are unique
// per account (409 duplicate).
func (s *Service) CreateProject(ctx context.Context, a *keyward.Actor, in *ProjectFields) (*keyward.Project, error) {
	if err := require(a, keyward.PermKeysWrite); err != nil {
		return nil, err
	}
	now := s.now()
	p := &keyward.Project{ID: s.ids.New(keyward.PrefixProject), AccountID: a.AccountID, CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := in.apply(p, true); err != nil {
		return nil, err
	}
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		if err := tx.CreateProject(ctx, p); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, a.AccountID, keyward.ActionProjectCreated, keyward.TargetProject, p.ID, keyward.Diff(nil, projectMap(p)))
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func loadProject(ctx context.Context, tx keyward.Tx, a *keyward.Actor, id string) (*keyward.Project, error) {
	notFound := keyward.NotFound("project", id)
	if !keyward.ValidID(keyward.PrefixProject, id) {
		return nil, notFound
	}
	p, err := tx.GetProject(ctx, id)
	if isNotFound(err) || (err == nil && p.AccountID != a.AccountID) {
		return nil, notFound
	}
	return p, err
}

// GetProject returns a project of the actor's account.
func (s *Service) GetProject(ctx context.Context, a *keyward.Actor, id string) (*keyward.Project, error) {
	if err := require(a, keyward.PermKeysRead); err != nil {
		return nil, err
	}
	var p *keyward.Project
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		p, err = loadProject(ctx, tx, a, id)
		return err
	})
	return p, err
}

// ListProjects returns one page of the actor's account's projects.
func (s *Service) ListProjects(ctx context.Context, a *keyward.Actor, pg keyward.Page) ([]*keyward.Project, bool, error) {
	if err := require(a, keyward.PermKeysRead); err != nil {
		return nil, false, err
	}
	var (
		out  []*keyward.Project
		more bool
	)
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		out, more, err = tx.ListProjects(ctx, &keyward.ProjectFilter{Page: pg, AccountID: a.AccountID})
		return err
	})
	return out, more, err
}

// UpdateProject applies a PATCH to a project.
func (s *Service) UpdateProject(ctx context.Context, a *keyward.Actor, id string, in *ProjectFields, ifMatch string) (*keyward.Project, error) {
	if err := require(a, keyward.PermKeysWrite); err != nil {
		return nil, err
	}
	var out *keyward.Project
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadProject(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.ETag()); err != nil {
			return err
		}
		next := *cur
		if err := in.apply(&next, false); err != nil {
			return err
		}
		changes := keyward.Diff(projectMap(cur), projectMap(&next))
		if changes == nil {
			out = cur
			return nil
		}
		next.Version, next.UpdatedAt = cur.Version+1, s.now()
		if err := tx.UpdateProject(ctx, &next); err != nil {
			return err
		}
		out = &next
		return s.audit(ctx, tx, a, a.AccountID, keyward.ActionProjectUpdated, keyward.TargetProject, id, changes)
	})
	return out, err
}

// DeleteProject deletes a project and revokes every key scoped to it, with
// an audit event per key, in one transaction. It returns the revoked key ids.
func (s *Service) DeleteProject(ctx context.Context, a *keyward.Actor, id, ifMatch string) ([]string, error) {
	if err := require(a, keyward.PermKeysWrite); err != nil {
		return nil, err
	}
	var revoked []string
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadProject(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.ETag()); err != nil {
			return err
		}
		keys, err := tx.KeysInProject(ctx, a.AccountID, id)
		if err != nil {
			return err
		}
		if revoked, err = s.revokeKeys(ctx, tx, a, keys, "project "+id+" deleted"); err != nil {
			return err
		}
		if err := tx.DeleteProject(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, a.AccountID, keyward.ActionProjectDeleted, keyward.TargetProject, id, keyward.Diff(projectMap(cur), nil))
	})
	return revoked, err
}

package service

import (
	"context"
	"time"

	"github.com/keyward/keyward"
)

func projectMap(p *keyward.Project) map[string]any {
	if p == nil {
		return nil
	}
	return map[string]any{"name": p.Name, "description": p.Description}
}

// projectKind is what the shared operations need to know of projects.
var projectKind = &objectKind[keyward.Project]{
	name: "project", target: keyward.TargetProject, read: keyward.PermKeysRead, write: keyward.PermKeysWrite,
	validID: func(id string) bool { return keyward.ValidID(keyward.PrefixProject, id) },
	id:      func(p *keyward.Project) string { return p.ID },
	etag:    (*keyward.Project).ETag,
	next:    func(p *keyward.Project, now time.Time) { p.Version, p.UpdatedAt = p.Version+1, now },
	fields:  projectMap,
	get:     keyward.Tx.GetProject, create: keyward.Tx.CreateProject, update: keyward.Tx.UpdateProject, delete: keyward.Tx.DeleteProject,
	created: keyward.ActionProjectCreated, updated: keyward.ActionProjectUpdated, deleted: keyward.ActionProjectDeleted,
}

// CreateProject creates a project in the actor's account; names are unique
// per account (409 duplicate).
func (s *Service) CreateProject(ctx context.Context, a *keyward.Actor, in *keyward.ProjectFields) (*keyward.Project, error) {
	now := s.now()
	p := &keyward.Project{ID: s.ids.New(keyward.PrefixProject), AccountID: a.AccountID, CreatedAt: now, UpdatedAt: now, Version: 1}
	return projectKind.add(ctx, s, a, p, func(keyward.Tx) error { return keyward.ApplyProject(p, in, true) })
}

// GetProject returns a project of the actor's account.
func (s *Service) GetProject(ctx context.Context, a *keyward.Actor, id string) (*keyward.Project, error) {
	return projectKind.getOne(ctx, s, a, id)
}

// ListProjects returns one page of the actor's account's projects.
func (s *Service) ListProjects(ctx context.Context, a *keyward.Actor, pg keyward.Page) ([]*keyward.Project, bool, error) {
	return listAs(ctx, s, a, keyward.PermKeysRead, func(tx keyward.Tx) ([]*keyward.Project, bool, error) {
		return tx.ListProjects(ctx, &keyward.ProjectFilter{Page: pg, AccountID: a.AccountID})
	})
}

// UpdateProject applies a PATCH to a project.
func (s *Service) UpdateProject(ctx context.Context, a *keyward.Actor, id string, in *keyward.ProjectFields, ifMatch string) (*keyward.Project, error) {
	return projectKind.patch(ctx, s, a, id, ifMatch, func(_ keyward.Tx, next *keyward.Project) error { return keyward.ApplyProject(next, in, false) })
}

// DeleteProject deletes a project and revokes every key scoped to it, with
// an audit event per key, in one transaction. It returns the revoked key ids.
func (s *Service) DeleteProject(ctx context.Context, a *keyward.Actor, id, ifMatch string) ([]string, error) {
	var revoked []string
	err := projectKind.remove(ctx, s, a, id, ifMatch, func(tx keyward.Tx, _ *keyward.Project) error {
		keys, err := tx.KeysInProject(ctx, a.AccountID, id)
		if err != nil {
			return err
		}
		revoked, err = s.revokeKeys(ctx, tx, a, keys, "project "+id+" deleted")
		return err
	})
	return revoked, err
}

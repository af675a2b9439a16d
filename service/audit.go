package service

import (
	"context"

	"github.com/keyward/keyward"
)

// ListAuditEvents returns one page of the actor's account's audit events,
// newest first. The audit log has no other operation: events cannot be
// changed or deleted through keyward.
func (s *Service) ListAuditEvents(ctx context.Context, a *keyward.Actor, f keyward.AuditFilter) ([]*keyward.AuditEvent, bool, error) {
	if err := require(a, keyward.PermAuditRead); err != nil {
		return nil, false, err
	}
	f.AccountID = a.AccountID
	var (
		out  []*keyward.AuditEvent
		more bool
	)
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		out, more, err = tx.ListAuditEvents(ctx, &f)
		return err
	})
	return out, more, err
}

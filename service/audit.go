package service

import (
	"context"

	"github.com/keyward/keyward"
)

// ListAuditEvents returns one page of the actor's account's audit events,
// newest first. The audit log has no other operation: events cannot be
// changed or deleted through keyward.
func (s *Service) ListAuditEvents(ctx context.Context, a *keyward.Actor, f keyward.AuditFilter) ([]*keyward.AuditEvent, bool, error) {
	f.AccountID = a.AccountID
	return listAs(ctx, s, a, keyward.PermAuditRead, func(tx keyward.Tx) ([]*keyward.AuditEvent, bool, error) {
		return tx.ListAuditEvents(ctx, &f)
	})
}

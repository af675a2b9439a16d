package service

import "context"

// FlushUsage runs one flush of the write-behind now, as its loop does
// every interval, for tests that need to know when one happened.
func (s *Service) FlushUsage(ctx context.Context) error { return s.usage.flush(ctx) }

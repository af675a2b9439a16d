package keyward

import (
	"context"
	"errors"
	"time"
)

// Every request has one time budget for everything it waits on (the
// database, the SQLite writer, a credit lease), not one per wait: the
// server's budget for its route, shortened by the client's own deadline
// (Request-Timeout). Which of the two ran out decides the answer: the
// server's budget is 503 unavailable (the database did not answer in
// time; retry), the client's deadline is 504 timeout. The context's cause
// (context.Cause) carries that decision to wherever the wait fails.

var (
	errBudget = &Error{Code: ECodeUnavailable, Message: "the database did not answer in time; retry shortly"}
	errClient = &Error{Code: ECodeTimeout, Message: "the request took longer than its timeout"}
)

// WithBudget bounds ctx by the server's budget d for one request; when it
// runs out first, ContextError(ctx) is unavailable. A parent deadline that
// comes sooner keeps its own cause.
func WithBudget(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, errBudget)
}

// WithClientTimeout bounds ctx by the deadline the client asked for (the
// Request-Timeout header); when it runs out first, ContextError(ctx) is
// timeout.
func WithClientTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, errClient)
}

// ContextError returns the error a request whose context ended answers
// with: unavailable when the server's budget ran out, timeout when the
// client's deadline did or the client went away, nil while ctx is live.
func ContextError(ctx context.Context) error {
	err := ctx.Err()
	if err == nil {
		return nil
	}
	var e *Error
	if cause := context.Cause(ctx); errors.As(cause, &e) {
		return &Error{Code: e.Code, Message: e.Message, Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Code: ECodeTimeout, Message: "the request was cancelled", Err: err}
	}
	return &Error{Code: ECodeTimeout, Message: errClient.Message, Err: err}
}

// WithBudgetUntil is WithBudget with the budget's end given as a time:
// several waits of one request share one budget.
func WithBudgetUntil(ctx context.Context, end time.Time) (context.Context, context.CancelFunc) {
	return context.WithDeadlineCause(ctx, end, errBudget)
}

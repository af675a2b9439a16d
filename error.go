package keyward

import (
	"context"
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. The HTTP layer maps each
// code to a status in exactly one table; clients may rely on codes.
type Code string

// The error codes. Each names a class of failure, not a message.
const (
	ECodeBadRequest          Code = "bad_request"          // malformed request: bad JSON, unknown field, bad parameter
	ECodeMalformedJSON       Code = "malformed_json"       // the body is not JSON, or not the JSON shape the route takes
	ECodeUnknownField        Code = "unknown_field"        // the body names a field the route does not know
	ECodeInvalidParameter    Code = "invalid_parameter"    // a query parameter or header is malformed or unknown
	ECodeUnauthenticated     Code = "unauthenticated"      // no credential, or one that is not valid
	ECodeAPIKeyForbidden     Code = "api_key_forbidden"    // an API key called a management route
	ECodePermissionDenied    Code = "permission_denied"    // a management key lacks the permission a route needs
	ECodeAccountMismatch     Code = "account_mismatch"     // X-Account-Id names an account the key is not bound to
	ECodeNotFound            Code = "not_found"            // unknown object, or another account's
	ECodeMethodNotAllowed    Code = "method_not_allowed"   // the route exists, not with this method
	ECodeNotAcceptable       Code = "not_acceptable"       // Accept excludes JSON
	ECodeConflict            Code = "conflict"             // the object's state forbids the change
	ECodeKeyRevoked          Code = "key_revoked"          // a revoked key cannot change (it can only be deleted)
	ECodeDuplicate           Code = "duplicate"            // a value that must be unique is taken
	ECodeResourceInUse       Code = "resource_in_use"      // the object is referenced and cannot go
	ECodeIdempotencyConflict Code = "idempotency_conflict" // an Idempotency-Key reused with another request, or while in progress
	ECodePreconditionFail    Code = "precondition_failed"  // If-Match does not match the current etag
	ECodeBodyTooLarge        Code = "body_too_large"       // request body over the limit
	ECodeUnsupportedMedia    Code = "unsupported_media_type"
	ECodeValidation          Code = "validation_failed"        // well-formed request whose values break a rule
	ECodeInvalidPermission   Code = "invalid_permission_query" // a permission query that does not parse
	ECodeLocked              Code = "locked"                   // credential temporarily locked out
	ECodeRateLimited         Code = "rate_limited"             // too many requests
	ECodeInternal            Code = "internal"                 // a bug or an infrastructure failure; details are logged only
	ECodeUnavailable         Code = "unavailable"              // the database cannot be reached
	ECodeTimeout             Code = "timeout"                  // the request's own deadline passed
)

// FieldError names one offending field of a request and says what is wrong
// with it. Field is a JSON path such as "scopes[1].access".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is keyward's one error type. Message is safe to show to clients; Err
// is the internal cause, logged and never shown.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	// Details are extra, client-safe facts (the missing permission, the ids
	// that hold a resource); rendered as members of the problem body.
	Details map[string]any
	Err     error
}

func (e *Error) Error() string {
	s := string(e.Code) + ": " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error with a client-safe formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a validation error naming each offending field.
func Invalid(fields ...FieldError) *Error {
	msg := "the request is not valid"
	if len(fields) == 1 {
		msg = fields[0].Field + ": " + fields[0].Message
	}
	return &Error{Code: ECodeValidation, Message: msg, Fields: fields}
}

// InvalidField is Invalid for a single field.
func InvalidField(field, format string, args ...any) *Error {
	return Invalid(FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Internal wraps an unexpected failure; its text is never shown to clients.
func Internal(err error) *Error {
	return &Error{Code: ECodeInternal, Message: "internal error", Err: err}
}

// ErrorCode returns the code of err: the Code of a wrapped *Error, timeout
// for an expired context, and internal for anything else (nil gives "").
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ECodeTimeout
	}
	return ECodeInternal
}

// AsError returns err as an *Error, converting foreign errors to internal
// (or timeout) ones whose cause is kept for the log.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: ECodeTimeout, Message: "the request took longer than its timeout", Err: err}
	}
	return Internal(err)
}

// NotFound returns the error for an object that does not exist in the acting
// account (other accounts' objects are reported the same way).
func NotFound(kind, id string) *Error {
	return Errorf(ECodeNotFound, "%s %q not found", kind, id)
}

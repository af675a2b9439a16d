package unkey

import (
	"errors"
	"net/http"

	"github.com/keyward/keyward"
)

// Unkey's error types: a URI under its error documentation, one per
// class of problem (<category>/<name>).
const (
	typeBase            = "https://unkey.com/docs/errors/unkey/"
	typeInvalidInput    = "application/invalid_input"
	typeUnexpected      = "application/unexpected_error"
	typeUnavailable     = "application/service_unavailable"
	typePrecondition    = "application/precondition_failed"
	typeAuthMissing     = "authentication/missing"
	typeAuthKey         = "authentication/key_not_found"
	typeInsufficient    = "authorization/insufficient_permissions"
	typeKeyNotFound     = "data/key_not_found"
	typeAPINotFound     = "data/api_not_found"
	typePermNotFound    = "data/permission_not_found"
	typeRoleNotFound    = "data/role_not_found"
	typeIdentNotFound   = "data/identity_not_found"
	typePermExists      = "data/permission_already_exists"
	typeRoleExists      = "data/role_already_exists"
	typeIdentExists     = "data/identity_already_exists"
	typeNotFound        = "data/resource_not_found"
	typeConflict        = "data/conflict"
	typeRateLimited     = "limits/rate_limited"
	typeMethod          = "application/method_not_allowed"
	typeTooLarge        = "application/request_too_large"
	typeUnsupportedType = "application/unsupported_media_type"
	typeTimeout         = "application/request_timeout"
)

// unkeyError is an error whose status and type this package decided (a
// keyward code maps to several Unkey types: a missing key and an unknown
// api are both not_found). err is the keyward error it stands for: its
// code goes to the access log, its message to the client.
type unkeyError struct {
	status int
	kind   string
	err    *keyward.Error
}

func (e *unkeyError) Error() string { return e.kind + ": " + e.err.Error() }
func (e *unkeyError) Unwrap() error { return e.err }

// notFound is the 404 of an object of kind (Unkey's word) named id, with
// Unkey's type for it.
func notFound(kind, typ, id string) error {
	return &unkeyError{status: http.StatusNotFound, kind: typ, err: keyward.NotFound(kind, id)}
}

// withType gives a not-found or conflict error of the service Unkey's
// type for the object the procedure names; other errors pass unchanged.
func withType(err error, notFoundType, existsType string) error {
	var ue *unkeyError
	if err == nil || errors.As(err, &ue) {
		return err
	}
	e := keyward.AsError(err)
	switch {
	case e.Code == keyward.ECodeNotFound && notFoundType != "":
		return &unkeyError{status: http.StatusNotFound, kind: notFoundType, err: e}
	case e.Code == keyward.ECodeDuplicate && existsType != "":
		return &unkeyError{status: http.StatusConflict, kind: existsType, err: e}
	}
	return err
}

// badInput is a 400 naming the member at fault.
func badInput(field, format string, args ...any) error {
	return keyward.InvalidField(field, format, args...)
}

// statusOf maps a keyward error to Unkey's status and error type. Unkey
// answers every bad request, malformed or breaking a rule, with 400.
func statusOf(e *keyward.Error) (int, string) {
	switch e.Code {
	case keyward.ECodeBadRequest, keyward.ECodeMalformedJSON, keyward.ECodeUnknownField, keyward.ECodeValidation,
		keyward.ECodeInvalidPermission, keyward.ECodeInvalidParameter, keyward.ECodeNotAcceptable:
		return http.StatusBadRequest, typeInvalidInput
	case keyward.ECodeUnauthenticated:
		return http.StatusUnauthorized, typeAuthKey
	case keyward.ECodeAPIKeyForbidden, keyward.ECodePermissionDenied, keyward.ECodeAccountMismatch:
		return http.StatusForbidden, typeInsufficient
	case keyward.ECodeNotFound:
		return http.StatusNotFound, typeNotFound
	case keyward.ECodeMethodNotAllowed:
		return http.StatusMethodNotAllowed, typeMethod
	case keyward.ECodeKeyRevoked, keyward.ECodeConflict, keyward.ECodeDuplicate, keyward.ECodeIdempotencyConflict:
		return http.StatusConflict, typeConflict
	case keyward.ECodeResourceInUse:
		return http.StatusPreconditionFailed, typePrecondition
	case keyward.ECodePreconditionFail:
		return http.StatusPreconditionFailed, typePrecondition
	case keyward.ECodeBodyTooLarge:
		return http.StatusRequestEntityTooLarge, typeTooLarge
	case keyward.ECodeUnsupportedMedia:
		return http.StatusUnsupportedMediaType, typeUnsupportedType
	case keyward.ECodeLocked, keyward.ECodeRateLimited:
		return http.StatusTooManyRequests, typeRateLimited
	case keyward.ECodeUnavailable:
		return http.StatusServiceUnavailable, typeUnavailable
	case keyward.ECodeTimeout:
		return http.StatusRequestTimeout, typeTimeout
	}
	return http.StatusInternalServerError, typeUnexpected
}

// errorDoc is Unkey's error answer: {meta, error}.
type errorDoc struct {
	Meta  meta        `json:"meta"`
	Error errorDetail `json:"error"`
}

// errorDetail is Unkey's BaseError (RFC 7807), with errors on a 400
// (BadRequestErrorDetails).
type errorDetail struct {
	Title  string            `json:"title"`
	Detail string            `json:"detail"`
	Status int               `json:"status"`
	Type   string            `json:"type"`
	Errors []validationError `json:"errors,omitempty"`
}

// validationError is one member at fault: where (body.<member>) and what
// is wrong.
type validationError struct {
	Location string `json:"location"`
	Message  string `json:"message"`
	Fix      string `json:"fix,omitempty"`
}

// errorBody gives err Unkey's status and body; the kit writes it and
// notes err for the access log (which logs the cause of a 5xx: the
// client sees only the safe message).
func errorBody(r *http.Request, _ http.Header, err error) (int, any) {
	var (
		e      = keyward.AsError(err)
		status int
		kind   string
		ue     *unkeyError
	)
	if errors.As(err, &ue) {
		status, kind = ue.status, ue.kind
	} else {
		status, kind = statusOf(e)
	}
	d := errorDetail{Title: http.StatusText(status), Detail: e.Message, Status: status, Type: typeBase + kind}
	if status == http.StatusBadRequest {
		d.Errors = []validationError{}
		for _, f := range e.Fields {
			d.Errors = append(d.Errors, validationError{Location: "body." + f.Field, Message: f.Message})
		}
		if len(d.Errors) == 0 {
			d.Errors = append(d.Errors, validationError{Location: "body", Message: e.Message})
		}
	}
	return status, errorDoc{Meta: metaOf(r), Error: d}
}

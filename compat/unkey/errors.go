package unkey

import (
	"errors"
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat/internal/kit"
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

// notFound is the 404 of an object of kind (Unkey's word) named id, with
// Unkey's type for it.
func notFound(kind, typ, id string) error {
	return &kit.Error{Status: http.StatusNotFound, Code: typ, Err: keyward.NotFound(kind, id)}
}

// withType gives a not-found or conflict error of the service Unkey's
// type for the object the procedure names; other errors pass unchanged.
func withType(err error, notFoundType, existsType string) error {
	if _, ok := errors.AsType[*kit.Error](err); err == nil || ok {
		return err
	}
	e := keyward.AsError(err)
	switch {
	case e.Code == keyward.ECodeNotFound && notFoundType != "":
		return &kit.Error{Status: http.StatusNotFound, Code: notFoundType, Err: e}
	case e.Code == keyward.ECodeDuplicate && existsType != "":
		return &kit.Error{Status: http.StatusConflict, Code: existsType, Err: e}
	}
	return err
}

// badInput is a 400 naming the member at fault.
func badInput(field, format string, args ...any) error {
	return keyward.InvalidField(field, format, args...)
}

// codes are Unkey's status and error type of keyward's errors. Unkey
// answers every bad request, malformed or breaking a rule, with 400. An
// error this package decides otherwise is a *kit.Error (a keyward code
// maps to several Unkey types: a missing key and an unknown api are both
// not_found).
var codes = kit.Codes{
	ByStatus: map[int]string{
		http.StatusBadRequest:            typeInvalidInput,
		http.StatusUnauthorized:          typeAuthKey,
		http.StatusForbidden:             typeInsufficient,
		http.StatusNotFound:              typeNotFound,
		http.StatusMethodNotAllowed:      typeMethod,
		http.StatusConflict:              typeConflict,
		http.StatusPreconditionFailed:    typePrecondition,
		http.StatusRequestEntityTooLarge: typeTooLarge,
		http.StatusUnsupportedMediaType:  typeUnsupportedType,
		http.StatusTooManyRequests:       typeRateLimited,
		http.StatusServiceUnavailable:    typeUnavailable,
		http.StatusRequestTimeout:        typeTimeout,
	},
	Default: typeUnexpected,
	Status: map[keyward.Code]int{
		keyward.ECodeNotAcceptable: http.StatusBadRequest,
		keyward.ECodeResourceInUse: http.StatusPreconditionFailed,
		keyward.ECodeTimeout:       http.StatusRequestTimeout,
	},
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
	status, kind, e := codes.Of(err)
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

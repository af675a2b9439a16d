package http

import (
	"context"
	"errors"
	"net/http"

	"github.com/keyward/keyward"
)

// statusOf is the one mapping from error codes to HTTP status.
var statusOf = map[keyward.Code]int{
	keyward.ECodeBadRequest:          http.StatusBadRequest,
	keyward.ECodeMalformedJSON:       http.StatusBadRequest,
	keyward.ECodeUnknownField:        http.StatusBadRequest,
	keyward.ECodeInvalidParameter:    http.StatusBadRequest,
	keyward.ECodeUnauthenticated:     http.StatusUnauthorized,
	keyward.ECodeAPIKeyForbidden:     http.StatusForbidden,
	keyward.ECodePermissionDenied:    http.StatusForbidden,
	keyward.ECodeAccountMismatch:     http.StatusForbidden,
	keyward.ECodeNotFound:            http.StatusNotFound,
	keyward.ECodeMethodNotAllowed:    http.StatusMethodNotAllowed,
	keyward.ECodeNotAcceptable:       http.StatusNotAcceptable,
	keyward.ECodeConflict:            http.StatusConflict,
	keyward.ECodeKeyRevoked:          http.StatusConflict,
	keyward.ECodeDuplicate:           http.StatusConflict,
	keyward.ECodeResourceInUse:       http.StatusConflict,
	keyward.ECodeIdempotencyConflict: http.StatusConflict,
	keyward.ECodePreconditionFail:    http.StatusPreconditionFailed,
	keyward.ECodeBodyTooLarge:        http.StatusRequestEntityTooLarge,
	keyward.ECodeUnsupportedMedia:    http.StatusUnsupportedMediaType,
	keyward.ECodeValidation:          http.StatusUnprocessableEntity,
	keyward.ECodeInvalidPermission:   http.StatusUnprocessableEntity,
	keyward.ECodeLocked:              http.StatusTooManyRequests,
	keyward.ECodeRateLimited:         http.StatusTooManyRequests,
	keyward.ECodeInternal:            http.StatusInternalServerError,
	keyward.ECodeUnavailable:         http.StatusServiceUnavailable,
	keyward.ECodeTimeout:             http.StatusGatewayTimeout,
}

// StatusOf returns the HTTP status for an error code (500 for unknown codes).
func StatusOf(c keyward.Code) int {
	if s, ok := statusOf[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Problem is an RFC 9457 problem document as keyward renders it.
type Problem struct {
	Type      string               `json:"type"`
	Title     string               `json:"title"`
	Status    int                  `json:"status"`
	Detail    string               `json:"detail"`
	Code      keyward.Code         `json:"code"`
	Errors    []keyward.FieldError `json:"errors"`
	RequestID string               `json:"request_id"`
	// Extra members (missing_permission, key_ids…) are merged in when
	// rendering.
	Extra map[string]any `json:"-"`
}

// problemFor builds the problem document for err; the internal cause never
// appears in it.
func problemFor(err error, requestID string) *Problem {
	e := keyward.AsError(err)
	if errors.Is(err, context.Canceled) {
		e = &keyward.Error{Code: keyward.ECodeTimeout, Message: "the request was cancelled", Err: err}
	}
	status := StatusOf(e.Code)
	p := &Problem{
		Type:      "urn:keyward:error:" + string(e.Code),
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    e.Message,
		Code:      e.Code,
		Errors:    e.Fields,
		RequestID: requestID,
		Extra:     e.Details,
	}
	if p.Errors == nil {
		p.Errors = []keyward.FieldError{}
	}
	return p
}

func (p *Problem) members() map[string]any {
	m := map[string]any{
		"type": p.Type, "title": p.Title, "status": p.Status, "detail": p.Detail,
		"code": p.Code, "errors": p.Errors, "request_id": p.RequestID,
	}
	for k, v := range p.Extra {
		if _, taken := m[k]; !taken {
			m[k] = v
		}
	}
	return m
}

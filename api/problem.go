package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"

	"github.com/keyward/keyward"
)

// statusOf is the one mapping from error codes to HTTP status: the native
// API, the middleware and the dialects answer with it, and the client reads
// a bare status back with it (CodeOfStatus).
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

// codeOf is the code a bare status stands for where several codes share
// it (CodeOfStatus); every other status of statusOf has one code.
var codeOf = map[int]keyward.Code{
	http.StatusBadRequest:          keyward.ECodeBadRequest,
	http.StatusForbidden:           keyward.ECodePermissionDenied,
	http.StatusConflict:            keyward.ECodeConflict,
	http.StatusUnprocessableEntity: keyward.ECodeValidation,
	http.StatusTooManyRequests:     keyward.ECodeRateLimited,
	// Not keyward's own answer, but a proxy's: keyward cannot be reached.
	http.StatusBadGateway: keyward.ECodeUnavailable,
}

// StatusOf returns the HTTP status of an error code (500 for a code it
// does not know).
func StatusOf(c keyward.Code) int {
	if s, ok := statusOf[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// CodeOfStatus returns the code a status stands for when an answer carries
// no problem document (a proxy's error page, say): the inverse of StatusOf,
// with the most general code where several share a status; bad_request for
// another 4xx and internal for anything else.
func CodeOfStatus(status int) keyward.Code {
	if c, ok := codeOf[status]; ok {
		return c
	}
	for c, s := range statusOf {
		if s == status {
			return c
		}
	}
	if status >= 400 && status < 500 {
		return keyward.ECodeBadRequest
	}
	return keyward.ECodeInternal
}

// Problem is an RFC 9457 problem document as keyward renders it: the
// standard members and keyward's (code, errors, request_id), plus the extra
// members of the error (missing_permission, key_ids, retry_after_seconds…),
// which never override a standard one.
type Problem struct {
	Type      string
	Title     string
	Status    int
	Detail    string
	Code      keyward.Code
	Errors    []keyward.FieldError
	RequestID string
	// Extra holds the other members. Read from JSON, whole numbers are
	// int64 and arrays of strings []string, the types the server's have;
	// Member decodes one into a type of the caller's choice.
	Extra map[string]any

	raw map[string]json.RawMessage // the members as read, for Member
}

// standardMembers are the members every problem has; any other is extra.
var standardMembers = [...]string{"type", "title", "status", "detail", "code", "errors", "request_id"}

func isStandard(name string) bool {
	for _, m := range standardMembers {
		if m == name {
			return true
		}
	}
	return false
}

// ProblemOf returns the problem document of err answering the request
// requestID. A *keyward.Error gives its code, message, field errors and
// details; a cancelled context is a timeout; any other error is internal,
// and its cause never appears in the document.
func ProblemOf(err error, requestID string) *Problem {
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
	p.Errors = array(p.Errors)
	return p
}

// Err returns the problem as the *keyward.Error it stands for: its code,
// detail, field errors and extra members.
func (p *Problem) Err() *keyward.Error {
	return &keyward.Error{Code: p.Code, Message: p.Detail, Fields: p.Errors, Details: p.Extra}
}

// MarshalJSON writes the problem's members, the extra ones included, in
// the order of their names.
func (p *Problem) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		"type": p.Type, "title": p.Title, "status": p.Status, "detail": p.Detail,
		"code": p.Code, "errors": p.Errors, "request_id": p.RequestID,
	}
	for k, v := range p.Extra {
		if _, taken := m[k]; !taken {
			m[k] = v
		}
	}
	return marshal(m)
}

// UnmarshalJSON reads a problem document: the standard members by their
// types (a member of another type is an error), every other member into
// Extra.
func (p *Problem) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw == nil {
		return errors.New("a problem document is a JSON object, not null")
	}
	q := Problem{raw: raw}
	for _, m := range [...]struct {
		name string
		dst  any
	}{
		{"type", &q.Type}, {"title", &q.Title}, {"status", &q.Status}, {"detail", &q.Detail},
		{"code", &q.Code}, {"errors", &q.Errors}, {"request_id", &q.RequestID},
	} {
		if b, ok := raw[m.name]; ok {
			if err := json.Unmarshal(b, m.dst); err != nil {
				return fmt.Errorf("problem member %q: %w", m.name, err)
			}
		}
	}
	for name, m := range raw {
		if isStandard(name) {
			continue
		}
		var v any
		if json.Unmarshal(m, &v) != nil {
			continue
		}
		if q.Extra == nil {
			q.Extra = map[string]any{}
		}
		q.Extra[name] = normalize(v)
	}
	*p = q
	return nil
}

// ReadProblem reads an answer's body as a keyward problem document. ok is
// false when it is not one: not JSON (by contentType or content), not an
// object, a standard member of another type, or no code.
func ReadProblem(contentType string, body []byte) (p *Problem, ok bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" && mt != "application/problem+json" {
		return nil, false
	}
	p = new(Problem)
	if json.Unmarshal(body, p) != nil || p.Code == "" {
		return nil, false
	}
	return p, true
}

// Member decodes the member name of a problem read from JSON (an extra
// member such as "key_ids", or a standard one) into dst. It reports
// whether the member was present; a member that does not fit dst is an
// error.
func (p *Problem) Member(name string, dst any) (bool, error) {
	m, ok := p.raw[name]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(m, dst); err != nil {
		return true, fmt.Errorf("problem member %q: %w", name, err)
	}
	return true, nil
}

// normalize makes whole numbers int64 and arrays of strings []string, the
// types the server's details have.
func normalize(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
	case []any:
		strs := make([]string, 0, len(x))
		for _, it := range x {
			s, ok := it.(string)
			if !ok {
				return x
			}
			strs = append(strs, s)
		}
		return strs
	}
	return v
}

package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Error is a failed call: the server's problem answer, or a failure to
// reach the server at all (StatusCode 0). It unwraps to the *keyward.Error
// that carries the code, so keyward.ErrorCode(err) and
// errors.As(err, &kerr) work on it; a network failure unwraps further to
// its cause (errors.Is(err, context.DeadlineExceeded) holds when the
// context ended).
type Error struct {
	// Method and Path name the request (the path escaped, without query).
	Method string
	Path   string
	// StatusCode is the HTTP status of the answer; 0 when none arrived.
	StatusCode int
	// RequestID is the request id of the answer (the problem's request_id,
	// or the X-Request-Id header).
	RequestID string
	// RetryAfter is the Retry-After header of the answer (503 unavailable,
	// 429 locked), 0 when absent.
	RetryAfter time.Duration
	// Type and Title are the problem's type URI and title.
	Type  string
	Title string
	// Err holds Code, Message (the problem's detail), Fields (its errors)
	// and Details (its extra members, such as missing_permission, key_ids,
	// key_count, user_ids, role_names, retry_after_seconds). Details values
	// are decoded as JSON generally is, except that whole numbers are
	// int64 and arrays of strings are []string; Detail decodes one member
	// into a type of the caller's choice. For a network failure, Err.Err
	// is the cause.
	Err *keyward.Error
	// Header is the answer's header (nil when none arrived).
	Header http.Header

	raw map[string]json.RawMessage
}

// Error describes the failure: request, status, code, detail and request id.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("keyward: " + e.Method + " " + e.Path + ": ")
	if e.StatusCode != 0 {
		b.WriteString(strconv.Itoa(e.StatusCode) + " ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	if e.RequestID != "" {
		b.WriteString(" (request " + e.RequestID + ")")
	}
	return b.String()
}

// Unwrap returns the *keyward.Error with the code.
func (e *Error) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// Code returns the error code ("" if none is known).
func (e *Error) Code() keyward.Code {
	if e.Err == nil {
		return ""
	}
	return e.Err.Code
}

// Detail decodes the problem member name (an extra member such as
// "key_ids", or a standard one) into dst. It reports whether the member was
// present; a member that does not fit dst is an error.
func (e *Error) Detail(name string, dst any) (bool, error) {
	m, ok := e.raw[name]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(m, dst); err != nil {
		return true, fmt.Errorf("keyward client: problem member %q: %w", name, err)
	}
	return true, nil
}

// transportError is the error of a request that got no (complete) answer.
func transportError(ctx context.Context, method, path string, err error) *Error {
	code, msg := keyward.ECodeUnavailable, "cannot reach the keyward server"
	if ctxErr := ctx.Err(); ctxErr != nil {
		code, msg = keyward.ECodeTimeout, "the request's context ended"
		if !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
	} else if errors.Is(err, context.DeadlineExceeded) {
		code, msg = keyward.ECodeTimeout, "the request timed out"
	}
	return &Error{Method: method, Path: path, Err: &keyward.Error{Code: code, Message: msg, Err: err}}
}

// problemError turns a non-2xx answer into an *Error. A body that is not a
// keyward problem (a proxy's error page, say) still gives a code, from the
// status.
func problemError(method, path string, res *Response) *Error {
	e := &Error{
		Method:     method,
		Path:       path,
		StatusCode: res.StatusCode,
		RequestID:  res.RequestID,
		RetryAfter: retryAfter(res.Header.Get("Retry-After")),
		Header:     res.Header,
	}
	var raw map[string]json.RawMessage
	if isJSON(res.Header.Get("Content-Type")) && json.Unmarshal(res.Body, &raw) == nil && raw != nil {
		if p, ok := decodeProblem(raw); ok {
			e.raw = raw
			e.Type, e.Title = p.Type, p.Title
			if p.RequestID != "" {
				e.RequestID = p.RequestID
			}
			e.Err = &keyward.Error{Code: p.Code, Message: p.Detail, Fields: p.Errors, Details: details(raw)}
			return e
		}
	}
	e.Title = http.StatusText(res.StatusCode)
	e.Err = &keyward.Error{
		Code:    codeOfStatus(res.StatusCode),
		Message: fmt.Sprintf("the server answered %d %s without a keyward problem document", res.StatusCode, http.StatusText(res.StatusCode)),
	}
	return e
}

// problem is the standard part of a keyward problem document.
type problem struct {
	Type      string               `json:"type"`
	Title     string               `json:"title"`
	Status    int                  `json:"status"`
	Detail    string               `json:"detail"`
	Code      keyward.Code         `json:"code"`
	Errors    []keyward.FieldError `json:"errors"`
	RequestID string               `json:"request_id"`
}

// problemMembers are the standard members; every other member is a detail.
var problemMembers = []string{"type", "title", "status", "detail", "code", "errors", "request_id"}

func decodeProblem(raw map[string]json.RawMessage) (*problem, bool) {
	var p problem
	for _, name := range problemMembers {
		m, ok := raw[name]
		if !ok {
			continue
		}
		var dst any
		switch name {
		case "type":
			dst = &p.Type
		case "title":
			dst = &p.Title
		case "status":
			dst = &p.Status
		case "detail":
			dst = &p.Detail
		case "code":
			dst = &p.Code
		case "errors":
			dst = &p.Errors
		case "request_id":
			dst = &p.RequestID
		}
		if json.Unmarshal(m, dst) != nil {
			return nil, false
		}
	}
	return &p, p.Code != ""
}

// details returns the extra members of a problem, nil when there are none.
func details(raw map[string]json.RawMessage) map[string]any {
	var out map[string]any
	for name, m := range raw {
		if isProblemMember(name) {
			continue
		}
		var v any
		if json.Unmarshal(m, &v) != nil {
			continue
		}
		if out == nil {
			out = map[string]any{}
		}
		out[name] = normalize(v)
	}
	return out
}

func isProblemMember(name string) bool {
	for _, m := range problemMembers {
		if m == name {
			return true
		}
	}
	return false
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

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || mt == "application/problem+json")
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// codeOfStatus is the code a bare status stands for, the inverse of the
// server's table where it is one-to-one.
func codeOfStatus(status int) keyward.Code {
	switch status {
	case http.StatusBadRequest:
		return keyward.ECodeBadRequest
	case http.StatusUnauthorized:
		return keyward.ECodeUnauthenticated
	case http.StatusForbidden:
		return keyward.ECodePermissionDenied
	case http.StatusNotFound:
		return keyward.ECodeNotFound
	case http.StatusMethodNotAllowed:
		return keyward.ECodeMethodNotAllowed
	case http.StatusNotAcceptable:
		return keyward.ECodeNotAcceptable
	case http.StatusConflict:
		return keyward.ECodeConflict
	case http.StatusPreconditionFailed:
		return keyward.ECodePreconditionFail
	case http.StatusRequestEntityTooLarge:
		return keyward.ECodeBodyTooLarge
	case http.StatusUnsupportedMediaType:
		return keyward.ECodeUnsupportedMedia
	case http.StatusUnprocessableEntity:
		return keyward.ECodeValidation
	case http.StatusTooManyRequests:
		return keyward.ECodeRateLimited
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return keyward.ECodeUnavailable
	case http.StatusGatewayTimeout:
		return keyward.ECodeTimeout
	}
	if status >= 400 && status < 500 {
		return keyward.ECodeBadRequest
	}
	return keyward.ECodeInternal
}

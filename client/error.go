package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
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

	problem *api.Problem // the problem as read, for Detail
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
	if e.problem == nil {
		return false, nil
	}
	ok, err := e.problem.Member(name, dst)
	if err != nil {
		err = fmt.Errorf("keyward client: %w", err)
	}
	return ok, err
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
	if p, ok := api.ReadProblem(res.Header.Get("Content-Type"), res.Body); ok {
		e.problem = p
		e.Type, e.Title = p.Type, p.Title
		if p.RequestID != "" {
			e.RequestID = p.RequestID
		}
		e.Err = p.Err()
		return e
	}
	e.Title = http.StatusText(res.StatusCode)
	e.Err = &keyward.Error{
		Code:    api.CodeOfStatus(res.StatusCode),
		Message: fmt.Sprintf("the server answered %d %s without a keyward problem document", res.StatusCode, http.StatusText(res.StatusCode)),
	}
	return e
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

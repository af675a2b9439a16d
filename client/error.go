package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
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
	// Network says why no answer arrived (StatusCode 0); "" when one did.
	Network NetworkFailure

	problem *api.Problem // the problem as read, for Detail
}

// NetworkFailure is why a call got no answer from the server.
type NetworkFailure string

// The network failures. The first three happen before the request
// reaches the server (NotSent).
const (
	// NetUnreachable: no connection could be made (the host name did not
	// resolve, the connection was refused or could not be routed).
	NetUnreachable NetworkFailure = "unreachable"
	// NetPlainHTTP: the base URL is https:// but the server speaks plain
	// HTTP.
	NetPlainHTTP NetworkFailure = "plain_http"
	// NetTLS: no TLS connection could be made: the handshake failed, or
	// the server's certificate is not trusted.
	NetTLS NetworkFailure = "tls"
	// NetTimeout: no complete answer in time (the context's deadline, or
	// the http.Client's Timeout). The server may have acted on the request.
	NetTimeout NetworkFailure = "timeout"
	// NetCancelled: the context was cancelled. The server may have acted
	// on the request.
	NetCancelled NetworkFailure = "cancelled"
	// NetBroken: a connection was made but no complete answer came back
	// (closed, reset, malformed or too large). The server may have acted
	// on the request.
	NetBroken NetworkFailure = "broken"
)

// NotSent reports whether the request certainly never reached the server
// (NetUnreachable, NetPlainHTTP, NetTLS): retrying it cannot make a change
// twice, even without an Idempotency-Key.
func (f NetworkFailure) NotSent() bool {
	return f == NetUnreachable || f == NetPlainHTTP || f == NetTLS
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

// Problem returns the problem document the server answered with; nil when
// none arrived, or when the answer was not one (a proxy's error page, say,
// whose code comes from the status alone).
func (e *Error) Problem() *api.Problem { return e.problem }

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

// transportError is the error of a request that got no (complete) answer:
// code timeout when the context ended or the answer took too long,
// unavailable otherwise.
func transportError(ctx context.Context, method, path string, err error) *Error {
	kind := networkFailure(err)
	if ctxErr := ctx.Err(); ctxErr != nil {
		kind = NetTimeout
		if errors.Is(ctxErr, context.Canceled) {
			kind = NetCancelled
		}
		if !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
	}
	code, msg := keyward.ECodeUnavailable, "cannot reach the keyward server"
	switch {
	case ctx.Err() != nil:
		code, msg = keyward.ECodeTimeout, "the request's context ended"
	case kind == NetTimeout:
		code, msg = keyward.ECodeTimeout, "the request timed out"
	case kind == NetCancelled:
		code, msg = keyward.ECodeTimeout, "the request was cancelled"
	case kind == NetPlainHTTP:
		msg = "cannot reach the keyward server: it speaks plain HTTP (use an http:// base URL)"
	case kind == NetTLS:
		msg = "cannot reach the keyward server: no TLS connection could be made"
	case kind == NetBroken:
		msg = "no complete answer from the keyward server"
	}
	return &Error{Method: method, Path: path, Network: kind, Err: &keyward.Error{Code: code, Message: msg, Err: err}}
}

// networkFailure classifies the error of a request without an answer.
func networkFailure(err error) NetworkFailure {
	var (
		timeout interface{ Timeout() bool }
		dns     *net.DNSError
		op      *net.OpError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &timeout) && timeout.Timeout():
		return NetTimeout
	case errors.Is(err, context.Canceled):
		return NetCancelled
	case errors.As(err, &dns), errors.As(err, &op) && op.Op == "dial":
		return NetUnreachable
	case errors.Is(err, http.ErrSchemeMismatch):
		return NetPlainHTTP
	case tlsFailure(err):
		return NetTLS
	}
	return NetBroken
}

// tlsFailure reports whether err is a failed TLS handshake.
func tlsFailure(err error) bool {
	var (
		rec   tls.RecordHeaderError
		alert tls.AlertError
		cert  *tls.CertificateVerificationError
		ua    x509.UnknownAuthorityError
		host  x509.HostnameError
		inv   x509.CertificateInvalidError
	)
	return errors.As(err, &rec) || errors.As(err, &alert) || errors.As(err, &cert) ||
		errors.As(err, &ua) || errors.As(err, &host) || errors.As(err, &inv)
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

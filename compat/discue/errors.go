package discue

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	khttp "github.com/keyward/keyward/http"
)

// titles are the titles of discue's error bodies, for every status its API
// reference lists, plus the two keyward can answer that discue lists none
// for (413, 504), with their RFC 7231 reason phrases as discue's are.
var titles = map[int]string{
	http.StatusBadRequest:            "Bad Request",
	http.StatusUnauthorized:          "Unauthorized",
	http.StatusPaymentRequired:       "Payment Required",
	http.StatusForbidden:             "Forbidden",
	http.StatusNotFound:              "Not Found",
	http.StatusMethodNotAllowed:      "Method Not Allowed",
	http.StatusNotAcceptable:         "Not Acceptable",
	http.StatusConflict:              "Conflict",
	http.StatusRequestEntityTooLarge: "Payload Too Large",
	http.StatusUnsupportedMediaType:  "Unsupported Media Type",
	http.StatusUnprocessableEntity:   "Unprocessable Entity",
	http.StatusLocked:                "Locked",
	http.StatusTooManyRequests:       "Too Many Requests",
	http.StatusInternalServerError:   "Internal Server Error",
	http.StatusNotImplemented:        "Not Implemented",
	http.StatusServiceUnavailable:    "Service Unavailable",
	http.StatusGatewayTimeout:        "Gateway Timeout",
}

// errorBody is discue's error body, {title, status}. detail (RFC 7807's
// member, which discue's {title, status} bodies are a subset of) says what
// was wrong, so a client need not guess which field a 422 is about.
type errorBody struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// statusOf maps a keyward error code to discue's status: the native
// mapping, except that a locked-out client gets discue's 423 Locked
// rather than keyward's 429.
func statusOf(c keyward.Code) int {
	switch c {
	case keyward.ECodeLocked:
		return http.StatusLocked
	case keyward.ECodePreconditionFail:
		// discue has no If-Match; a lost race is a conflict to retry.
		return http.StatusConflict
	}
	return api.StatusOf(c)
}

// writeError renders err as discue's error body, and notes it for the
// access log (which also logs the cause of an internal error; the client
// sees only a safe message).
func writeError(w http.ResponseWriter, r *http.Request, pretty bool, err error) {
	e := keyward.AsError(err)
	if errors.Is(err, context.Canceled) {
		e = &keyward.Error{Code: keyward.ECodeTimeout, Message: "the request was cancelled", Err: err}
	}
	khttp.Note(w, e)
	status := statusOf(e.Code)
	title, ok := titles[status]
	if !ok {
		title = http.StatusText(status)
	}
	if secs, ok := e.Details["retry_after_seconds"].(int64); ok {
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, r, pretty, status, errorBody{Title: title, Status: status, Detail: detail(e)})
}

// detail is the client-safe message of e, naming every offending field.
func detail(e *keyward.Error) string {
	if len(e.Fields) < 2 {
		return e.Message
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return strings.Join(parts, "; ")
}

// badParam is a 400 naming a query parameter or header.
func badParam(name, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	e := keyward.Errorf(keyward.ECodeInvalidParameter, "%s: %s", name, msg)
	e.Fields = []keyward.FieldError{{Field: name, Message: msg}}
	return e
}

// errNotFound is the answer for an id that names no key of the account,
// whatever the reason (unknown, malformed, another account's).
func errNotFound(id string) error {
	return keyward.NotFound("api key", id)
}

package discue

import (
	"net/http"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
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

// errorDoc is discue's error body, {title, status}. detail (RFC 7807's
// member, which discue's {title, status} bodies are a subset of) says what
// was wrong, so a client need not guess which field a 422 is about.
type errorDoc struct {
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

// errorBody gives err discue's status and error body; the kit writes it,
// notes err for the access log (which logs the cause of an internal
// error; the client sees only a safe message) and sets Retry-After.
func errorBody(_ *http.Request, _ http.Header, err error) (int, any) {
	e := keyward.AsError(err)
	status := statusOf(e.Code)
	title, ok := titles[status]
	if !ok {
		title = http.StatusText(status)
	}
	return status, errorDoc{Title: title, Status: status, Detail: detail(e)}
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

// errNotFound is the answer for an id that names no key of the account,
// whatever the reason (unknown, malformed, another account's).
func errNotFound(id string) error {
	return keyward.NotFound("api key", id)
}

package orq

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat/internal/kit"
)

// orq's error codes (docs.orq.ai/reference/errors), and the few keyward
// needs where orq documents none (the status is then the standard HTTP
// one).
const (
	codeAuthRequired     = "authentication_required" // 401, documented
	codeInvalidKey       = "invalid_api_key"         // 401, documented
	codeInsufficient     = "insufficient_scope"      // 403, documented
	codeInvalidBody      = "invalid_request_body"    // 400, documented
	codeRateLimited      = "rate_limit_exceeded"     // 429, documented
	codeInternal         = "internal_error"          // 500, documented
	codeUnavailable      = "service_unavailable"     // 503, documented
	codeTimeout          = "request_timeout"         // 408, documented
	codeInvalidRequest   = "invalid_request"         // 400: a query parameter or header
	codeKeyNotFound      = "api_key_not_found"       // 404, after orq's <entity>_not_found
	codeNotFound         = "not_found"               // 404: no such route
	codeMethod           = "method_not_allowed"      // 405
	codeTooLarge         = "request_too_large"       // 413
	codeMediaType        = "unsupported_media_type"  // 415
	codeKeyRevoked       = "api_key_revoked"         // 409
	codeConflict         = "conflict"                // 409
	documentedCodePrefix = "https://docs.orq.ai/errors/"
)

// documented are the codes orq's error reference describes: only their
// answers carry a doc_url.
var documented = map[string]bool{
	codeAuthRequired: true, codeInvalidKey: true, codeInsufficient: true, codeInvalidBody: true,
	codeRateLimited: true, codeInternal: true, codeUnavailable: true, codeTimeout: true,
}

func errNoRoute(path string) error {
	return &kit.Error{Status: http.StatusNotFound, Code: codeNotFound,
		Err: keyward.Errorf(keyward.ECodeNotFound, "no route %s", path)}
}

func methodNotAllowed(method, allow string) error {
	return &kit.Error{Status: http.StatusMethodNotAllowed, Code: codeMethod,
		Err: keyward.Errorf(keyward.ECodeMethodNotAllowed, "%s is not allowed here; allowed: %s", method, allow)}
}

// codes are orq's status and code of keyward's errors. Validation
// failures are 400 invalid_request_body: orq reports every bad body that
// way, where keyward's native API uses 422. An error this package decides
// otherwise is a *kit.Error (a missing credential and a bad one are both
// unauthenticated).
var codes = kit.Codes{
	ByStatus: map[int]string{
		http.StatusBadRequest:            codeInvalidBody,
		http.StatusUnauthorized:          codeInvalidKey,
		http.StatusForbidden:             codeInsufficient,
		http.StatusNotFound:              codeKeyNotFound,
		http.StatusMethodNotAllowed:      codeMethod,
		http.StatusConflict:              codeConflict,
		http.StatusRequestEntityTooLarge: codeTooLarge,
		http.StatusUnsupportedMediaType:  codeMediaType,
		http.StatusTooManyRequests:       codeRateLimited,
		http.StatusServiceUnavailable:    codeUnavailable,
		http.StatusRequestTimeout:        codeTimeout,
	},
	Default: codeInternal,
	Status: map[keyward.Code]int{
		keyward.ECodePreconditionFail: http.StatusConflict,
		keyward.ECodeTimeout:          http.StatusRequestTimeout,
	},
	Name: map[keyward.Code]string{
		keyward.ECodeInvalidParameter: codeInvalidRequest,
		keyward.ECodeKeyRevoked:       codeKeyRevoked,
	},
}

// errorDoc is orq's error document.
type errorDoc struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	DocURL  string         `json:"doc_url,omitempty"`
	Details map[string]any `json:"details,omitempty"`
}

// fieldViolation names one offending member, as google.rpc.BadRequest
// does (orq's API is served from protobuf definitions).
type fieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

// errorBody gives err orq's status and error document; the kit writes
// it, notes err for the access log and sets Retry-After. Internal causes
// are logged by the server, never sent.
func errorBody(_ *http.Request, h http.Header, err error) (int, any) {
	status, code, e := codes.Of(err)
	msg := e.Message
	if status >= 500 && status != http.StatusServiceUnavailable {
		msg = "internal error"
	}
	body := errorDoc{Error: errorDetail{Code: code, Message: msg}}
	if documented[code] {
		body.Error.DocURL = documentedCodePrefix + code
	}
	details := map[string]any{}
	for _, f := range e.Fields {
		v, _ := details["field_violations"].([]fieldViolation)
		details["field_violations"] = append(v, fieldViolation{Field: f.Field, Description: f.Message})
	}
	if p, ok := e.Details["missing_permission"].(string); ok {
		details["required_permission"] = p
	}
	if len(details) > 0 {
		body.Error.Details = details
	}
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="orq"`)
	}
	return status, body
}

// translate rewrites the field names of a keyward validation error into
// orq's: scopes[i] is access.<domain>, project_id is project_scope's, and
// so on. domains are the access-map keys in the order they became scopes.
func translate(err error, domains []string) error {
	var e *keyward.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return err
	}
	out := &keyward.Error{Code: e.Code, Details: e.Details, Err: e.Err}
	msgs := make([]string, 0, len(e.Fields))
	for _, f := range e.Fields {
		name, message := orqField(f.Field, domains), orqMessage(f.Message)
		out.Fields = append(out.Fields, keyward.FieldError{Field: name, Message: message})
		msgs = append(msgs, name+": "+message)
	}
	out.Message = strings.Join(msgs, "; ")
	return out
}

func orqField(field string, domains []string) string {
	switch {
	case strings.HasPrefix(field, "scopes["):
		rest := strings.TrimPrefix(field, "scopes[")
		i, _, ok := strings.Cut(rest, "]")
		n, err := strconv.Atoi(i)
		if !ok || err != nil || n < 0 || n >= len(domains) {
			return "access"
		}
		return "access." + domains[n]
	case field == "scopes" || field == "roles" || strings.HasPrefix(field, "roles["):
		return "access"
	case field == "project_id":
		return "project_scope.single.project_id"
	case strings.HasPrefix(field, "owner"):
		return "owner"
	case field == "metadata":
		return "labels"
	}
	return field
}

// orqMessage rewrites keyward vocabulary in a validation message into
// orq's.
var orqMessage = strings.NewReplacer(
	"permission_mode restricted", "PERMISSION_MODE_RESTRICTED",
	"scopes or roles", "access",
	`"prj_`, `"proj_`,
	"in this account", "in this workspace",
	"the account's catalog", "the workspace's capability catalog",
).Replace

package vectara

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	khttp "github.com/keyward/keyward/http"
)

// Vectara's error bodies: Error {messages, request_id} for every status,
// BadRequestError {field_errors, messages, request_id} for 400, and
// NotFoundError {id, messages, request_id} for an unknown key id.

// statusOf maps a keyward error code to the status Vectara would answer.
// Vectara has no 422: a request that breaks a rule is a 400 naming the
// field, like a malformed one.
func statusOf(c keyward.Code) int {
	switch c {
	case keyward.ECodeValidation, keyward.ECodeInvalidPermission:
		return http.StatusBadRequest
	}
	return api.StatusOf(c)
}

// fail renders err in Vectara's error body and records it for the access
// log (which logs the internal cause of a 5xx; the client sees only the
// safe message).
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	khttp.Note(w, err)
	e := keyward.AsError(err)
	status := statusOf(e.Code)
	body := map[string]any{"request_id": api.RequestID(r)}
	var messages []string
	if status == http.StatusBadRequest {
		fields := map[string]string{}
		for _, f := range e.Fields {
			name := vectaraField(f.Field)
			if prev, ok := fields[name]; ok {
				fields[name] = prev + "; " + f.Message
			} else {
				fields[name] = f.Message
			}
			messages = append(messages, name+": "+f.Message)
		}
		body["field_errors"] = fields
	}
	if len(messages) == 0 {
		messages = []string{e.Message}
	}
	body["messages"] = messages
	if id, ok := e.Details["id"].(string); ok && e.Code == keyward.ECodeNotFound {
		body["id"] = id
	}
	if secs, ok := e.Details["retry_after_seconds"].(int64); ok {
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	} else if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, r, status, body)
}

// targetIndex matches the native name of a corpus key: the targets of the
// one scope a Vectara key is made of.
var targetIndex = regexp.MustCompile(`^scopes\[0\]\.targets\[(\d+)\]$`)

// vectaraField names a field of a native error in Vectara's terms: the
// corpus binding is corpus_keys, the mode and roles are api_key_role, the
// status is enabled.
func vectaraField(native string) string {
	if m := targetIndex.FindStringSubmatch(native); m != nil {
		return "corpus_keys[" + m[1] + "]"
	}
	switch head, _, _ := strings.Cut(strings.SplitN(native, "[", 2)[0], "."); head {
	case "scopes":
		return "corpus_keys"
	case "permission_mode", "roles":
		return "api_key_role"
	case "status":
		return "enabled"
	}
	return native
}

// notFound is the error for a key id that names no API key of the account
// (unknown, another account's, a management key's, or not an aky_ id):
// Vectara's NotFoundError carries the id asked for.
func notFound(id string) error {
	return &keyward.Error{Code: keyward.ECodeNotFound, Message: "API key " + strconv.Quote(id) + " not found",
		Details: map[string]any{"id": id}}
}

// writeJSON writes body as JSON with status; nil writes no body (204), and
// a HEAD request gets the headers only.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, body any) {
	w.Header().Set("Cache-Control", "no-store")
	if body == nil {
		w.WriteHeader(status)
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	var b []byte
	if err := enc.Encode(body); err != nil {
		// Only the dialect's own view types are encoded: a failure is a bug.
		khttp.Note(w, keyward.Internal(err))
		status = http.StatusInternalServerError
		b = []byte(`{"messages":["internal error"],"request_id":` + strconv.Quote(api.RequestID(r)) + "}\n")
	} else {
		b = buf.Bytes()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

package api

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
)

// Dispatch serves r through mux if one of mux's routes takes it, and
// reports true. Otherwise it writes nothing and returns the methods the
// path takes ("" for none): the caller answers NoRoute in its own format,
// since the mux's own 404 and 405 answers are plain text. The native API
// and every dialect route with it.
func Dispatch(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) (routed bool, allow string) {
	h, pattern := mux.Handler(r)
	if pattern != "" {
		// ServeHTTP, not h: only the mux sets the path values.
		mux.ServeHTTP(w, r)
		return true, ""
	}
	probe := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		return false, probe.header.Get("Allow")
	}
	return false, ""
}

// headerRecorder captures what the mux's built-in handlers would write.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(code int)        { h.status = code }

// NoRoute is the error of a request that Dispatch did not route:
// method_not_allowed (405) naming the methods the path takes when there
// are some (the caller sets them as Allow), else not_found (404).
func NoRoute(r *http.Request, allow string) error {
	if allow != "" {
		return keyward.Errorf(keyward.ECodeMethodNotAllowed, "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow)
	}
	return keyward.Errorf(keyward.ECodeNotFound, "no route %s", r.URL.Path)
}

// Accepts reports whether r's Accept header allows an answer of one of
// types (media types such as application/json): true without the header,
// or when a media range of it (*/*, a type's type/*, or the type) has a
// weight above 0. A media range that does not parse is ignored.
//
// strict decides two details on which readers of Accept differ. Lenient
// (the native API): a weight that is not a number counts as 1, and a
// header holding only empty values is no header. Strict (the discue
// dialect, whose clients have always had these answers): a range whose
// weight is not a number is ignored, and an empty header allows nothing.
func Accepts(r *http.Request, strict bool, types ...string) bool {
	values := r.Header.Values("Accept")
	if len(values) == 0 {
		return true
	}
	seen := false
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			seen = true
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			if q, ok := params["q"]; ok {
				f, err := strconv.ParseFloat(q, 64)
				if (err != nil && strict) || (err == nil && f <= 0) {
					continue
				}
			}
			for _, t := range types {
				if mt == "*/*" || mt == t || strings.HasSuffix(mt, "/*") && strings.HasPrefix(t, mt[:len(mt)-1]) {
					return true
				}
			}
		}
	}
	return !seen && !strict
}

// WriteJSON writes v as r's answer with status and contentType, as
// every answer of the native API and the dialects is written: indented
// when the request's State asks for it (?pretty), without HTML escaping,
// with Content-Length and Cache-Control: no-store, and no body for HEAD.
// It fails with internal, having written nothing, when v does not encode.
func WriteJSON(w http.ResponseWriter, r *http.Request, status int, contentType string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if StateOf(r).Pretty {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return keyward.Internal(err)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
	return nil
}

// Pretty reads ?pretty from q: present without a value, true or 1 asks
// for indented JSON; false or 0 does not; anything else is an
// invalid_parameter error (400). The last of several values counts.
func Pretty(q url.Values) (bool, error) {
	v, ok := q["pretty"]
	if !ok {
		return false, nil
	}
	switch strings.ToLower(v[len(v)-1]) {
	case "", "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, BadParam("pretty", "must be true or false")
}

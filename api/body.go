package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward"
)

// MaxBodyBytes bounds every request body (413 beyond).
const MaxBodyBytes = 1 << 20

// The rest of a body refused as too large is read and discarded, at most
// maxDrainBytes more within maxDrainTime, before the 413 is answered
// (Drain).
const (
	maxDrainBytes = 64 << 20
	maxDrainTime  = 5 * time.Second
)

// ReadBody reads a JSON request body as every route does: at most
// MaxBodyBytes (body_too_large beyond, and the rest is drained before the
// answer: Drain), a JSON media type (unsupported_media_type), UTF-8. It
// returns nil for an empty body.
func ReadBody(r *http.Request) ([]byte, error) {
	b, err := ReadRawBody(r)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, nil
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil, keyward.Errorf(keyward.ECodeUnsupportedMedia, "send the body with Content-Type: application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !(mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return nil, keyward.Errorf(keyward.ECodeUnsupportedMedia, "the body must be application/json, not %q", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, keyward.Errorf(keyward.ECodeUnsupportedMedia, "the body must be UTF-8, not %q", cs)
	}
	return b, nil
}

// ReadRawBody reads the whole request body, at most MaxBodyBytes, whatever
// its media type. A larger body is body_too_large, and the request is
// marked so that the rest is drained before the answer (Drain) — unless
// the client is waiting for 100 Continue and has sent nothing yet: then it
// reads the 413 without uploading the body at all. A body that cannot be
// read is bad_request.
func ReadRawBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		if !hasToken(r.Header.Get("Expect"), "100-continue") && r.ContentLength <= MaxBodyBytes+maxDrainBytes {
			StateOf(r).drain = true
		}
		return nil, tooLarge()
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			StateOf(r).drain = true
			return nil, tooLarge()
		}
		return nil, keyward.Errorf(keyward.ECodeBadRequest, "reading the body failed")
	}
	return b, nil
}

func tooLarge() error {
	return keyward.Errorf(keyward.ECodeBodyTooLarge, "the body is larger than %d bytes", MaxBodyBytes)
}

// Drain reads and discards the rest of a body that ReadBody or
// ReadRawBody refused as too large (and does nothing otherwise): at most
// maxDrainBytes more, within maxDrainTime. The server calls it before the
// answer goes out. A client that writes its whole body before it reads
// (no Expect: 100-continue; Python's urllib, for one) then reads the 413. Without it, net/http closes the
// connection with the body unread, the kernel answers the client's data
// with a reset, and the client sees ECONNRESET instead of the answer. A
// larger or slower body is cut off as before. Only HTTP/1 is drained, on
// a connection whose read deadline can be set: an HTTP/2 stream is reset
// on its own, without closing the connection.
func Drain(w http.ResponseWriter, r *http.Request) {
	if !StateOf(r).drain || r.ProtoMajor != 1 || http.NewResponseController(w).SetReadDeadline(time.Now().Add(maxDrainTime)) != nil {
		return
	}
	io.CopyN(io.Discard, r.Body, maxDrainBytes)
}

// hasToken reports whether the comma-separated header value v holds
// token, case-insensitively.
func hasToken(v, token string) bool {
	for part := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(part), token) {
			return true
		}
	}
	return false
}

// Decode reads the request body (ReadBody) into dst, a struct, with
// DecodeStrict. An empty body is malformed_json (400) when required, else
// leaves dst as is.
func Decode(r *http.Request, dst any, required bool) error {
	b, err := ReadBody(r)
	if err != nil {
		return err
	}
	if b == nil {
		if required {
			return keyward.Errorf(keyward.ECodeMalformedJSON, "a JSON object body is required")
		}
		return nil
	}
	return DecodeStrict(b, dst)
}

// DecodeStrict decodes b into dst, a struct, strictly: one JSON object,
// UTF-8, no member twice at any depth, no unknown member, nothing after
// it. Malformed JSON and a member given twice are malformed_json, an
// unknown member unknown_field (400, naming it); a member of the wrong type
// is validation_failed (422) naming it, like any other invalid value.
func DecodeStrict(b []byte, dst any) error {
	if !utf8.Valid(b) {
		return keyward.Errorf(keyward.ECodeMalformedJSON, "the body is not valid UTF-8")
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return keyward.Errorf(keyward.ECodeMalformedJSON, "the body must be a JSON object")
	}
	if err := checkDuplicates(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			typ.Field = jsonPath(reflect.TypeOf(dst), typ.Field)
		}
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return keyward.Errorf(keyward.ECodeMalformedJSON, "unexpected data after the JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return keyward.Errorf(keyward.ECodeMalformedJSON, "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return keyward.Errorf(keyward.ECodeMalformedJSON, "the JSON body ends early")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return keyward.Errorf(keyward.ECodeMalformedJSON, "the body must be a JSON object")
		}
		return keyward.InvalidField(typ.Field, "must be %s", describeType(typ.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		e := keyward.Errorf(keyward.ECodeUnknownField, "unknown field %q", name)
		e.Fields = []keyward.FieldError{{Field: name, Message: "is not a known field"}}
		return e
	}
	var ke *keyward.Error
	if errors.As(err, &ke) {
		return ke
	}
	return keyward.Errorf(keyward.ECodeMalformedJSON, "the JSON body does not have the expected shape")
}

// jsonPath turns the path encoding/json reports for a member of the wrong
// type (Go's: an embedded struct's type name is a step of it) into the
// member's JSON path in a request decoded into t: the members of an
// embedded struct are the outer object's, so its name is dropped.
func jsonPath(t reflect.Type, path string) string {
	var out []string
	for _, step := range strings.Split(path, ".") {
		t = elem(t)
		if t == nil || t.Kind() != reflect.Struct {
			t = nil
			out = append(out, step)
			continue
		}
		if f, ok := t.FieldByName(step); ok && f.Anonymous && jsonName(f) == "" {
			t = f.Type
			continue
		}
		out = append(out, step)
		next := t
		t = nil
		for _, f := range reflect.VisibleFields(next) {
			if name := jsonName(f); name != "" && f.IsExported() && strings.EqualFold(name, step) {
				t = f.Type
				break
			}
		}
	}
	return strings.Join(out, ".")
}

// elem is the type a JSON value decodes into through pointers, slices,
// arrays and maps.
func elem(t reflect.Type) reflect.Type {
	for t != nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			t = t.Elem()
		default:
			return t
		}
	}
	return nil
}

// jsonName is the JSON name of a struct field: its tag's name, else its
// Go name; "" for an embedded struct without a tag name, whose members are
// the outer object's.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch {
	case name == "-":
		return ""
	case name != "":
		return name
	case f.Anonymous && elem(f.Type) != nil && elem(f.Type).Kind() == reflect.Struct:
		return ""
	}
	return f.Name
}

var timeType = reflect.TypeFor[time.Time]()

// describeType names the JSON shape a Go type takes, for messages.
func describeType(t reflect.Type) string {
	if t == nil {
		return "of another type"
	}
	if t == timeType {
		return "an RFC 3339 timestamp string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return describeType(t.Elem())
	}
	return "of another type"
}

// checkDuplicates rejects objects that name a member twice, at any depth:
// parsers disagree on which one wins, so keyward takes neither.
func checkDuplicates(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // numbers are not this scan's business (1e400 is the decoder's)
	type frame struct {
		obj  bool
		keys map[string]bool
		next bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return decodeError(err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.next {
			if key, ok := tok.(string); ok {
				if top.keys[key] {
					return keyward.Errorf(keyward.ECodeMalformedJSON, "the member %q appears twice in one object", key)
				}
				top.keys[key] = true
				top.next = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, keys: map[string]bool{}, next: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].next = true
		}
	}
}

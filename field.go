package keyward

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
)

// Field is one member of a JSON request body that distinguishes absent,
// null and a value, as partial updates (PATCH) need.
type Field[T any] struct {
	Set   bool // the member was present
	Null  bool // the member was present as null
	Value T
}

// UnmarshalJSON records presence; encoding/json calls it only for members
// that are present, null included. Nested objects are decoded strictly
// (unknown members are errors), like the body around them.
func (f *Field[T]) UnmarshalJSON(b []byte) error {
	f.Set = true
	if string(b) == "null" {
		f.Null = true
		return nil
	}
	return strictUnmarshal(b, &f.Value)
}

// strictUnmarshal decodes b into dst refusing unknown members. Errors that
// are not about a JSON type (a malformed timestamp, say) are reported as
// type errors so the decoder around names the member.
func strictUnmarshal[T any](b []byte, dst *T) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		return nil
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) || strings.HasPrefix(err.Error(), "json: unknown field ") {
		return err
	}
	return &json.UnmarshalTypeError{Value: "value", Type: reflect.TypeFor[T]()}
}

// HasValue reports whether the member was present with a non-null value.
func (f Field[T]) HasValue() bool { return f.Set && !f.Null }

// Some returns a Field holding v, for building requests in Go.
func Some[T any](v T) Field[T] { return Field[T]{Set: true, Value: v} }

// Null returns a Field holding JSON null.
func Null[T any]() Field[T] { return Field[T]{Set: true, Null: true} }

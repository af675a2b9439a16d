package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/keyward/keyward"
)

// encodeBody writes a request body. keyward's request types mark each
// member with keyward.Field (absent, null or a value), which encoding/json
// cannot omit, and keyward.Token prints "[redacted]" by design; so bodies
// are written by this small encoder:
//
//   - a keyward.Field member is left out when not Set, written null when
//     Null, and its Value otherwise — where a nil slice or map Value is []
//     or {} (keyward.Some(nil) means "empty", keyward.Null means null);
//   - a keyward.Token is written as its secret (request bodies are the one
//     place a token must appear: the key to verify);
//   - a keyward.Scope without Targets leaves "targets" out (every object),
//     and a keyward.Owner without ID leaves "id" out (the account);
//   - embedded structs are flattened, `json:"-"` and omitempty are
//     honoured, and anything else goes through encoding/json.
func encodeBody(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := encodeValue(&b, reflect.ValueOf(v), false); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var (
	tokenType     = reflect.TypeFor[keyward.Token]()
	scopeType     = reflect.TypeFor[keyward.Scope]()
	ownerType     = reflect.TypeFor[keyward.Owner]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
	fieldPkg      = reflect.TypeFor[keyward.Field[int]]().PkgPath()
)

// isField reports whether t is a keyward.Field[T].
func isField(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.PkgPath() == fieldPkg && strings.HasPrefix(t.Name(), "Field[")
}

// encodeValue writes v. inField is set for the Value of a Set Field: a nil
// slice or map there is written empty rather than null.
func encodeValue(b *bytes.Buffer, v reflect.Value, inField bool) error {
	if !v.IsValid() {
		b.WriteString("null")
		return nil
	}
	t := v.Type()
	switch {
	case t == tokenType:
		return writeJSON(b, v.Interface().(keyward.Token).Reveal())
	case t == scopeType:
		s := v.Interface().(keyward.Scope)
		m := map[string]any{"resource": s.Resource, "access": s.Access}
		if s.Targets != nil {
			m["targets"] = s.Targets
		}
		return writeJSON(b, m)
	case t == ownerType:
		o := v.Interface().(keyward.Owner)
		m := map[string]any{"type": o.Type}
		if o.ID != "" {
			m["id"] = o.ID
		}
		return writeJSON(b, m)
	case isField(t):
		return fmt.Errorf("a keyward.Field outside a struct member")
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
		return encodeValue(b, v.Elem(), inField)
	}
	if t.Implements(marshalerType) {
		return writeJSON(b, v.Interface())
	}
	switch t.Kind() {
	case reflect.Struct:
		return encodeStruct(b, v)
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && v.IsNil() {
			if inField {
				b.WriteString("[]")
			} else {
				b.WriteString("null")
			}
			return nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return writeJSON(b, v.Interface())
		}
		b.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encodeValue(b, v.Index(i), false); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case reflect.Map:
		if v.IsNil() && !inField {
			b.WriteString("null")
			return nil
		}
		if t.Key().Kind() != reflect.String {
			return writeJSON(b, v.Interface())
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(x, y reflect.Value) int { return strings.Compare(x.String(), y.String()) })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, k.String()); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := encodeValue(b, v.MapIndex(k), false); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	}
	return writeJSON(b, v.Interface())
}

// encodeStruct writes a struct's members by their json tags.
func encodeStruct(b *bytes.Buffer, v reflect.Value) error {
	b.WriteByte('{')
	first := true
	if err := encodeMembers(b, v, &first); err != nil {
		return err
	}
	b.WriteByte('}')
	return nil
}

func encodeMembers(b *bytes.Buffer, v reflect.Value, first *bool) error {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := v.Field(i)
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv, ft = fv.Elem(), ft.Elem()
			}
			if ft.Kind() == reflect.Struct && !isField(ft) {
				if err := encodeMembers(b, fv, first); err != nil {
					return err
				}
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		value, inField := fv, false
		if isField(sf.Type) {
			if !fv.FieldByName("Set").Bool() {
				continue
			}
			if fv.FieldByName("Null").Bool() {
				value = reflect.Value{}
			} else {
				value, inField = fv.FieldByName("Value"), true
			}
		} else if strings.Contains(","+opts+",", ",omitempty,") && emptyValue(fv) {
			continue
		}
		if !*first {
			b.WriteByte(',')
		}
		*first = false
		if err := writeJSON(b, name); err != nil {
			return err
		}
		b.WriteByte(':')
		if err := encodeValue(b, value, inField); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// emptyValue is encoding/json's notion of empty, for omitempty.
func emptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

func writeJSON(b *bytes.Buffer, v any) error {
	out, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b.Write(out)
	return nil
}

package api_test

import (
	"errors"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// TestDecodeStrictNamesJSONMembers: a member of the wrong type is named by
// its JSON path, whatever Go struct it lands in: the members of an
// embedded struct are the outer object's (no Go type name in the path),
// tags rename, and nested objects join with dots.
func TestDecodeStrictNamesJSONMembers(t *testing.T) {
	type inner struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	type shared struct {
		Name string `json:"name"`
		Tags []string
	}
	type Exported struct {
		Level int `json:"level"`
	}
	type request struct {
		shared
		*Exported
		Renamed string           `json:"display_name"`
		Nested  inner            `json:"nested"`
		List    []inner          `json:"list"`
		Map     map[string]inner `json:"map"`
		Plain   bool
		Raw     map[string]string `json:"raw"`
	}
	for body, want := range map[string]string{
		`{"name": 5}`:                 "name",
		`{"Tags": [1]}`:               "Tags",
		`{"level": "high"}`:           "level",
		`{"display_name": true}`:      "display_name",
		`{"nested": {"name": 1}}`:     "nested.name",
		`{"nested": {"count": "x"}}`:  "nested.count",
		`{"list": [{"count": "x"}]}`:  "list.count",
		`{"map": {"a": {"name": 2}}}`: "map.name",
		`{"Plain": "yes"}`:            "Plain",
		`{"raw": {"a": 1}}`:           "raw",
	} {
		var dst request
		err := api.DecodeStrict([]byte(body), &dst)
		var ke *keyward.Error
		if !errors.As(err, &ke) || len(ke.Fields) != 1 {
			t.Errorf("%s: got %v, want one field error", body, err)
			continue
		}
		if got := ke.Fields[0].Field; got != want {
			t.Errorf("%s: the error names %q, want %q", body, got, want)
		}
	}
}

package sqlstore

import (
	"database/sql"
	"encoding/json"
	"time"

	"github.com/keyward/keyward"
)

// Times are stored as Unix milliseconds (BIGINT) on every database, so the
// stores agree to the millisecond and no driver time-zone handling applies.

func ms(t time.Time) int64 { return t.UnixMilli() }

func msPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func fromMs(v int64) time.Time { return time.UnixMilli(v).UTC() }

func fromNullMs(v sql.Null[int64]) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMs(v.V)
	return &t
}

// orNull is the value p points to, or NULL for nil.
func orNull[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// fromNull is a nullable column's value, or nil for NULL.
func fromNull[T any](v sql.Null[T]) *T {
	if !v.Valid {
		return nil
	}
	x := v.V
	return &x
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsonOrNull encodes v, or NULL for nil pointers, slices and maps.
func jsonOrNull(v any) (any, error) {
	switch x := v.(type) {
	case []string:
		if x == nil {
			return nil, nil
		}
	case []keyward.Scope:
		if x == nil {
			return nil, nil
		}
	case map[string]json.RawMessage:
		if x == nil {
			return nil, nil
		}
	case *keyward.RateLimit:
		if x == nil {
			return nil, nil
		}
	case *keyward.Credits:
		if x == nil {
			return nil, nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, keyward.Internal(err)
	}
	return string(b), nil
}

// decodeJSON decodes a nullable JSON column into dst; NULL leaves dst alone.
func decodeJSON(col sql.Null[string], dst any) error {
	if !col.Valid {
		return nil
	}
	if err := json.Unmarshal([]byte(col.V), dst); err != nil {
		return keyward.Internal(err)
	}
	return nil
}

func nowMs() int64 { return time.Now().UnixMilli() }

package sqlstore

import "github.com/keyward/keyward"

// UsageRows exposes the usage rows' table expression to the tests of
// sqlstore_test, for their query plans.
func UsageRows(s *Store, q *keyward.UsageQuery) (string, []any) { return s.usageRows(q, true) }

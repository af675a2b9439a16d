package sqlstore

import "github.com/keyward/keyward"

// UsageRows exposes the usage rows' table expression to the tests of
// sqlstore_test, for their query plans.
func UsageRows(s *Store, q *keyward.UsageQuery) (string, []any) { return s.usageRows(q, true) }

// AccountUsageRows is UsageRows of a series or totals by outcome: of no
// key, the account's rows.
func AccountUsageRows(s *Store, q *keyward.UsageQuery) (string, []any) { return s.usageRows(q, false) }

// SearchCandidatesCond is the key search's condition on the trigram index.
const SearchCandidatesCond = searchCandidatesCond

// ExpiringKeysSQL is ExpiringKeys's query, for its plan.
func ExpiringKeysSQL(s *Store) string { return s.keySelect() + expiringKeysWhere }

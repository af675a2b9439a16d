package keyward

import (
	"fmt"
	"strings"
)

// InvalidationKind says which cached verifications a change makes stale.
type InvalidationKind byte

// Invalidation kinds.
const (
	// InvalidateKey: one key changed (update, disable, revoke, delete, rotate).
	InvalidateKey InvalidationKind = 'k'
	// InvalidateHash: a token hash now belongs to a key (create, import,
	// rotate): a cached "unknown token" for it is stale.
	InvalidateHash InvalidationKind = 'h'
	// InvalidateAccount: something every key of an account depends on
	// changed (catalog, roles, the account itself).
	InvalidateAccount InvalidationKind = 'a'
	// InvalidateOwner: a user or service account changed (status, roles,
	// deletion).
	InvalidateOwner InvalidationKind = 'o'
	// InvalidateAll: forget everything (a node lost track of changes).
	InvalidateAll InvalidationKind = '*'
)

// Invalidation names what a committed change makes stale in verification
// caches. Stores deliver them to subscribers on this node as soon as the
// change commits, and (for a database shared by several nodes) to every
// other node.
type Invalidation struct {
	Kind InvalidationKind
	ID   string // key id, hash in hex, account id or owner id; empty for All
	// Account is the account the object belongs to, when known (key and
	// owner invalidations): streams to account-bound clients carry only
	// their account's.
	Account string
}

// String encodes the invalidation as "k:key_…@acc_…" (the wire form between
// nodes and to remote verifiers).
func (i Invalidation) String() string {
	s := string(i.Kind) + ":" + i.ID
	if i.Account != "" {
		s += "@" + i.Account
	}
	return s
}

// ParseInvalidation decodes the String form.
func ParseInvalidation(s string) (Invalidation, error) {
	kind, rest, ok := strings.Cut(s, ":")
	id, account, _ := strings.Cut(rest, "@")
	if !ok || len(kind) != 1 || len(id) > 128 || len(account) > 64 {
		return Invalidation{}, fmt.Errorf("malformed invalidation %q", s)
	}
	switch k := InvalidationKind(kind[0]); k {
	case InvalidateKey, InvalidateHash, InvalidateAccount, InvalidateOwner, InvalidateAll:
		return Invalidation{Kind: k, ID: id, Account: account}, nil
	}
	return Invalidation{}, fmt.Errorf("unknown invalidation kind %q", kind)
}

// Concerns reports whether the invalidation may concern objects of the
// account (what an account-bound stream forwards).
func (i Invalidation) Concerns(account string) bool {
	switch i.Kind {
	case InvalidateAll, InvalidateHash:
		return true // a hash says nothing about its account, and All is everyone's
	case InvalidateAccount:
		return i.ID == account
	}
	return i.Account == account
}

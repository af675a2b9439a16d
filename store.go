package keyward

import (
	"context"
	"time"
)

// Store persists keyward's objects. A store only stores and queries: every
// rule (validation, authorization, audit content) is applied above it, so
// backends cannot disagree. Implementations: sqlite.DB and postgres.DB, both
// on the one SQL implementation of package sqlstore.
//
// Every method returns *Error values for the conditions a caller handles
// (not_found, duplicate, conflict, unavailable); anything else is internal.
type Store interface {
	// Read runs fn against a consistent snapshot.
	Read(ctx context.Context, fn func(Tx) error) error
	// Write runs fn in a transaction that commits only if fn returns nil.
	// Writes are serialised with respect to the rows they touch, so a
	// read-check-write inside fn never loses an update.
	Write(ctx context.Context, fn func(Tx) error) error
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Subscribe registers fn to receive invalidations: those committed
	// on this node synchronously, before Write returns; those committed by
	// other nodes sharing the database as they arrive.
	Subscribe(fn func(Invalidation))
	// FeedHealthy reports whether every change committed anywhere is being
	// delivered to subscribers. While it is false (a node lost its link to
	// the others), caches must not trust what they hold.
	FeedHealthy() bool
	// FeedConfirmedAt returns the last time the feed proved it was
	// delivering every change: up to then, what a cache holds is exact.
	FeedConfirmedAt() time.Time
	// Close releases the database; pending writes are committed or rolled back.
	Close() error
	// UsageStore keeps the verification counts per key, outcome and bucket.
	UsageStore
}

// Tx is the set of operations available inside Read and Write. Methods
// that change data fail inside Read.
//
// Tenant scoping is in the signatures: every getter of an object that
// belongs to an account takes the account, and answers not_found for the
// id of another account's object exactly as for an id that does not exist,
// so a caller cannot forget the check. The deleters of users, service
// accounts, projects and roles take the account too. Operator management
// keys belong to no account and have a getter of their own
// (GetOperatorKey). The one lookup across accounts is FindKeyByHash: a
// presented token names no account, so its callers compare the key's
// account with their own. The other writers (UpdateX with the object,
// the key writers with its id) change what a scoped getter of the same
// transaction returned.
//
// The methods that change what verification reads (keys and their
// secrets, users, service accounts, roles, catalog resources, accounts)
// record the invalidations their change makes: delivered to Subscribe's
// subscribers when the transaction commits (and to other nodes), dropped
// if it rolls back. No caller has to remember to.
type Tx interface {
	// CreateAccount inserts an account; a taken name is a duplicate error.
	CreateAccount(ctx context.Context, a *Account) error
	// GetAccount returns the account or not_found.
	GetAccount(ctx context.Context, id string) (*Account, error)
	// GetAccountByName returns the account or not_found.
	GetAccountByName(ctx context.Context, name string) (*Account, error)
	// ListAccounts returns one page of accounts, newest first.
	ListAccounts(ctx context.Context, f *AccountFilter) ([]*Account, bool, error)
	// UpdateAccount writes a; Version must be one more than the stored one.
	UpdateAccount(ctx context.Context, a *Account) error
	// DeleteAccount removes an account and everything in it (keys and
	// their secrets, projects, catalog, users, service accounts, roles,
	// idempotency records). Audit events stay. not_found if absent.
	DeleteAccount(ctx context.Context, id string) error

	// CreateKey inserts a key with the hash of its first secret.
	CreateKey(ctx context.Context, k *Key, hash TokenHash) error
	// GetKey returns a key of the account, or not_found (for a key of
	// another account and for an operator key too). Inside Write, the row
	// stays locked until the transaction ends.
	GetKey(ctx context.Context, accountID, id string) (*Key, error)
	// GetOperatorKey returns an operator management key (one that belongs
	// to no account), or not_found for any other key. It locks like GetKey.
	GetOperatorKey(ctx context.Context, id string) (*Key, error)
	// UpdateKey writes k, whose Version must be one more than the stored
	// version (else conflict: someone changed it meanwhile).
	// It leaves the key's usage (LastUsedAt, Verifications) as it is: only
	// TouchKeys changes it.
	UpdateKey(ctx context.Context, k *Key) error
	// DeleteKey removes a key and its secrets; not_found if absent.
	DeleteKey(ctx context.Context, id string) error
	// ListKeys returns one page of keys matching f, newest first.
	ListKeys(ctx context.Context, f *KeyFilter) ([]*Key, bool, error)
	// ExpiringKeys returns the account's active keys of kind whose expiry
	// is after after and before before, the soonest first (then by id),
	// at most limit.
	ExpiringKeys(ctx context.Context, accountID string, kind KeyKind, after, before time.Time, limit int) ([]*Key, error)
	// FindKeyByHash returns the key one of whose secrets has this hash, of
	// any account, or not_found. It is the one lookup across accounts (a
	// token carries no account): verification and authentication compare
	// the key's account with the caller's, and an import refuses a hash
	// whatever account holds it. The key comes without its usage
	// (LastUsedAt nil, Verifications 0): verification needs none, and where
	// usage is kept apart, reading it would cost the miss path a second
	// file's pages.
	FindKeyByHash(ctx context.Context, h TokenHash) (*KeyMatch, error)
	// RotateKeySecret makes hash the key's current secret; the previous
	// current secret stays valid until oldValidUntil.
	RotateKeySecret(ctx context.Context, keyID string, hash TokenHash, now, oldValidUntil time.Time) error
	// TouchKeys records usage written behind: last use times only move
	// forward, verification counts are added; unknown ids are skipped.
	TouchKeys(ctx context.Context, usage map[string]KeyUsage) error
	// SetCreditPool writes the spendable state of a key's credits (a lease
	// taken or returned, a refill); Write only, after GetKey locked the row.
	SetCreditPool(ctx context.Context, keyID string, pool CreditPool) error
	// KeysInProject returns the keys of the account scoped to the project
	// that are not revoked.
	KeysInProject(ctx context.Context, accountID, projectID string) ([]*Key, error)
	// KeysUsingResource returns up to limit ids of the account's API keys
	// with a scope on the resource.
	KeysUsingResource(ctx context.Context, accountID, resourceID string, limit int) ([]string, error)
	// KeysWithRole returns up to limit ids of the account's keys that are
	// not revoked and hold the role.
	KeysWithRole(ctx context.Context, accountID, role string, limit int) ([]string, error)
	// SampleSealedSecret returns the id and sealed secret of one
	// recoverable key, or not_found if there is none (to check a master key).
	SampleSealedSecret(ctx context.Context) (string, []byte, error)
	// KeysOwnedBy returns the account's keys owned by o that are not revoked.
	KeysOwnedBy(ctx context.Context, accountID string, o Owner) ([]*Key, error)

	// CreateUser inserts a user; a taken external_id in the account is a duplicate.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns a user of the account, or not_found.
	GetUser(ctx context.Context, accountID, id string) (*User, error)
	// UpdateUser writes u; Version must be one more than the stored one.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser removes a user of the account; not_found if absent.
	DeleteUser(ctx context.Context, accountID, id string) error
	// ListUsers returns one page of an account's users, newest first.
	ListUsers(ctx context.Context, f *UserFilter) ([]*User, bool, error)

	// CreateServiceAccount inserts a service account; a taken name in the
	// account is a duplicate.
	CreateServiceAccount(ctx context.Context, sa *ServiceAccount) error
	// GetServiceAccount returns a service account of the account, or not_found.
	GetServiceAccount(ctx context.Context, accountID, id string) (*ServiceAccount, error)
	// UpdateServiceAccount writes sa; Version must be one more than the stored one.
	UpdateServiceAccount(ctx context.Context, sa *ServiceAccount) error
	// DeleteServiceAccount removes a service account of the account;
	// not_found if absent.
	DeleteServiceAccount(ctx context.Context, accountID, id string) error
	// ListServiceAccounts returns one page of an account's service accounts.
	ListServiceAccounts(ctx context.Context, f *ServiceAccountFilter) ([]*ServiceAccount, bool, error)

	// CreateRole inserts a role; a taken name in the account is a duplicate.
	CreateRole(ctx context.Context, r *Role) error
	// GetRole returns a role of the account, or not_found.
	GetRole(ctx context.Context, accountID, name string) (*Role, error)
	// UpdateRole writes r; Version must be one more than the stored one.
	UpdateRole(ctx context.Context, r *Role) error
	// DeleteRole removes a role of the account; not_found if absent.
	DeleteRole(ctx context.Context, accountID, name string) error
	// ListRoles returns all roles of the account, by name.
	ListRoles(ctx context.Context, accountID string) ([]*Role, error)

	// CreateProject inserts a project; a taken name in the account is a duplicate.
	CreateProject(ctx context.Context, p *Project) error
	// GetProject returns a project of the account, or not_found.
	GetProject(ctx context.Context, accountID, id string) (*Project, error)
	// UpdateProject writes p; Version must be one more than the stored one.
	UpdateProject(ctx context.Context, p *Project) error
	// DeleteProject removes a project of the account; not_found if absent.
	DeleteProject(ctx context.Context, accountID, id string) error
	// ListProjects returns one page of an account's projects, newest first.
	ListProjects(ctx context.Context, f *ProjectFilter) ([]*Project, bool, error)

	// ListResources returns the account's catalog, ordered by group, then id.
	ListResources(ctx context.Context, accountID string) ([]*Resource, error)
	// PutResource inserts or replaces a catalog resource.
	PutResource(ctx context.Context, accountID string, r *Resource) error
	// DeleteResource removes a catalog resource; not_found if absent.
	DeleteResource(ctx context.Context, accountID, id string) error

	// AppendAuditEvent records an event. Events are never changed or deleted.
	AppendAuditEvent(ctx context.Context, e *AuditEvent) error
	// ListAuditEvents returns one page of an account's events, newest first.
	ListAuditEvents(ctx context.Context, f *AuditFilter) ([]*AuditEvent, bool, error)

	// ReserveIdempotency records a pending request under (scope, key
	// hash) and returns nil, or returns the record already there (a
	// finished answer, or another request in progress). Records created
	// before notBefore are expired: they are replaced.
	ReserveIdempotency(ctx context.Context, rec *IdempotencyRecord, notBefore time.Time) (*IdempotencyRecord, error)
	// FinishIdempotency stores the answer of a reserved request.
	FinishIdempotency(ctx context.Context, rec *IdempotencyRecord) error
	// ReleaseIdempotency drops a pending reservation (the request failed).
	ReleaseIdempotency(ctx context.Context, scope string, keyHash []byte) error
	// PurgeIdempotency deletes records created before t.
	PurgeIdempotency(ctx context.Context, before time.Time) error
}

// IdempotencyRecord is what keyward remembers of a creating request sent
// with an Idempotency-Key.
type IdempotencyRecord struct {
	Scope       string // acting account and management key
	KeyHash     []byte // SHA-256 of the Idempotency-Key
	RequestHash []byte // SHA-256 of method, path and body
	Pending     bool
	Status      int
	Response    []byte // sealed with a key derived from the Idempotency-Key
	CreatedAt   time.Time
}

// KeyUsage is usage of one key gathered in memory and written behind.
type KeyUsage struct {
	LastUsed      time.Time
	Verifications int64
}

// Page selects one page of a list ordered newest first. StartingAfter is
// the id of the last object of the previous page (older objects follow);
// EndingBefore the id of the first object of the next page (newer objects
// precede). At most one of them is set.
type Page struct {
	Limit         int
	StartingAfter string
	EndingBefore  string
}

// List limits.
const (
	DefaultPageLimit = 25
	MaxPageLimit     = 200
)

// KeyFilter selects keys. Zero fields do not filter.
type KeyFilter struct {
	Page
	AccountID      string
	Kind           KeyKind
	Status         KeyStatus
	OwnerType      OwnerType
	OwnerID        string
	ProjectID      string
	PermissionMode PermissionMode
	Resource       string // keys with an explicit scope on this resource
	Role           string // keys holding this role
	// IncludeOperator adds operator management keys (which belong to no
	// account) to a list of management keys.
	IncludeOperator bool
	Search          string // case-insensitive substring of the name
	Expired         *bool
	Now             time.Time // for Expired
	CreatedAfter    *time.Time
	CreatedBefore   *time.Time
	LastUsedBefore  *time.Time
	// ExpiresAfter and ExpiresBefore select keys with an expiry after,
	// or before, the time (keys that never expire match neither).
	ExpiresAfter  *time.Time
	ExpiresBefore *time.Time
}

// AccountFilter selects accounts.
type AccountFilter struct {
	Page
}

// UserFilter selects users.
type UserFilter struct {
	Page
	AccountID  string
	Status     MemberStatus
	Role       string
	ExternalID string
	Search     string // case-insensitive substring of name or email
}

// ServiceAccountFilter selects service accounts.
type ServiceAccountFilter struct {
	Page
	AccountID string
	Status    MemberStatus
}

// ProjectFilter selects projects.
type ProjectFilter struct {
	Page
	AccountID string
}

// AuditFilter selects audit events.
type AuditFilter struct {
	Page
	AccountID string
	TargetID  string
	ActorID   string
	Action    string
	Since     *time.Time
	Until     *time.Time
}

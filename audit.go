package keyward

import (
	"encoding/json"
	"time"
)

// ActorType says what made a change.
type ActorType string

const (
	ActorManagementKey ActorType = "management_key"
	ActorSystem        ActorType = "system" // keyward itself: bootstrap, the admin command
)

// Actor is who makes a request and where it comes from, passed explicitly
// to every service call.
type Actor struct {
	// Key is the authenticated management key; nil for the system.
	Key *Key
	// AccountID is the account the request acts on.
	AccountID string
	// AllAccounts is set for an operator key that sent no X-Account-Id on a
	// route that can span accounts (verify).
	AllAccounts bool

	RequestID string
	ClientIP  string
	UserAgent string
	// Dialect names the API the request came through: "native" or a
	// compatibility dialect.
	Dialect string
}

// ActorID returns the id recorded as the actor of a change.
func (a *Actor) ActorID() string {
	if a.Key != nil {
		return a.Key.ID
	}
	return "system"
}

// ActorType returns the type recorded as the actor of a change.
func (a *Actor) ActorType() ActorType {
	if a.Key != nil {
		return ActorManagementKey
	}
	return ActorSystem
}

// Change is one field's value before and after a change, as JSON (null
// when absent). Secrets never appear in a Change.
type Change struct {
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

// AuditEvent records one change. Events are append-only: no route changes
// or deletes them.
type AuditEvent struct {
	ID         string
	AccountID  string
	Time       time.Time
	ActorType  ActorType
	ActorID    string
	Action     string
	TargetType string
	TargetID   string
	Changes    map[string]Change
	RequestID  string
	ClientIP   string
	UserAgent  string
	Dialect    string
}

// Audit actions.
const (
	ActionAccountCreated        = "account.created"
	ActionKeyCreated            = "key.created"
	ActionKeyUpdated            = "key.updated"
	ActionKeyRevoked            = "key.revoked"
	ActionKeyRotated            = "key.rotated"
	ActionKeyDeleted            = "key.deleted"
	ActionKeyImported           = "key.imported"
	ActionKeySecretRevealed     = "key.secret_revealed"
	ActionKeyCreditsChanged     = "key.credits_changed"
	ActionMgmtKeyCreated        = "management_key.created"
	ActionProjectCreated        = "project.created"
	ActionProjectUpdated        = "project.updated"
	ActionProjectDeleted        = "project.deleted"
	ActionAccountUpdated        = "account.updated"
	ActionAccountDeleted        = "account.deleted"
	ActionUserCreated           = "user.created"
	ActionUserUpdated           = "user.updated"
	ActionUserDeleted           = "user.deleted"
	ActionServiceAccountCreated = "service_account.created"
	ActionServiceAccountUpdated = "service_account.updated"
	ActionServiceAccountDeleted = "service_account.deleted"
	ActionRoleCreated           = "role.created"
	ActionRoleUpdated           = "role.updated"
	ActionRoleDeleted           = "role.deleted"
	ActionResourceCreated       = "catalog_resource.created"
	ActionResourceUpdated       = "catalog_resource.updated"
	ActionResourceDeleted       = "catalog_resource.deleted"
	TargetKey                   = "key"
	TargetManagementKey         = "management_key"
	TargetAccount               = "account"
	TargetProject               = "project"
	TargetUser                  = "user"
	TargetServiceAccount        = "service_account"
	TargetRole                  = "role"
	TargetCatalogResource       = "catalog_resource"
)

// Diff returns the changes between two JSON-able field maps: every field
// whose encoding differs, with before and after. It returns nil when nothing
// changed.
func Diff(before, after map[string]any) map[string]Change {
	var out map[string]Change
	seen := map[string]bool{}
	add := func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		b, _ := json.Marshal(before[name])
		a, _ := json.Marshal(after[name])
		if string(a) == string(b) {
			return
		}
		if out == nil {
			out = map[string]Change{}
		}
		out[name] = Change{Before: b, After: a}
	}
	for n := range before {
		add(n)
	}
	for n := range after {
		add(n)
	}
	return out
}

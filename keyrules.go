package keyward

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on key fields. Requests beyond them are 422.
const (
	MaxNameLen        = 255
	MaxDescriptionLen = 1024
	MaxMetadataBytes  = 16 << 10
	MaxMetadataKeys   = 100
	// MaxJSONDepth bounds the nesting of free-form JSON (metadata): a
	// value nested deeper is refused, for every reader of it (listings,
	// audit pages, clients whose JSON parsers recurse) must be able to
	// read it back. The metadata object itself is the first level.
	MaxJSONDepth   = 32
	MaxScopes      = 256
	MaxTargets     = 1000
	MaxRoles       = 64
	MaxIPAllowlist = 256
	MaxLegacyIDLen = 128
)

// KeyFields is the body of a create, PATCH or PUT of a key: every member
// knows whether it was absent, null or a value.
type KeyFields struct {
	Name           Field[string]                     `json:"name"`
	Description    Field[string]                     `json:"description"`
	Status         Field[KeyStatus]                  `json:"status"`
	Kind           Field[KeyKind]                    `json:"kind"`
	Prefix         Field[string]                     `json:"prefix"`
	Owner          Field[Owner]                      `json:"owner"`
	ProjectID      Field[string]                     `json:"project_id"`
	PermissionMode Field[PermissionMode]             `json:"permission_mode"`
	Scopes         Field[[]Scope]                    `json:"scopes"`
	Roles          Field[[]string]                   `json:"roles"`
	Permissions    Field[[]string]                   `json:"permissions"`
	Operator       Field[bool]                       `json:"operator"`
	ExpiresAt      Field[time.Time]                  `json:"expires_at"`
	ClearExpiresAt Field[bool]                       `json:"clear_expires_at"`
	Metadata       Field[map[string]json.RawMessage] `json:"metadata"`
	IPAllowlist    Field[[]string]                   `json:"ip_allowlist"`
	RateLimit      Field[RateLimit]                  `json:"rate_limit"`
	Credits        Field[Credits]                    `json:"credits"`
	Recoverable    Field[bool]                       `json:"recoverable"`
	LegacyKeyID    Field[string]                     `json:"legacy_key_id"`
}

// ImportItem is one key to import from another system (POST
// /v1/keys/import): the SHA-256 of its existing token (64 hex characters
// or base64), what listings show of the token (keyward never sees it),
// and the members of a key creation.
type ImportItem struct {
	Hash  string  `json:"hash"`
	Start *string `json:"start,omitempty"`
	Last4 *string `json:"last4,omitempty"`
	KeyFields
}

// MaxGracePeriod bounds a rotation's grace period, during which the
// previous secret keeps working.
const MaxGracePeriod = 7 * 24 * time.Hour

// Empty reports whether no member was sent at all (PATCH {}).
func (in *KeyFields) Empty() bool {
	for _, set := range []bool{
		in.Name.Set, in.Description.Set, in.Status.Set, in.Kind.Set, in.Prefix.Set, in.Owner.Set,
		in.ProjectID.Set, in.PermissionMode.Set, in.Scopes.Set, in.Roles.Set, in.Permissions.Set, in.Operator.Set,
		in.ExpiresAt.Set, in.ClearExpiresAt.Set, in.Metadata.Set, in.IPAllowlist.Set, in.RateLimit.Set,
		in.Credits.Set, in.Recoverable.Set, in.LegacyKeyID.Set,
	} {
		if set {
			return false
		}
	}
	return true
}

// KeyEnv is what the key rules need to know beyond the request: the
// account, its catalog, the time, and lookups of referenced objects in the
// account (each returns whether the object exists).
type KeyEnv struct {
	Account       *Account
	Catalog       Catalog
	Now           time.Time
	MasterKey     bool // recoverable keys are possible
	ProjectExists func(id string) (bool, error)
	OwnerExists   func(o Owner) (bool, error)
	// RoleScopes returns the scopes of a role, and false if it does not exist.
	RoleScopes func(name string) ([]Scope, bool, error)
	// OperatorAllowed is set when the caller is an operator key: only an
	// operator key may create another.
	OperatorAllowed bool
}

type validator struct {
	errs []FieldError
	err  error // a lookup failure: not the client's fault
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// between checks that n is from lo to hi (a number of unit); false, with
// the failure, when it is not.
func (v *validator) between(field string, n, lo, hi int64, unit string) bool {
	if n < lo || n > hi {
		v.add(field, "must be between %d and %d%s", lo, hi, unit)
		return false
	}
	return true
}

func (v *validator) result() error {
	if v.err != nil {
		return v.err
	}
	if len(v.errs) > 0 {
		return Invalid(v.errs...)
	}
	return nil
}

// NewKey applies the create rules: it returns a key of the given kind in the
// env's account with every field validated and defaulted (status active,
// the account's prefix and default permission mode, owner the account,
// expiry from default_key_lifetime). The caller assigns id, secret, times
// and actor. Errors are 422 naming each field.
func NewKey(kind KeyKind, in *KeyFields, env *KeyEnv) (*Key, error) {
	v := &validator{}
	k := &Key{Kind: kind, AccountID: env.Account.ID, Status: StatusActive}

	if in.Kind.Set && (in.Kind.Null || in.Kind.Value != kind) {
		v.add("kind", "must be %q on this route", kind)
	}
	if in.Status.HasValue() && in.Status.Value == StatusRevoked {
		v.add("status", "a key cannot be created revoked")
	}

	if in.Operator.Set {
		switch {
		case in.Operator.Null:
			v.add("operator", "must be true or false")
		case kind != KindManagement && in.Operator.Value:
			v.add("operator", "only management keys can be operator keys")
		case in.Operator.Value && !env.OperatorAllowed:
			v.add("operator", "only an operator key can create an operator key")
		case in.Operator.Value:
			// An operator key spans every account and belongs to none.
			k.Operator, k.AccountID = true, ""
		}
	}
	k.Prefix = env.Account.DefaultPrefix
	if kind == KindManagement {
		k.Prefix = DefaultManagementPrefix
	}
	if in.Prefix.Set {
		if in.Prefix.Null || !ValidPrefix(in.Prefix.Value) {
			v.add("prefix", "must match [a-z][a-z0-9]{0,15}")
		} else {
			k.Prefix = in.Prefix.Value
		}
	}

	k.Owner = Owner{Type: OwnerAccount, ID: env.Account.ID}
	if in.Owner.HasValue() {
		o := in.Owner.Value
		switch {
		case kind == KindManagement && o.Type != OwnerAccount:
			v.add("owner.type", "management keys are owned by their account")
		case o.Type == OwnerAccount:
			if o.ID != "" && o.ID != env.Account.ID {
				v.add("owner.id", "must be the acting account's id")
			}
		case o.Type == OwnerUser || o.Type == OwnerServiceAccount:
			ok, err := lookup(env.OwnerExists, o)
			if err != nil {
				v.err = err
			} else if !ok {
				v.add("owner.id", "no %s %q in this account", strings.ReplaceAll(string(o.Type), "_", " "), o.ID)
			} else {
				k.Owner = o
			}
		default:
			v.add("owner.type", "must be one of account, user, service_account")
		}
	} else if in.Owner.Null {
		v.add("owner", "cannot be null")
	}

	if in.Recoverable.Null {
		v.add("recoverable", "must be true or false")
	}
	if in.Recoverable.HasValue() && in.Recoverable.Value {
		if kind == KindManagement {
			v.add("recoverable", "management keys are never recoverable")
		} else if !env.MasterKey {
			v.add("recoverable", "recoverable keys need the server to be started with a master key")
		} else {
			k.Recoverable = true
		}
	}
	if in.LegacyKeyID.HasValue() {
		if s := in.LegacyKeyID.Value; s == "" || len(s) > MaxLegacyIDLen {
			v.add("legacy_key_id", "must be 1–%d characters", MaxLegacyIDLen)
		} else {
			k.LegacyKeyID = &s
		}
	}

	// The mutable fields follow the PATCH rules from a blank key; absent
	// members take the values a new key gets.
	mut := asNew(v, kind, in, env)
	applyMutable(v, k, &mut, env, true)
	if err := v.result(); err != nil {
		return nil, err
	}
	return k, nil
}

// PatchKey applies the PATCH rules (docs/api.md) to a copy of cur: absent
// members stay, null clears, values replace. It returns the new key and
// whether anything changed; an unchanged key must not be written. A revoked
// key cannot change (409 key_revoked); rule violations are 422.
func PatchKey(cur *Key, in *KeyFields, env *KeyEnv) (*Key, bool, error) {
	if in.Empty() {
		return cur, false, nil
	}
	if cur.Status == StatusRevoked {
		return nil, false, Errorf(ECodeKeyRevoked, "key %s is revoked: a revoked key cannot be changed, only deleted", cur.ID)
	}
	v := &validator{}
	immutable(v, cur, in)
	next := cur.Clone()
	applyMutable(v, next, in, env, false)
	if err := v.result(); err != nil {
		return nil, false, err
	}
	return next, Diff(KeyFieldMap(cur), KeyFieldMap(next)) != nil, nil
}

// ReplaceKey applies the PUT rules (docs/api.md): the body states every
// mutable field, and an omitted optional field takes the value a new key
// gets (asNew, the same function a create uses). name is required.
func ReplaceKey(cur *Key, in *KeyFields, env *KeyEnv) (*Key, bool, error) {
	if cur.Status == StatusRevoked {
		return nil, false, Errorf(ECodeKeyRevoked, "key %s is revoked: a revoked key cannot be changed, only deleted", cur.ID)
	}
	v := &validator{}
	full := asNew(v, cur.Kind, in, env)
	if err := v.result(); err != nil {
		return nil, false, err
	}
	return PatchKey(cur, &full, env)
}

// asNew returns in with every absent mutable member set to the value a
// new key of the kind gets (docs/api.md, PUT): no description, active, all projects,
// the account's default permission mode (restricted with no scopes or
// roles given as []), an expiry of the account's default_key_lifetime from
// now (none without one, or with clear_expires_at: true), no metadata, no
// IP allowlist, no rate limit, no credits. Create and PUT both build from
// it, so the two cannot disagree. It also adds what both require: a name,
// a management key's permissions, and scopes or roles for a restricted key.
func asNew(v *validator, kind KeyKind, in *KeyFields, env *KeyEnv) KeyFields {
	out := *in
	if !in.Name.Set {
		v.add("name", "is required")
	}
	nullIfAbsent(&out.Description)
	nullIfAbsent(&out.Metadata)
	nullIfAbsent(&out.IPAllowlist)
	if !out.Status.Set {
		out.Status = Some(StatusActive)
	}
	if !out.ExpiresAt.Set && !(out.ClearExpiresAt.HasValue() && out.ClearExpiresAt.Value) {
		out.ExpiresAt = defaultExpiry(env)
		nullIfAbsent(&out.ExpiresAt)
	}
	if kind == KindManagement {
		if !out.Permissions.Set {
			v.add("permissions", "is required: a non-empty list of management permissions")
		}
		return out
	}
	nullIfAbsent(&out.RateLimit)
	nullIfAbsent(&out.Credits)
	nullIfAbsent(&out.ProjectID)
	if !out.PermissionMode.Set {
		out.PermissionMode = Some(env.Account.DefaultPermissionMode)
	}
	if out.PermissionMode.HasValue() && out.PermissionMode.Value == ModeRestricted {
		switch {
		case !out.Scopes.Set && !out.Roles.Set:
			v.add("permission_mode", "restricted needs scopes or roles in the same request (an empty list grants nothing)")
		case !out.Scopes.Set:
			out.Scopes = Some([]Scope{})
		case !out.Roles.Set:
			out.Roles = Some([]string{})
		}
	}
	return out
}

// nullIfAbsent makes an absent member null: for PUT, an omitted optional
// member is cleared.
func nullIfAbsent[T any](f *Field[T]) {
	if !f.Set {
		*f = Null[T]()
	}
}

// defaultExpiry is the expiry a key gets when none is given: the account's
// default_key_lifetime from now, or none.
func defaultExpiry(env *KeyEnv) Field[time.Time] {
	if d := env.Account.DefaultKeyLifetime; d != nil {
		return Some(env.Now.Add(time.Duration(*d) * time.Second))
	}
	return Field[time.Time]{}
}

func immutable(v *validator, cur *Key, in *KeyFields) {
	if in.Kind.Set && (in.Kind.Null || in.Kind.Value != cur.Kind) {
		v.add("kind", "is immutable")
	}
	if in.Prefix.Set && (in.Prefix.Null || in.Prefix.Value != cur.Prefix) {
		v.add("prefix", "is immutable")
	}
	if in.Owner.Set && (in.Owner.Null || in.Owner.Value.Type != cur.Owner.Type ||
		(in.Owner.Value.ID != "" && in.Owner.Value.ID != cur.Owner.ID)) {
		v.add("owner", "is immutable")
	}
	if in.Operator.Set && (in.Operator.Null || in.Operator.Value != cur.Operator) {
		v.add("operator", "is immutable")
	}
	if in.Recoverable.Set && (in.Recoverable.Null || in.Recoverable.Value != cur.Recoverable) {
		v.add("recoverable", "is immutable")
	}
	if in.LegacyKeyID.Set && (in.LegacyKeyID.Null || cur.LegacyKeyID == nil || in.LegacyKeyID.Value != *cur.LegacyKeyID) {
		v.add("legacy_key_id", "is immutable")
	}
}

// applyMutable applies the mutable members of in to k (PATCH semantics).
// creating tells the create path, where nothing is cleared by null.
func applyMutable(v *validator, k *Key, in *KeyFields, env *KeyEnv, creating bool) {
	notNull := func(name string, f bool) bool {
		if f {
			v.add(name, "cannot be null")
			return false
		}
		return true
	}
	if in.Name.Set && notNull("name", in.Name.Null) {
		if msg := CheckText(in.Name.Value, MaxNameLen, true); msg != "" {
			v.add("name", "%s", msg)
		} else {
			k.Name = in.Name.Value
		}
	}
	if in.Description.Set {
		if in.Description.Null {
			k.Description = nil
		} else if msg := CheckText(in.Description.Value, MaxDescriptionLen, false); msg != "" {
			v.add("description", "%s", msg)
		} else {
			d := in.Description.Value
			k.Description = &d
		}
	}
	if in.Status.Set && notNull("status", in.Status.Null) {
		s := in.Status.Value
		switch {
		case !s.Valid():
			v.add("status", "must be one of active, disabled, revoked")
		default:
			k.Status = s // revoked is terminal; PatchKey refuses to leave it
		}
	}

	// Permissions: API keys have a mode, scopes and roles; management keys
	// a list of management permissions.
	if k.Kind == KindAPI {
		if in.Permissions.Set {
			v.add("permissions", "only management keys carry management permissions; API keys use permission_mode, scopes and roles")
		}
		if in.ProjectID.Set {
			if in.ProjectID.Null {
				k.ProjectID = nil
			} else if id := in.ProjectID.Value; !ValidID(PrefixProject, id) {
				v.add("project_id", "is not a project id")
			} else if ok, err := lookup(env.ProjectExists, id); err != nil {
				v.err = err
			} else if !ok {
				v.add("project_id", "no project %q in this account", id)
			} else {
				k.ProjectID = &id
			}
		}
		applyPermissionMode(v, k, in, env)
	} else {
		for _, m := range []struct {
			name string
			set  bool
		}{{"project_id", in.ProjectID.Set}, {"permission_mode", in.PermissionMode.Set}, {"scopes", in.Scopes.Set}, {"roles", in.Roles.Set}} {
			if m.set {
				v.add(m.name, "management keys carry permissions, not %s", m.name)
			}
		}
		if in.Permissions.Set && notNull("permissions", in.Permissions.Null) {
			perms, ok := checkPermissions(v, in.Permissions.Value, k.Operator)
			if ok {
				k.Permissions = perms
			}
		}
	}

	applyExpiry(v, k, in, env, creating)

	if in.Metadata.Set {
		if in.Metadata.Null || len(in.Metadata.Value) == 0 {
			k.Metadata = nil
		} else if m, field, msg := checkMetadata(in.Metadata.Value); msg != "" {
			v.add(field, "%s", msg)
		} else {
			k.Metadata = m
		}
	}
	if in.IPAllowlist.Set {
		if in.IPAllowlist.Null || len(in.IPAllowlist.Value) == 0 {
			k.IPAllowlist = nil
		} else if list, ok := checkIPAllowlist(v, in.IPAllowlist.Value); ok {
			k.IPAllowlist = list
		}
	}
	applyRateLimit(v, k, in)
	applyCredits(v, k, in, env)
}

// applyRateLimit validates and applies rate_limit: limit verifications per
// window seconds, enforced on verification (RATE_LIMITED).
func applyRateLimit(v *validator, k *Key, in *KeyFields) {
	switch {
	case !in.RateLimit.Set:
	case in.RateLimit.Null:
		k.RateLimit = nil
	case k.Kind != KindAPI:
		v.add("rate_limit", "only API keys have rate limits")
	default:
		rl := in.RateLimit.Value
		ok := v.between("rate_limit.limit", rl.Limit, 1, MaxRateLimit, "")
		if v.between("rate_limit.window", rl.Window, 1, MaxRateWindow, " seconds") && ok {
			k.RateLimit = &rl
		}
	}
}

// applyCredits validates and applies credits: a pool of remaining credits
// verifications spend (their cost), optionally reset to refill.amount every
// refill.interval seconds. Setting a different pool starts it afresh (a new
// epoch: credits nodes had leased from the old pool are void).
func applyCredits(v *validator, k *Key, in *KeyFields, env *KeyEnv) {
	switch {
	case !in.Credits.Set:
		return
	case in.Credits.Null:
		k.Credits = nil
		return
	case k.Kind != KindAPI:
		v.add("credits", "only API keys have credits")
		return
	}
	c := in.Credits.Value
	ok := v.between("credits.remaining", c.Remaining, 0, MaxCredits, "")
	if r := c.Refill; r != nil {
		ok = v.between("credits.refill.amount", r.Amount, 1, MaxCredits, "") && ok
		ok = v.between("credits.refill.interval", r.Interval, 1, MaxRefillInterval, " seconds") && ok
	}
	if !ok {
		return
	}
	cur := k.Credits
	if cur != nil && cur.Remaining == c.Remaining && sameRefill(cur.Refill, c.Refill) {
		return // the same pool: keep its period and epoch
	}
	next := &Credits{Remaining: c.Remaining, Refill: clonePtr(c.Refill)}
	if cur != nil {
		next.Epoch = cur.Epoch + 1
	}
	if next.Refill != nil {
		next.PeriodStart = env.Now
	}
	k.Credits = next
}

func sameRefill(a, b *Refill) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func applyPermissionMode(v *validator, k *Key, in *KeyFields, env *KeyEnv) {
	before := k.PermissionMode
	mode := k.PermissionMode
	if in.PermissionMode.Set {
		if in.PermissionMode.Null {
			v.add("permission_mode", "cannot be null")
			return
		}
		if !in.PermissionMode.Value.Valid() {
			v.add("permission_mode", "must be one of all, read_only, restricted")
			return
		}
		mode = in.PermissionMode.Value
	}
	if mode != ModeRestricted {
		if in.Scopes.Set {
			v.add("scopes", "only allowed with permission_mode restricted")
		}
		if in.Roles.Set {
			v.add("roles", "only allowed with permission_mode restricted")
		}
		k.PermissionMode, k.Scopes, k.Roles = mode, nil, nil
		return
	}
	if before != ModeRestricted && !in.Scopes.Set && !in.Roles.Set {
		v.add("permission_mode", "changing to restricted needs scopes or roles in the same request (an empty list grants nothing)")
		return
	}
	k.PermissionMode = mode
	if in.Scopes.Set {
		if in.Scopes.Null {
			v.add("scopes", "cannot be null; send [] for no scopes")
		} else {
			k.Scopes = normalizeScopes(in.Scopes.Value)
		}
	}
	if in.Roles.Set {
		if in.Roles.Null {
			v.add("roles", "cannot be null; send [] for no roles")
		} else {
			k.Roles = dedupe(in.Roles.Value)
			if len(k.Roles) > MaxRoles {
				v.add("roles", "at most %d roles", MaxRoles)
			}
			for i, name := range k.Roles {
				_, ok, err := roleLookup(env.RoleScopes, name)
				if err != nil {
					v.err = err
				} else if !ok {
					v.add(fmt.Sprintf("roles[%d]", i), "no role %q in this account", name)
				}
			}
		}
	}
	if k.Scopes == nil {
		k.Scopes = []Scope{}
	}
	if k.Roles == nil {
		k.Roles = []string{}
	}
	// Validate the whole resulting scope list when the request touched it
	// or anything it depends on (the project).
	if in.Scopes.Set || in.ProjectID.Set || in.PermissionMode.Set {
		v.errs = append(v.errs, CheckScopes("scopes", k.Scopes, env.Catalog, k.ProjectID != nil)...)
	}
}

func applyExpiry(v *validator, k *Key, in *KeyFields, env *KeyEnv, creating bool) {
	clearExp := in.ClearExpiresAt.HasValue() && in.ClearExpiresAt.Value
	if in.ClearExpiresAt.Null {
		v.add("clear_expires_at", "must be true or false")
	}
	touched := creating
	if clearExp {
		if in.ExpiresAt.Set {
			v.add("clear_expires_at", "cannot be combined with expires_at in one request")
			return
		}
		k.ExpiresAt = nil
		touched = true
	} else if in.ExpiresAt.Set {
		touched = true
		if in.ExpiresAt.Null {
			k.ExpiresAt = nil
		} else {
			t := Timestamp(in.ExpiresAt.Value)
			if !t.After(env.Now) {
				v.add("expires_at", "must be in the future")
				return
			}
			if max := env.Account.MaxKeyLifetime; max != nil && !k.Operator && t.Sub(env.Now) > time.Duration(*max)*time.Second {
				v.add("expires_at", "is beyond the account's max_key_lifetime of %d seconds", *max)
				return
			}
			k.ExpiresAt = &t
		}
	}
	switch {
	case !touched || k.ExpiresAt != nil || k.Operator:
		// Operator keys belong to no account: no account's policy binds them.
	case env.Account.RequireExpiry:
		v.add("expires_at", "is required: the account's require_expiry is set")
	case env.Account.MaxKeyLifetime != nil:
		// A key that never expires outlives any maximum.
		v.add("expires_at", "is required: the account's max_key_lifetime is %d seconds", *env.Account.MaxKeyLifetime)
	}
}

// RotationExpiry applies a rotation's optional new expiry to k and checks
// that the rotated key satisfies the account's expiry policy: a rotation
// with no expires_at keeps the key's expiry, which must then be within the
// policy. Violations are 422 naming expires_at and the rule.
func RotationExpiry(k *Key, expiresAt *time.Time, env *KeyEnv) error {
	v := &validator{}
	in := &KeyFields{}
	if expiresAt != nil {
		in.ExpiresAt = Some(*expiresAt)
	}
	applyExpiry(v, k, in, env, true)
	if err := v.result(); err != nil {
		return err
	}
	if max := env.Account.MaxKeyLifetime; max != nil && !k.Operator && k.ExpiresAt != nil && k.ExpiresAt.Sub(env.Now) > time.Duration(*max)*time.Second {
		return InvalidField("expires_at", "is beyond the account's max_key_lifetime of %d seconds: send a nearer expires_at with the rotation", *max)
	}
	return nil
}

// CheckScopes validates scopes against a catalog: the resource
// must exist and not be protected, support the access level, and allow
// single-project keys if the key is scoped to one project; targets must be
// ["*"] or a list of ids. It returns one FieldError per problem.
func CheckScopes(field string, scopes []Scope, cat Catalog, singleProject bool) []FieldError {
	var errs []FieldError
	add := func(f, format string, args ...any) {
		errs = append(errs, FieldError{Field: f, Message: fmt.Sprintf(format, args...)})
	}
	if len(scopes) > MaxScopes {
		add(field, "at most %d scopes", MaxScopes)
		return errs
	}
	seen := map[string]int{}
	for i, s := range scopes {
		at := fmt.Sprintf("%s[%d]", field, i)
		r := cat[s.Resource]
		switch {
		case s.Resource == "":
			add(at+".resource", "is required")
		case r == nil:
			add(at+".resource", "%q is not in the account's catalog", s.Resource)
		case r.Protected:
			add(at+".resource", "%q is protected and cannot be granted to an API key", s.Resource)
		}
		switch {
		case s.Access != AccessRead && s.Access != AccessWrite:
			add(at+".access", "must be read or write")
		case r != nil && !r.Supports(s.Access):
			add(at+".access", "resource %q does not support %s access", s.Resource, s.Access)
		}
		if r != nil && singleProject && !r.AllowsSingleProject() {
			add(at+".resource", "%q can only be granted to keys of all projects", s.Resource)
		}
		switch {
		case len(s.Targets) == 0:
			add(at+".targets", `must not be empty: use ["*"] for every object`)
		case len(s.Targets) > MaxTargets:
			add(at+".targets", "at most %d targets", MaxTargets)
		default:
			for j, t := range s.Targets {
				if t == Wildcard {
					if len(s.Targets) > 1 {
						add(fmt.Sprintf("%s.targets[%d]", at, j), `"*" cannot be combined with object ids`)
					}
				} else if !ValidTarget(t) {
					add(fmt.Sprintf("%s.targets[%d]", at, j), "must be 1–%d characters of letters, digits and _ . - = @ / + ~", MaxTargetLen)
				}
			}
		}
		pair := s.Resource + "\x00" + string(s.Access)
		if prev, dup := seen[pair]; dup && s.Resource != "" {
			add(at, "duplicates scopes[%d] (same resource and access): merge their targets", prev)
		} else {
			seen[pair] = i
		}
	}
	return errs
}

// normalizeScopes gives absent targets the wildcard and drops repeated targets.
func normalizeScopes(in []Scope) []Scope {
	out := make([]Scope, len(in))
	for i, s := range in {
		out[i] = Scope{Resource: s.Resource, Access: s.Access, Targets: dedupe(s.Targets)}
		if s.Targets == nil {
			out[i].Targets = []string{Wildcard}
		}
	}
	return out
}

func dedupe(in []string) []string {
	if in == nil {
		return nil
	}
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func checkPermissions(v *validator, perms []string, operator bool) ([]string, bool) {
	if len(perms) == 0 {
		v.add("permissions", "must name at least one management permission")
		return nil, false
	}
	ok := true
	for i, p := range perms {
		switch {
		case !isManagementPermission(p):
			v.add(fmt.Sprintf("permissions[%d]", i), "%q is not a management permission", p)
			ok = false
		case !operator && (p == PermAccountsRead || p == PermAccountsWrite):
			v.add(fmt.Sprintf("permissions[%d]", i), "%q is only for operator keys", p)
			ok = false
		}
	}
	return dedupe(perms), ok
}

// CheckText returns what is wrong with a name (required: not blank, one
// line) or a description (may hold newlines), or "" if nothing is.
func CheckText(s string, max int, required bool) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	if required && strings.TrimSpace(s) == "" {
		return "must not be empty"
	}
	if utf8.RuneCountInString(s) > max {
		return fmt.Sprintf("must be at most %d characters", max)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\t' && (required || r != '\n') {
			return "must not contain control characters"
		}
	}
	return ""
}

// checkMetadata validates metadata and returns it compacted, or the field
// at fault ("metadata") and what is wrong with it, naming the member. Members are checked in name order,
// so the same body always names the same member.
func checkMetadata(m map[string]json.RawMessage) (map[string]json.RawMessage, string, string) {
	if len(m) > MaxMetadataKeys {
		return nil, "metadata", fmt.Sprintf("at most %d members", MaxMetadataKeys)
	}
	out := make(map[string]json.RawMessage, len(m))
	size := 2
	for _, n := range slices.Sorted(maps.Keys(m)) {
		raw := m[n]
		if n == "" || !utf8.ValidString(n) {
			return nil, "metadata", "member names must be non-empty UTF-8"
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, "metadata", fmt.Sprintf("member %q is not valid JSON", n)
		}
		if d := jsonDepth(buf.Bytes()); d+1 > MaxJSONDepth {
			return nil, "metadata", fmt.Sprintf("member %q nests %d levels deep; metadata may nest at most %d levels (the metadata object is the first)", n, d+1, MaxJSONDepth)
		}
		out[n] = buf.Bytes()
		size += len(n) + 4 + buf.Len()
	}
	if size > MaxMetadataBytes {
		return nil, "metadata", fmt.Sprintf("must be at most %d bytes as JSON", MaxMetadataBytes)
	}
	return out, "", ""
}

// jsonDepth returns how deeply a JSON text nests arrays and objects: 0
// for a scalar, 1 for [] or {"a":1}, one more per level inside. It reads
// the text without decoding it (no recursion), so any depth is safe to
// measure.
func jsonDepth(b []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

func checkIPAllowlist(v *validator, list []string) ([]string, bool) {
	if len(list) > MaxIPAllowlist {
		v.add("ip_allowlist", "at most %d entries", MaxIPAllowlist)
		return nil, false
	}
	ok := true
	out := make([]string, 0, len(list))
	for i, s := range list {
		p, err := ParseAllowEntry(s)
		if err != nil {
			v.add(fmt.Sprintf("ip_allowlist[%d]", i), "%q is not an IP address or CIDR prefix", s)
			ok = false
			continue
		}
		out = append(out, p.String())
	}
	return dedupe(out), ok
}

// ParseAllowEntry parses an IP allowlist entry: a CIDR prefix, or a single
// address (taken as /32 or /128). The prefix is masked to its network.
func ParseAllowEntry(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		// Client addresses are unmapped before matching, so an
		// IPv4-mapped IPv6 prefix is stored as the IPv4 prefix it means.
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func lookup[T any](f func(T) (bool, error), arg T) (bool, error) {
	if f == nil {
		return false, nil
	}
	return f(arg)
}

func roleLookup(f func(string) ([]Scope, bool, error), name string) ([]Scope, bool, error) {
	if f == nil {
		return nil, false, nil
	}
	return f(name)
}

// KeyFieldMap returns a key's client-visible fields by their API names, for
// audit diffs and change detection. It never holds a secret.
func KeyFieldMap(k *Key) map[string]any {
	if k == nil {
		return nil
	}
	m := map[string]any{
		"name":          k.Name,
		"description":   k.Description,
		"status":        k.Status,
		"prefix":        k.Prefix,
		"start":         k.Start,
		"last4":         k.Last4,
		"owner":         k.Owner,
		"expires_at":    k.ExpiresAt,
		"metadata":      k.Metadata,
		"ip_allowlist":  k.IPAllowlist,
		"rate_limit":    k.RateLimit,
		"credits":       k.Credits,
		"recoverable":   k.Recoverable,
		"legacy_key_id": k.LegacyKeyID,
		"rotated_at":    k.RotatedAt,
	}
	if k.Kind == KindAPI {
		// As the API shows them: no scopes or roles is [], never null.
		scopes, roles := k.Scopes, k.Roles
		if scopes == nil {
			scopes = []Scope{}
		}
		if roles == nil {
			roles = []string{}
		}
		m["project_id"] = k.ProjectID
		m["permission_mode"] = k.PermissionMode
		m["scopes"] = scopes
		m["roles"] = roles
	} else {
		m["permissions"] = k.Permissions
		m["operator"] = k.Operator
	}
	return m
}

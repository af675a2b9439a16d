package api

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

// KeyCommon is what every key shows, API key or management key, after its
// id and account (Key, ManagementKey).
type KeyCommon struct {
	Kind        keyward.KeyKind            `json:"kind"`
	Name        string                     `json:"name"`
	Description *string                    `json:"description"`
	Status      keyward.KeyStatus          `json:"status"`
	Prefix      string                     `json:"prefix"`
	Start       string                     `json:"start"`
	Last4       string                     `json:"last4"`
	Owner       keyward.Owner              `json:"owner"`
	ExpiresAt   *time.Time                 `json:"expires_at"`
	Metadata    map[string]json.RawMessage `json:"metadata"`
	IPAllowlist []string                   `json:"ip_allowlist"` // nil: any address
	RateLimit   *keyward.RateLimit         `json:"rate_limit"`
	Credits     *keyward.Credits           `json:"credits"`
	Recoverable bool                       `json:"recoverable"`
	LegacyKeyID *string                    `json:"legacy_key_id"`
	CreatedAt   time.Time                  `json:"created_at"`
	UpdatedAt   time.Time                  `json:"updated_at"`
	CreatedByID string                     `json:"created_by_id"`
	UpdatedByID string                     `json:"updated_by_id"`
	LastUsedAt  *time.Time                 `json:"last_used_at"`
	RotatedAt   *time.Time                 `json:"rotated_at"`
	// Verifications counts successful verifications; written behind, it
	// trails by up to the server's write-behind interval (always 0 for a
	// management key: only API keys are verified).
	Verifications int64  `json:"verifications"`
	ETag          string `json:"etag"`
}

// Key is an API key (kind "api") as the native API shows it. It never
// holds the secret: the answers of create and rotate add it (WithSecret).
type Key struct {
	ID        string `json:"id"`
	AccountID string `json:"account_id"` // an API key is always in an account
	KeyCommon
	ProjectID      *string                `json:"project_id"` // nil: all projects
	PermissionMode keyward.PermissionMode `json:"permission_mode"`
	Scopes         []keyward.Scope        `json:"scopes"`
	Roles          []string               `json:"roles"`
}

// ManagementKey is a management key (kind "management"): permissions and
// operator instead of a project, a mode, scopes and roles.
type ManagementKey struct {
	ID        string  `json:"id"`
	AccountID *string `json:"account_id"` // nil only for operator keys
	KeyCommon
	Operator    bool     `json:"operator"`
	Permissions []string `json:"permissions"`
}

func keyCommonOf(k *keyward.Key) KeyCommon {
	md := k.Metadata
	if md == nil {
		md = map[string]json.RawMessage{}
	}
	return KeyCommon{
		Kind: k.Kind, Name: k.Name, Description: k.Description, Status: k.Status, Prefix: k.Prefix, Start: k.Start,
		Last4: k.Last4, Owner: k.Owner, ExpiresAt: k.ExpiresAt, Metadata: md, IPAllowlist: k.IPAllowlist,
		RateLimit: k.RateLimit, Credits: k.Credits, Recoverable: k.Recoverable, LegacyKeyID: k.LegacyKeyID,
		CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt, CreatedByID: k.CreatedByID, UpdatedByID: k.UpdatedByID,
		LastUsedAt: k.LastUsedAt, RotatedAt: k.RotatedAt, Verifications: k.Verifications, ETag: k.ETag(),
	}
}

// KeyOf returns the wire form of an API key.
func KeyOf(k *keyward.Key) Key {
	return Key{ID: k.ID, AccountID: k.AccountID, KeyCommon: keyCommonOf(k), ProjectID: k.ProjectID,
		PermissionMode: k.PermissionMode, Scopes: array(k.Scopes), Roles: array(k.Roles)}
}

// ManagementKeyOf returns the wire form of a management key.
func ManagementKeyOf(k *keyward.Key) ManagementKey {
	var acct *string
	if k.AccountID != "" {
		acct = &k.AccountID
	}
	return ManagementKey{ID: k.ID, AccountID: acct, KeyCommon: keyCommonOf(k), Operator: k.Operator, Permissions: array(k.Permissions)}
}

// AnyKeyOf returns the wire form of a key of either kind: a Key or a
// ManagementKey.
func AnyKeyOf(k *keyward.Key) any {
	if k.Kind == keyward.KindManagement {
		return ManagementKeyOf(k)
	}
	return KeyOf(k)
}

// WithSecret returns the JSON of an answer that shows a key's secret
// (create, rotate, and the secret of a recoverable key): the members of v,
// which must marshal to a JSON object, followed by "secret". It is the
// one place a secret is written into JSON (a keyward.Token alone always
// marshals redacted); a zero secret adds nothing.
func WithSecret(v any, secret keyward.Token) json.Marshaler {
	return withSecret{v, secret}
}

type withSecret struct {
	v      any
	secret keyward.Token
}

func (w withSecret) MarshalJSON() ([]byte, error) {
	b, err := marshal(w.v)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, errors.New("api.WithSecret: the answer is not a JSON object")
	}
	if w.secret.IsZero() {
		return b, nil
	}
	s, err := marshal(w.secret.Reveal())
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b)+len(s)+10)
	out = append(out, b[:len(b)-1]...)
	if len(b) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"secret":`...)
	out = append(out, s...)
	return append(out, '}'), nil
}

// ReadSecret decodes an answer that shows a secret (WithSecret): its other
// members into v, and the secret, zero when the answer has none.
func ReadSecret(b []byte, v any) (keyward.Token, error) {
	if err := json.Unmarshal(b, v); err != nil {
		return keyward.Token{}, err
	}
	var s struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Secret == "" {
		return keyward.Token{}, err
	}
	return keyward.TokenFromString(s.Secret), nil
}

// KeyRef is the key a revealed secret belongs to: GET /v1/keys/{id}/secret
// answers it with the secret (WithSecret).
type KeyRef struct {
	ID string `json:"id"`
}

// Whoami is the answer of GET /v1/whoami: the calling key (Key for an API
// key, ManagementKey for a management key; the other is nil) and what it
// may do.
type Whoami struct {
	Key             *Key
	ManagementKey   *ManagementKey
	EffectiveScopes []keyward.Scope
}

// WhoamiOf returns the answer of whoami for key k with its effective
// scopes.
func WhoamiOf(k *keyward.Key, scopes []keyward.Scope) Whoami {
	w := Whoami{EffectiveScopes: array(scopes)}
	if k.Kind == keyward.KindManagement {
		mk := ManagementKeyOf(k)
		w.ManagementKey = &mk
	} else {
		ak := KeyOf(k)
		w.Key = &ak
	}
	return w
}

// UnmarshalJSON reads the key by its kind.
func (w *Whoami) UnmarshalJSON(b []byte) error {
	var in struct {
		Key             json.RawMessage `json:"key"`
		EffectiveScopes []keyward.Scope `json:"effective_scopes"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	var kind struct {
		Kind keyward.KeyKind `json:"kind"`
	}
	if err := json.Unmarshal(in.Key, &kind); err != nil {
		return err
	}
	*w = Whoami{EffectiveScopes: in.EffectiveScopes}
	if kind.Kind == keyward.KindManagement {
		w.ManagementKey = new(ManagementKey)
		return json.Unmarshal(in.Key, w.ManagementKey)
	}
	w.Key = new(Key)
	return json.Unmarshal(in.Key, w.Key)
}

// MarshalJSON writes the answer's shape: {"key", "effective_scopes"}.
func (w Whoami) MarshalJSON() ([]byte, error) {
	var k any = w.Key
	if w.ManagementKey != nil {
		k = w.ManagementKey
	}
	return marshal(struct {
		Key             any             `json:"key"`
		EffectiveScopes []keyward.Scope `json:"effective_scopes"`
	}{k, w.EffectiveScopes})
}

// VerifyResult is the answer of POST /v1/keys/verify. For NOT_FOUND only
// Valid and Code are set (and sent).
type VerifyResult struct {
	Valid            bool                       `json:"valid"`
	Code             keyward.VerifyCode         `json:"code"`
	KeyID            string                     `json:"key_id"`
	AccountID        string                     `json:"account_id"`
	Name             string                     `json:"name"`
	Owner            keyward.Owner              `json:"owner"`
	ProjectID        *string                    `json:"project_id"`
	PermissionMode   keyward.PermissionMode     `json:"permission_mode"`
	Scopes           []keyward.Scope            `json:"scopes"` // effective scopes
	Roles            []string                   `json:"roles"`
	ExpiresAt        *time.Time                 `json:"expires_at"`
	Metadata         map[string]json.RawMessage `json:"metadata"`
	CreditsRemaining *int64                     `json:"credits_remaining"` // nil: no credit budget
	RateLimit        *RateLimitState            `json:"rate_limit"`        // nil: no rate limit
}

// RateLimitState is a key's rate limit as a verification left it.
type RateLimitState struct {
	Limit     int64     `json:"limit"`
	Remaining int64     `json:"remaining"`
	ResetAt   time.Time `json:"reset_at"`
}

// VerifyResultOf returns the wire form of a verification. The metadata of
// a verification is a JSON object (keyward.VerifyResult); one that is
// empty or does not parse is sent as {}.
func VerifyResultOf(r *keyward.VerifyResult) VerifyResult {
	if r.Code == keyward.VerifyNotFound {
		return VerifyResult{Valid: r.Valid, Code: r.Code}
	}
	v := VerifyResult{Valid: r.Valid, Code: r.Code, KeyID: r.KeyID, AccountID: r.AccountID, Name: r.Name, Owner: r.Owner,
		PermissionMode: r.PermissionMode, Scopes: r.Scopes, Roles: r.Roles}
	if r.ProjectID != "" {
		v.ProjectID = &r.ProjectID
	}
	if r.HasExpiry {
		v.ExpiresAt = &r.ExpiresAt
	}
	if r.HasCredits {
		v.CreditsRemaining = &r.CreditsRemaining
	}
	if r.HasRateLimit {
		v.RateLimit = &RateLimitState{Limit: r.RateLimit.Limit, Remaining: r.RateLimit.Remaining, ResetAt: r.RateLimit.ResetAt}
	}
	v.Scopes, v.Roles = array(v.Scopes), array(v.Roles)
	if len(r.Metadata) > 0 && json.Unmarshal(r.Metadata, &v.Metadata) != nil {
		v.Metadata = nil
	}
	if v.Metadata == nil {
		v.Metadata = map[string]json.RawMessage{}
	}
	return v
}

// MarshalJSON writes the result as the server sends it: only valid and
// code for an unknown key.
func (r VerifyResult) MarshalJSON() ([]byte, error) {
	type plain VerifyResult
	if r.Code == keyward.VerifyNotFound {
		return marshal(struct {
			Valid bool               `json:"valid"`
			Code  keyward.VerifyCode `json:"code"`
		}{r.Valid, r.Code})
	}
	return marshal(plain(r))
}

// RotateRequest is the body of a rotation (POST /v1/keys/{id}/rotate).
type RotateRequest struct {
	// GracePeriodSeconds keeps the old secret valid that long (0–604800;
	// absent or null: 0, which ends every older secret at once).
	GracePeriodSeconds keyward.Field[int64] `json:"grace_period_seconds"`
	// ExpiresAt gives the rotated key a new expiry; absent or null keeps it.
	ExpiresAt keyward.Field[time.Time] `json:"expires_at"`
}

// Grace returns the grace period the rotation asks for (absent or null:
// 0). A number of seconds beyond the bounds stays beyond them, without
// overflowing, for the service to refuse.
func (r *RotateRequest) Grace() time.Duration {
	if !r.GracePeriodSeconds.HasValue() {
		return 0
	}
	limit := int64(keyward.MaxGracePeriod / time.Second)
	return time.Duration(min(max(r.GracePeriodSeconds.Value, -1), limit+1)) * time.Second
}

// CreditsChange is the body of POST /v1/keys/{id}/credits: exactly one of
// Set (0 or more: a new balance), Add or Subtract (1 or more).
type CreditsChange struct {
	Set      keyward.Field[int64] `json:"set"`
	Add      keyward.Field[int64] `json:"add"`
	Subtract keyward.Field[int64] `json:"subtract"`
}

// Op returns the operation the body sends, for the service to check
// (keyward.CreditsOp.Check): without exactly one member, an operation
// without an action; a null amount is -1, which no action allows.
func (c *CreditsChange) Op() keyward.CreditsOp {
	var op keyward.CreditsOp
	n := 0
	for _, m := range [...]struct {
		action keyward.CreditsAction
		amount keyward.Field[int64]
	}{{keyward.CreditsSet, c.Set}, {keyward.CreditsAdd, c.Add}, {keyward.CreditsSubtract, c.Subtract}} {
		if !m.amount.Set {
			continue
		}
		n++
		op = keyward.CreditsOp{Action: m.action, Amount: m.amount.Value}
		if m.amount.Null {
			op.Amount = -1
		}
	}
	if n != 1 {
		return keyward.CreditsOp{}
	}
	return op
}

// ImportRequest is the body of POST /v1/keys/import: 1–1000 keys.
type ImportRequest struct {
	Keys []keyward.ImportItem `json:"keys"`
}

package unkey

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/service"
)

// defaultKeyName is the name of a key created without one: keyward keys
// always have a name, Unkey's may not.
const defaultKeyName = "unkey key"

// maxByteLength is the randomness a keyward token carries, in whole
// bytes (30 base62 characters, about 178 bits): a byteLength up to it is
// met or exceeded, a larger one cannot be honoured.
const maxByteLength = 22

// minByteLength is Unkey's least byteLength.
const minByteLength = 16

// keyRequest holds the members Unkey's createKey, updateKey and
// migrateKeys share.
type keyRequest struct {
	Name        keyward.Field[string]                     `json:"name"`
	ExternalID  keyward.Field[string]                     `json:"externalId"`
	Meta        keyward.Field[map[string]json.RawMessage] `json:"meta"`
	Roles       keyward.Field[[]string]                   `json:"roles"`
	Permissions keyward.Field[[]string]                   `json:"permissions"`
	Expires     keyward.Field[int64]                      `json:"expires"`
	Credits     keyward.Field[creditsRequest]             `json:"credits"`
	Ratelimits  keyward.Field[[]ratelimitRequest]         `json:"ratelimits"`
	Enabled     keyward.Field[bool]                       `json:"enabled"`
}

// creditsRequest is Unkey's KeyCreditsData (UpdateKeyCreditsData on
// update): remaining null is unlimited.
type creditsRequest struct {
	Remaining keyward.Field[int64]         `json:"remaining"`
	Refill    keyward.Field[refillRequest] `json:"refill"`
}

type refillRequest struct {
	Interval  keyward.Field[string] `json:"interval"`
	Amount    keyward.Field[int64]  `json:"amount"`
	RefillDay keyward.Field[int64]  `json:"refillDay"`
}

type createKeyRequest struct {
	APIID       keyward.Field[string] `json:"apiId"`
	Prefix      keyward.Field[string] `json:"prefix"`
	ByteLength  keyward.Field[int64]  `json:"byteLength"`
	Recoverable keyward.Field[bool]   `json:"recoverable"`
	keyRequest
}

// required reads a required string member.
func required(name string, f keyward.Field[string]) (string, error) {
	if !f.HasValue() || f.Value == "" {
		return "", badInput(name, "is required")
	}
	return f.Value, nil
}

// requiredName reads a required member that becomes a keyward name (a
// catalog resource id, a role name): valid says whether it is one; what
// says what such names are, before their grammar, for the message.
func requiredName(member string, f keyward.Field[string], valid func(string) bool, what string) (string, error) {
	v, err := required(member, f)
	if err == nil && !valid(v) {
		err = badInput(member, "cannot be expressed: %s[a-z][a-z0-9_.-]* and at most 64 characters", what)
	}
	return v, err
}

// decode reads the body strictly into dst: malformed JSON, unknown
// members and wrong types are 400s naming the member.
func decode(r *http.Request, dst any) error {
	return api.Decode(r, dst, true)
}

// project returns the project an apiId names, or Unkey's api not found.
func (s *server) project(ctx context.Context, a *keyward.Actor, apiIDValue string) (*keyward.Project, error) {
	pid, ok := projectID(apiIDValue)
	if !ok {
		return nil, notFound("api", typeAPINotFound, apiIDValue)
	}
	p, err := s.Svc.GetProject(ctx, a, pid)
	if err != nil {
		return nil, withType(err, typeAPINotFound, "")
	}
	return p, nil
}

// fields translates the shared members into keyward's KeyFields. cur is
// the key being updated (nil on create); x the scope expansion, read when
// permissions are sent; made collects the identities created for the
// keys (on create only), which the caller undoes if the keys are refused.
func (s *server) fields(ctx context.Context, a *keyward.Actor, in *keyRequest, cur *keyward.Key, x *service.ScopeExpansion, made *[]string) (*keyward.KeyFields, error) {
	out := &keyward.KeyFields{}
	switch {
	case in.Name.HasValue():
		out.Name = in.Name
	case cur == nil || in.Name.Null:
		out.Name = keyward.Some(defaultKeyName)
	}
	if in.Meta.Set {
		out.Metadata = in.Meta
		if in.Meta.HasValue() && len(in.Meta.Value) == 0 {
			out.Metadata = keyward.Null[map[string]json.RawMessage]()
		}
	}
	switch {
	case in.Expires.Null:
		if cur != nil {
			out.ClearExpiresAt = keyward.Some(true)
		}
	case in.Expires.Set:
		out.ExpiresAt = keyward.Some(time.UnixMilli(in.Expires.Value).UTC())
	}
	if in.Enabled.HasValue() {
		out.Status = keyward.Some(keyward.StatusActive)
		if !in.Enabled.Value {
			out.Status = keyward.Some(keyward.StatusDisabled)
		}
	} else if in.Enabled.Null {
		return nil, badInput("enabled", "must be true or false")
	}
	if in.Credits.Set {
		c, err := creditsFields(in.Credits, cur)
		if err != nil {
			return nil, err
		}
		out.Credits = c
	}
	if in.Ratelimits.Set {
		rl, err := rateLimitFields("ratelimits", in.Ratelimits)
		if err != nil {
			return nil, err
		}
		out.RateLimit = rl
	}
	if in.Permissions.Set || in.Roles.Set {
		out.PermissionMode = keyward.Some(keyward.ModeRestricted)
		if in.Permissions.Null {
			return nil, badInput("permissions", "must be an array of permission slugs")
		}
		if in.Roles.Null {
			return nil, badInput("roles", "must be an array of role names")
		}
		if in.Permissions.Set {
			sc, err := scopesOf("permissions", in.Permissions.Value, x.Catalog)
			if err != nil {
				return nil, err
			}
			out.Scopes = keyward.Some(sc)
		}
		if in.Roles.Set {
			roles := in.Roles.Value
			if roles == nil {
				roles = []string{}
			}
			out.Roles = keyward.Some(roles)
		}
	}
	if in.ExternalID.Set {
		owner := keyward.Owner{Type: keyward.OwnerAccount}
		if in.ExternalID.HasValue() && in.ExternalID.Value != "" {
			var sa *keyward.ServiceAccount
			var err error
			if cur == nil {
				sa, err = s.identityFor(ctx, a, in.ExternalID.Value, made)
			} else {
				sa, err = s.findIdentity(ctx, a, in.ExternalID.Value)
			}
			if err != nil {
				return nil, err
			}
			if sa != nil {
				owner = keyward.Owner{Type: keyward.OwnerServiceAccount, ID: sa.ID}
			}
		}
		switch {
		case cur == nil:
			out.Owner = keyward.Some(owner)
		case cur.Owner != owner:
			return nil, badInput("externalId", "cannot be changed: a keyward key's owner (its identity) is set at creation; create a new key")
		}
	}
	return out, nil
}

// creditsFields reads Unkey's credits: remaining null (or the member null)
// is unlimited; a refill is daily (every 86400 seconds) with an amount;
// monthly refills have no keyward equivalent. On update, a refill left
// out keeps the key's.
func creditsFields(f keyward.Field[creditsRequest], cur *keyward.Key) (keyward.Field[keyward.Credits], error) {
	if f.Null || !f.Value.Remaining.HasValue() {
		if f.HasValue() && f.Value.Refill.HasValue() {
			return keyward.Field[keyward.Credits]{}, badInput("credits.refill", "needs credits.remaining: a refill refills a limited key")
		}
		if f.HasValue() && !f.Value.Remaining.Set && cur != nil && cur.Credits != nil && f.Value.Refill.Null {
			c := *cur.Credits
			c.Refill = nil
			return keyward.Some(c), nil
		}
		return keyward.Null[keyward.Credits](), nil
	}
	c := keyward.Credits{Remaining: f.Value.Remaining.Value}
	switch rf := f.Value.Refill; {
	case rf.HasValue():
		r, err := refillOf(rf.Value)
		if err != nil {
			return keyward.Field[keyward.Credits]{}, err
		}
		c.Refill = r
	case !rf.Set && cur != nil && cur.Credits != nil:
		c.Refill = cur.Credits.Refill
	}
	return keyward.Some(c), nil
}

func refillOf(in refillRequest) (*keyward.Refill, error) {
	switch {
	case !in.Interval.HasValue():
		return nil, badInput("credits.refill.interval", "is required: daily")
	case in.Interval.Value == intervalMonthly:
		return nil, badInput("credits.refill.interval", "monthly refills cannot be expressed: keyward refills every fixed interval; use daily")
	case in.Interval.Value != intervalDaily:
		return nil, badInput("credits.refill.interval", "must be daily or monthly")
	case in.RefillDay.Set:
		return nil, badInput("credits.refill.refillDay", "applies to monthly refills only, which keyward cannot express")
	case !in.Amount.HasValue():
		return nil, badInput("credits.refill.amount", "is required")
	}
	return &keyward.Refill{Amount: in.Amount.Value, Interval: daySeconds}, nil
}

// rateLimitFields reads Unkey's named rate limits as keyward's one limit
// per key: at most one, applied to every verification (autoApply: true),
// its duration whole seconds. An empty list removes the limit.
func rateLimitFields(field string, f keyward.Field[[]ratelimitRequest]) (keyward.Field[keyward.RateLimit], error) {
	switch {
	case f.Null || len(f.Value) == 0:
		return keyward.Null[keyward.RateLimit](), nil
	case len(f.Value) > 1:
		return keyward.Field[keyward.RateLimit]{}, badInput(field, "keyward keys have one rate limit: send at most one")
	}
	in, at := f.Value[0], field+"[0]"
	switch {
	case !in.Name.HasValue() || in.Name.Value == "":
		return keyward.Field[keyward.RateLimit]{}, badInput(at+".name", "is required")
	case !in.Limit.HasValue():
		return keyward.Field[keyward.RateLimit]{}, badInput(at+".limit", "is required")
	case !in.Duration.HasValue():
		return keyward.Field[keyward.RateLimit]{}, badInput(at+".duration", "is required")
	case in.Duration.Value < 1000 || in.Duration.Value%1000 != 0:
		return keyward.Field[keyward.RateLimit]{}, badInput(at+".duration", "must be whole seconds in milliseconds (a multiple of 1000, at least 1000)")
	case !in.AutoApply.HasValue() || !in.AutoApply.Value:
		return keyward.Field[keyward.RateLimit]{}, badInput(at+".autoApply", "must be true: keyward applies a key's rate limit at every verification")
	}
	return keyward.Some(keyward.RateLimit{Limit: in.Limit.Value, Window: in.Duration.Value / 1000}), nil
}

// expansion reads the account's catalog and roles (keys:read or
// keys:write).
func (s *server) expansion(ctx context.Context, a *keyward.Actor) (*service.ScopeExpansion, error) {
	return s.Svc.ScopeExpansion(ctx, a)
}

// expanded reads the object a procedure names, with read (apiKey,
// project), and the scope expansion its answer or the fields of the keys
// it makes need.
func expanded[T any](s *server, ctx context.Context, a *keyward.Actor, id string, read func(context.Context, *keyward.Actor, string) (T, error)) (T, *service.ScopeExpansion, error) {
	v, err := read(ctx, a, id)
	if err != nil {
		return v, nil, err
	}
	x, err := s.expansion(ctx, a)
	return v, x, err
}

// view renders a key with its identity (when the root key may read
// members: Unkey's identity is a service account).
func (s *server) view(ctx context.Context, a *keyward.Actor, k *keyward.Key, x *service.ScopeExpansion) keyData {
	return keyView(k, x, s.identityOfKey(ctx, a, k))
}

// identityOfKey is the identity a key belongs to, nil when it has none
// or the root key cannot read service accounts.
func (s *server) identityOfKey(ctx context.Context, a *keyward.Actor, k *keyward.Key) *identityData {
	if k.Owner.Type != keyward.OwnerServiceAccount {
		return nil
	}
	sa, err := s.Svc.GetServiceAccount(context.WithoutCancel(ctx), a, k.Owner.ID)
	if err != nil {
		return nil
	}
	d := identityOf(sa)
	return &d
}

// apiKey reads a key the procedure names: an API key of the account that
// is not revoked (Unkey's deleted keys are gone), else key not found.
func (s *server) apiKey(ctx context.Context, a *keyward.Actor, id string) (*keyward.Key, error) {
	if !keyward.ValidID(keyward.PrefixKey, id) {
		return nil, notFound("key", typeKeyNotFound, id)
	}
	k, err := s.Svc.GetKey(ctx, a, keyward.KindAPI, id)
	if err != nil {
		return nil, withType(err, typeKeyNotFound, "")
	}
	if k.Status == keyward.StatusRevoked {
		return nil, notFound("key", typeKeyNotFound, id)
	}
	return k, nil
}

// createKey serves keys.createKey: a restricted API key of the api's
// project holding the permissions and roles sent.
func (s *server) createKey(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *createKeyRequest) error {
	apiIDValue, err := required("apiId", in.APIID)
	if err != nil {
		return err
	}
	if in.ByteLength.Set && (in.ByteLength.Null || in.ByteLength.Value < minByteLength || in.ByteLength.Value > maxByteLength) {
		return badInput("byteLength", "must be from %d to %d: keyward tokens carry %d bytes of randomness", minByteLength, maxByteLength, maxByteLength)
	}
	p, x, err := expanded(s, r.Context(), a, apiIDValue, s.project)
	if err != nil {
		return err
	}
	var made []string
	kf, err := s.fields(r.Context(), a, &in.keyRequest, nil, x, &made)
	if err != nil {
		s.undo(r.Context(), a, made)
		return renamed(err)
	}
	kf.ProjectID = keyward.Some(p.ID)
	kf.PermissionMode = keyward.Some(keyward.ModeRestricted)
	if !kf.Scopes.Set {
		kf.Scopes = keyward.Some([]keyward.Scope{})
	}
	if in.Prefix.Set {
		kf.Prefix = in.Prefix
	}
	if in.Recoverable.Set {
		kf.Recoverable = in.Recoverable
	}
	k, tok, err := s.Svc.CreateKey(r.Context(), a, keyward.KindAPI, kf)
	if err != nil {
		s.undo(r.Context(), a, made)
		return renamed(err)
	}
	return reply(w, r, map[string]string{"keyId": k.ID, "key": tok.Reveal()})
}

type getKeyRequest struct {
	keyIDMember
	Decrypt keyward.Field[bool] `json:"decrypt"`
}

// getKey serves keys.getKey; decrypt reveals a recoverable key's token
// (keys:reveal).
func (s *server) getKey(w http.ResponseWriter, r *http.Request, a *keyward.Actor, id string, in *getKeyRequest) error {
	k, x, err := expanded(s, r.Context(), a, id, s.apiKey)
	if err != nil {
		return err
	}
	d := s.view(r.Context(), a, k, x)
	if in.Decrypt.HasValue() && in.Decrypt.Value && k.Recoverable {
		_, tok, err := s.Svc.RevealSecret(r.Context(), a, k.ID)
		if err != nil {
			return err
		}
		d.Plaintext = tok.Reveal()
	}
	return reply(w, r, d)
}

// Unkey's verification codes.
const (
	codeValid        = "VALID"
	codeNotFound     = "NOT_FOUND"
	codeForbidden    = "FORBIDDEN"
	codeInsufficient = "INSUFFICIENT_PERMISSIONS"
	codeUsage        = "USAGE_EXCEEDED"
	codeRateLimited  = "RATE_LIMITED"
	codeDisabled     = "DISABLED"
	codeExpired      = "EXPIRED"
)

// verifyCode is keyward's verification outcome in Unkey's words: a
// revoked key and an old secret past its grace are gone (NOT_FOUND), a
// disabled owner disables its keys, an address outside the allowlist or
// another project is FORBIDDEN.
func verifyCode(c keyward.VerifyCode) string {
	switch c {
	case keyward.VerifyValid:
		return codeValid
	case keyward.VerifyDisabled, keyward.VerifyOwnerInactive:
		return codeDisabled
	case keyward.VerifyExpired:
		return codeExpired
	case keyward.VerifyForbiddenIP, keyward.VerifyWrongProject:
		return codeForbidden
	case keyward.VerifyInsufficientPermissions:
		return codeInsufficient
	case keyward.VerifyRateLimited:
		return codeRateLimited
	case keyward.VerifyUsageExceeded:
		return codeUsage
	}
	return codeNotFound
}

type verifyRequest struct {
	Key         keyward.Field[string]          `json:"key"`
	Tags        keyward.Field[[]string]        `json:"tags"`
	Permissions keyward.Field[string]          `json:"permissions"`
	Credits     keyward.Field[verifyCredits]   `json:"credits"`
	Ratelimits  keyward.Field[json.RawMessage] `json:"ratelimits"`
	MigrationID keyward.Field[string]          `json:"migrationId"`
}

type verifyCredits struct {
	Cost keyward.Field[int64] `json:"cost"`
}

// verifyData is Unkey's V2KeysVerifyKeyResponseData.
type verifyData struct {
	Valid       bool                       `json:"valid"`
	Code        string                     `json:"code"`
	KeyID       string                     `json:"keyId,omitempty"`
	Name        string                     `json:"name,omitempty"`
	Meta        map[string]json.RawMessage `json:"meta,omitempty"`
	Expires     *int64                     `json:"expires,omitempty"`
	Credits     *int64                     `json:"credits,omitempty"`
	Enabled     *bool                      `json:"enabled,omitempty"`
	Permissions []string                   `json:"permissions,omitempty"`
	Roles       []string                   `json:"roles,omitempty"`
	Identity    *identityData              `json:"identity,omitempty"`
	Ratelimits  []verifyRatelimit          `json:"ratelimits,omitempty"`
}

// verifyRatelimit is Unkey's VerifyKeyRatelimitData.
type verifyRatelimit struct {
	Exceeded  bool   `json:"exceeded"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Duration  int64  `json:"duration"`
	Reset     int64  `json:"reset"`
	Remaining int64  `json:"remaining"`
	AutoApply bool   `json:"autoApply"`
}

// maxTags bounds verifyKey's tags (analytics only: keyward records none).
const (
	maxTags   = 10
	maxTagLen = 128
)

// verifyKey serves keys.verifyKey: every outcome is a 200 with Unkey's
// code; a malformed request or permission query is a 400.
func (s *server) verifyKey(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *verifyRequest) error {
	tok, err := required("key", in.Key)
	if err != nil {
		return err
	}
	if in.Tags.Set {
		if in.Tags.Null || len(in.Tags.Value) > maxTags {
			return badInput("tags", "must be an array of at most %d strings", maxTags)
		}
		for _, t := range in.Tags.Value {
			if t == "" || len(t) > maxTagLen {
				return badInput("tags", "each tag must be 1 to %d characters", maxTagLen)
			}
		}
	}
	if in.Ratelimits.Set && string(in.Ratelimits.Value) != "[]" && !in.Ratelimits.Null {
		return badInput("ratelimits", "cannot be expressed: keyward applies a key's one rate limit at every verification; send no ratelimits")
	}
	if in.MigrationID.Null {
		return badInput("migrationId", "must be a string")
	}
	req := keyward.VerifyRequest{Key: keyward.Some(keyward.TokenFromString(tok))}
	if in.Permissions.Set {
		if in.Permissions.Null {
			return badInput("permissions", "must be a permission query string")
		}
		q, err := translateQuery(in.Permissions.Value)
		if err != nil {
			return err
		}
		req.Permissions = &q
	}
	if in.Credits.Set {
		if !in.Credits.HasValue() || !in.Credits.Value.Cost.HasValue() {
			return badInput("credits.cost", "is required: an integer")
		}
		cost := in.Credits.Value.Cost.Value
		req.Cost = &cost
	}
	p, err := req.Prepare()
	if err != nil {
		return mapFields(err, renamer("cost", "credits.cost"))
	}
	res, err := s.Svc.VerifyToken(r.Context(), a, tok, p)
	if err != nil {
		return err
	}
	return reply(w, r, s.verifyView(r.Context(), a, &res))
}

// verifyView renders a verification result. A key that was not found
// shows only valid and code.
func (s *server) verifyView(ctx context.Context, a *keyward.Actor, res *keyward.VerifyResult) verifyData {
	d := verifyData{Valid: res.Valid, Code: verifyCode(res.Code)}
	if res.KeyID == "" || d.Code == codeNotFound {
		return d
	}
	enabled := d.Code != codeDisabled
	d.KeyID, d.Name, d.Enabled, d.Roles = res.KeyID, res.Name, &enabled, res.Roles
	if len(res.Metadata) > 0 {
		var m map[string]json.RawMessage
		if json.Unmarshal(res.Metadata, &m) == nil && len(m) > 0 {
			d.Meta = m
		}
	}
	if res.HasExpiry {
		d.Expires = msPtr(&res.ExpiresAt)
	}
	if res.HasCredits {
		c := res.CreditsRemaining
		d.Credits = &c
	}
	d.Permissions = slugsOf(res.Scopes)
	if res.Owner.Type == keyward.OwnerServiceAccount {
		if sa, err := s.Svc.VerifiedOwner(context.WithoutCancel(ctx), a, res); err == nil {
			id := identityOf(sa)
			d.Identity = &id
		}
	}
	if res.HasRateLimit {
		rl := res.RateLimit
		d.Ratelimits = []verifyRatelimit{{
			Exceeded: res.Code == keyward.VerifyRateLimited, ID: ratelimitPref + res.KeyID[len(keyward.PrefixKey):],
			Name: defaultLimitName, Limit: rl.Limit, Duration: rl.Window * 1000, Reset: ms(rl.ResetAt),
			Remaining: rl.Remaining, AutoApply: true,
		}}
	}
	return d
}

package keyward

import (
	"encoding/json"
	"net/netip"
	"time"
)

// VerifyCode is the outcome of a verification (docs/api.md).
type VerifyCode string

// Verification codes, in the order the checks run.
const (
	VerifyNotFound                VerifyCode = "NOT_FOUND"
	VerifyRevoked                 VerifyCode = "REVOKED"
	VerifyDisabled                VerifyCode = "DISABLED"
	VerifyExpired                 VerifyCode = "EXPIRED"
	VerifyRotated                 VerifyCode = "ROTATED"
	VerifyOwnerInactive           VerifyCode = "OWNER_INACTIVE"
	VerifyForbiddenIP             VerifyCode = "FORBIDDEN_IP"
	VerifyWrongProject            VerifyCode = "WRONG_PROJECT"
	VerifyInsufficientPermissions VerifyCode = "INSUFFICIENT_PERMISSIONS"
	VerifyRateLimited             VerifyCode = "RATE_LIMITED"
	VerifyUsageExceeded           VerifyCode = "USAGE_EXCEEDED"
	VerifyValid                   VerifyCode = "VALID"
)

// MaxVerifyCost bounds the cost a verification may ask for.
const MaxVerifyCost = 1_000_000

// VerifyRequest is the body of POST /v1/keys/verify.
type VerifyRequest struct {
	Key         Field[Token] `json:"key"`
	Permissions *string      `json:"permissions"`
	ProjectID   *string      `json:"project_id"`
	IP          *string      `json:"ip"`
	Cost        *int64       `json:"cost"`
}

// PreparedVerify is what a verification checks besides the token, validated
// (the token itself travels beside it, as its request carried it, so the
// hot path copies nothing).
type PreparedVerify struct {
	Query     *Query // nil: no permission check
	ProjectID string // "": no project given
	IP        netip.Addr
	HasIP     bool
	Cost      int64
}

// Prepare validates the request: a missing key, a malformed permission
// query, IP or cost is a 422 (not a verification result). A malformed or
// empty token is not an error: it verifies as NOT_FOUND.
func (r *VerifyRequest) Prepare() (*PreparedVerify, error) { return r.PrepareWith(ParseQuery) }

// PrepareWith is Prepare with the permission query parsed by parse (a
// caller may cache parsed queries).
func (r *VerifyRequest) PrepareWith(parse func(string) (*Query, error)) (*PreparedVerify, error) {
	p := &PreparedVerify{Cost: 1}
	v := &validator{}
	if !r.Key.HasValue() {
		v.add("key", "is required: the token to verify")
	}
	if r.Permissions != nil {
		q, err := parse(*r.Permissions)
		if err != nil {
			return nil, err
		}
		p.Query = q
	}
	if r.ProjectID != nil {
		if !ValidID(PrefixProject, *r.ProjectID) {
			v.add("project_id", "is not a project id")
		}
		p.ProjectID = *r.ProjectID
	}
	if r.IP != nil {
		a, err := netip.ParseAddr(*r.IP)
		if err != nil {
			v.add("ip", "is not an IP address")
		}
		p.IP, p.HasIP = a.Unmap(), true
	}
	if r.Cost != nil {
		if *r.Cost < 0 || *r.Cost > MaxVerifyCost {
			v.add("cost", "must be between 0 and %d", MaxVerifyCost)
		}
		p.Cost = *r.Cost
	}
	if err := v.result(); err != nil {
		return nil, err
	}
	return p, nil
}

// CompiledKey is what the ordered checks need of a key, prepared once so a
// verification on a cache hit parses and allocates nothing.
type CompiledKey struct {
	Status           KeyStatus
	ExpiresAt        int64 // Unix ms; 0 = never
	SecretValidUntil int64 // Unix ms; 0 = the current secret
	OwnerActive      bool
	Allowlist        []netip.Prefix // nil = any address
	ProjectID        string         // "" = all projects
	Grants           Checker
}

// CompileKey prepares the checks of a key found by one of its secrets.
func CompileKey(m *KeyMatch, ownerActive bool, grants Checker) *CompiledKey {
	k := m.Key
	c := &CompiledKey{Status: k.Status, OwnerActive: ownerActive, Grants: grants}
	if k.ExpiresAt != nil {
		c.ExpiresAt = k.ExpiresAt.UnixMilli()
	}
	if m.ValidUntil != nil {
		c.SecretValidUntil = m.ValidUntil.UnixMilli()
	}
	if k.IPAllowlist != nil {
		c.Allowlist = make([]netip.Prefix, 0, len(k.IPAllowlist))
		for _, s := range k.IPAllowlist {
			if p, err := ParseAllowEntry(s); err == nil {
				c.Allowlist = append(c.Allowlist, p)
			}
		}
	}
	if k.ProjectID != nil {
		c.ProjectID = *k.ProjectID
	}
	return c
}

// Usable reports whether the credential may be used at now (Unix ms): the
// key active and not expired, the secret not past its rotation grace
// period. It is the one rule for every credential, API or management key:
// the first checks of a verification (Check), and authentication.
func (c *CompiledKey) Usable(now int64) bool { return c.credential(now) == VerifyValid }

// credential returns the first credential check that fails at now (Unix
// ms), or VALID. A status other than active and revoked is DISABLED: an
// unknown status fails closed.
func (c *CompiledKey) credential(now int64) VerifyCode {
	switch {
	case c.Status == StatusRevoked:
		return VerifyRevoked
	case c.Status != StatusActive:
		return VerifyDisabled
	case c.ExpiresAt != 0 && now >= c.ExpiresAt:
		return VerifyExpired
	case c.SecretValidUntil != 0 && now >= c.SecretValidUntil:
		return VerifyRotated
	}
	return VerifyValid
}

// Check runs the verification checks after NOT_FOUND, in order, at now (Unix
// ms), and returns the first that fails, or VALID. Rate limits and credits
// are applied by the caller after a VALID answer here.
func (c *CompiledKey) Check(req *PreparedVerify, now int64) VerifyCode {
	if code := c.credential(now); code != VerifyValid {
		return code
	}
	switch {
	case !c.OwnerActive:
		return VerifyOwnerInactive
	case !ipAllowed(c.Allowlist, req.IP, req.HasIP):
		return VerifyForbiddenIP
	case req.ProjectID != "" && c.ProjectID != "" && c.ProjectID != req.ProjectID:
		return VerifyWrongProject
	case req.Query != nil && !req.Query.Eval(c.Grants):
		return VerifyInsufficientPermissions
	}
	return VerifyValid
}

// IPAllowed reports whether addr may use a key with the given allowlist. A
// key without an allowlist allows any address; a key with one fails closed
// when the caller does not say which address the request came from.
func IPAllowed(allowlist []string, addr netip.Addr, hasAddr bool) bool {
	if allowlist == nil {
		return true
	}
	prefixes := make([]netip.Prefix, 0, len(allowlist))
	for _, s := range allowlist {
		if p, err := ParseAllowEntry(s); err == nil {
			prefixes = append(prefixes, p)
		}
	}
	return ipAllowed(prefixes, addr, hasAddr)
}

// AllowlistWithin reports whether every address the allowlist inner lets
// through, outer lets through too: each of inner's prefixes lies inside
// one of outer's. A nil list allows every address, so a nil inner is
// within only a nil outer.
func AllowlistWithin(inner, outer []string) bool {
	if outer == nil {
		return true
	}
	if inner == nil {
		return false
	}
	for _, s := range inner {
		p, err := ParseAllowEntry(s)
		if err != nil {
			return false
		}
		within := false
		for _, o := range outer {
			q, err := ParseAllowEntry(o)
			if err == nil && q.Addr().Is4() == p.Addr().Is4() && q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
				within = true
				break
			}
		}
		if !within {
			return false
		}
	}
	return true
}

func ipAllowed(prefixes []netip.Prefix, addr netip.Addr, hasAddr bool) bool {
	if prefixes == nil {
		return true
	}
	if !hasAddr || !addr.IsValid() {
		return false
	}
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// RateLimitState is a key's rate limit after a verification: how many of
// Limit verifications per Window seconds remain, and when the whole limit
// is available again.
type RateLimitState struct {
	Limit     int64
	Window    int64
	Remaining int64
	ResetAt   time.Time
}

// VerifyResult is the answer of a verification. It is a value that shares
// its slices and metadata with keyward's cache: callers must not modify them.
// For NOT_FOUND only Valid and Code are set.
type VerifyResult struct {
	Valid bool
	Code  VerifyCode

	KeyID          string
	AccountID      string
	Name           string
	Owner          Owner
	ProjectID      string // "" = all projects
	PermissionMode PermissionMode
	Scopes         []Scope  // effective: what the key may do now
	Roles          []string // never nil when the key is known
	ExpiresAt      time.Time
	HasExpiry      bool
	Metadata       json.RawMessage // a JSON object, "{}" when empty

	HasCredits       bool
	CreditsRemaining int64
	HasRateLimit     bool
	RateLimit        RateLimitState
}

package keyward

import (
	"net/netip"
	"time"
)

// VerifyCode is the outcome of a verification (SPEC §7).
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

// PreparedVerify is a validated VerifyRequest.
type PreparedVerify struct {
	Token     Token
	Query     *Query // nil: no permission check
	ProjectID string // "": no project given
	IP        netip.Addr
	HasIP     bool
	Cost      int64
}

// Prepare validates the request: a missing key, a malformed permission
// query, IP or cost is a 422 (not a verification result). A malformed or
// empty token is not an error: it verifies as NOT_FOUND.
func (r *VerifyRequest) Prepare() (*PreparedVerify, error) {
	p := &PreparedVerify{Token: r.Key.Value, Cost: 1}
	v := &validator{}
	if !r.Key.HasValue() {
		v.add("key", "is required: the token to verify")
	}
	if r.Permissions != nil {
		q, err := ParseQuery(*r.Permissions)
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

// CheckInput is what the ordered checks after NOT_FOUND need.
type CheckInput struct {
	Match *KeyMatch
	Now   time.Time
	// OwnerActive is false when the key's owner is a disabled user or
	// service account.
	OwnerActive bool
	// Grants answers permission atoms for the key (bounded by its owner).
	Grants Checker
}

// Check runs the checks of SPEC §7 after NOT_FOUND, in their order, and
// returns the first that fails, or VALID. Rate limits and credits are
// applied by the caller after a VALID answer here.
func Check(req *PreparedVerify, in *CheckInput) VerifyCode {
	k := in.Match.Key
	switch {
	case k.Status == StatusRevoked:
		return VerifyRevoked
	case k.Status == StatusDisabled:
		return VerifyDisabled
	case k.Expired(in.Now):
		return VerifyExpired
	case in.Match.State(in.Now) == SecretRotated:
		return VerifyRotated
	case !in.OwnerActive:
		return VerifyOwnerInactive
	case !IPAllowed(k.IPAllowlist, req.IP, req.HasIP):
		return VerifyForbiddenIP
	case req.ProjectID != "" && k.ProjectID != nil && *k.ProjectID != req.ProjectID:
		return VerifyWrongProject
	case req.Query != nil && !req.Query.Eval(in.Grants):
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
	if !hasAddr || !addr.IsValid() {
		return false
	}
	for _, s := range allowlist {
		if p, err := ParseAllowEntry(s); err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}

// VerifyResult is the answer of a verification.
type VerifyResult struct {
	Valid bool
	Code  VerifyCode
	// Key is nil for NOT_FOUND.
	Key    *Key
	Scopes []Scope // effective
}

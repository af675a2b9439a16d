package keyward

import "time"

// Bounds of rate limits and credits.
const (
	MaxRateLimit      = 1_000_000_000
	MaxRateWindow     = 31 * 24 * 3600 // seconds
	MaxCredits        = 1_000_000_000_000_000
	MaxRefillInterval = 366 * 24 * 3600 // seconds
	DefaultVerifyCost = 1
)

// Interval returns GCRA's emission interval of the limit in milliseconds:
// the window shared out among the requests it allows (at least 1; 0 for a
// limit that is not set).
func (rl RateLimit) Interval() int64 {
	if rl.Limit <= 0 || rl.Window <= 0 {
		return 0
	}
	return max(rl.Window*1000/rl.Limit, 1)
}

// Take applies one verification to a generic cell rate limiter (GCRA) for
// this rate limit: tat is the theoretical arrival time stored for the key
// (Unix ms; 0 for none), now the time of the request. It returns whether
// the request is allowed, the new tat to store, how many requests remain in
// the window, and when the whole limit is available again. GCRA spreads the
// limit over the window exactly (a sliding window with O(1) state): Limit
// requests at once are allowed, then one every Window/Limit.
func (rl RateLimit) Take(tat, now int64) (allowed bool, newTAT, remaining int64, resetAt int64) {
	window := rl.Window * 1000
	if rl.Limit <= 0 || window <= 0 {
		return true, tat, 0, now
	}
	interval := rl.Interval()
	if tat < now {
		tat = now
	}
	next := tat + interval
	if next-now > window {
		// Over the limit: nothing changes.
		return false, tat, 0, tat
	}
	remaining = (window - (next - now)) / interval
	return true, next, remaining, next
}

// CreditPool is the spendable state of a key's credits at a moment.
type CreditPool struct {
	Remaining   int64
	PeriodStart time.Time // start of the current refill period (zero without refill)
	Epoch       int64
}

// At returns the pool at now: when refill periods have passed since the
// pool's period started, remaining is reset to the refill amount (refills
// reset, they do not accumulate) and the period moves to the one holding
// now. A key without refill never changes here.
func (c *Credits) At(pool CreditPool, now time.Time) CreditPool {
	if c.Refill == nil || c.Refill.Interval <= 0 {
		return pool
	}
	period := time.Duration(c.Refill.Interval) * time.Second
	if pool.PeriodStart.IsZero() {
		pool.PeriodStart = now
		return pool
	}
	if now.Before(pool.PeriodStart.Add(period)) {
		return pool
	}
	n := now.Sub(pool.PeriodStart) / period
	pool.PeriodStart = pool.PeriodStart.Add(n * period)
	pool.Remaining = c.Refill.Amount
	return pool
}

// PeriodEnd returns when the pool's refill period ends (zero without refill).
func (c *Credits) PeriodEnd(pool CreditPool) time.Time {
	if c.Refill == nil || c.Refill.Interval <= 0 || pool.PeriodStart.IsZero() {
		return time.Time{}
	}
	return pool.PeriodStart.Add(time.Duration(c.Refill.Interval) * time.Second)
}

// CreditsAction is what a change of a key's credits does (CreditsOp).
type CreditsAction string

const (
	CreditsSet      CreditsAction = "set"      // a new balance
	CreditsAdd      CreditsAction = "add"      // more credits, up to MaxCredits
	CreditsSubtract CreditsAction = "subtract" // fewer credits, down to 0
)

// CreditsOp is a change of a key's credits made by a person rather than
// by verifications (POST /v1/keys/{id}/credits).
type CreditsOp struct {
	Action CreditsAction
	Amount int64
}

// Check returns a 422 unless op is one of the three actions with an amount
// in bounds: 0–MaxCredits to set, 1–MaxCredits to add or subtract. The
// error names the action (the member of the request that carries it); an
// operation without one names "set" and asks for exactly one.
func (op CreditsOp) Check() error {
	least := int64(1)
	switch op.Action {
	case CreditsSet:
		least = 0
	case CreditsAdd, CreditsSubtract:
	default:
		return InvalidField("set", "send exactly one of set, add or subtract")
	}
	if op.Amount < least || op.Amount > MaxCredits {
		return InvalidField(string(op.Action), "must be an integer from %d to %d", least, MaxCredits)
	}
	return nil
}

// Apply returns pool after op. Setting starts a new pool (a new epoch:
// credits nodes leased from the old one are void); adding and subtracting
// keep it. Subtracting more than the pool holds empties it.
func (op CreditsOp) Apply(pool CreditPool) CreditPool {
	switch op.Action {
	case CreditsSet:
		pool.Remaining, pool.Epoch = op.Amount, pool.Epoch+1
	case CreditsAdd:
		pool.Remaining = min(pool.Remaining+op.Amount, MaxCredits)
	case CreditsSubtract:
		pool.Remaining = max(pool.Remaining-op.Amount, 0)
	}
	return pool
}

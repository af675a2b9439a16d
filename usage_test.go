package keyward

import (
	"testing"
	"time"
)

// TestCreditsOp: Check bounds each action (0 may be set, not added or
// subtracted; no action asks for exactly one) and names it; Apply sets
// with a new epoch, adds up to MaxCredits and subtracts down to 0.
func TestCreditsOp(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	pool := CreditPool{Remaining: 10, PeriodStart: start, Epoch: 3}
	for _, tc := range []struct {
		name  string
		op    CreditsOp
		field string // of the error; "" when valid
		want  CreditPool
	}{
		{"set", CreditsOp{CreditsSet, 4}, "", CreditPool{4, start, 4}},
		{"set zero", CreditsOp{CreditsSet, 0}, "", CreditPool{0, start, 4}},
		{"set too many", CreditsOp{CreditsSet, MaxCredits + 1}, "set", CreditPool{}},
		{"set negative", CreditsOp{CreditsSet, -1}, "set", CreditPool{}},
		{"add", CreditsOp{CreditsAdd, 5}, "", CreditPool{15, start, 3}},
		{"add up to the bound", CreditsOp{CreditsAdd, MaxCredits}, "", CreditPool{MaxCredits, start, 3}},
		{"add zero", CreditsOp{CreditsAdd, 0}, "add", CreditPool{}},
		{"subtract", CreditsOp{CreditsSubtract, 4}, "", CreditPool{6, start, 3}},
		{"subtract more than there is", CreditsOp{CreditsSubtract, 11}, "", CreditPool{0, start, 3}},
		{"subtract zero", CreditsOp{CreditsSubtract, 0}, "subtract", CreditPool{}},
		{"no action", CreditsOp{Amount: 1}, "set", CreditPool{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op.Check()
			if tc.field != "" {
				if e := AsError(err); e.Code != ECodeValidation || len(e.Fields) != 1 || e.Fields[0].Field != tc.field {
					t.Fatalf("Check() = %v, want a validation error naming %s", err, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check() = %v", err)
			}
			if got := tc.op.Apply(pool); got != tc.want {
				t.Errorf("Apply(%+v) = %+v, want %+v", pool, got, tc.want)
			}
		})
	}
}

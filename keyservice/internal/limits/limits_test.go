package limits

import (
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
)

func ptr(v int64) *int64 { return &v }

var perMinute = []contracts.Ratelimit{{Name: "requests", Limit: 2, Duration: 60_000, AutoApply: true}}

// TestDecide checks each outcome in Unkey's order and that a denied
// verification leaves the state exactly as it was.
func TestDecide(t *testing.T) {
	const now int64 = 1_767_225_630_000 // 30 s into a minute window
	window := now - now%60_000
	cases := []struct {
		name        string
		policy      Policy
		state       State
		cost        int64
		wantCode    contracts.VerifyCode
		wantCredits *int64
		wantChanged bool
		wantCount   int64
	}{
		{"valid, no limits, nothing to write", Policy{Enabled: true}, State{}, 1, contracts.VerifyValid, nil, false, 0},
		{"disabled wins over expired", Policy{Enabled: false, Expires: now - 1}, State{}, 1, contracts.VerifyDisabled, nil, false, 0},
		{"expired at the instant", Policy{Enabled: true, Expires: now}, State{}, 1, contracts.VerifyExpired, nil, false, 0},
		{"not yet expired", Policy{Enabled: true, Expires: now + 1}, State{}, 1, contracts.VerifyValid, nil, false, 0},
		{"credits spent", Policy{Enabled: true}, State{Credits: ptr(5)}, 2, contracts.VerifyValid, ptr(3), true, 0},
		{"credits to zero", Policy{Enabled: true}, State{Credits: ptr(1)}, 1, contracts.VerifyValid, ptr(0), true, 0},
		{"credits short", Policy{Enabled: true}, State{Credits: ptr(1)}, 2, contracts.VerifyUsageExceeded, ptr(1), false, 0},
		{"zero cost with no credits", Policy{Enabled: true}, State{Credits: ptr(0)}, 0, contracts.VerifyValid, ptr(0), true, 0},
		{"first in window", Policy{Enabled: true, Ratelimits: perMinute}, State{}, 1, contracts.VerifyValid, nil, true, 1},
		{"last in window", Policy{Enabled: true, Ratelimits: perMinute},
			State{Windows: map[string]Window{"requests": {Start: window, Count: 1}}}, 1, contracts.VerifyValid, nil, true, 2},
		{"over the limit", Policy{Enabled: true, Ratelimits: perMinute},
			State{Windows: map[string]Window{"requests": {Start: window, Count: 2}}}, 1, contracts.VerifyRateLimited, nil, false, 2},
		{"old window resets", Policy{Enabled: true, Ratelimits: perMinute},
			State{Windows: map[string]Window{"requests": {Start: window - 60_000, Count: 2}}}, 1, contracts.VerifyValid, nil, true, 1},
		{"rate limited spends no credits", Policy{Enabled: true, Ratelimits: perMinute},
			State{Credits: ptr(4), Windows: map[string]Window{"requests": {Start: window, Count: 2}}}, 1, contracts.VerifyRateLimited, ptr(4), false, 2},
		{"no credits spends no rate limit", Policy{Enabled: true, Ratelimits: perMinute},
			State{Credits: ptr(0), Windows: map[string]Window{"requests": {Start: window, Count: 1}}}, 1, contracts.VerifyUsageExceeded, ptr(0), false, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, next := Decide(now, tc.policy, tc.state, tc.cost)
			if out.Code != tc.wantCode {
				t.Fatalf("code = %s, want %s", out.Code, tc.wantCode)
			}
			if (out.Credits == nil) != (tc.wantCredits == nil) || (out.Credits != nil && *out.Credits != *tc.wantCredits) {
				t.Errorf("credits = %v, want %v", deref(out.Credits), deref(tc.wantCredits))
			}
			if out.Changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", out.Changed, tc.wantChanged)
			}
			if got := next.Windows["requests"].Count; len(tc.policy.Ratelimits) > 0 && got != tc.wantCount {
				t.Errorf("window count = %d, want %d", got, tc.wantCount)
			}
			if !out.Changed && tc.state.Credits != nil && *next.Credits != *tc.state.Credits {
				t.Errorf("denied verification changed credits to %d", *next.Credits)
			}
		})
	}
}

// TestDecideWindowExact drives one key through three windows and checks that
// exactly Limit verifications are admitted in each, with Remaining counting
// down and Reset at the window's end.
func TestDecideWindowExact(t *testing.T) {
	p := Policy{Enabled: true, Ratelimits: []contracts.Ratelimit{{Name: "r", Limit: 3, Duration: 10_000, AutoApply: true}}}
	var st State
	for w := int64(0); w < 3; w++ {
		admitted := 0
		for i := int64(0); i < 10; i++ {
			now := 1_000_000_000 + w*10_000 + i*900
			out, next := Decide(now, p, st, 1)
			st = next
			if out.Code == contracts.VerifyValid {
				admitted++
				if want := int64(3 - admitted); out.Ratelimits[0].Remaining != want {
					t.Errorf("window %d: remaining %d, want %d", w, out.Ratelimits[0].Remaining, want)
				}
			} else if !out.Ratelimits[0].Exceeded || out.Ratelimits[0].Remaining != 0 {
				t.Errorf("window %d: denial reports %+v", w, out.Ratelimits[0])
			}
			if want := 1_000_000_000 + (w+1)*10_000; out.Ratelimits[0].Reset != want {
				t.Errorf("reset = %d, want %d", out.Ratelimits[0].Reset, want)
			}
		}
		if admitted != 3 {
			t.Errorf("window %d admitted %d, want 3", w, admitted)
		}
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

package limits

import (
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
)

func ptr(v int64) *int64 { return &v }

func perMinute(cost int64, identity bool) []Limit {
	return []Limit{{Name: "requests", Limit: 2, Duration: 60_000, AutoApply: true, Cost: cost, Identity: identity}}
}

// TestDecide checks each outcome in Unkey's order (enabled, expiry,
// permissions, rate limits, credits) and that a denied verification leaves
// both budgets exactly as they were.
func TestDecide(t *testing.T) {
	const now int64 = 1_767_225_630_000 // 30 s into a minute window
	window := now - now%60_000
	ok := Input{Now: now, Enabled: true, Permitted: true, Cost: 1}
	with := func(f func(*Input)) Input { in := ok; f(&in); return in }
	full := map[string]Window{"requests": {Start: window, Count: 2, End: window + 60_000}}
	one := map[string]Window{"requests": {Start: window, Count: 1, End: window + 60_000}}
	cases := []struct {
		name            string
		in              Input
		key             Budget
		ident           *Budget
		wantCode        contracts.VerifyCode
		wantCredits     *int64
		wantIdentCreds  *int64
		wantChanged     bool
		wantKeyCount    int64
		wantIdentCount  int64
		wantRatelimits  int
		wantRemainingRL int64
	}{
		{"valid, nothing to count", ok, Budget{}, nil, "VALID", nil, nil, false, 0, 0, 0, 0},
		{"disabled before expired", with(func(in *Input) { in.Enabled = false; in.Expires = now - 1 }), Budget{}, nil, "DISABLED", nil, nil, false, 0, 0, 0, 0},
		{"expired at the instant", with(func(in *Input) { in.Expires = now }), Budget{}, nil, "EXPIRED", nil, nil, false, 0, 0, 0, 0},
		{"expired before permissions", with(func(in *Input) { in.Expires = now; in.Permitted = false }), Budget{}, nil, "EXPIRED", nil, nil, false, 0, 0, 0, 0},
		{"not yet expired", with(func(in *Input) { in.Expires = now + 1 }), Budget{}, nil, "VALID", nil, nil, false, 0, 0, 0, 0},
		{"permissions before rate limits", with(func(in *Input) { in.Permitted = false; in.Limits = perMinute(1, false) }),
			Budget{Windows: full}, nil, "INSUFFICIENT_PERMISSIONS", nil, nil, false, 2, 0, 0, 0},
		{"credits spent", with(func(in *Input) { in.Cost = 2 }), Budget{Credits: ptr(5)}, nil, "VALID", ptr(3), nil, true, 0, 0, 0, 0},
		{"credits to zero", ok, Budget{Credits: ptr(1)}, nil, "VALID", ptr(0), nil, true, 0, 0, 0, 0},
		{"credits short", with(func(in *Input) { in.Cost = 2 }), Budget{Credits: ptr(1)}, nil, "USAGE_EXCEEDED", ptr(1), nil, false, 0, 0, 0, 0},
		{"zero cost with no credits", with(func(in *Input) { in.Cost = 0 }), Budget{Credits: ptr(0)}, nil, "VALID", ptr(0), nil, true, 0, 0, 0, 0},
		{"first in window", with(func(in *Input) { in.Limits = perMinute(1, false) }), Budget{}, nil, "VALID", nil, nil, true, 1, 0, 1, 1},
		{"last in window", with(func(in *Input) { in.Limits = perMinute(1, false) }), Budget{Windows: one}, nil, "VALID", nil, nil, true, 2, 0, 1, 0},
		{"over the limit", with(func(in *Input) { in.Limits = perMinute(1, false) }), Budget{Windows: full}, nil, "RATE_LIMITED", nil, nil, false, 2, 0, 1, 0},
		{"cost larger than what is left", with(func(in *Input) { in.Limits = perMinute(2, false) }), Budget{Windows: one}, nil, "RATE_LIMITED", nil, nil, false, 1, 0, 1, 1},
		{"cost 0 only checks", with(func(in *Input) { in.Limits = perMinute(0, false) }), Budget{Windows: full}, nil, "VALID", nil, nil, true, 2, 0, 1, 0},
		{"old window resets", with(func(in *Input) { in.Limits = perMinute(1, false) }),
			Budget{Windows: map[string]Window{"requests": {Start: window - 60_000, Count: 2, End: window}}}, nil, "VALID", nil, nil, true, 1, 0, 1, 1},
		{"rate limited spends no credits", with(func(in *Input) { in.Limits = perMinute(1, false) }),
			Budget{Credits: ptr(4), Windows: full}, nil, "RATE_LIMITED", ptr(4), nil, false, 2, 0, 1, 0},
		{"no credits spends no rate limit", with(func(in *Input) { in.Limits = perMinute(1, false) }),
			Budget{Credits: ptr(0), Windows: one}, nil, "USAGE_EXCEEDED", ptr(0), nil, false, 1, 0, 1, 1},
		{"identity credits spent with the key's", ok, Budget{Credits: ptr(3)}, &Budget{Credits: ptr(7)}, "VALID", ptr(2), ptr(6), true, 0, 0, 0, 0},
		{"identity credits short", ok, Budget{Credits: ptr(3)}, &Budget{Credits: ptr(0)}, "USAGE_EXCEEDED", ptr(3), ptr(0), false, 0, 0, 0, 0},
		{"identity limit counted in the identity's budget", with(func(in *Input) { in.Limits = perMinute(1, true) }),
			Budget{}, &Budget{Windows: one}, "VALID", nil, nil, true, 0, 2, 1, 0},
		{"identity limit exhausted", with(func(in *Input) { in.Limits = perMinute(1, true) }),
			Budget{Credits: ptr(1)}, &Budget{Windows: full}, "RATE_LIMITED", ptr(1), nil, false, 0, 2, 1, 0},
		{"identity limit without an identity falls back to the key", with(func(in *Input) { in.Limits = perMinute(1, true) }),
			Budget{}, nil, "VALID", nil, nil, true, 1, 0, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, key, ident := Decide(tc.in, tc.key, tc.ident)
			if out.Code != tc.wantCode {
				t.Fatalf("code = %s, want %s", out.Code, tc.wantCode)
			}
			if !samePtr(out.Credits, tc.wantCredits) || !samePtr(key.Credits, tc.wantCredits) {
				t.Errorf("credits = %v (budget %v), want %v", deref(out.Credits), deref(key.Credits), deref(tc.wantCredits))
			}
			if !samePtr(out.IdentityCredits, tc.wantIdentCreds) {
				t.Errorf("identity credits = %v, want %v", deref(out.IdentityCredits), deref(tc.wantIdentCreds))
			}
			if out.Changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", out.Changed, tc.wantChanged)
			}
			if got := key.Windows["requests"].Count; got != tc.wantKeyCount {
				t.Errorf("key window count = %d, want %d", got, tc.wantKeyCount)
			}
			if ident != nil && ident.Windows["requests"].Count != tc.wantIdentCount {
				t.Errorf("identity window count = %d, want %d", ident.Windows["requests"].Count, tc.wantIdentCount)
			}
			if len(out.Ratelimits) != tc.wantRatelimits {
				t.Fatalf("ratelimits = %+v, want %d", out.Ratelimits, tc.wantRatelimits)
			}
			if tc.wantRatelimits > 0 && out.Ratelimits[0].Remaining != tc.wantRemainingRL {
				t.Errorf("remaining = %d, want %d", out.Ratelimits[0].Remaining, tc.wantRemainingRL)
			}
		})
	}
}

// TestDecideWindowExact drives one key through three windows and checks that
// exactly Limit verifications are admitted in each, with Remaining counting
// down and Reset at the window's end.
func TestDecideWindowExact(t *testing.T) {
	in := Input{Enabled: true, Permitted: true, Cost: 1, Limits: []Limit{{Name: "r", Limit: 3, Duration: 10_000, AutoApply: true, Cost: 1}}}
	var st Budget
	for w := int64(0); w < 3; w++ {
		admitted := 0
		for i := int64(0); i < 10; i++ {
			in.Now = 1_000_000_000 + w*10_000 + i*900
			out, next, _ := Decide(in, st, nil)
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

// TestDecideDropsClosedWindows checks that windows of limits no longer
// applied are dropped once closed, so a budget does not grow without bound.
func TestDecideDropsClosedWindows(t *testing.T) {
	st := Budget{Credits: ptr(5), Windows: map[string]Window{
		"gone": {Start: 0, Count: 1, End: 1000}, "open": {Start: 0, Count: 1, End: 10_000},
	}}
	_, next, _ := Decide(Input{Now: 5000, Enabled: true, Permitted: true, Cost: 1}, st, nil)
	if _, ok := next.Windows["gone"]; ok {
		t.Error("closed window kept")
	}
	if _, ok := next.Windows["open"]; !ok {
		t.Error("open window dropped")
	}
	if _, ok := st.Windows["gone"]; !ok {
		t.Error("Decide changed its input")
	}
}

func samePtr(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

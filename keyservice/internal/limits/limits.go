// Package limits decides a verification: given a key's policy, its usage
// state and the time, it returns the outcome and the next state. It is pure
// (the clock is an argument), so the store can apply it inside a
// compare-and-set loop and every replica reaches the same answer.
//
// Checks run in Unkey's order: enabled, expiry, rate limits, credits. A
// verification is all or nothing: a denied one changes no state, so a
// request refused for credits does not use rate-limit budget and credits
// are spent only once every limit passed.
//
// Rate limits use fixed windows aligned to multiples of the duration since
// the unix epoch: at most Limit units are admitted per window, exactly,
// because the state is updated by compare-and-set.
package limits

import "github.com/ocrstack/ocrstack/contracts"

// Window is one rate limit's counter for the window starting at Start
// (unix milliseconds).
type Window struct {
	Start int64 `json:"start"`
	Count int64 `json:"count"`
}

// State is a key's mutable usage state.
type State struct {
	// Credits left; nil means unlimited.
	Credits *int64 `json:"credits,omitempty"`
	// Windows holds each rate limit's current window, by limit name.
	Windows map[string]Window `json:"windows,omitempty"`
}

// Policy is what a key's record says about whether it may be used.
type Policy struct {
	Enabled bool
	// Expires is unix milliseconds; 0 means never.
	Expires    int64
	Ratelimits []contracts.Ratelimit
}

// Outcome is the result of Decide.
type Outcome struct {
	Code contracts.VerifyCode
	// Credits left after the decision; nil means unlimited.
	Credits    *int64
	Ratelimits []contracts.RatelimitResult
	// Changed reports whether the returned state must be written back: false
	// for a denial and for a key with neither credits nor rate limits.
	Changed bool
}

// Decide verifies one use of cost credits at time now (unix milliseconds).
// Each auto-applied rate limit is charged one unit.
func Decide(now int64, p Policy, st State, cost int64) (Outcome, State) {
	out := Outcome{Code: contracts.VerifyValid, Credits: st.Credits}
	if !p.Enabled {
		out.Code = contracts.VerifyDisabled
		return out, st
	}
	if p.Expires != 0 && now >= p.Expires {
		out.Code = contracts.VerifyExpired
		return out, st
	}
	next := State{Credits: st.Credits, Windows: make(map[string]Window, len(p.Ratelimits))}
	for _, rl := range p.Ratelimits {
		if !rl.AutoApply || rl.Duration <= 0 {
			continue
		}
		start := now - now%rl.Duration
		w := st.Windows[rl.Name]
		if w.Start != start {
			w = Window{Start: start}
		}
		res := contracts.RatelimitResult{
			Name: rl.Name, Limit: rl.Limit, Duration: rl.Duration,
			Reset: start + rl.Duration, AutoApply: rl.AutoApply,
		}
		if w.Count+1 > rl.Limit {
			res.Exceeded = true
			res.Remaining = max(rl.Limit-w.Count, 0)
			out.Code = contracts.VerifyRateLimited
		} else {
			w.Count++
			res.Remaining = rl.Limit - w.Count
		}
		next.Windows[rl.Name] = w
		out.Ratelimits = append(out.Ratelimits, res)
	}
	if out.Code != contracts.VerifyValid {
		return unspent(out), st
	}
	if st.Credits != nil {
		if *st.Credits < cost {
			out.Code = contracts.VerifyUsageExceeded
			return unspent(out), st
		}
		left := *st.Credits - cost
		next.Credits = &left
		out.Credits = &left
	}
	out.Changed = st.Credits != nil || len(next.Windows) > 0
	return out, next
}

// unspent reports remaining budgets as they were before a denied request,
// since a denial spends nothing.
func unspent(out Outcome) Outcome {
	for i := range out.Ratelimits {
		if !out.Ratelimits[i].Exceeded {
			out.Ratelimits[i].Remaining++
		}
	}
	return out
}

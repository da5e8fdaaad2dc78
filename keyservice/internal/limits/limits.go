// Package limits decides a verification: given what a key's settings demand,
// its usage budgets and the time, it returns the outcome and the next
// budgets. It is pure (the clock is an argument), so the store can apply it
// inside a compare-and-set loop and every replica reaches the same answer.
//
// Checks run in Unkey's order: enabled, expiry, permissions, rate limits,
// credits. A verification is all or nothing: a denied one changes no budget,
// so a request refused for credits uses no rate-limit budget and credits are
// spent only once every limit passed. A key linked to an identity has two
// budgets, its own and the identity's; a verification needs enough of both
// and spends both, or neither.
//
// Rate limits use fixed windows aligned to multiples of the duration since
// the unix epoch: at most Limit units of cost are admitted per window,
// exactly, because the store updates budgets by compare-and-set. Credits
// refill lazily (see Budget.Refilled): no timer runs, so no refill can race
// with a verification.
package limits

import "github.com/ocrstack/ocrstack/contracts"

// MaxCredits bounds every credit balance and amount: 2^53, the largest
// integer a JSON number carries exactly to a JavaScript client.
const MaxCredits int64 = 1 << 53

// Budget is the mutable usage state of a key or of an identity.
type Budget struct {
	// Credits left; nil means unlimited.
	Credits *int64 `json:"credits,omitempty"`
	// Refill, when set with Credits, restores credits on a schedule.
	Refill *contracts.Refill `json:"refill,omitempty"`
	// RefilledAt is the last refill instant applied, or when the schedule
	// started (unix milliseconds).
	RefilledAt int64 `json:"refilledAt,omitempty"`
	// Windows holds each rate limit's current window, by limit name.
	Windows map[string]Window `json:"windows,omitempty"`
}

// Limit is one rate limit a verification must pass.
type Limit struct {
	// ID is reported back as contracts.RatelimitResult.ID.
	ID   string
	Name string
	// Limit is the units allowed per window, at least 1.
	Limit int64
	// Duration is the window in milliseconds, at least 1.
	Duration  int64
	AutoApply bool
	// Cost is what this verification charges; 0 only checks.
	Cost int64
	// Identity selects the identity's budget for the window, else the key's.
	Identity bool
}

// Input is everything a decision needs besides the budgets.
type Input struct {
	// Now is unix milliseconds.
	Now     int64
	Enabled bool
	// Expires is unix milliseconds; 0 means never.
	Expires int64
	// Permitted is the result of the request's permission query.
	Permitted bool
	Limits    []Limit
	// Cost is the credits to spend, at least 0.
	Cost int64
}

// Outcome is the result of Decide.
type Outcome struct {
	Code contracts.VerifyCode
	// Credits and IdentityCredits are left after the decision; nil means
	// unlimited (or no identity).
	Credits         *int64
	IdentityCredits *int64
	Ratelimits      []contracts.RatelimitResult
	// Changed reports whether the returned budgets must be written back:
	// false for a denial and for a use with nothing to count. Only a VALID
	// outcome changes anything.
	Changed bool
}

// Decide verifies one use at in.Now against the key's budget and, when the
// key is linked to an identity, the identity's (ident non-nil). On a denial
// the returned budgets equal the given ones, refills aside.
func Decide(in Input, key Budget, ident *Budget) (Outcome, Budget, *Budget) {
	key = key.Refilled(in.Now)
	if ident != nil {
		b := ident.Refilled(in.Now)
		ident = &b
	}
	out := Outcome{Code: contracts.VerifyValid, Credits: key.Credits}
	if ident != nil {
		out.IdentityCredits = ident.Credits
	}
	switch {
	case !in.Enabled:
		out.Code = contracts.VerifyDisabled
	case in.Expires != 0 && in.Now >= in.Expires:
		out.Code = contracts.VerifyExpired
	case !in.Permitted:
		out.Code = contracts.VerifyInsufficientPermissions
	}
	if out.Code != contracts.VerifyValid {
		return out, key, ident
	}
	keyW := openWindows(key.Windows, in.Now)
	var identW map[string]Window
	if ident != nil {
		identW = openWindows(ident.Windows, in.Now)
	}
	for _, l := range in.Limits {
		ws := keyW
		if l.Identity && ident != nil {
			ws = identW
		}
		w, res := Take(in.Now, ws[l.Name], l.Limit, l.Duration, l.Cost)
		out.Ratelimits = append(out.Ratelimits, contracts.RatelimitResult{
			ID: l.ID, Name: l.Name, Limit: l.Limit, Duration: l.Duration, Remaining: res.Remaining,
			Reset: res.Reset, Exceeded: res.Exceeded, AutoApply: l.AutoApply,
		})
		if res.Exceeded {
			out.Code = contracts.VerifyRateLimited
		} else {
			ws[l.Name] = w
		}
	}
	if out.Code == contracts.VerifyValid && (short(key.Credits, in.Cost) || (ident != nil && short(ident.Credits, in.Cost))) {
		out.Code = contracts.VerifyUsageExceeded
	}
	if out.Code != contracts.VerifyValid {
		unspend(out.Ratelimits, in.Limits)
		return out, key, ident
	}
	nextKey := key
	nextKey.Windows = keyW
	nextKey.Credits = spend(key.Credits, in.Cost)
	out.Credits = nextKey.Credits
	out.Changed = key.Credits != nil || len(in.Limits) > 0
	if ident == nil {
		return out, nextKey, nil
	}
	nextIdent := *ident
	nextIdent.Windows = identW
	nextIdent.Credits = spend(ident.Credits, in.Cost)
	out.IdentityCredits = nextIdent.Credits
	out.Changed = out.Changed || ident.Credits != nil
	return out, nextKey, &nextIdent
}

func short(credits *int64, cost int64) bool { return credits != nil && *credits < cost }

func spend(credits *int64, cost int64) *int64 {
	if credits == nil {
		return nil
	}
	left := *credits - cost
	return &left
}

// unspend reports the limits that passed as they were before a denied
// verification, since a denial spends nothing.
func unspend(res []contracts.RatelimitResult, ls []Limit) {
	for i := range res {
		if !res[i].Exceeded {
			res[i].Remaining += ls[i].Cost
		}
	}
}

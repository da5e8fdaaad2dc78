package service

import (
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
)

// maxCost bounds a cost: limits.MaxCredits.
const maxCost = limits.MaxCredits

// plan says what a verification must pass once its key and identity are
// known:
//
//   - the key's and the identity's limits marked autoApply, at cost 1;
//   - every limit the request names, at the cost it gives (nil 1, 0 only
//     checks), with its limit and duration when given. A name is looked up
//     on the key and on its identity, and both apply when both have it, so a
//     key's own limit never lifts its identity's shared one (Unkey lets the
//     key's win);
//   - a named limit neither has is an ad-hoc limit on the key, which needs
//     both limit and duration, else the request is refused (BAD_REQUEST).
//
// Limits are checked in that order: the key's, the identity's, ad-hoc.
func plan(r verifyRequest) store.Plan {
	return func(rec store.Record, ident *store.Identity) (limits.Input, error) {
		in := limits.Input{Enabled: rec.Enabled, Expires: rec.Expires, Cost: r.cost, Permitted: true}
		if r.query != nil {
			held := make(map[string]bool, len(rec.Permissions))
			for _, p := range rec.Permissions {
				held[p] = true
			}
			in.Permitted = r.query.Eval(func(n string) bool { return held[n] })
		}
		named := make(map[string]contracts.VerifyRatelimit, len(r.Ratelimits))
		for _, n := range r.Ratelimits {
			named[n.Name] = n
		}
		found := map[string]bool{}
		add := func(rl contracts.Ratelimit, owner string, identity bool) {
			n, ok := named[rl.Name]
			if !rl.AutoApply && !ok {
				return
			}
			l := limits.Limit{ID: owner + ":" + rl.Name, Name: rl.Name, Limit: rl.Limit, Duration: rl.Duration,
				AutoApply: rl.AutoApply, Cost: 1, Identity: identity}
			if ok {
				found[rl.Name] = true
				override(&l, n)
			}
			in.Limits = append(in.Limits, l)
		}
		for _, rl := range rec.Ratelimits {
			add(rl, rec.KeyID, false)
		}
		if ident != nil {
			for _, rl := range ident.Ratelimits {
				add(rl, ident.ID, true)
			}
		}
		var p problems
		for i, n := range r.Ratelimits {
			if found[n.Name] {
				continue
			}
			if n.Limit == nil || n.Duration == nil {
				p.add("ratelimits[%d].name: the key has no limit %q; give limit and duration for an ad-hoc limit", i, n.Name)
				continue
			}
			l := limits.Limit{ID: rec.KeyID + ":" + n.Name, Name: n.Name, Cost: 1}
			override(&l, n)
			in.Limits = append(in.Limits, l)
		}
		if err := p.err(); err != nil {
			return limits.Input{}, err
		}
		return in, nil
	}
}

// override applies a request's cost, limit and duration to a limit.
func override(l *limits.Limit, n contracts.VerifyRatelimit) {
	if n.Cost != nil {
		l.Cost = *n.Cost
	}
	if n.Limit != nil {
		l.Limit = *n.Limit
	}
	if n.Duration != nil {
		l.Duration = *n.Duration
	}
}

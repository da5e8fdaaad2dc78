package service

import (
	"context"
	"encoding/json"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
)

func (s *Service) updateKey(ctx context.Context, r *contracts.UpdateKeyRequest, now int64) (any, error) {
	change, err := parseKeyUpdate(r, now)
	if err != nil {
		return nil, err
	}
	rec, err := s.cfg.Store.UpdateKey(ctx, r.KeyID, now, change)
	if err != nil {
		return nil, storeError(err, "keyId")
	}
	s.log(ctx).Info("key updated", "key_id", rec.KeyID, "owner_id", rec.ExternalID)
	return s.view(ctx, rec, now)
}

// parseKeyUpdate validates every field of an update, as validateCreate does
// for the same field, and returns the change it asks for.
func parseKeyUpdate(r *contracts.UpdateKeyRequest, now int64) (store.KeyChange, error) {
	var p problems
	p.id("keyId", r.KeyID)
	var edits []func(*store.Record)
	edit := func(f func(*store.Record)) { edits = append(edits, f) }

	if v, ok, _ := patchField[string](&p, "name", r.Name); ok {
		if len(v) > maxNameLength {
			p.add("name: at most %d characters", maxNameLength)
		}
		edit(func(rec *store.Record) { rec.Name = v })
	}
	if v, ok, _ := patchField[string](&p, "externalId", r.ExternalID); ok {
		if len(v) > maxExternalIDLen {
			p.add("externalId: at most %d characters", maxExternalIDLen)
		}
		edit(func(rec *store.Record) { rec.ExternalID = v })
	}
	if v, ok, _ := patchField[json.RawMessage](&p, "meta", r.Meta); ok {
		p.meta("meta", v)
		edit(func(rec *store.Record) { rec.Meta = v })
	}
	if v, ok, _ := patchField[int64](&p, "expires", r.Expires); ok {
		if v < 0 || (v > 0 && v <= now) {
			p.add("expires: must be a unix time in milliseconds in the future, or null for never")
		}
		edit(func(rec *store.Record) { rec.Expires = v })
	}
	if v, ok, _ := patchField[[]contracts.Ratelimit](&p, "ratelimits", r.Ratelimits); ok {
		p.ratelimits("ratelimits", v)
		edit(func(rec *store.Record) { rec.Ratelimits = v })
	}
	if v, ok, null := patchField[bool](&p, "enabled", r.Enabled); ok {
		edit(func(rec *store.Record) { rec.Enabled = v || null })
	}
	if v, ok, _ := patchField[[]string](&p, "roles", r.Roles); ok {
		p.names("roles", v)
		edit(func(rec *store.Record) { rec.Roles = v })
	}
	if v, ok, _ := patchField[[]string](&p, "permissions", r.Permissions); ok {
		p.names("permissions", v)
		edit(func(rec *store.Record) { rec.Permissions = v })
	}
	_, relink, _ := patchField[string](&p, "externalId", r.ExternalID)
	c := store.KeyChange{Relink: relink, Apply: func(rec *store.Record) {
		for _, f := range edits {
			f(rec)
		}
	}}
	if v, ok, _ := patchField[*contracts.Credits](&p, "credits", r.Credits); ok {
		p.credits("credits", v)
		c.Budget = func(b *limits.Budget) { *b = withWindows(budgetOf(v, now), b.Windows) }
	}
	return c, p.err()
}

// withWindows keeps a budget's rate-limit windows when its credits change.
func withWindows(b limits.Budget, ws map[string]limits.Window) limits.Budget {
	b.Windows = ws
	return b
}

func (s *Service) updateCredits(ctx context.Context, r *contracts.UpdateCreditsRequest, now int64) (any, error) {
	if err := validateUpdateCredits(r); err != nil {
		return nil, err
	}
	b, err := s.cfg.Store.ChangeKeyBudget(ctx, r.KeyID, now, func(b *limits.Budget) error {
		return changeCredits(b, r.Operation, r.Value)
	})
	if err != nil {
		return nil, storeError(err, "keyId")
	}
	return contracts.UpdateCreditsResponse{Remaining: b.Credits, Refill: b.Refill}, nil
}

func validateUpdateCredits(r *contracts.UpdateCreditsRequest) error {
	var p problems
	p.id("keyId", r.KeyID)
	switch r.Operation {
	case contracts.CreditsSet:
	case contracts.CreditsIncrement, contracts.CreditsDecrement:
		if r.Value == nil {
			p.add("value: required for %s", r.Operation)
		}
	default:
		p.add("operation: must be set, increment or decrement")
	}
	if r.Value != nil && (*r.Value < 0 || *r.Value > limits.MaxCredits) {
		p.add("value: must be between 0 and %d", limits.MaxCredits)
	}
	return p.err()
}

// changeCredits applies one credits operation: set (nil = unlimited, which
// also drops the refill), increment (up to limits.MaxCredits) or decrement
// (never below zero).
func changeCredits(b *limits.Budget, op contracts.CreditsOperation, value *int64) error {
	if op == contracts.CreditsSet {
		if value == nil {
			b.Credits, b.Refill, b.RefilledAt = nil, nil, 0
			return nil
		}
		v := *value
		b.Credits = &v
		return nil
	}
	if b.Credits == nil {
		return store.ErrUnlimited
	}
	v := min(*b.Credits+*value, limits.MaxCredits)
	if op == contracts.CreditsDecrement {
		v = max(*b.Credits-*value, 0)
	}
	b.Credits = &v
	return nil
}

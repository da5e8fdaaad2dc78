package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
)

// KeyView is everything known about a key at one instant.
type KeyView struct {
	Record Record
	// State is the key's budget with the refills due by then applied.
	State KeyState
	// Identity is the linked identity, if any, with its budget.
	Identity       *Identity
	IdentityBudget *limits.Budget
}

// ViewKey reads the budgets of the key rec as of now (unix ms), applying due
// refills to what it returns without writing them: a refill depends only on
// the budget and the time, so the next spend computes and writes the same.
func (s *Store) ViewKey(ctx context.Context, rec Record, now int64) (KeyView, error) {
	loc, err := s.locate(ctx, rec.home(), rec.State())
	if errors.Is(err, errNoState) {
		return KeyView{}, ErrNotFound // deleted since rec was read
	}
	if err != nil {
		return KeyView{}, err
	}
	ks := loc.doc.Keys[rec.State()]
	ks.Budget = ks.Budget.Refilled(now)
	v := KeyView{Record: rec, State: ks}
	if v.Identity, err = s.linkedIdentity(ctx, identityOf(loc)); err != nil {
		return KeyView{}, err
	}
	if v.Identity != nil {
		b := loc.doc.Identity.Refilled(now)
		v.IdentityBudget = &b
	}
	return v, nil
}

// ChangeKeyBudget applies change to a key's budget, after the refills due
// at now, in one compare-and-set, and returns the budget as written. An
// error from change refuses the change and is returned as is.
func (s *Store) ChangeKeyBudget(ctx context.Context, keyID string, now int64, change func(*limits.Budget) error) (limits.Budget, error) {
	rec, _, err := s.KeyByID(ctx, keyID)
	if err != nil {
		return limits.Budget{}, err
	}
	for range maxAttempts {
		loc, err := s.locate(ctx, rec.home(), rec.State())
		if errors.Is(err, errNoState) {
			if rec, _, err = s.KeyByID(ctx, keyID); err != nil {
				return limits.Budget{}, err
			}
			continue
		}
		if err != nil {
			return limits.Budget{}, err
		}
		var out limits.Budget
		err = s.moveKeyState(ctx, loc, loc.key, rec.State(), now, func(ks *KeyState) error {
			ks.Budget = ks.Budget.Refilled(now)
			if err := change(&ks.Budget); err != nil {
				return err
			}
			out = ks.Budget
			return nil
		})
		if errors.Is(err, errRevision) {
			continue
		}
		return out, err
	}
	return limits.Budget{}, fmt.Errorf("change credits of %s: %w", keyID, ErrContention)
}

package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
)

// KeyChange is a validated change to a key. Both functions must be
// idempotent: they run again when another change races this one.
type KeyChange struct {
	// Apply edits the record's settings.
	Apply func(*Record)
	// Budget, when set, changes the key's budget (refills due applied first).
	Budget func(*limits.Budget)
	// Relink re-resolves the identity from the external id, as an update
	// that names an external id does, even an unchanged one: the identity
	// may have been created since.
	Relink bool
}

// UpdateKey applies c to a key. With c.Relink the key is linked to the
// identity its external id names, if any; when the link changes, its budget
// moves to that identity's Doc (or back to a Doc of its own) in one atomic
// batch, before the record changes, and a verification in between follows
// the forwarding mark. Settings take effect on the next verification.
func (s *Store) UpdateKey(ctx context.Context, keyID string, now int64, c KeyChange) (Record, error) {
	for range maxAttempts {
		rec, rev, err := s.KeyByID(ctx, keyID)
		if err != nil {
			return Record{}, err
		}
		next := rec
		c.Apply(&next)
		next.UpdatedAt = now
		if c.Relink {
			if next.IdentityID, err = s.identityIDFor(ctx, next.ExternalID); err != nil {
				return Record{}, err
			}
		}
		if next.IdentityID != rec.IdentityID || c.Budget != nil {
			err = s.placeBudget(ctx, rec, &next, now, c.Budget)
			if errors.Is(err, errRevision) || errors.Is(err, errNoState) {
				continue
			}
			if err != nil {
				return Record{}, err
			}
		}
		b, err := json.Marshal(next)
		if err != nil {
			return Record{}, fmt.Errorf("encode record: %w", err)
		}
		ws := []write{{key: "h." + rec.Hash, value: b, rev: rev}}
		if next.ExternalID != rec.ExternalID {
			if rec.ExternalID != "" {
				ws = append(ws, write{key: ownerIndex(rec.APIID, rec.ExternalID, rec.KeyID), anyRev: true, del: true})
			}
			if next.ExternalID != "" {
				ws = append(ws, write{key: ownerIndex(next.APIID, next.ExternalID, next.KeyID), value: []byte(next.Hash), anyRev: true})
			}
		}
		err = s.keys.commit(ctx, ws...)
		if errors.Is(err, errRevision) {
			continue
		}
		return next, err
	}
	return Record{}, fmt.Errorf("update key %s: %w", keyID, ErrContention)
}

// identityIDFor returns the id of the identity with that external id, or "".
func (s *Store) identityIDFor(ctx context.Context, externalID string) (string, error) {
	if externalID == "" {
		return "", nil
	}
	ident, _, err := s.IdentityByExternalID(ctx, externalID)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return ident.ID, err
}

// placeBudget moves the key's budget to next's home and applies change to
// it. An identity deleted meanwhile unlinks next.
func (s *Store) placeBudget(ctx context.Context, rec Record, next *Record, now int64, change func(*limits.Budget)) error {
	loc, err := s.locate(ctx, rec.home(), rec.State())
	if err != nil {
		return err
	}
	if loc.key == next.home() && change == nil {
		return nil
	}
	apply := func(ks *KeyState) error {
		if change != nil {
			ks.Budget = ks.Budget.Refilled(now)
			change(&ks.Budget)
		}
		return nil
	}
	err = s.moveKeyState(ctx, loc, next.home(), rec.State(), now, apply)
	if errors.Is(err, errNoDoc) {
		next.IdentityID = ""
		err = s.moveKeyState(ctx, loc, next.home(), rec.State(), now, apply)
	}
	return err
}

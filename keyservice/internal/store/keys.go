package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
)

func apiIndex(apiID, keyID string) string { return "a." + tag(apiID) + "." + keyID }

func ownerIndex(apiID, externalID, keyID string) string {
	return "o." + tag(apiID, externalID) + "." + keyID
}

// CreateKey stores a new key whose budget starts as b. A key whose
// ExternalID names an identity is linked to it, its budget kept in the
// identity's Doc. The budget is written before the record, and removed
// again if the record cannot be, so a key never exists without it. It
// returns the record as stored.
func (s *Store) CreateKey(ctx context.Context, rec Record, b limits.Budget, now int64) (Record, error) {
	rec.StateID = rec.KeyID
	if rec.ExternalID != "" {
		id, _, err := s.IdentityByExternalID(ctx, rec.ExternalID)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return Record{}, err
		default:
			rec.IdentityID = id.ID
		}
	}
	err := s.putKeyState(ctx, rec.home(), rec.State(), KeyState{Budget: b}, now)
	if errors.Is(err, errNoDoc) { // the identity was deleted meanwhile
		rec.IdentityID = ""
		err = s.putKeyState(ctx, rec.home(), rec.State(), KeyState{Budget: b}, now)
	}
	if err != nil {
		return Record{}, fmt.Errorf("create state %s: %w", rec.KeyID, err)
	}
	rb, err := json.Marshal(rec)
	if err != nil {
		return Record{}, fmt.Errorf("encode record: %w", err)
	}
	ws := []write{
		{key: "h." + rec.Hash, value: rb},
		{key: "id." + rec.KeyID, value: []byte(rec.Hash)},
		{key: apiIndex(rec.APIID, rec.KeyID), value: []byte(rec.Hash)},
	}
	if rec.ExternalID != "" {
		ws = append(ws, write{key: ownerIndex(rec.APIID, rec.ExternalID, rec.KeyID), value: []byte(rec.Hash)})
	}
	if err := s.keys.commit(ctx, ws...); err != nil {
		if dropErr := s.dropKeyState(ctx, rec.home(), rec.State(), now); dropErr != nil {
			err = errors.Join(err, dropErr)
		}
		return Record{}, fmt.Errorf("create key %s: %w", rec.KeyID, err)
	}
	return rec, nil
}

// KeyByHash returns the record a presented key resolves to: its own, or,
// for an old key rerolled less than its grace period ago, the new key's. An
// alias found past its expiry is deleted on the way.
func (s *Store) KeyByHash(ctx context.Context, hash string, now int64) (Record, error) {
	rec, rev, err := s.record(ctx, hash)
	if err != nil || !rec.IsAlias() {
		return rec, err
	}
	return s.resolveAlias(ctx, hash, rec, rev, now, s.record)
}

// KeyByHashCached is KeyByHash through this replica's record cache (see
// watch.go): what a verification reads.
func (s *Store) KeyByHashCached(ctx context.Context, hash string, now int64) (Record, error) {
	rec, err := s.cachedRecord(ctx, hash)
	if err != nil || !rec.IsAlias() {
		return rec, err
	}
	return s.resolveAlias(ctx, hash, rec, 0, now, func(ctx context.Context, hash string) (Record, uint64, error) {
		rec, err := s.cachedRecord(ctx, hash)
		return rec, 0, err
	})
}

// resolveAlias returns the key alias rec (read at rev, 0 if unknown) of
// hash stands for, reading it with read.
func (s *Store) resolveAlias(ctx context.Context, hash string, rec Record, rev uint64, now int64,
	read func(context.Context, string) (Record, uint64, error)) (Record, error) {
	if now >= rec.AliasExpires {
		// Best effort: a failure leaves an expired alias, refused all the
		// same. A cached read (rev 0) leaves it to the next fresh one.
		if rev != 0 {
			_ = s.keys.commit(ctx, write{key: "h." + hash, rev: rev, del: true}, write{key: "id." + rec.KeyID, anyRev: true, del: true})
		}
		return Record{}, ErrNotFound
	}
	target, _, err := read(ctx, rec.AliasOf)
	if err == nil && target.IsAlias() {
		return Record{}, fmt.Errorf("%w: alias %s points at alias %s", ErrCorrupt, rec.KeyID, target.KeyID)
	}
	return target, err
}

// KeyByID returns the record of a key and its revision. An old key
// rerolled into another is ErrRerolled.
func (s *Store) KeyByID(ctx context.Context, keyID string) (Record, uint64, error) {
	rec, rev, err := s.keyByIDAny(ctx, keyID)
	if err == nil && rec.IsAlias() {
		return Record{}, 0, ErrRerolled
	}
	return rec, rev, err
}

func (s *Store) keyByIDAny(ctx context.Context, keyID string) (Record, uint64, error) {
	if !ValidID(keyID) {
		return Record{}, 0, ErrNotFound
	}
	e, err := s.keys.get(ctx, "id."+keyID)
	if err != nil {
		return Record{}, 0, err
	}
	if !e.live {
		return Record{}, 0, ErrNotFound
	}
	return s.record(ctx, string(e.value))
}

// record reads and decodes h.<hash>.
func (s *Store) record(ctx context.Context, hash string) (Record, uint64, error) {
	if len(hash) != 64 || strings.ContainsAny(hash, ".*> ") {
		return Record{}, 0, ErrNotFound
	}
	e, err := s.keys.get(ctx, "h."+hash)
	if err != nil {
		return Record{}, 0, err
	}
	if !e.live {
		return Record{}, 0, ErrNotFound
	}
	rec, err := DecodeRecord(e.value)
	return rec, e.rev, err
}

// DeleteKey revokes a key at once, with every old key still in its grace
// period, and then drops its budget. Given the id of such an old key, it
// revokes only that one.
func (s *Store) DeleteKey(ctx context.Context, keyID string, now int64) error {
	for range maxAttempts {
		rec, rev, err := s.keyByIDAny(ctx, keyID)
		if err != nil {
			return err
		}
		ws := []write{{key: "h." + rec.Hash, rev: rev, del: true}, {key: "id." + rec.KeyID, anyRev: true, del: true}}
		if rec.IsAlias() {
			target, trev, err := s.record(ctx, rec.AliasOf)
			if err == nil {
				target.Aliases = without(target.Aliases, rec.KeyID)
				tb, err := json.Marshal(target)
				if err != nil {
					return fmt.Errorf("encode record: %w", err)
				}
				ws = append(ws, write{key: "h." + target.Hash, value: tb, rev: trev})
			} else if !errors.Is(err, ErrNotFound) {
				return err
			}
		} else {
			ws = append(ws, write{key: apiIndex(rec.APIID, rec.KeyID), anyRev: true, del: true})
			if rec.ExternalID != "" {
				ws = append(ws, write{key: ownerIndex(rec.APIID, rec.ExternalID, rec.KeyID), anyRev: true, del: true})
			}
			for _, a := range rec.Aliases {
				ws = append(ws, write{key: "h." + a.Hash, anyRev: true, del: true}, write{key: "id." + a.KeyID, anyRev: true, del: true})
			}
		}
		err = s.keys.commit(ctx, ws...)
		if errors.Is(err, errRevision) {
			continue
		}
		if err != nil || rec.IsAlias() {
			return err
		}
		return s.dropKeyState(ctx, rec.home(), rec.State(), now)
	}
	return fmt.Errorf("delete key %s: %w", keyID, ErrContention)
}

func without(as []Alias, keyID string) []Alias {
	var out []Alias
	for _, a := range as {
		if a.KeyID != keyID {
			out = append(out, a)
		}
	}
	return out
}

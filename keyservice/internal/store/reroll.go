package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxAliases bounds the old keys of one key that may be in their grace
// period at once.
const MaxAliases = 16

// NewSecret is the part of a rerolled key that is new: its id, the hex
// SHA-256 of the new key and its visible start.
type NewSecret struct {
	KeyID, Hash, Start string
}

// Reroll replaces a key with a new secret and key id, keeping its settings,
// owner and budget (the new record takes over the state id). For grace
// milliseconds the old secret stays an alias of the new key, drawing on the
// same budget; with grace 0 it is revoked at once. Old keys still in their
// grace period from earlier rerolls are re-pointed at the new key, so an
// alias never leads to another alias. It all happens in one atomic batch.
func (s *Store) Reroll(ctx context.Context, keyID string, ns NewSecret, grace, now int64) (Record, error) {
	for range maxAttempts {
		rec, rev, err := s.KeyByID(ctx, keyID)
		if err != nil {
			return Record{}, err
		}
		next := rec
		next.KeyID, next.Hash, next.Start, next.StateID = ns.KeyID, ns.Hash, ns.Start, rec.State()
		next.CreatedAt, next.UpdatedAt, next.Aliases = now, now, nil
		var ws []write
		for _, a := range rec.Aliases {
			old, orev, err := s.record(ctx, a.Hash)
			if a.Expires <= now || errors.Is(err, ErrNotFound) || (err == nil && !old.IsAlias()) {
				ws = append(ws, write{key: "id." + a.KeyID, anyRev: true, del: true})
				if err == nil && old.IsAlias() {
					ws = append(ws, write{key: "h." + a.Hash, rev: orev, del: true})
				}
				continue
			}
			if err != nil {
				return Record{}, err
			}
			old.AliasOf = ns.Hash
			if ws, err = appendJSON(ws, "h."+a.Hash, old, orev); err != nil {
				return Record{}, err
			}
			next.Aliases = append(next.Aliases, a)
		}
		if grace > 0 {
			if len(next.Aliases) >= MaxAliases {
				return Record{}, ErrTooManyAliases
			}
			expires := now + grace
			next.Aliases = append(next.Aliases, Alias{KeyID: rec.KeyID, Hash: rec.Hash, Expires: expires})
			alias := Record{KeyID: rec.KeyID, APIID: rec.APIID, Hash: rec.Hash, Start: rec.Start,
				AliasOf: ns.Hash, AliasExpires: expires, CreatedAt: rec.CreatedAt, UpdatedAt: now}
			if ws, err = appendJSON(ws, "h."+rec.Hash, alias, rev); err != nil {
				return Record{}, err
			}
		} else {
			ws = append(ws, write{key: "h." + rec.Hash, rev: rev, del: true}, write{key: "id." + rec.KeyID, anyRev: true, del: true})
		}
		if ws, err = appendJSON(ws, "h."+ns.Hash, next, 0); err != nil {
			return Record{}, err
		}
		ws = append(ws, write{key: "id." + ns.KeyID, value: []byte(ns.Hash)},
			write{key: apiIndex(rec.APIID, ns.KeyID), value: []byte(ns.Hash)},
			write{key: apiIndex(rec.APIID, rec.KeyID), anyRev: true, del: true})
		if rec.ExternalID != "" {
			ws = append(ws, write{key: ownerIndex(rec.APIID, rec.ExternalID, ns.KeyID), value: []byte(ns.Hash)},
				write{key: ownerIndex(rec.APIID, rec.ExternalID, rec.KeyID), anyRev: true, del: true})
		}
		err = s.keys.commit(ctx, ws...)
		if errors.Is(err, errRevision) {
			continue
		}
		return next, err
	}
	return Record{}, fmt.Errorf("reroll key %s: %w", keyID, ErrContention)
}

func appendJSON(ws []write, key string, v any, rev uint64) ([]write, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ws, fmt.Errorf("encode %s: %w", key, err)
	}
	return append(ws, write{key: key, value: b, rev: rev}), nil
}

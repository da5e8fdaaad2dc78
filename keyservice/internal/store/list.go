package store

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// ListKeys returns up to limit keys of apiID, only those of externalID when
// it is set, whose ids sort after cursor, in key id order, and whether more
// follow. Paging by id is stable: a key shows up once however keys are
// created or deleted meanwhile, and a new key with an id before the cursor
// is simply not on the remaining pages. Old keys in their grace period are
// not listed.
func (s *Store) ListKeys(ctx context.Context, apiID, externalID, cursor string, limit int) ([]Record, bool, error) {
	prefix := "a." + tag(apiID) + "."
	if externalID != "" {
		prefix = "o." + tag(apiID, externalID) + "."
	}
	ids, err := s.idsAfter(ctx, prefix, cursor)
	if err != nil {
		return nil, false, err
	}
	var out []Record
	for _, id := range ids {
		if len(out) == limit {
			return out, true, nil
		}
		rec, _, err := s.KeyByID(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted or rerolled since listed
		}
		if err != nil {
			return nil, false, err
		}
		out = append(out, rec)
	}
	return out, false, nil
}

// ListIdentities pages through identities like ListKeys.
func (s *Store) ListIdentities(ctx context.Context, cursor string, limit int) ([]Identity, bool, error) {
	ids, err := s.idsAfter(ctx, "i.", cursor)
	if err != nil {
		return nil, false, err
	}
	var out []Identity
	for _, id := range ids {
		if len(out) == limit {
			return out, true, nil
		}
		ident, _, err := s.IdentityByID(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		out = append(out, ident)
	}
	return out, false, nil
}

// idsAfter lists the ids under prefix (the last token of each KV key) that
// sort after cursor, sorted.
func (s *Store) idsAfter(ctx context.Context, prefix, cursor string) ([]string, error) {
	names, err := s.keys.list(ctx, prefix+"*")
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(names))
	for _, n := range names {
		if id := strings.TrimPrefix(n, prefix); id > cursor && ValidID(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

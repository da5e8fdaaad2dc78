package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
)

// CreateIdentity stores a new identity whose credits start as b. Its
// external id must be free, else ErrTaken and nothing is kept. The Doc is
// written first, so an identity never exists without it.
func (s *Store) CreateIdentity(ctx context.Context, id Identity, b limits.Budget, now int64) error {
	xkey := "x." + tag(id.ExternalID)
	e, err := s.keys.get(ctx, xkey)
	if err != nil {
		return err
	}
	if e.live {
		return ErrTaken
	}
	db, err := Doc{Identity: &b}.encode(now)
	if err != nil {
		return err
	}
	if err := s.state.commit(ctx, write{key: "i." + id.ID, value: db}); err != nil {
		return fmt.Errorf("create identity state %s: %w", id.ID, err)
	}
	err = s.commitIdentity(ctx, id, xkey)
	if err != nil {
		if dropErr := s.state.commit(ctx, write{key: "i." + id.ID, anyRev: true, del: true}); dropErr != nil {
			err = errors.Join(err, dropErr)
		}
	}
	return err
}

func (s *Store) commitIdentity(ctx context.Context, id Identity, xkey string) error {
	ib, err := json.Marshal(id)
	if err != nil {
		return fmt.Errorf("encode identity: %w", err)
	}
	for range maxAttempts {
		e, err := s.keys.get(ctx, xkey)
		if err != nil {
			return err
		}
		if e.live {
			return ErrTaken
		}
		err = s.keys.commit(ctx, write{key: xkey, value: []byte(id.ID), rev: e.rev}, write{key: "i." + id.ID, value: ib})
		if !errors.Is(err, errRevision) {
			return err
		}
	}
	return fmt.Errorf("create identity %s: %w", id.ID, ErrContention)
}

// IdentityByID returns an identity and its revision.
func (s *Store) IdentityByID(ctx context.Context, id string) (Identity, uint64, error) {
	if !ValidID(id) {
		return Identity{}, 0, ErrNotFound
	}
	e, err := s.keys.get(ctx, "i."+id)
	if err != nil {
		return Identity{}, 0, err
	}
	if !e.live {
		return Identity{}, 0, ErrNotFound
	}
	ident, err := DecodeIdentity(e.value)
	return ident, e.rev, err
}

// IdentityByExternalID returns the identity with that external id.
func (s *Store) IdentityByExternalID(ctx context.Context, externalID string) (Identity, uint64, error) {
	e, err := s.keys.get(ctx, "x."+tag(externalID))
	if err != nil {
		return Identity{}, 0, err
	}
	if !e.live {
		return Identity{}, 0, ErrNotFound
	}
	return s.IdentityByID(ctx, string(e.value))
}

// IdentityByRef returns the identity named by id, or else by external id.
func (s *Store) IdentityByRef(ctx context.Context, id, externalID string) (Identity, uint64, error) {
	if id != "" {
		return s.IdentityByID(ctx, id)
	}
	return s.IdentityByExternalID(ctx, externalID)
}

// IdentityBudget returns an identity's credits and windows as of now,
// refills included; nil when its Doc is gone.
func (s *Store) IdentityBudget(ctx context.Context, id string, now int64) (*limits.Budget, error) {
	e, err := s.state.get(ctx, "i."+id)
	if err != nil || !e.live {
		return nil, err
	}
	doc, err := DecodeDoc(e.value)
	if err != nil || doc.Identity == nil {
		return nil, err
	}
	b := doc.Identity.Refilled(now)
	return &b, nil
}

// UpdateIdentity applies apply to the identity named by (id, externalID)
// and, when budget is non-nil, to its credits, which changes first. Both
// must be idempotent: they run again if another update races this one.
func (s *Store) UpdateIdentity(ctx context.Context, id, externalID string, now int64, apply func(*Identity), budget func(*limits.Budget)) (Identity, error) {
	for range maxAttempts {
		ident, rev, err := s.IdentityByRef(ctx, id, externalID)
		if err != nil {
			return Identity{}, err
		}
		if budget != nil {
			if err := s.changeIdentityBudget(ctx, ident.ID, now, budget); err != nil {
				return Identity{}, err
			}
		}
		next := ident
		apply(&next)
		next.UpdatedAt = now
		b, err := json.Marshal(next)
		if err != nil {
			return Identity{}, fmt.Errorf("encode identity: %w", err)
		}
		err = s.keys.commit(ctx, write{key: "i." + ident.ID, value: b, rev: rev})
		if errors.Is(err, errRevision) {
			continue
		}
		return next, err
	}
	return Identity{}, fmt.Errorf("update identity: %w", ErrContention)
}

func (s *Store) changeIdentityBudget(ctx context.Context, id string, now int64, change func(*limits.Budget)) error {
	for range maxAttempts {
		e, err := s.state.get(ctx, "i."+id)
		if err != nil {
			return err
		}
		if !e.live {
			return ErrNotFound
		}
		doc, err := DecodeDoc(e.value)
		if err != nil {
			return fmt.Errorf("state i.%s: %w", id, err)
		}
		b := limits.Budget{}
		if doc.Identity != nil {
			b = doc.Identity.Refilled(now)
		}
		change(&b)
		doc.Identity = &b
		db, err := doc.encode(now)
		if err != nil {
			return err
		}
		if err = s.state.commit(ctx, write{key: "i." + id, value: db, rev: e.rev}); !errors.Is(err, errRevision) {
			return err
		}
	}
	return fmt.Errorf("update identity credits %s: %w", id, ErrContention)
}

// DeleteIdentity removes an identity at once; its external id is free
// again. Keys linked to it keep their own budgets, in its Doc, until they
// are deleted or re-linked; the identity's limits and credits no longer
// apply to them.
func (s *Store) DeleteIdentity(ctx context.Context, id, externalID string, now int64) error {
	for range maxAttempts {
		ident, rev, err := s.IdentityByRef(ctx, id, externalID)
		if err != nil {
			return err
		}
		err = s.keys.commit(ctx, write{key: "i." + ident.ID, rev: rev, del: true},
			write{key: "x." + tag(ident.ExternalID), anyRev: true, del: true})
		if errors.Is(err, errRevision) {
			continue
		}
		if err != nil {
			return err
		}
		return s.orphanDoc(ctx, ident.ID, now)
	}
	return fmt.Errorf("delete identity: %w", ErrContention)
}

// orphanDoc drops a deleted identity's budget from its Doc, and the Doc
// itself when no key budget is left in it.
func (s *Store) orphanDoc(ctx context.Context, id string, now int64) error {
	for range maxAttempts {
		e, err := s.state.get(ctx, "i."+id)
		if err != nil || !e.live {
			return err
		}
		doc, err := DecodeDoc(e.value)
		if err != nil {
			return fmt.Errorf("state i.%s: %w", id, err)
		}
		w := write{key: "i." + id, rev: e.rev, del: len(doc.Keys) == 0}
		if !w.del {
			doc.Identity = nil
			if w.value, err = doc.encode(now); err != nil {
				return err
			}
		}
		if err = s.state.commit(ctx, w); !errors.Is(err, errRevision) {
			return err
		}
	}
	return fmt.Errorf("delete identity state %s: %w", id, ErrContention)
}

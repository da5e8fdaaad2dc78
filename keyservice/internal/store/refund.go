package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
)

// Refunded is the result of Refund.
type Refunded struct {
	// Refunded is true for the one Refund that settled the verification.
	Refunded bool
	// Cancelled is true for the one Refund that settled an idempotency key
	// no verification had charged: a later verification with it is refused
	// (ErrCancelled) and charges nothing.
	Cancelled bool
	// Record is the key refunded, when it was found.
	Record Record
	// Credits is the key's balance after the refund; nil when unlimited or
	// when nothing was refunded.
	Credits *int64
}

// Refund gives back what the VALID verification of key keyID made with
// idempotency key req spent: its cost, to the key's credits and to its
// identity's if it charged those, as they are at now with refills due
// applied, up to limits.MaxCredits. Rate-limit windows are not given back.
//
// The idempotency record is marked refunded in the same atomic batch, with
// a compare-and-set on both entries, as the Doc the credits go back to, so
// a verification is refunded at most once, whatever races it: a retried or
// concurrent Refund finds the mark (or loses the compare-and-set, re-reads
// and then finds it) and refunds nothing. The record keeps replaying the
// verification's first answer within SeenWindow: a refunded verification
// is not spent again by its retry.
//
// When no idempotency record of req exists, Refund writes one that
// cancels it (Seen.Cancelled, kept keepSeen like any record), only if
// still absent, in one atomic batch with the key's Doc rewritten as read.
// That is what makes a refund of a verification whose answer was lost
// exact: its commit either landed before (the record exists, in its own
// entry or still pending in the Doc, and is refunded as above) or lands
// after, when its compare-and-set on the Doc fails, the group re-reads
// the Doc and then the record and refuses the verification with
// ErrCancelled, spending nothing. A late verification gets an error rather
// than a replay because its caller has given up on it, and any other
// caller must not be let through for free.
//
// Nothing is refunded, without an error, when the key is gone, when the
// spending verification with req is older than contracts.RefundWindow, was
// denied (which spends nothing), was cancelled, or was made before records
// carried their cost. What no longer applies is not given back, though the
// refund still settles the verification: identity credits when the key
// moved to another Doc since, credits now unlimited, and credits that a
// replace refill has restored since the charge.
//
// The write changes the Doc's revision, so any replica's cached copy
// (group.go) fails its next compare-and-set and is read again; this
// replica forgets its copy at once. Like a top-up, a refund can thus take
// up to stateFresh to lift another replica's USAGE_EXCEEDED.
func (s *Store) Refund(ctx context.Context, keyID, req string, now int64) (Refunded, error) {
	rec, err := s.refundKey(ctx, keyID)
	if errors.Is(err, ErrNotFound) {
		return Refunded{}, nil
	}
	if err != nil {
		return Refunded{}, err
	}
	return s.refund(ctx, rec, req, now)
}

// RefundByHash is Refund of the key whose hash is given, for a caller that
// never learnt the key's id because its verification went unanswered.
func (s *Store) RefundByHash(ctx context.Context, hash, req string, now int64) (Refunded, error) {
	rec, err := s.KeyByHash(ctx, hash, now)
	if errors.Is(err, ErrNotFound) {
		return Refunded{}, nil
	}
	if err != nil {
		return Refunded{}, err
	}
	return s.refund(ctx, rec, req, now)
}

func (s *Store) refund(ctx context.Context, rec Record, req string, now int64) (Refunded, error) {
	keyID := rec.KeyID
	sid := rec.State()
	pk := idempotencyKey(sid, req)
	for range maxAttempts {
		loc, err := s.locate(ctx, rec.home(), sid)
		if errors.Is(err, errNoState) {
			// Nothing can charge a budget that is gone.
			return Refunded{Record: rec}, nil
		}
		if err != nil {
			return Refunded{}, err
		}
		// Read after the Doc, as a verification does (pending.go).
		e, err := s.state.get(ctx, pk)
		if err != nil {
			return Refunded{}, err
		}
		seen, found, err := findSeen(e, &loc.doc, pk)
		if err != nil {
			return Refunded{}, err
		}
		doc := loc.doc.clone()
		delete(doc.Pending, pk)
		db, err := doc.encode(now)
		if err != nil {
			return Refunded{}, err
		}
		if !found {
			// The Doc is rewritten as it is: a verification committing
			// the idempotency key meanwhile changes it, and this loses.
			err := s.cancel(ctx, write{key: loc.key, value: db, rev: loc.rev}, pk, e.rev, sid, req, now)
			if errors.Is(err, errRevision) {
				continue // a verification committed meanwhile: refund it
			}
			if err != nil {
				return Refunded{}, err
			}
			return Refunded{Cancelled: true, Record: rec}, nil
		}
		if !refundable(seen, now) {
			return Refunded{Record: rec}, nil
		}
		ks := doc.Keys[sid]
		if seen.Credits != nil {
			ks.Budget = giveBack(ks.Budget, *seen.Cost, seen.At, now)
		}
		doc.Keys[sid] = ks
		if seen.IdentityCredits != nil && seen.Doc == loc.key && doc.Identity != nil {
			b := giveBack(*doc.Identity, *seen.Cost, seen.At, now)
			doc.Identity = &b
		}
		if db, err = doc.encode(now); err != nil {
			return Refunded{}, err
		}
		seen.Refunded = now
		sb, err := json.Marshal(seen)
		if err != nil {
			return Refunded{}, fmt.Errorf("encode idempotency record: %w", err)
		}
		// The record keeps its expiry: it is due keepSeen after the charge.
		// One still pending in the Doc moves to its entry here, which a
		// copy of it racing this write can no longer overwrite.
		ttl := max(keepSeen-time.Duration(now-seen.At)*time.Millisecond, time.Second)
		err = s.state.commit(ctx, write{key: loc.key, value: db, rev: loc.rev}, write{key: pk, value: sb, rev: e.rev, ttl: ttl})
		if errors.Is(err, errRevision) {
			continue
		}
		if err != nil {
			return Refunded{}, err
		}
		return Refunded{Refunded: true, Record: rec, Credits: ks.Credits}, nil
	}
	return Refunded{}, fmt.Errorf("refund %s: %w", keyID, ErrContention)
}

// cancel writes the idempotency record pk of req on state sid as
// cancelled, if it is still at revision rev (absent), together with doc,
// the Doc holding the budget, as it was read.
func (s *Store) cancel(ctx context.Context, doc write, pk string, rev uint64, sid, req string, now int64) error {
	b, err := json.Marshal(Seen{State: sid, Request: requestKey(req), At: now, Cancelled: now})
	if err != nil {
		return fmt.Errorf("encode idempotency record: %w", err)
	}
	return s.state.commit(ctx, doc, write{key: pk, value: b, rev: rev, ttl: keepSeen})
}

// refundKey returns the record of key keyID, or, for an old key rerolled
// into another and still in its grace period, the new key's: both spend
// from one budget, under one state id.
func (s *Store) refundKey(ctx context.Context, keyID string) (Record, error) {
	rec, _, err := s.keyByIDAny(ctx, keyID)
	if err != nil || !rec.IsAlias() {
		return rec, err
	}
	rec, _, err = s.record(ctx, rec.AliasOf)
	return rec, err
}

// refundable says whether an idempotency record charged something that
// can still be given back at now.
func refundable(seen Seen, now int64) bool {
	return seen.Refunded == 0 && seen.Cancelled == 0 && seen.Cost != nil && now-seen.At < contracts.RefundWindow.Milliseconds()
}

// giveBack returns b, refills due at now applied, with cost credits
// charged at `at` given back. Unlimited credits stay so, and a charge
// made before the balance was last reset (a replace refill, or the start
// of its refill schedule) is not given back: the reset undid it already.
func giveBack(b limits.Budget, cost, at, now int64) limits.Budget {
	b = b.Refilled(now)
	if b.Credits == nil {
		return b
	}
	if b.Refill != nil && b.Refill.Mode != contracts.RefillAdd && b.RefilledAt > at {
		return b
	}
	c := min(*b.Credits+cost, limits.MaxCredits)
	b.Credits = &c
	return b
}

package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
)

// Plan turns a key's record and its identity (nil when it has none) into
// what a verification must pass. An error refuses the verification before
// anything is written.
type Plan func(rec Record, ident *Identity) (limits.Input, error)

// Verification is the result of Verify.
type Verification struct {
	Record Record
	// Identity is the identity whose limits and credits applied, if any,
	// and IdentityBudget its budget after the verification.
	Identity       *Identity
	IdentityBudget *limits.Budget
	Outcome        limits.Outcome
	// Replayed means the request id was seen within SeenWindow: Outcome is
	// the first verification's, and nothing was spent.
	Replayed bool
	// DecidedAt is when the decision this answers was made (unix ms): the
	// request's time, or for a replay the first verification's, so a
	// replay can publish the same verification event as the first (whose
	// own event may have been lost with an answer that never arrived).
	DecidedAt int64
}

// Verify decides one use of the key whose hash is given at now (unix ms)
// and writes what it spent with one compare-and-set on the Doc holding the
// key's budget (and its identity's), retrying on conflict. Every replica
// and every concurrent caller therefore agrees: no more is admitted than
// the limits and credits allow. A spending verification with an idempotency
// key (requestID here) is remembered in an idempotency record, committed
// inside the Doc with the spend and then copied to an entry of its own
// (pending.go), kept for keepSeen, so the same idempotency
// key within SeenWindow gets the same answer without spending again,
// however many verifications come in between, and Refund can give the
// charge back. An unknown key is ErrNotFound.
//
// The record and identity come from this replica's caches, and the
// verification joins the others waiting for the same Doc: see group.go.
// Once queued it is decided whatever happens to ctx, so a caller is never
// told of a failure after its credit was spent.
func (s *Store) Verify(ctx context.Context, hash, requestID string, now int64, plan Plan) (Verification, error) {
	rec, err := s.KeyByHashCached(ctx, hash, now)
	if err != nil {
		return Verification{}, err
	}
	ident, err := s.cachedIdentity(ctx, rec.IdentityID)
	if err != nil {
		return Verification{}, err
	}
	a := &ask{rec: rec, ident: ident, hash: hash, requestID: requestID, now: now, plan: plan, done: make(chan askResult, 1)}
	s.enqueue(rec.home(), a)
	r := <-a.done
	if r.lead != nil {
		s.lead(rec.home(), r.lead, true)
		r = <-a.done
	}
	return r.v, r.err
}

// VerifyCached is Verify for a caller that must not wait: the verify
// endpoint, which decides while NATS hands it the next request. When the
// key's record and identity are in this replica's caches it queues the
// verification and returns true; then is called once with the result,
// from the goroutine that decides it (perhaps this one, before
// VerifyCached returns). Otherwise it returns false, having done nothing,
// and the caller calls Verify where it can wait.
func (s *Store) VerifyCached(hash, requestID string, now int64, plan Plan, then func(Verification, error)) bool {
	rec, ok, err := s.peekRecord(hash)
	switch {
	case !ok:
		return false
	case err != nil:
		then(Verification{}, err)
		return true
	case rec.IsAlias():
		return false // resolving it may read; rare, in a grace period
	}
	ident, ok := s.peekIdentity(rec.IdentityID)
	if !ok {
		return false
	}
	s.enqueue(rec.home(), &ask{rec: rec, ident: ident, hash: hash, requestID: requestID, now: now, plan: plan, then: then})
	return true
}

// verifyAlone is Verify without the caches and without a group, for a
// verification whose budget was not in its home Doc: moved to another
// Doc, or gone with its key. It follows forwarding marks and, when the
// budget is nowhere, re-reads the record.
func (s *Store) verifyAlone(ctx context.Context, a *ask) (Verification, error) {
	rec, hash, requestID, now, plan := a.rec, a.hash, a.requestID, a.now, a.plan
	var ident *Identity
	identID := ""
	for range maxAttempts {
		sid := rec.State()
		loc, err := s.locate(ctx, rec.home(), sid)
		if errors.Is(err, errNoState) {
			fresh, err := s.KeyByHash(ctx, hash, now)
			if err != nil {
				return Verification{}, err
			}
			if fresh.home() == rec.home() && fresh.State() == sid {
				return Verification{}, fmt.Errorf("%w: key %s has no state", ErrCorrupt, rec.KeyID)
			}
			rec = fresh
			continue
		}
		if err != nil {
			return Verification{}, err
		}
		if id := identityOf(loc); id != identID {
			if ident, err = s.linkedIdentity(ctx, id); err != nil {
				return Verification{}, err
			}
			identID = id
		}
		var identBudget *limits.Budget
		if ident != nil {
			identBudget = loc.doc.Identity
		}
		var idem entry
		if requestID != "" {
			if idem, err = s.state.get(ctx, idempotencyKey(sid, requestID)); err != nil {
				return Verification{}, err
			}
			seen, found, err := findSeen(idem, &loc.doc, idempotencyKey(sid, requestID))
			if err != nil {
				return Verification{}, err
			}
			if out, at, ok, err := replayOf(seen, found, now); err != nil || ok {
				return Verification{Record: rec, Identity: ident, IdentityBudget: identBudget, Outcome: out, Replayed: ok, DecidedAt: at}, err
			}
		}
		in, err := plan(rec, ident)
		if err != nil {
			return Verification{}, err
		}
		in.Now = now
		out, key, identNext := limits.Decide(in, loc.doc.Keys[sid].Budget, identBudget)
		v := Verification{Record: rec, Identity: ident, IdentityBudget: identNext, Outcome: out, DecidedAt: now}
		if !out.Changed {
			return v, nil
		}
		doc := loc.doc
		doc.Keys[sid] = KeyState{Budget: key, LastUsedAt: now}
		if ident != nil {
			doc.Identity = identNext
		}
		b, err := doc.encode(now)
		if err != nil {
			return Verification{}, err
		}
		ws := []write{{key: loc.key, value: b, rev: loc.rev}}
		if requestID != "" {
			// The spend and its idempotency record commit together, the
			// record only if still absent: of two concurrent verifications
			// with one idempotency key, one commits and the other retries
			// and replays. The record expires after keepSeen.
			rb, err := json.Marshal(seenOf(loc.key, sid, requestID, now, in.Cost, out))
			if err != nil {
				return Verification{}, err
			}
			ws = append(ws, write{key: idempotencyKey(sid, requestID), value: rb, rev: idem.rev, ttl: keepSeen})
		}
		err = s.state.commit(ctx, ws...)
		if errors.Is(err, errRevision) {
			continue
		}
		return v, err
	}
	return Verification{}, fmt.Errorf("verify %s: %w", rec.KeyID, ErrContention)
}

// replayOf reads an idempotency record found (or not) for a verification
// at now: the outcome it remembers, and whether it is still within
// SeenWindow (the record's own time decides, by the service's clock; the
// TTL only clears it away later). A record a refund cancelled is
// ErrCancelled.
func replayOf(seen Seen, found bool, now int64) (limits.Outcome, int64, bool, error) {
	if !found {
		return limits.Outcome{}, 0, false, nil
	}
	if seen.Cancelled != 0 {
		// For as long as the record lives, not only SeenWindow: the
		// verification it cancelled may be the one arriving late.
		return limits.Outcome{}, 0, false, ErrCancelled
	}
	if now-seen.At >= SeenWindow.Milliseconds() {
		return limits.Outcome{}, 0, false, nil
	}
	return seen.outcome(), seen.At, true, nil
}

// identityOf returns the id of the identity whose Doc holds a budget, or ""
// for a key's own Doc and for a deleted identity's.
func identityOf(loc located) string {
	if !strings.HasPrefix(loc.key, "i.") || loc.doc.Identity == nil {
		return ""
	}
	return loc.key[len("i."):]
}

// linkedIdentity loads an identity, nil for "" and for a deleted one.
func (s *Store) linkedIdentity(ctx context.Context, id string) (*Identity, error) {
	if id == "" {
		return nil, nil
	}
	ident, _, err := s.IdentityByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &ident, nil
}

package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
)

// Verifications of keys whose budgets share a Doc are decided in groups:
// while one group's compare-and-set is in flight, the verifications that
// arrive for the same Doc queue up, and the next group decides them all, in
// arrival order, against the Doc as the last group left it, and writes the
// result with one compare-and-set (their idempotency records in the same
// atomic batch). Sixty-four concurrent verifications of one key therefore
// cost a few writes, not sixty-four rounds of conflicting ones, and the
// decisions are exactly those one-at-a-time verifications would reach.
//
// A group starts from this replica's cached copy of the Doc, as its last
// write left it, so a verification that spends costs one write and no read.
// When another replica wrote in between, the compare-and-set fails, the
// group re-reads the Doc and decides again. A group that writes nothing (all
// denied, or nothing to count) answers from a cached Doc only while it is
// younger than stateFresh, re-reading it otherwise: that bounds how long a
// replica keeps refusing a key whose credits another replica topped up, and
// makes a denial under load cost no storage at all.
const (
	// maxGroup bounds the verifications one group decides; it stays far
	// under JetStream's limit on messages in an atomic batch (1000).
	maxGroup = 128
	// stateFresh is how old a cached Doc may be to answer a group that
	// writes nothing.
	stateFresh = 250 * time.Millisecond
	// groupTimeout bounds one group's storage work.
	groupTimeout = 5 * time.Second
)

// ask is one verification waiting for its group.
type ask struct {
	rec             Record
	ident           *Identity
	hash, requestID string
	now             int64
	plan            Plan
	// done receives the result, exactly once.
	done chan askResult
}

type askResult struct {
	v   Verification
	err error
	// lead, when set, is no result: it makes the ask's caller lead this
	// group (which holds the ask) before its result arrives.
	lead []*ask
}

// enqueue adds a to the verifications of Doc home. When no group of home is
// in progress, the caller leads one at once, with a alone; else a waits to
// be decided in a later group, or to be told to lead it.
func (s *Store) enqueue(home string, a *ask) {
	s.groupsMu.Lock()
	if q, busy := s.groups[home]; busy {
		s.groups[home] = append(q, a)
		s.groupsMu.Unlock()
		return
	}
	s.groups[home] = nil
	s.groupsMu.Unlock()
	s.lead(home, []*ask{a})
}

// lead decides group, then hands the verifications that queued meanwhile
// to the first of them, whose caller is waiting anyway (see Verify), so
// the caller returns with its own answer and no goroutine is started per
// group.
func (s *Store) lead(home string, group []*ask) {
	s.decideGroup(home, group)
	s.groupsMu.Lock()
	q := s.groups[home]
	if len(q) == 0 {
		delete(s.groups, home)
		s.groupsMu.Unlock()
		return
	}
	n := min(len(q), maxGroup)
	next := q[:n:n]
	s.groups[home] = append([]*ask(nil), q[n:]...)
	s.groupsMu.Unlock()
	next[0].done <- askResult{lead: next}
}

// decideGroup decides group against Doc home and answers every ask in it.
func (s *Store) decideGroup(home string, group []*ask) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	res := make([]askResult, len(group))
	// seen holds the idempotency records read so far, by entry key; none
	// is read until a commit fails, since almost none exist.
	seen := map[string]entry{}
	var alone []int
	err := func() error {
		cur, fromCache := s.docs.get(home)
		if s.observeGroup != nil {
			s.observeGroup(len(group), fromCache)
		}
		for range maxAttempts {
			if !fromCache {
				m := s.docs.mark()
				e, err := s.state.get(ctx, home)
				if err != nil {
					return err
				}
				if !e.live {
					alone = allOf(group)
					return nil
				}
				doc, err := DecodeDoc(e.value)
				if err != nil {
					return fmt.Errorf("state %s: %w", home, err)
				}
				cur = cached[Doc]{v: doc, rev: e.rev, at: time.Now()}
				s.docs.fill(home, doc, e.rev, m)
			}
			work := cur.v.clone()
			var ws []write
			var spent bool
			var err error
			ws, spent, alone, err = decideAll(home, group, &work, seen, res)
			if err != nil {
				return err
			}
			// A denial of a retried verification must replay the first
			// answer, which only its idempotency record knows: read them.
			if unread := deniedUnread(group, res, seen); len(unread) > 0 {
				if err := s.readSeen(ctx, unread, seen); err != nil {
					return err
				}
				work = cur.v.clone()
				if ws, spent, alone, err = decideAll(home, group, &work, seen, res); err != nil {
					return err
				}
			}
			if !spent {
				if fromCache && time.Since(cur.at) > stateFresh {
					fromCache = false
					continue
				}
				return nil
			}
			b, err := work.encode(latest(group))
			if err != nil {
				return err
			}
			ws = append(ws, write{key: home, value: b, rev: cur.rev, cached: true})
			m := s.docs.mark()
			seq, err := s.state.commitSeq(ctx, ws...)
			if errors.Is(err, errRevision) {
				fromCache = false
				// The records this commit expected may be what changed (a
				// refund cancelled one, another replica wrote one): read
				// them again, with those never read.
				for _, w := range ws {
					if w.key != home {
						delete(seen, w.key)
					}
				}
				if err := s.readSeen(ctx, group, seen); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				s.docs.forget(home)
				return err
			}
			s.docs.fill(home, work, seq, m)
			return nil
		}
		return fmt.Errorf("verify in %s: %w", home, ErrContention)
	}()
	if err != nil {
		for i := range res {
			res[i] = askResult{err: err}
		}
		alone = nil
	}
	isAlone := make(map[int]bool, len(alone))
	for _, i := range alone {
		isAlone[i] = true
	}
	for i, a := range group {
		if !isAlone[i] {
			a.done <- res[i]
		}
	}
	for _, i := range alone {
		v, err := s.verifyAlone(ctx, group[i])
		group[i].done <- askResult{v: v, err: err}
	}
}

// decideAll decides every ask of group in order against work, the Doc at
// home, changing work as each spends, and fills res. It returns the
// idempotency records to write with work (none when nothing was spent) and
// the asks whose budget is not in work; spent says whether work changed.
func decideAll(home string, group []*ask, work *Doc, seen map[string]entry, res []askResult) (ws []write, spent bool, alone []int, err error) {
	// wrote maps an idempotency record written in this group to its ask.
	wrote := map[string]int{}
	for i, a := range group {
		sid := a.rec.State()
		ks, ok := work.Keys[sid]
		if !ok {
			alone = append(alone, i)
			continue
		}
		ident := a.ident
		var identBudget *limits.Budget
		if ident != nil && strings.HasPrefix(home, "i.") && work.Identity != nil {
			identBudget = work.Identity
		} else {
			ident = nil
		}
		res[i] = askResult{}
		replay := func(out limits.Outcome, at int64) {
			res[i] = askResult{v: Verification{Record: a.rec, Identity: ident, IdentityBudget: identBudget, Outcome: out, Replayed: true, DecidedAt: at}}
		}
		pk := ""
		if a.requestID != "" {
			pk = idempotencyKey(sid, a.requestID)
			if j, dup := wrote[pk]; dup {
				replay(res[j].v.Outcome, res[j].v.DecidedAt)
				continue
			}
			out, at, ok, err := replayOf(seen[pk], a.now)
			if err != nil {
				res[i] = askResult{err: err}
				continue
			}
			if ok {
				replay(out, at)
				continue
			}
		}
		in, err := a.plan(a.rec, ident)
		if err != nil {
			res[i] = askResult{err: err}
			continue
		}
		in.Now = a.now
		out, key, identNext := limits.Decide(in, ks.Budget, identBudget)
		res[i] = askResult{v: Verification{Record: a.rec, Identity: ident, IdentityBudget: identNext, Outcome: out, DecidedAt: a.now}}
		if !out.Changed {
			continue
		}
		spent = true
		work.Keys[sid] = KeyState{Budget: key, LastUsedAt: a.now}
		if ident != nil {
			work.Identity = identNext
		}
		if pk != "" {
			rb, err := json.Marshal(seenOf(home, sid, a.requestID, a.now, in.Cost, out))
			if err != nil {
				return nil, false, nil, err
			}
			// Written only if still as read (absent, unless read after a
			// failed commit): of two replicas given one idempotency key,
			// one commits and the other re-reads and replays.
			ws = append(ws, write{key: pk, value: rb, rev: seen[pk].rev, ttl: keepSeen, cached: true})
			wrote[pk] = i
		}
	}
	return ws, spent, alone, nil
}

// readSeen reads the idempotency record of every ask of group that has an
// idempotency key and whose record was not read yet.
func (s *Store) readSeen(ctx context.Context, group []*ask, seen map[string]entry) error {
	for _, a := range group {
		if a.requestID == "" {
			continue
		}
		pk := idempotencyKey(a.rec.State(), a.requestID)
		if _, ok := seen[pk]; ok {
			continue
		}
		e, err := s.state.get(ctx, pk)
		if err != nil {
			return err
		}
		seen[pk] = e
	}
	return nil
}

// deniedUnread returns the asks of group refused with an idempotency key
// whose record was not read: each may be the retry of a verification that
// spent, and must then replay VALID rather than be refused.
func deniedUnread(group []*ask, res []askResult, seen map[string]entry) []*ask {
	var out []*ask
	for i, a := range group {
		code := res[i].v.Outcome.Code
		if a.requestID == "" || res[i].err != nil || res[i].v.Replayed || code == "" || code == contracts.VerifyValid {
			continue
		}
		if _, ok := seen[idempotencyKey(a.rec.State(), a.requestID)]; !ok {
			out = append(out, a)
		}
	}
	return out
}

// latest is the latest time of the asks of a group.
func latest(group []*ask) int64 {
	var t int64
	for _, a := range group {
		t = max(t, a.now)
	}
	return t
}

func allOf(group []*ask) []int {
	out := make([]int, len(group))
	for i := range out {
		out[i] = i
	}
	return out
}

package store

import (
	"context"
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
// result with one compare-and-set (their idempotency records inside the
// Doc: see pending.go). Sixty-four concurrent verifications of one key therefore
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
	// maxGroup bounds the verifications one group decides, and so the
	// idempotency records one write adds to a Doc.
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
	// done receives the result, exactly once, for a caller waiting on it
	// (Verify); then is called with it instead, from whichever goroutine
	// decides the ask, for a caller that does not wait (VerifyCached).
	done chan askResult
	then func(Verification, error)
}

// answer gives a its result.
func (a *ask) answer(r askResult) {
	if a.then != nil {
		a.then(r.v, r.err)
		return
	}
	a.done <- r
}

type askResult struct {
	v   Verification
	err error
	// lead, when set, is no result: it makes the ask's caller lead this
	// group (which holds the ask) before its result arrives.
	lead []*ask
}

// enqueue adds a to the verifications of Doc home. When no group of home is
// in progress, one starts at once, with a alone: led by a's caller when it
// waits (Verify), else answered on the spot if the cached Doc decides it
// without a write or a read, or led by a goroutine of its own. Otherwise a
// waits to be decided in a later group, or, when its caller waits, to be
// told to lead it.
func (s *Store) enqueue(home string, a *ask) {
	s.groupsMu.Lock()
	if q, busy := s.groups[home]; busy {
		s.groups[home] = append(q, a)
		s.groupsMu.Unlock()
		return
	}
	s.groups[home] = nil
	s.groupsMu.Unlock()
	switch {
	case a.then == nil:
		s.lead(home, []*ask{a}, true)
	case s.decideCached(home, a):
		if next := s.next(home); next != nil {
			s.goLead(home, next)
		}
	default:
		s.goLead(home, []*ask{a})
	}
}

// lead decides group, then each group that queued meanwhile, until none
// has. A group whose first ask has a caller waiting (Verify) is handed to
// that caller instead, so it returns with its own answer; so is the lead
// of a caller that waits (caller), which must not be kept from returning
// by the verifications of others: a leader goroutine takes them over
// (goLead).
func (s *Store) lead(home string, group []*ask, caller bool) {
	for {
		s.decideGroup(home, group)
		next := s.next(home)
		switch {
		case next == nil:
			return
		case next[0].then == nil:
			next[0].done <- askResult{lead: next}
			return
		case caller:
			s.goLead(home, next)
			return
		}
		group = next
	}
}

// leaderIdle is how long a leader goroutine waits for another group
// before it ends.
const leaderIdle = 10 * time.Second

// leadJob is a group handed to a leader goroutine.
type leadJob struct {
	home  string
	group []*ask
}

// goLead leads group on an idle leader goroutine, or on a new one.
// Leaders outlive their groups, so a verification that is the only one of
// its group neither starts a goroutine nor grows a fresh one's stack.
func (s *Store) goLead(home string, group []*ask) {
	select {
	case s.leaders <- leadJob{home, group}:
	default:
		go s.leader(leadJob{home, group})
	}
}

// leader leads j, then each group handed to it, until none came for
// leaderIdle.
func (s *Store) leader(j leadJob) {
	idle := time.NewTimer(leaderIdle)
	defer idle.Stop()
	for {
		s.lead(j.home, j.group, false)
		idle.Reset(leaderIdle)
		select {
		case j = <-s.leaders:
		case <-idle.C:
			return
		}
	}
}

// next takes the verifications of home that queued while its group was
// decided, at most maxGroup, or ends home's groups when none did.
func (s *Store) next(home string) []*ask {
	s.groupsMu.Lock()
	defer s.groupsMu.Unlock()
	q := s.groups[home]
	if len(q) == 0 {
		delete(s.groups, home)
		return nil
	}
	n := min(len(q), maxGroup)
	s.groups[home] = append([]*ask(nil), q[n:]...)
	return q[:n:n]
}

// decideCached answers a, the only ask of a group of home, from this
// replica's cached Doc when that decides it without writing or reading
// anything (nothing to count, or refused), as decideGroup would; it
// reports whether it did. It never waits on storage, so the verify
// endpoint can call it inline.
func (s *Store) decideCached(home string, a *ask) bool {
	cur, ok := s.docs.get(home)
	if !ok || time.Since(cur.at) > stateFresh {
		return false
	}
	work := cur.v.clone()
	res := make([]askResult, 1)
	added, alone, unread, err := decideAll(home, []*ask{a}, &work, nil, res)
	if err != nil || added != nil || len(alone) > 0 || unread {
		return false
	}
	if s.observeGroup != nil {
		s.observeGroup(1, true)
	}
	a.answer(res[0])
	return true
}

// decideGroup decides group against Doc home and answers every ask in it.
func (s *Store) decideGroup(home string, group []*ask) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	res := make([]askResult, len(group))
	var alone []int
	var copyAfter map[string]Seen
	var copyAt int64
	err := func() error {
		cur, fromCache := s.docs.get(home)
		if s.observeGroup != nil {
			s.observeGroup(len(group), fromCache)
		}
		// minRev is the least revision of home a read may return: past
		// the one a compare-and-set failed on, so that a follower behind
		// it is not taken for an answer.
		var minRev uint64
		for range maxAttempts {
			// seen holds the idempotency records read with the Doc.
			var seen map[string]entry
			if !fromCache {
				m := s.docs.mark()
				e, read, err := s.readDoc(ctx, home, minRev, group)
				if err != nil {
					return err
				}
				seen = read
				var live bool
				if cur, live, err = s.docRead(home, e, m); err != nil || !live {
					alone = allOf(group)
					return err
				}
			}
			work := cur.v.clone()
			var added map[string]Seen
			var unread bool
			var err error
			added, alone, unread, err = decideAll(home, group, &work, seen, res)
			if err != nil {
				return err
			}
			if unread { // seen is nil: the Doc came from the cache
				// The idempotency records are read after the Doc they are
				// decided with: see pending.go.
				m := s.docs.mark()
				now, seen, err := s.readDoc(ctx, home, cur.rev, group)
				if err != nil {
					return err
				}
				if now.rev > cur.rev {
					// Another replica wrote the Doc since: decide against
					// the Doc the read found, for which the records read
					// with it are current, rather than against one whose
					// compare-and-set would fail.
					var live bool
					if cur, live, err = s.docRead(home, now, m); err != nil || !live {
						alone = allOf(group)
						return err
					}
					if s.observeConflict != nil {
						s.observeConflict(false)
					}
				}
				work = cur.v.clone()
				if added, alone, _, err = decideAll(home, group, &work, seen, res); err != nil {
					return err
				}
			}
			if added == nil {
				if fromCache && time.Since(cur.at) > stateFresh {
					fromCache, minRev = false, cur.rev
					continue
				}
				return nil
			}
			now := latest(group)
			dropped, stale := s.copies.tidy(&work, now)
			b, err := work.encode(now)
			if err != nil {
				return err
			}
			m := s.docs.mark()
			seq, err := s.state.commitSeq(ctx, write{key: home, value: b, rev: cur.rev, cached: true})
			if errors.Is(err, errRevision) {
				if s.observeConflict != nil {
					s.observeConflict(true)
				}
				fromCache, minRev = false, cur.rev+1
				continue
			}
			if err != nil {
				s.docs.forget(home)
				return err
			}
			s.docs.fill(home, work, seq, m)
			s.copies.forget(dropped)
			for pk, r := range stale {
				added[pk] = r
			}
			copyAfter, copyAt = added, now
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
	// The copies start (in the background) before the answers go out, so
	// a caller that has its answer can wait for them (WaitCopies).
	s.copyPending(copyAfter, copyAt)
	for i, a := range group {
		if !isAlone[i] {
			a.answer(res[i])
		}
	}
	for _, i := range alone {
		v, err := s.verifyAlone(ctx, group[i])
		group[i].answer(askResult{v: v, err: err})
	}
}

// decideAll decides every ask of group in order against work, the Doc at
// home, changing work as each spends, and fills res; seen holds the
// entries of the asks' idempotency records, nil when none was read. It
// returns the idempotency records it added to work's pending ones (non-nil,
// if empty, whenever work changed) and the asks whose budget is not in
// work. unread says that the decision needs records not read: an ask with
// an idempotency key whose record is not pending in work was decided
// without reading its entry, and it spends (its entry may record that it
// spent already) or is refused (its entry may record that it was admitted,
// or cancelled). One admitted without spending is answered as it is; so is
// one whose record is pending in work, which is the latest of its key.
func decideAll(home string, group []*ask, work *Doc, seen map[string]entry, res []askResult) (added map[string]Seen, alone []int, unread bool, err error) {
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
		// unknown: the ask's record was neither found pending nor read.
		unknown := false
		if a.requestID != "" {
			pk = idempotencyKey(sid, a.requestID)
			if j, dup := wrote[pk]; dup {
				replay(res[j].v.Outcome, res[j].v.DecidedAt)
				continue
			}
			r, found, err := findSeen(seen[pk], work, pk)
			unknown = !found && seen == nil
			if err == nil {
				var out limits.Outcome
				var at int64
				if out, at, found, err = replayOf(r, found, a.now); err == nil && found {
					replay(out, at)
					continue
				}
			}
			if err != nil {
				res[i] = askResult{err: err}
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
		unread = unread || (unknown && (out.Changed || out.Code != contracts.VerifyValid))
		if !out.Changed {
			continue
		}
		if added == nil {
			added = map[string]Seen{}
		}
		work.Keys[sid] = KeyState{Budget: key, LastUsedAt: a.now}
		if ident != nil {
			work.Identity = identNext
		}
		if pk != "" {
			r := seenOf(home, sid, a.requestID, a.now, in.Cost, out)
			work.addPending(pk, r)
			added[pk] = r
			wrote[pk] = i
		}
	}
	return added, alone, unread, nil
}

// docRead decodes e, Doc home as a read that began at mark m found it,
// and caches it; live is false when there is no Doc (deleted, or moved
// along with its key: the group's asks are then verified alone).
func (s *Store) docRead(home string, e entry, m uint64) (cur cached[Doc], live bool, err error) {
	if !e.live {
		return cur, false, nil
	}
	doc, err := DecodeDoc(e.value)
	if err != nil {
		return cur, false, fmt.Errorf("state %s: %w", home, err)
	}
	s.docs.fill(home, doc, e.rev, m)
	return cached[Doc]{v: doc, rev: e.rev, at: time.Now()}, true, nil
}

// readDoc reads Doc home and, when an ask of group has an idempotency key,
// in the same read the records of all their idempotency keys, from a
// server that holds the Doc at revision minRev or later; the records are
// nil when none has. A record copied out of a Doc was copied before the
// Doc was written (pending.go), so the read finds every record copied out
// of the Doc it returns, whichever server answers.
func (s *Store) readDoc(ctx context.Context, home string, minRev uint64, group []*ask) (entry, map[string]entry, error) {
	pks := idempotencyKeys(group)
	if len(pks) == 0 {
		e, err := s.state.get(ctx, home)
		return e, nil, err
	}
	return s.state.lastOf(ctx, home, minRev, pks)
}

// idempotencyKeys returns the entry keys of the idempotency records of the
// asks of group that have an idempotency key.
func idempotencyKeys(group []*ask) []string {
	var pks []string
	for _, a := range group {
		if a.requestID != "" {
			pks = append(pks, idempotencyKey(a.rec.State(), a.requestID))
		}
	}
	return pks
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

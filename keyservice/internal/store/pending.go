package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// A spending verification with an idempotency key commits its idempotency
// record inside the Doc it spends from (Doc.Pending), in the same single
// compare-and-set as the spend, and the record is copied to its own entry
// ("p.<tag>") in the background, while the answer is sent; a group's
// copies are all in flight at once. Once that entry exists, the next
// write of the Doc by the replica that copied it drops the Doc's copy.
//
// Why: writing the record to its own entry in the spend's commit takes an
// atomic batch, and nats-server (2.15) stages every atomic batch on a
// single-replica file-backed stream in a file store of its own, created,
// synced and removed per batch: a spending verification with an
// idempotency key (every OCR request the ingress admits) took 5 ms and
// ran at under 1,000 a second on one key. One message per spend keeps it
// as cheap as a verification without one.
//
// The rules that keep it exact:
//
//   - A record's own entry, when it holds the same record, is the truth: a
//     refund marks it there. The Doc's copy is read when the entry is
//     absent or holds an older record (a verification with the same
//     idempotency key past SeenWindow, which the copy replaces).
//   - A copy to the entry is written with a compare-and-set, and only over
//     nothing or an older record, so it never overwrites a refund's mark;
//     an entry found holding the record (or a later one) counts as copied.
//   - A verification reads the records of its idempotency keys after it
//     has the Doc it commits against (group.go): a record copied to its
//     entry and dropped from the Doc was copied before that Doc was
//     written, so the read finds it. On a replicated stream any server
//     may answer that read, a follower some writes behind included, so
//     the read also fetches the Doc and is only taken from a server that
//     holds it at that revision or later (lastOf). Elsewhere (a lone
//     verification, a refund) the record's entry is written with a
//     compare-and-set on the revision read, which a stale read fails.
//   - A refund changes the Doc in every case (refund.go), so it and a
//     verification of the same idempotency key are ordered by the Doc's
//     compare-and-set, and a move takes the records of the budget it
//     moves along (move.go).
//
// A record whose copy failed, or whose replica died before copying it,
// stays in the Doc; any replica writing the Doc copies records older than
// pendingStale. One that never gets copied is dropped with the Doc's next
// write keepSeen after it was made, when its entry would have expired.
const (
	// pendingStale is how old a record in a Doc must be before a replica
	// that did not commit it copies it to its entry.
	pendingStale = 2 * time.Second
	// copiedKeep is how long a replica remembers a record it copied, for
	// the Doc's next write to drop it; one forgotten before is found
	// copied again after pendingStale.
	copiedKeep = time.Minute
)

// copies is what one replica knows of the records it is copying to their
// own entries, by entry key: when each copy started, and when it was
// found done.
type copies struct {
	mu sync.Mutex
	m  map[string]copyState
	// swept is when m was last cleared of entries past copiedKeep.
	swept time.Time
	wg    sync.WaitGroup
}

// copyState is one record's copy: at is the record's time, which tells
// it from a later record under the same key.
type copyState struct {
	at            int64
	started, done time.Time
}

// tidy removes from d's pending records those this replica has copied,
// returning their keys and times, and returns the records it should copy
// after d is written: those committed by others (or by an earlier
// process) more than pendingStale before now (unix ms) and not being
// copied already.
func (c *copies) tidy(d *Doc, now int64) (dropped map[string]int64, stale map[string]Seen) {
	if len(d.Pending) == 0 {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for pk, r := range d.Pending {
		st, known := c.m[pk]
		known = known && st.at == r.At
		switch {
		case known && !st.done.IsZero():
			delete(d.Pending, pk)
			if dropped == nil {
				dropped = map[string]int64{}
			}
			dropped[pk] = r.At
		case !known && now-r.At >= pendingStale.Milliseconds():
			if stale == nil {
				stale = map[string]Seen{}
			}
			stale[pk] = r
		}
	}
	return dropped, stale
}

// forget drops what is remembered of records (key and time) the Doc no
// longer holds.
func (c *copies) forget(dropped map[string]int64) {
	if len(dropped) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for pk, at := range dropped {
		if c.m[pk].at == at {
			delete(c.m, pk)
		}
	}
}

// copyPending writes each record of rs to its own entry, in the
// background; see the rules above. now is the verifications' time (unix
// ms), by which the entries' expiry is set.
func (s *Store) copyPending(rs map[string]Seen, now int64) {
	if len(rs) == 0 || s.noCopies {
		return
	}
	c := &s.copies
	c.mu.Lock()
	started := time.Now()
	if c.m == nil {
		c.m = map[string]copyState{}
	}
	if started.Sub(c.swept) > copiedKeep {
		for pk, st := range c.m {
			if started.Sub(st.started) > copiedKeep {
				delete(c.m, pk)
			}
		}
		c.swept = started
	}
	for pk, r := range rs {
		c.m[pk] = copyState{at: r.At, started: started}
	}
	c.mu.Unlock()
	c.wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
		defer cancel()
		errs := s.copyRecords(ctx, rs, now)
		c.mu.Lock()
		defer c.mu.Unlock()
		for pk, r := range rs {
			st := c.m[pk]
			if st.at != r.At {
				continue
			}
			if errs[pk] == nil {
				st.done = time.Now()
				c.m[pk] = st
			} else {
				// Not copied: found stale by a later write, copied then.
				delete(c.m, pk)
			}
		}
	})
}

// copyRecords writes each record of rs to its entry unless the entry
// holds that record or a later one already: it replaces only an older
// record (a verification with the same idempotency key past SeenWindow) or
// none. The first attempts, over no entry, are all in flight at once;
// one that finds an entry reads it and retries alone. It returns each
// record's error, nil when copied.
func (s *Store) copyRecords(ctx context.Context, rs map[string]Seen, now int64) map[string]error {
	errs := make(map[string]error, len(rs))
	pks := make([]string, 0, len(rs))
	ws := make([]write, 0, len(rs))
	for pk, r := range rs {
		b, err := json.Marshal(r)
		if err != nil {
			errs[pk] = err
			continue
		}
		ttl := keepSeen - time.Duration(now-r.At)*time.Millisecond
		if ttl <= 0 {
			errs[pk] = nil // expired: the Doc's next write drops it
			continue
		}
		pks = append(pks, pk)
		ws = append(ws, write{key: pk, value: b, ttl: max(ttl, time.Second), cached: true})
	}
	for i, err := range s.state.commitEach(ctx, ws) {
		if errors.Is(err, errRevision) {
			err = s.copyOver(ctx, ws[i], rs[pks[i]])
		}
		errs[pks[i]] = err
	}
	return errs
}

// copyOver retries w, the copy of r that found its entry taken, over the
// entry as it stands, unless that holds r or a later record.
func (s *Store) copyOver(ctx context.Context, w write, r Seen) error {
	for range maxAttempts {
		e, err := s.state.get(ctx, w.key)
		if err != nil {
			return err
		}
		if e.live {
			var got Seen
			if err := json.Unmarshal(e.value, &got); err != nil {
				return errCorruptSeen(err)
			}
			if got.At >= r.At {
				return nil
			}
		}
		w.rev = e.rev
		err = s.state.commit(ctx, w)
		if !errors.Is(err, errRevision) {
			return err
		}
	}
	return errRevision
}

// findSeen returns the idempotency record pk as it stands with Doc d: the
// later of its entry e and d's pending copy, the entry when both are the
// same record.
func findSeen(e entry, d *Doc, pk string) (Seen, bool, error) {
	p, pending := d.Pending[pk]
	if !e.live {
		return p, pending, nil
	}
	var seen Seen
	if err := json.Unmarshal(e.value, &seen); err != nil {
		return Seen{}, false, errCorruptSeen(err)
	}
	if pending && p.At > seen.At {
		return p, true, nil
	}
	return seen, true, nil
}

// addPending records r as pending in d under pk.
func (d *Doc) addPending(pk string, r Seen) {
	if d.Pending == nil {
		d.Pending = map[string]Seen{}
	}
	d.Pending[pk] = r
}

// WaitCopies waits for the copies of idempotency records started so far.
func (s *Store) WaitCopies() { s.copies.wg.Wait() }

func errCorruptSeen(err error) error {
	return fmt.Errorf("%w: idempotency record: %v", ErrCorrupt, err)
}

package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// maxHops bounds how many forwarding marks a lookup follows.
const maxHops = 4

// errNoState means a key's budget was not where its record and the
// forwarding marks point: the record was read before a delete, or before a
// move whose marks are gone. The caller re-reads the record.
var errNoState = errors.New("key state not found")

// errNoDoc means the Doc a budget should go to does not exist: the identity
// was deleted meanwhile.
var errNoDoc = errors.New("identity state not found")

// located is a key's budget found in its Doc.
type located struct {
	key string
	doc Doc
	rev uint64
}

// locate finds the Doc holding state id sid, starting at home and following
// the forwarding marks moves leave behind.
func (s *Store) locate(ctx context.Context, home, sid string) (located, error) {
	key := home
	for range maxHops {
		e, err := s.state.get(ctx, key)
		if err != nil {
			return located{}, err
		}
		if !e.live {
			return located{}, errNoState
		}
		doc, err := DecodeDoc(e.value)
		if err != nil {
			return located{}, fmt.Errorf("state %s: %w", key, err)
		}
		if _, ok := doc.Keys[sid]; ok {
			return located{key: key, doc: doc, rev: e.rev}, nil
		}
		m, ok := doc.Moved[sid]
		if !ok {
			return located{}, errNoState
		}
		key = m.To
	}
	return located{}, errNoState
}

// putKeyState stores ks as the budget of sid in Doc key, creating a key's
// Doc when missing; an identity's Doc must exist (errNoDoc).
func (s *Store) putKeyState(ctx context.Context, key, sid string, ks KeyState, now int64) error {
	for range maxAttempts {
		e, err := s.state.get(ctx, key)
		if err != nil {
			return err
		}
		doc := Doc{}
		if e.live {
			if doc, err = DecodeDoc(e.value); err != nil {
				return fmt.Errorf("state %s: %w", key, err)
			}
		} else if strings.HasPrefix(key, "i.") {
			return errNoDoc
		}
		doc = doc.clone()
		doc.Keys[sid] = ks
		delete(doc.Moved, sid)
		b, err := doc.encode(now)
		if err != nil {
			return err
		}
		if err = s.state.commit(ctx, write{key: key, value: b, rev: e.rev}); !errors.Is(err, errRevision) {
			return err
		}
	}
	return fmt.Errorf("put state %s: %w", sid, ErrContention)
}

// dropKeyState removes the budget of sid from wherever it is, deleting a
// key's Doc outright, and a deleted identity's Doc once its last key is
// gone. A budget already gone is not an error.
func (s *Store) dropKeyState(ctx context.Context, home, sid string, now int64) error {
	for range maxAttempts {
		loc, err := s.locate(ctx, home, sid)
		if errors.Is(err, errNoState) {
			return nil
		}
		if err != nil {
			return err
		}
		w := write{key: loc.key, rev: loc.rev, del: true}
		if strings.HasPrefix(loc.key, "i.") {
			doc := loc.doc.clone()
			delete(doc.Keys, sid)
			if w.value, err = doc.encode(now); err != nil {
				return err
			}
			if doc.Identity == nil && len(doc.Keys) == 0 {
				w.value, w.del = nil, true
			}
		}
		if err = s.state.commit(ctx, w); !errors.Is(err, errRevision) {
			return err
		}
	}
	return fmt.Errorf("drop state %s: %w", sid, ErrContention)
}

// moveKeyState moves the budget of sid from loc to Doc `to` in one atomic
// batch, applying change to it on the way, and leaves a forwarding mark.
// Its idempotency records still pending in loc's Doc move along. With to == loc.key it only
// applies change. A lost race is errRevision: the caller locates again.
func (s *Store) moveKeyState(ctx context.Context, loc located, to, sid string, now int64, change func(*KeyState) error) error {
	ks := loc.doc.Keys[sid]
	if change != nil {
		if err := change(&ks); err != nil {
			return err
		}
	}
	from := loc.doc.clone()
	if to == loc.key {
		from.Keys[sid] = ks
		b, err := from.encode(now)
		if err != nil {
			return err
		}
		return s.state.commit(ctx, write{key: loc.key, value: b, rev: loc.rev})
	}
	e, err := s.state.get(ctx, to)
	if err != nil {
		return err
	}
	dest := Doc{}
	if e.live {
		if dest, err = DecodeDoc(e.value); err != nil {
			return fmt.Errorf("state %s: %w", to, err)
		}
	} else if strings.HasPrefix(to, "i.") {
		return errNoDoc
	}
	dest = dest.clone()
	dest.Keys[sid] = ks
	delete(dest.Moved, sid)
	delete(from.Keys, sid)
	for pk, r := range from.Pending {
		if r.State == sid {
			dest.addPending(pk, r)
			delete(from.Pending, pk)
		}
	}
	from.Moved[sid] = Moved{To: to, At: now}
	fb, err := from.encode(now)
	if err != nil {
		return err
	}
	db, err := dest.encode(now)
	if err != nil {
		return err
	}
	return s.state.commit(ctx, write{key: loc.key, value: fb, rev: loc.rev}, write{key: to, value: db, rev: e.rev})
}

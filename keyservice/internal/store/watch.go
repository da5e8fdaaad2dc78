package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bounds of the caches.
const (
	// cacheEntries bounds each cache; a full cache is cleared.
	cacheEntries = 100_000
	// cacheMaxAge is the longest an entry is served without a re-read,
	// whatever the watch says: the bound on staleness if the watch ever
	// stopped delivering without an error.
	cacheMaxAge = 10 * time.Second
)

// recordEntry is a cached h.<hash>: a record, or the fact there is none.
type recordEntry struct {
	rec   Record
	found bool
}

// identityEntry is a cached i.<identityId> of the keys bucket.
type identityEntry struct {
	ident Identity
	found bool
}

// startWatch watches the records and identities in the keys bucket, from
// now on, so every change made by any replica replaces or drops this
// replica's cached copy within the watch's delivery time. Reads started
// before a change are refused by the caches (see cache), so there is no
// window in which a stale read is put back.
//
// The watch outlives ctx, which only bounds starting it (a watch ends with
// its context): Close ends it.
func (s *Store) startWatch(ctx context.Context) error {
	wctx, cancel := context.WithCancel(context.Background())
	type started struct {
		w   jetstream.KeyWatcher
		err error
	}
	ch := make(chan started, 1)
	go func() {
		w, err := s.keys.kv.WatchFiltered(wctx, []string{"h.*", "i.*"}, jetstream.UpdatesOnly())
		ch <- started{w, err}
	}()
	var w jetstream.KeyWatcher
	select {
	case r := <-ch:
		w = r.w
		if r.err != nil {
			cancel()
			return fmt.Errorf("watch %s: %w", s.keys.name, r.err)
		}
	case <-ctx.Done():
		cancel()
		return fmt.Errorf("watch %s: %w", s.keys.name, ctx.Err())
	}
	s.stopWatch = cancel
	s.watch = w
	s.watchDone = make(chan struct{})
	go func() {
		defer close(s.watchDone)
		for e := range w.Updates() {
			if e != nil {
				s.observe(e)
			}
		}
		// The watch ended (Close, or the connection closed): nothing
		// tells this replica of changes any more, so it reads through.
		s.records.stop()
		s.identities.stop()
	}()
	return nil
}

// Close stops the watch and ends the subscription of batched reads. The
// Store keeps working, reading through (and subscribing again if it must).
func (s *Store) Close() error {
	rerr := s.state.replies.close()
	if s.watch == nil {
		return rerr
	}
	err := s.watch.Stop()
	s.stopWatch()
	<-s.watchDone
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		err = nil
	}
	return errors.Join(rerr, err)
}

// observe applies one change of the keys bucket to the caches.
func (s *Store) observe(e jetstream.KeyValueEntry) {
	live := e.Operation() == jetstream.KeyValuePut
	switch k := e.Key(); {
	case strings.HasPrefix(k, "h."):
		var v recordEntry
		if live {
			rec, err := DecodeRecord(e.Value())
			if err != nil {
				s.records.forget(k[len("h."):]) // read it, and report it, when asked
				return
			}
			v = recordEntry{rec: rec, found: true}
		}
		s.records.observe(k[len("h."):], v, e.Revision())
	case strings.HasPrefix(k, "i."):
		var v identityEntry
		if live {
			ident, err := DecodeIdentity(e.Value())
			if err != nil {
				s.identities.forget(k[len("i."):])
				return
			}
			v = identityEntry{ident: ident, found: true}
		}
		s.identities.observe(k[len("i."):], v, e.Revision())
	}
}

// keysTouched forgets what a local write to the keys bucket changed, so
// this replica reads its own writes at once, before the watch brings them.
func (s *Store) keysTouched(key string) {
	switch {
	case strings.HasPrefix(key, "h."):
		s.records.forget(key[len("h."):])
	case strings.HasPrefix(key, "i."):
		s.identities.forget(key[len("i."):])
	}
}

// cachedRecord is record through the cache: h.<hash> as of at most the
// watch's delay ago.
func (s *Store) cachedRecord(ctx context.Context, hash string) (Record, error) {
	if rec, ok, err := s.peekRecord(hash); ok {
		return rec, err
	}
	m := s.records.mark()
	rec, rev, err := s.record(ctx, hash)
	switch {
	case errors.Is(err, ErrNotFound):
		s.records.fill(hash, recordEntry{}, 0, m)
	case err == nil:
		s.records.fill(hash, recordEntry{rec: rec, found: true}, rev, m)
	}
	return rec, err
}

// cachedIdentity is linkedIdentity through the cache: nil for "" and for
// a deleted identity.
func (s *Store) cachedIdentity(ctx context.Context, id string) (*Identity, error) {
	if ident, ok := s.peekIdentity(id); ok {
		return ident, nil
	}
	m := s.identities.mark()
	ident, rev, err := s.IdentityByID(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		s.identities.fill(id, identityEntry{}, 0, m)
		return nil, nil
	case err != nil:
		return nil, err
	}
	s.identities.fill(id, identityEntry{ident: ident, found: true}, rev, m)
	return &ident, nil
}

// peekRecord is cachedRecord without the read: ok says the cache knew.
func (s *Store) peekRecord(hash string) (Record, bool, error) {
	e, ok := s.records.get(hash)
	switch {
	case !ok:
		return Record{}, false, nil
	case !e.v.found:
		return Record{}, true, ErrNotFound
	}
	return e.v.rec, true, nil
}

// peekIdentity is cachedIdentity without the read: ok says the cache knew.
func (s *Store) peekIdentity(id string) (*Identity, bool) {
	if id == "" {
		return nil, true
	}
	e, ok := s.identities.get(id)
	if !ok || !e.v.found {
		return nil, ok
	}
	ident := e.v.ident
	return &ident, true
}

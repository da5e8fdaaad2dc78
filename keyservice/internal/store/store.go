// Package store keeps keys and their usage state in two JetStream KV buckets
// owned by keyservice.
//
// Bucket contracts.KeysBucket holds the key records, "h.<sha256 hex>" ->
// Record, and an index "id.<keyId>" -> hash. Bucket contracts.KeyStateBucket
// holds "<keyId>" -> limits.State, the credits and rate-limit windows that
// change on every verification. Keeping them apart means a verification's
// compare-and-set never conflicts with an edit of the key itself.
//
// The plaintext key is never stored: only its hash, and the short start.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
)

// Errors returned by the store.
var (
	ErrNotFound   = errors.New("key not found")
	ErrCorrupt    = errors.New("corrupt stored value")
	ErrContention = errors.New("too many concurrent updates")
)

// maxCASAttempts bounds the compare-and-set retries of one verification.
const maxCASAttempts = 64

// Store reads and writes key records and usage state.
type Store struct {
	keys  jetstream.KeyValue
	state jetstream.KeyValue
}

// Open creates the buckets if needed and returns a Store on them.
func Open(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	keys, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: contracts.KeysBucket, Description: "API key records by hash", History: 1, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", contracts.KeysBucket, err)
	}
	state, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: contracts.KeyStateBucket, Description: "credits and rate-limit windows by key id", History: 1, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", contracts.KeyStateBucket, err)
	}
	return &Store{keys: keys, state: state}, nil
}

// Create stores a new key. The state and the id index are written before
// the record, so a key never verifies without them; a crash in between
// leaves only unreachable entries behind.
func (s *Store) Create(ctx context.Context, rec Record, st limits.State) error {
	sb, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	rb, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	if _, err := s.state.Create(ctx, rec.KeyID, sb); err != nil {
		return fmt.Errorf("create state %s: %w", rec.KeyID, err)
	}
	if _, err := s.keys.Create(ctx, "id."+rec.KeyID, []byte(rec.Hash)); err != nil {
		return fmt.Errorf("create index %s: %w", rec.KeyID, err)
	}
	if _, err := s.keys.Create(ctx, "h."+rec.Hash, rb); err != nil {
		return fmt.Errorf("create record %s: %w", rec.KeyID, err)
	}
	return nil
}

// ByHash returns the record of the key whose SHA-256 is hash.
func (s *Store) ByHash(ctx context.Context, hash string) (Record, error) {
	e, err := s.keys.Get(ctx, "h."+hash)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("get record: %w", err)
	}
	return DecodeRecord(e.Value())
}

// Spend decides one verification of rec at now and, when it changes the
// state, writes the new state with compare-and-set, retrying on conflict.
// Every replica and every concurrent caller therefore agrees: no more is
// admitted than the limits and credits allow.
func (s *Store) Spend(ctx context.Context, rec Record, cost int64, now func() time.Time) (limits.Outcome, error) {
	for range maxCASAttempts {
		var st limits.State
		var rev uint64
		e, err := s.state.Get(ctx, rec.KeyID)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return limits.Outcome{}, fmt.Errorf("get state %s: %w", rec.KeyID, err)
		default:
			rev = e.Revision()
			if st, err = DecodeState(e.Value()); err != nil {
				return limits.Outcome{}, fmt.Errorf("state %s: %w", rec.KeyID, err)
			}
		}
		out, next := limits.Decide(now().UnixMilli(), rec.Policy(), st, cost)
		if !out.Changed {
			return out, nil
		}
		b, err := json.Marshal(next)
		if err != nil {
			return limits.Outcome{}, fmt.Errorf("encode state: %w", err)
		}
		if rev == 0 {
			_, err = s.state.Create(ctx, rec.KeyID, b)
		} else {
			_, err = s.state.Update(ctx, rec.KeyID, b, rev)
		}
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			continue
		}
		if err != nil {
			return limits.Outcome{}, fmt.Errorf("update state %s: %w", rec.KeyID, err)
		}
		return out, nil
	}
	return limits.Outcome{}, fmt.Errorf("spend %s: %w", rec.KeyID, ErrContention)
}

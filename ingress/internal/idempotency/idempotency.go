// Package idempotency remembers HTTP Idempotency-Key values, so a retried
// OCR request is answered with the first request's job and charged once.
//
// Each (API key, Idempotency-Key) pair claims one entry of the JetStream KV
// bucket contracts.IdempotencyBucket, created only if absent, so of any
// number of concurrent requests exactly one is new: the others learn its
// job id. The entry holds a hash of what the request asked for, so the
// same key with a different request is refused (ErrConflict, a 409). An
// entry expires with the bucket's TTL, contracts.IdempotencyMaxAge.
//
// Neither the API key nor the Idempotency-Key is stored: the entry's name
// is a SHA-256 of the scope (itself a SHA-256 of the API key) and the
// Idempotency-Key.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops/jsetup"
)

// Errors of Claim.
var (
	// ErrConflict is an Idempotency-Key already used, within
	// contracts.IdempotencyMaxAge, for a different request.
	ErrConflict = errors.New("idempotency key reused with a different request")
	// ErrInvalidKey is an Idempotency-Key that is not 1 to MaxKeyLength
	// printable ASCII characters.
	ErrInvalidKey = errors.New("idempotency key must be 1 to 255 printable ASCII characters")
)

// MaxKeyLength is the longest Idempotency-Key accepted, in bytes.
const MaxKeyLength = 255

// maxAttempts bounds the create-or-read rounds of one Claim: a round only
// repeats when the entry vanished between the two.
const maxAttempts = 8

// Config holds a Store's dependencies.
type Config struct {
	JetStream jetstream.JetStream
	// Replicas is the least number of JetStream replicas of the bucket;
	// 0 means 1. See package jsetup: a bucket with fewer is raised, one
	// with more keeps its own.
	Replicas int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Store claims Idempotency-Keys.
type Store struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

// Claim is the outcome of Store.Claim.
type Claim struct {
	// New is true for the one request that claimed the key: it runs its
	// job. Otherwise JobID names the first request's job.
	New   bool
	JobID string
	// CreatedAt is when the key was first claimed, in UTC, to the millisecond.
	CreatedAt time.Time
}

// record is a claimed key's entry.
type record struct {
	BodyHash  string `json:"bodyHash"`
	JobID     string `json:"jobId"`
	CreatedAt int64  `json:"createdAt"` // unix ms
}

// New creates the bucket unless it exists (any number of ingress replicas
// may start at once) and returns a Store on it.
func New(ctx context.Context, cfg Config) (*Store, error) {
	n, err := jsetup.Floor(ctx, cfg.JetStream, "KV_"+contracts.IdempotencyBucket, cfg.Replicas)
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", contracts.IdempotencyBucket, err)
	}
	kcfg := jetstream.KeyValueConfig{
		Bucket: contracts.IdempotencyBucket, Description: "HTTP Idempotency-Key claims",
		History: 1, TTL: contracts.IdempotencyMaxAge, Storage: jetstream.FileStorage, Replicas: n,
	}
	var kv jetstream.KeyValue
	err = jsetup.Retry(ctx, func(ctx context.Context) (err error) {
		kv, err = jsetup.KeyValue(ctx, cfg.JetStream, kcfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", contracts.IdempotencyBucket, err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Store{kv: kv, now: now}, nil
}

// Scope is the scope of an API key's Idempotency-Keys: its SHA-256, in
// hex. Two API keys never share an Idempotency-Key.
func Scope(apiKey string) string {
	sum := sha256.Sum256([]byte(apiKey))
	return hex.EncodeToString(sum[:])
}

// ValidKey reports whether an Idempotency-Key header value is 1 to
// MaxKeyLength printable ASCII characters (space to tilde).
func ValidKey(k string) bool {
	if k == "" || len(k) > MaxKeyLength {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// Claim claims idemKey within scope (see Scope) for the request whose
// RequestHash is bodyHash, to be run as job jobID. The first claim is
// New; a later one with the same bodyHash names the first claim's job,
// whether or not that job has finished; one with another bodyHash is
// ErrConflict. An invalid idemKey is ErrInvalidKey.
func (s *Store) Claim(ctx context.Context, scope, idemKey, bodyHash, jobID string) (Claim, error) {
	if !ValidKey(idemKey) {
		return Claim{}, ErrInvalidKey
	}
	if scope == "" || bodyHash == "" || jobID == "" {
		return Claim{}, errors.New("claim: scope, body hash and job id are required")
	}
	now := s.now()
	b, err := json.Marshal(record{BodyHash: bodyHash, JobID: jobID, CreatedAt: now.UnixMilli()})
	if err != nil {
		return Claim{}, fmt.Errorf("encode claim: %w", err)
	}
	name := entryName(scope, idemKey)
	for range maxAttempts {
		_, err := s.kv.Create(ctx, name, b)
		if err == nil {
			return Claim{New: true, JobID: jobID, CreatedAt: time.UnixMilli(now.UnixMilli()).UTC()}, nil
		}
		if !lostRace(err) {
			return Claim{}, fmt.Errorf("claim %s: %w", name, err)
		}
		rec, _, err := s.read(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released or expired since: claim it again
		}
		if err != nil {
			return Claim{}, err
		}
		if rec.BodyHash != bodyHash {
			return Claim{}, ErrConflict
		}
		return Claim{JobID: rec.JobID, CreatedAt: time.UnixMilli(rec.CreatedAt).UTC()}, nil
	}
	return Claim{}, fmt.Errorf("claim %s: entry keeps changing", name)
}

// Release gives up the claim of idemKey within scope if it still names
// job jobID: for a request refused before its job was queued (a bad image,
// a denied key), so a retry runs afresh rather than waiting for a job that
// never ran. A claim of another job, or none, is left alone.
func (s *Store) Release(ctx context.Context, scope, idemKey, jobID string) error {
	if !ValidKey(idemKey) {
		return ErrInvalidKey
	}
	name := entryName(scope, idemKey)
	rec, rev, err := s.read(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if rec.JobID != jobID {
		return nil
	}
	err = s.kv.Delete(ctx, name, jetstream.LastRevision(rev))
	if lostRace(err) {
		return nil // changed since: no longer this job's claim
	}
	if err != nil {
		return fmt.Errorf("release %s: %w", name, err)
	}
	return nil
}

// read returns the claim stored under name and its revision.
func (s *Store) read(ctx context.Context, name string) (record, uint64, error) {
	e, err := s.kv.Get(ctx, name)
	if err != nil {
		return record{}, 0, fmt.Errorf("read claim %s: %w", name, err)
	}
	var rec record
	if err := json.Unmarshal(e.Value(), &rec); err != nil || rec.JobID == "" {
		return record{}, 0, fmt.Errorf("read claim %s: corrupt entry: %v", name, err)
	}
	return rec, e.Revision(), nil
}

// entryName is the KV key of idemKey within scope: a SHA-256 of both, so
// any header value makes a valid key and none is stored.
func entryName(scope, idemKey string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + idemKey))
	return "k." + hex.EncodeToString(sum[:])
}

// lostRace reports whether a write failed because the entry was not as
// expected: it exists (Create), or changed (a revision check).
func lostRace(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Package store keeps keys, identities and their usage state in the two
// JetStream KV buckets owned by keyservice.
//
// Bucket contracts.KeysBucket holds what changes rarely (settings):
//
//	h.<sha256 of key>         Record: a key, or an old key rerolled into another (an alias)
//	id.<keyId>                the key's hash, so a key can be managed by id
//	a.<tag(apiId)>.<keyId>    the key's hash, listing a key space
//	o.<tag(apiId,extId)>.<keyId>  the key's hash, listing one owner's keys
//	i.<identityId>            Identity
//	x.<tag(externalId)>       the identity id; created only if absent, so external ids are unique
//
// Bucket contracts.KeyStateBucket holds what every verification changes:
//
//	k.<stateId>               Doc holding one key's budget (a key without identity)
//	i.<identityId>            Doc holding the identity's budget and the budgets of all its keys
//	rl.<tag(namespace,identifier)>  limits.Window of a standalone rate limit, expiring with it
//	p.<tag(stateId,idempotency key)>  Seen: what a verification with an idempotency key
//	                          answered and charged, for replays and one refund (refund.go)
//
// A tag is the first 128 bits of a SHA-256, in hex, so any string makes a
// valid KV key. The plaintext key is never stored: only its hash and start.
//
// One verification changes one Doc, with one compare-and-set: the key's
// credits, windows and last use, its identity's credits and windows, and the
// verification's idempotency record (until it is copied to its own p.
// entry: pending.go) all live in that Doc. That is why a
// key linked to an identity keeps its budget inside the identity's Doc: the
// shared limits and credits and the key's own are spent together or not at
// all, exactly, across any number of replicas. A Doc of an identity with
// many keys grows with them; a verification rewrites it whole.
//
// A key's budget is found by its state id, which survives rerolls: the new
// key takes over the old key's state id, and the old key's h. entry becomes
// an alias naming the new key's hash until its grace period ends, so both
// secrets draw on one budget. Linking a key to another identity moves its
// budget between Docs in one atomic batch and leaves a forwarding mark, so
// a verification that read the record before the move still finds it.
//
// Each replica caches what verifications read: records and identities,
// kept current by a watch of the keys bucket (a change by any replica
// reaches every replica's cache within the watch's delivery time, and a
// replica's own writes at once), and the Docs it last wrote, whose
// revision its next compare-and-set checks. Verifications of one Doc are
// decided in groups, one write per group (group.go). A cached verification
// is thus one NATS round trip from the client plus one write, and a denial
// or a key with nothing to count none at all.
//
// Changes that touch several entries of one bucket (create, reroll, delete,
// a move, a multi-limit) are committed as one JetStream atomic batch with a
// compare-and-set on every entry: all happen or none do. Nothing spans both
// buckets atomically, so multi-bucket changes are ordered to be safe when
// cut short: state before the record that refers to it on create, the
// record before its state on delete. A crash in between leaves an
// unreachable state entry, never a key without its budget.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
)

// Errors returned by the store.
var (
	ErrNotFound = errors.New("not found")
	// ErrRerolled is a key id that now only names an old key in its grace
	// period; only delete accepts it.
	ErrRerolled   = fmt.Errorf("key was rerolled: %w", ErrNotFound)
	ErrCorrupt    = errors.New("corrupt stored value")
	ErrContention = errors.New("too many concurrent updates")
	// ErrTaken is an identity external id already in use.
	ErrTaken = errors.New("external id already taken")
	// ErrTooManyAliases refuses a reroll while MaxAliases old keys of the
	// same key are still in their grace period.
	ErrTooManyAliases = errors.New("too many rerolled keys still in their grace period")
	// ErrUnlimited refuses to increment or decrement unlimited credits.
	ErrUnlimited = errors.New("credits are unlimited")
	// ErrCancelled refuses a verification whose idempotency key a refund
	// settled before it was charged (see Refund); nothing is spent.
	ErrCancelled = errors.New("idempotency key cancelled by a refund")
)

// maxAttempts bounds the compare-and-set retries of one operation.
const maxAttempts = 64

// Store reads and writes keys, identities and usage state.
type Store struct {
	keys  *bucket
	state *bucket

	// records (by hash), identities (by id) and docs (by state entry key)
	// are what the verification path reads; see cache.go and watch.go.
	records    *cache[recordEntry]
	identities *cache[identityEntry]
	docs       *cache[Doc]
	watch      jetstream.KeyWatcher
	stopWatch  context.CancelFunc
	watchDone  chan struct{}

	// groups holds the verifications waiting for the Doc they spend from,
	// by state entry key; see group.go.
	groupsMu sync.Mutex
	groups   map[string][]*ask
	// leaders hands a group to an idle leader goroutine (goLead).
	leaders chan leadJob
	// observeGroup, when set, is told each group's size and whether it
	// started from the cached Doc; see WithGroupObserver.
	observeGroup func(size int, cached bool)
	// observeConflict, when set, is told each time a group finds its Doc
	// written by another replica; see WithConflictObserver.
	observeConflict func(failedWrite bool)
	// copies tracks the idempotency records being copied out of Docs
	// (pending.go); noCopies stops copying them.
	copies   copies
	noCopies bool
}

// Open creates the buckets if needed, enables atomic batches on both and
// per-message TTLs on the state bucket, starts watching the keys bucket for
// the caches, and returns a Store on them. Close stops the watch.
func Open(ctx context.Context, js jetstream.JetStream, opts ...Option) (*Store, error) {
	o := options{replicas: 1}
	for _, opt := range opts {
		opt(&o)
	}
	keys, err := openBucket(ctx, js, jetstream.KeyValueConfig{
		Bucket: contracts.KeysBucket, Description: "API keys and identities", History: 1, Storage: jetstream.FileStorage,
		Replicas: o.replicas,
	}, false)
	if err != nil {
		return nil, err
	}
	state, err := openBucket(ctx, js, jetstream.KeyValueConfig{
		Bucket: contracts.KeyStateBucket, Description: "credits and rate-limit windows", History: 1, Storage: jetstream.FileStorage,
		Replicas: o.replicas,
	}, true)
	if err != nil {
		return nil, err
	}
	s := &Store{
		keys: keys, state: state,
		records:         newCache[recordEntry](cacheEntries, cacheMaxAge),
		identities:      newCache[identityEntry](cacheEntries, cacheMaxAge),
		docs:            newCache[Doc](cacheEntries, cacheMaxAge),
		groups:          make(map[string][]*ask),
		leaders:         make(chan leadJob),
		observeGroup:    o.observeGroup,
		observeConflict: o.observeConflict,
		noCopies:        o.noCopies,
	}
	keys.touched = s.keysTouched
	state.touched = s.docs.forget
	if err := s.startWatch(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Option configures Open.
type Option func(*options)

type options struct {
	replicas        int
	observeGroup    func(size int, cached bool)
	observeConflict func(failedWrite bool)
	// noCopies leaves idempotency records pending in their Docs, as a
	// replica that dies before copying them would (tests only).
	noCopies bool
}

// WithReplicas sets the least JetStream replicas of the buckets: Open
// creates them with n and raises an existing one with fewer, but leaves
// one with more as it is. 3 in a production cluster.
func WithReplicas(n int) Option { return func(o *options) { o.replicas = n } }

// WithGroupObserver has f told, for each group of verifications decided
// together, its size and whether it started from the cached Doc (for
// metrics). f runs on the verification path: it must be quick.
func WithGroupObserver(f func(size int, cached bool)) Option {
	return func(o *options) { o.observeGroup = f }
}

// WithConflictObserver has f told each time a group of verifications finds
// that another replica wrote its Doc since this one cached it: through its
// compare-and-set failing (failedWrite: the group reads the Doc and
// decides again), or through the read of its idempotency records, which
// fetches the Doc too (the group decides on that Doc, without a failed
// write). For metrics; f runs on the verification path: it must be quick.
func WithConflictObserver(f func(failedWrite bool)) Option {
	return func(o *options) { o.observeConflict = f }
}

// tag turns any strings into a fixed-length KV key token.
func tag(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// ValidID reports whether s can be a key, identity or state id: 1 to 64
// characters of [A-Za-z0-9_]. Ids become KV key tokens, so anything else
// (a dot, a wildcard) must never reach a subject.
func ValidID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
			return false
		}
	}
	return true
}

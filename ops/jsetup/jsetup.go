// Package jsetup holds what every stream, bucket and consumer the services
// create or update at start-up need on a JetStream cluster.
//
// Replicas: the configured count (OCR_NATS_REPLICAS) is a floor, not a
// value to enforce (Floor). A new stream gets it, an existing one with
// fewer is raised to it, one with more keeps its own. The ingress, the
// worker, keyservice and analytics create some of the same streams, so
// during a rollout two of them may be configured differently; with a floor
// they cannot flip a stream between sizes at each restart, and an
// operator's `nats stream edit --replicas` survives the next start-up.
//
// Lost replies: when two clients create the same replicated stream at the
// same moment (the ingress and the worker starting together, or two
// ingress replicas), nats-server 2.15 creates it but may answer neither
// (5 of 7 tries of two simultaneous creates on a 3-node cluster here; see
// nats-io/nats-server#8350 for consumers). Retry repeats such a request
// with a short deadline per attempt; the stream exists by then and the
// repeat is answered at once.
package jsetup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// AttemptTimeout bounds one attempt of Retry: far above an answered
// create on a loaded cluster (tens of milliseconds), so only a lost reply
// reaches it.
const AttemptTimeout = 5 * time.Second

// Floor is the replica count to give the stream name (KV_<bucket> for a
// key-value bucket, OBJ_<bucket> for an object store): want, or the
// stream's own when it has more.
func Floor(ctx context.Context, js jetstream.JetStream, name string, want int) (int, error) {
	want = max(want, 1)
	var s jetstream.Stream
	err := Retry(ctx, func(ctx context.Context) (err error) {
		s, err = js.Stream(ctx, name)
		return err
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return want, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stream %s info: %w", name, err)
	}
	return max(want, s.CachedInfo().Config.Replicas), nil
}

// Retry runs op, each attempt with at most AttemptTimeout, until it
// returns anything but a timeout or ctx ends.
func Retry(ctx context.Context, op func(context.Context) error) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, AttemptTimeout)
		err := op(attempt)
		cancel()
		if err == nil || ctx.Err() != nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)) {
			return err
		}
	}
}

// Stream creates the stream of cfg, or updates the stream of that name
// when it has another configuration. A stream that has cfg already is left
// untouched, unlike with jetstream's CreateOrUpdateStream, which updates
// first: every service starting re-applied the same configuration, and
// nats-server 2.15 rewrites a stream store's configuration on an update
// while a consumer being created on the stream reads it (a data race its
// race detector reports where tests embed the server).
func Stream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return js.UpdateStream(ctx, cfg)
	}
	return s, err
}

// KeyValue is Stream for a key-value bucket.
func KeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return js.UpdateKeyValue(ctx, cfg)
	}
	return kv, err
}

// ObjectStore is Stream for an object store.
func ObjectStore(ctx context.Context, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	obs, err := js.CreateObjectStore(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return js.UpdateObjectStore(ctx, cfg)
	}
	return obs, err
}

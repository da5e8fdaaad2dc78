// Package streams turns the stream specs in contracts into JetStream
// configuration, and sets up the analytics consumer on the events stream.
//
// Replicas (WithReplicas, OCR_NATS_REPLICAS) are a floor, not a value to
// enforce: a new stream gets them, an existing one with fewer is raised,
// one with more keeps its own. Keyservice, the worker and the ingress
// create the events stream too, so during a rollout two services may be
// configured differently; with a floor they cannot flip the stream between
// sizes at each restart, and an operator's `nats stream edit --replicas`
// survives the next start-up.
//
// Every create or update is retried when its reply does not come (jsetup.Retry in module ops):
// when two clients create the same replicated stream or consumer at the
// same moment (analytics replicas, or analytics and another service,
// starting together), nats-server 2.15 creates it but may answer neither
// (5 of 7 tries of two simultaneous creates on a 3-node cluster here;
// nats-io/nats-server#8350 for consumers). A repeat finds it and is
// answered at once.
package streams

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops/jsetup"
)

// Consumer settings. AckWait must cover a batch's wait (at most
// config.MaxFlushInterval) plus one insert attempt; the sink extends it while
// it retries a failed insert, and while a gathered batch waits for the
// insert before it. MaxAckPending bounds the messages held unacknowledged
// by all replicas together: each replica holds up to four batches of at
// most sink.DefaultMaxBatchSize events (one gathered, one inserted, one
// queued for and one in acknowledgement), each event a message at worst
// (a message carries one event or a batch of them), so one replica can
// keep its pipeline full, and a second still gets events while the first
// drains a backlog.
const (
	AckWait       = 60 * time.Second
	MaxAckPending = 200_000
)

// StreamConfig converts a contracts spec into a stream configuration. Every
// service derives the stream the same way, so jsetup.Stream from any of
// them leaves it unchanged.
func StreamConfig(spec contracts.StreamSpec) jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{
		Name:              spec.Name,
		Subjects:          spec.Subjects,
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		MaxAge:            spec.MaxAge,
		MaxMsgs:           spec.MaxMsgs,
		MaxMsgsPerSubject: spec.MaxMsgsPerSubject,
		Duplicates:        spec.Duplicates,
	}
	if spec.WorkQueue {
		cfg.Retention = jetstream.WorkQueuePolicy
	}
	if cfg.MaxMsgsPerSubject == 0 {
		cfg.MaxMsgsPerSubject = -1
	}
	if cfg.MaxMsgs == 0 {
		cfg.MaxMsgs = -1
	}
	return cfg
}

// EventsConsumerConfig is the durable pull consumer through which analytics
// reads every event: explicit acks, sent only once a batch is stored.
func EventsConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       contracts.EventsConsumer,
		Description:   "analytics: events into ClickHouse",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       AckWait,
		MaxDeliver:    -1,
		MaxAckPending: MaxAckPending,
	}
}

// Option configures SetupEvents.
type Option func(*options)

type options struct{ replicas int }

// WithReplicas sets the least JetStream replicas, 1 to 5, of the events
// stream (1 when not given). The analytics consumer follows its stream's.
func WithReplicas(n int) Option { return func(o *options) { o.replicas = n } }

// SetupEvents creates or updates the events stream and the analytics
// consumer on it.
func SetupEvents(ctx context.Context, js jetstream.JetStream, opts ...Option) (jetstream.Consumer, error) {
	o := options{replicas: 1}
	for _, opt := range opts {
		opt(&o)
	}
	cfg := StreamConfig(contracts.EventsStreamSpec)
	var err error
	if cfg.Replicas, err = jsetup.Floor(ctx, js, cfg.Name, o.replicas); err != nil {
		return nil, err
	}
	err = jsetup.Retry(ctx, func(ctx context.Context) error {
		_, err := jsetup.Stream(ctx, js, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", contracts.EventsStream, err)
	}
	var cons jetstream.Consumer
	err = jsetup.Retry(ctx, func(ctx context.Context) (err error) {
		cons, err = js.CreateOrUpdateConsumer(ctx, contracts.EventsStream, EventsConsumerConfig())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", contracts.EventsConsumer, err)
	}
	return cons, nil
}

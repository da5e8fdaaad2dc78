// Package streams turns the stream specs in contracts into JetStream
// configuration, and sets up the analytics consumer on the events stream.
package streams

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ocrstack/ocrstack/contracts"
)

// Consumer settings. AckWait must cover a batch's wait (at most
// config.MaxFlushInterval) plus one insert attempt; the sink extends it while
// it retries a failed insert. MaxAckPending bounds the events held
// unacknowledged by all replicas together; it is twice the largest batch
// (config.MaxBatchSize), so that a second replica can fill a batch while
// the first holds a full one.
const (
	AckWait       = 60 * time.Second
	MaxAckPending = 20000
)

// StreamConfig converts a contracts spec into a stream configuration. Every
// service derives the stream the same way, so CreateOrUpdateStream from any
// of them leaves it unchanged.
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

// SetupEvents creates or updates the events stream and the analytics
// consumer on it.
func SetupEvents(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	if _, err := js.CreateOrUpdateStream(ctx, StreamConfig(contracts.EventsStreamSpec)); err != nil {
		return nil, fmt.Errorf("create stream %s: %w", contracts.EventsStream, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, contracts.EventsStream, EventsConsumerConfig())
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", contracts.EventsConsumer, err)
	}
	return cons, nil
}

// Package streams creates the JetStream streams, the image bucket and the
// durable jobs consumer the worker needs, from the specs in contracts. Every
// service derives its stream configuration from the same specs, so
// whichever starts first, the configuration is the same.
package streams

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
)

// Settings of the shared jobs consumer.
const (
	// MaxDeliver bounds deliveries of one job; a job that keeps failing
	// (or crashes the worker) is dropped after this many, with an advisory.
	MaxDeliver = 5
	// MaxAckPending bounds the jobs in flight across all workers. It is far
	// above any worker's concurrency (config.MaxConcurrency), so that
	// workers configured differently do not fight over its value.
	MaxAckPending = 1024
)

// Specs are the streams the worker creates or updates at start-up.
var Specs = []contracts.StreamSpec{
	contracts.JobsStreamSpec,
	contracts.ResultsStreamSpec,
	contracts.EventsStreamSpec,
	contracts.DeadStreamSpec,
}

// StreamConfig converts a contracts spec into a JetStream configuration.
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

// ConsumerConfig is the configuration of the durable jobs consumer that all
// workers share (a work-queue stream allows only one unfiltered consumer).
// ackWait is how long a delivered job may go without an ack or a progress
// report before it is delivered again; the worker reports progress during
// long recognitions.
func ConsumerConfig(ackWait time.Duration) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       contracts.JobsConsumer,
		Description:   "OCR workers pulling jobs",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    MaxDeliver,
		MaxAckPending: MaxAckPending,
	}
}

// Ensure creates or updates the streams in Specs, the image bucket and the
// jobs consumer with the given AckWait, and returns the consumer and the
// bucket.
func Ensure(ctx context.Context, js jetstream.JetStream, ackWait time.Duration) (jetstream.Consumer, jetstream.ObjectStore, error) {
	for _, spec := range Specs {
		if _, err := js.CreateOrUpdateStream(ctx, StreamConfig(spec)); err != nil {
			return nil, nil, fmt.Errorf("create or update stream %s: %w", spec.Name, err)
		}
	}
	images, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:  contracts.ImagesBucket,
		TTL:     contracts.ImagesMaxAge,
		Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("create or update object store %s: %w", contracts.ImagesBucket, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, contracts.JobsStream, ConsumerConfig(ackWait))
	if err != nil {
		return nil, nil, fmt.Errorf("create or update consumer %s: %w", contracts.JobsConsumer, err)
	}
	return cons, images, nil
}

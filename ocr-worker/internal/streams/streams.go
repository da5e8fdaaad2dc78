// Package streams creates the JetStream streams, the image bucket and the
// durable jobs consumer the worker needs, from the specs in contracts. Every
// service derives its stream configuration from the same specs, so
// whichever starts first, the configuration is the same.
//
// Replicas (WithReplicas, OCR_NATS_REPLICAS) are a floor, not a value to
// enforce: a new stream or bucket gets them, an existing one with fewer is
// raised, one with more keeps its own. Several services create the same
// streams, so during a rollout two may be configured differently; with a
// floor they cannot flip a stream between sizes at each restart, and an
// operator's `nats stream edit --replicas` survives the next start-up.
//
// Every create or update is retried when its reply does not come (jsetup.Retry in module ops):
// when two clients create the same replicated stream or consumer at the
// same moment (two workers, or a worker and the ingress, starting
// together), nats-server 2.15 creates it but may answer neither (5 of 7
// tries of two simultaneous creates on a 3-node cluster here; nats-io/nats-server#8350
// for consumers). A repeat finds it and is answered at once.
package streams

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops/jsetup"
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

// Option configures Ensure.
type Option func(*options)

type options struct{ replicas int }

// WithReplicas sets the least JetStream replicas, 1 to 5, of the streams
// and the images bucket (1 when not given). The jobs consumer follows its
// stream's.
func WithReplicas(n int) Option { return func(o *options) { o.replicas = n } }

// Ensure creates or updates the streams in Specs, the image bucket and the
// jobs consumer with the given AckWait, and returns the consumer and the
// bucket.
func Ensure(ctx context.Context, js jetstream.JetStream, ackWait time.Duration, opts ...Option) (jetstream.Consumer, jetstream.ObjectStore, error) {
	o := options{replicas: 1}
	for _, opt := range opts {
		opt(&o)
	}
	for _, spec := range Specs {
		cfg := StreamConfig(spec)
		var err error
		if cfg.Replicas, err = jsetup.Floor(ctx, js, spec.Name, o.replicas); err != nil {
			return nil, nil, err
		}
		err = jsetup.Retry(ctx, func(ctx context.Context) error {
			_, err := jsetup.Stream(ctx, js, cfg)
			return err
		})
		if err != nil {
			return nil, nil, fmt.Errorf("create or update stream %s: %w", spec.Name, err)
		}
	}
	n, err := jsetup.Floor(ctx, js, "OBJ_"+contracts.ImagesBucket, o.replicas)
	if err != nil {
		return nil, nil, err
	}
	var images jetstream.ObjectStore
	err = jsetup.Retry(ctx, func(ctx context.Context) (err error) {
		images, err = jsetup.ObjectStore(ctx, js, jetstream.ObjectStoreConfig{
			Bucket:   contracts.ImagesBucket,
			TTL:      contracts.ImagesMaxAge,
			Storage:  jetstream.FileStorage,
			Replicas: n,
		})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("create or update object store %s: %w", contracts.ImagesBucket, err)
	}
	var cons jetstream.Consumer
	err = jsetup.Retry(ctx, func(ctx context.Context) (err error) {
		cons, err = js.CreateOrUpdateConsumer(ctx, contracts.JobsStream, ConsumerConfig(ackWait))
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("create or update consumer %s: %w", contracts.JobsConsumer, err)
	}
	return cons, images, nil
}

// Package streams turns the platform's stream specs into JetStream streams.
//
// Replicas are a floor, not a setting to enforce: Ensure creates a stream
// with the replicas asked for and raises an existing one with fewer, but
// never lowers one with more. Several services create the same streams, so
// during a rollout two of them may be configured differently; with a floor
// they cannot flip a stream between sizes at each restart, and an
// operator's `nats stream edit --replicas` survives the next start-up.
//
// Every create or update is retried when its reply does not come (jsetup.Retry in module ops):
// when two clients create the same replicated stream at the same moment
// (keyservice and another service starting together), nats-server 2.15
// creates it but may answer neither (5 of 7 tries of two simultaneous
// creates on a 3-node cluster here; nats-io/nats-server#8350 for
// consumers). A repeat finds it and is answered at once.
package streams

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops/jsetup"
)

// Option configures Ensure.
type Option func(*options)

type options struct{ replicas int }

// WithReplicas sets the least JetStream replicas of the stream, 1 to 5
// (1 when not given): 3 on a 3-node cluster.
func WithReplicas(n int) Option { return func(o *options) { o.replicas = n } }

// Ensure creates the stream of spec, or brings its configuration to spec.
func Ensure(ctx context.Context, js jetstream.JetStream, spec contracts.StreamSpec, opts ...Option) error {
	o := options{replicas: 1}
	for _, opt := range opts {
		opt(&o)
	}
	cfg := jetstream.StreamConfig{
		Name: spec.Name, Subjects: spec.Subjects, Storage: jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy, MaxAge: spec.MaxAge, MaxMsgsPerSubject: -1,
		Duplicates: spec.Duplicates,
	}
	if spec.WorkQueue {
		cfg.Retention = jetstream.WorkQueuePolicy
	}
	if spec.MaxMsgsPerSubject > 0 {
		cfg.MaxMsgsPerSubject = spec.MaxMsgsPerSubject
	}
	cfg.MaxMsgs = -1
	if spec.MaxMsgs > 0 {
		cfg.MaxMsgs = spec.MaxMsgs
	}
	var err error
	if cfg.Replicas, err = jsetup.Floor(ctx, js, spec.Name, o.replicas); err != nil {
		return err
	}
	err = jsetup.Retry(ctx, func(ctx context.Context) error {
		_, err := jsetup.Stream(ctx, js, cfg)
		return err
	})
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", spec.Name, err)
	}
	return nil
}

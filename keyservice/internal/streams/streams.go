// Package streams turns the platform's stream specs into JetStream streams.
package streams

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
)

// Ensure creates the stream of spec, or brings its configuration to spec.
func Ensure(ctx context.Context, js jetstream.JetStream, spec contracts.StreamSpec) error {
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
	if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("ensure stream %s: %w", spec.Name, err)
	}
	return nil
}

// Package refunds gives a key back the credit a job it paid for spent, when
// the job failed: every ingress replica shares one durable consumer of the
// usage events (the worker publishes one per job, failed or not, once the
// result is durable), and a failed job's event becomes one keys.v1.refund
// call naming the job: the verification that admitted the job used the job
// id as its idempotency key, so keyservice refunds it exactly once however
// often the event is delivered, and whichever route or replica ran the job
// (a synchronous request, a job polled or called back, a request that
// stopped waiting).
//
// Not refunded here: a job that never produces a result (one that ages out
// of the jobs stream unprocessed: package expiry refunds those), and one
// whose event arrives after keyservice's refund window
// (contracts.RefundWindow).
package refunds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops/jsetup"
)

// Keys refunds through keyservice (keysclient.Client does).
type Keys interface {
	Refund(ctx context.Context, req contracts.RefundRequest) (contracts.RefundResponse, error)
}

// Consumer names and delivery settings.
const (
	// Durable is the consumer every ingress replica shares.
	Durable = "ingress-refunds"
	// callTimeout bounds one refund call.
	callTimeout = 10 * time.Second
	// DefaultRetryDelay is the wait before a refund that failed is tried
	// again.
	DefaultRetryDelay = 5 * time.Second
)

// ConsumerConfig is the durable consumer of usage events. It starts with
// the events published after its creation: jobs before it ran without
// refunds.
func ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable: Durable, Description: "ingress replicas refunding failed jobs",
		FilterSubject: contracts.SubjectEventsUsage, DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 2 * callTimeout, MaxAckPending: 256,
	}
}

// Refunder consumes usage events and refunds failed jobs.
type Refunder struct {
	js   jetstream.JetStream
	keys Keys
	log  *slog.Logger
	cc   jetstream.ConsumeContext
	// RetryDelay is the wait before a failed refund is tried again.
	RetryDelay time.Duration
}

// New returns a Refunder; Start starts it.
func New(js jetstream.JetStream, keys Keys, log *slog.Logger) *Refunder {
	return &Refunder{js: js, keys: keys, log: log, RetryDelay: DefaultRetryDelay}
}

// Start creates or updates the consumer on the events stream (which must
// exist) and starts refunding.
func (r *Refunder) Start(ctx context.Context) error {
	// Retried on a lost reply: see package jsetup.
	var cons jetstream.Consumer
	err := jsetup.Retry(ctx, func(ctx context.Context) (err error) {
		cons, err = r.js.CreateOrUpdateConsumer(ctx, contracts.EventsStream, ConsumerConfig())
		return err
	})
	if err != nil {
		return fmt.Errorf("create or update consumer %s: %w", Durable, err)
	}
	cc, err := cons.Consume(r.handle)
	if err != nil {
		return fmt.Errorf("consume %s: %w", Durable, err)
	}
	r.cc = cc
	return nil
}

// Stop takes no more events; one being refunded finishes.
func (r *Refunder) Stop() {
	if r.cc != nil {
		r.cc.Drain()
		<-r.cc.Closed()
	}
}

// handle refunds the job of one usage event if it failed and a key paid
// for it, and settles the event: acknowledged once refunded (or nothing to
// refund), delivered again after retryDelay when keyservice could not be
// asked (after RetryDelay), terminated when it is not a usage event.
func (r *Refunder) handle(msg jetstream.Msg) {
	ev, err := decode(msg.Data())
	if err != nil {
		r.log.Warn("refunds: not a usage event", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	if ev.Outcome != contracts.JobFailed || ev.KeyID == "" {
		_ = msg.Ack()
		return
	}
	log := r.log.With("job_id", ev.JobID, "request_id", ev.RequestID, "key_id", ev.KeyID)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := r.keys.Refund(ctx, contracts.RefundRequest{
		KeyID: ev.KeyID, IdempotencyKey: ev.JobID, Reason: "job failed: " + string(ev.ErrorCode),
	})
	var ce *contracts.Error
	switch {
	case errors.As(err, &ce) && ce.Code == contracts.CodeBadRequest:
		log.Warn("refunds: refund refused", "err", err)
		_ = msg.Term()
	case err != nil:
		log.Warn("refunds: refund failed; will retry", "err", err)
		_ = msg.NakWithDelay(r.RetryDelay)
	default:
		if resp.Refunded {
			log.Info("refunded a failed job", "error_code", ev.ErrorCode)
		}
		_ = msg.Ack()
	}
}

// decode reads a usage event, refusing what is not one.
func decode(data []byte) (contracts.UsageEvent, error) {
	var ev contracts.UsageEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return ev, err
	}
	if ev.JobID == "" || ev.Outcome == "" {
		return ev, errors.New("no job id or outcome")
	}
	return ev, nil
}

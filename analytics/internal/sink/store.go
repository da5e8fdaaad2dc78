package sink

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ocrstack/ocrstack/analytics/internal/events"
)

// errShutdown settles a message that could not be stored before shutdown.
var errShutdown = errors.New("shutting down")

// errCrashed is what Run returns when crashAfterInsert killed the sink.
var errCrashed = errors.New("crashed after insert (test hook)")

// store is the pipeline's second stage: it inserts the batches from in, one
// at a time and in order, and passes each stored batch to acks. Once ctx
// ends it stores what collect still sends within ShutdownTimeout.
func (s *Sink) store(ctx context.Context, in <-chan *batch, acks chan<- *batch) error {
	for b := range in {
		if ctx.Err() != nil {
			return s.shutdown(ctx, b, in, acks)
		}
		// flush returns early only when ctx ends; shutdown then tries
		// again with its own deadline.
		switch err := s.flush(ctx, b); {
		case err == nil:
			acks <- b
		case errors.Is(err, errCrashed):
			return err
		default:
			return s.shutdown(ctx, b, in, acks)
		}
	}
	return nil
}

// shutdown stores b and the batches behind it on in within ShutdownTimeout.
// When that fails it hands back every message still held, now rather than
// after AckWait, so that the next instance to fetch gets them at once.
func (s *Sink) shutdown(parent context.Context, b *batch, in <-chan *batch, acks chan<- *batch) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), s.cfg.ShutdownTimeout)
	defer cancel()
	for ok := true; ok; b, ok = <-in {
		err := s.flush(ctx, b)
		if err == nil {
			acks <- b
			continue
		}
		if errors.Is(err, errCrashed) {
			return err
		}
		n := b.len()
		s.settleAll(b, errShutdown)
		for rest := range in {
			n += rest.len()
			s.settleAll(rest, errShutdown)
		}
		s.log.Error("shutdown: last batch not stored, messages returned for redelivery", "events", n)
		return ErrNotFlushed
	}
	return nil
}

// flush inserts b, retrying with backoff until it is stored or ctx ends. It
// holds the messages (marking them in progress, so their AckWait restarts)
// between attempts.
func (s *Sink) flush(ctx context.Context, b *batch) error {
	delay := s.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		began := time.Now()
		err := s.insert(ctx, &b.events)
		if err == nil {
			s.cfg.Metrics.stored(&b.events, time.Since(began))
			if s.crashAfterInsert != nil && s.crashAfterInsert() {
				return errCrashed
			}
			if attempt > 1 {
				s.log.Info("insert recovered", "events", b.len(), "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.cfg.Metrics.insertFailed()
		s.log.Error("insert batch", "err", err, "events", b.len(), "attempt", attempt, "retry_in", delay.String())
		s.touchAll(b)
		if !sleep(ctx, delay) {
			return ctx.Err()
		}
		s.touchAll(b)
		delay = min(2*delay, s.cfg.RetryMax)
	}
}

func (s *Sink) insert(ctx context.Context, b *events.Batch) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.InsertTimeout)
	defer cancel()
	return s.cfg.Store.Insert(ctx, b)
}

// settle is the one place that decides a message's fate: stored (nil) is
// acknowledged, poison is terminated (never redelivered), anything else is
// handed back for redelivery at once.
func (s *Sink) settle(msg jetstream.Msg, err error) error {
	switch {
	case err == nil:
		return msg.Ack()
	case errors.Is(err, events.ErrInvalid):
		return msg.TermWithReason(err.Error())
	default:
		return msg.Nak()
	}
}

// settleAll settles every message of b, logging failures once: an
// acknowledgement lost here means a redelivery, which the tables absorb.
// Acknowledgements are published without waiting for the server's reply.
func (s *Sink) settleAll(b *batch, err error) {
	failed := 0
	var last error
	for _, msg := range b.msgs {
		if e := s.settle(msg, err); e != nil {
			failed++
			last = e
		}
	}
	if failed > 0 {
		s.log.Warn("settle messages", "err", last, "failed", failed, "messages", len(b.msgs))
	}
}

// touchAll restarts the AckWait of every message of b. Failures are left
// to the next touch: at worst a message is redelivered and collapsed.
func (s *Sink) touchAll(b *batch) {
	for _, msg := range b.msgs {
		_ = msg.InProgress()
	}
}

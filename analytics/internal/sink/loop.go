package sink

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ocrstack/ocrstack/analytics/internal/events"
	"github.com/ocrstack/ocrstack/contracts"
)

// Fetch timing: a fetch waits at least minFetchWait (so a nearly due batch
// does not spin) and at most maxFetchWait (so Run notices the end of its
// context within that time), and a failing fetch is retried after
// fetchRetry.
const (
	minFetchWait = 20 * time.Millisecond
	maxFetchWait = time.Second
	fetchRetry   = time.Second
)

// maxLoggedBody is the most of a poison message's body that is logged.
const maxLoggedBody = 1024

// fetch pulls at most the room left in the batch, waiting no longer than
// the batch's flush deadline, so a partial batch is flushed on time. It
// does not pass ctx to the fetch itself: an aborted fetch would strand
// messages already sent by the server until their AckWait expires. Instead
// no fetch waits longer than maxFetchWait.
func (s *Sink) fetch(ctx context.Context) {
	wait := min(s.cfg.FlushInterval, maxFetchWait)
	if len(s.msgs) > 0 {
		wait = min(max(s.first.Add(s.cfg.FlushInterval).Sub(s.cfg.Now()), minFetchWait), maxFetchWait)
	}
	res, err := s.cfg.Consumer.Fetch(s.cfg.BatchSize-len(s.msgs), jetstream.FetchMaxWait(wait))
	if err == nil {
		for msg := range res.Messages() {
			s.add(msg)
		}
		err = res.Error()
	}
	if err != nil {
		if !s.fetchFailing {
			s.log.Error("fetch events", "err", err)
			s.fetchFailing = true
		}
		sleep(ctx, fetchRetry)
		return
	}
	if s.fetchFailing {
		s.log.Info("fetch events recovered")
		s.fetchFailing = false
	}
}

// add decodes msg into the batch, or terminates it as poison.
func (s *Sink) add(msg jetstream.Msg) {
	ev, err := events.Decode(msg.Subject(), msg.Data())
	if err != nil {
		s.poison(msg, err)
		return
	}
	if len(s.msgs) == 0 {
		s.first = s.cfg.Now()
	}
	s.msgs = append(s.msgs, msg)
	s.batch.Add(ev)
}

func (s *Sink) poison(msg jetstream.Msg, reason error) {
	body := msg.Data()
	s.cfg.Metrics.poisoned()
	attrs := []any{"subject", msg.Subject(), "reason", reason.Error(), "body_bytes", len(body)}
	if id := msg.Headers().Get(contracts.HeaderRequestID); id != "" {
		attrs = append(attrs, "request_id", id)
	}
	if meta, err := msg.Metadata(); err == nil {
		attrs = append(attrs, "stream_seq", meta.Sequence.Stream, "deliveries", meta.NumDelivered)
	}
	if len(body) > maxLoggedBody {
		body = body[:maxLoggedBody]
		attrs = append(attrs, "body_truncated", true)
	}
	attrs = append(attrs, "body", string(body))
	s.log.Error("poison message terminated", attrs...)
	if err := s.settle(msg, reason); err != nil {
		s.log.Warn("terminate poison message", "err", err, "subject", msg.Subject())
	}
}

// flush inserts the batch, retrying with backoff until it is stored or ctx
// ends, then acknowledges its messages. It holds the messages (marking them
// in progress, so their AckWait restarts) between attempts.
func (s *Sink) flush(ctx context.Context) error {
	delay := s.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		began := time.Now()
		err := s.insert(ctx)
		if err == nil {
			s.cfg.Metrics.stored(&s.batch, time.Since(began))
		}
		if err == nil && s.crashAfterInsert != nil && s.crashAfterInsert() {
			return errCrashed
		}
		if err == nil {
			if attempt > 1 {
				s.log.Info("insert recovered", "events", len(s.msgs), "attempts", attempt)
			}
			s.settleAll(nil)
			s.reset()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.cfg.Metrics.insertFailed()
		s.log.Error("insert batch", "err", err, "events", len(s.msgs), "attempt", attempt, "retry_in", delay.String())
		s.touchAll()
		if !sleep(ctx, delay) {
			return ctx.Err()
		}
		s.touchAll()
		delay = min(2*delay, s.cfg.RetryMax)
	}
}

func (s *Sink) insert(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.InsertTimeout)
	defer cancel()
	return s.cfg.Store.Insert(ctx, &s.batch)
}

// errShutdown settles a message that could not be stored before shutdown.
var errShutdown = errors.New("shutting down")

// errCrashed is what Run returns when crashAfterInsert killed the sink.
var errCrashed = errors.New("crashed after insert (test hook)")

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

// settleAll settles every message of the batch, logging failures once: an
// acknowledgement lost here means a redelivery, which the tables absorb.
func (s *Sink) settleAll(err error) {
	failed := 0
	var last error
	for _, msg := range s.msgs {
		if e := s.settle(msg, err); e != nil {
			failed++
			last = e
		}
	}
	if failed > 0 {
		s.log.Warn("settle messages", "err", last, "failed", failed, "events", len(s.msgs))
	}
}

// touchAll restarts the AckWait of every held message. Failures are left to
// the next attempt: at worst a message is redelivered and collapsed.
func (s *Sink) touchAll() {
	for _, msg := range s.msgs {
		_ = msg.InProgress()
	}
}

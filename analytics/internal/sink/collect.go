package sink

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ocrstack/ocrstack/analytics/internal/events"
	"github.com/ocrstack/ocrstack/contracts"
)

// Fetch timing: a fetch waits at least minFetchWait (so a nearly due batch
// does not spin) and at most maxFetchWait (so collect notices the end of
// its context within that time), and a failing fetch is retried after
// fetchRetry.
const (
	minFetchWait = 20 * time.Millisecond
	maxFetchWait = time.Second
	fetchRetry   = time.Second
)

// growChunk is the most messages one fetch adds to a due batch that waits
// for the inserter (at least BatchSize).
const growChunk = 10_000

// maxLoggedBody is the most of a poison message's body that is logged.
const maxLoggedBody = 1024

// collect is the pipeline's first stage: it gathers batches and sends each
// on out once it is due and store is free to take it, growing a due batch
// meanwhile with what the stream already holds. When ctx ends it sends the
// batch in hand, if any, for the final flush, and closes out.
func (s *Sink) collect(ctx context.Context, out chan<- *batch) {
	defer close(out)
	b := s.newBatch()
	for ctx.Err() == nil {
		if !s.due(b) {
			s.fetch(ctx, b)
			continue
		}
		select {
		case out <- b:
			b = s.newBatch()
			continue
		default: // store is busy with the previous batch
		}
		if b.len() < s.cfg.MaxBatchSize && s.grow(b) > 0 {
			continue
		}
		if !s.handOver(ctx, out, b) {
			break
		}
		b = s.newBatch()
	}
	if b.len() > 0 {
		out <- b // store reads out until it is closed
	}
}

func (s *Sink) due(b *batch) bool {
	n := b.len()
	return n >= s.cfg.BatchSize || (n > 0 && s.cfg.Now().Sub(b.first) >= s.cfg.FlushInterval)
}

// handOver waits until store takes b, marking b's messages in progress
// every HoldRefresh meanwhile (store may be retrying an insert for a long
// time). It reports false, b still in hand, when ctx ends first.
func (s *Sink) handOver(ctx context.Context, out chan<- *batch, b *batch) bool {
	t := time.NewTicker(s.cfg.HoldRefresh)
	defer t.Stop()
	for {
		select {
		case out <- b:
			return true
		case <-t.C:
			s.touchAll(b)
		case <-ctx.Done():
			return false
		}
	}
}

// fetch pulls at most the room left before b is due, waiting no longer
// than b's flush deadline, so a partial batch is flushed on time. It does
// not pass ctx to the fetch itself: an aborted fetch would strand messages
// already sent by the server until their AckWait expires. Instead no fetch
// waits longer than maxFetchWait.
func (s *Sink) fetch(ctx context.Context, b *batch) {
	wait := min(s.cfg.FlushInterval, maxFetchWait)
	if b.len() > 0 {
		wait = min(max(b.first.Add(s.cfg.FlushInterval).Sub(s.cfg.Now()), minFetchWait), maxFetchWait)
	}
	res, err := s.cfg.Consumer.Fetch(s.cfg.BatchSize-b.len(), jetstream.FetchMaxWait(wait))
	if err == nil {
		s.addAll(b, res)
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

// grow adds to the due batch b what the stream holds now, without waiting,
// and returns how many messages it received. An error only ends the
// growth: the next fetch reports it.
func (s *Sink) grow(b *batch) int {
	n := min(s.cfg.MaxBatchSize-b.len(), max(growChunk, s.cfg.BatchSize))
	res, err := s.cfg.Consumer.FetchNoWait(n)
	if err != nil {
		return 0
	}
	return s.addAll(b, res)
}

// addAll decodes the messages of res into b, and reports to Backlog
// whether a full batch more waits behind them. It returns how many
// messages it received, poison included.
func (s *Sink) addAll(b *batch, res jetstream.MessageBatch) int {
	var last jetstream.Msg
	n := 0
	for msg := range res.Messages() {
		s.add(b, msg)
		last = msg
		n++
	}
	if last != nil && s.cfg.Backlog != nil {
		if meta, err := last.Metadata(); err == nil {
			s.cfg.Backlog(meta.NumPending >= uint64(s.cfg.BatchSize))
		}
	}
	return n
}

// add decodes msg into b, or terminates it as poison.
func (s *Sink) add(b *batch, msg jetstream.Msg) {
	ev, err := events.Decode(msg.Subject(), msg.Data())
	if err != nil {
		s.poison(msg, err)
		return
	}
	if b.len() == 0 {
		b.first = s.cfg.Now()
	}
	b.msgs = append(b.msgs, msg)
	b.events.Add(ev)
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

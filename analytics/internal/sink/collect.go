package sink

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ocrstack/ocrstack/analytics/internal/events"
	"github.com/ocrstack/ocrstack/contracts"
)

// Fetch timing: a fetch waits at least minFetchWait (so a nearly due batch
// does not spin) and at most maxFetchWait (so collect notices the end of
// its context within that time), a fetch that grows a due batch waits
// growWait (it takes what the stream holds now), and a failing fetch is
// retried after fetchRetry.
const (
	minFetchWait = 20 * time.Millisecond
	maxFetchWait = time.Second
	growWait     = 5 * time.Millisecond
	fetchRetry   = time.Second
)

// growChunk is the most events one fetch adds to a due batch that waits
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

// due reports whether b holds BatchSize events or its first event has
// waited FlushInterval. It counts events, not messages: one message may
// carry up to contracts.MaxEventBatch of them.
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

// fetch pulls at most the room left before b is due (see fetchLimits),
// waiting no longer than b's flush deadline, so a partial batch is flushed
// on time. It does not pass ctx to the fetch itself: an aborted fetch
// would strand messages already sent by the server until their AckWait
// expires. Instead no fetch waits longer than maxFetchWait.
func (s *Sink) fetch(ctx context.Context, b *batch) {
	wait := min(s.cfg.FlushInterval, maxFetchWait)
	if b.len() > 0 {
		wait = min(max(b.first.Add(s.cfg.FlushInterval).Sub(s.cfg.Now()), minFetchWait), maxFetchWait)
	}
	msgs, bytes := s.fetchLimits(s.cfg.BatchSize - b.len())
	res, err := s.cfg.Consumer.Fetch(msgs, jetstream.FetchMaxWait(wait), jetstream.FetchMaxBytes(bytes))
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

// grow adds to the due batch b what the stream holds now, waiting at most
// growWait, and returns how many messages it received. An error only ends
// the growth: the next fetch reports it.
func (s *Sink) grow(b *batch) int {
	msgs, bytes := s.fetchLimits(min(s.cfg.MaxBatchSize-b.len(), max(growChunk, s.cfg.BatchSize)))
	res, err := s.cfg.Consumer.Fetch(msgs, jetstream.FetchMaxWait(growWait), jetstream.FetchMaxBytes(bytes))
	if err != nil {
		return 0
	}
	return s.addAll(b, res)
}

// fetchLimits returns the messages and bytes one fetch asks for to add
// about room events. A message carries one event or a batch of up to
// contracts.MaxEventBatch, so a count of messages alone cannot bound the
// events a fetch brings: asked for room messages behind a run of full
// batches, it would bring a thousand times room. Bytes can: an event
// takes about the same bytes whether it travels alone or in a batch. So a
// fetch asks for room messages (exact when events travel alone) and for
// room times the bytes an event has taken lately, plus a quarter (about
// room events when they travel in batches). The byte limit is never below
// MaxMsgBytes: the server sends nothing, and says so only in a status the
// client library swallows, when the next message exceeds it, and the sink
// would then stall on that message.
func (s *Sink) fetchLimits(room int) (msgs, bytes int) {
	room = max(room, 1)
	return room, max(room*s.eventBytes*5/4, s.cfg.MaxMsgBytes+fetchByteSlack)
}

// addAll decodes the messages of res into b, learns the bytes per event
// for fetchLimits, and reports to Backlog whether a full batch more waits
// behind them. It returns how many messages it received, poison included.
func (s *Sink) addAll(b *batch, res jetstream.MessageBatch) int {
	var last jetstream.Msg
	n, evs, bytes := 0, 0, 0
	for msg := range res.Messages() {
		evs += s.add(b, msg)
		bytes += msgSize(msg)
		last = msg
		n++
	}
	if evs > 0 {
		s.eventBytes = max(bytes/evs, 1)
	}
	if last != nil && s.cfg.Backlog != nil {
		if meta, err := last.Metadata(); err == nil {
			// Pending counts messages; this fetch's events per message
			// turns it into events.
			perMsg := max(uint64(evs)/uint64(n), 1)
			s.cfg.Backlog(meta.NumPending*perMsg >= uint64(s.cfg.BatchSize))
		}
	}
	return n
}

// msgSize is about what the server counts against a fetch's byte limit:
// subject, reply subject, headers and body.
func msgSize(msg jetstream.Msg) int {
	n := len(msg.Subject()) + len(msg.Reply()) + len(msg.Data())
	for k, vs := range msg.Headers() {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// add decodes msg into b and returns how many events it added. A message
// refused whole is terminated as poison at once, and so is a batch none of
// whose events decode; a bad event of a batch is logged and counted as
// poison while the batch's good events go into b, the message to be
// acknowledged with them once they are stored.
func (s *Sink) add(b *batch, msg jetstream.Msg) int {
	first := b.len() == 0
	added, bad, err := b.events.AddMessage(msg.Subject(), msg.Headers(), msg.Data())
	if err != nil {
		s.poison(msg, err, msg.Data(), nil)
		return 0
	}
	for _, line := range bad {
		s.poison(msg, line.Err, line.Body, []any{"line", line.Line, "batch_events", added + len(bad)})
	}
	if added == 0 {
		reason := fmt.Errorf("%w: all %d events of the batch refused", events.ErrInvalid, len(bad))
		if err := s.settle(msg, reason); err != nil {
			s.log.Warn("terminate poison message", "err", err, "subject", msg.Subject())
		}
		return 0
	}
	if first {
		b.first = s.cfg.Now()
	}
	b.msgs = append(b.msgs, msg)
	return added
}

// poison logs and counts one refused event: a message refused whole (line
// is nil; the message is terminated), or one line of a batch (body is the
// line, line holds its position; the message is settled with the rest of
// its batch). At most maxLoggedBody bytes of the body are logged.
func (s *Sink) poison(msg jetstream.Msg, reason error, body []byte, line []any) {
	s.cfg.Metrics.poisoned()
	attrs := []any{"subject", msg.Subject(), "reason", reason.Error(), "body_bytes", len(body)}
	attrs = append(attrs, line...)
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
	if line != nil {
		s.log.Error("poison event dropped from batch", attrs...)
		return
	}
	s.log.Error("poison message terminated", attrs...)
	if err := s.settle(msg, reason); err != nil {
		s.log.Warn("terminate poison message", "err", err, "subject", msg.Subject())
	}
}

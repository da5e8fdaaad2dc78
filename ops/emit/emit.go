// Package emit publishes events to JetStream without losing one while
// the process lives: an Emitter keeps every event it was given until the
// stream acknowledges it, and publishes again, with the same Nats-Msg-Id,
// after any failure. keyservice emits its verification events through one,
// the ingress its low-credit notices.
//
// Why: a plain asynchronous publish (PublishMsgAsync) fails when NATS
// restarts: publishes awaiting their ack get nats.ErrDisconnected, and
// those made while it is down may get no answer at all. Its error handler
// can only log; the chaos harness lost verification events on 3 of 6 NATS
// restarts that way.
//
// Design choices:
//
//   - Asynchronous on the caller's side: Emit never waits on NATS, so a
//     verification keeps its latency while NATS is down. The publish itself
//     is PublishMsgAsync on a JetStream context of the Emitter's own, whose
//     ack and error handlers settle each event: acknowledged, it is
//     forgotten; failed (a nack, no responders, ErrDisconnected on a
//     reconnect, or no ack within AckTimeout, so none hangs), it is
//     published again after a backoff (100 ms doubling to 5 s, jittered).
//   - Once per eventId downstream: each retry carries its message's
//     Nats-Msg-Id (the event's id, or the batch's), so a retry of a publish
//     that was stored but whose ack was lost is dropped by the stream's
//     duplicate window (2 minutes for the events stream). Retries go on past
//     that window, because dropping an event is worse. An event emitted
//     again after its first publish settled (a replayed verification emits
//     its first event again, in case that one was lost) is stored again when
//     either copy travelled in a batch, under the same eventId. Consumers
//     count events by eventId: analytics keeps one row per event id
//     (ReplacingMergeTree), notice webhooks carry it as X-OCR-Notice-Id.
//   - Bounded memory: at most MaxPending events wait (100 000 by default,
//     about 40 MB of verification events). Past it an event is dropped,
//     counted (the dropped metric) and logged at most once a second: the
//     request it records still happens; refusing verifications because
//     analytics cannot be told about them would turn a NATS outage into an
//     API outage.
//   - Drain on shutdown: Drain waits until every pending event is
//     acknowledged, or its context ends, and says how many were left.
//   - Shared, in module ops: every service that emits events needs the same
//     guarantee, and ops is the one module all of them import besides
//     contracts (which stays free of nats.go). The root package ops does
//     not import nats.go; only this package does.
//   - Batched under load: an event is published at once when no publish
//     awaits its ack and none went out in the last minInterval (1 ms);
//     those emitted meanwhile are queued and go out together, as one
//     message per subject (contracts' event batch: header Ocr-Event-Batch,
//     one event per line), when the ack arrives and the interval is over,
//     or maxDelay after the first of them, whichever is first. A quiet
//     producer therefore sends each event alone, as before, with its own
//     id as Nats-Msg-Id; a busy one sends at most one message per subject
//     a millisecond, of many events, which is what makes a verification
//     event cheap: the stream stores, and analytics receives and
//     acknowledges, one message per batch, not one per event. Waiting for
//     the ack alone is not enough: acks on loopback come back in about
//     100 µs, so 15,000 verifications a second went out in batches of 2 or
//     3 (measured: BenchmarkRoundTrip/micro+emit in keyservice, 41 CPU-µs
//     per request with the ack alone, 23-28 with the interval). A batch is
//     retried whole, under its own Nats-Msg-Id; each event keeps its
//     eventId in the body, which is what analytics deduplicates by.
//
// Only the process dying loses pending events; a durable outbox would
// cost a write per event.
package emit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocrstack/ocrstack/contracts"
)

// Defaults of Config.
const (
	DefaultMaxPending = 100_000
	DefaultAckTimeout = 10 * time.Second
	minBackoff        = 100 * time.Millisecond
	maxBackoff        = 5 * time.Second
	// maxDelay is the longest an event waits in the queue for the
	// publish ahead of it to be acknowledged: an ack that is slow (or
	// never comes, until AckTimeout) holds nothing up longer.
	maxDelay = 20 * time.Millisecond
	// minInterval is the least time between two first publishes: an
	// event emitted sooner after the last one waits for the rest of it,
	// and whatever queues meanwhile goes out with it.
	minInterval = time.Millisecond
	// batchPrefix starts a batch's Nats-Msg-Id.
	batchPrefix = "batch_"
)

// ErrNoMsgID refuses an event without a Nats-Msg-Id header: without one a
// retry could store it twice.
var ErrNoMsgID = errors.New("event has no Nats-Msg-Id header")

// Config configures an Emitter.
type Config struct {
	Conn   *nats.Conn
	Logger *slog.Logger
	// Registerer, when set, gets the Emitter's metrics, named
	// <Namespace>_events_pending, <Namespace>_event_retries_total,
	// <Namespace>_events_dropped_total and <Namespace>_event_messages_total.
	Registerer prometheus.Registerer
	Namespace  string
	// MaxPending bounds the events waiting for their ack (queued or
	// published); 0 means DefaultMaxPending.
	MaxPending int
	// AckTimeout is how long a publish waits for its ack before it is
	// retried; 0 means DefaultAckTimeout.
	AckTimeout time.Duration
}

// Emitter publishes events until each is acknowledged. It is safe for
// concurrent use.
type Emitter struct {
	cfg Config
	js  jetstream.JetStream

	mu sync.Mutex
	// ids holds the id of every event not acknowledged yet.
	ids map[string]struct{}
	// queue holds the events not published yet, by subject; subjects
	// lists its subjects in the order they were first queued.
	queue    map[string][]event
	subjects []string
	// sent holds the published messages not acknowledged yet, by
	// Nats-Msg-Id.
	sent map[string]*message
	// awaiting counts the messages published for the first time whose
	// ack has not come: while any does, events queue.
	awaiting int
	// timer flushes the queue maxDelay after its first event.
	timer *time.Timer
	// last is when the last first publish was taken from the queue.
	last time.Time
	// idle is closed, and replaced, whenever ids becomes empty.
	idle chan struct{}
	// closed stops retries (Close).
	closed   bool
	lastDrop time.Time

	retries, dropped, messages prometheus.Counter
}

// event is one event given to Emit.
type event struct {
	id     string
	data   []byte
	header nats.Header
}

// message is one published message: an event alone, or a batch.
type message struct {
	id, subject string
	data        []byte
	header      nats.Header
	// events are the ids of the events it carries.
	events []string
	// attempts counts the failed publishes so far; first means the first
	// publish has not settled yet.
	attempts int
	first    bool
}

// New returns an Emitter publishing on cfg.Conn.
func New(cfg Config) (*Emitter, error) {
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Emitter{cfg: cfg, ids: map[string]struct{}{}, queue: map[string][]event{}, sent: map[string]*message{}, idle: make(chan struct{}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: cfg.Namespace + "_event_retries_total",
			Help: "Event publishes tried again after a failure (nack, timeout, disconnect).",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: cfg.Namespace + "_events_dropped_total",
			Help: "Events dropped because too many were waiting for their ack.",
		}),
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: cfg.Namespace + "_event_messages_total",
			Help: "Messages published for the first time, each one event or a batch of them.",
		}),
	}
	close(e.idle)
	js, err := jetstream.New(cfg.Conn,
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) { e.acked(m) }),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) { e.failed(m, err) }),
		jetstream.WithPublishAsyncTimeout(cfg.AckTimeout),
		// Never stall Emit: the bound is MaxPending, kept here.
		jetstream.WithPublishAsyncMaxPending(cfg.MaxPending+1))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	e.js = js
	if cfg.Registerer != nil {
		pendingGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: cfg.Namespace + "_events_pending",
			Help: "Events given to publish but not acknowledged by the stream yet.",
		}, func() float64 { return float64(e.Pending()) })
		if err := errors.Join(cfg.Registerer.Register(pendingGauge), cfg.Registerer.Register(e.retries),
			cfg.Registerer.Register(e.dropped), cfg.Registerer.Register(e.messages)); err != nil {
			return nil, fmt.Errorf("register event metrics: %w", err)
		}
	}
	return e, nil
}

// Emit publishes data on subject with header, which must carry a
// Nats-Msg-Id unique to the event, and keeps it until the stream
// acknowledges it. It never waits on NATS. An event whose id is pending
// already is not published twice.
func (e *Emitter) Emit(subject string, data []byte, header nats.Header) error {
	id := header.Get(jetstream.MsgIDHeader)
	if id == "" {
		return ErrNoMsgID
	}
	e.mu.Lock()
	if _, dup := e.ids[id]; dup {
		e.mu.Unlock()
		return nil
	}
	if len(e.ids) >= e.cfg.MaxPending {
		logIt := time.Since(e.lastDrop) >= time.Second
		if logIt {
			e.lastDrop = time.Now()
		}
		e.mu.Unlock()
		e.dropped.Inc()
		if logIt {
			e.cfg.Logger.Error("event dropped: too many waiting for their ack", "subject", subject, "pending", e.cfg.MaxPending)
		}
		return nil
	}
	if len(e.ids) == 0 {
		e.idle = make(chan struct{})
	}
	e.ids[id] = struct{}{}
	if _, ok := e.queue[subject]; !ok {
		e.subjects = append(e.subjects, subject)
	}
	e.queue[subject] = append(e.queue[subject], event{id: id, data: data, header: header})
	var out []*message
	if wait := minInterval - time.Since(e.last); e.awaiting == 0 && wait <= 0 {
		out = e.takeLocked()
	} else if e.timer == nil {
		if e.awaiting == 0 {
			e.timer = time.AfterFunc(wait, e.flush)
		} else {
			e.timer = time.AfterFunc(maxDelay, e.flush)
		}
	}
	e.mu.Unlock()
	e.publishAll(out)
	return nil
}

// flush publishes whatever is queued.
func (e *Emitter) flush() {
	e.mu.Lock()
	out := e.takeLocked()
	e.mu.Unlock()
	e.publishAll(out)
}

// takeLocked empties the queue into messages: per subject, an event alone
// as itself, more as batches of at most contracts.MaxEventBatch events and
// contracts.MaxEventBatchBytes. Each counts as awaiting its first ack.
func (e *Emitter) takeLocked() []*message {
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	var out []*message
	for _, subject := range e.subjects {
		evs := e.queue[subject]
		for len(evs) > 0 {
			n, size := 0, 0
			for n < len(evs) && n < contracts.MaxEventBatch && (n == 0 || size+len(evs[n].data)+1 <= contracts.MaxEventBatchBytes) {
				size += len(evs[n].data) + 1
				n++
			}
			out = append(out, newMessage(subject, evs[:n]))
			evs = evs[n:]
		}
		delete(e.queue, subject)
	}
	e.subjects = e.subjects[:0]
	if len(out) > 0 {
		e.last = time.Now()
	}
	for _, m := range out {
		e.sent[m.id] = m
	}
	e.awaiting += len(out)
	return out
}

// newMessage is the message carrying evs: the event itself when alone,
// else a batch under an id of its own.
func newMessage(subject string, evs []event) *message {
	if len(evs) == 1 {
		return &message{id: evs[0].id, subject: subject, data: evs[0].data, header: evs[0].header, events: []string{evs[0].id}, first: true}
	}
	lines := make([][]byte, len(evs))
	ids := make([]string, len(evs))
	for i, ev := range evs {
		lines[i], ids[i] = ev.data, ev.id
	}
	body, count := contracts.JoinEventBatch(lines)
	id := batchPrefix + nuid.Next()
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, id)
	h.Set(contracts.HeaderEventBatch, count)
	return &message{id: id, subject: subject, data: body, header: h, events: ids, first: true}
}

func (e *Emitter) publishAll(out []*message) {
	e.messages.Add(float64(len(out)))
	for _, m := range out {
		e.publish(m)
	}
}

// publish sends m once; a failure to send schedules a retry.
func (e *Emitter) publish(m *message) {
	// A fresh message each time: the JetStream context keeps the one it
	// was given until the publish settles.
	msg := &nats.Msg{Subject: m.subject, Data: m.data, Header: m.header}
	if _, err := e.js.PublishMsgAsync(msg); err != nil {
		e.retry(m.id, err)
	}
}

// acked forgets an acknowledged message and its events, and publishes
// what queued meanwhile.
func (e *Emitter) acked(msg *nats.Msg) {
	e.mu.Lock()
	m, ok := e.sent[msg.Header.Get(jetstream.MsgIDHeader)]
	if !ok {
		e.mu.Unlock()
		return
	}
	delete(e.sent, m.id)
	for _, id := range m.events {
		delete(e.ids, id)
	}
	if len(e.ids) == 0 {
		close(e.idle)
	}
	out := e.settledLocked(m)
	e.mu.Unlock()
	e.publishAll(out)
}

// settledLocked notes that m's publish settled; when it was the last first
// publish awaited, it takes the queue to publish.
func (e *Emitter) settledLocked(m *message) []*message {
	if !m.first {
		return nil
	}
	m.first = false
	e.awaiting--
	if e.awaiting > 0 || len(e.subjects) == 0 {
		return nil
	}
	if wait := minInterval - time.Since(e.last); wait > 0 {
		if e.timer != nil {
			e.timer.Stop()
		}
		e.timer = time.AfterFunc(wait, e.flush)
		return nil
	}
	return e.takeLocked()
}

// failed retries a message whose publish was not acknowledged.
func (e *Emitter) failed(m *nats.Msg, err error) {
	e.retry(m.Header.Get(jetstream.MsgIDHeader), err)
}

// retry publishes message id again after its backoff.
func (e *Emitter) retry(id string, err error) {
	e.mu.Lock()
	m, ok := e.sent[id]
	if !ok {
		e.mu.Unlock()
		return
	}
	out := e.settledLocked(m)
	if e.closed {
		e.mu.Unlock()
		return
	}
	m.attempts++
	n := m.attempts
	e.mu.Unlock()
	e.publishAll(out)
	e.retries.Inc()
	if n == 1 || n%20 == 0 {
		e.cfg.Logger.Warn("events not stored yet; retrying", "subject", m.subject, "events", len(m.events), "attempts", n, "err", err)
	}
	time.AfterFunc(backoff(n), func() { e.publish(m) })
}

// backoff is the wait before attempt n+1: minBackoff doubling up to
// maxBackoff, with up to a quarter of jitter so that many retries after
// one reconnect do not arrive together.
func backoff(n int) time.Duration {
	d := maxBackoff
	if n < 16 {
		d = min(minBackoff<<(n-1), maxBackoff)
	}
	return d - time.Duration(rand.Int64N(int64(d/4)+1))
}

// Pending is the number of events not acknowledged yet.
func (e *Emitter) Pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.ids)
}

// Drain waits until every pending event is acknowledged, or ctx ends; it
// returns how many were still pending then. Retries go on meanwhile; call
// it after the last Emit, before draining the connection.
func (e *Emitter) Drain(ctx context.Context) int {
	for {
		e.mu.Lock()
		idle, n := e.idle, len(e.ids)
		e.mu.Unlock()
		if n == 0 {
			return 0
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return e.Pending()
		}
	}
}

// Close stops retrying: what is pending stays unpublished. Call it after
// Drain.
func (e *Emitter) Close() {
	e.mu.Lock()
	e.closed = true
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	e.mu.Unlock()
}

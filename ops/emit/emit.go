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
//   - Exactly once in the stream: each retry carries the event's
//     Nats-Msg-Id, so a retry of a publish that was stored but whose ack was
//     lost is dropped by the stream's duplicate window (2 minutes for the
//     events stream). Retries go on past that window, because dropping an
//     event is worse: only an event stored without its ack reaching us and
//     retried more than 2 minutes after its first publish (NATS down longer
//     than that exactly then) can be stored twice, and analytics keeps one
//     row per event id (ReplacingMergeTree) even then.
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
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultMaxPending = 100_000
	DefaultAckTimeout = 10 * time.Second
	minBackoff        = 100 * time.Millisecond
	maxBackoff        = 5 * time.Second
)

// ErrNoMsgID refuses an event without a Nats-Msg-Id header: without one a
// retry could store it twice.
var ErrNoMsgID = errors.New("event has no Nats-Msg-Id header")

// Config configures an Emitter.
type Config struct {
	Conn   *nats.Conn
	Logger *slog.Logger
	// Registerer, when set, gets the Emitter's metrics, named
	// <Namespace>_events_pending, <Namespace>_event_retries_total and
	// <Namespace>_events_dropped_total.
	Registerer prometheus.Registerer
	Namespace  string
	// MaxPending bounds the events waiting for their ack; 0 means
	// DefaultMaxPending.
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
	// pending holds the events not acknowledged yet, by Nats-Msg-Id.
	pending map[string]*pendingEvent
	// idle is closed, and replaced, whenever pending becomes empty.
	idle chan struct{}
	// closed stops retries (Close).
	closed   bool
	lastDrop time.Time

	retries, dropped prometheus.Counter
}

type pendingEvent struct {
	subject string
	data    []byte
	header  nats.Header
	// attempts counts the failed publishes so far.
	attempts int
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
	e := &Emitter{cfg: cfg, pending: map[string]*pendingEvent{}, idle: make(chan struct{}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: cfg.Namespace + "_event_retries_total",
			Help: "Event publishes tried again after a failure (nack, timeout, disconnect).",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: cfg.Namespace + "_events_dropped_total",
			Help: "Events dropped because too many were waiting for their ack.",
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
			Help: "Events published but not acknowledged by the stream yet.",
		}, func() float64 { return float64(e.Pending()) })
		if err := errors.Join(cfg.Registerer.Register(pendingGauge), cfg.Registerer.Register(e.retries), cfg.Registerer.Register(e.dropped)); err != nil {
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
	if _, dup := e.pending[id]; dup {
		e.mu.Unlock()
		return nil
	}
	if len(e.pending) >= e.cfg.MaxPending {
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
	if len(e.pending) == 0 {
		e.idle = make(chan struct{})
	}
	ev := &pendingEvent{subject: subject, data: data, header: header}
	e.pending[id] = ev
	e.mu.Unlock()
	e.publish(id, ev)
	return nil
}

// publish sends ev once; a failure to send schedules a retry.
func (e *Emitter) publish(id string, ev *pendingEvent) {
	// A fresh message each time: the JetStream context keeps the one it
	// was given until the publish settles.
	m := &nats.Msg{Subject: ev.subject, Data: ev.data, Header: ev.header}
	if _, err := e.js.PublishMsgAsync(m); err != nil {
		e.retry(id, err)
	}
}

// acked forgets an acknowledged event.
func (e *Emitter) acked(m *nats.Msg) {
	id := m.Header.Get(jetstream.MsgIDHeader)
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.pending[id]; !ok {
		return
	}
	delete(e.pending, id)
	if len(e.pending) == 0 {
		close(e.idle)
	}
}

// failed retries an event whose publish was not acknowledged.
func (e *Emitter) failed(m *nats.Msg, err error) {
	e.retry(m.Header.Get(jetstream.MsgIDHeader), err)
}

// retry publishes event id again after its backoff.
func (e *Emitter) retry(id string, err error) {
	e.mu.Lock()
	ev, ok := e.pending[id]
	if !ok {
		e.mu.Unlock()
		return
	}
	if e.closed {
		e.mu.Unlock()
		return
	}
	ev.attempts++
	n := ev.attempts
	e.mu.Unlock()
	e.retries.Inc()
	if n == 1 || n%20 == 0 {
		e.cfg.Logger.Warn("event not stored yet; retrying", "subject", ev.subject, "attempts", n, "err", err)
	}
	time.AfterFunc(backoff(n), func() { e.publish(id, ev) })
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
	return len(e.pending)
}

// Drain waits until every pending event is acknowledged, or ctx ends; it
// returns how many were still pending then. Retries go on meanwhile; call
// it after the last Emit, before draining the connection.
func (e *Emitter) Drain(ctx context.Context) int {
	for {
		e.mu.Lock()
		idle, n := e.idle, len(e.pending)
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
	e.mu.Unlock()
}

// Package sink moves events from the JetStream events stream into
// ClickHouse, in batches, at least once.
//
// The sink fetches from a durable pull consumer and gathers decoded events
// into a batch, which it inserts once it holds BatchSize events or its first
// event is FlushInterval old. Messages are acknowledged only after the
// insert succeeded. A failed insert is retried with exponential backoff,
// holding the batch (and fetching nothing more) and telling the server the
// messages are still in progress, so nothing is lost or redelivered while
// ClickHouse is away. A message that cannot be decoded is poison: it is
// terminated at once and logged, and never holds up the events behind it.
//
// An event may still be stored twice (an ack lost on the way, a batch
// retried after a partial insert); the tables collapse copies (see package
// chstore).
package sink

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ocrstack/ocrstack/analytics/internal/events"
)

// ErrNotFlushed is returned by Run when the last batch could not be stored
// before the shutdown deadline. Its messages were handed back to the server
// for redelivery, so nothing is lost.
var ErrNotFlushed = errors.New("last batch not stored")

// Inserter stores a batch durably; inserting the same batch again must be
// harmless.
type Inserter interface {
	Insert(ctx context.Context, b *events.Batch) error
}

// Fetcher is the part of a JetStream pull consumer the sink uses.
type Fetcher interface {
	Fetch(batch int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error)
}

// Config holds a Sink's dependencies and settings. Zero durations take the
// defaults given.
type Config struct {
	Consumer Fetcher
	Store    Inserter
	Logger   *slog.Logger
	// BatchSize is the most events inserted at once; at least 1, and at
	// most the consumer's MaxAckPending.
	BatchSize int
	// FlushInterval is how long the first event of a batch may wait.
	// Default 1 s; keep it well below the consumer's AckWait.
	FlushInterval time.Duration
	// InsertTimeout bounds one insert attempt. Default 30 s.
	InsertTimeout time.Duration
	// RetryMin and RetryMax bound the wait between insert attempts, which
	// doubles after each failure. Defaults 500 ms and 20 s.
	RetryMin, RetryMax time.Duration
	// ShutdownTimeout bounds the final flush after Run's context ends.
	// Default 10 s.
	ShutdownTimeout time.Duration
	// Now tells the time; nil means time.Now.
	Now func() time.Time
	// Metrics records batches stored and insert failures; nil records
	// nothing.
	Metrics *Metrics
}

// Sink is the consumer loop. It is not safe for concurrent use: one
// goroutine calls Run.
type Sink struct {
	cfg   Config
	log   *slog.Logger
	msgs  []jetstream.Msg
	batch events.Batch
	first time.Time // when the batch's first event arrived

	fetchFailing bool // a fetch error was logged and no fetch succeeded since

	// crashAfterInsert is set only by tests. It is asked after each stored
	// batch whether the sink should die there, as a killed process would:
	// Run returns errCrashed at once, neither acknowledging the batch nor
	// handing anything back, so the server redelivers it after AckWait.
	crashAfterInsert func() bool
}

// New returns a Sink with cfg's zero values replaced by their defaults.
func New(cfg Config) *Sink {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.FlushInterval, time.Second)
	def(&cfg.InsertTimeout, 30*time.Second)
	def(&cfg.RetryMin, 500*time.Millisecond)
	def(&cfg.RetryMax, 20*time.Second)
	def(&cfg.ShutdownTimeout, 10*time.Second)
	cfg.BatchSize = max(cfg.BatchSize, 1)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Sink{cfg: cfg, log: cfg.Logger, msgs: make([]jetstream.Msg, 0, cfg.BatchSize)}
}

// Run consumes until ctx ends, then stores and acknowledges the batch in
// hand within ShutdownTimeout. It returns nil, or ErrNotFlushed.
func (s *Sink) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		s.fetch(ctx)
		if s.due() {
			// flush returns early only when ctx ends; the loop then stops
			// and the final flush below tries again.
			if err := s.flush(ctx); errors.Is(err, errCrashed) {
				return err
			}
		}
	}
	return s.shutdown(ctx)
}

func (s *Sink) due() bool {
	n := len(s.msgs)
	return n >= s.cfg.BatchSize || (n > 0 && s.cfg.Now().Sub(s.first) >= s.cfg.FlushInterval)
}

func (s *Sink) shutdown(parent context.Context) error {
	if len(s.msgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.flush(ctx); err == nil || errors.Is(err, errCrashed) {
		return err
	}
	n := len(s.msgs)
	// Hand the messages back now rather than after AckWait, so that the
	// next instance to fetch gets them at once.
	s.settleAll(errShutdown)
	s.reset()
	s.log.Error("shutdown: last batch not stored, messages returned for redelivery", "events", n)
	return ErrNotFlushed
}

func (s *Sink) reset() {
	clear(s.msgs)
	s.msgs = s.msgs[:0]
	s.batch.Reset()
}

// sleep waits d or until ctx ends, and reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

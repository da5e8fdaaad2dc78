// Package sink moves events from the JetStream events stream into
// ClickHouse, in batches, at least once.
//
// The sink is a pipeline of three goroutines, so that fetching, inserting
// and acknowledging overlap instead of taking turns:
//
//   - collect fetches from a durable pull consumer, decodes, and gathers
//     events into a batch, which is due once it holds BatchSize events or
//     its first event is FlushInterval old. A message carries one event
//     or, from a busy producer, a batch of up to contracts.MaxEventBatch
//     (package events), so every size here counts events, never messages,
//     and a fetch is bounded in bytes as well as in messages (see
//     fetchLimits). A due batch goes to the
//     inserter as soon as the inserter is free; while it is busy, collect
//     keeps adding whatever the stream already holds, up to MaxBatchSize.
//     So under a light load batches are small and flushed on time, and
//     behind a backlog they grow to what the insert rate allows, because
//     ClickHouse pays a fixed cost per insert (a new part): 100,000 rows go
//     in several times faster than ten inserts of 10,000.
//   - store inserts one batch at a time, in fetch order, retrying a failed
//     insert with exponential backoff while holding the batch (telling the
//     server the messages are still in progress), so nothing is lost or
//     redelivered while ClickHouse is away. Collect then holds at most one
//     more batch, which it keeps in progress the same way, and fetches
//     nothing further.
//   - ack acknowledges each message of a stored batch. Messages are
//     acknowledged only after their insert succeeded. Every message is
//     acknowledged on its own: AckAll would also acknowledge messages
//     another replica holds on the same consumer and has not stored yet.
//
// A message that cannot be decoded is poison: it is terminated at once and
// logged, and never holds up the events behind it. In a batch message
// whose framing is sound, each event is judged alone: a bad one is logged
// and counted as poison, its good neighbours are stored, and the message
// is acknowledged once they are. A batch whose framing is bad is poison
// whole.
//
// An event may still be stored twice (an ack lost on the way, a process
// killed between an insert and its acks, a batch retried after a partial
// insert); the tables collapse copies (see package chstore), so batches
// need not be deterministic and may differ in size from one delivery to
// the next.
package sink

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ocrstack/ocrstack/analytics/internal/events"
)

// ErrNotFlushed is returned by Run when the batches in hand could not be
// stored before the shutdown deadline. Their messages were handed back to
// the server for redelivery, so nothing is lost.
var ErrNotFlushed = errors.New("last batch not stored")

// DefaultMaxBatchSize is the default for Config.MaxBatchSize: the largest
// batch gathered behind a backlog, in events. With two batches in flight
// per replica (one inserted, one gathered) it stays well inside the
// consumer's MaxAckPending (streams.MaxAckPending), which counts messages,
// each carrying at least one event.
const DefaultMaxBatchSize = 50_000

// Inserter stores a batch durably; inserting the same batch again must be
// harmless.
type Inserter interface {
	Insert(ctx context.Context, b *events.Batch) error
}

// DefaultMaxMsgBytes is the default for Config.MaxMsgBytes: 64 MiB, the
// largest max_payload a NATS server accepts.
const DefaultMaxMsgBytes = 64 << 20

// fetchByteSlack is added to MaxMsgBytes in a fetch's byte limit for what
// the server counts beside the payload (subject, reply subject).
const fetchByteSlack = 4 << 10

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
	// BatchSize is the events at which a batch is due; at least 1.
	BatchSize int
	// MaxBatchSize is the most events a batch grows to while the previous
	// one is being inserted; at least BatchSize. Zero means
	// max(BatchSize, DefaultMaxBatchSize).
	MaxBatchSize int
	// FlushInterval is how long the first event of a batch may wait before
	// the batch is due. Default 1 s; keep it well below the consumer's
	// AckWait.
	FlushInterval time.Duration
	// InsertTimeout bounds one insert attempt. Default 30 s.
	InsertTimeout time.Duration
	// RetryMin and RetryMax bound the wait between insert attempts, which
	// doubles after each failure. Defaults 500 ms and 20 s.
	RetryMin, RetryMax time.Duration
	// MaxMsgBytes is the largest message the stream can hold, in bytes:
	// the NATS server's max_payload (nats.Conn.MaxPayload). No fetch asks
	// for fewer bytes, so that any message fits in one. Zero means
	// DefaultMaxMsgBytes.
	MaxMsgBytes int
	// HoldRefresh is how often a batch waiting for the inserter has its
	// messages marked in progress, restarting their AckWait. Default 10 s;
	// keep it well below the consumer's AckWait.
	HoldRefresh time.Duration
	// ShutdownTimeout bounds the final flush after Run's context ends.
	// Default 10 s.
	ShutdownTimeout time.Duration
	// Backlog, when set, is told after each fetch whether at least
	// BatchSize more events wait in the stream (the rollup refresher backs
	// off while they do). It is called from the collecting goroutine.
	Backlog func(backlog bool)
	// Now tells the time; nil means time.Now.
	Now func() time.Time
	// Metrics records batches stored and insert failures; nil records
	// nothing.
	Metrics *Metrics
}

// Sink is the consumer pipeline. It is not safe for concurrent use: one
// goroutine calls Run, once.
type Sink struct {
	cfg Config
	log *slog.Logger

	// free holds emptied batches for collect to reuse.
	free chan *batch

	fetchFailing bool // a fetch error was logged and no fetch succeeded since
	// eventBytes is the bytes per event of the last fetch that brought
	// any, for fetchLimits.
	eventBytes int

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
	def(&cfg.HoldRefresh, 10*time.Second)
	def(&cfg.ShutdownTimeout, 10*time.Second)
	cfg.BatchSize = max(cfg.BatchSize, 1)
	if cfg.MaxBatchSize == 0 {
		cfg.MaxBatchSize = DefaultMaxBatchSize
	}
	cfg.MaxBatchSize = max(cfg.MaxBatchSize, cfg.BatchSize)
	if cfg.MaxMsgBytes <= 0 {
		cfg.MaxMsgBytes = DefaultMaxMsgBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Sink{cfg: cfg, log: cfg.Logger, free: make(chan *batch, 4), eventBytes: initialEventBytes}
}

// Run consumes until ctx ends, then stores and acknowledges the batches in
// hand within ShutdownTimeout. It returns nil, or ErrNotFlushed.
func (s *Sink) Run(ctx context.Context) error {
	collectCtx, stopCollect := context.WithCancel(ctx)
	defer stopCollect()
	batches := make(chan *batch) // unbuffered: a send succeeds only when store is free
	go s.collect(collectCtx, batches)

	acks := make(chan *batch, 1)
	acked := make(chan struct{})
	go func() {
		defer close(acked)
		for b := range acks {
			s.settleAll(b, nil)
			s.recycle(b)
		}
	}()

	err := s.store(ctx, batches, acks)
	close(acks)
	if errors.Is(err, errCrashed) {
		// A killed process settles nothing: drop what collect holds.
		stopCollect()
		for range batches {
		}
	}
	<-acked
	return err
}

// initialEventBytes is the bytes per event fetchLimits assumes before the
// first fetch brings any: at the low end of what events take (250 to 470
// bytes of JSON), so the first fetch behind a run of batches brings no
// more than about the events asked for. It may bring fewer (events
// travelling alone take some 150 bytes more each, in subjects and
// headers); the next fetch fills the batch, and from then on the bytes
// per event are measured.
const initialEventBytes = 256

// batch is the unit that moves through the pipeline: the messages that
// carried at least one good event, and their events, in the same order.
type batch struct {
	msgs   []jetstream.Msg
	events events.Batch
	first  time.Time // when the first event arrived
}

// len is the events of b; a message may carry many.
func (b *batch) len() int { return b.events.Len() }

// newBatch returns an empty batch, reusing one the pipeline is done with.
func (s *Sink) newBatch() *batch {
	select {
	case b := <-s.free:
		return b
	default:
		return &batch{}
	}
}

// recycle empties b, keeping its memory, for newBatch.
func (s *Sink) recycle(b *batch) {
	clear(b.msgs)
	b.msgs = b.msgs[:0]
	b.events.Reset()
	select {
	case s.free <- b:
	default:
	}
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

package admission

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
)

// Defaults of Config.
const (
	DefaultRefreshEvery = 250 * time.Millisecond
	DefaultInfoTimeout  = time.Second
	// MaxRetryAfter and MinRetryAfter bound OverloadedError.RetryAfter, in
	// seconds.
	MinRetryAfter = 1
	MaxRetryAfter = 30
)

// ErrOverloaded is what Admit's error matches (errors.Is) when the ingress
// takes no more OCR requests for now; errors.As gives its *OverloadedError.
var ErrOverloaded = errors.New("overloaded")

// Cause is why a request was refused.
type Cause string

// Causes of OverloadedError.
const (
	// CauseInFlight: this ingress already processes Config.MaxInFlight
	// OCR requests.
	CauseInFlight Cause = "in_flight"
	// CauseQueue: more than Config.MaxQueued jobs are in the jobs stream.
	CauseQueue Cause = "queue"
)

// OverloadedError is Admit's refusal.
type OverloadedError struct {
	Cause Cause
	// RetryAfter is the suggested Retry-After in seconds, MinRetryAfter to
	// MaxRetryAfter: the time the jobs now queued take to drain at the
	// recent completion rate (see retryAfter).
	RetryAfter int
}

// Error implements the error interface.
func (e *OverloadedError) Error() string {
	return fmt.Sprintf("overloaded (%s), retry after %ds", e.Cause, e.RetryAfter)
}

// Is makes errors.Is(err, ErrOverloaded) true.
func (e *OverloadedError) Is(target error) bool { return target == ErrOverloaded }

// Streams is what the Gate needs of jetstream.JetStream.
type Streams interface {
	Stream(ctx context.Context, name string) (jetstream.Stream, error)
}

// Config holds a Gate's limits and its view of the jobs stream.
type Config struct {
	// MaxInFlight is how many OCR requests this ingress processes at once,
	// at least 1.
	MaxInFlight int
	// MaxQueued is how many messages the jobs stream may hold before new
	// requests are refused; 0 turns the queue check off (the depth is
	// still read, for Retry-After).
	MaxQueued int
	// Streams reads the jobs stream's state; nil turns the queue check
	// off, and Retry-After is then always MinRetryAfter.
	Streams Streams
	// Stream is the jobs stream; empty means contracts.JobsStream.
	Stream string
	// RefreshEvery is the least time between two stream info calls; 0
	// means DefaultRefreshEvery.
	RefreshEvery time.Duration
	// InfoTimeout bounds one stream info call; 0 means DefaultInfoTimeout.
	InfoTimeout time.Duration
	// Logger reports failing stream info calls; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Gate admits or refuses OCR requests. It is safe for concurrent use.
type Gate struct {
	cfg      Config
	inFlight atomic.Int64
	queue    queue
}

// New returns a Gate. It reads nothing before the first Admit.
func New(cfg Config) (*Gate, error) {
	if cfg.MaxInFlight < 1 {
		return nil, fmt.Errorf("max in flight %d: want at least 1", cfg.MaxInFlight)
	}
	if cfg.MaxQueued < 0 {
		return nil, fmt.Errorf("max queued %d: want 0 (no check) or more", cfg.MaxQueued)
	}
	if cfg.Stream == "" {
		cfg.Stream = contracts.JobsStream
	}
	if cfg.RefreshEvery <= 0 {
		cfg.RefreshEvery = DefaultRefreshEvery
	}
	if cfg.InfoTimeout <= 0 {
		cfg.InfoTimeout = DefaultInfoTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Gate{cfg: cfg}
	g.queue.cfg = &g.cfg
	return g, nil
}

// Admit takes one OCR request in, or refuses it at once with an
// *OverloadedError (errors.Is(err, ErrOverloaded)) when this ingress
// already processes Limit() requests or the jobs stream holds more than
// MaxQueued messages. It never waits: the queue depth it checks is at most
// RefreshEvery old, read in the background by one caller at a time, and
// treated as unknown (so not a reason to refuse) when the last read failed
// or is older than 8 × RefreshEvery (an idle ingress). On success the caller must call release
// once the request is done (extra calls do nothing).
//
// ctx is not used yet; it is there so that a later version may wait for a
// slot without changing callers.
func (g *Gate) Admit(_ context.Context) (release func(), err error) {
	queued, known := g.queued()
	if known && g.cfg.MaxQueued > 0 && queued > uint64(g.cfg.MaxQueued) {
		return nil, &OverloadedError{Cause: CauseQueue, RetryAfter: g.queue.retryAfter()}
	}
	if g.inFlight.Add(1) > int64(g.cfg.MaxInFlight) {
		g.inFlight.Add(-1)
		return nil, &OverloadedError{Cause: CauseInFlight, RetryAfter: g.queue.retryAfter()}
	}
	var once sync.Once
	return func() { once.Do(func() { g.inFlight.Add(-1) }) }, nil
}

// Limit is the most OCR requests processed at once (Config.MaxInFlight).
func (g *Gate) Limit() int { return g.cfg.MaxInFlight }

// InFlight is the number of requests admitted and not yet released.
func (g *Gate) InFlight() int { return int(g.inFlight.Load()) }

// Queued returns the jobs stream's message count as last read, and whether
// it is known (see Admit). It may start a read in the background.
func (g *Gate) Queued() (uint64, bool) { return g.queued() }

// queued reads the depth whenever it can, for Retry-After, even when
// MaxQueued is 0.
func (g *Gate) queued() (uint64, bool) {
	if g.cfg.Streams == nil {
		return 0, false
	}
	return g.queue.depth(g.cfg.Streams)
}

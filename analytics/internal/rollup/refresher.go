package rollup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/ocrstack/ocrstack/analytics/internal/events"
)

// maxBucketsPerStatement bounds the bucket list of one recompute statement.
const maxBucketsPerStatement = 256

// Inserter stores a batch durably (sink.Inserter).
type Inserter interface {
	Insert(ctx context.Context, b *events.Batch) error
}

// Config holds a Refresher's dependencies and settings. Zero durations take
// the defaults given.
type Config struct {
	// Conn reaches the database holding the raw and rollup tables.
	Conn   driver.Conn
	Logger *slog.Logger
	// Interval is how often noted minutes are recomputed: at most one
	// recompute per Interval, however many batches arrive. Default 1 s.
	Interval time.Duration
	// MaxDelay bounds how long recomputes are put off while the sink
	// drains a backlog (SetBacklog): the rollups then trail the raw
	// tables by at most about MaxDelay plus one Interval. Default 30 s.
	MaxDelay time.Duration
	// ReconcileInterval is how often Reconcile runs after the one at
	// start-up. Default 10 min.
	ReconcileInterval time.Duration
	// Window is how far back Reconcile looks. Default 8 days: the events
	// stream keeps an event 7 days, so an event stored before a crash is at
	// most that old, plus a day for late producers.
	Window time.Duration
	// Timeout bounds one recompute or reconcile. Default 2 min.
	Timeout time.Duration
	// Now tells the time; nil means time.Now.
	Now func() time.Time
}

// Refresher recomputes the rollup buckets touched by stored batches.
// Mark is safe for concurrent use; one goroutine calls Run.
type Refresher struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	pending map[uint32]struct{} // minute starts, unix seconds
	since   time.Time           // when the oldest noted minute was noted

	backlog atomic.Bool // the sink is draining a backlog

	failing bool // an error was logged and nothing succeeded since
}

// New returns a Refresher with cfg's zero values replaced by defaults.
func New(cfg Config) *Refresher {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Interval, time.Second)
	def(&cfg.MaxDelay, 30*time.Second)
	def(&cfg.ReconcileInterval, 10*time.Minute)
	def(&cfg.Window, 8*24*time.Hour)
	def(&cfg.Timeout, 2*time.Minute)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Refresher{cfg: cfg, log: cfg.Logger, pending: map[uint32]struct{}{}}
}

// Track returns an Inserter that stores through next and, once a batch is
// stored, notes the minutes it touched.
func (r *Refresher) Track(next Inserter) Inserter {
	return tracked{next: next, r: r}
}

type tracked struct {
	next Inserter
	r    *Refresher
}

func (t tracked) Insert(ctx context.Context, b *events.Batch) error {
	if err := t.next.Insert(ctx, b); err != nil {
		return err
	}
	t.r.Mark(b)
	return nil
}

// Mark notes the minutes holding b's verification and usage events, to be
// recomputed by the next refresh.
func (r *Refresher) Mark(b *events.Batch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 {
		r.since = r.cfg.Now()
	}
	for _, e := range b.Verifications {
		r.pending[minuteOf(e.Time)] = struct{}{}
	}
	for _, e := range b.Usage {
		r.pending[minuteOf(e.Time)] = struct{}{}
	}
}

func minuteOf(ms int64) uint32 { return uint32(ms / 60000 * 60) }

// SetBacklog tells the refresher whether the sink is draining a backlog.
// While it is, recomputes are put off for up to MaxDelay: each one reads
// the raw tables with FINAL, competing with the inserts for ClickHouse, and
// minutes touched by a backlog are touched again by its next batches, so
// one recompute after the backlog replaces dozens during it. Safe for
// concurrent use.
func (r *Refresher) SetBacklog(backlog bool) { r.backlog.Store(backlog) }

// Pending returns how many minutes wait for a recompute.
func (r *Refresher) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Run reconciles, then recomputes noted minutes every Interval and
// reconciles every ReconcileInterval, until ctx ends. Failures are logged
// and retried: the minutes stay noted. It returns when ctx ends; minutes
// still noted then are repaired by the next start-up's Reconcile.
func (r *Refresher) Run(ctx context.Context) {
	r.reconcile(ctx)
	nextReconcile := r.cfg.Now().Add(r.cfg.ReconcileInterval)
	tick := time.NewTicker(r.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !r.deferred() {
			r.refreshPending(ctx)
		}
		if !r.cfg.Now().Before(nextReconcile) {
			r.reconcile(ctx)
			nextReconcile = r.cfg.Now().Add(r.cfg.ReconcileInterval)
		}
	}
}

// Flush recomputes every noted minute now.
func (r *Refresher) Flush(ctx context.Context) error {
	return r.refreshPending(ctx)
}

// deferred reports whether the noted minutes may wait: a backlog is
// draining and the oldest was noted less than MaxDelay ago.
func (r *Refresher) deferred() bool {
	if !r.backlog.Load() {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending) > 0 && r.cfg.Now().Sub(r.since) < r.cfg.MaxDelay
}

func (r *Refresher) refreshPending(ctx context.Context) error {
	r.mu.Lock()
	minutes := slices.Sorted(maps.Keys(r.pending))
	since := r.since
	clear(r.pending)
	r.mu.Unlock()
	if len(minutes) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	err := r.Refresh(ctx, minutes)
	if err != nil {
		r.mu.Lock()
		if len(r.pending) == 0 || since.Before(r.since) {
			r.since = since
		}
		for _, m := range minutes {
			r.pending[m] = struct{}{}
		}
		r.mu.Unlock()
	}
	r.report("refresh rollups", err, "minutes", len(minutes))
	return err
}

func (r *Refresher) reconcile(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	n, err := r.Reconcile(ctx)
	if err == nil && n > 0 {
		r.log.Info("rollups repaired", "buckets", n)
	}
	r.report("reconcile rollups", err)
}

// report logs a failure once, and the recovery after it.
func (r *Refresher) report(msg string, err error, attrs ...any) {
	switch {
	case err != nil && ctxDone(err):
	case err != nil && !r.failing:
		r.log.Error(msg, append(attrs, "err", err)...)
		r.failing = true
	case err == nil && r.failing:
		r.log.Info(msg+" recovered", attrs...)
		r.failing = false
	}
}

// ctxDone reports an error caused by the service stopping, not logged: the
// next start-up's reconcile finishes the work.
func ctxDone(err error) bool {
	return errors.Is(err, context.Canceled)
}

// Refresh recomputes the given minutes (unix seconds, each a minute start)
// of every family, then the hours, days and months holding them.
func (r *Refresher) Refresh(ctx context.Context, minutes []uint32) error {
	buckets := minutes
	for i := range levels {
		if i > 0 {
			buckets = parents(buckets, i)
		}
		if err := r.refreshLevel(ctx, i, buckets); err != nil {
			return err
		}
	}
	return nil
}

// refreshLevel recomputes the given buckets of level i of every family.
func (r *Refresher) refreshLevel(ctx context.Context, i int, buckets []uint32) error {
	for _, f := range families {
		if err := r.recompute(ctx, f, i, buckets); err != nil {
			return err
		}
	}
	return nil
}

// recompute recomputes the given (sorted) buckets of level i of f, a
// bounded number per statement.
func (r *Refresher) recompute(ctx context.Context, f family, i int, buckets []uint32) error {
	for chunk := range slices.Chunk(buckets, maxBucketsPerStatement) {
		lo, hi := timeOf(chunk[0]), levels[i].next(timeOf(chunk[len(chunk)-1]))
		if err := r.cfg.Conn.Exec(ctx, f.refreshSQL(i, chunk, lo, hi)); err != nil {
			return fmt.Errorf("recompute %s: %w", f.table(i), err)
		}
	}
	return nil
}

// parents returns the sorted, distinct starts of the level-i buckets
// holding the given (sorted) buckets of level i-1.
func parents(buckets []uint32, i int) []uint32 {
	var out []uint32
	for _, b := range buckets {
		p := uint32(levels[i].start(time.Unix(int64(b), 0)).Unix())
		if len(out) == 0 || out[len(out)-1] != p {
			out = append(out, p)
		}
	}
	return out
}

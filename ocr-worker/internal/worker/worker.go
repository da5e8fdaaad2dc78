// Package worker runs OCR jobs from the shared JetStream consumer: a pool of
// goroutines, each owning one long-lived Tesseract engine and pulling one
// job at a time. A job's result and usage event are durable before the job
// is acknowledged.
package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/ocr"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/priority"
)

// ErrShutdownTimeout: jobs were still running when the shutdown deadline
// passed. They are redelivered after the consumer's AckWait.
var ErrShutdownTimeout = errors.New("shutdown deadline passed with jobs in flight")

// Defaults for optional Config fields.
const (
	DefaultProgressEvery   = 30 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	DefaultMaxImageBytes   = 64 << 20
	DefaultJobDeadline     = 10 * time.Minute
)

// Config holds a Worker's dependencies and settings.
type Config struct {
	// JetStream publishes results and usage events.
	JetStream jetstream.JetStream
	// Consumer is the durable pull consumer on the jobs stream.
	Consumer jetstream.Consumer
	// Images is the object store holding images too large to ride inline.
	Images jetstream.ObjectStore
	// Concurrency is the number of jobs recognised at once, at least 1.
	Concurrency int
	// Languages are used for jobs that name none; Installed are all a job
	// may name. Both must be valid (see ocr.CheckLanguages).
	Languages, Installed []string
	Logger               *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// ProgressEvery is how often a running job is reported in progress, so
	// it is not redelivered; it defaults to a quarter of the consumer's
	// AckWait.
	ProgressEvery time.Duration
	// ShutdownTimeout bounds waiting for in-flight jobs after Run's
	// context is cancelled.
	ShutdownTimeout time.Duration
	// MaxImageBytes bounds an image read from the object store, in bytes.
	MaxImageBytes int64
	// JobDeadline bounds one job's recognition (all its pages); past it
	// Tesseract stops at the next word and the job fails with TIMEOUT.
	JobDeadline time.Duration
	// Metrics records jobs, recognition times and dead letters; nil
	// records nothing.
	Metrics *Metrics
	// Nice is the nice value, 0 to 19, of the threads that run
	// recognitions (see package priority); 0 leaves them as they are.
	Nice int

	// unboundedEngines leaves the deadline to the slot alone, as if
	// Tesseract never checked it: tests of the last resort use it.
	unboundedEngines bool
}

// Worker runs jobs. Create it with New and start it with Run.
type Worker struct {
	js                   jetstream.JetStream
	cons                 jetstream.Consumer
	images               jetstream.ObjectStore
	concurrency          int
	languages, installed []string
	log                  *slog.Logger
	now                  func() time.Time
	progressEvery        time.Duration
	shutdownTimeout      time.Duration
	maxImageBytes        int64
	// maxDeliver is the consumer's MaxDeliver; 0 or less means unlimited.
	maxDeliver  int
	jobDeadline time.Duration
	unbounded   bool
	// overdue counts recognitions abandoned at their deadline and still
	// running; see slot.read.
	overdue atomic.Int64
	// records is the job records bucket once found; see jobRecords.
	records atomic.Pointer[jetstream.KeyValue]
	metrics *Metrics
	nice    int
	// running is true from engines loaded to shutdown; see Ready.
	running atomic.Bool
}

// New checks cfg and applies defaults. It starts nothing.
func New(cfg Config) (*Worker, error) {
	var errs []error
	if cfg.JetStream == nil || cfg.Consumer == nil || cfg.Images == nil || cfg.Logger == nil {
		errs = append(errs, errors.New("jetstream, consumer, images and logger are required"))
	}
	if cfg.Nice < priority.MinNice || cfg.Nice > priority.MaxNice {
		errs = append(errs, fmt.Errorf("nice %d is not between %d and %d", cfg.Nice, priority.MinNice, priority.MaxNice))
	}
	if cfg.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency %d is below 1", cfg.Concurrency))
	}
	if err := ocr.CheckLanguages(cfg.Languages, cfg.Installed); err != nil {
		errs = append(errs, fmt.Errorf("default languages: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	w := &Worker{
		js: cfg.JetStream, cons: cfg.Consumer, images: cfg.Images,
		concurrency: cfg.Concurrency,
		languages:   slices.Clone(cfg.Languages), installed: slices.Clone(cfg.Installed),
		log: cfg.Logger, now: cfg.Now,
		progressEvery:   cmp.Or(cfg.ProgressEvery, DefaultProgressEvery),
		shutdownTimeout: cmp.Or(cfg.ShutdownTimeout, DefaultShutdownTimeout),
		maxImageBytes:   cmp.Or(cfg.MaxImageBytes, DefaultMaxImageBytes),
		jobDeadline:     cmp.Or(cfg.JobDeadline, DefaultJobDeadline),
		unbounded:       cfg.unboundedEngines,
		metrics:         cfg.Metrics,
		nice:            cfg.Nice,
	}
	if w.now == nil {
		w.now = time.Now
	}
	if info := cfg.Consumer.CachedInfo(); info != nil {
		w.maxDeliver = info.Config.MaxDeliver
		w.progressEvery = cmp.Or(cfg.ProgressEvery, info.Config.AckWait/4, DefaultProgressEvery)
	}
	return w, nil
}

// Run starts one engine per concurrency slot and processes jobs until ctx
// is cancelled or the connection is lost. On cancellation it stops pulling,
// lets in-flight jobs finish (bounded by the shutdown timeout), closes the
// engines and returns nil, or ErrShutdownTimeout.
func (w *Worker) Run(ctx context.Context) error {
	engines, err := w.startEngines()
	if err != nil {
		return err
	}
	if err := w.WatchMaxDeliveries(ctx); err != nil {
		for _, e := range engines {
			e.Close()
		}
		return err
	}
	pullCtx, stopPulling := context.WithCancel(ctx)
	defer stopPulling()
	fatal := make(chan error, len(engines))
	var wg sync.WaitGroup
	for _, eng := range engines {
		wg.Go(func() {
			s := &slot{eng: eng}
			// An engine is closed by the goroutine that owns it, never while
			// it may be inside Tesseract.
			defer s.close()
			if err := w.pull(pullCtx, s); err != nil {
				fatal <- err
			}
		})
	}
	w.log.Info("worker started", "concurrency", len(engines), "languages", w.languages)
	if w.metrics != nil {
		w.metrics.slots.Set(float64(len(engines)))
	}
	w.running.Store(true)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-fatal:
	}
	w.running.Store(false)
	stopPulling()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(w.shutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		runErr = errors.Join(runErr, ErrShutdownTimeout)
	}
	return runErr
}

// pull processes one job at a time until ctx is cancelled. The iterator
// asks the server for one message only when the previous one is done, so
// an idle slot never holds a job another worker could run.
func (w *Worker) pull(ctx context.Context, s *slot) error {
	it, err := w.cons.Messages(jetstream.PullMaxMessages(1), jetstream.WithMessagesErrOnMissingHeartbeat(false))
	if err != nil {
		return fmt.Errorf("start pulling jobs: %w", err)
	}
	// Drain rather than Stop: a message already delivered to this slot is
	// still processed, not left to wait for AckWait.
	unhook := context.AfterFunc(ctx, it.Drain)
	defer unhook()
	defer it.Stop()
	// Jobs already started finish even after ctx is cancelled.
	jobCtx := context.WithoutCancel(ctx)
	for {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("next job: %w", err)
		}
		w.handle(jobCtx, s, msg)
		if n := w.overdue.Load(); n > int64(w.concurrency) {
			return fmt.Errorf("%d recognitions past their deadline are still running: %w", n, ErrStuck)
		}
	}
}

// startEngines creates the engines in parallel: each loads its models
// (60-80 ms).
func (w *Worker) startEngines() ([]*ocr.Engine, error) {
	engines := make([]*ocr.Engine, w.concurrency)
	errs := make([]error, w.concurrency)
	var wg sync.WaitGroup
	for i := range engines {
		wg.Go(func() { engines[i], errs[i] = ocr.New(w.languages) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, e := range engines {
			if e != nil {
				e.Close()
			}
		}
		return nil, fmt.Errorf("start ocr engines: %w", err)
	}
	return engines, nil
}

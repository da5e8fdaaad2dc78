package worker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops"
)

// LagInterval is how often the jobs consumer's lag is read.
const LagInterval = 5 * time.Second

// Metrics are the worker's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	// jobs counts answered jobs by outcome (succeeded, failed) and the
	// error code of a failed one ("" for a success).
	jobs *prometheus.CounterVec
	// recognition is the time Tesseract spent on a job, all its pages, in
	// seconds.
	recognition prometheus.Histogram
	// pages counts the pages of succeeded jobs.
	pages prometheus.Counter
	// busy is the slots working on a job now; slots is how many there are.
	busy, slots prometheus.Gauge
	// retries counts deliveries handed back for a retry after a transient
	// failure.
	retries prometheus.Counter
	// dead counts jobs moved to the dead-letter stream, by reason (a
	// contracts.Dead* reason).
	dead *prometheus.CounterVec
	// lag is the jobs consumer's pending plus unacknowledged messages.
	lag prometheus.Gauge
}

// NewMetrics registers the worker's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocr_worker_jobs_total",
			Help: "OCR jobs answered, by outcome (succeeded, failed) and error code (empty on success).",
		}, []string{"outcome", "error_code"}),
		recognition: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ocr_worker_recognition_duration_seconds",
			Help:    "Time Tesseract spent recognising one job, all its pages, in seconds.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}),
		pages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ocr_worker_pages_total",
			Help: "Pages of succeeded OCR jobs.",
		}),
		busy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ocr_worker_slots_busy",
			Help: "Concurrency slots working on a job now.",
		}),
		slots: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ocr_worker_slots",
			Help: "Concurrency slots, each with its own Tesseract engine.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ocr_worker_job_retries_total",
			Help: "Job deliveries handed back for a retry after a transient failure.",
		}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocr_worker_dead_letters_total",
			Help: "Jobs moved to the dead-letter stream, by reason (malformed, poison, retries_exhausted, max_deliveries).",
		}, []string{"reason"}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ocr_worker_consumer_lag_messages",
			Help: "Jobs waiting for a worker: the shared jobs consumer's pending plus unacknowledged messages, read every 5 s.",
		}),
	}
	reg.MustRegister(m.jobs, m.recognition, m.pages, m.busy, m.slots, m.retries, m.dead, m.lag)
	// Every reason from the start, so a rate over them never misses the
	// first dead letter.
	for _, r := range []string{contracts.DeadMalformed, contracts.DeadPoison, contracts.DeadRetriesExhausted, contracts.DeadMaxDeliveries} {
		m.dead.WithLabelValues(r)
	}
	return m
}

// WatchLag reads the lag of cons every LagInterval until ctx ends.
func (m *Metrics) WatchLag(ctx context.Context, cons jetstream.Consumer) {
	if m == nil {
		return
	}
	ops.PollGauge(ctx, m.lag, LagInterval, func(ctx context.Context) (float64, error) {
		info, err := cons.Info(ctx)
		if err != nil {
			return 0, err
		}
		return float64(info.NumPending + uint64(info.NumAckPending)), nil
	})
}

// answered records a job answered with a durable result.
func (m *Metrics) answered(code contracts.Code, a answer) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(string(status(a)), string(code)).Inc()
	if a.recognition > 0 {
		m.recognition.Observe(a.recognition.Seconds())
	}
	if code == "" {
		m.pages.Add(float64(max(1, len(a.doc.Pages))))
	}
}

// working marks a slot busy until the returned function is called.
func (m *Metrics) working() (done func()) {
	if m == nil {
		return func() {}
	}
	m.busy.Inc()
	return m.busy.Dec
}

func (m *Metrics) retried() {
	if m != nil {
		m.retries.Inc()
	}
}

func (m *Metrics) buried(reason string) {
	if m != nil {
		m.dead.WithLabelValues(reason).Inc()
	}
}

// errNotRunning: the engines are not loaded yet, or the worker is stopping.
var errNotRunning = errors.New("tesseract engines not running")

// Ready is the worker's readiness: nil once Run has loaded a Tesseract
// engine per slot and until it begins to stop.
func (w *Worker) Ready() error {
	if !w.running.Load() {
		return errNotRunning
	}
	return nil
}

package sink

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocrstack/ocrstack/analytics/internal/events"
	"github.com/ocrstack/ocrstack/ops"
)

// LagInterval is how often the events consumer's lag is read.
const LagInterval = 5 * time.Second

// Metrics are the sink's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	// inserted counts events stored, by table (verifications, usage).
	inserted *prometheus.CounterVec
	// flushDuration is the time of one successful batch insert, in seconds.
	flushDuration prometheus.Histogram
	// batchSize is the events in each batch stored.
	batchSize prometheus.Histogram
	// insertErrors counts failed insert attempts (each is retried).
	insertErrors prometheus.Counter
	// poison counts events refused because they do not decode: a message
	// terminated whole (one event, or a batch whose framing is bad, counted
	// once), or one line of a batch whose other events were stored.
	poison prometheus.Counter
	// lag is the events consumer's pending plus unacknowledged messages
	// (each one event or a batch of them).
	lag prometheus.Gauge
}

// NewMetrics registers the sink's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		inserted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocr_analytics_events_inserted_total",
			Help: "Events stored in ClickHouse, by table (verifications, usage).",
		}, []string{"table"}),
		flushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ocr_analytics_flush_duration_seconds",
			Help:    "Time of one successful batch insert into ClickHouse, in seconds.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ocr_analytics_batch_size_events",
			Help:    "Events in each batch stored in ClickHouse.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		insertErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ocr_analytics_insert_errors_total",
			Help: "Failed batch insert attempts; the batch is held and retried.",
		}),
		poison: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ocr_analytics_poison_messages_total",
			Help: "Events refused because they do not decode: a message terminated whole (a batch with bad framing counts once), or one bad event of a batch whose others were stored.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ocr_analytics_consumer_lag_messages",
			Help: "Messages not yet stored (each one event or a batch of them): the analytics consumer's pending plus unacknowledged messages, read every 5 s.",
		}),
	}
	reg.MustRegister(m.inserted, m.flushDuration, m.batchSize, m.insertErrors, m.poison, m.lag)
	for _, table := range []string{"verifications", "usage"} { // exposed before the first
		m.inserted.WithLabelValues(table)
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

// stored records a batch inserted in took.
func (m *Metrics) stored(b *events.Batch, took time.Duration) {
	if m == nil {
		return
	}
	m.inserted.WithLabelValues("verifications").Add(float64(len(b.Verifications)))
	m.inserted.WithLabelValues("usage").Add(float64(len(b.Usage)))
	m.flushDuration.Observe(took.Seconds())
	m.batchSize.Observe(float64(b.Len()))
}

func (m *Metrics) insertFailed() {
	if m != nil {
		m.insertErrors.Inc()
	}
}

func (m *Metrics) poisoned() {
	if m != nil {
		m.poison.Inc()
	}
}

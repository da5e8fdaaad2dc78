package sink

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/contracts"
)

// TestSinkMetrics checks that stored events are counted by table, each
// stored batch observed (size and insert time), a poison message counted,
// failed inserts counted, and the consumer's lag read: the events waiting
// before the sink runs, and none once they are stored.
func TestSinkMetrics(t *testing.T) {
	h := newHarness(t)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	h.cfg.Metrics = m
	for i := range 3 {
		h.publish(contracts.SubjectEventsVerification, verification(fmt.Sprintf("v%d", i)), fmt.Sprintf("v%d", i))
	}
	h.publish(contracts.SubjectEventsUsage, usage("u0"), "u0")
	h.publish(contracts.SubjectEventsUsage, []byte("{not json"), "poison")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.WatchLag(ctx, h.cons)
	require.Eventually(t, func() bool { return testutil.ToFloat64(m.lag) == 5 }, waitFor, tick, "lag read at once")

	h.exec("DROP TABLE usage") // the first inserts fail
	h.start()
	require.Eventually(t, func() bool { return testutil.ToFloat64(m.insertErrors) >= 1 }, waitFor, tick)
	h.exec(h.migrations[0].Statements[1])
	h.waitSettled(5)

	require.Equal(t, 3.0, testutil.ToFloat64(m.inserted.WithLabelValues("verifications")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.inserted.WithLabelValues("usage")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.poison))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var batches, flushes uint64
	var batchSum float64
	for _, mf := range mfs {
		switch mf.GetName() {
		case "ocr_analytics_batch_size_events":
			batches = mf.GetMetric()[0].GetHistogram().GetSampleCount()
			batchSum = mf.GetMetric()[0].GetHistogram().GetSampleSum()
		case "ocr_analytics_flush_duration_seconds":
			flushes = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	require.Positive(t, batches)
	require.Equal(t, batches, flushes, "one insert time per stored batch")
	require.Equal(t, 4.0, batchSum, "every stored event is in a batch once")
}

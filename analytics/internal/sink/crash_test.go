package sink

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/analytics/internal/events"
	"github.com/ocrstack/ocrstack/analytics/internal/rollup"
	"github.com/ocrstack/ocrstack/analytics/internal/streams"
	"github.com/ocrstack/ocrstack/contracts"
)

// testAckWait replaces the consumer's 60 s AckWait in the crash tests, so
// that a dead sink's batch is redelivered within the test's patience.
const testAckWait = 2 * time.Second

// TestSinkCrashBetweenInsertAndAck checks that a sink that dies after
// ClickHouse accepted a batch and before it acknowledged it (the test hook
// crashAfterInsert) double counts nothing: the batch is redelivered to the
// sink that takes over and inserted a second time, so the raw tables do
// hold copies (the test asserts it, or it would prove nothing), yet every
// event counts once when read with FINAL, and once in every rollup level,
// and all are acknowledged. Each sink has its own rollup refresher, as each
// process would; the crashed one's is never flushed.
func TestSinkCrashBetweenInsertAndAck(t *testing.T) {
	h := newHarness(t)
	h.shortenAckWait()
	h.stopMerges()
	h.fixedBatches()
	ids := eventIDs("crash", 1000)
	require.NoError(t, h.publishAsync(ids))

	var batches atomic.Int32
	store := &countingStore{Inserter: h.cfg.Store}
	crashedCfg := h.cfg
	crashedCfg.Store = rollup.New(rollup.Config{Conn: h.conn, Logger: h.cfg.Logger}).Track(store)
	crashed := h.startSink(crashedCfg, func() bool { return batches.Add(1) == 3 })
	require.ErrorIs(t, waitErr(t, crashed), errCrashed)
	require.Positive(t, h.info().NumAckPending, "the crashed sink's batch is stored but not acknowledged")

	rollups := rollup.New(rollup.Config{Conn: h.conn, Logger: h.cfg.Logger})
	h.cfg.Store = rollups.Track(store)
	h.start()
	h.waitTally(uint64(len(ids)))
	h.waitSettledWithin(uint64(len(ids)), outageWait)
	require.NoError(t, rollups.Flush(context.Background()))
	for _, level := range []string{"minute", "hour", "day", "month"} {
		require.Equal(t, uint64(len(ids)/2), h.count("SELECT sum(verifications) FROM verifications_per_"+level+" FINAL"),
			"verifications per %s", level)
		require.Equal(t, uint64(len(ids)/2), h.count("SELECT sum(jobs) FROM usage_per_"+level+" FINAL"),
			"jobs per %s", level)
	}

	got := h.tally()
	require.Equal(t, uint64(len(ids)), got.final, "FINAL counts each event once")
	require.Zero(t, got.finalDuplicates)
	require.GreaterOrEqual(t, store.events.Load(), int64(len(ids)+h.cfg.BatchSize), "the crashed batch was inserted twice")
	require.GreaterOrEqual(t, got.raw-got.distinct, uint64(h.cfg.BatchSize), "the raw tables hold its copies")
	t.Logf("crash between insert and ack: published %d, stored distinct %d, raw rows %d, rows by FINAL %d, duplicates after FINAL %d",
		len(ids), got.distinct, got.raw, got.final, got.finalDuplicates)
}

// TestSinkReplicas checks that two sinks on the same durable consumer, each
// with its own NATS connection (two analytics processes), share the events
// and count none twice, also when one of them dies between an insert and
// its acknowledgement while the other carries on: every published event is
// stored, each counts once with FINAL, and both replicas did store some.
func TestSinkReplicas(t *testing.T) {
	cases := []struct {
		name string
		// crashAt is the stored batch after which replica a dies; 0 never.
		crashAt       int32
		wantRawCopies bool
	}{
		{name: "both healthy"},
		{name: "one dies between insert and ack", crashAt: 3, wantRawCopies: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.crashAt > 0 {
				// Only a dead replica's batch must come back soon; healthy
				// replicas keep the 60 s AckWait, so a slow insert on a
				// busy machine is not redelivered.
				h.shortenAckWait()
			}
			h.stopMerges()
			h.fixedBatches()
			ids := eventIDs("replica", 4000)

			var aBatches atomic.Int32
			aStore, bStore := &countingStore{Inserter: h.cfg.Store}, &countingStore{Inserter: h.cfg.Store}
			aCfg, bCfg := h.cfg, h.cfg
			aCfg.Store, aCfg.Consumer = aStore, h.consumerOnNewConn()
			bCfg.Store, bCfg.Consumer = bStore, h.consumerOnNewConn()
			var crash func() bool
			if tc.crashAt > 0 {
				crash = func() bool { return aBatches.Add(1) == tc.crashAt }
			}
			aDone := h.startSink(aCfg, crash)
			h.startSink(bCfg, nil)

			require.NoError(t, h.publishAsync(ids))
			if tc.crashAt > 0 {
				require.ErrorIs(t, waitErr(t, aDone), errCrashed)
			}
			h.waitTally(uint64(len(ids)))
			h.waitSettledWithin(uint64(len(ids)), outageWait)

			got := h.tally()
			require.Equal(t, uint64(len(ids)), got.final, "FINAL counts each event once")
			require.Zero(t, got.finalDuplicates)
			require.Positive(t, aStore.events.Load(), "replica a stored events")
			require.Positive(t, bStore.events.Load(), "replica b stored events")
			if tc.wantRawCopies {
				// Its last batch may be short of BatchSize: the sinks start
				// before the events are published, and a batch is also
				// stored when FlushInterval passes.
				crashed := aStore.last.Load()
				require.Positive(t, crashed)
				require.GreaterOrEqual(t, got.raw-got.distinct, uint64(crashed), "the dead replica's last batch was stored twice")
			} else {
				// Copies may still come from an insert retried after a
				// failed write (the sink logs it); none from redelivery.
				info, err := h.cons.Info(t.Context())
				require.NoError(t, err)
				require.Zero(t, info.NumRedelivered, "no redelivery")
			}
			t.Logf("%s: published %d, stored by a %d, by b %d; distinct %d, raw rows %d, rows by FINAL %d, duplicates after FINAL %d",
				tc.name, len(ids), aStore.events.Load(), bStore.events.Load(), got.distinct, got.raw, got.final, got.finalDuplicates)
		})
	}
}

// countingStore passes batches to the real store and counts the events of
// those it stored.
type countingStore struct {
	Inserter
	events atomic.Int64
	// last is the size of the last batch stored.
	last atomic.Int64
}

func (c *countingStore) Insert(ctx context.Context, b *events.Batch) error {
	err := c.Inserter.Insert(ctx, b)
	if err == nil {
		c.events.Add(int64(b.Len()))
		c.last.Store(int64(b.Len()))
	}
	return err
}

// stopMerges stops background merges of the raw tables, which would
// otherwise collapse copies of an event at any moment: the raw row counts
// then show every copy inserted, and only FINAL collapses them.
func (h *harness) stopMerges() {
	h.t.Helper()
	h.exec("SYSTEM STOP MERGES verifications")
	h.exec("SYSTEM STOP MERGES usage")
}

// fixedBatches stops batches from growing beyond BatchSize while the one
// before them is inserted, so that the batch the crash hook counts to
// exists and holds BatchSize events.
func (h *harness) fixedBatches() { h.cfg.MaxBatchSize = h.cfg.BatchSize }

// shortenAckWait sets the consumer's AckWait to testAckWait.
func (h *harness) shortenAckWait() {
	h.t.Helper()
	cfg := streams.EventsConsumerConfig()
	cfg.AckWait = testAckWait
	cons, err := h.js.CreateOrUpdateConsumer(context.Background(), contracts.EventsStream, cfg)
	require.NoError(h.t, err)
	h.cons, h.cfg.Consumer = cons, cons
}

// consumerOnNewConn binds the events consumer through a NATS connection of
// its own, as a second analytics process would.
func (h *harness) consumerOnNewConn() jetstream.Consumer {
	h.t.Helper()
	nc, err := nats.Connect(h.js.Conn().ConnectedUrl())
	require.NoError(h.t, err)
	h.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(h.t, err)
	cons, err := js.Consumer(context.Background(), contracts.EventsStream, contracts.EventsConsumer)
	require.NoError(h.t, err)
	return cons
}

// startSink runs a Sink with cfg and the crash hook until the test ends;
// Run's result arrives on the returned channel.
func (h *harness) startSink(cfg Config, crash func() bool) <-chan error {
	s := New(cfg)
	s.crashAfterInsert = crash
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	result := make(chan error, 1)
	stopped := make(chan struct{})
	go func() {
		err := <-done
		result <- err
		close(stopped)
	}()
	h.t.Cleanup(func() {
		cancel()
		<-stopped
	})
	return result
}

func waitErr(t *testing.T, c <-chan error) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(outageWait):
		t.Fatal("sink did not stop")
		return nil
	}
}

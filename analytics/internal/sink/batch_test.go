package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/analytics/internal/events"
	"github.com/ocrstack/ocrstack/analytics/internal/rollup"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops/emit"
)

// publishBatch publishes lines as one batch message (contracts'
// event-batch framing, count given by JoinEventBatch unless count is set)
// under Nats-Msg-Id msgID.
func (h *harness) publishBatch(subject string, lines [][]byte, count, msgID string) {
	h.t.Helper()
	body, n := contracts.JoinEventBatch(lines)
	if count == "" {
		count = n
	}
	msg := nats.NewMsg(subject)
	msg.Data = body
	msg.Header.Set(contracts.HeaderEventBatch, count)
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	_, err := h.js.PublishMsg(context.Background(), msg)
	require.NoError(h.t, err)
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestSinkBatchBadLine checks how a batch message is judged: in a
// well-framed batch a bad event is logged and counted as poison on its
// own (at most 1 KiB of it logged) while the others are stored and the
// message acknowledged; a batch whose framing is bad, and a well-framed
// batch without one good event, are terminated whole. Nothing is
// redelivered, and the good event behind them is stored.
func TestSinkBatchBadLine(t *testing.T) {
	h := newHarness(t)
	reg := prometheus.NewRegistry()
	h.cfg.Metrics = NewMetrics(reg)
	h.start()

	big := []byte(`{"eventId":"` + strings.Repeat("x", 4000) + `"`)
	h.publishBatch(contracts.SubjectEventsVerification, [][]byte{
		marshal(t, verification("b1")), []byte(`{"eventId":`), marshal(t, verification("b2")), big, marshal(t, verification("b3")),
	}, "", "mixed")
	h.publishBatch(contracts.SubjectEventsUsage, [][]byte{marshal(t, usage("f1")), marshal(t, usage("f2"))}, "3", "framing")
	h.publishBatch(contracts.SubjectEventsUsage, [][]byte{[]byte(`{"eventId":"x"}`), []byte(`[]`)}, "", "all-bad")
	h.publish(contracts.SubjectEventsVerification, verification("after"), "after")

	h.waitSettled(4)
	require.Zero(t, h.info().NumRedelivered)
	require.Equal(t, uint64(4), h.count("SELECT count() FROM verifications FINAL"))
	require.Equal(t, uint64(4), h.count("SELECT count() FROM verifications FINAL WHERE event_id IN ('b1', 'b2', 'b3', 'after')"))
	require.Zero(t, h.count("SELECT count() FROM usage"), "nothing of a badly framed batch is stored")
	require.Equal(t, 5.0, testutil.ToFloat64(h.cfg.Metrics.poison), "two bad lines, one bad frame, two lines of an all-bad batch")
	require.Equal(t, 4.0, testutil.ToFloat64(h.cfg.Metrics.inserted.WithLabelValues("verifications")))

	lines := h.logs.Lines(`"msg":"poison event dropped from batch"`)
	require.Len(t, lines, 4)
	for _, l := range lines {
		require.Contains(t, l, `"level":"ERROR"`)
		require.Contains(t, l, `"batch_events"`)
		require.Less(t, len(l), 1024+512, "log line carries at most 1 KiB of body")
	}
	require.Len(t, h.logs.Lines(`"msg":"poison event dropped from batch"`, `"line":2`, "malformed json"), 2,
		"line 2 of the mixed batch and of the all-bad one")
	require.Len(t, h.logs.Lines(`"msg":"poison event dropped from batch"`, `"line":4`, `"body_truncated":true`), 1)
	require.Len(t, h.logs.Lines(`"msg":"poison message terminated"`, "malformed batch"), 1)
}

// TestSinkBatchDuplicate checks that one event arriving in two different
// batch messages (as when a producer retries a batch after the stream's
// duplicate window, under a new Nats-Msg-Id, or two batches overlap) is
// inserted twice, and the raw tables do hold both copies, yet counts once
// with FINAL and once in every rollup level.
func TestSinkBatchDuplicate(t *testing.T) {
	h := newHarness(t)
	h.stopMerges()
	h.cfg.BatchSize = 1 // each message in an insert of its own
	h.cfg.MaxBatchSize = 1
	rollups := rollup.New(rollup.Config{Conn: h.conn, Logger: h.cfg.Logger})
	h.cfg.Store = rollups.Track(h.cfg.Store)
	h.start()

	v := func(ids ...string) [][]byte {
		out := make([][]byte, len(ids))
		for i, id := range ids {
			out[i] = marshal(t, verification(id))
		}
		return out
	}
	h.publishBatch(contracts.SubjectEventsVerification, v("d1", "shared", "d2"), "", "batch-a")
	h.publishBatch(contracts.SubjectEventsVerification, v("d3", "shared"), "", "batch-b")
	h.publishBatch(contracts.SubjectEventsUsage, [][]byte{marshal(t, usage("u_shared")), marshal(t, usage("u1"))}, "", "batch-c")
	h.publishBatch(contracts.SubjectEventsUsage, [][]byte{marshal(t, usage("u_shared"))}, "", "batch-d")
	h.waitSettled(4)
	require.NoError(t, rollups.Flush(context.Background()))

	require.Equal(t, uint64(2), h.count("SELECT count() FROM verifications WHERE event_id = 'shared'"), "both copies inserted")
	require.Equal(t, uint64(2), h.count("SELECT count() FROM usage WHERE event_id = 'u_shared'"), "both copies inserted")
	require.Equal(t, uint64(4), h.count("SELECT count() FROM verifications FINAL"))
	require.Equal(t, uint64(2), h.count("SELECT count() FROM usage FINAL"))
	for _, level := range []string{"minute", "hour", "day", "month"} {
		require.Equal(t, uint64(4), h.count("SELECT sum(verifications) FROM verifications_per_"+level+" FINAL"), "verifications per %s", level)
		require.Equal(t, uint64(2), h.count("SELECT sum(jobs) FROM usage_per_"+level+" FINAL"), "jobs per %s", level)
	}
	require.Zero(t, h.info().NumRedelivered)
}

// TestSinkBatchSizeCountsEvents checks that batch sizes are counted in
// events, not messages: with a batch size of 500 and messages of 100
// events each, no stored batch holds more than twice 500 events (counting
// messages, the first fetch would take all 2,000), and every event is
// stored once.
func TestSinkBatchSizeCountsEvents(t *testing.T) {
	h := newHarness(t)
	h.cfg.BatchSize = 500
	h.fixedBatches()
	h.cfg.MaxMsgBytes = 64 << 10 // so that bytes, not the floor, bound a fetch
	store := &sizesStore{Inserter: h.cfg.Store}
	h.cfg.Store = store

	const msgs, per = 20, 100
	for m := range msgs {
		lines := make([][]byte, per)
		for i := range lines {
			lines[i] = marshal(t, verification(fmt.Sprintf("s%02d-%03d", m, i)))
		}
		h.publishBatch(contracts.SubjectEventsVerification, lines, "", fmt.Sprintf("m%d", m))
	}
	h.start()
	h.waitSettled(msgs)
	require.Equal(t, uint64(msgs*per), h.count("SELECT count() FROM verifications FINAL"))
	sizes := store.all()
	require.GreaterOrEqual(t, len(sizes), 3, "batch sizes %v", sizes)
	for _, n := range sizes {
		require.LessOrEqual(t, n, 2*h.cfg.BatchSize, "batch sizes %v", sizes)
	}
	t.Logf("%d events in %d messages stored in batches of %v", msgs*per, msgs, sizes)
}

// TestSinkStoresEmitterBatches checks the sink against the real producer
// side: events emitted faster than the stream acknowledges them go out
// through emit.Emitter as batches (the stream holds fewer messages than
// events, or this test would prove nothing), and every event is stored
// once.
func TestSinkStoresEmitterBatches(t *testing.T) {
	h := newHarness(t)
	h.start()
	e, err := emit.New(emit.Config{Conn: h.js.Conn()})
	require.NoError(t, err)
	t.Cleanup(e.Close)

	ids := eventIDs("emit", 4000)
	const emitters = 4
	errs := make(chan error, emitters)
	for w := range emitters {
		go func() {
			for i := w; i < len(ids); i += emitters {
				subject, data, err := eventFor(i, ids[i])
				if err == nil {
					hdr := nats.Header{}
					hdr.Set(jetstream.MsgIDHeader, ids[i])
					err = e.Emit(subject, data, hdr)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range emitters {
		require.NoError(t, <-errs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.Zero(t, e.Drain(ctx))

	stream, err := h.js.Stream(context.Background(), contracts.EventsStream)
	require.NoError(t, err)
	info, err := stream.Info(context.Background())
	require.NoError(t, err)
	require.Less(t, info.State.Msgs, uint64(len(ids)), "the emitter batched")
	h.waitTally(uint64(len(ids)))
	h.waitSettledWithin(info.State.Msgs, outageWait)
	got := h.tally()
	require.Equal(t, uint64(len(ids)), got.final)
	require.Equal(t, got.distinct, got.raw, "no redelivery, no copies")
	t.Logf("%d events emitted in %d messages", len(ids), info.State.Msgs)
}

// sizesStore passes batches to the real store and records the size of
// each one it stored.
type sizesStore struct {
	Inserter
	mu    sync.Mutex
	sizes []int
}

func (s *sizesStore) Insert(ctx context.Context, b *events.Batch) error {
	err := s.Inserter.Insert(ctx, b)
	if err == nil {
		s.mu.Lock()
		s.sizes = append(s.sizes, b.Len())
		s.mu.Unlock()
	}
	return err
}

func (s *sizesStore) all() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.sizes...)
}

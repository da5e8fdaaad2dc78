package emit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops/natstest"
)

// connect connects to srv, reconnecting for ever.
func connect(t *testing.T, srv *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

func header(id string) nats.Header {
	h := nats.Header{}
	if id != "" {
		h.Set(jetstream.MsgIDHeader, id)
	}
	return h
}

// TestEmitterRetriesUntilStored checks the Emitter's guarantees without a
// stream to take the events at first: each event is kept and retried
// (counted) rather than dropped, past MaxPending events are dropped and
// counted, an event without a Nats-Msg-Id is refused, and once the stream
// exists every kept event is stored exactly once and Drain returns 0.
func TestEmitterRetriesUntilStored(t *testing.T) {
	nc := connect(t, natstest.StartAt(t, -1, t.TempDir()))
	reg := prometheus.NewRegistry()
	e, err := New(Config{Conn: nc, Registerer: reg, Namespace: "test", MaxPending: 3, AckTimeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(e.Close)

	require.ErrorIs(t, e.Emit("ev.a", []byte("x"), header("")), ErrNoMsgID)
	for i := range 5 {
		require.NoError(t, e.Emit("ev.a", fmt.Appendf(nil, "%d", i), header(fmt.Sprint("id", i))))
	}
	require.NoError(t, e.Emit("ev.a", []byte("0"), header("id0")), "a pending id again")
	require.Equal(t, 3, e.Pending())
	require.Equal(t, 2.0, testutil.ToFloat64(e.dropped))
	require.Eventually(t, func() bool { return testutil.ToFloat64(e.retries) >= 3 }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, 3, e.Pending(), "a failed event was forgotten")

	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EV", Subjects: []string{"ev.>"}, Duplicates: 2 * time.Minute})
	require.NoError(t, err)
	drainCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	require.Zero(t, e.Drain(drainCtx))
	stored := storedEvents(t, s, 3)
	require.Len(t, stored, 3)
	for id, n := range stored {
		require.Equal(t, 1, n, "copies of %s", id)
	}
	n, err := testutil.GatherAndCount(reg, "test_events_pending", "test_event_retries_total", "test_events_dropped_total")
	require.NoError(t, err)
	require.Equal(t, 3, n)
}

// TestEmitSurvivesNATSRestart emits events while the NATS server is shut
// down and started again (same port, same store) twice: every event is
// stored exactly once, whether its publish was in flight, made while NATS
// was down, or acknowledged before.
func TestEmitSurvivesNATSRestart(t *testing.T) {
	port := natstest.FreePort(t)
	dir := t.TempDir()
	srv := natstest.StartAt(t, port, dir)
	nc := connect(t, srv)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EV", Subjects: []string{"ev.>"}, Duplicates: 2 * time.Minute})
	require.NoError(t, err)
	e, err := New(Config{Conn: nc, AckTimeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(e.Close)

	const emitters, each = 4, 150
	var wg sync.WaitGroup
	for w := range emitters {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("id_%d_%d", w, i)
				require.NoError(t, e.Emit("ev.a", []byte(id), header(id)))
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	for range 2 {
		time.Sleep(200 * time.Millisecond)
		srv.Shutdown()
		srv.WaitForShutdown()
		time.Sleep(300 * time.Millisecond)
		srv = natstest.StartAt(t, port, dir)
	}
	wg.Wait()
	drainCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.Zero(t, e.Drain(drainCtx), "events never acknowledged")

	got := storedEvents(t, s, emitters*each)
	require.Equal(t, emitters*each, len(got), "events stored")
	for id, n := range got {
		require.Equal(t, 1, n, "copies of %s", id)
	}
}

// TestBackoff checks the retry schedule: doubling from 100 ms, capped at
// 5 s, never more than a quarter below.
func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {6, 3200 * time.Millisecond}, {7, 5 * time.Second}, {100, 5 * time.Second}} {
		for range 20 {
			got := backoff(tc.n)
			require.LessOrEqual(t, got, tc.want, "attempt %d", tc.n)
			require.GreaterOrEqual(t, got, tc.want*3/4, "attempt %d", tc.n)
		}
	}
}

// storedEvents reads stream s until it has seen want distinct events (or
// 20 s passed) and counts the copies of each, by body: a message is one
// event, or a batch of them (split by contracts.SplitEventBatch).
func storedEvents(t *testing.T, s jetstream.Stream, want int) map[string]int {
	t.Helper()
	got := map[string]int{}
	cons, err := s.OrderedConsumer(context.Background(), jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		batch, err := cons.FetchNoWait(500)
		require.NoError(t, err)
		n := 0
		for msg := range batch.Messages() {
			n++
			count := msg.Headers().Get(contracts.HeaderEventBatch)
			if count == "" {
				got[string(msg.Data())]++
				continue
			}
			lines, err := contracts.SplitEventBatch(count, msg.Data())
			require.NoError(t, err)
			for _, l := range lines {
				got[string(l)]++
			}
		}
		if n == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	return got
}

// startEV starts a server with stream EV (subjects ev.>, a 2-minute
// duplicate window) and an Emitter on it.
func startEV(t *testing.T) (*Emitter, jetstream.Stream) {
	t.Helper()
	nc := connect(t, natstest.StartAt(t, -1, t.TempDir()))
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	s, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "EV", Subjects: []string{"ev.>"}, Duplicates: 2 * time.Minute})
	require.NoError(t, err)
	e, err := New(Config{Conn: nc, Registerer: prometheus.NewRegistry(), Namespace: "test"})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	return e, s
}

// TestEmitBatchesUnderLoad: events emitted faster than acks return go out
// as batches (far fewer messages than events, none over the limits), each
// stored once; an event emitted alone, on a quiet emitter, goes out as
// itself, under its own id and without the batch header.
func TestEmitBatchesUnderLoad(t *testing.T) {
	e, s := startEV(t)
	ctx := context.Background()

	const emitters, each = 8, 2000
	var wg sync.WaitGroup
	for w := range emitters {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("id_%d_%d", w, i)
				subject := "ev.a"
				if i%2 == 1 {
					subject = "ev.b"
				}
				require.NoError(t, e.Emit(subject, []byte(id), header(id)))
			}
		})
	}
	wg.Wait()
	drainCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.Zero(t, e.Drain(drainCtx))
	got := storedEvents(t, s, emitters*each)
	require.Len(t, got, emitters*each)
	for id, n := range got {
		require.Equal(t, 1, n, "copies of %s", id)
	}
	info, err := s.Info(ctx)
	require.NoError(t, err)
	msgs := testutil.ToFloat64(e.messages)
	require.Equal(t, float64(info.State.Msgs), msgs, "messages counted")
	require.Less(t, msgs, float64(emitters*each)/10, "events were not batched")
	t.Logf("%d events in %d messages", emitters*each, info.State.Msgs)

	// Each batch holds one subject's events only.
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	batch, err := cons.Fetch(int(info.State.Msgs))
	require.NoError(t, err)
	for msg := range batch.Messages() {
		lines := [][]byte{msg.Data()}
		if c := msg.Headers().Get(contracts.HeaderEventBatch); c != "" {
			lines, err = contracts.SplitEventBatch(c, msg.Data())
			require.NoError(t, err)
			require.LessOrEqual(t, len(msg.Data()), contracts.MaxEventBatchBytes)
		}
		for _, l := range lines {
			var w, i int
			_, err := fmt.Sscanf(string(l), "id_%d_%d", &w, &i)
			require.NoError(t, err)
			require.Equal(t, map[bool]string{true: "ev.a", false: "ev.b"}[i%2 == 0], msg.Subject(), "event %s", l)
		}
	}

	// Quiet: one event alone is published as itself.
	require.NoError(t, e.Emit("ev.a", []byte("alone"), header("alone")))
	require.Zero(t, e.Drain(drainCtx))
	last, err := s.GetLastMsgForSubject(ctx, "ev.a")
	require.NoError(t, err)
	require.Equal(t, "alone", string(last.Data))
	require.Equal(t, "alone", last.Header.Get(jetstream.MsgIDHeader))
	require.Empty(t, last.Header.Get(contracts.HeaderEventBatch))
}

// TestEmitPublishesAtMostOncePerInterval: a steady producer whose events
// come slower than its acks (so no publish is awaiting when the next event
// arrives) still sends at most one message per minInterval, each a batch
// of what came meanwhile, and every event is stored once. Without the
// interval it would send about one message per event.
func TestEmitPublishesAtMostOncePerInterval(t *testing.T) {
	e, s := startEV(t)
	ctx := context.Background()

	const events = 400
	start := time.Now()
	for i := range events {
		id := fmt.Sprintf("steady_%d", i)
		require.NoError(t, e.Emit("ev.a", []byte(id), header(id)))
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	drainCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.Zero(t, e.Drain(drainCtx))
	got := storedEvents(t, s, events)
	require.Len(t, got, events)
	for id, n := range got {
		require.Equal(t, 1, n, "copies of %s", id)
	}
	msgs := testutil.ToFloat64(e.messages)
	// The last batch may leave up to minInterval after the last Emit.
	bound := float64((elapsed+minInterval)/minInterval) + 1
	require.LessOrEqual(t, msgs, bound, "%d events over %v", events, elapsed)
	t.Logf("%d events over %v in %.0f messages", events, elapsed, msgs)
}

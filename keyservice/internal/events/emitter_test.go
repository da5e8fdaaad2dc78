package events

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/keyservice/internal/natstest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

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
	_, nc := natstest.Start(t)
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
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(3), info.State.Msgs)
	n, err := testutil.GatherAndCount(reg, "test_events_pending", "test_event_retries_total", "test_events_dropped_total")
	require.NoError(t, err)
	require.Equal(t, 3, n)
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

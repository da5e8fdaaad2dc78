package notices

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops/emit"
	"github.com/ocrstack/ocrstack/ops/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoticesSurviveNATSRestart observes low-credit crossings, each twice
// (a retried request), while the NATS server is shut down and started
// again (same port, same store) twice, as `make chaos` does: every notice
// is stored in the events stream under one event id (a copy may be stored
// when the second observation's publish went in a batch after the first's
// settled: consumers count notices by event id).
func TestNoticesSurviveNATSRestart(t *testing.T) {
	port := natstest.FreePort(t)
	dir := t.TempDir()
	srv := natstest.StartAt(t, port, dir)
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: contracts.EventsStream, Subjects: []string{contracts.SubjectEventsAll}, Duplicates: contracts.EventsDuplicateWindow})
	require.NoError(t, err)
	e, err := emit.New(emit.Config{Conn: nc, AckTimeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	n := New(Config{Events: e, Threshold: threshold10, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})

	const observers, each = 4, 100
	var wg sync.WaitGroup
	for w := range observers {
		wg.Go(func() {
			for i := range each {
				v := verification(10)
				v.KeyID = fmt.Sprintf("key_%d_%d", w, i)
				n.Observe(v, 1, "req_"+v.KeyID)
				n.Observe(v, 1, "req_"+v.KeyID) // the same crossing again
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
	require.Zero(t, e.Drain(drainCtx), "notices never acknowledged")

	got := map[string]map[string]bool{} // key -> event ids
	cons, err := js.OrderedConsumer(ctx, contracts.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{contracts.SubjectEventsNotice}})
	require.NoError(t, err)
	assert.Eventually(t, func() bool {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			return false
		}
		for msg := range batch.Messages() {
			bodies, err := contracts.EventBodies(msg.Headers().Get(contracts.HeaderEventBatch), msg.Data())
			require.NoError(t, err)
			for _, b := range bodies {
				var ev contracts.NoticeEvent
				require.NoError(t, json.Unmarshal(b, &ev))
				if got[ev.KeyID] == nil {
					got[ev.KeyID] = map[string]bool{}
				}
				got[ev.KeyID][ev.EventID] = true
			}
		}
		return len(got) >= observers*each
	}, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, observers*each, len(got), "notices stored")
	for key, ids := range got {
		require.Len(t, ids, 1, "notice ids of %s", key)
	}
}

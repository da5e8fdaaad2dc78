package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
	"github.com/ocrstack/ocrstack/keyservice/internal/streams"
	"github.com/ocrstack/ocrstack/ops/emit"
	opsnatstest "github.com/ocrstack/ocrstack/ops/natstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEventsSurviveNATSRestart shuts the NATS server down and starts it
// again (same port, same store) while verifications run, as `make chaos`
// does: every verification keyservice decided has its event stored in the
// events stream, under one event id. Each verification is retried with its
// idempotency key until answered, so a retry replays rather than spends
// again, and emits the first decision's event again, under its id: a copy
// the stream keeps when either travelled in a batch, which analytics
// collapses by event id.
func TestEventsSurviveNATSRestart(t *testing.T) {
	port := opsnatstest.FreePort(t)
	dir := t.TempDir()
	srv := opsnatstest.StartAt(t, port, dir)
	defer func() { srv.Shutdown() }()

	connect := func() *nats.Conn {
		nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		return nc
	}
	nc := connect()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, streams.Ensure(ctx, js, contracts.EventsStreamSpec))
	st, err := store.Open(ctx, js)
	require.NoError(t, err)
	emitter, err := emit.New(emit.Config{Conn: nc, AckTimeout: 2 * time.Second})
	require.NoError(t, err)
	svc := New(Config{Store: st, Events: emitter, JS: js, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	m, err := svc.Register(nc)
	require.NoError(t, err)
	defer func() { _ = m.Stop() }()
	// The service's subscriptions reach the server before the first
	// request does ("no responders" otherwise).
	require.NoError(t, nc.Flush())

	client := connect()
	call := func(subject string, req, resp any) error {
		b, _ := json.Marshal(req)
		reply, err := client.Request(subject, b, 2*time.Second)
		if err != nil {
			return err
		}
		if code := reply.Header.Get("Nats-Service-Error-Code"); code != "" {
			return errors.New(code)
		}
		return json.Unmarshal(reply.Data, resp)
	}
	var created contracts.CreateKeyResponse
	require.NoError(t, call(contracts.SubjectKeysCreate, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 1_000_000}}, &created))

	const workers, each = 8, 40
	var wg sync.WaitGroup
	var answered sync.Map
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("req_%d_%d", w, i)
				for attempt := 0; ; attempt++ {
					var resp contracts.VerifyKeyResponse
					err := call(contracts.SubjectKeysVerify, contracts.VerifyKeyRequest{Key: created.Key, RequestID: id, IdempotencyKey: id}, &resp)
					if err == nil && resp.Code == contracts.VerifyValid {
						answered.Store(id, true)
						break
					}
					if attempt > 600 {
						t.Errorf("verify %s: never answered: %v", id, err)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	// Restart NATS twice while they run.
	for range 2 {
		time.Sleep(300 * time.Millisecond)
		srv.Shutdown()
		srv.WaitForShutdown()
		time.Sleep(500 * time.Millisecond)
		srv = opsnatstest.StartAt(t, port, dir)
	}
	wg.Wait()
	drainCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.Zero(t, emitter.Drain(drainCtx), "events never acknowledged")

	got := map[string]map[string]int{} // request id -> event id -> copies
	cons, err := js.OrderedConsumer(ctx, contracts.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{contracts.SubjectEventsVerification}})
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
				var ev contracts.VerificationEvent
				require.NoError(t, json.Unmarshal(b, &ev))
				if got[ev.RequestID] == nil {
					got[ev.RequestID] = map[string]int{}
				}
				got[ev.RequestID][ev.EventID]++
			}
		}
		return len(got) >= workers*each
	}, 20*time.Second, 50*time.Millisecond)
	require.Len(t, got, workers*each)
	copies := 0
	for id, evs := range got {
		require.Len(t, evs, 1, "event ids of %s", id)
		for _, n := range evs {
			copies += n - 1
		}
		_, ok := answered.Load(id)
		require.True(t, ok, "an event of a verification never answered: %s", id)
	}
	t.Logf("%d verifications, %d events stored twice (replays)", len(got), copies)
}

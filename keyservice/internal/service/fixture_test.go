package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/natstest"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
	"github.com/ocrstack/ocrstack/keyservice/internal/streams"
	"github.com/stretchr/testify/require"
)

// clock is a settable test clock.
type clock struct{ ms atomic.Int64 }

func (c *clock) Now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *clock) Advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }
func (c *clock) Set(t time.Time)         { c.ms.Store(t.UnixMilli()) }

type fixture struct {
	srv *server.Server
	// stores are the replicas' stores.
	stores []*store.Store
	nc     *nats.Conn
	js     jetstream.JetStream
	clock  *clock
	reqs   atomic.Int64
}

// start runs `replicas` keyservice instances on one embedded JetStream
// server, each with its own Store, sharing a clock set to 2026-11-22
// 12:00:30 UTC.
func start(t testing.TB, replicas int) *fixture {
	t.Helper()
	srv, nc := natstest.Start(t)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, streams.Ensure(ctx, js, contracts.EventsStreamSpec))
	clk := &clock{}
	clk.Set(time.Date(2026, 11, 22, 12, 0, 30, 0, time.UTC))
	f := &fixture{srv: srv, nc: nc, js: js, clock: clk}
	for range replicas {
		st, err := store.Open(ctx, js)
		require.NoError(t, err)
		svc := New(Config{Store: st, JS: js, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clk.Now})
		m, err := svc.Register(nc)
		require.NoError(t, err)
		t.Cleanup(func() { _ = m.Stop() })
		f.stores = append(f.stores, st)
	}
	return f
}

// call sends a request and decodes the reply, or returns the micro error code
// and description.
func (f *fixture) call(t testing.TB, subject string, req, resp any) (code, desc string) {
	t.Helper()
	b, err := json.Marshal(req)
	require.NoError(t, err)
	return f.callRaw(t, subject, b, resp)
}

// callRaw sends body as is; on an error reply it also checks the body is
// the contracts.Error the headers announce.
func (f *fixture) callRaw(t testing.TB, subject string, body []byte, resp any) (code, desc string) {
	t.Helper()
	msg, err := f.nc.Request(subject, body, 5*time.Second)
	require.NoError(t, err)
	if c := msg.Header.Get(micro.ErrorCodeHeader); c != "" {
		var e contracts.Error
		require.NoError(t, json.Unmarshal(msg.Data, &e))
		require.Equal(t, c, string(e.Code))
		return c, msg.Header.Get(micro.ErrorHeader)
	}
	if resp != nil {
		require.NoError(t, json.Unmarshal(msg.Data, resp))
	}
	return "", ""
}

// must calls subject and fails the test on an error reply.
func must[T any](t testing.TB, f *fixture, subject string, req any) T {
	t.Helper()
	var resp T
	code, desc := f.call(t, subject, req, &resp)
	require.Empty(t, code, desc)
	return resp
}

func (f *fixture) create(t testing.TB, req contracts.CreateKeyRequest) contracts.CreateKeyResponse {
	t.Helper()
	return must[contracts.CreateKeyResponse](t, f, contracts.SubjectKeysCreate, req)
}

// verify verifies key with a fresh request id, so it is never a replay.
func (f *fixture) verify(t testing.TB, key string) contracts.VerifyKeyResponse {
	t.Helper()
	return f.verifyReq(t, contracts.VerifyKeyRequest{Key: key})
}

// verifyReq sends r, with a fresh request id when it has none.
func (f *fixture) verifyReq(t testing.TB, r contracts.VerifyKeyRequest) contracts.VerifyKeyResponse {
	t.Helper()
	if r.RequestID == "" {
		r.RequestID = fmt.Sprintf("req_t%d", f.reqs.Add(1))
	}
	return must[contracts.VerifyKeyResponse](t, f, contracts.SubjectKeysVerify, r)
}

// lastSeqs returns the last sequence of both buckets' streams: equal before
// and after a request means it wrote nothing.
func (f *fixture) lastSeqs(t testing.TB) [2]uint64 {
	t.Helper()
	// A verification copies its idempotency record to an entry of its
	// own after it answers: let those land first.
	for _, st := range f.stores {
		st.WaitCopies()
	}
	var out [2]uint64
	for i, b := range []string{contracts.KeysBucket, contracts.KeyStateBucket} {
		s, err := f.js.Stream(context.Background(), "KV_"+b)
		require.NoError(t, err)
		out[i] = s.CachedInfo().State.LastSeq
	}
	return out
}

// events reads every verification event published so far, waiting until
// at least n arrived.
func (f *fixture) events(t testing.TB, n int) []contracts.VerificationEvent {
	t.Helper()
	ctx := context.Background()
	cons, err := f.js.OrderedConsumer(ctx, contracts.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{contracts.SubjectEventsVerification}})
	require.NoError(t, err)
	var got []contracts.VerificationEvent
	require.Eventually(t, func() bool {
		batch, err := cons.FetchNoWait(100)
		require.NoError(t, err)
		for m := range batch.Messages() {
			count := m.Headers().Get(contracts.HeaderEventBatch)
			bodies, err := contracts.EventBodies(count, m.Data())
			require.NoError(t, err)
			for _, b := range bodies {
				var ev contracts.VerificationEvent
				require.NoError(t, json.Unmarshal(b, &ev))
				if count == "" { // alone, an event is published under its own id
					require.Equal(t, ev.EventID, m.Headers().Get(contracts.HeaderMsgID))
				}
				got = append(got, ev)
			}
		}
		return len(got) >= n
	}, 5*time.Second, 20*time.Millisecond)
	return got
}

func ptr[T any](v T) *T { return &v }

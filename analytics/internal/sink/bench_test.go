package sink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ocrstack/ocrstack/analytics/internal/chstore"
	"github.com/ocrstack/ocrstack/analytics/internal/migrate"
	"github.com/ocrstack/ocrstack/analytics/internal/streams"
	"github.com/ocrstack/ocrstack/analytics/internal/testenv"
	"github.com/ocrstack/ocrstack/contracts"
)

// benchEvents is the backlog each benchmark iteration drains.
const benchEvents = 20_000

// BenchmarkSinkDrain measures the insert path end to end on a small scale:
// a backlog of benchEvents events on an embedded JetStream is drained by a
// Sink into the real ClickHouse (OCR_TEST_CLICKHOUSE_ADDR), from the first
// fetch until the last acknowledgement, with the events published one per
// message (perMsg=1) and in batch messages of 100 (perMsg=100, what a busy
// producer sends). It reports events/s; `make analytics-load` measures the
// same at a million events with the service binary.
func BenchmarkSinkDrain(b *testing.B) {
	for _, perMsg := range []int{1, 100} {
		for _, batch := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("perMsg=%d/batch=%d", perMsg, batch), func(b *testing.B) {
				benchmarkDrain(b, batch, perMsg)
			})
		}
	}
}

func benchmarkDrain(b *testing.B, batch, perMsg int) {
	_, js, _ := testenv.NATS(b)
	addr, db := testenv.ClickHouse(b)
	ctx := context.Background()
	conn, err := chstore.Open(ctx, chstore.Options{Addr: addr, Database: db, Username: "default"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	migrations, err := migrate.Load(os.DirFS("../../migrations"))
	if err != nil {
		b.Fatal(err)
	}
	log, _ := testenv.Logger(b)
	if _, err := migrate.New(conn, log, nil).Apply(ctx, migrations); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var drained time.Duration
	round := 0
	stop := func() {}
	for b.Loop() {
		b.StopTimer()
		stop() // the previous round's sink, outside the timing
		round++
		cons := preload(b, js, fmt.Sprintf("bench%d", round), perMsg)
		s := New(Config{Consumer: cons, Store: chstore.NewWriter(conn), Logger: log,
			BatchSize: batch, FlushInterval: 50 * time.Millisecond})
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		stop = func() {
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		go func() { done <- s.Run(runCtx) }()
		for {
			info, err := cons.Info(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if info.NumPending == 0 && info.NumAckPending == 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		drained += time.Since(start)
	}
	stop()
	b.ReportMetric(float64(round*benchEvents)/drained.Seconds(), "events/s")
}

// preload puts benchEvents events on a fresh events stream, perMsg to a
// message (batch messages when perMsg > 1, verifications and usage events
// in turn), and returns the analytics consumer, which has read none of
// them.
func preload(b *testing.B, js jetstream.JetStream, prefix string, perMsg int) jetstream.Consumer {
	ctx := context.Background()
	if err := js.DeleteStream(ctx, contracts.EventsStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		b.Fatal(err)
	}
	cons, err := streams.SetupEvents(ctx, js)
	if err != nil {
		b.Fatal(err)
	}
	ids := eventIDs(prefix, benchEvents)
	if perMsg == 1 {
		for i, id := range ids {
			subject, data, err := eventFor(i, id)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := js.PublishAsync(subject, data, jetstream.WithMsgID(id)); err != nil {
				b.Fatal(err)
			}
		}
		<-js.PublishAsyncComplete()
		return cons
	}
	// Even events are verifications, odd ones usage: a batch carries one
	// subject, so each chunk of 2*perMsg ids makes two messages.
	for from := 0; from < len(ids); from += 2 * perMsg {
		lines := map[string][][]byte{}
		for i := from; i < min(from+2*perMsg, len(ids)); i++ {
			subject, data, err := eventFor(i, ids[i])
			if err != nil {
				b.Fatal(err)
			}
			lines[subject] = append(lines[subject], data)
		}
		for subject, l := range lines {
			body, count := contracts.JoinEventBatch(l)
			msg := nats.NewMsg(subject)
			msg.Data = body
			msg.Header.Set(contracts.HeaderEventBatch, count)
			msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s-%s-%d", prefix, subject, from))
			if _, err := js.PublishMsgAsync(msg); err != nil {
				b.Fatal(err)
			}
		}
	}
	<-js.PublishAsyncComplete()
	return cons
}

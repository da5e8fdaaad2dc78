package sink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

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
// fetch until the last acknowledgement. It reports events/s; `make
// analytics-load` measures the same at a million events with the service
// binary.
func BenchmarkSinkDrain(b *testing.B) {
	for _, batch := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			benchmarkDrain(b, batch)
		})
	}
}

func benchmarkDrain(b *testing.B, batch int) {
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
		cons := preload(b, js, fmt.Sprintf("bench%d", round))
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

// preload puts benchEvents events on a fresh events stream and returns the
// analytics consumer, which has read none of them.
func preload(b *testing.B, js jetstream.JetStream, prefix string) jetstream.Consumer {
	ctx := context.Background()
	if err := js.DeleteStream(ctx, contracts.EventsStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		b.Fatal(err)
	}
	cons, err := streams.SetupEvents(ctx, js)
	if err != nil {
		b.Fatal(err)
	}
	for i, id := range eventIDs(prefix, benchEvents) {
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

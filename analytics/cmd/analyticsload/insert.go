package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ocrstack/ocrstack/analytics/internal/chstore"
	"github.com/ocrstack/ocrstack/analytics/internal/events"
	"github.com/ocrstack/ocrstack/analytics/internal/streams"
	"github.com/ocrstack/ocrstack/contracts"
)

// drainTimeout bounds the wait for ClickHouse to hold every event.
const drainTimeout = 15 * time.Minute

// baselineBigBatch is the second baseline's batch size: ClickHouse's own
// ceiling on this machine, beyond what the sink may batch.
const baselineBigBatch = 100_000

type insertResult struct {
	events        int
	messages      uint64 // messages the stream holds them in
	publish       time.Duration
	bytesPerEvent float64
	drain         time.Duration
	stored        tally
	baselines     []baseline
}

type baseline struct {
	batch int
	took  time.Duration
}

// insertPhase publishes the events with analytics stopped, then times
// analytics storing them all, then inserts the same rows without NATS.
func insertPhase(ctx context.Context, e *env, runID int64) (*insertResult, error) {
	o := e.o
	g := gen{prefix: fmt.Sprintf("load%d", runID), base: time.Now().UnixMilli()}
	r := &insertResult{events: o.events}
	if err := e.freshStream(ctx); err != nil {
		return nil, err
	}
	if _, err := streams.SetupEvents(ctx, e.js); err != nil {
		return nil, err
	}
	var err error
	if r.publish, err = e.publish(ctx, g, 0, o.events); err != nil {
		return nil, err
	}
	info, err := e.streamInfo(ctx)
	if err != nil {
		return nil, err
	}
	r.messages = info.State.Msgs
	r.bytesPerEvent = float64(info.State.Bytes) / float64(o.events)

	db := fmt.Sprintf("load_%d_insert", runID)
	a, ready, err := e.startAnalytics(ctx, db)
	if err != nil {
		return nil, err
	}
	defer a.stop()
	conn, err := e.openDB(ctx, db, false)
	if err != nil {
		return nil, err
	}
	defer e.dropDB(ctx, conn, db)
	done, err := waitRows(ctx, conn, uint64(o.events), 50*time.Millisecond, drainTimeout)
	if err != nil {
		return nil, fmt.Errorf("%w; see %s", err, a.log)
	}
	r.drain = done.Sub(ready)
	if r.stored, err = countStored(ctx, conn); err != nil {
		return nil, err
	}
	a.stop()

	for _, batch := range []int{o.batchSize, baselineBigBatch} {
		took, err := e.baselineInsert(ctx, g, fmt.Sprintf("load_%d_raw%d", runID, batch), batch)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		r.baselines = append(r.baselines, baseline{batch: batch, took: took})
	}
	return r, nil
}

// streamInfo reads the events stream's state.
func (e *env) streamInfo(ctx context.Context) (*jetstream.StreamInfo, error) {
	stream, err := e.js.Stream(ctx, contracts.EventsStream)
	if err != nil {
		return nil, err
	}
	return stream.Info(ctx)
}

// streamMsgs is the messages the events stream holds.
func (e *env) streamMsgs(ctx context.Context) (uint64, error) {
	info, err := e.streamInfo(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// freshStream deletes the events stream, so a phase starts from nothing.
func (e *env) freshStream(ctx context.Context) error {
	err := e.js.DeleteStream(ctx, contracts.EventsStream)
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete stream: %w", err)
	}
	return nil
}

// baselineInsert inserts the events of g, batch at a time, with the same
// clickhouse-go batch insert the sink uses, into a fresh migrated database,
// and returns the time spent inserting (building the batches excluded).
func (e *env) baselineInsert(ctx context.Context, g gen, db string, batch int) (time.Duration, error) {
	conn, err := e.openDB(ctx, db, true)
	if err != nil {
		return 0, err
	}
	defer e.dropDB(ctx, conn, db)
	w := chstore.NewWriter(conn)
	var b events.Batch
	var took time.Duration
	for from := 0; from < e.o.events; from += batch {
		b.Reset()
		for i := from; i < min(from+batch, e.o.events); i++ {
			b.Add(g.event(i))
		}
		start := time.Now()
		if err := w.Insert(ctx, &b); err != nil {
			return 0, err
		}
		took += time.Since(start)
	}
	n, err := countRows(ctx, conn)
	if err != nil {
		return 0, err
	}
	if n != uint64(e.o.events) {
		return 0, fmt.Errorf("%s holds %d rows, want %d", db, n, e.o.events)
	}
	return took, nil
}

// tally is what the raw tables hold, summed over verifications and usage.
type tally struct {
	raw, distinct, final uint64
}

func countStored(ctx context.Context, conn driver.Conn) (tally, error) {
	var t tally
	for _, table := range []string{"verifications", "usage"} {
		var raw, distinct, final uint64
		q := "SELECT (SELECT count() FROM " + table + "), (SELECT uniqExact(event_id) FROM " + table + "), " +
			"(SELECT count() FROM " + table + " FINAL)"
		if err := conn.QueryRow(ctx, q).Scan(&raw, &distinct, &final); err != nil {
			return t, err
		}
		t.raw, t.distinct, t.final = t.raw+raw, t.distinct+distinct, t.final+final
	}
	return t, nil
}

func countRows(ctx context.Context, conn driver.Conn) (uint64, error) {
	var n uint64
	err := conn.QueryRow(ctx, "SELECT (SELECT count() FROM verifications) + (SELECT count() FROM usage)").Scan(&n)
	return n, err
}

// waitRows polls until the raw tables hold at least n rows, and returns the
// time of the poll that saw them.
func waitRows(ctx context.Context, conn driver.Conn, n uint64, every, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	var got uint64
	for {
		now := time.Now()
		c, err := countRows(ctx, conn)
		if err == nil {
			got = c
			if c >= n {
				return now, nil
			}
		}
		if now.After(deadline) {
			return time.Time{}, fmt.Errorf("ClickHouse holds %d of %d events after %s", got, n, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(every):
		}
	}
}

func (e *env) clickhouseVersion(ctx context.Context) (string, error) {
	conn, err := e.openDB(ctx, "default", false)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	var v string
	err = conn.QueryRow(ctx, "SELECT version()").Scan(&v)
	return v, err
}

// dropDB drops a load database (unless -keep) and closes conn.
func (e *env) dropDB(ctx context.Context, conn driver.Conn, db string) {
	if !e.o.keep {
		_ = conn.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+db)
	}
	_ = conn.Close()
}

func (r *insertResult) print(w io.Writer, o options) {
	fmt.Fprintf(w, "insert: %d events (verifications and usage in turn), backlog published through ops/emit with analytics stopped\n", r.events)
	fmt.Fprintf(w, "stream messages: %d (%.1f events per message)\n", r.messages, float64(r.events)/float64(max(r.messages, 1)))
	tw := newTable(w)
	msgRate := func(d time.Duration) string { return group(int64(float64(r.messages) / d.Seconds())) }
	fmt.Fprintln(tw, "step\tevents\tseconds\tevents/s\tmessages/s\t")
	fmt.Fprintf(tw, "publish to JetStream (emit)\t%d\t%.2f\t%s\t%s\t\n", r.events, r.publish.Seconds(), rate(r.events, r.publish), msgRate(r.publish))
	fmt.Fprintf(tw, "analytics: JetStream -> ClickHouse\t%d\t%.2f\t%s\t%s\t\n", r.events, r.drain.Seconds(), rate(r.events, r.drain), msgRate(r.drain))
	for _, b := range r.baselines {
		fmt.Fprintf(tw, "clickhouse-go only, %d-row batches\t%d\t%.2f\t%s\t-\t\n", b.batch, r.events, b.took.Seconds(), rate(r.events, b.took))
	}
	_ = tw.Flush()
	sink := float64(r.events) / r.drain.Seconds()
	fmt.Fprintf(w, "analytics / clickhouse-go at the same batch size: %.2f\n", sink/(float64(r.events)/r.baselines[0].took.Seconds()))
	fmt.Fprintf(w, "target >= %s events/s: %s\n", group(targetInsertRate), verdict(sink >= targetInsertRate))
	fmt.Fprintf(w, "stored: raw rows %d, distinct events %d, rows by FINAL %d (published %d)\n",
		r.stored.raw, r.stored.distinct, r.stored.final, r.events)
	fmt.Fprintf(w, "stream bytes per stored event: %.0f\n", r.bytesPerEvent)
	_ = o
}

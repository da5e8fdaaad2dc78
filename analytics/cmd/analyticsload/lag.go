package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"
)

// lagTick is the publisher's period: -rate/100 events every 10 ms.
const lagTick = 10 * time.Millisecond

type lagResult struct {
	events    int
	messages  uint64        // messages the stream holds them in
	published time.Duration // how long publishing took
	lags      []time.Duration
	stored    tally
}

// poll is one look at ClickHouse: at time at, it held count events.
type poll struct {
	at    time.Time
	count uint64
}

// lagPhase runs analytics on an empty stream, publishes at a steady rate,
// and works out each event's lag from polls of ClickHouse's row count.
func lagPhase(ctx context.Context, e *env, runID int64) (*lagResult, error) {
	o := e.o
	total := int(o.lagFor/lagTick) * (o.rate / 100)
	g := gen{prefix: fmt.Sprintf("lag%d", runID), base: time.Now().UnixMilli()}
	if err := e.freshStream(ctx); err != nil {
		return nil, err
	}
	db := fmt.Sprintf("load_%d_lag", runID)
	a, _, err := e.startAnalytics(ctx, db)
	if err != nil {
		return nil, err
	}
	defer a.stop()
	conn, err := e.openDB(ctx, db, false)
	if err != nil {
		return nil, err
	}
	defer e.dropDB(ctx, conn, db)

	polls := make(chan []poll, 1)
	pollCtx, stopPolls := context.WithCancel(ctx)
	defer stopPolls()
	go func() {
		var ps []poll
		t := time.NewTicker(o.poll)
		defer t.Stop()
		for {
			now := time.Now()
			if c, err := countRows(pollCtx, conn); err == nil {
				ps = append(ps, poll{at: now, count: c})
				if c >= uint64(total) {
					break
				}
			}
			select {
			case <-pollCtx.Done():
				polls <- ps
				return
			case <-t.C:
			}
		}
		polls <- ps
	}()

	published := make([]time.Time, total)
	perTick := o.rate / 100
	start := time.Now()
	next := start
	for i := 0; i < total; {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		for range perTick {
			published[i] = time.Now()
			if err := e.publishOne(g, i); err != nil {
				return nil, err
			}
			i++
		}
		next = next.Add(lagTick)
		time.Sleep(time.Until(next))
	}
	r := &lagResult{events: total, published: time.Since(start)}
	if err := e.publishComplete(ctx); err != nil {
		return nil, err
	}
	done, err := waitRows(ctx, conn, uint64(total), o.poll, drainTimeout)
	if err != nil {
		return nil, fmt.Errorf("%w; see %s", err, a.log)
	}
	stopPolls()
	// On a busy machine the poller may not have polled since the last rows
	// landed; the poll that saw them counts as one of its own.
	r.lags = lags(published, append(<-polls, poll{at: done, count: uint64(total)}))
	if len(r.lags) != total {
		return nil, fmt.Errorf("polls saw %d of %d events", len(r.lags), total)
	}
	if r.stored, err = countStored(ctx, conn); err != nil {
		return nil, err
	}
	if r.messages, err = e.streamMsgs(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// lags gives each event the first poll that counted it. The sink stores
// events in stream order, so a count of c means events 0 to c-1 are
// queryable. (Not exactly: within one insert verifications go in just
// before usage events, and the emitter batches each subject apart, so an
// event may be counted a few milliseconds early or late.)
func lags(published []time.Time, polls []poll) []time.Duration {
	var out []time.Duration
	k := 0
	for _, p := range polls {
		for ; k < len(published) && uint64(k) < p.count; k++ {
			out = append(out, p.at.Sub(published[k]))
		}
	}
	return out
}

func (r *lagResult) print(w io.Writer, o options) {
	sorted := slices.Clone(r.lags)
	slices.Sort(sorted)
	q := func(p float64) time.Duration { return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))] }
	fmt.Fprintf(w, "lag: %d events at %s events/s for %s (achieved %s/s), ClickHouse polled every %s\n",
		r.events, group(int64(o.rate)), o.lagFor, rate(r.events, r.published), o.poll)
	fmt.Fprintf(w, "stream messages: %d (%.1f events per message)\n", r.messages, float64(r.events)/float64(max(r.messages, 1)))
	tw := newTable(w)
	fmt.Fprintln(tw, "publish -> queryable\tp50\tp90\tp99\tmax\t")
	ms := func(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
	fmt.Fprintf(tw, "lag\t%s\t%s\t%s\t%s\t\n", ms(q(0.50)), ms(q(0.90)), ms(q(0.99)), ms(sorted[len(sorted)-1]))
	_ = tw.Flush()
	fmt.Fprintf(w, "target p99 <= %s: %s\n", targetLagP99, verdict(q(0.99) <= targetLagP99))
	fmt.Fprintf(w, "stored: raw rows %d, distinct events %d, rows by FINAL %d (published %d)\n",
		r.stored.raw, r.stored.distinct, r.stored.final, r.events)
}

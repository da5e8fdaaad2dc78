package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/contracts"
)

// outageWait bounds the waits of the failure tests, which move tens of
// thousands of events and restart ClickHouse on a shared machine.
const outageWait = 2 * time.Minute

// TestSinkClickHouseOutage checks the outage guarantee: while ClickHouse is
// stopped (a real server process, SIGTERM, on a port of the test's own; see
// privateClickHouse) and events keep arriving, the sink holds its batch and
// loses nothing, and once ClickHouse is started again every event lands
// exactly once: as many distinct events stored as published, no event
// counted twice when read with FINAL, every message acknowledged.
//
// Events arrive in three waves: before the stop (it is stopped as soon as
// the first rows land, so a batch is usually in flight), while it is down
// (a few seconds, counted in failed insert attempts rather than slept), and
// right after it is back (while the sink catches up).
func TestSinkClickHouseOutage(t *testing.T) {
	ch := startPrivateClickHouse(t)
	h := newHarnessOn(t, ch.addr, "outage")
	h.stopMerges() // merges resume after the restart: raw rows are then a lower bound on copies inserted
	h.cfg.BatchSize = 500
	h.cfg.InsertTimeout = 5 * time.Second
	h.cfg.RetryMax = 500 * time.Millisecond
	h.start()

	const wave = 5000
	ids := eventIDs("outage", 3*wave)
	before, during, after := ids[:wave], ids[wave:2*wave], ids[2*wave:]

	published := make(chan error, 1)
	go func() { published <- h.publishAsync(before) }()
	require.Eventually(t, func() bool { return h.storedRaw() > 0 }, outageWait, tick, "no event stored before the outage")
	ch.stop()
	stopped := time.Now()
	require.NoError(t, <-published)
	// The outage lasts while the sink fails 3, 6, then 9 attempts (backoff
	// from 50 ms to 500 ms: about 3 s), with a third of the second wave
	// published at each step.
	for i, part := range [][]string{during[:wave/3], during[wave/3 : 2*wave/3], during[2*wave/3:]} {
		require.NoError(t, h.publishAsync(part))
		attempts := 3 * (i + 1)
		require.Eventually(t, func() bool { return len(h.logs.Lines(`"msg":"insert batch"`)) >= attempts }, outageWait, tick,
			"want %d failed inserts into the stopped ClickHouse", attempts)
	}
	info := h.info()
	require.Less(t, info.AckFloor.Stream, uint64(2*wave), "events published during the outage are not acknowledged")
	require.Positive(t, info.NumAckPending, "the sink holds its batch")

	ch.start()
	down := time.Since(stopped)
	require.NoError(t, h.publishAsync(after))
	h.waitTally(uint64(len(ids)))
	h.waitSettledWithin(uint64(len(ids)), outageWait)
	require.NotEmpty(t, h.logs.Lines(`"msg":"insert recovered"`))

	got := h.tally()
	require.Equal(t, uint64(len(ids)), got.distinct, "every published event stored")
	require.Equal(t, uint64(len(ids)), got.final, "FINAL counts each event once")
	require.Zero(t, got.finalDuplicates, "no event twice after FINAL")
	t.Logf("ClickHouse down %s: published %d, stored distinct %d, raw rows %d, rows by FINAL %d, duplicates after FINAL %d",
		down.Round(time.Millisecond), len(ids), got.distinct, got.raw, got.final, got.finalDuplicates)
}

// tally is what the raw tables hold, summed over verifications and usage.
type tally struct {
	raw             uint64 // rows as inserted, copies included
	distinct        uint64 // distinct event ids
	final           uint64 // rows read with FINAL
	finalDuplicates uint64 // rows read with FINAL beyond one per event id
}

func (h *harness) tally() tally {
	h.t.Helper()
	var sum tally
	for _, table := range []string{"verifications", "usage"} {
		sum.raw += h.count("SELECT count() FROM " + table)
		sum.distinct += h.count("SELECT uniqExact(event_id) FROM " + table)
		sum.final += h.count("SELECT count() FROM " + table + " FINAL")
		sum.finalDuplicates += h.count("SELECT toUInt64(count() - uniqExact(event_id)) FROM " + table + " FINAL")
	}
	return sum
}

// storedRaw is the rows in both raw tables; 0 while ClickHouse is away.
func (h *harness) storedRaw() uint64 {
	var n uint64
	for _, table := range []string{"verifications", "usage"} {
		var c uint64
		if err := h.conn.QueryRow(context.Background(), "SELECT count() FROM "+table).Scan(&c); err != nil {
			return 0
		}
		n += c
	}
	return n
}

// waitTally waits until n distinct events are stored.
func (h *harness) waitTally(n uint64) {
	h.t.Helper()
	require.Eventually(h.t, func() bool {
		var got uint64
		for _, table := range []string{"verifications", "usage"} {
			var c uint64
			if err := h.conn.QueryRow(context.Background(), "SELECT uniqExact(event_id) FROM "+table).Scan(&c); err != nil {
				return false
			}
			got += c
		}
		return got == n
	}, outageWait, 50*time.Millisecond, "want %d distinct events stored", n)
}

// waitSettledWithin is waitSettled with a longer bound.
func (h *harness) waitSettledWithin(n uint64, d time.Duration) {
	h.t.Helper()
	require.Eventually(h.t, func() bool {
		info := h.info()
		return info.AckFloor.Stream == n && info.NumAckPending == 0 && info.NumPending == 0
	}, d, 50*time.Millisecond, "messages not settled")
}

// publishAsync publishes one event per id, verifications and usage in turn,
// each with Nats-Msg-Id = its id, and waits until the stream has them all.
// A publisher that is too far ahead of the server waits rather than fails:
// the sink catching up competes with it for the server.
func (h *harness) publishAsync(ids []string) error {
	for i, id := range ids {
		subject, data, err := eventFor(i, id)
		if err != nil {
			return err
		}
		if _, err := h.js.PublishAsync(subject, data, jetstream.WithMsgID(id), jetstream.WithStallWait(outageWait)); err != nil {
			return fmt.Errorf("publish %s: %w", id, err)
		}
	}
	select {
	case <-h.js.PublishAsyncComplete():
		return nil
	case <-time.After(outageWait):
		return fmt.Errorf("%d publishes not acknowledged", h.js.PublishAsyncPending())
	}
}

// eventIDs returns n event ids with prefix.
func eventIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%06d", prefix, i)
	}
	return ids
}

// eventFor returns the i-th event of a load: a verification for even i, a
// usage event for odd i.
func eventFor(i int, id string) (string, []byte, error) {
	var v any
	subject := contracts.SubjectEventsVerification
	if i%2 == 0 {
		e := verification(id)
		e.KeyID = fmt.Sprintf("key_%d", i%7)
		v = e
	} else {
		e := usage(id)
		e.KeyID = fmt.Sprintf("key_%d", i%7)
		v, subject = e, contracts.SubjectEventsUsage
	}
	data, err := json.Marshal(v)
	return subject, data, err
}

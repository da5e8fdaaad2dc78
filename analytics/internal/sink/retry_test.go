package sink

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/contracts"
)

// TestSinkInsertFailure checks that while ClickHouse refuses inserts (here:
// a table is missing) the batch is held unacknowledged and retried, one log
// line per failed attempt, and that once the table is back every event lands
// exactly once by FINAL, even those of the table that was written on every
// failed attempt.
func TestSinkInsertFailure(t *testing.T) {
	cases := []struct {
		name      string
		dropTable string
		createIdx int // statement of migration 0001 that re-creates it
	}{
		{name: "verifications missing", dropTable: "verifications", createIdx: 0},
		{name: "usage missing", dropTable: "usage", createIdx: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.exec("DROP TABLE " + tc.dropTable)
			h.start()
			const n = 5
			for i := range n {
				h.publish(contracts.SubjectEventsVerification, verification(fmt.Sprintf("v%d", i)), fmt.Sprintf("v%d", i))
				h.publish(contracts.SubjectEventsUsage, usage(fmt.Sprintf("u%d", i)), fmt.Sprintf("u%d", i))
			}
			require.Eventually(t, func() bool { return len(h.logs.Lines(`"msg":"insert batch"`)) >= 2 }, waitFor, tick)
			info := h.info()
			require.Zero(t, info.AckFloor.Stream, "nothing acknowledged")
			require.Positive(t, info.NumAckPending, "the batch is held")

			h.exec(h.migrations[0].Statements[tc.createIdx])
			h.waitCount(n, "SELECT count() FROM verifications FINAL")
			h.waitCount(n, "SELECT count() FROM usage FINAL")
			h.waitSettled(2 * n)
			require.Zero(t, h.info().NumRedelivered)
			require.NotEmpty(t, h.logs.Lines(`"msg":"insert recovered"`))
		})
	}
}

// TestSinkShutdownWhileFailing checks that a batch that cannot be stored
// before the shutdown deadline is handed back to the server (Run returns
// ErrNotFlushed) and is stored by the next run once ClickHouse recovers.
func TestSinkShutdownWhileFailing(t *testing.T) {
	h := newHarness(t)
	h.exec("DROP TABLE usage")
	h.cfg.FlushInterval = 30 * time.Second
	h.cfg.ShutdownTimeout = 300 * time.Millisecond
	stop := h.start()
	for i := range 3 {
		h.publish(contracts.SubjectEventsUsage, usage(fmt.Sprintf("u%d", i)), fmt.Sprintf("u%d", i))
	}
	h.waitHeld(3)
	require.ErrorIs(t, stop(), ErrNotFlushed)

	// The next run gets the messages at once: waitCount gives up long
	// before the consumer's AckWait would have redelivered them.
	h.exec(h.migrations[0].Statements[1])
	h.cfg.FlushInterval = 50 * time.Millisecond
	h.start()
	h.waitCount(3, "SELECT count() FROM usage FINAL")
	h.waitSettled(3)
}

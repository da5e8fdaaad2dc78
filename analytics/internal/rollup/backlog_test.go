package rollup

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/analytics/internal/events"
	"github.com/ocrstack/ocrstack/analytics/internal/testenv"
	"github.com/ocrstack/ocrstack/contracts"
)

// TestRefreshDeferredDuringBacklog checks the bound on rollup staleness
// while the sink drains a backlog: recomputes wait only while a backlog is
// reported and the oldest noted minute is younger than MaxDelay; later
// batches do not make the noted minutes younger.
func TestRefreshDeferredDuringBacklog(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name         string
		backlog      bool
		marked       bool          // a batch was stored
		age          time.Duration // time since it was
		wantDeferred bool
	}{
		{name: "no backlog", marked: true, age: time.Second},
		{name: "backlog, nothing noted", backlog: true},
		{name: "backlog, minutes fresh", backlog: true, marked: true, age: 29 * time.Second, wantDeferred: true},
		{name: "backlog, minutes at the bound", backlog: true, marked: true, age: 30 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := start
			log, _ := testenv.Logger(t)
			r := New(Config{Logger: log, MaxDelay: 30 * time.Second, Now: func() time.Time { return now }})
			if tc.marked {
				r.Mark(&events.Batch{Usage: []contracts.UsageEvent{{EventID: "u1", Time: start.UnixMilli()}}})
				now = now.Add(tc.age / 2)
				// A later batch does not make the noted minutes younger.
				r.Mark(&events.Batch{Usage: []contracts.UsageEvent{{EventID: "u2", Time: now.UnixMilli()}}})
				now = start.Add(tc.age)
			}
			r.SetBacklog(tc.backlog)
			require.Equal(t, tc.wantDeferred, r.deferred())
		})
	}
}

package admission

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		queued uint64
		perSec float64
		want   int
	}{
		{name: "empty queue", queued: 0, perSec: 0, want: MinRetryAfter},
		{name: "nothing completes", queued: 3, perSec: 0, want: MaxRetryAfter},
		{name: "drains in under a second", queued: 1, perSec: 100, want: MinRetryAfter},
		{name: "rounded up", queued: 11, perSec: 5, want: 3},
		{name: "clamped", queued: 1000, perSec: 2, want: MaxRetryAfter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, retryAfter(tc.queued, tc.perSec))
		})
	}
}

// TestCompletionRate checks the rate read from successive stream states:
// messages the stream stopped holding (LastSeq - Msgs) per second, the
// first interval taken as is, later ones averaged in, and a stream created
// anew (sequence back to the start) skipped rather than counted.
func TestCompletionRate(t *testing.T) {
	cfg := Config{RefreshEvery: DefaultRefreshEvery}
	q := &queue{cfg: &cfg}
	t0 := time.Unix(1_700_000_000, 0)
	q.observe(t0, 10, 10)
	require.False(t, q.rated, "one read gives no rate")
	require.Equal(t, 30, q.retryAfter())

	q.observe(t0.Add(time.Second), 6, 14) // 8 removed in 1 s
	require.InDelta(t, 8, q.rate, 1e-9)
	require.Equal(t, 1, q.retryAfter(), "6 queued at 8/s")

	q.observe(t0.Add(2*time.Second), 6, 14) // none removed in 1 s
	require.Less(t, q.rate, 8.0)
	require.Greater(t, q.rate, 6.0, "one idle second weighs about 1/%v", rateTau)

	before := q.rate
	q.observe(t0.Add(3*time.Second), 2, 2) // a new stream
	require.Equal(t, before, q.rate)
	q.observe(t0.Add(4*time.Second), 0, 22) // 0 -> 22 removed in 1 s
	require.Greater(t, q.rate, before)
}

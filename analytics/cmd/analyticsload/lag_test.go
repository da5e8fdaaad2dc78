package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLags checks that each event gets the first poll whose count includes
// it, and that events no poll counted get no lag.
func TestLags(t *testing.T) {
	t0 := time.Unix(1767225600, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	published := []time.Time{at(0), at(10), at(20), at(30)}
	cases := []struct {
		name  string
		polls []poll
		want  []time.Duration
	}{
		{name: "no polls"},
		{name: "one poll sees all", polls: []poll{{at(100), 4}},
			want: []time.Duration{100 * time.Millisecond, 90 * time.Millisecond, 80 * time.Millisecond, 70 * time.Millisecond}},
		{name: "counts grow", polls: []poll{{at(25), 0}, {at(50), 2}, {at(75), 2}, {at(100), 3}},
			want: []time.Duration{50 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}},
		{name: "count beyond the events", polls: []poll{{at(40), 9}},
			want: []time.Duration{40 * time.Millisecond, 30 * time.Millisecond, 20 * time.Millisecond, 10 * time.Millisecond}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, lags(published, tc.polls))
		})
	}
}

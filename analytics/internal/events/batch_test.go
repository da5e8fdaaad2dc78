package events

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/contracts"
)

// TestBatch checks that events are sorted by table and that Reset empties
// the batch.
func TestBatch(t *testing.T) {
	cases := []struct {
		name              string
		add               []Event
		wantVerifications int
		wantUsage         int
		wantNotices       int
	}{
		{name: "empty"},
		{name: "mixed", add: []Event{
			{Verification: &contracts.VerificationEvent{EventID: "v1"}},
			{Usage: &contracts.UsageEvent{EventID: "u1"}},
			{Verification: &contracts.VerificationEvent{EventID: "v2"}},
			{Notice: &contracts.NoticeEvent{EventID: "n1"}},
		}, wantVerifications: 2, wantUsage: 1, wantNotices: 1},
		{name: "zero event ignored", add: []Event{{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b Batch
			for _, e := range tc.add {
				b.Add(e)
			}
			require.Len(t, b.Verifications, tc.wantVerifications)
			require.Len(t, b.Usage, tc.wantUsage)
			require.Len(t, b.Notices, tc.wantNotices)
			require.Equal(t, tc.wantVerifications+tc.wantUsage+tc.wantNotices, b.Len())
			b.Reset()
			require.Zero(t, b.Len())
		})
	}
}

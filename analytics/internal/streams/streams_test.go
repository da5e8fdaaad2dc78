package streams

import (
	"cmp"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/analytics/internal/testenv"
	"github.com/ocrstack/ocrstack/contracts"
)

// TestStreamConfig checks the conversion of every platform stream spec:
// retention from WorkQueue, and no per-subject limit written as -1.
func TestStreamConfig(t *testing.T) {
	cases := []struct {
		name          string
		spec          contracts.StreamSpec
		wantRetention jetstream.RetentionPolicy
		wantPerSubj   int64
	}{
		{"jobs", contracts.JobsStreamSpec, jetstream.WorkQueuePolicy, -1},
		{"results", contracts.ResultsStreamSpec, jetstream.LimitsPolicy, 1},
		{"events", contracts.EventsStreamSpec, jetstream.LimitsPolicy, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := StreamConfig(tc.spec)
			require.Equal(t, tc.spec.Name, got.Name)
			require.Equal(t, tc.spec.Subjects, got.Subjects)
			require.Equal(t, jetstream.FileStorage, got.Storage)
			require.Equal(t, tc.wantRetention, got.Retention)
			require.Equal(t, tc.spec.MaxAge, got.MaxAge)
			require.Equal(t, tc.wantPerSubj, got.MaxMsgsPerSubject)
			require.Equal(t, cmp.Or(tc.spec.MaxMsgs, -1), got.MaxMsgs)
			require.Equal(t, jetstream.DiscardOld, got.Discard, "a full stream drops its oldest, already read, messages")
			require.Equal(t, tc.spec.Duplicates, got.Duplicates)
		})
	}
}

// TestSetupEvents checks that setting up twice (a restart, or another
// service creating the same stream) succeeds and leaves one consumer with
// the intended settings.
func TestSetupEvents(t *testing.T) {
	_, js, _ := testenv.NATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		_, err := SetupEvents(ctx, js)
		require.NoError(t, err)
	}
	cons, err := js.Consumer(ctx, contracts.EventsStream, contracts.EventsConsumer)
	require.NoError(t, err)
	info, err := cons.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, jetstream.AckExplicitPolicy, info.Config.AckPolicy)
	require.Equal(t, AckWait, info.Config.AckWait)
	require.Equal(t, MaxAckPending, info.Config.MaxAckPending)
	stream, err := js.Stream(ctx, contracts.EventsStream)
	require.NoError(t, err)
	require.Equal(t, contracts.EventsMaxAge, stream.CachedInfo().Config.MaxAge)
	require.Equal(t, int64(contracts.EventsMaxMsgs), stream.CachedInfo().Config.MaxMsgs)
}

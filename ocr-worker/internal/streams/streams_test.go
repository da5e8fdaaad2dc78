package streams

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/natstest"
	"github.com/stretchr/testify/require"
)

// TestStreamConfig checks the translation of each contracts spec.
func TestStreamConfig(t *testing.T) {
	cases := []struct {
		spec          contracts.StreamSpec
		wantRetention jetstream.RetentionPolicy
		wantPerSubj   int64
	}{
		{contracts.JobsStreamSpec, jetstream.WorkQueuePolicy, -1},
		{contracts.ResultsStreamSpec, jetstream.LimitsPolicy, 1},
		{contracts.EventsStreamSpec, jetstream.LimitsPolicy, -1},
	}
	for _, tc := range cases {
		t.Run(tc.spec.Name, func(t *testing.T) {
			got := StreamConfig(tc.spec)
			require.Equal(t, tc.spec.Name, got.Name)
			require.Equal(t, tc.spec.Subjects, got.Subjects)
			require.Equal(t, jetstream.FileStorage, got.Storage)
			require.Equal(t, tc.wantRetention, got.Retention)
			require.Equal(t, tc.spec.MaxAge, got.MaxAge)
			require.Equal(t, tc.wantPerSubj, got.MaxMsgsPerSubject)
			require.Equal(t, tc.spec.Duplicates, got.Duplicates)
		})
	}
}

// TestEnsure checks that start-up creates everything the worker needs, and
// that a second worker starting against the same server changes nothing.
func TestEnsure(t *testing.T) {
	s := natstest.Start(t)
	_, js := natstest.Connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for range 2 {
		cons, images, err := Ensure(ctx, js, 90*time.Second)
		require.NoError(t, err)
		require.NotNil(t, images)
		info, err := cons.Info(ctx)
		require.NoError(t, err)
		require.Equal(t, contracts.JobsConsumer, info.Config.Durable)
		require.Equal(t, jetstream.AckExplicitPolicy, info.Config.AckPolicy)
		require.Equal(t, 90*time.Second, info.Config.AckWait)
		require.Equal(t, MaxDeliver, info.Config.MaxDeliver)
		require.GreaterOrEqual(t, info.Config.MaxAckPending, 64)
	}
	for _, spec := range Specs {
		st, err := js.Stream(ctx, spec.Name)
		require.NoError(t, err)
		require.Equal(t, spec.Subjects, st.CachedInfo().Config.Subjects)
		require.Equal(t, spec.Duplicates, st.CachedInfo().Config.Duplicates)
	}
	status, err := func() (jetstream.ObjectStoreStatus, error) {
		obs, err := js.ObjectStore(ctx, contracts.ImagesBucket)
		if err != nil {
			return nil, err
		}
		return obs.Status(ctx)
	}()
	require.NoError(t, err)
	require.Equal(t, contracts.ImagesMaxAge, status.TTL())
}

package streams_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/natstest"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
	"github.com/ocrstack/ocrstack/keyservice/internal/streams"
	"github.com/stretchr/testify/require"
)

// TestReplicasFloor runs on a 3-node cluster and checks that what
// keyservice creates (the events stream through Ensure, the key buckets
// through store.Open) gets the replicas asked for, placed on three
// servers; that a later start asking for fewer leaves them as they are
// (an operator's edit, or a replica configured differently, survives);
// and that one asking for more raises an R1 stream and bucket.
func TestReplicasFloor(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	nc, err := nats.Connect(c.URLs())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := t.Context()

	replicas := func(name string) (int, int) {
		t.Helper()
		s, err := js.Stream(ctx, name)
		require.NoError(t, err)
		info := s.CachedInfo()
		require.NotNil(t, info.Cluster, name)
		return info.Config.Replicas, len(info.Cluster.Replicas)
	}
	requireR := func(name string, want int) {
		t.Helper()
		require.Eventually(t, func() bool {
			cfg, peers := replicas(name)
			return cfg == want && peers == want-1
		}, 10*time.Second, 50*time.Millisecond, "%s is not R%d", name, want)
	}
	openStore := func(n int) {
		t.Helper()
		st, err := store.Open(ctx, js, store.WithReplicas(n))
		require.NoError(t, err)
		require.NoError(t, st.Close())
	}

	t.Run("created with 3", func(t *testing.T) {
		require.NoError(t, streams.Ensure(ctx, js, contracts.EventsStreamSpec, streams.WithReplicas(3)))
		openStore(3)
		for _, name := range []string{contracts.EventsStream, "KV_" + contracts.KeysBucket, "KV_" + contracts.KeyStateBucket} {
			requireR(name, 3)
		}
	})
	t.Run("a start with 1 does not lower them", func(t *testing.T) {
		require.NoError(t, streams.Ensure(ctx, js, contracts.EventsStreamSpec))
		openStore(1)
		for _, name := range []string{contracts.EventsStream, "KV_" + contracts.KeysBucket, "KV_" + contracts.KeyStateBucket} {
			requireR(name, 3)
		}
	})
	t.Run("a start with 3 raises R1 ones", func(t *testing.T) {
		require.NoError(t, js.DeleteStream(ctx, contracts.EventsStream))
		for _, b := range []string{contracts.KeysBucket, contracts.KeyStateBucket} {
			require.NoError(t, js.DeleteKeyValue(ctx, b))
		}
		require.NoError(t, streams.Ensure(ctx, js, contracts.EventsStreamSpec))
		openStore(1)
		requireR(contracts.EventsStream, 1)
		requireR("KV_"+contracts.KeysBucket, 1)

		require.NoError(t, streams.Ensure(ctx, js, contracts.EventsStreamSpec, streams.WithReplicas(3)))
		openStore(3)
		for _, name := range []string{contracts.EventsStream, "KV_" + contracts.KeysBucket, "KV_" + contracts.KeyStateBucket} {
			requireR(name, 3)
		}
	})
}

// TestReplicasSingleServer checks that replicas above 1 against a single
// server are refused at start-up, not silently reduced: a misconfigured
// deployment fails loudly.
func TestReplicasSingleServer(t *testing.T) {
	_, nc := natstest.Start(t)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	err = streams.Ensure(t.Context(), js, contracts.EventsStreamSpec, streams.WithReplicas(3))
	require.ErrorContains(t, err, "replicas > 1 not supported in non-clustered mode")
	require.NoError(t, streams.Ensure(t.Context(), js, contracts.EventsStreamSpec))
}

package jsetup

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// TestRetry checks that a request whose reply never came is repeated,
// and that any other outcome, or the end of the caller's context, ends
// the repeats.
func TestRetry(t *testing.T) {
	cases := []struct {
		name      string
		errs      []error
		wantCalls int
		wantErr   error
	}{
		{"answered", []error{nil}, 1, nil},
		{"lost twice, then answered", []error{context.DeadlineExceeded, nats.ErrTimeout, nil}, 3, nil},
		{"refused", []error{jetstream.ErrStreamNameAlreadyInUse, nil}, 1, jetstream.ErrStreamNameAlreadyInUse},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := Retry(t.Context(), func(ctx context.Context) error {
				_, ok := ctx.Deadline()
				require.True(t, ok, "each attempt has a deadline")
				calls++
				return tc.errs[calls-1]
			})
			require.ErrorIs(t, err, tc.wantErr)
			require.Equal(t, tc.wantCalls, calls)
		})
	}
	t.Run("the caller's context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		err := Retry(ctx, func(context.Context) error {
			calls++
			cancel()
			return context.DeadlineExceeded
		})
		require.True(t, errors.Is(err, context.DeadlineExceeded))
		require.Equal(t, 1, calls)
	})
}

// TestFloor checks the replicas given to a missing stream (the floor) and
// to an existing one (the larger of its own and the floor).
func TestFloor(t *testing.T) {
	js := startJetStream(t)
	ctx := t.Context()
	n, err := Floor(ctx, js, "MISSING", 3)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	n, err = Floor(ctx, js, "MISSING", 0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "R1", Subjects: []string{"r1"}})
	require.NoError(t, err)
	n, err = Floor(ctx, js, "R1", 1)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = Floor(ctx, js, "R1", 3)
	require.NoError(t, err)
	require.Equal(t, 3, n)
}

// TestEnsureLeavesSameConfig checks that Stream, KeyValue and ObjectStore
// create what is missing, leave what has their configuration untouched (no
// update advisory) and update what has another (one each).
func TestEnsureLeavesSameConfig(t *testing.T) {
	js := startJetStream(t)
	ctx := t.Context()
	updates, err := js.Conn().SubscribeSync("$JS.EVENT.ADVISORY.STREAM.UPDATED.>")
	require.NoError(t, err)
	require.NoError(t, js.Conn().Flush())
	updated := func() []string {
		t.Helper()
		require.NoError(t, js.Conn().Flush())
		var names []string
		for {
			m, err := updates.NextMsg(200 * time.Millisecond)
			if err != nil {
				return names
			}
			names = append(names, m.Subject[len("$JS.EVENT.ADVISORY.STREAM.UPDATED."):])
		}
	}
	sc := jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}, MaxAge: time.Hour}
	kc := jetstream.KeyValueConfig{Bucket: "kv", History: 1, TTL: time.Hour}
	oc := jetstream.ObjectStoreConfig{Bucket: "obs", TTL: time.Hour}
	for range 2 { // created, then found as it is
		_, err = Stream(ctx, js, sc)
		require.NoError(t, err)
		_, err = KeyValue(ctx, js, kc)
		require.NoError(t, err)
		_, err = ObjectStore(ctx, js, oc)
		require.NoError(t, err)
	}
	require.Empty(t, updated(), "nothing updated")
	sc.MaxAge, kc.TTL, oc.TTL = 2*time.Hour, 2*time.Hour, 2*time.Hour
	s, err := Stream(ctx, js, sc)
	require.NoError(t, err)
	require.Equal(t, 2*time.Hour, s.CachedInfo().Config.MaxAge)
	kv, err := KeyValue(ctx, js, kc)
	require.NoError(t, err)
	st, err := kv.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, 2*time.Hour, st.TTL())
	obs, err := ObjectStore(ctx, js, oc)
	require.NoError(t, err)
	ost, err := obs.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, 2*time.Hour, ost.TTL())
	require.ElementsMatch(t, []string{"S", "KV_kv", "OBJ_obs"}, updated())
}

// startJetStream runs an embedded JetStream server for one test.
func startJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(srv.Shutdown)
	require.True(t, srv.ReadyForConnections(10*time.Second))
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

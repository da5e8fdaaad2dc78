package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/natstest"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
	"github.com/ocrstack/ocrstack/keyservice/internal/streams"
	"github.com/stretchr/testify/require"
)

// replica is one keyservice instance with its own connection, so it can be
// killed on its own.
type replica struct {
	nc  *nats.Conn
	svc micro.Service
}

// startClusterReplicas runs a 3-node JetStream cluster with R3 key buckets
// and n keyservice replicas, replica i connected to node i mod 3.
func startClusterReplicas(t *testing.T, n int, now func() time.Time) (*natstest.Cluster, []*replica) {
	t.Helper()
	c := natstest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := nats.Connect(c.URLs())
	require.NoError(t, err)
	t.Cleanup(admin.Close)
	js, err := jetstream.New(admin)
	require.NoError(t, err)
	for _, b := range []string{contracts.KeysBucket, contracts.KeyStateBucket} {
		_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b, History: 1, Replicas: 3})
		require.NoError(t, err)
	}
	require.NoError(t, streams.Ensure(ctx, js, contracts.EventsStreamSpec))
	var out []*replica
	for i := range n {
		nc, err := nats.Connect(c.Servers[i%3].ClientURL())
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		rjs, err := jetstream.New(nc)
		require.NoError(t, err)
		st, err := store.Open(ctx, rjs)
		require.NoError(t, err)
		svc := New(Config{Store: st, JS: rjs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: now})
		m, err := svc.Register(nc)
		require.NoError(t, err)
		out = append(out, &replica{nc: nc, svc: m})
	}
	return c, out
}

// clusterCounts is what the clients saw.
type clusterCounts struct {
	requests, answered, valid, denied, retries atomic.Int64
}

// TestClusterExactUnderReplicaKill runs 3 keyservice replicas on an R3
// cluster against 64 concurrent clients, for a key with credits and a key
// with a rate limit, and kills one replica while they run. Clients retry a
// lost answer with the same idempotency key, as the ingress's transport
// would. Nothing is lost (every request is answered), nothing extra is
// admitted (admitted == granted, exactly, for both keys), and no credit is
// spent without a client being told VALID.
func TestClusterExactUnderReplicaKill(t *testing.T) {
	for _, kill := range []bool{false, true} {
		t.Run(fmt.Sprintf("kill=%v", kill), func(t *testing.T) {
			fixed := time.Date(2026, 11, 22, 12, 0, 30, 0, time.UTC)
			c, replicas := startClusterReplicas(t, 3, func() time.Time { return fixed })
			client, err := nats.Connect(c.Servers[0].ClientURL())
			require.NoError(t, err)
			t.Cleanup(client.Close)

			create := func(req contracts.CreateKeyRequest) contracts.CreateKeyResponse {
				b, _ := json.Marshal(req)
				msg, err := client.Request(contracts.SubjectKeysCreate, b, 10*time.Second)
				require.NoError(t, err)
				require.Empty(t, msg.Header.Get(micro.ErrorCodeHeader), msg.Header.Get(micro.ErrorHeader))
				var resp contracts.CreateKeyResponse
				require.NoError(t, json.Unmarshal(msg.Data, &resp))
				return resp
			}
			const granted = 300
			credits := create(contracts.CreateKeyRequest{APIID: "api_c", Credits: &contracts.Credits{Remaining: granted}})
			limited := create(contracts.CreateKeyRequest{APIID: "api_c",
				Ratelimits: []contracts.Ratelimit{{Name: "r", Limit: granted, Duration: 3_600_000, AutoApply: true}}})

			var counts [2]clusterCounts
			var wg sync.WaitGroup
			var started atomic.Int64
			for g := range 64 {
				wg.Go(func() {
					for i := range 8 {
						for k, key := range []string{credits.Key, limited.Key} {
							started.Add(1)
							counts[k].requests.Add(1)
							req := contracts.VerifyKeyRequest{Key: key, IdempotencyKey: fmt.Sprintf("c%d-%d-%d", g, i, k)}
							resp, retries, err := verifyWithRetry(client, req)
							counts[k].retries.Add(int64(retries))
							if err != nil {
								t.Errorf("request lost: %v", err)
								continue
							}
							counts[k].answered.Add(1)
							if resp.Code == contracts.VerifyValid {
								counts[k].valid.Add(1)
							} else {
								counts[k].denied.Add(1)
							}
						}
					}
				})
			}
			if kill {
				require.Eventually(t, func() bool { return started.Load() >= 200 }, 30*time.Second, time.Millisecond)
				replicas[1].nc.Close() // abrupt: its in-flight requests get no answer
			}
			wg.Wait()

			for k, name := range []string{"credits", "rate limit"} {
				got := &counts[k]
				t.Logf("%s: requests %d, answered %d, admitted %d, denied %d, retries %d",
					name, got.requests.Load(), got.answered.Load(), got.valid.Load(), got.denied.Load(), got.retries.Load())
				require.Equal(t, got.requests.Load(), got.answered.Load(), "%s: requests lost", name)
				require.Equal(t, int64(granted), got.valid.Load(), "%s: admitted != granted", name)
			}
			// What the store spent must equal what clients were told: a
			// credit spent on a lost answer and not replayed would show here.
			var info contracts.KeyInfo
			b, _ := json.Marshal(contracts.KeyRef{KeyID: credits.KeyID})
			msg, err := client.Request(contracts.SubjectKeysGet, b, 10*time.Second)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(msg.Data, &info))
			require.Equal(t, int64(0), info.Credits.Remaining)
		})
	}
}

// verifyWithRetry sends a verification and retries it, with the same
// idempotency key, when no answer comes: the request may have been spent by
// a replica that died before answering.
func verifyWithRetry(nc *nats.Conn, req contracts.VerifyKeyRequest) (contracts.VerifyKeyResponse, int, error) {
	b, _ := json.Marshal(req)
	var last error
	for attempt := range 10 {
		msg, err := nc.Request(contracts.SubjectKeysVerify, b, 2*time.Second)
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) {
			last = err
			continue
		}
		if err != nil {
			return contracts.VerifyKeyResponse{}, attempt, err
		}
		if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
			last = fmt.Errorf("%s: %s", code, msg.Header.Get(micro.ErrorHeader))
			continue
		}
		var resp contracts.VerifyKeyResponse
		return resp, attempt, json.Unmarshal(msg.Data, &resp)
	}
	return contracts.VerifyKeyResponse{}, 10, last
}

package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
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

// Bounds of TestPropagation. propDeadline only fails a test that never
// sees the new outcome: the times measured are logged, not asserted.
const (
	propDeadline = 5 * time.Second
	// propStreak is how many consecutive answers through the queue group
	// must show the new outcome.
	propStreak = 30
	// propSettled is how many more direct answers must repeat the new
	// outcome once a replica gave it: a replica never flips back.
	propSettled = 10
)

// TestPropagation checks that a delete, a disable and an update cutting
// credits to 0, made through any replica, are what every replica answers
// once the management reply has arrived. Three replicas with connections of
// their own share one embedded server.
//
// The service has no per-replica subject, so the test measures two ways:
//
//   - direct: each replica also serves its own handleVerify (the same
//     Service, Store and connection as its production endpoint) on a
//     test-only subject, and is asked until it answers the new outcome,
//     all three at once. The time is that of the slowest replica.
//   - queue group: verifications go to contracts.SubjectKeysVerify, as the
//     ingress sends them, until propStreak consecutive answers show the new
//     outcome and each replica's micro stats show it answered at least two
//     of them (the first may be counted late for the answer before).
//     Logged are when the run of new outcomes began (every answer since is
//     new) and when every replica had provably given one.
//
// Replicas keep copies of records and identities (invalidated by a KV
// watch, see store/watch.go) and of budgets (checked by every spending
// write, re-read after 250 ms for answers that write nothing), so what is
// measured is the watch's delivery and those bounds. The target is 1 s.
func TestPropagation(t *testing.T) {
	srv, admin := natstest.Start(t)
	js, err := jetstream.New(admin)
	require.NoError(t, err)
	require.NoError(t, streams.Ensure(context.Background(), js, contracts.EventsStreamSpec))
	reps := startPropReplicas(t, srv.ClientURL(), 3)
	f := &fixture{nc: admin}

	cases := []struct {
		name    string
		subject string
		change  func(keyID string) any
		want    contracts.VerifyCode
	}{
		{"delete", contracts.SubjectKeysDelete, func(id string) any { return contracts.KeyRef{KeyID: id} }, contracts.VerifyNotFound},
		{"disable", contracts.SubjectKeysUpdate, func(id string) any {
			return contracts.UpdateKeyRequest{KeyID: id, Enabled: json.RawMessage(`false`)}
		}, contracts.VerifyDisabled},
		{"credits to 0", contracts.SubjectKeysUpdate, func(id string) any {
			return contracts.UpdateKeyRequest{KeyID: id, Credits: json.RawMessage(`{"remaining":0}`)}
		}, contracts.VerifyUsageExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// change creates a key every replica answers VALID, applies the
			// case to it and returns the key and when the reply arrived.
			change := func(t *testing.T) (string, time.Time) {
				created := f.create(t, contracts.CreateKeyRequest{
					APIID: "api_test", Credits: &contracts.Credits{Remaining: 1_000_000},
					Ratelimits: []contracts.Ratelimit{{Name: "requests", Limit: 1_000_000, Duration: 60_000, AutoApply: true}},
				})
				for _, r := range reps {
					code, err := propVerify(admin, r.probe, created.Key)
					require.NoError(t, err)
					require.Equal(t, contracts.VerifyValid, code, "replica %s before the change", r.probe)
				}
				sent := time.Now()
				code, desc := f.call(t, tc.subject, tc.change(created.KeyID), nil)
				replied := time.Now()
				require.Empty(t, code, desc)
				t.Logf("%s: management reply after %v", tc.name, replied.Sub(sent))
				return created.Key, replied
			}

			t.Run("direct", func(t *testing.T) {
				key, replied := change(t)
				took := make([]time.Duration, len(reps))
				asked := make([]int, len(reps))
				errs := make([]error, len(reps))
				var wg sync.WaitGroup
				for i, r := range reps {
					wg.Go(func() { took[i], asked[i], errs[i] = propAwaitDirect(admin, r.probe, key, tc.want, replied) })
				}
				wg.Wait()
				for i, err := range errs {
					require.NoError(t, err, "replica %s", reps[i].probe)
				}
				t.Logf("%s/direct: every replica answers %s %v after the reply (per replica %v, after %v verifications)",
					tc.name, tc.want, slices.Max(took), took, asked)
			})

			t.Run("queue group", func(t *testing.T) {
				key, replied := change(t)
				began, proven, sent, err := propAwaitQueue(admin, reps, key, tc.want, replied)
				require.NoError(t, err)
				t.Logf("%s/queue group: answers %s from %v after the reply; %d consecutive, every replica among them, by %v (%d verifications)",
					tc.name, tc.want, began, propStreak, proven, sent)
			})
		})
	}
}

// propReplica is one keyservice replica of TestPropagation.
type propReplica struct {
	// svc serves the production endpoints, in queue group
	// contracts.KeyServiceQueue.
	svc micro.Service
	// probe is the replica's own verify subject.
	probe string
}

// startPropReplicas runs n replicas on the server at url, each with its
// own connection, serving both the production subjects and its probe.
func startPropReplicas(t *testing.T, url string, n int) []propReplica {
	t.Helper()
	ctx := context.Background()
	var out []propReplica
	for i := range n {
		nc, err := nats.Connect(url, nats.Name(fmt.Sprintf("%s-%d", contracts.KeyServiceName, i)))
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		st, err := store.Open(ctx, js)
		require.NoError(t, err)
		s := New(Config{Store: st, JS: js, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		m, err := s.Register(nc)
		require.NoError(t, err)
		t.Cleanup(func() { _ = m.Stop() })

		probe := fmt.Sprintf("test.replica.%d.verify", i)
		pm, err := micro.AddService(nc, micro.Config{Name: contracts.KeyServiceName + "_probe", Version: Version})
		require.NoError(t, err)
		t.Cleanup(func() { _ = pm.Stop() })
		require.NoError(t, pm.AddEndpoint("verify", micro.HandlerFunc(s.handleVerify), micro.WithEndpointSubject(probe)))
		require.NoError(t, nc.Flush())
		out = append(out, propReplica{svc: m, probe: probe})
	}
	return out
}

// propAwaitDirect asks one replica until it answers want, then returns how
// long after since that answer arrived and how many verifications it took,
// and checks the replica keeps answering want.
func propAwaitDirect(nc *nats.Conn, subject, key string, want contracts.VerifyCode, since time.Time) (took time.Duration, asked int, err error) {
	for time.Since(since) < propDeadline {
		code, err := propVerify(nc, subject, key)
		asked++
		if err != nil {
			return 0, asked, err
		}
		if code != want {
			continue
		}
		took := time.Since(since)
		for range propSettled {
			if code, err = propVerify(nc, subject, key); err != nil || code != want {
				return took, asked, fmt.Errorf("answered %s, then %s (%v)", want, code, err)
			}
		}
		return took, asked, nil
	}
	return 0, asked, fmt.Errorf("no %s within %v", want, propDeadline)
}

// propAwaitQueue verifies through the queue group until propStreak
// consecutive answers are want and every replica answered at least two of
// them. It returns, after since, when that run of answers began and when it
// was complete, and the verifications sent.
func propAwaitQueue(nc *nats.Conn, reps []propReplica, key string, want contracts.VerifyCode, since time.Time) (began, proven time.Duration, sent int, err error) {
	streak := 0
	var base []int
	for time.Since(since) < propDeadline {
		code, err := propVerify(nc, contracts.SubjectKeysVerify, key)
		sent++
		if err != nil {
			return 0, 0, sent, err
		}
		if code != want {
			streak = 0
			continue
		}
		if streak == 0 {
			began, base = time.Since(since), propVerifyCounts(reps)
		}
		streak++
		if streak < propStreak {
			continue
		}
		if propAllAnswered(base, propVerifyCounts(reps)) {
			return began, time.Since(since), sent, nil
		}
	}
	return 0, 0, sent, fmt.Errorf("no run of %d %s answers from every replica within %v", propStreak, want, propDeadline)
}

// propVerifyCounts returns how many verifications each replica's
// production endpoint has handled.
func propVerifyCounts(reps []propReplica) []int {
	out := make([]int, len(reps))
	for i, r := range reps {
		for _, e := range r.svc.Stats().Endpoints {
			if e.Subject == contracts.SubjectKeysVerify {
				out[i] = e.NumRequests
			}
		}
	}
	return out
}

func propAllAnswered(base, now []int) bool {
	for i := range base {
		if now[i]-base[i] < 2 {
			return false
		}
	}
	return true
}

// propVerify sends one verification to subject and returns its outcome.
func propVerify(nc *nats.Conn, subject, key string) (contracts.VerifyCode, error) {
	b, err := json.Marshal(contracts.VerifyKeyRequest{Key: key})
	if err != nil {
		return "", err
	}
	msg, err := nc.Request(subject, b, 5*time.Second)
	if err != nil {
		return "", err
	}
	if c := msg.Header.Get(micro.ErrorCodeHeader); c != "" {
		return "", fmt.Errorf("error reply %s: %s", c, msg.Header.Get(micro.ErrorHeader))
	}
	var resp contracts.VerifyKeyResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return "", err
	}
	return resp.Code, nil
}

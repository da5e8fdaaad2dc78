package admission

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/natstest"
	"github.com/ocrstack/ocrstack/ingress/internal/testlog"
	"github.com/stretchr/testify/require"
)

// The queue tests run a real JetStream server in-process with the jobs
// stream as the ingress creates it, and fill and drain it.

// startJetStream runs a JetStream server for one test and returns a client
// with the jobs stream created.
func startJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, js := natstest.JetStream(t)
	_, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: contracts.JobsStream, Subjects: []string{contracts.SubjectJobs}, Retention: jetstream.WorkQueuePolicy,
	})
	require.NoError(t, err)
	return js
}

func publishJobs(t *testing.T, js jetstream.JetStream, n int) {
	t.Helper()
	for i := range n {
		_, err := js.Publish(context.Background(), contracts.SubjectJobs, fmt.Appendf(nil, `{"jobId":"job_%d"}`, i))
		require.NoError(t, err)
	}
}

// drainJobs takes n jobs off the stream as a worker would, acknowledging
// each, which removes it from the work queue.
func drainJobs(t *testing.T, js jetstream.JetStream, n int) {
	t.Helper()
	ctx := context.Background()
	cons, err := js.CreateOrUpdateConsumer(ctx, contracts.JobsStream, jetstream.ConsumerConfig{Durable: contracts.JobsConsumer, AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	got := 0
	for m := range batch.Messages() {
		require.NoError(t, m.DoubleAck(ctx))
		got++
	}
	require.Equal(t, n, got)
}

// admits reports whether g admits a request now, releasing it at once.
func admits(t *testing.T, g *Gate) bool {
	t.Helper()
	release, err := g.Admit(context.Background())
	if err != nil {
		require.ErrorIs(t, err, ErrOverloaded)
		return false
	}
	release()
	return true
}

// TestQueueLimit checks that once the jobs stream holds more than
// MaxQueued messages requests are refused with the queue as the cause and a
// Retry-After in range, that exactly MaxQueued is still admitted, and that
// requests are admitted again once workers drain the queue.
func TestQueueLimit(t *testing.T) {
	js := startJetStream(t)
	g, err := New(Config{MaxInFlight: 100, MaxQueued: 5, Streams: js, RefreshEvery: 5 * time.Millisecond})
	require.NoError(t, err)

	publishJobs(t, js, 5)
	require.Eventually(t, func() bool { n, ok := g.Queued(); return ok && n == 5 }, 5*time.Second, 5*time.Millisecond)
	require.True(t, admits(t, g), "exactly MaxQueued jobs queued")

	publishJobs(t, js, 1)
	require.Eventually(t, func() bool { return !admits(t, g) }, 5*time.Second, 5*time.Millisecond)
	_, err = g.Admit(context.Background())
	var over *OverloadedError
	require.ErrorAs(t, err, &over)
	require.Equal(t, CauseQueue, over.Cause)
	require.Equal(t, MaxRetryAfter, over.RetryAfter, "nothing completed yet: the longest wait")
	require.Zero(t, g.InFlight(), "a refused request holds no slot")

	drainJobs(t, js, 6)
	require.Eventually(t, func() bool { return admits(t, g) }, 5*time.Second, 5*time.Millisecond)
}

// countingStreams counts stream info calls and fails them while fail is set.
type countingStreams struct {
	js    jetstream.JetStream
	calls atomic.Int64
	fail  atomic.Bool
}

func (c *countingStreams) Stream(ctx context.Context, name string) (jetstream.Stream, error) {
	c.calls.Add(1)
	if c.fail.Load() {
		return nil, errors.New("stream info: timeout")
	}
	return c.js.Stream(ctx, name)
}

// TestQueueReadShared checks that many concurrent requests share one
// cached read of the stream: at most one info call per RefreshEvery, never
// one per request.
func TestQueueReadShared(t *testing.T) {
	streams := &countingStreams{js: startJetStream(t)}
	const every = 50 * time.Millisecond
	g, err := New(Config{MaxInFlight: 1000, MaxQueued: 10, Streams: streams, RefreshEvery: every})
	require.NoError(t, err)
	start := time.Now()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Since(start) < 300*time.Millisecond {
				if admits(t, g) {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	calls := streams.calls.Load()
	require.Greater(t, admitted.Load(), 100*calls, "requests per info call")
	require.LessOrEqual(t, calls, int64(time.Since(start)/every)+1)
}

// TestQueueReadFails checks that a failing stream info call is not a reason
// to refuse, even right after a read that showed the queue full, and that
// the failure is logged once, not per read.
func TestQueueReadFails(t *testing.T) {
	streams := &countingStreams{js: startJetStream(t)}
	var logs testlog.Buffer
	g, err := New(Config{MaxInFlight: 100, MaxQueued: 1, Streams: streams, RefreshEvery: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	publishJobs(t, streams.js, 2)
	require.Eventually(t, func() bool { return !admits(t, g) }, 5*time.Second, 5*time.Millisecond)

	streams.fail.Store(true)
	require.Eventually(t, func() bool { return admits(t, g) }, 5*time.Second, 5*time.Millisecond)
	failed := streams.calls.Load()
	require.Eventually(t, func() bool { admits(t, g); return streams.calls.Load() > failed+3 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, 1, bytes.Count([]byte(logs.String()), []byte("level=WARN")), logs.String())

	streams.fail.Store(false)
	require.Eventually(t, func() bool { return !admits(t, g) }, 5*time.Second, 5*time.Millisecond)
	require.Contains(t, logs.String(), "read jobs queue depth again")
}

// TestQueueStale checks that a depth read long ago (an idle ingress) is not
// a reason to refuse: the request is admitted and a new read starts.
func TestQueueStale(t *testing.T) {
	js := startJetStream(t)
	var now atomic.Int64
	now.Store(time.Unix(1_700_000_000, 0).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	const every = time.Second
	g, err := New(Config{MaxInFlight: 100, MaxQueued: 1, Streams: js, RefreshEvery: every, Now: clock})
	require.NoError(t, err)
	publishJobs(t, js, 2)
	require.True(t, admits(t, g), "nothing read yet")
	require.Eventually(t, func() bool { _, ok := g.Queued(); return ok }, 5*time.Second, 5*time.Millisecond)
	require.False(t, admits(t, g))

	now.Add(int64(staleFactor*every + time.Millisecond))
	require.True(t, admits(t, g), "the last read is stale")
	require.Eventually(t, func() bool { return !admits(t, g) }, 5*time.Second, 5*time.Millisecond, "read again")
}

// TestInFlightLimit checks that at most MaxInFlight requests are admitted at
// once, that the next is refused at once with the in-flight cause, and that
// a release frees exactly one slot however often it is called.
func TestInFlightLimit(t *testing.T) {
	g, err := New(Config{MaxInFlight: 3})
	require.NoError(t, err)
	require.Equal(t, 3, g.Limit())
	var releases []func()
	for range 3 {
		release, err := g.Admit(context.Background())
		require.NoError(t, err)
		releases = append(releases, release)
	}
	_, err = g.Admit(context.Background())
	var over *OverloadedError
	require.ErrorAs(t, err, &over)
	require.Equal(t, CauseInFlight, over.Cause)
	require.Equal(t, MinRetryAfter, over.RetryAfter, "queue depth unknown")
	require.Equal(t, 3, g.InFlight())

	releases[0]()
	releases[0]()
	require.Equal(t, 2, g.InFlight(), "a second release does nothing")
	require.True(t, admits(t, g))
	release, err := g.Admit(context.Background())
	require.NoError(t, err)
	require.False(t, admits(t, g))
	release()
}

// TestInFlightLimitConcurrent checks the limit holds under concurrent use.
func TestInFlightLimitConcurrent(t *testing.T) {
	const limit = 4
	g, err := New(Config{MaxInFlight: limit})
	require.NoError(t, err)
	var inside, most, refused atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 200 {
				release, err := g.Admit(context.Background())
				if err != nil {
					refused.Add(1)
					continue
				}
				n := inside.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				inside.Add(-1)
				release()
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, most.Load(), int64(limit))
	require.Zero(t, g.InFlight())
}

func TestNewValidates(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no in-flight limit":   {},
		"negative queue limit": {MaxInFlight: 1, MaxQueued: -1},
		"negative in-flight":   {MaxInFlight: -5},
	} {
		_, err := New(cfg)
		require.Error(t, err, name)
	}
}

func BenchmarkAdmit(b *testing.B) {
	g, err := New(Config{MaxInFlight: 64})
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		release, err := g.Admit(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		release()
	}
}

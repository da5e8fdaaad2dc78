package workerinfo

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/natstest"
	"github.com/ocrstack/ocrstack/ingress/internal/testlog"
	"github.com/stretchr/testify/require"
)

// The tests register real micro services named like the OCR worker on an
// in-process NATS server, each with the metadata a worker publishes.

// startNATS runs a NATS server for one test and returns a client connection.
func startNATS(t *testing.T) *nats.Conn {
	t.Helper()
	nc := natstest.Start(t)
	return nc
}

// addWorker registers a micro service named like the OCR worker with the
// given metadata, stopped when the test ends.
func addWorker(t *testing.T, nc *nats.Conn, metadata map[string]string) micro.Service {
	t.Helper()
	svc, err := micro.AddService(nc, micro.Config{Name: contracts.WorkerName, Version: "1.0.0", Metadata: metadata})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Stop() })
	require.NoError(t, nc.Flush())
	return svc
}

// clock is a settable time for the TTL.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestInstalled checks the answer against the workers that run: the
// languages every one of them has, without osd, and unknown when none
// answers or one does not say what it has.
func TestInstalled(t *testing.T) {
	cases := []struct {
		name      string
		workers   []map[string]string
		wantLangs []string
		wantKnown bool
	}{
		{"no worker", nil, nil, false},
		{"one worker", []map[string]string{{InstalledKey: "spa+osd+eng"}}, []string{"eng", "spa"}, true},
		{"two workers", []map[string]string{{InstalledKey: "eng+osd+spa+deu"}, {InstalledKey: "fra+spa+eng"}}, []string{"eng", "spa"}, true},
		{"nothing in common", []map[string]string{{InstalledKey: "eng"}, {InstalledKey: "spa"}}, []string{}, true},
		{"only osd", []map[string]string{{InstalledKey: "osd"}}, []string{}, true},
		{"one worker does not say", []map[string]string{{InstalledKey: "eng+spa"}, {"languages": "eng"}}, nil, false},
		{"one worker says nothing", []map[string]string{{InstalledKey: "eng+spa"}, {InstalledKey: " "}}, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nc := startNATS(t)
			for _, md := range tc.workers {
				addWorker(t, nc, md)
			}
			var logs testlog.Buffer
			l := New(Config{Conn: nc, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			langs, known := l.Installed(context.Background())
			require.Equal(t, tc.wantKnown, known)
			require.Equal(t, tc.wantLangs, langs)
			require.Empty(t, logs.String(), "an unknown answer is not a failure")
		})
	}
}

// countRequests counts the INFO requests sent to the workers from now on.
// Call the returned function only once a reply to the last request came
// back: the request was routed before it, so after one round trip it is
// queued on the subscription.
func countRequests(t *testing.T, nc *nats.Conn) func() int {
	t.Helper()
	subject, err := micro.ControlSubject(micro.InfoVerb, contracts.WorkerName, "")
	require.NoError(t, err)
	sub, err := nc.SubscribeSync(subject)
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	return func() int {
		require.NoError(t, nc.Flush())
		n, _, err := sub.Pending()
		require.NoError(t, err)
		return n
	}
}

// inFlight reports whether a refresh is running.
func (l *Languages) inFlight() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refreshing != nil
}

// TestInstalledCachedThenRefreshed checks that an answer is reused for the
// TTL without asking again, then, once stale, still returned at once while
// one refresh in the background brings the new answer.
func TestInstalledCachedThenRefreshed(t *testing.T) {
	nc := startNATS(t)
	var clk clock
	clk.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	old := addWorker(t, nc, map[string]string{InstalledKey: "eng+spa"})
	requests := countRequests(t, nc)
	l := New(Config{Conn: nc, TTL: 30 * time.Second, Now: clk.now})
	ctx := context.Background()

	langs, known := l.Installed(ctx)
	require.True(t, known)
	require.Equal(t, []string{"eng", "spa"}, langs)

	require.NoError(t, old.Stop())
	addWorker(t, nc, map[string]string{InstalledKey: "deu+eng"})
	clk.advance(29 * time.Second)
	langs, _ = l.Installed(ctx)
	require.Equal(t, []string{"eng", "spa"}, langs, "a fresh answer must be reused")
	require.False(t, l.inFlight(), "a fresh answer must not be refreshed")

	clk.advance(2 * time.Second)
	langs, _ = l.Installed(ctx)
	require.Equal(t, []string{"eng", "spa"}, langs, "a stale answer is returned while it refreshes")
	require.True(t, l.inFlight(), "a stale answer must be refreshed")
	require.Eventually(t, func() bool {
		langs, known := l.Installed(ctx)
		return known && len(langs) == 2 && langs[0] == "deu" && langs[1] == "eng"
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, 2, requests(), "INFO requests: one at the start, one once stale")
}

// TestInstalledOneRefreshInFlight checks that callers arriving together
// share one INFO request and its answer.
func TestInstalledOneRefreshInFlight(t *testing.T) {
	nc := startNATS(t)
	addWorker(t, nc, map[string]string{InstalledKey: "eng"})
	requests := countRequests(t, nc)

	l := New(Config{Conn: nc})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			langs, known := l.Installed(context.Background())
			if !known || len(langs) != 1 || langs[0] != "eng" {
				t.Errorf("got %v, %v; want [eng], true", langs, known)
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, requests(), "INFO requests sent")
}

// TestInstalledCallerGivesUp checks that a caller whose context ends gets
// an unknown answer at once, while the refresh still completes for the
// next caller.
func TestInstalledCallerGivesUp(t *testing.T) {
	nc := startNATS(t)
	addWorker(t, nc, map[string]string{InstalledKey: "eng+spa"})
	l := New(Config{Conn: nc, Window: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	langs, known := l.Installed(ctx)
	require.False(t, known)
	require.Nil(t, langs)
	require.Eventually(t, func() bool {
		_, known := l.Installed(ctx)
		return known
	}, 5*time.Second, 10*time.Millisecond)
}

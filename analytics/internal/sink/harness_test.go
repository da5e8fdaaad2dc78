package sink

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/analytics/internal/chstore"
	"github.com/ocrstack/ocrstack/analytics/internal/migrate"
	"github.com/ocrstack/ocrstack/analytics/internal/streams"
	"github.com/ocrstack/ocrstack/analytics/internal/testenv"
)

// waitFor bounds every require.Eventually in these tests.
const (
	waitFor = 20 * time.Second
	tick    = 20 * time.Millisecond
)

// harness is one test's world: an embedded JetStream with the events stream
// and consumer, and a fresh, migrated ClickHouse database.
type harness struct {
	t          *testing.T
	js         jetstream.JetStream
	cons       jetstream.Consumer
	conn       driver.Conn
	migrations []migrate.Migration
	logs       *testenv.Logs
	cfg        Config
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	addr, db := testenv.ClickHouse(t)
	return newHarnessOn(t, addr, db)
}

// newHarnessOn is newHarness with the ClickHouse at addr, database db.
func newHarnessOn(t *testing.T, addr, db string) *harness {
	t.Helper()
	_, js, _ := testenv.NATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := chstore.Open(ctx, chstore.Options{Addr: addr, Database: db, Username: "default"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	log, logs := testenv.Logger(t)
	migrations, err := migrate.Load(os.DirFS("../../migrations"))
	require.NoError(t, err)
	_, err = migrate.New(conn, log, nil).Apply(ctx, migrations)
	require.NoError(t, err)
	cons, err := streams.SetupEvents(ctx, js)
	require.NoError(t, err)
	return &harness{
		t: t, js: js, cons: cons, conn: conn, migrations: migrations, logs: logs,
		cfg: Config{
			Consumer: cons, Store: chstore.NewWriter(conn), Logger: log,
			BatchSize: 100, FlushInterval: 50 * time.Millisecond,
			RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		},
	}
}

// start runs a Sink with h.cfg until the returned stop is called (or the
// test ends); stop returns Run's result.
func (h *harness) start() (stop func() error) {
	s := New(h.cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var result error
	stopped := false
	stop = func() error {
		if !stopped {
			cancel()
			result = <-done
			stopped = true
		}
		return result
	}
	h.t.Cleanup(func() { _ = stop() })
	return stop
}

func (h *harness) publish(subject string, v any, msgID string) {
	h.t.Helper()
	data, ok := v.([]byte)
	if !ok {
		var err error
		data, err = json.Marshal(v)
		require.NoError(h.t, err)
	}
	_, err := h.js.Publish(context.Background(), subject, data, jetstream.WithMsgID(msgID))
	require.NoError(h.t, err)
}

func (h *harness) exec(query string) {
	h.t.Helper()
	require.NoError(h.t, h.conn.Exec(context.Background(), query))
}

// count runs a query returning one count().
func (h *harness) count(query string, args ...any) uint64 {
	h.t.Helper()
	var n uint64
	require.NoError(h.t, h.conn.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

func (h *harness) waitCount(want uint64, query string, args ...any) {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return h.count(query, args...) == want }, waitFor, tick,
		"want %d from %s", want, query)
}

func (h *harness) info() *jetstream.ConsumerInfo {
	h.t.Helper()
	info, err := h.cons.Info(context.Background())
	require.NoError(h.t, err)
	return info
}

// waitSettled waits until every one of the stream's n messages has been
// delivered and acknowledged (or terminated).
func (h *harness) waitSettled(n uint64) {
	h.t.Helper()
	require.Eventually(h.t, func() bool {
		info := h.info()
		return info.AckFloor.Stream == n && info.NumAckPending == 0 && info.NumPending == 0
	}, waitFor, tick, "messages not settled")
}

// waitHeld waits until n messages are delivered and not yet acknowledged.
func (h *harness) waitHeld(n int) {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return h.info().NumAckPending == n }, waitFor, tick,
		"want %d messages held unacknowledged", n)
}

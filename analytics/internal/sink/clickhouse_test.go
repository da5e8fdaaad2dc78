package sink

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clickhouseScript starts and stops a private ClickHouse; the same script
// `make test` uses for the shared one.
const clickhouseScript = "../../../deploy/scripts/clickhouse.sh"

// privateClickHouse is a ClickHouse server of one test's own, so the test
// can stop it and start it again as an operator (or a crash) would: a real
// server process stopped with SIGTERM and restarted on the same port and
// data directory, not a proxy or a fake.
type privateClickHouse struct {
	t    *testing.T
	addr string
	port int
	dir  string
}

// startPrivateClickHouse starts a ClickHouse on a free loopback port, and
// stops it when the test ends. Without clickhouse-server on this machine
// the test is skipped, or fails when CI is "true".
func startPrivateClickHouse(t *testing.T) *privateClickHouse {
	t.Helper()
	if _, err := exec.LookPath("clickhouse-server"); err != nil {
		if _, err := os.Stat("/usr/sbin/clickhouse-server"); err != nil {
			const msg = "clickhouse-server is not installed: this test starts and stops a ClickHouse of its own"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	c := &privateClickHouse{t: t, port: port, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		dir: filepath.Join(t.TempDir(), "clickhouse")}
	// Registered after TempDir, so it runs before the directory is removed.
	t.Cleanup(func() { c.script("stop", c.dir) })
	c.start()
	return c
}

// start starts the server (again) and waits until it answers.
func (c *privateClickHouse) start() {
	c.t.Helper()
	c.script("start", strconv.Itoa(c.port), c.dir)
}

// stop stops the server: SIGTERM, then SIGKILL after 30 s.
func (c *privateClickHouse) stop() {
	c.t.Helper()
	c.script("stop", c.dir)
}

func (c *privateClickHouse) script(args ...string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, clickhouseScript, args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("clickhouse.sh %v: %v\n%s", args, err, out)
	}
}

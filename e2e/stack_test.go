package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
)

var services = []string{"keyservice", "ocr-worker", "analytics", "ingress"}

// rootKey is the administrator's key the stack runs with.
const rootKey = "root_e2e_0123456789abcdef0123"

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// buildServices compiles the four services once per test binary.
func buildServices(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "ocr-e2e-bin-")
		if buildErr != nil {
			return
		}
		for _, s := range services {
			args := []string{"build", "-o", filepath.Join(binDir, s)}
			if raceBuild {
				args = append(args, "-race")
			}
			cmd := exec.Command("go", append(args, "./"+s)...)
			cmd.Dir = ".."
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", s, err, out)
				return
			}
		}
	})
	require.NoError(t, buildErr)
	return binDir
}

// clickhouseAddr returns the test ClickHouse; it is required in CI.
func clickhouseAddr(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("OCR_TEST_CLICKHOUSE_ADDR")
	if addr == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("OCR_TEST_CLICKHOUSE_ADDR is not set: run the tests with `make test`")
		}
		t.Skip("OCR_TEST_CLICKHOUSE_ADDR is not set: run the tests with `make test`")
	}
	return addr
}

// stack is the running pipeline.
type stack struct {
	url      string
	database string
	ch       driver.Conn
	procs    map[string]*exec.Cmd
	logs     map[string]string
	// ops is each service's ops server address (/metrics, /livez,
	// /readyz), a free port each, so stacks never collide on the defaults.
	ops map[string]string
}

// stackNATS replaces startStack's open in-process NATS server: the
// services connect to natsURL(service) instead (natsconf_test.go runs them
// against nats.conf, each with its own user).
type stackNATS struct {
	natsURL func(service string) string
	// env ("NAME=value") is added to every service's environment; with
	// natsURL nil the in-process server is still used.
	env []string
}

// startStack runs NATS in-process and the four services as processes, and
// waits until the ingress reports ready.
func startStack(t *testing.T, withNATS ...stackNATS) *stack {
	t.Helper()
	chAddr := clickhouseAddr(t)
	bin := buildServices(t)

	var natsURL func(service string) string
	var extraEnv []string
	if len(withNATS) > 0 {
		natsURL, extraEnv = withNATS[0].natsURL, withNATS[0].env
	}
	if natsURL == nil {
		ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
		require.NoError(t, err)
		ns.Start()
		require.True(t, ns.ReadyForConnections(10*time.Second))
		t.Cleanup(ns.Shutdown)
		natsURL = func(string) string { return ns.ClientURL() }
	}

	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	s := &stack{database: "e2e_" + hex.EncodeToString(suffix[:]), procs: map[string]*exec.Cmd{}, logs: map[string]string{}, ops: map[string]string{}}
	var err error
	s.ch, err = clickhouse.Open(&clickhouse.Options{Addr: []string{chAddr}})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = s.ch.Exec(context.Background(), "DROP DATABASE IF EXISTS "+s.database)
		_ = s.ch.Close()
	})

	httpAddr := freeAddr(t)
	s.url = "http://" + httpAddr
	env := append(os.Environ(),
		"OCR_HTTP_ADDR="+httpAddr,
		"OCR_CLICKHOUSE_ADDR="+chAddr, "OCR_CLICKHOUSE_DATABASE="+s.database,
		"OCR_ROOT_KEY="+rootKey, "OCR_WORKER_CONCURRENCY=2", "OCR_ANALYTICS_FLUSH_INTERVAL=200ms", "OCR_LOG_LEVEL=debug",
	)
	env = append(env, extraEnv...)
	logDir := t.TempDir()
	// Registered first, so it runs last: after every process has stopped and
	// its log was checked.
	t.Cleanup(func() {
		if t.Failed() {
			s.dumpLogs(t)
		}
	})
	for _, name := range services {
		logPath := filepath.Join(logDir, name+".log")
		f, err := os.Create(logPath)
		require.NoError(t, err)
		cmd := exec.Command(filepath.Join(bin, name))
		s.ops[name] = freeAddr(t)
		cmd.Env, cmd.Stdout, cmd.Stderr = append(env[:len(env):len(env)], "OCR_NATS_URL="+natsURL(name), "OCR_OPS_ADDR="+s.ops[name]), f, f
		require.NoError(t, cmd.Start())
		s.procs[name], s.logs[name] = cmd, logPath
		t.Cleanup(func() {
			stop(cmd)
			_ = f.Close()
			// A service built with -race reports a race on its stderr and
			// goes on; the test must not.
			if b, _ := os.ReadFile(logPath); bytes.Contains(b, []byte("WARNING: DATA RACE")) {
				t.Errorf("%s reported a data race; see its log below", name)
			}
		})
	}
	require.Eventually(t, func() bool {
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 90*time.Second, 100*time.Millisecond, "the pipeline never became ready")
	return s
}

// alive reports whether every service process is still running.
func (s *stack) alive(t *testing.T) {
	t.Helper()
	for name, cmd := range s.procs {
		require.NoError(t, cmd.Process.Signal(syscall.Signal(0)), "%s is not running", name)
	}
}

func (s *stack) dumpLogs(t *testing.T) {
	for name, path := range s.logs {
		b, _ := os.ReadFile(path)
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		t.Logf("---- %s log (tail)\n%s", name, b)
	}
}

// stop sends SIGTERM and waits for a graceful exit, then kills.
func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

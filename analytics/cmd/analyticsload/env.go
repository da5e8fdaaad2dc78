package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocrstack/ocrstack/analytics/internal/chstore"
	"github.com/ocrstack/ocrstack/analytics/internal/migrate"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops/emit"
)

const (
	clickhouseScript = "deploy/scripts/clickhouse.sh"
	migrationsDir    = "analytics/migrations"
	// readyTimeout bounds the analytics start-up (migrations included).
	readyTimeout = time.Minute
	stopTimeout  = 30 * time.Second
)

// env is what the phases run against: NATS, ClickHouse, and the analytics
// binary, started and stopped per phase. Everything lives under dir.
type env struct {
	o        options
	dir      string
	natsURL  string
	nc       *nats.Conn
	js       jetstream.JetStream
	embedded *server.Server
	natsProc *exec.Cmd
	chAddr   string
	chDir    string // set when the ClickHouse is ours to stop
	binary   string // the analytics binary

	emitter *emit.Emitter // publishes the events, as producers do
	emitReg *prometheus.Registry
}

func startEnv(ctx context.Context, o options) (_ *env, err error) {
	if _, err := os.Stat(migrationsDir); err != nil {
		return nil, fmt.Errorf("run from the repository root: %w", err)
	}
	dir, err := os.MkdirTemp("", "analyticsload-")
	if err != nil {
		return nil, err
	}
	e := &env{o: o, dir: dir, chAddr: o.clickhouse, binary: filepath.Join(o.bin, "analytics")}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if o.bin == "" {
		e.binary = filepath.Join(dir, "analytics")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", e.binary, "./analytics").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build analytics: %w\n%s", err, out)
		}
	}
	if e.chAddr == "" {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		e.chDir = filepath.Join(dir, "clickhouse")
		if out, err := exec.CommandContext(ctx, clickhouseScript, "start", strconv.Itoa(port), e.chDir).CombinedOutput(); err != nil {
			e.chDir = ""
			return nil, fmt.Errorf("start clickhouse: %w\n%s", err, out)
		}
		e.chAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	if err := e.startNATS(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *env) startNATS() error {
	store := filepath.Join(e.dir, "nats")
	if e.o.natsServer == "" {
		srv, err := server.NewServer(&server.Options{
			Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: store, NoLog: true, NoSigs: true,
		})
		if err != nil {
			return fmt.Errorf("nats server: %w", err)
		}
		srv.Start()
		if !srv.ReadyForConnections(10 * time.Second) {
			return errors.New("nats server not ready")
		}
		e.embedded, e.natsURL = srv, srv.ClientURL()
	} else {
		port, err := freePort()
		if err != nil {
			return err
		}
		log, err := os.Create(filepath.Join(e.dir, "nats-server.log"))
		if err != nil {
			return err
		}
		cmd := exec.Command(e.o.natsServer, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", store)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start nats-server: %w", err)
		}
		e.natsProc = cmd
		e.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", port)
	}
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if e.nc, err = nats.Connect(e.natsURL); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("connect to nats: %w", err)
	}
	if e.js, err = jetstream.New(e.nc); err != nil {
		return err
	}
	return e.startEmitter()
}

// natsKind says which NATS server runs.
func (e *env) natsKind() string {
	if e.embedded != nil {
		return "embedded nats-server " + server.VERSION
	}
	return e.o.natsServer
}

// openDB opens (creating it) a database on the ClickHouse, with the
// analytics migrations applied when migrated is true.
func (e *env) openDB(ctx context.Context, db string, migrated bool) (driver.Conn, error) {
	conn, err := chstore.Open(ctx, chstore.Options{Addr: e.chAddr, Database: db, Username: "default"})
	if err != nil {
		return nil, err
	}
	if !migrated {
		return conn, nil
	}
	ms, err := migrate.Load(os.DirFS(migrationsDir))
	if err == nil {
		_, err = migrate.New(conn, slog.New(slog.DiscardHandler), nil).Apply(ctx, ms)
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("migrate %s: %w", db, err)
	}
	return conn, nil
}

// analytics is a running analytics process.
type analytics struct {
	cmd    *exec.Cmd
	exited chan error
	log    string
	once   sync.Once
}

// startAnalytics runs the analytics binary on database db and waits until
// it answers its health check; the time returned is that moment.
func (e *env) startAnalytics(ctx context.Context, db string) (*analytics, time.Time, error) {
	logPath := filepath.Join(e.dir, "analytics-"+db+".log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer log.Close()
	cmd := exec.Command(e.binary)
	cmd.Env = append(os.Environ(), "OCR_NATS_URL="+e.natsURL, "OCR_CLICKHOUSE_ADDR="+e.chAddr,
		"OCR_CLICKHOUSE_DATABASE="+db, "OCR_LOG_LEVEL=warn", "OCR_OPS_ADDR=127.0.0.1:0")
	cmd.Env = append(cmd.Env, e.o.analyticsEnv...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, time.Time{}, fmt.Errorf("start analytics: %w", err)
	}
	a := &analytics{cmd: cmd, exited: make(chan error, 1), log: logPath}
	go func() { a.exited <- cmd.Wait() }()
	deadline := time.Now().Add(readyTimeout)
	for {
		if _, err := e.nc.Request("$SRV.PING."+contracts.AnalyticsName, nil, 100*time.Millisecond); err == nil {
			return a, time.Now(), nil
		}
		select {
		case err := <-a.exited:
			return nil, time.Time{}, fmt.Errorf("analytics exited during start-up (%v); see %s", err, logPath)
		case <-ctx.Done():
			a.stop()
			return nil, time.Time{}, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			a.stop()
			return nil, time.Time{}, fmt.Errorf("analytics not ready within %s; see %s", readyTimeout, logPath)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the process to exit, killing it after
// stopTimeout. Calls after the first do nothing.
func (a *analytics) stop() {
	a.once.Do(func() {
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.exited:
		case <-time.After(stopTimeout):
			_ = a.cmd.Process.Kill()
			<-a.exited
		}
	})
}

// close stops what env started, in reverse order, and removes its files.
func (e *env) close() {
	if e.emitter != nil {
		e.emitter.Close()
	}
	if e.nc != nil {
		e.nc.Close()
	}
	if e.embedded != nil {
		e.embedded.Shutdown()
		e.embedded.WaitForShutdown()
	}
	if e.natsProc != nil {
		_ = e.natsProc.Process.Signal(syscall.SIGTERM)
		_ = e.natsProc.Wait()
	}
	if e.chDir != "" {
		_ = exec.Command(clickhouseScript, "stop", e.chDir).Run()
	}
	_ = os.RemoveAll(e.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

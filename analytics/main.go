// Command analytics moves the platform's events (key verifications, OCR
// usage) from the JetStream stream contracts.EventsStream into ClickHouse.
//
// It applies its embedded schema migrations at start-up, registers the NATS
// micro service contracts.AnalyticsName (health checks, and the query
// endpoints of internal/query), inserts events in batches, acknowledging
// them only once stored, and keeps the rollup tables exact (internal/rollup).
// See internal/config for the environment it reads, and docs/analytics.md
// for the schema.
package main

import (
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/ocrstack/ocrstack/analytics/internal/chstore"
	"github.com/ocrstack/ocrstack/analytics/internal/config"
	"github.com/ocrstack/ocrstack/analytics/internal/migrate"
	"github.com/ocrstack/ocrstack/analytics/internal/query"
	"github.com/ocrstack/ocrstack/analytics/internal/rollup"
	"github.com/ocrstack/ocrstack/analytics/internal/sink"
	"github.com/ocrstack/ocrstack/analytics/internal/streams"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops"
)

// version is reported by the micro service.
const version = "0.1.0"

//go:embed migrations/*.sql
var migrationFiles embed.FS

func main() {
	if len(os.Args) > 1 && os.Args[1] == ops.HealthcheckCommand {
		os.Exit(ops.RunHealthcheck(os.Getenv, ops.DefaultAnalyticsAddr, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "analytics:", err)
		os.Exit(1)
	}
}

// run starts the service and blocks until ctx ends, then shuts down in
// reverse order: stop fetching and store the last batch, stop the micro
// service, drain NATS, close ClickHouse.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))

	conn, err := chstore.Open(ctx, chstore.Options{
		Addr: cfg.ClickHouseAddr, Database: cfg.ClickHouseDatabase,
		Username: cfg.ClickHouseUsername, Password: cfg.ClickHousePassword, Cluster: cfg.ClickHouseCluster,
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	cluster := migrate.Cluster{Name: cfg.ClickHouseCluster, Database: cfg.ClickHouseDatabase}
	if err := applyMigrations(ctx, conn, log, cluster); err != nil {
		return err
	}

	nc, err := connectNATS(cfg, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	reg := ops.NewRegistry()
	metrics := sink.NewMetrics(reg)
	opsSrv, err := ops.Start(ops.Config{Addr: cfg.OpsAddr, Registry: reg, Logger: log, Ready: readiness(nc, conn)})
	if err != nil {
		return err
	}
	defer opsSrv.Stop(log)
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	cons, err := streams.SetupEvents(ctx, js, streams.WithReplicas(cfg.Replicas))
	if err != nil {
		return err
	}
	metrics.WatchLag(ctx, cons)
	svc, err := micro.AddService(nc, micro.Config{
		Name: contracts.AnalyticsName, Version: version,
		Description: "stores verification and usage events in ClickHouse and answers queries on them",
	})
	if err != nil {
		return fmt.Errorf("register micro service: %w", err)
	}
	if err := query.New(query.Config{Conn: conn, Logger: log}).Register(svc); err != nil {
		_ = svc.Stop()
		return fmt.Errorf("register query endpoints: %w", err)
	}
	rollups := rollup.New(rollup.Config{Conn: conn, Logger: log, Interval: cfg.RollupInterval})
	rollupCtx, stopRollups := context.WithCancel(context.WithoutCancel(ctx))
	rollupsDone := make(chan struct{})
	go func() {
		defer close(rollupsDone)
		rollups.Run(rollupCtx)
	}()
	log.Info("analytics started", "database", cfg.ClickHouseDatabase, "batch_size", cfg.BatchSize,
		"flush_interval", cfg.FlushInterval.String(), "ops", opsSrv.Addr())

	runErr := sink.New(sink.Config{
		Consumer: cons, Store: rollups.Track(chstore.NewWriter(conn)), Logger: log,
		BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval, ShutdownTimeout: cfg.ShutdownTimeout,
		MaxMsgBytes: int(nc.MaxPayload()), Backlog: rollups.SetBacklog, Metrics: metrics,
	}).Run(ctx)

	// The last batch is stored: bring the rollups up to date with it. What
	// is not done in time is repaired by the next start-up's reconcile.
	flushCtx, cancelFlush := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	if err := rollups.Flush(flushCtx); err != nil {
		log.Warn("refresh rollups at shutdown", "err", err)
	}
	cancelFlush()
	stopRollups()
	<-rollupsDone

	if err := svc.Stop(); err != nil {
		log.Warn("stop micro service", "err", err)
	}
	if err := drainNATS(nc, cfg.ShutdownTimeout); err != nil {
		log.Warn("drain nats", "err", err)
	}
	log.Info("analytics stopped")
	return runErr
}

func applyMigrations(ctx context.Context, conn driver.Conn, log *slog.Logger, cluster migrate.Cluster) error {
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	migrations, err := migrate.Load(files)
	if err != nil {
		return err
	}
	n, err := migrate.New(conn, log, nil).OnCluster(cluster).Apply(ctx, migrations)
	if err != nil {
		return fmt.Errorf("migrate (%d applied before the failure): %w", n, err)
	}
	log.Info("schema up to date", "migrations", len(migrations), "applied", n)
	return nil
}

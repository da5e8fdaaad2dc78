package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/config"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/ocr"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/streams"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/worker"
	"github.com/ocrstack/ocrstack/ops"
)

// Version is reported to the NATS micro framework.
const Version = "0.1.0"

const (
	setupTimeout = 30 * time.Second
	drainTimeout = 10 * time.Second
)

// run starts the worker and blocks until ctx is cancelled, then shuts down
// in reverse order: health endpoint, job intake and in-flight jobs, NATS.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	var level slog.LevelVar // info until the configuration says otherwise
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: &level}))
	installed, err := ocr.Installed()
	if err != nil {
		return err
	}
	cfg, err := config.Load(getenv, installed)
	if err != nil {
		return fmt.Errorf("load config: %w", err)
	}
	level.Set(cfg.LogLevel)

	closed := make(chan struct{})
	nc, err := nats.Connect(cfg.NATSURL,
		nats.Name(contracts.WorkerName),
		// A private inbox prefix: replies to the worker go where only its
		// NATS user may subscribe.
		nats.CustomInboxPrefix(contracts.WorkerInboxPrefix),
		nats.MaxReconnects(-1),
		nats.DrainTimeout(drainTimeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil on a deliberate close
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
	)
	if err != nil {
		return fmt.Errorf("connect to nats: %w", err)
	}
	defer nc.Close()

	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	setupCtx, cancel := context.WithTimeout(ctx, setupTimeout)
	cons, images, err := streams.Ensure(setupCtx, js, cfg.AckWait, streams.WithReplicas(cfg.Replicas))
	cancel()
	if err != nil {
		return err
	}
	reg := ops.NewRegistry()
	metrics := worker.NewMetrics(reg)
	w, err := worker.New(worker.Config{
		JetStream: js, Consumer: cons, Images: images,
		Concurrency: cfg.Concurrency, Languages: cfg.Languages, Installed: cfg.Installed,
		Logger: log, JobDeadline: cfg.JobDeadline, Metrics: metrics, Nice: cfg.Nice,
	})
	if err != nil {
		return fmt.Errorf("new worker: %w", err)
	}
	opsSrv, err := ops.Start(ops.Config{Addr: cfg.OpsAddr, Registry: reg, Logger: log,
		Ready: func(context.Context) map[string]error {
			return map[string]error{"nats": ops.NATSCheck(nc), "tesseract": w.Ready()}
		}})
	if err != nil {
		return err
	}
	defer opsSrv.Stop(log)
	metrics.WatchLag(ctx, cons)
	svc, err := micro.AddService(nc, micro.Config{
		Name:        contracts.WorkerName,
		Version:     Version,
		Description: "OCR worker: recognises text in images from the jobs stream",
		Metadata: map[string]string{
			"languages":   strings.Join(cfg.Languages, "+"),
			"installed":   strings.Join(cfg.Installed, "+"),
			"concurrency": strconv.Itoa(cfg.Concurrency),
		},
	})
	if err != nil {
		return fmt.Errorf("register micro service: %w", err)
	}
	// Stop answering health checks as soon as shutdown begins.
	stopSvc := context.AfterFunc(ctx, func() {
		if err := svc.Stop(); err != nil {
			log.Warn("stop micro service", "err", err)
		}
	})
	defer stopSvc()

	log.Info("ocr-worker running", "nats_url", nc.ConnectedUrlRedacted(), "version", Version, "ops", opsSrv.Addr(), "nice", cfg.Nice)
	runErr := w.Run(ctx)
	if err := nc.Drain(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("drain nats: %w", err))
	}
	select {
	case <-closed:
	case <-time.After(drainTimeout + time.Second):
		runErr = errors.Join(runErr, errors.New("drain nats: connection still open"))
	}
	log.Info("ocr-worker stopped")
	return runErr
}

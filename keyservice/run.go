package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/config"
	"github.com/ocrstack/ocrstack/keyservice/internal/service"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
	"github.com/ocrstack/ocrstack/keyservice/internal/streams"
	"github.com/ocrstack/ocrstack/ops"
	"github.com/ocrstack/ocrstack/ops/emit"
)

// run starts keyservice and serves until ctx is done, then shuts down in
// reverse order: stop taking requests, answer those in flight, flush events,
// drain the connection.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})).With("service", contracts.KeyServiceName)

	closed := make(chan struct{})
	// A private inbox prefix: replies to keyservice (its key-bucket reads
	// among them) go where only its NATS user may subscribe.
	nc, err := nats.Connect(cfg.NATSURL, nats.Name(contracts.KeyServiceName), nats.CustomInboxPrefix(contracts.KeyServiceInboxPrefix), nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond), nats.RetryOnFailedConnect(true),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		return fmt.Errorf("connect to nats %s: %w", ops.RedactURL(cfg.NATSURL), err)
	}
	defer nc.Close()
	reg := ops.NewRegistry()
	metrics := service.NewMetrics(reg)
	var serving atomic.Bool
	opsSrv, err := ops.Start(ops.Config{Addr: cfg.OpsAddr, Registry: reg, Logger: log, Ready: readiness(nc, &serving)})
	if err != nil {
		return err
	}
	defer opsSrv.Stop(log)
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	emitter, err := emit.New(emit.Config{Conn: nc, Logger: log, Registerer: reg, Namespace: "ocr_keyservice"})
	if err != nil {
		return err
	}
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := streams.Ensure(setupCtx, js, contracts.EventsStreamSpec, streams.WithReplicas(cfg.Replicas)); err != nil {
		return err
	}
	st, err := store.Open(setupCtx, js, store.WithReplicas(cfg.KeysReplicas), store.WithGroupObserver(metrics.Group), store.WithConflictObserver(metrics.Conflict))
	if err != nil {
		return err
	}
	svc := service.New(service.Config{Store: st, Events: emitter, JS: js, Logger: log, Metrics: metrics})
	m, err := svc.Register(nc)
	if err != nil {
		return fmt.Errorf("register service: %w", err)
	}
	serving.Store(true)
	log.Info("serving", "subjects", svc.Subjects(), "nats", nc.ConnectedUrlRedacted(), "ops", opsSrv.Addr())
	<-ctx.Done()

	log.Info("shutting down")
	serving.Store(false)
	if err := m.Stop(); err != nil {
		log.Warn("stop service", "err", err)
	}
	svc.Wait()
	// Idempotency records still being copied out of their Docs finish
	// (each within its own timeout); one cut short is copied later by
	// whichever replica writes its Doc next.
	st.WaitCopies()
	if err := st.Close(); err != nil {
		log.Warn("stop watching keys", "err", err)
	}
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	if n := emitter.Drain(drainCtx); n > 0 {
		log.Error("verification events lost at shutdown: not acknowledged in time", "pending", n)
	}
	cancelDrain()
	emitter.Close()
	if err := nc.Drain(); err != nil {
		log.Warn("drain", "err", err)
	}
	select {
	case <-closed:
	case <-time.After(cfg.ShutdownTimeout):
		log.Warn("nats drain timed out")
	}
	return nil
}

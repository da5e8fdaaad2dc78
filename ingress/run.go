package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/admission"
	"github.com/ocrstack/ocrstack/ingress/internal/callback"
	"github.com/ocrstack/ocrstack/ingress/internal/config"
	"github.com/ocrstack/ocrstack/ingress/internal/expiry"
	"github.com/ocrstack/ocrstack/ingress/internal/httpapi"
	"github.com/ocrstack/ocrstack/ingress/internal/idempotency"
	"github.com/ocrstack/ocrstack/ingress/internal/jobs"
	"github.com/ocrstack/ocrstack/ingress/internal/keysclient"
	"github.com/ocrstack/ocrstack/ingress/internal/refunds"
	"github.com/ocrstack/ocrstack/ingress/internal/workerinfo"
	"github.com/ocrstack/ocrstack/ops"
	"github.com/ocrstack/ocrstack/ops/emit"
)

// run serves HTTP until ctx is done, then stops taking requests, lets those
// in flight finish, and drains NATS.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})).With("service", "ingress")

	closed := make(chan struct{})
	// A private inbox prefix: replies to the ingress (keyservice's answers
	// among them) go where only its NATS user may subscribe.
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("ingress"), nats.CustomInboxPrefix(contracts.IngressInboxPrefix), nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond), nats.RetryOnFailedConnect(true),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		return fmt.Errorf("connect to nats %s: %w", ops.RedactURL(cfg.NATSURL), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	submitter, err := jobs.New(setupCtx, nc, js, jobs.WithReplicas(cfg.Replicas))
	if err != nil {
		return err
	}
	idem, err := idempotency.New(setupCtx, idempotency.Config{JetStream: js, Replicas: cfg.Replicas})
	if err != nil {
		return err
	}
	gate, err := admission.New(admission.Config{MaxInFlight: cfg.MaxInFlight, MaxQueued: cfg.MaxQueued, Streams: js, Logger: log})
	if err != nil {
		return err
	}
	reg := ops.NewRegistry()
	metrics := newMetrics(reg, gate)
	opsSrv, err := ops.Start(ops.Config{Addr: cfg.OpsAddr, Registry: reg, Logger: log,
		Ready: func(context.Context) map[string]error { return map[string]error{"nats": ops.NATSCheck(nc)} }})
	if err != nil {
		return err
	}
	defer opsSrv.Stop(log)
	keys := keysclient.New(nc, cfg.CallTimeout).WithLogger(log)
	refunder := refunds.New(js, keys, log)
	if err := refunder.Start(setupCtx); err != nil {
		return err
	}
	defer refunder.Stop()
	// Jobs that aged out of the jobs stream unprocessed are failed and
	// refunded (see package expiry).
	sweeper, err := expiry.New(setupCtx, expiry.Config{JetStream: js, Keys: keys, Logger: log, Margin: cfg.ExpiryMargin, Interval: cfg.ExpiryInterval})
	if err != nil {
		return err
	}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	sweepDone := make(chan struct{})
	go func() { defer close(sweepDone); sweeper.Run(sweepCtx) }()
	defer func() { stopSweep(); <-sweepDone }()
	var callbacks *callback.Deliverer
	if cfg.CallbackSecret != "" {
		callbacks, err = callback.New(callback.Config{
			JetStream: js, Records: submitter, Body: httpapi.JobBody, Secret: []byte(cfg.CallbackSecret),
			Client: callback.NewClient(cfg.CallbackAllowPrivate), Logger: log,
		})
		if err != nil {
			return err
		}
		if err := callbacks.Start(setupCtx); err != nil {
			return err
		}
	}
	// Low-credit notices are kept until the events stream has them (see
	// package ops/emit), and drained on shutdown before NATS is.
	noticeEvents, err := emit.New(emit.Config{Conn: nc, Logger: log, Registerer: reg, Namespace: "ocr_ingress_notice"})
	if err != nil {
		return err
	}
	defer noticeEvents.Close()
	acct, err := setupAccounts(cfg, nc, js, keys, noticeEvents, log)
	if err != nil {
		return err
	}
	if acct.webhook != nil {
		if err := acct.webhook.Start(setupCtx); err != nil {
			return err
		}
	}
	app := httpapi.New(httpapi.Config{
		Accounts: acct.accounts, Usage: acct.usage, Notices: acct.notifier,
		Keys: keys, Jobs: submitter, Idempotency: idem, Admission: gate, Logger: log,
		// A connection limit is shared fairly only if connections end with
		// their response; a new loopback or LAN connection costs far less
		// than an OCR job.
		DisableKeepalive: cfg.MaxConns > 0,
		TrustedProxies:   cfg.TrustedProxies,
		Ready:            readiness(nc), APIID: cfg.APIID, RootKey: cfg.RootKey, MaxImageBytes: cfg.MaxImageBytes,
		SyncWait: cfg.SyncWait, Callbacks: callbacks != nil, CallTimeout: cfg.CallTimeout, Trial: acct.trial,
		Languages:   workerinfo.New(workerinfo.Config{Conn: nc, Logger: log}),
		SignupLimit: int64(cfg.SignupLimit), SignupWindow: time.Hour, Metrics: metrics,
	})
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	if cfg.MaxConns > 0 {
		// Bodies are streamed, so this bounds sockets and goroutines; the
		// admission gate bounds the memory of uploads (package admission).
		ln = admission.LimitListener(ln, cfg.MaxConns)
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	log.Info("serving", "addr", "http://"+ln.Addr().String(), "nats", nc.ConnectedUrlRedacted(), "v2_api", cfg.RootKey != "", "callbacks", callbacks != nil, "email_verification", acct.mail, "ops", opsSrv.Addr())

	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutCtx, cancelShut := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancelShut()
	if err := app.ShutdownWithContext(shutCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if acct.webhook != nil {
		if err := acct.webhook.Stop(shutCtx); err != nil {
			log.Warn("notice webhook shutdown", "err", err)
		}
	}
	if callbacks != nil {
		if err := callbacks.Stop(shutCtx); err != nil {
			log.Warn("callbacks shutdown", "err", err)
		}
	}
	// Notices not yet stored, and the background refunds (verifications
	// that got no answer, jobs the queue would not take), are sent before
	// NATS is drained; what is left when the bound runs out is logged.
	if left := noticeEvents.Drain(shutCtx); left > 0 {
		log.Error("low-credit notices lost at shutdown: not acknowledged in time", "pending", left)
	}
	noticeEvents.Close()
	keys.Close(shutCtx)
	if err := nc.Drain(); err != nil {
		log.Warn("drain", "err", err)
	}
	select {
	case <-closed:
	case <-shutCtx.Done():
		log.Warn("nats drain timed out")
	}
	return nil
}

// readiness checks NATS and pings each service on $SRV.PING.<name>: ready
// means at least one instance of each answered.
func readiness(nc *nats.Conn) func(ctx context.Context) map[string]error {
	return func(ctx context.Context) map[string]error {
		out := map[string]error{"nats": nil}
		if !nc.IsConnected() {
			out["nats"] = errors.New("not connected")
		}
		for _, name := range []string{contracts.KeyServiceName, contracts.WorkerName, contracts.AnalyticsName} {
			_, err := nc.RequestWithContext(ctx, "$SRV.PING."+name, nil)
			if err != nil {
				err = errors.New("no instance answers")
			}
			out[name] = err
		}
		return out
	}
}

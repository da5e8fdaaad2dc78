package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ocrstack/ocrstack/analytics/internal/config"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops"
)

var errDrainTimeout = errors.New("nats drain timed out")

// connectNATS connects with unlimited reconnects, logging connection
// changes: an outage of NATS pauses the sink, it does not stop the service.
func connectNATS(cfg config.Config, log *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(cfg.NATSURL,
		nats.Name(contracts.AnalyticsName),
		// A private inbox prefix: replies to analytics go where only its
		// NATS user may subscribe.
		nats.CustomInboxPrefix(contracts.AnalyticsInboxPrefix),
		nats.MaxReconnects(-1),
		nats.DrainTimeout(cfg.ShutdownTimeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Error("nats async error", "err", err, "subject", subject)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", ops.RedactURL(cfg.NATSURL), err)
	}
	return nc, nil
}

// drainNATS flushes pending acknowledgements and closes the connection,
// waiting at most timeout.
func drainNATS(nc *nats.Conn, timeout time.Duration) error {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		return fmt.Errorf("drain nats: %w", err)
	}
	select {
	case <-closed:
		return nil
	case <-time.After(timeout):
		return errDrainTimeout
	}
}

package notices

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/callback"
	"github.com/ocrstack/ocrstack/ops/jsetup"
)

// Delivery settings of the webhook.
const (
	// ConsumerName is the durable consumer the replicas share.
	ConsumerName = "ingress-notices"
	// MaxDeliver bounds the attempts to deliver one notice.
	MaxDeliver     = 8
	attemptTimeout = 10 * time.Second
)

// backoff is the delay before each retry, the last one repeating.
var backoff = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}

// WebhookConfig holds a Webhook's settings.
type WebhookConfig struct {
	JetStream jetstream.JetStream
	// URL receives each notice as a JSON POST.
	URL string
	// Secret signs each POST as job callbacks are (callback.Sign).
	Secret []byte
	// Client sends the POSTs (callback.NewClient).
	Client *http.Client
	Logger *slog.Logger
}

// Webhook delivers notices to a URL. Start it, then Stop it.
type Webhook struct {
	cfg  WebhookConfig
	cc   jetstream.ConsumeContext
	wg   sync.WaitGroup
	stop context.CancelFunc
}

// NewWebhook checks cfg.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if cfg.JetStream == nil || cfg.URL == "" || len(cfg.Secret) == 0 || cfg.Client == nil || cfg.Logger == nil {
		return nil, errors.New("notices: jetstream, url, secret, client and logger are required")
	}
	return &Webhook{cfg: cfg}, nil
}

// Start creates or updates the durable consumer on the events stream (it
// must exist: jobs.New creates it) and starts delivering.
func (w *Webhook) Start(ctx context.Context) error {
	cfg := jetstream.ConsumerConfig{
		Durable: ConsumerName, Description: "ingress replicas delivering notices to the webhook",
		FilterSubject: contracts.SubjectEventsNotice, DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 3 * attemptTimeout, MaxDeliver: MaxDeliver, MaxAckPending: 256,
	}
	// Retried on a lost reply: see package jsetup.
	var cons jetstream.Consumer
	err := jsetup.Retry(ctx, func(ctx context.Context) (err error) {
		cons, err = w.cfg.JetStream.CreateOrUpdateConsumer(ctx, contracts.EventsStream, cfg)
		return err
	})
	if err != nil {
		return fmt.Errorf("create or update consumer %s: %w", ConsumerName, err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		w.wg.Add(1)
		defer w.wg.Done()
		w.settle(msg, w.postAll(runCtx, msg))
	})
	if err != nil {
		stop()
		return fmt.Errorf("consume %s: %w", ConsumerName, err)
	}
	w.cc, w.stop = cc, stop
	return nil
}

// Stop takes no more notices and waits, until ctx is done, for the one
// being posted.
func (w *Webhook) Stop(ctx context.Context) error {
	if w.cc == nil {
		return nil
	}
	w.cc.Drain()
	done := make(chan struct{})
	go func() { <-w.cc.Closed(); w.wg.Wait(); close(done) }()
	defer w.stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("notice in flight at shutdown: %w", ctx.Err())
	}
}

// errPermanent marks a notice no retry can deliver.
var errPermanent = errors.New("permanent failure")

// postAll posts each notice msg carries: one, or a batch (see
// contracts.SplitEventBatch). A notice that is not one is skipped (logged);
// any other failure fails the message, whose redelivery posts its notices
// again: receivers deduplicate by X-OCR-Notice-Id, as with any retry.
func (w *Webhook) postAll(ctx context.Context, msg jetstream.Msg) error {
	bodies, err := contracts.EventBodies(msg.Headers().Get(contracts.HeaderEventBatch), msg.Data())
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	if len(bodies) == 1 {
		return w.post(ctx, bodies[0])
	}
	for i, body := range bodies {
		err := w.post(ctx, body)
		if errors.Is(err, errPermanent) {
			w.cfg.Logger.Warn("notice dropped", "batch_line", i+1, "err", err)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// post sends one signed attempt; only a 2xx answer is a delivery.
func (w *Webhook) post(ctx context.Context, body []byte) error {
	var ev contracts.NoticeEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.EventID == "" {
		return fmt.Errorf("%w: not a notice", errPermanent)
	}
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ocrstack-notices/1")
	req.Header.Set("X-OCR-Notice-Id", ev.EventID)
	req.Header.Set(callback.SignatureHeader, callback.Sign(w.cfg.Secret, time.Now().Unix(), body))
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return nil
}

// settle is the one place that maps a delivery's outcome to Ack, Nak with
// a delay, or Term.
func (w *Webhook) settle(msg jetstream.Msg, err error) {
	var n uint64 = 1
	if md, mdErr := msg.Metadata(); mdErr == nil {
		n = md.NumDelivered
	}
	var serr error
	switch {
	case err == nil:
		serr = msg.Ack()
	case errors.Is(err, errPermanent) || n >= MaxDeliver:
		w.cfg.Logger.Warn("notice dropped", "attempt", n, "err", err)
		serr = msg.Term()
	default:
		d := backoff[min(int(n)-1, len(backoff)-1)]
		w.cfg.Logger.Info("notice webhook failed, will retry", "attempt", n, "retry_in", d.String(), "err", err)
		serr = msg.NakWithDelay(d)
	}
	if serr != nil {
		w.cfg.Logger.Warn("settle notice", "err", serr)
	}
}

// Package callback tells a job's owner that the job ended. For every result
// on the results stream whose job record names a callbackUrl, it POSTs the
// job's state (the body of GET /v1/jobs/{id}) to that URL, signed with
// HMAC-SHA256 (see Sign). All ingress replicas share one durable consumer,
// so each result is delivered by one of them, at least once: a failed
// attempt (no 2xx within AttemptTimeout) is retried after a growing delay,
// up to MaxDeliver attempts.
//
// A receiver checks X-OCR-Signature ("t=<unix>,v1=<hex>") by computing
// HMAC-SHA256 under the shared secret of "<t>.<raw body>", comparing it in
// constant time with v1, and refusing a t far from its clock (Verify does
// this). Retries re-sign with a new t, so a receiver should treat the same
// jobId twice as one event.
package callback

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/jobs"
	"github.com/ocrstack/ocrstack/ops/jsetup"
)

// Delivery settings.
const (
	// MaxDeliver bounds the attempts to deliver one callback.
	MaxDeliver = 8
	// AttemptTimeout bounds one attempt, connection to response headers.
	AttemptTimeout = 10 * time.Second
	// ackWait is how long an attempt may take before the server hands the
	// result to another replica: the attempt plus reading the record.
	ackWait = 3 * AttemptTimeout
	// DefaultConcurrency is the number of callbacks one replica sends at once.
	DefaultConcurrency = 16
)

// DefaultBackoff is the delay before the second, third... attempt: about
// 2.5 hours from the first attempt to the last.
var DefaultBackoff = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute}

// errPermanent marks a failure no retry can fix.
var errPermanent = errors.New("permanent failure")

// Records reads job records; errors are jobs.ErrNotFound or another.
type Records interface {
	Record(ctx context.Context, jobID string) (contracts.JobRecord, error)
}

// Config holds a Deliverer's dependencies and settings.
type Config struct {
	JetStream jetstream.JetStream
	Records   Records
	// Body renders what is POSTed for a job that ended (httpapi.JobBody).
	Body func(rec contracts.JobRecord, res *contracts.OCRResult) ([]byte, error)
	// Secret signs every callback; required.
	Secret []byte
	// Client sends the callbacks; nil means NewClient(false).
	Client *http.Client
	// Backoff is the delay before each retry, the last one repeating; nil
	// means DefaultBackoff.
	Backoff []time.Duration
	// Concurrency is the number of callbacks sent at once; 0 means
	// DefaultConcurrency.
	Concurrency int
	Logger      *slog.Logger
	// Now is the clock of the signatures; nil means time.Now.
	Now func() time.Time
}

// Deliverer sends callbacks. Create it with New, then Start and Stop it.
type Deliverer struct {
	cfg  Config
	sem  chan struct{}
	wg   sync.WaitGroup
	cc   jetstream.ConsumeContext
	stop context.CancelFunc
}

// New checks cfg and applies defaults. It starts nothing.
func New(cfg Config) (*Deliverer, error) {
	if cfg.JetStream == nil || cfg.Records == nil || cfg.Body == nil || cfg.Logger == nil || len(cfg.Secret) == 0 {
		return nil, errors.New("callback: jetstream, records, body, logger and secret are required")
	}
	if cfg.Client == nil {
		cfg.Client = NewClient(false)
	}
	if len(cfg.Backoff) == 0 {
		cfg.Backoff = DefaultBackoff
	}
	cfg.Concurrency = cmp.Or(cfg.Concurrency, DefaultConcurrency)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Deliverer{cfg: cfg, sem: make(chan struct{}, cfg.Concurrency)}, nil
}

// ConsumerConfig is the durable consumer every replica shares. It starts
// at results published after its creation: older jobs were submitted before
// any replica delivered callbacks.
func ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable: contracts.CallbacksConsumer, Description: "ingress replicas delivering job callbacks",
		FilterSubject: contracts.SubjectResultsAll, DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait, MaxDeliver: MaxDeliver, MaxAckPending: 1024,
	}
}

// Start creates or updates the consumer (the results stream must exist:
// jobs.New creates it) and starts delivering.
func (d *Deliverer) Start(ctx context.Context) error {
	// Retried on a lost reply: see package jsetup.
	var cons jetstream.Consumer
	err := jsetup.Retry(ctx, func(ctx context.Context) (err error) {
		cons, err = d.cfg.JetStream.CreateOrUpdateConsumer(ctx, contracts.ResultsStream, ConsumerConfig())
		return err
	})
	if err != nil {
		return fmt.Errorf("create or update consumer %s: %w", contracts.CallbacksConsumer, err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		// Waiting for a free slot holds back the next message: at most
		// Concurrency callbacks are in flight.
		d.sem <- struct{}{}
		d.wg.Go(func() {
			defer func() { <-d.sem }()
			d.handle(runCtx, msg)
		})
	}, jetstream.PullMaxMessages(d.cfg.Concurrency))
	if err != nil {
		stop()
		return fmt.Errorf("consume %s: %w", contracts.CallbacksConsumer, err)
	}
	d.cc, d.stop = cc, stop
	return nil
}

// Stop takes no more results, lets the callbacks in flight finish until
// ctx is done, then cancels them (their results are delivered again).
func (d *Deliverer) Stop(ctx context.Context) error {
	if d.cc == nil {
		return nil
	}
	d.cc.Drain()
	done := make(chan struct{})
	go func() {
		<-d.cc.Closed()
		d.wg.Wait()
		close(done)
	}()
	defer d.stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("callbacks in flight at shutdown: %w", ctx.Err())
	}
}

// handle delivers one result's callback, if its job has one, and settles it.
func (d *Deliverer) handle(ctx context.Context, msg jetstream.Msg) {
	jobID := strings.TrimPrefix(msg.Subject(), contracts.SubjectResultsPrefix)
	log := d.cfg.Logger.With("job_id", jobID, "request_id", msg.Headers().Get(contracts.HeaderRequestID))
	d.settle(msg, d.deliver(ctx, jobID, msg.Data()), log)
}

// deliver POSTs the job's state to its callbackUrl. It returns nil when
// done or when the job has no callback, an errPermanent error when no retry
// can help, and any other error for a retry.
func (d *Deliverer) deliver(ctx context.Context, jobID string, data []byte) error {
	rctx, cancel := context.WithTimeout(ctx, AttemptTimeout)
	rec, err := d.cfg.Records.Record(rctx, jobID)
	cancel()
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		return nil // not submitted through the ingress, or expired
	case err != nil:
		return fmt.Errorf("read record: %w", err)
	case rec.CallbackURL == "":
		return nil
	}
	var res contracts.OCRResult
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("%w: decode result: %w", errPermanent, err)
	}
	body, err := d.cfg.Body(rec, &res)
	if err != nil {
		return fmt.Errorf("%w: render body: %w", errPermanent, err)
	}
	return d.post(ctx, rec.CallbackURL, jobID, body)
}

// post sends one signed attempt; only a 2xx answer is a delivery.
func (d *Deliverer) post(ctx context.Context, url, jobID string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: build request: %w", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ocrstack-callbacks/1")
	req.Header.Set("X-OCR-Job-Id", jobID)
	req.Header.Set(SignatureHeader, Sign(d.cfg.Secret, d.cfg.Now().Unix(), body))
	resp, err := d.cfg.Client.Do(req)
	if errors.Is(err, errForbiddenAddress) {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("callback answered %d", resp.StatusCode)
	}
	return nil
}

// settle is the one place that maps a delivery's outcome to Ack, Nak with
// a delay, or Term.
func (d *Deliverer) settle(msg jetstream.Msg, err error, log *slog.Logger) {
	var delivered uint64 = 1
	if md, mdErr := msg.Metadata(); mdErr == nil {
		delivered = md.NumDelivered
	}
	var settleErr error
	switch {
	case err == nil:
		settleErr = msg.Ack()
	case errors.Is(err, errPermanent):
		log.Warn("callback dropped", "attempt", delivered, "err", err)
		settleErr = msg.Term()
	case delivered >= MaxDeliver:
		log.Warn("callback given up", "attempt", delivered, "err", err)
		settleErr = msg.Term()
	default:
		delay := d.cfg.Backoff[min(int(delivered)-1, len(d.cfg.Backoff)-1)]
		log.Info("callback failed, will retry", "attempt", delivered, "retry_in", delay.String(), "err", err)
		settleErr = msg.NakWithDelay(delay)
	}
	if settleErr != nil {
		log.Warn("settle callback", "err", settleErr)
	}
}

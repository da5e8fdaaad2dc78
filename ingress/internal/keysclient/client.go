// Package keysclient calls keyservice over NATS request/reply.
//
// A verification that spends (one with an idempotency key, which names the
// job it pays for) and goes unanswered may still have charged the key: its
// commit can land while its answer is lost (a NATS restart, a keyservice
// killed or timing out on the commit's ack). The caller then refuses the
// request (503) and never runs the job, so Verify undoes the charge itself:
// it sends keys.v1.refund naming the key and the idempotency key, in the
// background, retried with backoff for up to five minutes. Keyservice
// refunds the charge if the verification committed, and otherwise cancels
// the idempotency key so that the verification, arriving late, charges
// nothing (see contracts.RefundRequest). RefundLater sends any other
// refund the same way: the ingress's refund of a job the queue would not
// take, made exactly while NATS or keyservice is likely down. At most
// 10 000 such refunds wait at a time; past that (keyservice gone for
// minutes under load) one is logged and not sent. They live in memory: an
// ingress killed meanwhile loses them.
package keysclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops"
)

// ErrUnavailable means no keyservice answered in time, or one answered
// UNAVAILABLE: its storage did not answer. The latter also unwraps to the
// reply's *contracts.Error.
var ErrUnavailable = errors.New("keyservice unavailable")

// Bounds on undoing unanswered verifications.
const (
	// cancelFor is how long the refund of an unanswered verification is
	// retried: far beyond a NATS or keyservice restart.
	cancelFor = 5 * time.Minute
	// maxCancels bounds the refunds of unanswered verifications waiting.
	maxCancels = 10_000
)

// Client is a keyservice client.
type Client struct {
	nc      *nats.Conn
	timeout time.Duration
	log     *slog.Logger

	// cancels counts the refunds of unanswered verifications in flight;
	// cancelling tracks them for Close.
	cancels    atomic.Int64
	cancelling sync.WaitGroup
	stop       chan struct{}
	stopOnce   sync.Once
	// cancelFor, minBackoff and maxBackoff shape their retries.
	cancelFor, minBackoff, maxBackoff time.Duration
}

// New returns a client whose calls each wait at most timeout.
func New(nc *nats.Conn, timeout time.Duration) *Client {
	return &Client{nc: nc, timeout: timeout, log: slog.New(slog.DiscardHandler), stop: make(chan struct{}),
		cancelFor: cancelFor, minBackoff: 200 * time.Millisecond, maxBackoff: 10 * time.Second}
}

// WithLogger makes c log the background refunds that fail for good on
// log.
func (c *Client) WithLogger(log *slog.Logger) *Client {
	c.log = log
	return c
}

// Verify verifies a key. An outcome such as NOT_FOUND is a response, not an
// error; errors are ErrUnavailable or a *contracts.Error from keyservice.
//
// When the verification has an idempotency key and fails without a
// decided answer (ErrUnavailable, which an UNAVAILABLE reply is too, or
// INTERNAL or TIMEOUT from keyservice), Verify also starts undoing
// whatever it may have charged: see the package doc. The caller must
// treat such a verification as refused.
func (c *Client) Verify(ctx context.Context, req contracts.VerifyKeyRequest) (contracts.VerifyKeyResponse, error) {
	var resp contracts.VerifyKeyResponse
	err := c.Call(ctx, contracts.SubjectKeysVerify, req, &resp)
	if err != nil && req.IdempotencyKey != "" && undecided(err) {
		c.cancel(ctx, req)
	}
	return resp, err
}

// undecided says whether a verification that failed with err may have
// charged anyway.
func undecided(err error) bool {
	var ce *contracts.Error
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	return errors.As(err, &ce) && (ce.Code == contracts.CodeInternal || ce.Code == contracts.CodeTimeout)
}

// cancel refunds the unanswered verification req in the background until
// keyservice answers, for at most cancelFor.
func (c *Client) cancel(ctx context.Context, req contracts.VerifyKeyRequest) {
	c.RefundLater(ctx, contracts.RefundRequest{Key: req.Key, IdempotencyKey: req.IdempotencyKey, Reason: "verification unanswered"})
}

// RefundLater sends refund in the background, retried with backoff until
// keyservice answers, for at most five minutes; a refusal (BAD_REQUEST)
// or giving up is logged, naming the refund's reason, never its key.
// Close waits for it. It never blocks.
func (c *Client) RefundLater(ctx context.Context, refund contracts.RefundRequest) {
	requestID, _ := ctx.Value(requestIDKey{}).(string)
	log := c.log.With("request_id", requestID, "job_id", refund.IdempotencyKey, "reason", refund.Reason)
	if refund.KeyID != "" {
		log = log.With("key_id", refund.KeyID)
	}
	if c.cancels.Add(1) > maxCancels {
		c.cancels.Add(-1)
		log.Error("charge not refunded: too many refunds waiting")
		return
	}
	c.cancelling.Add(1)
	go func() {
		defer c.cancelling.Done()
		defer c.cancels.Add(-1)
		callCtx := WithRequestID(context.Background(), requestID)
		deadline := time.Now().Add(c.cancelFor)
		wait := c.minBackoff
		for attempt := 1; ; attempt++ {
			_, err := c.Refund(callCtx, refund)
			var ce *contracts.Error
			switch {
			case err == nil:
				return
			case errors.As(err, &ce) && ce.Code == contracts.CodeBadRequest:
				log.Error("charge not refunded: refused", "err", err)
				return
			case time.Now().Add(wait).After(deadline):
				log.Error("charge not refunded: keyservice unavailable", "attempts", attempt, "err", err)
				return
			}
			select {
			case <-time.After(wait):
			case <-c.stop:
				log.Error("charge not refunded: shutting down", "attempts", attempt)
				return
			}
			wait = min(2*wait, c.maxBackoff)
		}
	}()
}

// Close waits until the background refunds (of unanswered verifications
// and RefundLater) are answered, or ctx ends, then abandons the rest. The Client may not be used after.
func (c *Client) Close(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		c.cancelling.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		c.stopOnce.Do(func() { close(c.stop) })
		<-done
	}
}

// Cancelling is the number of background refunds (of unanswered
// verifications and RefundLater) waiting to be answered.
func (c *Client) Cancelling() int { return int(c.cancels.Load()) }

// Refund gives back the credits that the VALID verification of key
// req.KeyID made with idempotency key req.IdempotencyKey (the job id the
// ingress verified with) spent, at most once: Refunded is false for a
// repeat, for a denied verification and past contracts.RefundWindow, so a
// refund is safe to retry on ErrUnavailable.
func (c *Client) Refund(ctx context.Context, req contracts.RefundRequest) (contracts.RefundResponse, error) {
	var resp contracts.RefundResponse
	err := c.Call(ctx, contracts.SubjectKeysRefund, req, &resp)
	return resp, err
}

// Create creates a key and returns it, the only time it is ever returned.
func (c *Client) Create(ctx context.Context, req contracts.CreateKeyRequest) (contracts.CreateKeyResponse, error) {
	var resp contracts.CreateKeyResponse
	err := c.Call(ctx, contracts.SubjectKeysCreate, req, &resp)
	return resp, err
}

// Call sends req, encoded as JSON, to one of the keyservice subjects in
// contracts and decodes the reply into resp (a pointer). It fails with
// ErrUnavailable when nobody answers in time, or with a *contracts.Error when
// keyservice answers with a micro error reply. The request ID set with
// WithRequestID travels in the contracts.HeaderRequestID header.
func (c *Client) Call(ctx context.Context, subject string, req, resp any) error {
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode %s request: %w", subject, err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = b
	if id, ok := ctx.Value(requestIDKey{}).(string); ok && id != "" {
		msg.Header.Set(contracts.HeaderRequestID, id)
	}
	if tp := ops.TraceparentFrom(ctx); tp != "" {
		msg.Header.Set(ops.HeaderTraceparent, tp)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	reply, err := c.nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", subject, ErrUnavailable, err)
	}
	if code := reply.Header.Get(micro.ErrorCodeHeader); code != "" {
		ce := replyError(code, reply)
		if ce.Code == contracts.CodeUnavailable {
			// Keyservice answered, but its storage did not: an outage
			// like keyservice's own, and its callers' 503 already.
			return fmt.Errorf("%s: %w: %w", subject, ErrUnavailable, ce)
		}
		return ce
	}
	if err := json.Unmarshal(reply.Data, resp); err != nil {
		return fmt.Errorf("decode %s reply: %w", subject, err)
	}
	return nil
}

// WithRequestID returns a context whose calls carry the caller's request ID.
// A traceparent set with ops.WithTraceparent travels too, in the
// ops.HeaderTraceparent header.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

type requestIDKey struct{}

// replyError reads a micro error reply: the header holds the code, the body
// a contracts.Error whose message is safe to show; the header's description
// stands in when the body is not one.
func replyError(code string, reply *nats.Msg) *contracts.Error {
	e := &contracts.Error{Code: contracts.Code(code), Message: reply.Header.Get(micro.ErrorHeader)}
	var body contracts.Error
	if json.Unmarshal(reply.Data, &body) == nil && body.Message != "" {
		e.Message = body.Message
	}
	return e
}

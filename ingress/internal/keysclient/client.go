// Package keysclient calls keyservice over NATS request/reply.
package keysclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops"
)

// ErrUnavailable means no keyservice answered in time.
var ErrUnavailable = errors.New("keyservice unavailable")

// Client is a keyservice client.
type Client struct {
	nc      *nats.Conn
	timeout time.Duration
}

// New returns a client whose calls each wait at most timeout.
func New(nc *nats.Conn, timeout time.Duration) *Client {
	return &Client{nc: nc, timeout: timeout}
}

// Verify verifies a key. An outcome such as NOT_FOUND is a response, not an
// error; errors are ErrUnavailable or a *contracts.Error from keyservice.
func (c *Client) Verify(ctx context.Context, req contracts.VerifyKeyRequest) (contracts.VerifyKeyResponse, error) {
	var resp contracts.VerifyKeyResponse
	err := c.Call(ctx, contracts.SubjectKeysVerify, req, &resp)
	return resp, err
}

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
		return replyError(code, reply)
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

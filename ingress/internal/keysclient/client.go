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
	err := c.call(ctx, contracts.SubjectKeysVerify, req, &resp)
	return resp, err
}

// Create creates a key and returns it, the only time it is ever returned.
func (c *Client) Create(ctx context.Context, req contracts.CreateKeyRequest) (contracts.CreateKeyResponse, error) {
	var resp contracts.CreateKeyResponse
	err := c.call(ctx, contracts.SubjectKeysCreate, req, &resp)
	return resp, err
}

func (c *Client) call(ctx context.Context, subject string, req, resp any) error {
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode %s request: %w", subject, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	msg, err := c.nc.RequestWithContext(ctx, subject, b)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", subject, ErrUnavailable, err)
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		return &contracts.Error{Code: contracts.Code(code), Message: msg.Header.Get(micro.ErrorHeader)}
	}
	if err := json.Unmarshal(msg.Data, resp); err != nil {
		return fmt.Errorf("decode %s reply: %w", subject, err)
	}
	return nil
}

package worker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/natstest"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/ocr"
	"github.com/stretchr/testify/require"
)

// TestDecide checks the one mapping from a processing outcome to what the
// server is told: answered jobs are acked, dead ones (malformed, poison,
// out of retries) terminated, and anything else retried with a growing,
// bounded delay.
func TestDecide(t *testing.T) {
	transient := fmt.Errorf("publish result: %w", context.DeadlineExceeded)
	cases := []struct {
		name       string
		err        error
		delivered  uint64
		wantAction action
		wantDelay  time.Duration
	}{
		{"answered", nil, 1, ack, 0},
		{"malformed", &deadError{reason: contracts.DeadMalformed, err: fmt.Errorf("%w: not json", ErrMalformedJob)}, 1, term, 0},
		{"poison", fmt.Errorf("answered: %w", &deadError{reason: contracts.DeadPoison, err: ocr.ErrUnreadableImage}), 1, term, 0},
		{"malformed but not dead", fmt.Errorf("%w: not json", ErrMalformedJob), 1, nak, time.Second},
		{"transient, first delivery", transient, 1, nak, time.Second},
		{"transient, second delivery", transient, 2, nak, 2 * time.Second},
		{"transient, fourth delivery", transient, 4, nak, 8 * time.Second},
		{"transient, capped", transient, 50, nak, 30 * time.Second},
		{"transient, unknown delivery count", transient, 0, nak, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gotAction, gotDelay := decide(tc.err, tc.delivered)
			require.Equal(t, tc.wantAction, gotAction)
			require.Equal(t, tc.wantDelay, gotDelay)
		})
	}
}

// TestPublicError checks that every reason a job fails has its wire code,
// and that unexpected errors never leak their text.
func TestPublicError(t *testing.T) {
	installed := []string{"eng", "spa"}
	cases := []struct {
		err      error
		wantCode contracts.Code
	}{
		{nil, ""},
		{fmt.Errorf("%w: both", ErrInvalidJob), contracts.CodeBadRequest},
		{ocr.ErrUnsupportedMedia, contracts.CodeUnsupportedMedia},
		{fmt.Errorf("decode: %w", ocr.ErrUnreadableImage), contracts.CodeUnreadableImage},
		{ocr.ErrImageTooLarge, contracts.CodeImageTooLarge},
		{errImageTooBig, contracts.CodeImageTooLarge},
		{ocr.ErrUnsupportedLanguage, contracts.CodeUnsupportedLanguage},
		{errImageNotFound, contracts.CodeNotFound},
		{fmt.Errorf("get image: %w", context.DeadlineExceeded), contracts.CodeTimeout},
		{errors.New("tesseract: secret internal detail"), contracts.CodeInternal},
	}
	for _, tc := range cases {
		t.Run(string(tc.wantCode), func(t *testing.T) {
			code, msg := publicError(tc.err, installed)
			require.Equal(t, tc.wantCode, code)
			if tc.err != nil {
				require.NotEmpty(t, msg)
				require.NotContains(t, msg, "secret")
			}
		})
	}
}

// TestKeepAlive checks that progress reports keep a delivered message from
// being redelivered after AckWait, and that once they stop it is.
func TestKeepAlive(t *testing.T) {
	s := natstest.Start(t)
	_, js := natstest.Connect(t, s)
	ctx := t.Context()
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "KA", Subjects: []string{"ka"}})
	require.NoError(t, err)
	const ackWait = 500 * time.Millisecond
	cons, err := js.CreateConsumer(ctx, "KA", jetstream.ConsumerConfig{
		Durable: "ka", AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait,
	})
	require.NoError(t, err)
	_, err = js.Publish(ctx, "ka", []byte("job"))
	require.NoError(t, err)

	batch, err := cons.Fetch(1)
	require.NoError(t, err)
	msg := <-batch.Messages()
	require.NotNil(t, msg)

	stop := keepAlive(msg, ackWait/5)
	again, err := cons.Fetch(1, jetstream.FetchMaxWait(3*ackWait))
	require.NoError(t, err)
	for m := range again.Messages() {
		t.Fatalf("redelivered while in progress: %v", m.Subject())
	}
	stop()

	again, err = cons.Fetch(1, jetstream.FetchMaxWait(5*ackWait))
	require.NoError(t, err)
	m := <-again.Messages()
	require.NotNil(t, m, "redelivered once progress reports stop")
	md, err := m.Metadata()
	require.NoError(t, err)
	require.Equal(t, uint64(2), md.NumDelivered)
}

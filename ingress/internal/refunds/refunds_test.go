package refunds

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/natstest"
	"github.com/stretchr/testify/require"
)

// keys records refund calls; the first failures calls fail.
type keys struct {
	mu       sync.Mutex
	failures int
	calls    []contracts.RefundRequest
}

func (k *keys) Refund(_ context.Context, req contracts.RefundRequest) (contracts.RefundResponse, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, req)
	if len(k.calls) <= k.failures {
		return contracts.RefundResponse{}, errors.New("keyservice unavailable")
	}
	return contracts.RefundResponse{Refunded: true}, nil
}

func (k *keys) got() []contracts.RefundRequest {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]contracts.RefundRequest(nil), k.calls...)
}

func start(t *testing.T, k *keys) jetstream.JetStream {
	t.Helper()
	_, js := natstest.JetStream(t)
	spec := contracts.EventsStreamSpec
	_, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: spec.Name, Subjects: spec.Subjects, MaxAge: spec.MaxAge, Duplicates: spec.Duplicates})
	require.NoError(t, err)
	r := New(js, k, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.RetryDelay = 50 * time.Millisecond
	require.NoError(t, r.Start(t.Context()))
	t.Cleanup(r.Stop)
	return js
}

func publish(t *testing.T, js jetstream.JetStream, subject string, v any) {
	t.Helper()
	b, ok := v.([]byte)
	if !ok {
		var err error
		b, err = json.Marshal(v)
		require.NoError(t, err)
	}
	_, err := js.Publish(t.Context(), subject, b)
	require.NoError(t, err)
}

// TestRefundsFailedJobs: a failed job a key paid for is refunded, by its
// job id; a succeeded job, a job no key paid for, a verification event
// and a malformed event are not.
func TestRefundsFailedJobs(t *testing.T) {
	k := &keys{}
	js := start(t, k)
	publish(t, js, contracts.SubjectEventsUsage, contracts.UsageEvent{EventID: "job_ok.usage", JobID: "job_ok", KeyID: "key_1", Outcome: contracts.JobSucceeded})
	publish(t, js, contracts.SubjectEventsUsage, contracts.UsageEvent{EventID: "job_int.usage", JobID: "job_int", Producer: "billing", Outcome: contracts.JobFailed, ErrorCode: contracts.CodeTimeout})
	publish(t, js, contracts.SubjectEventsUsage, []byte("not json"))
	publish(t, js, contracts.SubjectEventsVerification, contracts.VerificationEvent{EventID: "v1", KeyID: "key_1"})
	publish(t, js, contracts.SubjectEventsUsage, contracts.UsageEvent{EventID: "job_bad.usage", JobID: "job_bad", KeyID: "key_1", Outcome: contracts.JobFailed, ErrorCode: contracts.CodeUnreadableImage})

	require.Eventually(t, func() bool { return len(k.got()) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, contracts.RefundRequest{KeyID: "key_1", IdempotencyKey: "job_bad", Reason: "job failed: UNREADABLE_IMAGE"}, k.got()[0])
	requireSettled(t, js)
	require.Len(t, k.got(), 1)
}

// TestRefundRetried: a refund keyservice could not take is tried again
// until it is, and the event is settled then.
func TestRefundRetried(t *testing.T) {
	k := &keys{failures: 2}
	js := start(t, k)
	publish(t, js, contracts.SubjectEventsUsage, contracts.UsageEvent{EventID: "job_1.usage", JobID: "job_1", KeyID: "key_1", Outcome: contracts.JobFailed})
	require.Eventually(t, func() bool { return len(k.got()) == 3 }, 5*time.Second, 10*time.Millisecond)
	requireSettled(t, js)
	time.Sleep(200 * time.Millisecond)
	require.Len(t, k.got(), 3, "no call after the one that succeeded")
}

// requireSettled waits until the consumer has nothing pending or unacked.
func requireSettled(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, err := js.Consumer(context.Background(), contracts.EventsStream, Durable)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, 5*time.Second, 20*time.Millisecond)
}

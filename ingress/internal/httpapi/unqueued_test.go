package httpapi

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/jobs"
	"github.com/ocrstack/ocrstack/ingress/internal/keysclient"
	"github.com/ocrstack/ocrstack/ingress/internal/natstest"
	"github.com/stretchr/testify/require"
)

// TestUnqueuedRefundRetried checks, with the real keysclient on a NATS
// server, that the refund of a job the queue would not take outlives a
// keyservice that leaves its first refunds unanswered: it is sent again in
// the background after the request was answered 503, until keyservice
// answers, by key id and the job id the verification spent under, once.
func TestUnqueuedRefundRetried(t *testing.T) {
	nc := natstest.Start(t)
	verified := make(chan contracts.VerifyKeyRequest, 1)
	_, err := nc.Subscribe(contracts.SubjectKeysVerify, func(m *nats.Msg) {
		var req contracts.VerifyKeyRequest
		require.NoError(t, json.Unmarshal(m.Data, &req))
		verified <- req
		left := int64(99)
		b, _ := json.Marshal(contracts.VerifyKeyResponse{Valid: true, Code: contracts.VerifyValid, KeyID: "key_1", Credits: &left})
		_ = m.Respond(b)
	})
	require.NoError(t, err)
	const unanswered = 2
	var attempts atomic.Int32
	refunds := make(chan contracts.RefundRequest, 4)
	_, err = nc.Subscribe(contracts.SubjectKeysRefund, func(m *nats.Msg) {
		if attempts.Add(1) <= unanswered {
			return // keyservice busy or restarting: no answer
		}
		var r contracts.RefundRequest
		require.NoError(t, json.Unmarshal(m.Data, &r))
		refunds <- r
		_ = m.Respond([]byte(`{"refunded":true}`))
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush())

	keys := keysclient.New(nc, 200*time.Millisecond)
	cfg := testConfig(&stubKeys{}, &stubJobs{err: jobs.ErrUnavailable})
	cfg.Keys = keys
	r := do(t, New(cfg), request(t, "/upload", "Bearer ocr_good", pngBytes))
	require.Equal(t, 503, r.status, r.raw)
	v := <-verified
	require.NotEmpty(t, v.IdempotencyKey)

	select {
	case got := <-refunds:
		require.Equal(t, contracts.RefundRequest{KeyID: "key_1", IdempotencyKey: v.IdempotencyKey, Reason: "job not queued"}, got)
	case <-time.After(10 * time.Second):
		t.Fatalf("no refund answered after %d attempts", attempts.Load())
	}
	require.Equal(t, int32(unanswered+1), attempts.Load(), "attempts")
	closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys.Close(closeCtx)
	require.Empty(t, refunds, "refunded more than once")
}

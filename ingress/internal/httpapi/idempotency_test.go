package httpapi

import (
	"strconv"
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/idempotency"
	"github.com/ocrstack/ocrstack/ingress/internal/jobs"
	"github.com/ocrstack/ocrstack/ingress/internal/natstest"
	"github.com/stretchr/testify/require"
)

func startIdempotency(t *testing.T) *idempotency.Store {
	t.Helper()
	_, js := natstest.JetStream(t)
	st, err := idempotency.New(t.Context(), idempotency.Config{JetStream: js})
	require.NoError(t, err)
	return st
}

// TestIdempotencyKey: on every OCR route, a retry with the same
// Idempotency-Key and body answers with the first job's result without a
// new verification (so without a new charge) or job; another body under
// the key is a 409; a malformed key a 400; and a request refused at the key
// leaves the Idempotency-Key free for its retry. So too with an image over
// the inline limit, which multipart routes stream to the Object Store: a
// replay or a conflict leaves no stored image behind.
func TestIdempotencyKey(t *testing.T) {
	store := startIdempotency(t)
	large := largePNG(t, 600_000)
	for _, tc := range []struct {
		route string
		image []byte
	}{
		{"/upload", pngBytes}, {"/uploadBase64", pngBytes}, {"/api/v1/ocr", pngBytes},
		{"/upload", large}, {"/api/v1/ocr", large},
	} {
		route, pngBytes := tc.route, tc.image
		t.Run(route+"/"+strconv.Itoa(len(pngBytes)), func(t *testing.T) {
			keys := &stubKeys{}
			j := &stubJobs{result: contracts.OCRResult{Status: contracts.JobSucceeded, Text: "Hello"}}
			cfg := testConfig(keys, j)
			cfg.Idempotency = store
			app := New(cfg)
			send := func(auth, idemKey string, image []byte) response {
				req := request(t, route, auth, image)
				req.Header.Set("Idempotency-Key", idemKey)
				return do(t, app, req)
			}
			idemKey := "order-" + route + strconv.Itoa(len(pngBytes))

			first := send("Bearer good", idemKey, pngBytes)
			require.Equal(t, 200, first.status, first.raw)
			jobID := first.header.Get("X-Job-Id")
			require.NotEmpty(t, jobID)
			require.Equal(t, int64(1), keys.verifies.Load())
			require.Equal(t, jobID, keys.verified[0].IdempotencyKey, "the verification is named by the job, for a refund")

			again := send("Bearer good", idemKey, pngBytes)
			require.Equal(t, 200, again.status, again.raw)
			delete(first.body, "requestId") // each request has its own
			delete(again.body, "requestId")
			require.Equal(t, first.body, again.body)
			require.Equal(t, jobID, again.header.Get("X-Job-Id"))
			require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
			require.Equal(t, int64(1), keys.verifies.Load(), "a replay is not charged")
			require.Equal(t, 1, j.submits, "a replay runs no job")

			other := send("Bearer good", idemKey, append([]byte(nil), append(pngBytes, 0)...))
			require.Equal(t, 409, other.status, other.raw)
			require.Contains(t, other.raw, "IDEMPOTENCY_KEY_REUSED")

			bad := send("Bearer good", "caf\u00e9", pngBytes)
			require.Equal(t, 400, bad.status, bad.raw)
			require.Contains(t, bad.raw, "INVALID_IDEMPOTENCY_KEY")

			// Another key's same Idempotency-Key is its own.
			mine := send("Bearer other", idemKey, pngBytes)
			require.Equal(t, 200, mine.status, mine.raw)
			require.NotEqual(t, jobID, mine.header.Get("X-Job-Id"))

			refused := send("Bearer spent", "retry-"+idemKey, pngBytes)
			require.Equal(t, 402, refused.status, refused.raw)
			retried := send("Bearer good", "retry-"+idemKey, pngBytes)
			require.Equal(t, 200, retried.status, "a refused request leaves its key free: %s", retried.raw)
			require.Empty(t, keys.refunds)
			require.Empty(t, j.images, "stored images no job took")
		})
	}
}

// TestUnqueuedJobRefunded: a job the queue would not take is refunded at
// once, by its job id, and its Idempotency-Key freed for the retry.
func TestUnqueuedJobRefunded(t *testing.T) {
	keys := &stubKeys{}
	j := &stubJobs{err: jobs.ErrUnavailable}
	cfg := testConfig(keys, j)
	cfg.Idempotency = startIdempotency(t)
	app := New(cfg)
	req := request(t, "/upload", "Bearer good", pngBytes)
	req.Header.Set("Idempotency-Key", "k1")
	r := do(t, app, req)
	require.Equal(t, 503, r.status, r.raw)
	require.Len(t, keys.refunds, 1)
	require.Equal(t, contracts.RefundRequest{KeyID: "key_1", IdempotencyKey: keys.verified[0].IdempotencyKey, Reason: "job not queued"}, keys.refunds[0])

	j.err, j.result = nil, contracts.OCRResult{Status: contracts.JobSucceeded, Text: "Hello"}
	req = request(t, "/upload", "Bearer good", pngBytes)
	req.Header.Set("Idempotency-Key", "k1")
	r = do(t, app, req)
	require.Equal(t, 200, r.status, r.raw)
	require.Equal(t, 2, j.submits)
}

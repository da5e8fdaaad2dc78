package worker

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/stretchr/testify/require"
)

// TestTransientFailureRetriedThenAnswered checks that a failure that is
// not the job's fault (here: the image bucket is gone) is retried with a
// delay, and that on its last delivery the job is answered with an internal
// failure rather than dropped without a result.
func TestTransientFailureRetriedThenAnswered(t *testing.T) {
	h := startWorker(t, 1, func(c *jetstream.ConsumerConfig) { c.MaxDeliver = 2 })
	require.NoError(t, h.js.DeleteObjectStore(t.Context(), contracts.ImagesBucket))

	h.submit(t, contracts.OCRJob{JobID: "job_transient", Producer: "ingress", ImageRef: "job_transient"}, "req_t")
	res, _ := h.result(t, "job_transient")
	require.Equal(t, contracts.JobFailed, res.Status)
	require.Equal(t, contracts.CodeInternal, res.Error.Code)
	require.NotContains(t, res.Error.Message, "bucket", "internal detail stays internal")
	h.requireQueueEmpty(t)

	info, err := h.cons.Info(t.Context())
	require.NoError(t, err)
	require.Equal(t, uint64(2), info.Delivered.Consumer, "one retry, then the answer")
	retried := h.logLines(t, "job will be retried")
	require.Len(t, retried, 1)
	require.Equal(t, "job_transient", retried[0]["job_id"])
	failed := h.logLines(t, "job done")
	require.Len(t, failed, 1)
	require.Equal(t, "ERROR", failed[0]["level"])
	require.Equal(t, string(contracts.CodeInternal), failed[0]["error_code"])
}

package worker

import (
	"fmt"
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/stretchr/testify/require"
)

// TestJobDeadline checks that a job whose recognition outlives the job
// deadline is stopped by Tesseract and answered with TIMEOUT at the
// deadline, not when the page would be read, is moved to the dead-letter
// stream, and that its slot serves the next job with the same engine.
func TestJobDeadline(t *testing.T) {
	const deadline = 300 * time.Millisecond
	h := startWorkerWith(t, 1, func(c *Config) { c.JobDeadline = deadline })
	slow := slowPage(t)
	began := time.Now()
	h.submit(t, contracts.OCRJob{JobID: "job_slow", Producer: "ingress", Image: slow}, "req_slow")
	res, _ := h.result(t, "job_slow")
	answered := time.Since(began)
	require.Equal(t, contracts.JobFailed, res.Status)
	require.Equal(t, contracts.CodeTimeout, res.Error.Code)

	require.Less(t, answered, deadline+deadlineGrace(deadline), "answered by Tesseract's stop, not the slot's last resort")
	h.submit(t, contracts.OCRJob{JobID: "job_next", Producer: "ingress", Image: testimage.TextPNG(t, "Capacity is back")}, "")
	next, _ := h.result(t, "job_next")
	require.Equal(t, contracts.JobSucceeded, next.Status, "error: %+v", next.Error)
	require.Contains(t, next.Text, "Capacity is back")
	t.Logf("slow job answered %s after submission (deadline %s); next job recognised in %d ms",
		answered.Round(time.Millisecond), deadline, next.RecognitionMs)

	dead := deadLetters(t, h.js)
	require.Len(t, dead, 1)
	require.Equal(t, string(contracts.CodeTimeout), dead[0].Header.Get(contracts.HeaderDeadCode))
	h.requireQueueEmpty(t)
}

// slowPage draws a page Tesseract takes seconds to read.
func slowPage(t *testing.T) []byte {
	lines := make([]string, 80)
	for i := range lines {
		lines[i] = fmt.Sprintf("%02d A long page that takes Tesseract far longer than the deadline", i)
	}
	return testimage.TextPNG(t, lines...)
}

// TestStuckWorkerExits checks the last resort, for work Tesseract does not
// stop at the deadline (decoding, layout): here engines that never check
// it. A job still running deadlineGrace past its deadline is answered
// TIMEOUT and its engine abandoned; once more of those are still running
// than the worker has slots, Run returns ErrStuck, so the process exits and
// its supervisor starts a fresh one.
func TestStuckWorkerExits(t *testing.T) {
	h := startWorkerWith(t, 1, func(c *Config) { c.JobDeadline = 50 * time.Millisecond; c.unboundedEngines = true })
	slow := slowPage(t)
	for _, id := range []string{"job_stuck_1", "job_stuck_2"} {
		h.submit(t, contracts.OCRJob{JobID: id, Producer: "ingress", Image: slow}, "")
	}
	select {
	case err := <-h.done:
		require.ErrorIs(t, err, ErrStuck)
	case <-time.After(waitFor):
		t.Fatal("the worker kept running with two stuck recognitions and one slot")
	}
	h.cancel()
	h.cancel = nil // Run has returned; nothing to stop
	for _, id := range []string{"job_stuck_1", "job_stuck_2"} {
		res, _ := h.result(t, id)
		require.Equal(t, contracts.CodeTimeout, res.Error.Code, id)
	}
}

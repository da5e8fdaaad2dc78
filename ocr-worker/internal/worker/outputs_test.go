package worker

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/natstest"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/stretchr/testify/require"
)

// TestJobOutputs: a job asking for words, lines, hOCR and TSV gets them in
// its result, boxes in pixels of the page, and a job asking for none gets
// the text alone.
func TestJobOutputs(t *testing.T) {
	h := startWorker(t, 1)
	img := testimage.TextPNG(t, "Invoice 2041", "Total due 330")
	h.submit(t, contracts.OCRJob{JobID: "job_all", Producer: "ingress", Image: img,
		Outputs: []string{contracts.OutputWords, contracts.OutputLines, contracts.OutputHOCR, contracts.OutputTSV}}, "")
	h.submit(t, contracts.OCRJob{JobID: "job_text", Producer: "ingress", Image: img}, "")

	res, _ := h.result(t, "job_all")
	require.Equal(t, contracts.JobSucceeded, res.Status, "error: %+v", res.Error)
	var words []string
	for _, w := range res.Words {
		words = append(words, w.Text)
		require.Equal(t, 1, w.Page)
		require.Positive(t, w.Width)
		require.Positive(t, w.Height)
		require.Greater(t, w.Confidence, 50.0)
		require.LessOrEqual(t, w.Confidence, 100.0)
	}
	require.Equal(t, []string{"Invoice", "2041", "Total", "due", "330"}, words)
	require.Len(t, res.Lines, 2)
	require.Equal(t, "Invoice 2041", res.Lines[0].Text)
	require.Equal(t, res.Words[0].X, res.Lines[0].X)
	require.Contains(t, res.HOCR, ">Total</span>")
	require.True(t, strings.HasPrefix(res.TSV, "level\tpage_num\t"))
	require.Contains(t, res.TSV, "\t330\n")

	plain, _ := h.result(t, "job_text")
	require.Equal(t, res.Text, plain.Text)
	require.Nil(t, plain.Words)
	require.Nil(t, plain.Lines)
	require.Empty(t, plain.HOCR)
	require.Empty(t, plain.TSV)
}

// TestResultTooLarge: a result over the server's max_payload is answered
// RESULT_TOO_LARGE, with the usage event, rather than retried forever; the
// same page without the big outputs succeeds.
func TestResultTooLarge(t *testing.T) {
	s := natstest.StartWith(t, func(o *server.Options) { o.MaxPayload = 32 << 10 })
	h := startWorkerOn(t, s, 1, nil)
	lines := make([]string, 30)
	for i := range lines {
		lines[i] = "Every word of this line is a box in hOCR"
	}
	// The page travels through the object store in chunks that fit.
	_, err := h.images.Put(t.Context(), jetstream.ObjectMeta{Name: "page", Opts: &jetstream.ObjectMetaOptions{ChunkSize: 8 << 10}},
		bytes.NewReader(testimage.TextPNG(t, lines...)))
	require.NoError(t, err)
	h.submit(t, contracts.OCRJob{JobID: "job_big", Producer: "ingress", ImageRef: "page",
		Outputs: []string{contracts.OutputHOCR, contracts.OutputTSV}}, "")
	h.submit(t, contracts.OCRJob{JobID: "job_small", Producer: "ingress", ImageRef: "page"}, "")

	big, _ := h.result(t, "job_big")
	require.Equal(t, contracts.JobFailed, big.Status)
	require.Equal(t, contracts.CodeResultTooLarge, big.Error.Code)
	require.Contains(t, big.Error.Message, "ask for fewer outputs")
	require.Empty(t, big.HOCR)
	small, _ := h.result(t, "job_small")
	require.Equal(t, contracts.JobSucceeded, small.Status, "error: %+v", small.Error)
	require.Contains(t, small.Text, "Every word of this line")

	usage := h.usageEvents(t)
	require.Len(t, usage["job_big"], 1)
	require.Equal(t, contracts.CodeResultTooLarge, usage["job_big"][0].event.ErrorCode)
	require.Equal(t, 1, h.published("job_big"))
	h.requireQueueEmpty(t)
}

package worker

import (
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/cer"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/stretchr/testify/require"
)

// TestInlineJob checks the whole path for an image inside the job: the
// result carries the text and is durable on the results stream, the usage
// event is on the events stream, both carry the request id and
// de-duplication ids, and the job has left the work queue.
func TestInlineJob(t *testing.T) {
	h := startWorker(t, 1)
	img := testimage.TextPNG(t, "Hello from NATS")
	h.submit(t, contracts.OCRJob{
		JobID: "job_inline-1", RequestID: "req_1", Producer: "ingress",
		KeyID: "key_1", OwnerID: "ada@example.com", Image: img, SubmittedAt: 1,
	}, "req_1")

	res, hdr := h.result(t, "job_inline-1")
	require.Equal(t, contracts.JobSucceeded, res.Status, "error: %+v", res.Error)
	require.Nil(t, res.Error)
	require.Equal(t, "Hello from NATS", cer.Normalize(res.Text))
	require.Equal(t, "req_1", res.RequestID)
	require.Positive(t, res.CompletedAt)
	require.Equal(t, "job_inline-1.result", hdr.Get(contracts.HeaderMsgID))
	require.Equal(t, "req_1", hdr.Get(contracts.HeaderRequestID))
	require.Equal(t, "job_inline-1", hdr.Get(contracts.HeaderJobID))

	h.requireQueueEmpty(t)
	events := h.usageEvents(t)["job_inline-1"]
	require.Len(t, events, 1)
	ev := events[0].event
	require.Equal(t, contracts.UsageEvent{
		EventID: "job_inline-1.usage", Time: ev.Time, RequestID: "req_1", JobID: "job_inline-1",
		Producer: "ingress", KeyID: "key_1", OwnerID: "ada@example.com", Outcome: contracts.JobSucceeded,
		Pages: 1, Bytes: int64(len(img)), RecognitionMs: res.RecognitionMs,
		Characters: int64(len([]rune(res.Text))), Languages: []string{"eng", "spa"},
	}, ev)
	require.Equal(t, "job_inline-1.usage", events[0].header.Get(contracts.HeaderMsgID))
	require.Equal(t, "req_1", events[0].header.Get(contracts.HeaderRequestID))
	require.Equal(t, 1, h.published("job_inline-1"))
}

// TestPDFJob checks a document: its result lists each page with where its
// text came from, its text joins them, and its usage counts the pages.
func TestPDFJob(t *testing.T) {
	h := startWorker(t, 1)
	pdf := testimage.PDF(t,
		testimage.PDFPage{Text: "Page one has a text layer"},
		testimage.PDFPage{Scan: testimage.Render(t, "Page two is a scan")},
	)
	progress, err := h.nc.SubscribeSync(contracts.ProgressSubject("job_pdf"))
	require.NoError(t, err)
	require.NoError(t, h.nc.Flush())
	h.submit(t, contracts.OCRJob{JobID: "job_pdf", Producer: "ingress", Image: pdf}, "req_pdf")

	res, _ := h.result(t, "job_pdf")
	require.Equal(t, contracts.JobSucceeded, res.Status, "error: %+v", res.Error)
	require.Len(t, res.Pages, 2)
	require.Equal(t, contracts.PageResult{Page: 1, Text: "Page one has a text layer", Source: contracts.PageSourceTextLayer}, res.Pages[0])
	require.Equal(t, contracts.PageSourceOCR, res.Pages[1].Source)
	require.Equal(t, "Page two is a scan", cer.Normalize(res.Pages[1].Text))
	require.Equal(t, res.Pages[0].Text+"\f"+res.Pages[1].Text, res.Text)
	h.requireQueueEmpty(t)
	require.Equal(t, int64(2), h.usageEvents(t)["job_pdf"][0].event.Pages)
	// One progress event per page, in order.
	for page := 1; page <= 2; page++ {
		m, err := progress.NextMsg(waitFor)
		require.NoError(t, err)
		var p contracts.JobProgress
		require.NoError(t, json.Unmarshal(m.Data, &p))
		require.Equal(t, contracts.JobProgress{JobID: "job_pdf", Page: page, Pages: 2, At: p.At}, p)
	}
}

// TestImageRefJob checks that an image too large to ride inline is read
// from the object store.
func TestImageRefJob(t *testing.T) {
	h := startWorker(t, 1)
	img := testimage.Encode(t, padded(testimage.Render(t, "Stored as an object"), 1200, 600), testimage.BMP)
	require.Greater(t, len(img), contracts.InlineImageMax)
	_, err := h.images.PutBytes(t.Context(), "job_ref", img)
	require.NoError(t, err)

	h.submit(t, contracts.OCRJob{JobID: "job_ref", Producer: "billing-batch", ImageRef: "job_ref", Languages: []string{"eng"}}, "")
	res, hdr := h.result(t, "job_ref")
	require.Equal(t, contracts.JobSucceeded, res.Status, "error: %+v", res.Error)
	require.Equal(t, "Stored as an object", cer.Normalize(res.Text))
	require.Empty(t, hdr.Get(contracts.HeaderRequestID))
	h.requireQueueEmpty(t)
	ev := h.usageEvents(t)["job_ref"][0].event
	require.Equal(t, int64(len(img)), ev.Bytes)
	require.Equal(t, []string{"eng"}, ev.Languages)
}

// TestManyJobsTwoSlots checks that with two engines every job of a batch
// is recognised and answered exactly once: one delivery each, one result
// published each, one usage event each.
func TestManyJobsTwoSlots(t *testing.T) {
	const n = 12
	h := startWorker(t, 2)
	for i := range n {
		id := fmt.Sprintf("job_many_%02d", i)
		h.submit(t, contracts.OCRJob{JobID: id, Producer: "ingress", Image: testimage.TextPNG(t, fmt.Sprintf("Number %d", i))}, "")
	}
	for i := range n {
		id := fmt.Sprintf("job_many_%02d", i)
		res, _ := h.result(t, id)
		require.Equal(t, contracts.JobSucceeded, res.Status, "%s: %+v", id, res.Error)
		require.Equal(t, fmt.Sprintf("Number %d", i), cer.Normalize(res.Text))
	}
	h.requireQueueEmpty(t)
	info, err := h.cons.Info(t.Context())
	require.NoError(t, err)
	require.Equal(t, uint64(n), info.Delivered.Consumer, "no job was delivered twice")
	events := h.usageEvents(t)
	require.Len(t, events, n)
	for i := range n {
		id := fmt.Sprintf("job_many_%02d", i)
		require.Len(t, events[id], 1, id)
		require.Equal(t, 1, h.published(id), id)
	}
	require.Len(t, h.logLines(t, "job done"), n)
}

// TestShutdownFinishesJob checks that cancelling the worker while it
// recognises a job lets the job finish: its result is published and it is
// acknowledged, not left for redelivery.
func TestShutdownFinishesJob(t *testing.T) {
	h := startWorker(t, 1)
	lines := make([]string, 25)
	for i := range lines {
		lines[i] = fmt.Sprintf("Line %d of a page that takes a while", i)
	}
	h.submit(t, contracts.OCRJob{JobID: "job_slow", Producer: "ingress", Image: testimage.TextPNG(t, lines...)}, "")
	// Stop once the worker has taken the job, not merely once the server
	// delivered it: a job delivered into the client's buffer but not yet
	// taken when the worker stops is redelivered after AckWait instead.
	require.Eventually(t, func() bool { return len(h.logLines(t, "job started")) == 1 }, waitFor, time.Millisecond)
	h.stop(t)

	res, _ := h.result(t, "job_slow")
	require.Equal(t, contracts.JobSucceeded, res.Status)
	h.requireQueueEmpty(t)
}

// padded places img at the top left of a white canvas of at least w×h.
func padded(img *image.Gray, w, h int) *image.Gray {
	b := img.Bounds()
	out := image.NewGray(image.Rect(0, 0, max(w, b.Dx()), max(h, b.Dy())))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(out, b, img, b.Min, draw.Src)
	return out
}

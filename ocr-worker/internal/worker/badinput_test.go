package worker

import (
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/stretchr/testify/require"
)

// TestBadInput checks that a job the worker cannot recognise is answered,
// not retried: a failed result with the code that says why, a usage event
// with the same code, and the job acknowledged.
func TestBadInput(t *testing.T) {
	h := startWorker(t, 2)
	png := testimage.TextPNG(t, "Truncated")
	cases := []struct {
		name     string
		job      contracts.OCRJob
		wantCode contracts.Code
	}{
		{"text bytes", contracts.OCRJob{Image: []byte("Dear worker, this is not an image.")}, contracts.CodeUnsupportedMedia},
		{"pdf", contracts.OCRJob{Image: []byte("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n")}, contracts.CodeUnsupportedMedia},
		{"heic", contracts.OCRJob{Image: []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic")}, contracts.CodeUnsupportedMedia},
		{"png truncated in its pixels", contracts.OCRJob{Image: png[:len(png)/2]}, contracts.CodeUnreadableImage},
		{"png truncated in its header", contracts.OCRJob{Image: png[:30]}, contracts.CodeUnreadableImage},
		{"too many pixels", contracts.OCRJob{Image: []byte("P5\n9000 9000\n255\n\x00\x00\x00")}, contracts.CodeImageTooLarge},
		{"unknown language", contracts.OCRJob{Image: png, Languages: []string{"eng", "tlh"}}, contracts.CodeUnsupportedLanguage},
		{"osd is not a language", contracts.OCRJob{Image: png, Languages: []string{"osd"}}, contracts.CodeUnsupportedLanguage},
		{"image and imageRef", contracts.OCRJob{Image: png, ImageRef: "x"}, contracts.CodeBadRequest},
		{"no image", contracts.OCRJob{}, contracts.CodeBadRequest},
		{"missing object", contracts.OCRJob{ImageRef: "never-stored"}, contracts.CodeNotFound},
	}
	for i, tc := range cases {
		tc.job.JobID = "job_bad_" + string(rune('a'+i))
		tc.job.Producer = "ingress"
		h.submit(t, tc.job, "req_bad")
		cases[i] = tc
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, hdr := h.result(t, tc.job.JobID)
			require.Equal(t, contracts.JobFailed, res.Status)
			require.NotNil(t, res.Error)
			require.Equal(t, tc.wantCode, res.Error.Code)
			require.NotEmpty(t, res.Error.Message)
			require.Empty(t, res.Text)
			require.Equal(t, "req_bad", hdr.Get(contracts.HeaderRequestID))
		})
	}
	h.requireQueueEmpty(t)
	events := h.usageEvents(t)
	for _, tc := range cases {
		require.Len(t, events[tc.job.JobID], 1, tc.name)
		ev := events[tc.job.JobID][0].event
		require.Equal(t, contracts.JobFailed, ev.Outcome, tc.name)
		require.Equal(t, tc.wantCode, ev.ErrorCode, tc.name)
		require.Zero(t, ev.Characters, tc.name)
	}
	info, err := h.cons.Info(t.Context())
	require.NoError(t, err)
	require.Equal(t, uint64(len(cases)), info.Delivered.Consumer, "bad input is never redelivered")
}

// TestMalformedJobTerminated checks that a message that is not a job with
// a usable id is terminated (never redelivered, nothing published) and
// that the worker goes on to serve the next job.
func TestMalformedJobTerminated(t *testing.T) {
	h := startWorker(t, 1)
	h.submitRaw(t, []byte("{not json"), "m1", "req_m1")
	h.submitRaw(t, []byte(`{"jobId":"has spaces","image":"iVBORw0KGgo="}`), "m2", "")
	h.submitRaw(t, []byte(`{"jobId":"","imageRef":"x"}`), "m3", "")
	h.submitRaw(t, []byte(`["a","job","list"]`), "m4", "")
	h.submit(t, contracts.OCRJob{JobID: "job_after", Producer: "ingress", Image: testimage.TextPNG(t, "Still serving")}, "")

	res, _ := h.result(t, "job_after")
	require.Equal(t, contracts.JobSucceeded, res.Status)
	h.requireQueueEmpty(t)
	info, err := h.cons.Info(t.Context())
	require.NoError(t, err)
	require.Equal(t, uint64(5), info.Delivered.Consumer, "terminated jobs are not redelivered")
	require.Len(t, h.usageEvents(t), 1, "only the valid job has a usage event")
	terminated := h.logLines(t, "job terminated")
	require.Len(t, terminated, 4)
	require.Equal(t, "req_m1", terminated[0]["request_id"])
	require.Contains(t, terminated[0]["err"], "malformed job")
}

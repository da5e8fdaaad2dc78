package worker

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/natstest"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/ocr"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/streams"
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
		{"broken pdf", contracts.OCRJob{Image: []byte("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n")}, contracts.CodeUnreadableImage},
		{"heic header only", contracts.OCRJob{Image: []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic")}, contracts.CodeUnreadableImage},
		{"png truncated in its pixels", contracts.OCRJob{Image: png[:len(png)/2]}, contracts.CodeUnreadableImage},
		{"png truncated in its header", contracts.OCRJob{Image: png[:30]}, contracts.CodeUnreadableImage},
		{"too many pixels", contracts.OCRJob{Image: []byte("P5\n9000 9000\n255\n\x00\x00\x00")}, contracts.CodeImageTooLarge},
		{"unknown language", contracts.OCRJob{Image: png, Languages: []string{"eng", "tlh"}}, contracts.CodeUnsupportedLanguage},
		{"osd is not a language", contracts.OCRJob{Image: png, Languages: []string{"osd"}}, contracts.CodeUnsupportedLanguage},
		{"image and imageRef", contracts.OCRJob{Image: png, ImageRef: "x"}, contracts.CodeBadRequest},
		{"no image", contracts.OCRJob{}, contracts.CodeBadRequest},
		{"page segmentation mode 2", contracts.OCRJob{Image: png, PageSegMode: 2}, contracts.CodeBadRequest},
		{"missing object", contracts.OCRJob{ImageRef: "never-stored"}, contracts.CodeNotFound},
		{"page an image lacks", contracts.OCRJob{Image: png, Pages: "1-2"}, contracts.CodePageOutOfRange},
		{"page selection malformed", contracts.OCRJob{Image: png, Pages: "2-1"}, contracts.CodeBadRequest},
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

	// Poison input (it can never be recognised) is also copied, as it was
	// delivered, to the dead-letter stream with the reason; a job that
	// merely asked for something unavailable is not.
	dead := map[string]*jetstream.RawStreamMsg{}
	for _, m := range deadLetters(t, h.js) {
		var job contracts.OCRJob
		require.NoError(t, json.Unmarshal(m.Data, &job))
		dead[job.JobID] = m
	}
	for _, tc := range cases {
		m, ok := dead[tc.job.JobID]
		if !isPoison(tc.wantCode) {
			require.False(t, ok, "%s: dead-lettered", tc.name)
			continue
		}
		require.True(t, ok, "%s: not dead-lettered", tc.name)
		require.Equal(t, contracts.DeadSubject(contracts.DeadPoison), m.Subject, tc.name)
		require.Equal(t, string(tc.wantCode), m.Header.Get(contracts.HeaderDeadCode), tc.name)
		require.NotEmpty(t, m.Header.Get(contracts.HeaderDeadReason), tc.name)
		require.Equal(t, "1", m.Header.Get(contracts.HeaderDeadDeliveries), tc.name)
		require.Equal(t, "req_bad", m.Header.Get(contracts.HeaderRequestID), tc.name)
	}
	require.Len(t, dead, 11, "the poison cases")
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

	// Each is on the dead-letter stream, byte for byte, with its headers.
	dead := deadLetters(t, h.js)
	require.Len(t, dead, 4)
	require.Equal(t, contracts.DeadSubject(contracts.DeadMalformed), dead[0].Subject)
	require.Equal(t, "{not json", string(dead[0].Data))
	require.Equal(t, "req_m1", dead[0].Header.Get(contracts.HeaderRequestID))
	require.Contains(t, dead[0].Header.Get(contracts.HeaderDeadReason), "malformed job")
	require.Equal(t, `["a","job","list"]`, string(dead[3].Data))
}

// TestMaxDeliveriesMovedAside checks a job whose every delivery went
// unsettled (the worker holding it crashed or stalled each time): on the
// server's max-deliveries advisory a worker copies it to the dead-letter
// stream, answers it with a failed result so its producer is not left
// waiting, and removes it from the jobs stream.
func TestMaxDeliveriesMovedAside(t *testing.T) {
	s := natstest.Start(t)
	_, js := natstest.Connect(t, s)
	ctx := t.Context()
	_, images, err := streams.Ensure(ctx, js, time.Second)
	require.NoError(t, err)
	cfg := streams.ConsumerConfig(time.Second)
	cfg.MaxDeliver = 2
	cons, err := js.CreateOrUpdateConsumer(ctx, contracts.JobsStream, cfg)
	require.NoError(t, err)
	installed, err := ocr.Installed()
	require.NoError(t, err)
	logs := &syncBuffer{}
	w, err := New(Config{JetStream: js, Consumer: cons, Images: images, Concurrency: 1,
		Languages: []string{"eng"}, Installed: installed, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	require.NoError(t, err)
	require.NoError(t, w.WatchMaxDeliveries(ctx))

	h := &harness{js: js}
	h.submit(t, contracts.OCRJob{JobID: "job_crashy", Producer: "ingress", Image: testimage.TextPNG(t, "Crash")}, "req_crashy")
	// Two deliveries, neither settled: what two crashed workers leave.
	for range 2 {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		n := 0
		for range batch.Messages() {
			n++
		}
		require.NoError(t, batch.Error())
		require.Equal(t, 1, n)
	}
	// The server checks deliveries when it would deliver again, so only
	// while someone pulls, as idle workers always do.
	pulled := make(chan struct{})
	go func() {
		defer close(pulled)
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(3*time.Second))
		if err == nil {
			for m := range batch.Messages() {
				t.Errorf("delivered a third time: %s", m.Data())
			}
		}
	}()
	defer func() { <-pulled }()

	res, hdr := h.result(t, "job_crashy")
	require.Equal(t, contracts.JobFailed, res.Status)
	require.Equal(t, contracts.CodeInternal, res.Error.Code)
	require.Equal(t, "req_crashy", hdr.Get(contracts.HeaderRequestID))
	deadStream, err := js.Stream(ctx, contracts.DeadStream)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := deadStream.Info(ctx)
		return err == nil && info.State.Msgs == 1
	}, waitFor, 20*time.Millisecond, "no dead letter")
	dead := deadLetters(t, js)
	require.Equal(t, contracts.DeadSubject(contracts.DeadMaxDeliveries), dead[0].Subject)
	require.Equal(t, "2", dead[0].Header.Get(contracts.HeaderDeadDeliveries))
	var job contracts.OCRJob
	require.NoError(t, json.Unmarshal(dead[0].Data, &job))
	require.Equal(t, "job_crashy", job.JobID)
	st, err := js.Stream(ctx, contracts.JobsStream)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 0
	}, waitFor, 20*time.Millisecond, "the job is still on the jobs stream")
	// The log line follows the delete, so it may trail what the test saw.
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "job moved to the dead-letter stream")
	}, waitFor, 20*time.Millisecond, "no log line for the dead letter")
}

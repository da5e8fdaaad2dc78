package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/config"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/natstest"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/ocr"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/streams"
	"github.com/stretchr/testify/require"
)

// waitFor bounds every wait on the worker in these tests.
const waitFor = 30 * time.Second

// harness is a worker running against its own in-process NATS server, with
// a plain subscription that sees every result ever published (including
// ones JetStream drops as duplicates).
type harness struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	cons    jetstream.Consumer
	images  jetstream.ObjectStore
	logs    *syncBuffer
	cancel  context.CancelFunc
	done    chan error
	mu      sync.Mutex
	results map[string][]*nats.Msg
}

// startWorker runs a worker with the given concurrency. Options change the
// jobs consumer's configuration before the worker starts.
func startWorker(t *testing.T, concurrency int, opts ...func(*jetstream.ConsumerConfig)) *harness {
	t.Helper()
	return startWorkerWith(t, concurrency, nil, opts...)
}

// startWorkerWith is startWorker with tweak applied to the worker's Config.
func startWorkerWith(t *testing.T, concurrency int, tweak func(*Config), opts ...func(*jetstream.ConsumerConfig)) *harness {
	t.Helper()
	return startWorkerOn(t, natstest.Start(t), concurrency, tweak, opts...)
}

// startWorkerOn is startWorkerWith on server s.
func startWorkerOn(t *testing.T, s *server.Server, concurrency int, tweak func(*Config), opts ...func(*jetstream.ConsumerConfig)) *harness {
	t.Helper()
	nc, js := natstest.Connect(t, s)
	ctx := t.Context()
	cons, images, err := streams.Ensure(ctx, js, config.DefaultAckWait)
	require.NoError(t, err)
	if len(opts) > 0 {
		cfg := streams.ConsumerConfig(config.DefaultAckWait)
		for _, opt := range opts {
			opt(&cfg)
		}
		cons, err = js.CreateOrUpdateConsumer(ctx, contracts.JobsStream, cfg)
		require.NoError(t, err)
	}
	installed, err := ocr.Installed()
	require.NoError(t, err)

	h := &harness{nc: nc, js: js, cons: cons, images: images, logs: &syncBuffer{}, results: map[string][]*nats.Msg{}}
	_, err = nc.Subscribe(contracts.SubjectResultsAll, func(m *nats.Msg) {
		h.mu.Lock()
		defer h.mu.Unlock()
		id := strings.TrimPrefix(m.Subject, contracts.SubjectResultsPrefix)
		h.results[id] = append(h.results[id], m)
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush())

	cfg := Config{
		JetStream: js, Consumer: cons, Images: images, Concurrency: concurrency,
		Languages: []string{"eng", "spa"}, Installed: installed,
		Logger: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	w, err := New(cfg)
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- w.Run(runCtx) }()
	t.Cleanup(func() {
		h.stop(t)
		if t.Failed() {
			t.Logf("worker logs:\n%s", h.logs.String())
		}
	})
	return h
}

// stop cancels the worker and waits for Run to return nil; it is safe to
// call twice.
func (h *harness) stop(t *testing.T) {
	t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		require.NoError(t, err)
	case <-time.After(waitFor):
		t.Fatal("worker did not stop")
	}
}

// submit publishes a job the way a producer does.
func (h *harness) submit(t *testing.T, job contracts.OCRJob, requestID string) {
	t.Helper()
	data, err := json.Marshal(job)
	require.NoError(t, err)
	h.submitRaw(t, data, job.JobID, requestID)
}

func (h *harness) submitRaw(t *testing.T, data []byte, msgID, requestID string) {
	t.Helper()
	m := nats.NewMsg(contracts.SubjectJobs)
	m.Data = data
	if msgID != "" {
		m.Header.Set(contracts.HeaderMsgID, msgID)
	}
	if requestID != "" {
		m.Header.Set(contracts.HeaderRequestID, requestID)
	}
	_, err := h.js.PublishMsg(t.Context(), m)
	require.NoError(t, err)
}

// result waits for the job's stored result and returns it with its headers.
func (h *harness) result(t *testing.T, jobID string) (contracts.OCRResult, nats.Header) {
	t.Helper()
	st, err := h.js.Stream(t.Context(), contracts.ResultsStream)
	require.NoError(t, err)
	var raw *jetstream.RawStreamMsg
	require.Eventually(t, func() bool {
		raw, err = st.GetLastMsgForSubject(t.Context(), contracts.ResultSubject(jobID))
		return err == nil
	}, waitFor, 20*time.Millisecond, "no result for %s", jobID)
	var res contracts.OCRResult
	require.NoError(t, json.Unmarshal(raw.Data, &res))
	return res, raw.Header
}

// usageEvents returns every stored usage event, by job id, with headers.
func (h *harness) usageEvents(t *testing.T) map[string][]usageMsg {
	t.Helper()
	st, err := h.js.Stream(t.Context(), contracts.EventsStream)
	require.NoError(t, err)
	info, err := st.Info(t.Context())
	require.NoError(t, err)
	out := map[string][]usageMsg{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := st.GetMsg(t.Context(), seq)
		require.NoError(t, err)
		require.Equal(t, contracts.SubjectEventsUsage, raw.Subject)
		var ev contracts.UsageEvent
		require.NoError(t, json.Unmarshal(raw.Data, &ev))
		out[ev.JobID] = append(out[ev.JobID], usageMsg{ev, raw.Header})
	}
	return out
}

// deadLetters returns every message on the dead-letter stream, in order.
func deadLetters(t *testing.T, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	t.Helper()
	st, err := js.Stream(t.Context(), contracts.DeadStream)
	require.NoError(t, err)
	info, err := st.Info(t.Context())
	require.NoError(t, err)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := st.GetMsg(t.Context(), seq)
		require.NoError(t, err)
		out = append(out, raw)
	}
	return out
}

type usageMsg struct {
	event  contracts.UsageEvent
	header nats.Header
}

// published returns how many times a result was published for jobID.
func (h *harness) published(jobID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.results[jobID])
}

// requireQueueEmpty waits until every job has been settled: none waiting,
// none in flight.
func (h *harness) requireQueueEmpty(t *testing.T) {
	t.Helper()
	st, err := h.js.Stream(t.Context(), contracts.JobsStream)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := st.Info(t.Context())
		if err != nil || info.State.Msgs != 0 {
			return false
		}
		ci, err := h.cons.Info(t.Context())
		return err == nil && ci.NumAckPending == 0 && ci.NumPending == 0
	}, waitFor, 20*time.Millisecond, "jobs left on the work queue")
}

// logLines returns the worker's log records whose msg is msg.
func (h *harness) logLines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		var rec map[string]any
		if line == "" {
			continue
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "log line %q", line)
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the worker's goroutines to log to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/cer"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/config"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/natstest"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/ompenv"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/ocrstack/ocrstack/ops"
	"github.com/stretchr/testify/require"
)

// runMainVar set to 1 makes this test binary the worker itself: main runs
// instead of the tests (see TestRunNice).
const runMainVar = "OCR_WORKER_TEST_RUN_MAIN"

// TestMain runs the tests with OMP_THREAD_LIMIT=1, as main does.
func TestMain(m *testing.M) {
	if os.Getenv(runMainVar) == "1" {
		main()
		os.Exit(0)
	}
	if err := ompenv.Ensure(); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// TestRun checks the service as deployed: configured from the environment,
// it answers health pings, serves a job, logs JSON without image bytes, and
// on cancellation stops cleanly.
func TestRun(t *testing.T) {
	s := natstest.Start(t)
	opsAddr := freeAddr(t)
	env := map[string]string{
		config.EnvNATSURL:     s.ClientURL(),
		config.EnvConcurrency: "2",
		config.EnvLanguages:   "eng",
		ops.EnvAddr:           opsAddr,
		// Nice values cannot be lowered back: this test process keeps its
		// priority (TestRunNice checks the value in a process of its own).
		config.EnvNice: "0",
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, &logs) }()

	nc, js := natstest.Connect(t, s)
	var ping struct {
		Name     string            `json:"name"`
		Version  string            `json:"version"`
		Metadata map[string]string `json:"metadata"`
	}
	require.Eventually(t, func() bool {
		reply, err := nc.Request("$SRV.PING."+contracts.WorkerName, nil, time.Second)
		return err == nil && json.Unmarshal(reply.Data, &ping) == nil
	}, 30*time.Second, 50*time.Millisecond, "no answer to the health ping")
	require.Equal(t, contracts.WorkerName, ping.Name)
	require.Equal(t, "0.1.0", ping.Version)
	require.Equal(t, "2", ping.Metadata["concurrency"])

	img := testimage.TextPNG(t, "Served by run")
	job, err := json.Marshal(contracts.OCRJob{JobID: "job_run", Producer: "ingress", Image: img})
	require.NoError(t, err)
	m := nats.NewMsg(contracts.SubjectJobs)
	m.Data = job
	m.Header.Set(contracts.HeaderMsgID, "job_run")
	m.Header.Set(contracts.HeaderRequestID, "req_run")
	m.Header.Set(ops.HeaderTraceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	_, err = js.PublishMsg(t.Context(), m)
	require.NoError(t, err)

	results, err := js.Stream(t.Context(), contracts.ResultsStream)
	require.NoError(t, err)
	var res contracts.OCRResult
	require.Eventually(t, func() bool {
		raw, err := results.GetLastMsgForSubject(t.Context(), contracts.ResultSubject("job_run"))
		return err == nil && json.Unmarshal(raw.Data, &res) == nil
	}, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, "Served by run", cer.Normalize(res.Text))

	// The ops server: live, ready once the engines run, and the job counted.
	require.Equal(t, http.StatusOK, httpGet(t, "http://"+opsAddr+"/livez").StatusCode)
	require.Equal(t, http.StatusOK, httpGet(t, "http://"+opsAddr+"/readyz").StatusCode)
	require.Eventually(t, func() bool {
		b, _ := io.ReadAll(httpGet(t, "http://"+opsAddr+"/metrics").Body)
		return strings.Contains(string(b), `ocr_worker_jobs_total{error_code="",outcome="succeeded"} 1`) &&
			strings.Contains(string(b), "ocr_worker_slots 2") &&
			strings.Contains(string(b), "ocr_worker_recognition_duration_seconds_count 1")
	}, 10*time.Second, 20*time.Millisecond, "the job is not in the metrics")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancellation")
	}

	out := logs.String()
	require.NotContains(t, out, base64.StdEncoding.EncodeToString(img)[:40], "image bytes in the logs")
	var sawJob bool
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "not a JSON log line: %q", line)
		for k := range rec {
			require.Equal(t, strings.ToLower(k), k, "log key %q is not snake_case", k)
			require.NotContains(t, k, "-", "log key %q is not snake_case", k)
		}
		if rec["msg"] == "job done" {
			sawJob = true
			require.Equal(t, "job_run", rec["job_id"])
			require.Equal(t, "req_run", rec["request_id"])
			require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", rec["trace_id"])
		}
	}
	require.True(t, sawJob, "no job log line in:\n%s", out)
}

// TestRunBadConfig checks that every configuration problem is reported at
// once, before anything connects.
func TestRunBadConfig(t *testing.T) {
	env := map[string]string{
		config.EnvNATSURL:     "http://example.com",
		config.EnvConcurrency: "-1",
		config.EnvLanguages:   "eng+xx",
	}
	err := run(t.Context(), func(k string) string { return env[k] }, &bytes.Buffer{})
	require.Error(t, err)
	for _, want := range []string{config.EnvNATSURL, config.EnvConcurrency, `"xx" is not installed`} {
		require.ErrorContains(t, err, want)
	}
}

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

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// httpGet GETs url; the body is closed with the test.
func httpGet(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

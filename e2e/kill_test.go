package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/e2e/internal/textimage"
	"github.com/stretchr/testify/require"
)

// TestWorkerKilledMidJob checks that a job survives its worker dying with
// SIGKILL in the middle of recognition: the job is redelivered after the
// consumer's AckWait, another worker answers it, its result is published
// and stored exactly once, its usage event is stored once, and it leaves
// the jobs stream.
func TestWorkerKilledMidJob(t *testing.T) {
	const (
		ackWait = 3 * time.Second
		// killAfter lets the doomed worker get into Tesseract and send a
		// progress report (every AckWait/4) before it dies, so the kill also
		// shows that no stale progress report keeps the job pinned to it.
		killAfter = time.Second
		jobID     = "killed-mid-job"
	)
	// Recognising a page of about 950 words in eng+spa takes 3-6 s on two
	// cores: long enough to be killed in the middle of it.
	lines := make([]string, 64)
	for i := range lines {
		lines[i] = fmt.Sprintf("%02d The quick brown fox jumps over the lazy dog; el veloz murcielago come kiwi.", i)
	}
	img, err := textimage.PNG(lines, 30)
	require.NoError(t, err)

	url := startNATS(t)
	var workers []*workerProc
	// Registered first, so it runs last: after the workers stopped and
	// their logs were checked for races.
	t.Cleanup(func() {
		if t.Failed() {
			for i, w := range workers {
				t.Logf("---- worker %d log (tail)\n%s", i, w.log.tail(4000))
			}
		}
	})
	workers = []*workerProc{startWorker(t, url, ackWait), startWorker(t, url, ackWait)}
	for _, w := range workers {
		require.Eventually(t, func() bool { _, ok := w.log.find("worker started", ""); return ok },
			60*time.Second, 50*time.Millisecond, "a worker never started")
	}

	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	// A plain subscription sees every result a worker publishes, including
	// one JetStream would drop as a duplicate.
	results, err := nc.SubscribeSync(contracts.ResultSubject(jobID))
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	job, err := json.Marshal(contracts.OCRJob{JobID: jobID, Producer: "e2e", Image: img, SubmittedAt: time.Now().UnixMilli()})
	require.NoError(t, err)
	msg := nats.NewMsg(contracts.SubjectJobs)
	msg.Data = job
	msg.Header.Set(contracts.HeaderMsgID, jobID)
	msg.Header.Set(contracts.HeaderJobID, jobID)
	_, err = js.PublishMsg(t.Context(), msg)
	require.NoError(t, err)

	var victim, survivor *workerProc
	require.Eventually(t, func() bool {
		for i, w := range workers {
			if _, ok := w.log.find("job started", jobID); ok {
				victim, survivor = w, workers[1-i]
				return true
			}
		}
		return false
	}, 30*time.Second, 10*time.Millisecond, "no worker started the job")
	time.Sleep(killAfter)
	_, done := victim.log.find("job done", jobID)
	require.False(t, done, "the job was done before the kill: the image is recognised too fast")
	victim.kill(t)
	killed := time.Now()

	m, err := results.NextMsg(40 * time.Second)
	require.NoError(t, err, "no result after the worker was killed")
	toResult := time.Since(killed)
	var res contracts.OCRResult
	require.NoError(t, json.Unmarshal(m.Data, &res))
	require.Equal(t, contracts.JobSucceeded, res.Status, "result error: %+v", res.Error)
	require.Contains(t, res.Text, "lazy dog")

	var redelivered time.Time
	require.Eventually(t, func() bool {
		redelivered, _ = survivor.log.find("job started", jobID)
		_, done := survivor.log.find("job done", jobID)
		return done
	}, 10*time.Second, 50*time.Millisecond, "the surviving worker never logged the job done")
	_, done = victim.log.find("job done", jobID)
	require.False(t, done, "the killed worker finished the job")
	t.Logf("recognition %d ms; kill to redelivery %s (AckWait %s); kill to result %s",
		res.RecognitionMs, redelivered.Sub(killed).Round(time.Millisecond), ackWait, toResult.Round(time.Millisecond))

	ctx := t.Context()
	jobs, err := js.Stream(ctx, contracts.JobsStream)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := jobs.Info(ctx)
		return err == nil && info.State.Msgs == 0
	}, 10*time.Second, 50*time.Millisecond, "the job was never acknowledged")
	cons, err := js.Consumer(ctx, contracts.JobsStream, contracts.JobsConsumer)
	require.NoError(t, err)
	ci, err := cons.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, ci.Delivered.Consumer, "deliveries: one to the killed worker, one to the survivor")

	stored, err := js.Stream(ctx, contracts.ResultsStream)
	require.NoError(t, err)
	info, err := stored.Info(ctx)
	require.NoError(t, err)
	// The stream keeps one message per subject, so a second result would
	// have replaced the first: LastSeq 1 shows none was ever stored.
	require.EqualValues(t, 1, info.State.LastSeq, "results stored")
	require.NoError(t, nc.Flush())
	pending, _, err := results.Pending()
	require.NoError(t, err)
	require.Zero(t, pending, "the result was published more than once")

	events, err := js.Stream(ctx, contracts.EventsStream)
	require.NoError(t, err)
	info, err = events.Info(ctx, jetstream.WithSubjectFilter(contracts.SubjectEventsUsage))
	require.NoError(t, err)
	require.EqualValues(t, 1, info.State.Subjects[contracts.SubjectEventsUsage], "usage events stored")
	raw, err := events.GetLastMsgForSubject(ctx, contracts.SubjectEventsUsage)
	require.NoError(t, err)
	var usage contracts.UsageEvent
	require.NoError(t, json.Unmarshal(raw.Data, &usage))
	require.Equal(t, jobID, usage.JobID)
	require.Equal(t, contracts.JobSucceeded, usage.Outcome)
}

// startNATS runs a JetStream server in-process and returns its URL.
func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	require.NoError(t, err)
	ns.Start()
	require.True(t, ns.ReadyForConnections(10*time.Second))
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

// workerProc is an ocr-worker process whose log the test reads as it runs.
type workerProc struct {
	cmd *exec.Cmd
	log *procLog
}

// startWorker runs an ocr-worker with one slot and the given AckWait, which
// every worker sharing the consumer must be given.
func startWorker(t *testing.T, natsURL string, ackWait time.Duration) *workerProc {
	t.Helper()
	w := &workerProc{cmd: exec.Command(filepath.Join(buildServices(t), "ocr-worker")), log: &procLog{}}
	w.cmd.Env = append(os.Environ(),
		"OCR_NATS_URL="+natsURL, "OCR_WORKER_CONCURRENCY=1", "OCR_WORKER_LANGUAGES=eng+spa",
		"OCR_WORKER_ACK_WAIT="+ackWait.String(), "OCR_LOG_LEVEL=debug", "OCR_OPS_ADDR=127.0.0.1:0",
	)
	w.cmd.Stdout, w.cmd.Stderr = w.log, w.log
	require.NoError(t, w.cmd.Start())
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			stop(w.cmd)
		}
		if strings.Contains(w.log.String(), "WARNING: DATA RACE") {
			t.Errorf("worker (pid %d) reported a data race; see its log below", w.cmd.Process.Pid)
		}
	})
	return w
}

// kill sends SIGKILL, so the worker gets no chance to nak, drain or close
// its connection cleanly, and waits until it is gone.
func (w *workerProc) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, w.cmd.Process.Kill())
	_ = w.cmd.Wait() // "signal: killed"; the status is checked below
	ws, ok := w.cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "worker ended with %s, not by the kill", w.cmd.ProcessState)
}

// procLog collects a process's output; the process writes while the test
// reads.
type procLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *procLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *procLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *procLog) tail(n int) string {
	s := l.String()
	return s[max(0, len(s)-n):]
}

// find returns the time of the first JSON log line with the given msg and
// job_id ("" for lines without one).
func (l *procLog) find(msg, jobID string) (time.Time, bool) {
	for line := range strings.Lines(l.String()) {
		var e struct {
			Time  time.Time `json:"time"`
			Msg   string    `json:"msg"`
			JobID string    `json:"job_id"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Msg == msg && e.JobID == jobID {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

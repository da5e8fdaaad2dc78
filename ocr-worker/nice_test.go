package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/config"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/natstest"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/ompenv"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/priority"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/ocrstack/ocrstack/ops"
	"github.com/stretchr/testify/require"
)

// TestRunNice checks OCR_WORKER_NICE on the program as started: in a
// worker started without OMP_THREAD_LIMIT (so through the re-execution),
// a recognition runs on a thread at the nice value asked for while every
// other thread (those that fetch and publish jobs) keeps its priority, and
// no thread is left at that value once the job is done.
func TestRunNice(t *testing.T) {
	const nice = 7
	s := natstest.Start(t)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, ompenv.Var+"=") && !strings.HasPrefix(kv, "OCR_") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(env, runMainVar+"=1",
		config.EnvNATSURL+"="+s.ClientURL(), config.EnvConcurrency+"=2", config.EnvLanguages+"=eng",
		ops.EnvAddr+"=off", config.EnvNice+"="+strconv.Itoa(nice), config.EnvLogLevel+"=warn")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	pid := cmd.Process.Pid // the re-execution keeps the pid
	// niceThreads returns the worker's threads by nice value.
	niceThreads := func() map[int][]int {
		out := map[int][]int{}
		tids, err := priority.Threads(pid)
		require.NoError(t, err)
		for _, tid := range tids {
			if n, err := priority.Nice(pid, tid); err == nil { // a thread may end meanwhile
				out[n] = append(out[n], tid)
			}
		}
		return out
	}

	nc, js := natstest.Connect(t, s)
	require.Eventually(t, func() bool {
		_, err := nc.Request("$SRV.PING."+contracts.WorkerName, nil, time.Second)
		return err == nil
	}, 30*time.Second, 50*time.Millisecond, "no answer to the health ping; output:\n%s", &logs)
	environ, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	require.NoError(t, err)
	require.True(t, slices.Contains(strings.Split(string(environ), "\x00"), ompenv.Var+"="+ompenv.Value), "the worker re-executed itself")
	idle := niceThreads()
	require.Equal(t, []int{0}, slices.Collect(maps.Keys(idle)), "before any job every thread runs at nice 0")

	lines := make([]string, 80)
	for i := range lines {
		lines[i] = fmt.Sprintf("%02d A long page keeps Tesseract busy while its threads are read", i)
	}
	job, err := json.Marshal(contracts.OCRJob{JobID: "job_nice", Producer: "ingress", Image: testimage.TextPNG(t, lines...)})
	require.NoError(t, err)
	m := nats.NewMsg(contracts.SubjectJobs)
	m.Data = job
	m.Header.Set(contracts.HeaderMsgID, "job_nice")
	_, err = js.PublishMsg(t.Context(), m)
	require.NoError(t, err)

	var during map[int][]int
	require.Eventually(t, func() bool {
		during = niceThreads()
		return len(during[nice]) == 1
	}, 30*time.Second, time.Millisecond, "no thread at nice %d while the job runs; output:\n%s", nice, &logs)
	require.Len(t, during, 2, "threads by nice value: %v", during)
	require.NotEmpty(t, during[0], "the other threads keep their priority")
	require.NotContains(t, during[nice], pid, "the main thread keeps its priority")

	results, err := js.Stream(t.Context(), contracts.ResultsStream)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := results.GetLastMsgForSubject(t.Context(), contracts.ResultSubject("job_nice"))
		return err == nil
	}, 60*time.Second, 20*time.Millisecond, "no result; output:\n%s", &logs)
	require.Eventually(t, func() bool {
		return len(niceThreads()[nice]) == 0
	}, 5*time.Second, 10*time.Millisecond, "the recognition's thread ended with it")
}

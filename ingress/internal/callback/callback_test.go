package callback

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/httpapi"
	"github.com/ocrstack/ocrstack/ingress/internal/jobs"
	"github.com/ocrstack/ocrstack/ingress/internal/natstest"
	"github.com/ocrstack/ocrstack/ingress/internal/testlog"
	"github.com/stretchr/testify/require"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	now    = time.Unix(1_767_225_640, 0)
)

// receiver is a callback endpoint answering a scripted status per call
// (the last repeating) and recording what it got.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	got      []received
}

type received struct {
	body      []byte
	signature string
	jobID     string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = append(rc.got, received{body: body, signature: r.Header.Get(SignatureHeader), jobID: r.Header.Get("X-OCR-Job-Id")})
	w.WriteHeader(rc.statuses[min(len(rc.got), len(rc.statuses))-1])
}

func (rc *receiver) calls() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// setup runs JetStream, the jobs Submitter and a started Deliverer using
// client, and returns the Submitter, the JetStream handle and the logs.
func setup(t *testing.T, client *http.Client) (*jobs.Submitter, jetstream.JetStream, *testlog.Buffer) {
	t.Helper()
	nc, js := natstest.JetStream(t)
	sub, err := jobs.New(t.Context(), nc, js)
	require.NoError(t, err)
	logs := &testlog.Buffer{}
	d, err := New(Config{
		JetStream: js, Records: sub, Body: httpapi.JobBody, Secret: secret, Client: client,
		Backoff: []time.Duration{10 * time.Millisecond}, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Now: func() time.Time { return now },
	})
	require.NoError(t, err)
	require.NoError(t, d.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, d.Stop(ctx))
	})
	return sub, js, logs
}

// finish queues a job with callbackURL and publishes its result, as the
// worker does; it returns the result.
func finish(t *testing.T, sub *jobs.Submitter, js jetstream.JetStream, jobID, callbackURL string) contracts.OCRResult {
	t.Helper()
	job := contracts.OCRJob{JobID: jobID, Producer: "ingress", KeyID: "key_1", OwnerID: "ada", SubmittedAt: 1_767_225_630_000}
	require.NoError(t, sub.Enqueue(t.Context(), job, []byte("PNG"), callbackURL))
	res := contracts.OCRResult{JobID: jobID, Status: contracts.JobSucceeded, Text: "Hola", RecognitionMs: 7, CompletedAt: 1_767_225_639_000}
	b, err := json.Marshal(res)
	require.NoError(t, err)
	_, err = js.Publish(t.Context(), contracts.ResultSubject(jobID), b)
	require.NoError(t, err)
	return res
}

// settled waits until the consumer has nothing pending or in flight.
func settled(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, err := js.Consumer(t.Context(), contracts.ResultsStream, contracts.CallbacksConsumer)
		if err != nil {
			return false
		}
		info, err := c.Info(t.Context())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0
	}, 10*time.Second, 10*time.Millisecond, "results left unsettled")
}

// TestCallbackRetriedAndSigned checks that a job's callback is POSTed the
// body of GET /v1/jobs/{id}, signed, that an answer other than 2xx is
// retried, and that a 2xx ends the delivery; a job without a callbackUrl
// gets none.
func TestCallbackRetriedAndSigned(t *testing.T) {
	rc := &receiver{statuses: []int{500, 204}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	sub, js, _ := setup(t, NewClient(true))

	finish(t, sub, js, "job_quiet", "")
	res := finish(t, sub, js, "job_cb", srv.URL+"/hook?t=1")
	require.Eventually(t, func() bool { return len(rc.calls()) == 2 }, 10*time.Second, 10*time.Millisecond)
	settled(t, js)

	rec, err := sub.Record(t.Context(), "job_cb")
	require.NoError(t, err)
	want, err := httpapi.JobBody(rec, &res)
	require.NoError(t, err)
	for _, c := range rc.calls() {
		require.Equal(t, "job_cb", c.jobID)
		require.JSONEq(t, string(want), string(c.body))
		require.Equal(t, "t=1767225640,v1=", c.signature[:len("t=1767225640,v1=")])
		require.NoError(t, Verify(secret, c.signature, c.body, now.Add(time.Minute), 5*time.Minute))
	}
	require.Len(t, rc.calls(), 2, "a 2xx answer was delivered again")
}

// TestCallbackGivesUp checks that a callback failing every time is tried
// MaxDeliver times and then dropped.
func TestCallbackGivesUp(t *testing.T) {
	rc := &receiver{statuses: []int{503}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	sub, js, logs := setup(t, NewClient(true))
	finish(t, sub, js, "job_down", srv.URL)
	require.Eventually(t, func() bool { return len(rc.calls()) == MaxDeliver }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		c, err := js.Consumer(t.Context(), contracts.ResultsStream, contracts.CallbacksConsumer)
		if err != nil {
			return false
		}
		info, err := c.Info(t.Context())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, 10*time.Second, 10*time.Millisecond)
	require.Len(t, rc.calls(), MaxDeliver)
	require.Equal(t, 1, strings.Count(logs.String(), "callback given up"), logs.String())
}

// TestCallbackRefusesPrivateAddress checks that the default client does not
// call a loopback address, and that such a callback is dropped at once
// rather than retried.
func TestCallbackRefusesPrivateAddress(t *testing.T) {
	rc := &receiver{statuses: []int{200}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	sub, js, logs := setup(t, NewClient(false))
	finish(t, sub, js, "job_private", srv.URL)
	settled(t, js)
	require.Empty(t, rc.calls())
	require.Contains(t, logs.String(), "callback dropped")
	require.NotContains(t, logs.String(), "will retry")
}

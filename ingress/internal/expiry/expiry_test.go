package expiry

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/jobs"
	"github.com/ocrstack/ocrstack/ingress/internal/natstest"
	"github.com/stretchr/testify/require"
)

// jobsMaxAge is the jobs stream's MaxAge in these tests.
const jobsMaxAge = time.Second

// keys records refund calls, as keyservice would take them.
// keys records refund calls and, like keyservice, refunds an idempotency
// key once: a repeat answers Refunded false.
type keys struct {
	mu       sync.Mutex
	calls    []contracts.RefundRequest
	refunded []contracts.RefundRequest
}

func (k *keys) Refund(_ context.Context, req contracts.RefundRequest) (contracts.RefundResponse, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, req)
	for _, r := range k.refunded {
		if r.IdempotencyKey == req.IdempotencyKey {
			return contracts.RefundResponse{}, nil
		}
	}
	k.refunded = append(k.refunded, req)
	return contracts.RefundResponse{Refunded: true}, nil
}

// got returns the refunds made, and how many calls asked for one.
func (k *keys) got() ([]contracts.RefundRequest, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]contracts.RefundRequest(nil), k.refunded...), len(k.calls)
}

// env is the ingress's side of NATS: the streams and buckets as jobs.New
// makes them (the jobs stream's MaxAge cut to jobsMaxAge), and no worker.
type env struct {
	nc        *nats.Conn
	js        jetstream.JetStream
	submitter *jobs.Submitter
	keys      *keys
	log       *slog.Logger
}

func start(t *testing.T) *env {
	t.Helper()
	nc, js := natstest.JetStream(t)
	submitter, err := jobs.New(t.Context(), nc, js)
	require.NoError(t, err)
	st, err := js.Stream(t.Context(), contracts.JobsStream)
	require.NoError(t, err)
	cfg := st.CachedInfo().Config
	cfg.MaxAge, cfg.Duplicates = jobsMaxAge, jobsMaxAge
	_, err = js.UpdateStream(t.Context(), cfg)
	require.NoError(t, err)
	return &env{nc: nc, js: js, submitter: submitter, keys: &keys{}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func (e *env) sweeper(t *testing.T) *Sweeper {
	t.Helper()
	s, err := New(t.Context(), Config{JetStream: e.js, Keys: e.keys, Logger: e.log, Margin: 0, Interval: time.Minute})
	require.NoError(t, err)
	return s
}

// enqueue submits a job paid for by key_1 as the ingress does.
func (e *env) enqueue(t *testing.T, jobID string) {
	t.Helper()
	job := contracts.OCRJob{JobID: jobID, RequestID: "req_" + jobID, Producer: "ingress", KeyID: "key_1", OwnerID: "ada@example.com",
		Image: []byte("PNG"), SubmittedAt: time.Now().UnixMilli()}
	require.NoError(t, e.submitter.Enqueue(t.Context(), job, job.Image, "https://example.com/hook"))
}

// waitAgedOut waits until the jobs stream has dropped every job, and a
// little more, so that the records are older than its MaxAge.
func (e *env) waitAgedOut(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		st, err := e.js.Stream(t.Context(), contracts.JobsStream)
		return err == nil && st.CachedInfo().State.Msgs == 0
	}, 10*time.Second, 50*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
}

func (e *env) publishResult(t *testing.T, jobID string) {
	t.Helper()
	b, err := json.Marshal(contracts.OCRResult{JobID: jobID, Status: contracts.JobSucceeded, Text: "done"})
	require.NoError(t, err)
	_, err = e.js.Publish(t.Context(), contracts.ResultSubject(jobID), b)
	require.NoError(t, err)
}

func (e *env) record(t *testing.T, jobID string) map[string]json.RawMessage {
	t.Helper()
	kv, err := e.js.KeyValue(t.Context(), contracts.JobsBucket)
	require.NoError(t, err)
	entry, err := kv.Get(t.Context(), jobID)
	require.NoError(t, err)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(entry.Value(), &m))
	return m
}

// TestSweepExpiredJob checks the guarantee: a job that aged out of the jobs
// stream while queued gets a failed result (TIMEOUT), its record says
// failed and keeps its other members, and its key is refunded by the job
// id (once: keyservice refunds an idempotency key once however often it is
// asked), although three replicas sweep at the same time and sweep again
// later; no usage event is published. So does a job whose record says
// running since before its message aged out (its worker died: nobody will
// take it again). A job a worker finished, a job that started running
// lately, and a job not yet aged out are left alone.
func TestSweepExpiredJob(t *testing.T) {
	e := start(t)
	e.enqueue(t, "job_lost")
	e.enqueue(t, "job_done")
	e.enqueue(t, "job_stuck")
	e.enqueue(t, "job_running")
	e.publishResult(t, "job_done")
	e.markRunning(t, "job_stuck")
	e.waitAgedOut(t)
	e.markRunning(t, "job_running") // taken just before it aged out
	e.enqueue(t, "job_young")       // its record is younger than MaxAge

	replicas := []*Sweeper{e.sweeper(t), e.sweeper(t), e.sweeper(t)}
	counts := make([]int, len(replicas))
	var wg sync.WaitGroup
	for i, s := range replicas {
		wg.Go(func() {
			n, err := s.Sweep(t.Context())
			require.NoError(t, err)
			counts[i] = n
		})
	}
	wg.Wait()
	require.Equal(t, 2, counts[0]+counts[1]+counts[2], "one replica marks each job: %v", counts)

	rec, res, err := e.submitter.Lookup(t.Context(), "job_lost")
	require.NoError(t, err)
	require.NotNil(t, res)
	require.Equal(t, contracts.JobFailed, res.Status)
	require.Equal(t, contracts.CodeTimeout, res.Error.Code)
	require.Equal(t, "req_job_lost", res.RequestID)
	require.Equal(t, contracts.JobFailed, rec.Status)
	require.Equal(t, "https://example.com/hook", rec.CallbackURL, "the record's other members are kept")

	rec, res, err = e.submitter.Lookup(t.Context(), "job_stuck")
	require.NoError(t, err)
	require.NotNil(t, res)
	require.Equal(t, contracts.CodeTimeout, res.Error.Code)
	require.Equal(t, contracts.JobFailed, rec.Status)

	refunded, calls := e.keys.got()
	require.ElementsMatch(t, []contracts.RefundRequest{
		{KeyID: "key_1", IdempotencyKey: "job_lost", Reason: "job expired: TIMEOUT"},
		{KeyID: "key_1", IdempotencyKey: "job_stuck", Reason: "job expired: TIMEOUT"},
	}, refunded)
	require.LessOrEqual(t, calls, 2*len(replicas), "at most one call per job and racing replica")

	for _, s := range replicas {
		n, err := s.Sweep(t.Context())
		require.NoError(t, err)
		require.Zero(t, n)
	}
	fresh := e.sweeper(t) // a replica started later reads the whole bucket
	n, err := fresh.Sweep(t.Context())
	require.NoError(t, err)
	require.Zero(t, n)
	_, after := e.keys.got()
	require.Equal(t, calls, after, "a settled job is not refunded again")
	st, err := e.js.Stream(t.Context(), contracts.EventsStream)
	require.NoError(t, err)
	require.Zero(t, st.CachedInfo().State.Msgs, "no usage event")
	require.JSONEq(t, `"queued"`, string(e.record(t, "job_done")[contracts.RecordStatusMember]), "a finished job's record is left alone")
	require.JSONEq(t, `"running"`, string(e.record(t, "job_running")[contracts.RecordStatusMember]))
	require.JSONEq(t, `"queued"`, string(e.record(t, "job_young")[contracts.RecordStatusMember]))

	// The young jobs age out in turn and the next sweep, starting from
	// where the last one stopped, settles them: the running one has run
	// past MaxAge plus the margin by then.
	e.waitAgedOut(t)
	n, err = replicas[0].Sweep(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, n)
	refunded, _ = e.keys.got()
	require.Len(t, refunded, 4)
	require.ElementsMatch(t, []string{"job_running", "job_young"}, []string{refunded[2].IdempotencyKey, refunded[3].IdempotencyKey})
}

// markRunning makes jobID's record say running, as a worker taking the
// job does.
func (e *env) markRunning(t *testing.T, jobID string) {
	t.Helper()
	kv, err := e.js.KeyValue(t.Context(), contracts.JobsBucket)
	require.NoError(t, err)
	rec := e.record(t, jobID)
	rec[contracts.RecordStatusMember], _ = json.Marshal(contracts.JobRunning)
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	_, err = kv.Put(t.Context(), jobID, b)
	require.NoError(t, err)
}

// TestSweepMargin checks that a queued record is left alone until the
// jobs stream's MaxAge plus the margin has passed.
func TestSweepMargin(t *testing.T) {
	e := start(t)
	e.enqueue(t, "job_1")
	e.waitAgedOut(t)
	now := time.Now()
	s, err := New(t.Context(), Config{JetStream: e.js, Keys: e.keys, Logger: e.log, Margin: time.Hour, Interval: time.Minute,
		Now: func() time.Time { return now }})
	require.NoError(t, err)
	n, err := s.Sweep(t.Context())
	require.NoError(t, err)
	require.Zero(t, n, "within the margin")
	now = now.Add(time.Hour)
	n, err = s.Sweep(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, n, "past the margin")
}

// TestNewConfig checks that a bad configuration is refused with every
// problem named.
func TestNewConfig(t *testing.T) {
	_, err := New(t.Context(), Config{Margin: -time.Second})
	require.ErrorContains(t, err, "JetStream, Keys and Logger are required")
	require.ErrorContains(t, err, "margin -1s is negative")
	require.ErrorContains(t, err, "interval 0s is not positive")
}

// TestDecodeRecord checks what counts as a job record.
func TestDecodeRecord(t *testing.T) {
	cases := []struct {
		name       string
		data       string
		wantStatus contracts.JobStatus
		wantErr    string
	}{
		{name: "queued", data: `{"jobId":"job_1","status":"queued","submittedAt":1,"future":{"a":1}}`, wantStatus: contracts.JobQueued},
		{name: "running", data: `{"jobId":"job_1","status":"running"}`, wantStatus: contracts.JobRunning},
		{name: "not JSON", data: `PNG`, wantErr: "not a JSON object"},
		{name: "null", data: `null`, wantErr: "not a JSON object"},
		{name: "array", data: `[1]`, wantErr: "not a JSON object"},
		{name: "wrong type", data: `{"jobId":1,"status":"queued"}`, wantErr: "not a job record"},
		{name: "no status", data: `{"jobId":"job_1"}`, wantErr: "no job id or status"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, members, err := decodeRecord([]byte(tc.data))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantStatus, rec.Status)
			require.Contains(t, members, "jobId")
		})
	}
}

// FuzzDecodeRecord checks that any KV value is either refused or read as a
// record with a job id and a status whose members round-trip.
func FuzzDecodeRecord(f *testing.F) {
	for _, seed := range []string{`{"jobId":"job_1","status":"queued"}`, `{"jobId":"","status":"x"}`, `null`, `{}`, `{"jobId":"a","status":"queued","x":[1,{"y":null}]}`, "\xff"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, members, err := decodeRecord(data)
		if err != nil {
			return
		}
		if rec.JobID == "" || rec.Status == "" || members == nil {
			t.Fatalf("accepted %q as %+v", data, rec)
		}
		if _, err := json.Marshal(members); err != nil {
			t.Fatalf("members of %q do not encode: %v", data, err)
		}
	})
}

// TestNewWarnsShortRecords checks that a records bucket whose TTL ends
// before a job could be seen aged out is reported at start.
func TestNewWarnsShortRecords(t *testing.T) {
	cases := []struct {
		name     string
		maxAge   time.Duration // of the jobs stream; records live contracts.JobsBucketMaxAge
		wantWarn bool
	}{
		{name: "records outlive jobs", maxAge: time.Hour},
		{name: "the defaults", maxAge: contracts.JobsMaxAge},
		{name: "records die with jobs", maxAge: contracts.JobsBucketMaxAge, wantWarn: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nc, js := natstest.JetStream(t)
			_, err := jobs.New(t.Context(), nc, js)
			require.NoError(t, err)
			st, err := js.Stream(t.Context(), contracts.JobsStream)
			require.NoError(t, err)
			cfg := st.CachedInfo().Config
			cfg.MaxAge = tc.maxAge
			_, err = js.UpdateStream(t.Context(), cfg)
			require.NoError(t, err)
			var logs syncBuffer
			_, err = New(t.Context(), Config{JetStream: js, Keys: &keys{}, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Margin: DefaultMargin, Interval: DefaultInterval})
			require.NoError(t, err)
			if tc.wantWarn {
				require.Contains(t, logs.String(), "will not be refunded")
			} else {
				require.Empty(t, logs.String())
			}
		})
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/jobs"
	"github.com/ocrstack/ocrstack/ingress/internal/natstest"
	"github.com/stretchr/testify/require"
)

// The /v1 tests run the API on the real jobs.Submitter against an
// in-process JetStream server. A fake worker sees each job on the jobs
// subject and is driven by the test: it updates the job's record the way
// the OCR worker does, and publishes the result on the results stream.

// v1Stack is the API, its JetStream and the fake worker's view.
type v1Stack struct {
	app     *fiber.App
	keys    *stubKeys
	js      jetstream.JetStream
	records jetstream.KeyValue
	// jobs receives every job published.
	jobs chan contracts.OCRJob
}

// startV1 runs the API with the given synchronous wait.
func startV1(t *testing.T, syncWait time.Duration) *v1Stack {
	t.Helper()
	nc, js := natstest.JetStream(t)
	submitter, err := jobs.New(t.Context(), nc, js)
	require.NoError(t, err)
	records, err := js.KeyValue(t.Context(), contracts.JobsBucket)
	require.NoError(t, err)

	st := &v1Stack{keys: &stubKeys{}, js: js, records: records, jobs: make(chan contracts.OCRJob, 16)}
	_, err = nc.Subscribe(contracts.SubjectJobs, func(m *nats.Msg) {
		var job contracts.OCRJob
		if json.Unmarshal(m.Data, &job) == nil {
			st.jobs <- job
		}
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	cfg := testConfig(st.keys, nil)
	cfg.Jobs, cfg.SyncWait, cfg.Callbacks = submitter, syncWait, true
	st.app = New(cfg)
	return st
}

// nextJob waits for the next job published.
func (st *v1Stack) nextJob(t *testing.T) contracts.OCRJob {
	t.Helper()
	select {
	case job := <-st.jobs:
		return job
	case <-time.After(5 * time.Second):
		t.Fatal("no job published")
		return contracts.OCRJob{}
	}
}

// start marks the job running with page of pages done (none when pages is
// 0), patching its record as the worker does.
func (st *v1Stack) start(t *testing.T, jobID string, page, pages int) error {
	// The record is stored on its own stream just before the job, and may
	// be stored after the job is delivered: the worker reads it again for
	// a while (ocr-worker's readRecord), and so does this.
	e, err := st.records.Get(t.Context(), jobID)
	for wait := 5 * time.Millisecond; errors.Is(err, jetstream.ErrKeyNotFound) && wait < time.Second; wait *= 2 {
		time.Sleep(wait)
		e, err = st.records.Get(t.Context(), jobID)
	}
	if err != nil {
		return err
	}
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return err
	}
	rec[contracts.RecordStatusMember] = json.RawMessage(`"running"`)
	rec[contracts.RecordStartedAtMember] = json.RawMessage(`1767225631000`)
	if pages > 0 {
		rec[contracts.RecordProgressMember] = json.RawMessage(fmt.Sprintf(`{"page":%d,"pages":%d}`, page, pages))
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = st.records.Update(t.Context(), jobID, b, e.Revision())
	return err
}

// finish publishes res as the job's result, as the worker does.
func (st *v1Stack) finish(t *testing.T, job contracts.OCRJob, res contracts.OCRResult) error {
	res.JobID, res.RequestID = job.JobID, job.RequestID
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	_, err = st.js.Publish(t.Context(), contracts.ResultSubject(job.JobID), b, jetstream.WithMsgID(job.JobID+".result"))
	return err
}

// v1Request builds a /v1 submission, JSON or multipart, with the options
// given as strings.
func v1Request(t *testing.T, route, auth string, multipartBody bool, image []byte, opts map[string]string) *http.Request {
	t.Helper()
	var body bytes.Buffer
	ctype := "application/json"
	if multipartBody {
		mw := multipart.NewWriter(&body)
		fw, err := mw.CreateFormFile("image", "scan.png")
		require.NoError(t, err)
		_, _ = fw.Write(image)
		for k, v := range opts {
			require.NoError(t, mw.WriteField(k, v))
		}
		require.NoError(t, mw.Close())
		ctype = mw.FormDataContentType()
	} else {
		m := map[string]any{"image": base64.StdEncoding.EncodeToString(image)}
		for k, v := range opts {
			m[k] = v
			if k == "pageSegMode" {
				m[k] = json.Number(v)
			}
		}
		require.NoError(t, json.NewEncoder(&body).Encode(m))
	}
	req := httptest.NewRequest(http.MethodPost, route, &body)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("X-Request-Id", "req-v1")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return req
}

// getJob polls GET /v1/jobs/{id} with key.
func getJob(t *testing.T, app *fiber.App, key, jobID string) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/v1/jobs/"+jobID, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return do(t, app, req)
}

// TestV1OCRSync checks that POST /v1/ocr, with the image as a file part or
// as base64 JSON, passes its options to the job and answers 200 with the
// exact result body and X-Recognition-Ms.
func TestV1OCRSync(t *testing.T) {
	st := startV1(t, 5*time.Second)
	for _, multipartBody := range []bool{true, false} {
		t.Run(fmt.Sprintf("multipart=%v", multipartBody), func(t *testing.T) {
			done := make(chan contracts.OCRJob, 1)
			go func() {
				job := <-st.jobs
				if err := st.finish(t, job, contracts.OCRResult{Status: contracts.JobSucceeded, Text: "Hola", RecognitionMs: 42,
					Words: []contracts.TextBox{{Page: 1, Text: "Hola", Confidence: 91, Width: 40, Height: 12}}}); err != nil {
					t.Errorf("finish: %v", err)
				}
				done <- job
			}()
			req := v1Request(t, "/v1/ocr", "Bearer good", multipartBody, pngBytes,
				map[string]string{"languages": "eng+spa", "pageSegMode": "6", "output": "text,words"})
			r := do(t, st.app, req)
			require.Equal(t, 200, r.status, r.raw)
			job := <-done
			require.Equal(t, []string{"eng", "spa"}, job.Languages)
			require.Equal(t, 6, job.PageSegMode)
			require.Equal(t, []string{"words"}, job.Outputs)
			require.Equal(t, "key_1", job.KeyID)
			require.Equal(t, job.JobID, r.header.Get("X-Job-Id"))
			require.Equal(t, "42", r.header.Get("X-Recognition-Ms"))
			require.JSONEq(t, `{"requestId":"req-v1","jobId":"`+job.JobID+`","status":"succeeded","text":"Hola",
				"words":[{"page":1,"text":"Hola","confidence":91,"x":0,"y":0,"width":40,"height":12}],"recognitionMs":42}`, r.raw)
		})
	}
}

// TestV1OCRSlowBecomesJob checks that a synchronous request whose result
// does not come within the wait is a 202 with the job to poll (never a
// timeout), and that polling it ends with the result.
func TestV1OCRSlowBecomesJob(t *testing.T) {
	st := startV1(t, 200*time.Millisecond)
	started := make(chan contracts.OCRJob, 1)
	go func() {
		job := <-st.jobs
		if err := st.start(t, job.JobID, 0, 0); err != nil {
			t.Errorf("start: %v", err)
		}
		started <- job
	}()
	r := do(t, st.app, v1Request(t, "/v1/ocr", "Bearer good", true, pngBytes, nil))
	require.Equal(t, 202, r.status, r.raw)
	job := <-started
	require.Equal(t, "/v1/jobs/"+job.JobID, r.header.Get("Location"))
	require.JSONEq(t, `{"jobId":"`+job.JobID+`","status":"running","statusUrl":"/v1/jobs/`+job.JobID+`"}`, r.raw)

	r = getJob(t, st.app, "good", job.JobID)
	require.Equal(t, 200, r.status, r.raw)
	require.Equal(t, "running", r.body["status"])
	require.NoError(t, st.finish(t, job, contracts.OCRResult{Status: contracts.JobSucceeded, Text: "late", RecognitionMs: 900, CompletedAt: 1767225640000}))
	r = getJob(t, st.app, "good", job.JobID)
	require.Equal(t, 200, r.status, r.raw)
	require.JSONEq(t, `{"jobId":"`+job.JobID+`","status":"succeeded","submittedAt":1767225630000,"startedAt":1767225631000,
		"completedAt":1767225640000,"result":{"requestId":"req-v1","jobId":"`+job.JobID+`","status":"succeeded","text":"late","recognitionMs":900}}`, r.raw)
}

// TestV1JobLifecycle checks POST /v1/jobs (202, Location, queued) and that
// GET /v1/jobs/{id} follows the job from queued through running with page
// progress to its end, verifying the key without spending a credit or a
// unit of an auto-applied rate limit.
func TestV1JobLifecycle(t *testing.T) {
	cases := []struct {
		name       string
		result     contracts.OCRResult
		wantStatus string
		wantEnd    string // members after completedAt
	}{
		{"succeeded", contracts.OCRResult{Status: contracts.JobSucceeded, Text: "one\ftwo", RecognitionMs: 1500, CompletedAt: 1767225640000,
			Pages: []contracts.PageResult{{Page: 1, Text: "one", Source: "text_layer"}, {Page: 2, Text: "two", Source: "ocr"}}},
			"succeeded", `"progress":{"page":2,"pages":2},"result":{"requestId":"req-v1","jobId":"JOB","status":"succeeded","text":"one\ftwo",
			"pages":[{"page":1,"text":"one","source":"text_layer"},{"page":2,"text":"two","source":"ocr"}],"recognitionMs":1500}`},
		{"failed", contracts.OCRResult{Status: contracts.JobFailed, CompletedAt: 1767225640000,
			Error: &contracts.Error{Code: contracts.CodeUnreadableImage, Message: "the image could not be decoded"}},
			"failed", `"progress":{"page":1,"pages":2},"error":{"code":"UNREADABLE_IMAGE","message":"the image could not be decoded"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := startV1(t, time.Second)
			r := do(t, st.app, v1Request(t, "/v1/jobs", "Bearer good", false, pngBytes, map[string]string{"callbackUrl": "https://example.com/hook?t=1"}))
			require.Equal(t, 202, r.status, r.raw)
			job := st.nextJob(t)
			id := job.JobID
			require.Equal(t, "/v1/jobs/"+id, r.header.Get("Location"))
			require.JSONEq(t, `{"jobId":"`+id+`","status":"queued","statusUrl":"/v1/jobs/`+id+`"}`, r.raw)
			e, err := st.records.Get(t.Context(), id)
			require.NoError(t, err)
			require.JSONEq(t, `{"jobId":"`+id+`","requestId":"req-v1","keyId":"key_1","ownerId":"ada@example.com","status":"queued",
				"submittedAt":1767225630000,"callbackUrl":"https://example.com/hook?t=1"}`, string(e.Value()))

			r = getJob(t, st.app, "good", id)
			require.Equal(t, 200, r.status, r.raw)
			require.JSONEq(t, `{"jobId":"`+id+`","status":"queued","submittedAt":1767225630000}`, r.raw)

			require.NoError(t, st.start(t, id, 1, 2))
			r = getJob(t, st.app, "good", id)
			require.JSONEq(t, `{"jobId":"`+id+`","status":"running","submittedAt":1767225630000,"startedAt":1767225631000,
				"progress":{"page":1,"pages":2}}`, r.raw)

			require.NoError(t, st.finish(t, job, tc.result))
			r = getJob(t, st.app, "good", id)
			require.Equal(t, 200, r.status, r.raw)
			require.JSONEq(t, `{"jobId":"`+id+`","status":"`+tc.wantStatus+`","submittedAt":1767225630000,"startedAt":1767225631000,
				"completedAt":1767225640000,`+strings.ReplaceAll(tc.wantEnd, "JOB", id)+`}`, r.raw)

			// One charged verification for the submission, then free ones.
			st.keys.mu.Lock()
			defer st.keys.mu.Unlock()
			require.Len(t, st.keys.verified, 4)
			require.Nil(t, st.keys.verified[0].Credits, "the submission is charged as the other OCR routes")
			zero := int64(0)
			for _, v := range st.keys.verified[1:] {
				require.Equal(t, &contracts.VerifyCredits{Cost: 0}, v.Credits)
				require.Equal(t, []contracts.VerifyRatelimit{{Name: "requests", Cost: &zero}, {Name: "burst", Cost: &zero}}, v.Ratelimits)
				require.Equal(t, []string{"route=/v1/jobs/{id}"}, v.Tags)
			}
		})
	}
}

// TestV1JobAccess checks who may read a job: the key that submitted it and
// the owner's other keys; another owner's key, an unknown id and a
// malformed one get the same 404; a bad key is a 401.
func TestV1JobAccess(t *testing.T) {
	st := startV1(t, time.Second)
	r := do(t, st.app, v1Request(t, "/v1/jobs", "Bearer good", true, pngBytes, nil))
	require.Equal(t, 202, r.status, r.raw)
	id := st.nextJob(t).JobID
	cases := []struct {
		name       string
		key, id    string
		wantStatus int
		wantReason string
	}{
		{"submitting key", "good", id, 200, ""},
		{"same owner's other key", "good2", id, 200, ""},
		{"another owner's key", "other", id, 404, "NOT_FOUND"},
		{"unknown id", "good", "job_0123456789abcdef01234567", 404, "NOT_FOUND"},
		{"malformed id", "good", "job.x", 404, "NOT_FOUND"},
		{"no key", "", id, 401, "INVALID_AUTH_HEADER"},
		{"unknown key", "nope", id, 401, "INVALID_API_KEY"},
		{"expired key", "expired", id, 401, "INVALID_API_KEY"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := getJob(t, st.app, tc.key, tc.id)
			require.Equal(t, tc.wantStatus, r.status, r.raw)
			if tc.wantReason != "" {
				require.Equal(t, tc.wantReason, reason(r), r.raw)
				require.Equal(t, float64(tc.wantStatus), r.body["error"].(map[string]any)["code"], "PicToText's envelope")
				if tc.wantStatus == 404 {
					require.JSONEq(t, `{"error":{"code":404,"message":"No job with this id; a job is kept 24 hours","status":"Not Found","details":[{"reason":"NOT_FOUND"}]}}`, r.raw)
				}
				return
			}
			require.Equal(t, id, r.body["jobId"])
			require.Equal(t, "queued", r.body["status"])
		})
	}
}

// TestV1BadInput checks that malformed /v1 submissions are refused with a
// stable reason before the key is verified, a callbackUrl included.
func TestV1BadInput(t *testing.T) {
	raw := func(route, ctype, body string) *http.Request {
		req := httptest.NewRequest(http.MethodPost, route, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		return req
	}
	img := base64.StdEncoding.EncodeToString(pngBytes)
	withCallback := func(route, url string) *http.Request {
		b, _ := json.Marshal(map[string]string{"image": img, "callbackUrl": url})
		return raw(route, "application/json", string(b))
	}
	cases := []struct {
		name       string
		req        *http.Request
		callbacks  bool
		wantStatus int
		wantReason string
	}{
		{"callbackUrl not http", withCallback("/v1/jobs", "ftp://example.com/x"), true, 400, "INVALID_CALLBACK_URL"},
		{"callbackUrl relative", withCallback("/v1/jobs", "/hook"), true, 400, "INVALID_CALLBACK_URL"},
		{"callbackUrl with credentials", withCallback("/v1/jobs", "https://u:p@example.com/"), true, 400, "INVALID_CALLBACK_URL"},
		{"callbackUrl too long", withCallback("/v1/jobs", "https://example.com/"+strings.Repeat("a", 2030)), true, 400, "INVALID_CALLBACK_URL"},
		{"callbackUrl without host", withCallback("/v1/jobs", "https:///x"), true, 400, "INVALID_CALLBACK_URL"},
		{"callbacks disabled", withCallback("/v1/jobs", "https://example.com/hook"), false, 400, "CALLBACKS_DISABLED"},
		{"callbackUrl on /v1/ocr", withCallback("/v1/ocr", "https://example.com/hook"), true, 400, "INVALID_REQUEST"},
		{"unknown member", raw("/v1/jobs", "application/json", `{"image":"`+img+`","language":"eng"}`), true, 400, "INVALID_REQUEST"},
		{"two objects", raw("/v1/ocr", "application/json", `{"image":"`+img+`"}{}`), true, 400, "INVALID_REQUEST"},
		{"image missing", raw("/v1/ocr", "application/json", `{"languages":"eng"}`), true, 400, "MISSING_IMAGE"},
		{"bad option", raw("/v1/ocr", "application/json", `{"image":"`+img+`","pageSegMode":2}`), true, 400, "INVALID_REQUEST"},
		{"not an image", raw("/v1/jobs", "application/json", `{"image":"aGVsbG8gd29ybGQ="}`), true, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"plain text body", raw("/v1/ocr", "text/plain", "hello"), true, 400, "MISSING_IMAGE"},
		{"multipart without image", raw("/v1/jobs", "multipart/form-data; boundary=x", ""), true, 400, "MISSING_IMAGE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Header.Set("Authorization", "Bearer good")
			keys := &stubKeys{}
			jb := &stubJobs{}
			cfg := testConfig(keys, jb)
			cfg.Callbacks = tc.callbacks
			r := do(t, New(cfg), tc.req)
			require.Equal(t, tc.wantStatus, r.status, r.raw)
			require.Equal(t, tc.wantReason, reason(r), r.raw)
			require.Zero(t, keys.verifies.Load(), "bad input spent a verification")
			require.Empty(t, jb.job.JobID, "bad input reached the queue")
		})
	}
}

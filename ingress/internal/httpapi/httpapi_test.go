package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/jobs"
	"github.com/ocrstack/ocrstack/ingress/internal/keysclient"
	"github.com/stretchr/testify/require"
)

// pngBytes is the start of a PNG: enough for the ingress's format check, which
// is all the ingress decides; decoding is the worker's job.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")

// stubKeys answers verifications by key: "good", "limited", "spent",
// "expired", "good2" (another key of good's owner), "other" (another
// owner's key), else NOT_FOUND.
type stubKeys struct {
	verifies atomic.Int64
	created  contracts.CreateKeyRequest
	err      error
	mu       sync.Mutex
	limits   map[string]int64 // standalone rate limits used, by namespace/identifier
	verified []contracts.VerifyKeyRequest
	refunds  []contracts.RefundRequest
}

func (s *stubKeys) Verify(_ context.Context, r contracts.VerifyKeyRequest) (contracts.VerifyKeyResponse, error) {
	s.verifies.Add(1)
	s.mu.Lock()
	s.verified = append(s.verified, r)
	s.mu.Unlock()
	if s.err != nil {
		return contracts.VerifyKeyResponse{}, s.err
	}
	return outcomeOf(r.Key), nil
}

// outcomeOf is the verification of key.
func outcomeOf(key string) contracts.VerifyKeyResponse {
	credits := int64(7)
	rl := contracts.RatelimitResult{Name: "requests", Limit: 6, Duration: 60_000, Remaining: 5, Reset: 1_767_225_660_000, AutoApply: true}
	switch key {
	case "good":
		return contracts.VerifyKeyResponse{Valid: true, Code: contracts.VerifyValid, KeyID: "key_1", ExternalID: "ada@example.com", Credits: &credits, Ratelimits: []contracts.RatelimitResult{rl}}
	case "good2":
		return contracts.VerifyKeyResponse{Valid: true, Code: contracts.VerifyValid, KeyID: "key_2", ExternalID: "ada@example.com", Ratelimits: []contracts.RatelimitResult{rl}}
	case "other":
		return contracts.VerifyKeyResponse{Valid: true, Code: contracts.VerifyValid, KeyID: "key_3", ExternalID: "bob@example.com"}
	case "limited":
		rl.Remaining, rl.Exceeded = 0, true
		return contracts.VerifyKeyResponse{Code: contracts.VerifyRateLimited, KeyID: "key_1", Ratelimits: []contracts.RatelimitResult{rl}}
	case "spent":
		zero := int64(0)
		return contracts.VerifyKeyResponse{Code: contracts.VerifyUsageExceeded, KeyID: "key_1", Credits: &zero}
	case "expired":
		return contracts.VerifyKeyResponse{Code: contracts.VerifyExpired, KeyID: "key_1"}
	}
	return contracts.VerifyKeyResponse{Code: contracts.VerifyNotFound}
}

// RefundLater records the refund at once.
func (s *stubKeys) RefundLater(_ context.Context, r contracts.RefundRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refunds = append(s.refunds, r)
}

func (s *stubKeys) Create(_ context.Context, r contracts.CreateKeyRequest) (contracts.CreateKeyResponse, error) {
	s.created = r
	return contracts.CreateKeyResponse{KeyID: "key_new", Key: "ocr_secret"}, s.err
}

// Call is not used by the OCR routes; the /v2 routes are tested against a
// NATS server (v2_test.go).
// Call serves the standalone rate limit the sign-up uses, counting per
// namespace and identifier, and whoami for the keys Verify knows (good's
// "requests" limit auto-applied on the key, a "burst" one on its identity);
// any other subject is an error.
func (s *stubKeys) Call(_ context.Context, subject string, req, resp any) error {
	if w, ok := req.(contracts.WhoamiRequest); ok && subject == contracts.SubjectKeysWhoami {
		if s.err != nil {
			return s.err
		}
		v := outcomeOf(w.Key)
		if v.Code == contracts.VerifyNotFound {
			return &contracts.Error{Code: contracts.CodeNotFound, Message: "key: no such key"}
		}
		*resp.(*contracts.KeyInfo) = contracts.KeyInfo{
			KeyID: v.KeyID, ExternalID: v.ExternalID, Enabled: true,
			Ratelimits: []contracts.Ratelimit{{Name: "requests", Limit: 6, Duration: 60_000, AutoApply: true}, {Name: "pages", Limit: 100, Duration: 60_000}},
			Identity: &contracts.Identity{ID: "id_1", ExternalID: v.ExternalID, Ratelimits: []contracts.Ratelimit{
				{Name: "requests", Limit: 60, Duration: 60_000, AutoApply: true}, {Name: "burst", Limit: 10, Duration: 1_000, AutoApply: true},
			}},
		}
		return nil
	}
	r, ok := req.(contracts.RatelimitRequest)
	if subject != contracts.SubjectRatelimitLimit || !ok {
		return errors.New("stubKeys: only " + contracts.SubjectRatelimitLimit + " is served")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limits == nil {
		s.limits = map[string]int64{}
	}
	s.limits[r.Namespace+"/"+r.Identifier]++
	used := s.limits[r.Namespace+"/"+r.Identifier]
	*resp.(*contracts.RatelimitResponse) = contracts.RatelimitResponse{
		Success: used <= r.Limit, Limit: r.Limit, Remaining: max(0, r.Limit-used), Reset: now.UnixMilli() + r.Duration,
	}
	return nil
}

// stubJobs returns a fixed result or error and remembers the job. It
// keeps stored images in a map, which tests read one request at a time.
type stubJobs struct {
	result  contracts.OCRResult
	err     error
	job     contracts.OCRJob
	image   []byte
	submits int
	// images are the stored images by name; a job takes its own.
	images map[string][]byte
}

func (s *stubJobs) Submit(_ context.Context, job contracts.OCRJob, image []byte, _ time.Duration) (contracts.OCRResult, error) {
	s.job, s.image = job, s.take(job, image)
	s.submits++
	res := s.result
	res.JobID = job.JobID
	return res, s.err
}

func (s *stubJobs) Enqueue(_ context.Context, job contracts.OCRJob, image []byte, _ string) error {
	s.job, s.image = job, s.take(job, image)
	return s.err
}

// take returns the job's image: image, or the stored one it names, which
// it removes.
func (s *stubJobs) take(job contracts.OCRJob, image []byte) []byte {
	if job.ImageRef == "" {
		return image
	}
	b := s.images[job.ImageRef]
	delete(s.images, job.ImageRef)
	return b
}

func (s *stubJobs) StoreImage(_ context.Context, name string, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.images == nil {
		s.images = map[string][]byte{}
	}
	s.images[name] = b
	return nil
}

func (s *stubJobs) OpenImage(_ context.Context, name string) (io.ReadCloser, error) {
	b, ok := s.images[name]
	if !ok {
		return nil, fmt.Errorf("%w: no image %s", jobs.ErrUnavailable, name)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (s *stubJobs) DeleteImage(_ context.Context, name string) error {
	delete(s.images, name)
	return nil
}

// Await answers the scripted result for any job.
func (s *stubJobs) Await(_ context.Context, jobID string, _ time.Duration) (contracts.OCRResult, error) {
	res := s.result
	res.JobID = jobID
	return res, s.err
}

// Lookup knows no job; the /v1 tests run the real jobs.Submitter.
func (s *stubJobs) Lookup(context.Context, string) (contracts.JobRecord, *contracts.OCRResult, error) {
	return contracts.JobRecord{}, nil, jobs.ErrNotFound
}

var now = time.UnixMilli(1_767_225_630_000)

func newApp(keys *stubKeys, j *stubJobs) *fiber.App {
	return New(testConfig(keys, j))
}

// testConfig is newApp's configuration, for tests that change a part.
func testConfig(keys *stubKeys, j *stubJobs) Config {
	return Config{
		Keys: keys, Jobs: j, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready: func(context.Context) map[string]error { return map[string]error{"nats": nil} },
		APIID: "api_ocr", MaxImageBytes: 1 << 20, SyncWait: time.Second, CallTimeout: time.Second,
		Trial:       Plan{Credits: 100, RateLimit: 6, RateWindow: time.Minute, Lifetime: 30 * 24 * time.Hour},
		SignupLimit: 3, SignupWindow: time.Hour,
		Now: func() time.Time { return now },
	}
}

// request builds a request for route with the image in that route's shape.
func request(t *testing.T, route, auth string, image []byte) *http.Request {
	t.Helper()
	var body bytes.Buffer
	ctype := "application/json"
	switch route {
	case "/uploadBase64":
		fmt.Fprintf(&body, `{"imageBase64":%q}`, base64.StdEncoding.EncodeToString(image))
	default:
		field := map[string]string{"/upload": "sampleFile", "/api/v1/ocr": "image"}[route]
		mw := multipart.NewWriter(&body)
		fw, err := mw.CreateFormFile(field, "scan.png")
		require.NoError(t, err)
		_, _ = fw.Write(image)
		require.NoError(t, mw.WriteField("documentType", "receipt"))
		require.NoError(t, mw.Close())
		ctype = mw.FormDataContentType()
	}
	req := httptest.NewRequest(http.MethodPost, route, &body)
	req.Header.Set("Content-Type", ctype)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return req
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func do(t *testing.T, app *fiber.App, req *http.Request) response {
	t.Helper()
	resp, err := app.Test(req, -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.Unmarshal(raw, &body), "body %s", raw)
	return response{status: resp.StatusCode, header: resp.Header, body: body, raw: string(raw)}
}

// reason extracts the stable reason from either dialect.
func reason(r response) string {
	if e, ok := r.body["error"].(map[string]any); ok {
		return e["details"].([]any)[0].(map[string]any)["reason"].(string)
	}
	s, _ := r.body["reason"].(string)
	return s
}

var ocrRoutes = []string{"/upload", "/uploadBase64", "/api/v1/ocr"}

// TestAuthErrors checks every OCR route's answer to each kind of bad key:
// status, stable reason, Retry-After and the rate-limit headers.
func TestAuthErrors(t *testing.T) {
	cases := []struct {
		name       string
		auth       string
		wantStatus int
		wantReason string
	}{
		{"no header", "", 401, "INVALID_AUTH_HEADER"},
		{"basic scheme", "Basic Z29vZA==", 401, "INVALID_AUTH_HEADER"},
		{"bearer without key", "Bearer ", 401, "INVALID_AUTH_HEADER"},
		{"bearer with two words", "Bearer good extra", 401, "INVALID_AUTH_HEADER"},
		{"unknown key", "Bearer nope", 401, "INVALID_API_KEY"},
		{"expired key", "Bearer expired", 401, "INVALID_API_KEY"},
		{"rate limited", "Bearer limited", 429, "RATE_LIMITED"},
		{"no credits", "Bearer spent", 402, "INSUFFICIENT_CREDITS"},
	}
	for _, route := range ocrRoutes {
		for _, tc := range cases {
			t.Run(route+"/"+tc.name, func(t *testing.T) {
				keys := &stubKeys{}
				jb := &stubJobs{}
				r := do(t, newApp(keys, jb), request(t, route, tc.auth, pngBytes))
				require.Equal(t, tc.wantStatus, r.status, r.raw)
				require.Equal(t, tc.wantReason, reason(r), r.raw)
				require.NotEmpty(t, r.header.Get("X-Request-Id"))
				require.Empty(t, jb.job.JobID, "a refused request reached the job queue")
				if tc.wantStatus == 429 {
					require.Equal(t, "30", r.header.Get("Retry-After"))
					require.Equal(t, "6", r.header.Get("X-RateLimit-Limit"))
					require.Equal(t, "0", r.header.Get("X-RateLimit-Remaining"))
					require.Equal(t, "1767225660", r.header.Get("X-RateLimit-Reset"))
					require.Equal(t, `"requests";q=6;w=60`, r.header.Get("RateLimit-Policy"))
					require.Equal(t, `"requests";r=0;t=30`, r.header.Get("RateLimit"))
				}
				if route == "/api/v1/ocr" {
					require.Equal(t, float64(tc.wantStatus), r.body["error"].(map[string]any)["code"])
					require.Equal(t, http.StatusText(tc.wantStatus), r.body["error"].(map[string]any)["status"])
				} else {
					require.Nil(t, r.body["text"])
					require.NotEmpty(t, r.body["error"])
				}
			})
		}
	}
}

// TestSuccess checks the exact success bodies and what reaches the job.
func TestSuccess(t *testing.T) {
	for _, route := range ocrRoutes {
		t.Run(route, func(t *testing.T) {
			keys := &stubKeys{}
			jb := &stubJobs{result: contracts.OCRResult{Status: contracts.JobSucceeded, Text: "Hola world", RecognitionMs: 42}}
			req := request(t, route, "Bearer good", pngBytes)
			req.Header.Set("X-Request-Id", "client-req-1")
			r := do(t, newApp(keys, jb), req)
			require.Equal(t, 200, r.status, r.raw)
			require.Equal(t, "42", r.header.Get("X-Recognition-Ms"))
			require.Equal(t, "client-req-1", r.header.Get("X-Request-Id"))
			require.Equal(t, "5", r.header.Get("X-RateLimit-Remaining"))
			require.Equal(t, "7", r.header.Get("X-Credits-Remaining"))
			require.Equal(t, pngBytes, jb.image)
			require.Equal(t, "client-req-1", jb.job.RequestID)
			require.Equal(t, "key_1", jb.job.KeyID)
			require.Equal(t, "ada@example.com", jb.job.OwnerID)
			if route == "/api/v1/ocr" {
				require.JSONEq(t, `{"requestId":"client-req-1","jobId":"`+jb.job.JobID+`","documentType":"receipt","text":"Hola world"}`, r.raw)
			} else {
				require.Equal(t, `{"text":"Hola world","error":null}`, r.raw)
			}
		})
	}
}

// TestBadInput checks that malformed requests get a 4xx with a stable reason
// and never spend a verification.
func TestBadInput(t *testing.T) {
	multipartText := func(field string) *http.Request {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		_ = mw.WriteField(field, "iVBORw0KGgo=")
		_ = mw.Close()
		req := httptest.NewRequest(http.MethodPost, "/api/v1/ocr", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		return req
	}
	raw := func(route, ctype, body string) *http.Request {
		req := httptest.NewRequest(http.MethodPost, route, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		return req
	}
	cases := []struct {
		name       string
		req        *http.Request
		wantStatus int
		wantReason string
	}{
		{"upload: empty body", raw("/upload", "multipart/form-data; boundary=x", ""), 400, "MISSING_IMAGE"},
		{"upload: not multipart", raw("/upload", "application/json", `{}`), 400, "MISSING_IMAGE"},
		{"upload: empty file", request(t, "/upload", "", nil), 400, "EMPTY_IMAGE"},
		{"upload: text file", request(t, "/upload", "", []byte("just some text")), 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"upload: too large", request(t, "/upload", "", append(append([]byte{}, pngBytes...), make([]byte, 1<<20)...)), 413, "IMAGE_TOO_LARGE"},
		{"pictotext: image as text value", multipartText("image"), 400, "MISSING_IMAGE"},
		{"pictotext: wrong field", request(t, "/upload", "", pngBytes), 400, "MISSING_IMAGE"},
		{"base64: empty body", raw("/uploadBase64", "application/json", ""), 400, "INVALID_REQUEST"},
		{"base64: not JSON", raw("/uploadBase64", "application/json", "{"), 400, "INVALID_REQUEST"},
		{"base64: field missing", raw("/uploadBase64", "application/json", `{"image":"x"}`), 400, "MISSING_IMAGE"},
		{"base64: empty", raw("/uploadBase64", "application/json", `{"imageBase64":""}`), 400, "EMPTY_IMAGE"},
		{"base64: invalid", raw("/uploadBase64", "application/json", `{"imageBase64":"!!!notbase64"}`), 400, "INVALID_BASE64"},
		{"base64: not an image", raw("/uploadBase64", "application/json", `{"imageBase64":"aGVsbG8gd29ybGQ="}`), 415, "UNSUPPORTED_MEDIA_TYPE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.Header.Get("Authorization") == "" {
				tc.req.Header.Set("Authorization", "Bearer good")
			}
			if tc.name == "pictotext: wrong field" {
				tc.req.URL.Path = "/api/v1/ocr"
				tc.req.RequestURI = "/api/v1/ocr"
			}
			keys := &stubKeys{}
			r := do(t, newApp(keys, &stubJobs{}), tc.req)
			require.Equal(t, tc.wantStatus, r.status, r.raw)
			require.Equal(t, tc.wantReason, reason(r), r.raw)
			require.Zero(t, keys.verifies.Load(), "bad input spent a verification")
		})
	}
}

// TestJobFailures checks how worker failures and outages reach the client.
func TestJobFailures(t *testing.T) {
	cases := []struct {
		name       string
		jobs       *stubJobs
		keysErr    error
		wantStatus int
		wantReason string
	}{
		{"unreadable", &stubJobs{result: contracts.OCRResult{Status: contracts.JobFailed, Error: &contracts.Error{Code: contracts.CodeUnreadableImage, Message: "bad"}}}, nil, 422, "UNREADABLE_IMAGE"},
		{"too many pixels", &stubJobs{result: contracts.OCRResult{Status: contracts.JobFailed, Error: &contracts.Error{Code: contracts.CodeImageTooLarge}}}, nil, 422, "IMAGE_TOO_MANY_PIXELS"},
		{"too many pages", &stubJobs{result: contracts.OCRResult{Status: contracts.JobFailed, Error: &contracts.Error{Code: contracts.CodeTooManyPages}}}, nil, 422, "TOO_MANY_PAGES"},
		{"page out of range", &stubJobs{result: contracts.OCRResult{Status: contracts.JobFailed, Error: &contracts.Error{Code: contracts.CodePageOutOfRange, Message: "pages asks for page 4, but the document has 3 page(s)"}}}, nil, 422, "PAGE_OUT_OF_RANGE"},
		{"result too large", &stubJobs{result: contracts.OCRResult{Status: contracts.JobFailed, Error: &contracts.Error{Code: contracts.CodeResultTooLarge, Message: "ask for fewer outputs"}}}, nil, 422, "RESULT_TOO_LARGE"},
		{"failed without reason", &stubJobs{result: contracts.OCRResult{Status: contracts.JobFailed}}, nil, 500, "INTERNAL"},
		{"no result in time", &stubJobs{err: fmt.Errorf("x: %w", jobs.ErrTimeout)}, nil, 503, "OCR_TIMEOUT"},
		{"queue down", &stubJobs{err: fmt.Errorf("x: %w", jobs.ErrUnavailable)}, nil, 503, "SERVICE_UNAVAILABLE"},
		{"keyservice down", &stubJobs{}, fmt.Errorf("x: %w", keysclient.ErrUnavailable), 503, "SERVICE_UNAVAILABLE"},
		{"keyservice storage down", &stubJobs{}, fmt.Errorf("x: %w: %w", keysclient.ErrUnavailable, &contracts.Error{Code: contracts.CodeUnavailable, Message: "retry"}), 503, "SERVICE_UNAVAILABLE"},
		{"unexpected error", &stubJobs{err: errors.New("boom")}, nil, 500, "INTERNAL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, newApp(&stubKeys{err: tc.keysErr}, tc.jobs), request(t, "/api/v1/ocr", "Bearer good", pngBytes))
			require.Equal(t, tc.wantStatus, r.status, r.raw)
			require.Equal(t, tc.wantReason, reason(r), r.raw)
			require.NotContains(t, r.raw, "boom", "internal detail leaked")
			if tc.wantStatus == 503 {
				require.NotEmpty(t, r.header.Get("Retry-After"))
			}
		})
	}
}

// TestSignup checks the tutorial's signup contract and what key it asks for.
func TestSignup(t *testing.T) {
	keys := &stubKeys{}
	app := newApp(keys, &stubJobs{})
	req := httptest.NewRequest(http.MethodPost, "/signup", strings.NewReader(`{"email":"ada@example.com","name":"Ada"}`))
	req.Header.Set("Content-Type", "application/json")
	r := do(t, app, req)
	require.Equal(t, 200, r.status, r.raw)
	require.JSONEq(t, `{"keys":[{"key":"ocr_secret","keyId":"key_new"}],"error":null}`, r.raw)
	c := keys.created
	require.Equal(t, "ocr", c.Prefix)
	require.Equal(t, 16, c.ByteLength)
	require.Equal(t, "ada@example.com", c.ExternalID)
	require.JSONEq(t, `{"name":"Ada","email":"ada@example.com"}`, string(c.Meta))
	require.Equal(t, now.Add(30*24*time.Hour).UnixMilli(), c.Expires)
	require.Equal(t, int64(100), c.Credits.Remaining)
	require.Equal(t, []contracts.Ratelimit{{Name: "requests", Limit: 6, Duration: 60_000, AutoApply: true}}, c.Ratelimits)

	for _, body := range []string{``, `{`, `{"email":"not-an-email"}`, `{"email":"Ada <ada@example.com>"}`, `{"email":"a@b.c","name":"` + strings.Repeat("x", 201) + `"}`} {
		req := httptest.NewRequest(http.MethodPost, "/signup", strings.NewReader(body))
		r := do(t, app, req)
		require.Equal(t, 400, r.status, body)
		require.Nil(t, r.body["keys"])
		require.Equal(t, "INVALID_REQUEST", r.body["reason"])
	}
}

// TestHealth checks /livez and that /readyz follows its dependencies.
func TestHealth(t *testing.T) {
	app := newApp(&stubKeys{}, &stubJobs{})
	require.Equal(t, 200, do(t, app, httptest.NewRequest(http.MethodGet, "/livez", nil)).status)
	require.Equal(t, 200, do(t, app, httptest.NewRequest(http.MethodGet, "/readyz", nil)).status)
	down := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxImageBytes: 1 << 20,
		Ready: func(context.Context) map[string]error {
			return map[string]error{"ocr-worker": errors.New("no instance answers")}
		}})
	r := do(t, down, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, 503, r.status)
	require.Equal(t, "no instance answers", r.body["checks"].(map[string]any)["ocr-worker"])
	r = do(t, down, httptest.NewRequest(http.MethodGet, "/nowhere", nil))
	require.Equal(t, 404, r.status)
	require.Equal(t, "NOT_FOUND", reason(r))
}

// TestSignupLimitedPerIP checks that sign-ups are counted per client
// address in keyservice's standalone rate limit: the first SignupLimit get
// keys, the next a 429 in the sign-up's own shape, with Retry-After, and
// without a key being created; malformed sign-ups are not counted.
func TestSignupLimitedPerIP(t *testing.T) {
	keys := &stubKeys{}
	app := newApp(keys, &stubJobs{})
	signup := func(body string) response {
		req := httptest.NewRequest(http.MethodPost, "/signup", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return do(t, app, req)
	}
	require.Equal(t, 400, signup(`{"email":"typo"}`).status)
	for i := range 3 {
		r := signup(`{"email":"ada@example.com","name":"Ada"}`)
		require.Equal(t, 200, r.status, "sign-up %d: %s", i+1, r.raw)
		require.Equal(t, strconv.Itoa(2-i), r.header.Get("X-RateLimit-Remaining"))
	}
	keys.created = contracts.CreateKeyRequest{}
	r := signup(`{"email":"eve@example.com","name":"Eve"}`)
	require.Equal(t, 429, r.status, r.raw)
	require.Nil(t, r.body["keys"])
	require.Equal(t, "RATE_LIMITED", r.body["reason"])
	require.Equal(t, "3600", r.header.Get("Retry-After"))
	require.Empty(t, keys.created.ExternalID, "a key was created past the limit")
	require.Len(t, keys.limits, 1)
	for k := range keys.limits {
		require.True(t, strings.HasPrefix(k, signupNamespace+"/"), k)
	}
}

// TestSignupBehindTrustedProxy: behind a trusted proxy the sign-up limit
// counts the client X-Forwarded-For names; from an untrusted address the
// header is ignored, so a client cannot pick its own address.
func TestSignupBehindTrustedProxy(t *testing.T) {
	signup := func(app *fiber.App, forwarded string) {
		req := httptest.NewRequest(http.MethodPost, "/signup", strings.NewReader(`{"email":"ada@example.com","name":"Ada"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", forwarded)
		require.Equal(t, 200, do(t, app, req).status)
	}
	keys := &stubKeys{}
	cfg := testConfig(keys, &stubJobs{})
	cfg.TrustedProxies = []string{"0.0.0.0/8"} // fiber's test connections come from 0.0.0.0
	trusting := New(cfg)
	signup(trusting, "203.0.113.7")
	signup(trusting, "198.51.100.2")
	require.Equal(t, map[string]int64{signupNamespace + "/203.0.113.7": 1, signupNamespace + "/198.51.100.2": 1}, keys.limits)

	keys = &stubKeys{}
	plain := newApp(keys, &stubJobs{})
	signup(plain, "203.0.113.7")
	signup(plain, "198.51.100.2")
	require.Equal(t, map[string]int64{signupNamespace + "/0.0.0.0": 2}, keys.limits)
}

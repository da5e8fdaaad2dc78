package httpapi

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/keysclient"
	"github.com/ocrstack/ocrstack/ops"
)

// TestMetricsMove checks that answered requests are counted by route
// template and status (an unknown path under one label), timed, and that
// verification outcomes and queued jobs are counted.
func TestMetricsMove(t *testing.T) {
	keys, j := &stubKeys{}, &stubJobs{result: contracts.OCRResult{Status: contracts.JobSucceeded, Text: "hi"}}
	cfg := testConfig(keys, j)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	cfg.Metrics = m
	app := New(cfg)
	defer func() {
		if t.Failed() {
			mfs, _ := reg.Gather()
			for _, mf := range mfs {
				for _, m := range mf.GetMetric() {
					t.Log(mf.GetName(), m.GetLabel(), m.GetCounter().GetValue())
				}
			}
		}
	}()

	require.Equal(t, http.StatusOK, do(t, app, request(t, "/upload", "Bearer good", pngBytes)).status)
	require.Equal(t, http.StatusTooManyRequests, do(t, app, request(t, "/upload", "Bearer limited", pngBytes)).status)
	require.Equal(t, http.StatusUnauthorized, do(t, app, request(t, "/upload", "Bearer nobody", pngBytes)).status)
	keys.err = keysclient.ErrUnavailable
	require.Equal(t, http.StatusServiceUnavailable, do(t, app, request(t, "/upload", "Bearer good", pngBytes)).status)
	for _, path := range []string{"/nope/1", "/nope/2"} {
		require.Equal(t, http.StatusNotFound, do(t, app, httptest.NewRequest(http.MethodGet, path, nil)).status)
	}
	require.Equal(t, http.StatusOK, do(t, app, httptest.NewRequest(http.MethodGet, "/livez", nil)).status)

	for _, tc := range []struct {
		route, method, status string
		want                  float64
	}{
		{"/upload", "POST", "200", 1},
		{"/upload", "POST", "429", 1},
		{"/upload", "POST", "401", 1},
		{"/upload", "POST", "503", 1},
		{unmatched, "GET", "404", 2},
		{"/livez", "GET", "200", 1},
	} {
		require.Equal(t, tc.want, testutil.ToFloat64(m.requests.WithLabelValues(tc.route, tc.method, tc.status)), "%+v", tc)
	}
	require.Equal(t, 6, testutil.CollectAndCount(m.requests), "no other series")
	require.Equal(t, 3, testutil.CollectAndCount(m.duration), "one histogram per route")
	for outcome, want := range map[string]float64{"VALID": 1, "RATE_LIMITED": 1, "NOT_FOUND": 1, "UNAVAILABLE": 1} {
		require.Equal(t, want, testutil.ToFloat64(m.verifications.WithLabelValues(outcome)), outcome)
	}
	require.Equal(t, 1.0, testutil.ToFloat64(m.jobs.WithLabelValues("sync")))
}

// TestTraceparent checks W3C trace context: a valid traceparent is
// continued (same trace, new parent id) to keyservice and into the job, an
// invalid or missing one starts a new trace, and the request's log line
// carries its request and trace ids.
func TestTraceparent(t *testing.T) {
	const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name, header string
		wantTrace    string // "" for a new one
	}{
		{name: "continued", header: incoming, wantTrace: "4bf92f3577b34da6a3ce929d0e0e4736"},
		{name: "invalid restarts", header: "00-XYZ-bad-01"},
		{name: "missing starts one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := &tracingKeys{}
			j := &tracingJobs{stubJobs: stubJobs{result: contracts.OCRResult{Status: contracts.JobSucceeded}}}
			cfg := testConfig(nil, nil)
			cfg.Keys, cfg.Jobs = keys, j
			var logs bytes.Buffer
			cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			req := request(t, "/upload", "Bearer good", pngBytes)
			req.Header.Set("X-Request-Id", "req_trace")
			if tt.header != "" {
				req.Header.Set(ops.HeaderTraceparent, tt.header)
			}
			require.Equal(t, http.StatusOK, do(t, New(cfg), req).status)

			sent, err := ops.ParseTraceparent(keys.traceparent)
			require.NoError(t, err, "keyservice gets a valid traceparent")
			require.Equal(t, keys.traceparent, j.traceparent, "the job carries the request's traceparent")
			if tt.wantTrace != "" {
				require.Equal(t, tt.wantTrace, sent.TraceID)
				require.NotEqual(t, incoming, keys.traceparent, "a hop gets its own parent id")
			}
			require.Contains(t, logs.String(), `"msg":"request","request_id":"req_trace","trace_id":"`+sent.TraceID+`"`)
			require.Contains(t, logs.String(), `"route":"/upload","status":200`)
		})
	}
}

// tracingKeys records the traceparent a verification is sent with.
type tracingKeys struct {
	stubKeys
	traceparent string
}

func (k *tracingKeys) Verify(ctx context.Context, r contracts.VerifyKeyRequest) (contracts.VerifyKeyResponse, error) {
	k.traceparent = ops.TraceparentFrom(ctx)
	return k.stubKeys.Verify(ctx, r)
}

// tracingJobs records the traceparent a job is queued with.
type tracingJobs struct {
	stubJobs
	traceparent string
}

func (j *tracingJobs) Submit(ctx context.Context, job contracts.OCRJob, image []byte, wait time.Duration) (contracts.OCRResult, error) {
	j.traceparent = ops.TraceparentFrom(ctx)
	return j.stubJobs.Submit(ctx, job, image, wait)
}

// TestPanicCounted checks that a handler's panic is still answered 500 (by
// recover) and counted as one.
func TestPanicCounted(t *testing.T) {
	cfg := testConfig(&stubKeys{}, &stubJobs{})
	cfg.Metrics = NewMetrics(prometheus.NewRegistry())
	app := New(cfg)
	app.Get("/boom", func(*fiber.Ctx) error { panic("boom") })
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/boom", nil), -1)
	require.NoError(t, err)
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.Equal(t, 1.0, testutil.ToFloat64(cfg.Metrics.requests.WithLabelValues("/boom", "GET", "500")))
	require.False(t, strings.Contains(resp.Header.Get("Content-Type"), "html"))
}

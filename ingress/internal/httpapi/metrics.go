package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/jobs"
	"github.com/ocrstack/ocrstack/ingress/internal/keysclient"
	"github.com/ocrstack/ocrstack/ops"
)

// Metrics are the HTTP API's Prometheus metrics. A nil *Metrics records
// nothing (the requests are still traced and logged).
type Metrics struct {
	// requests counts answered requests by route template, method and
	// status code.
	requests *prometheus.CounterVec
	// duration is the time from a request's first handler to its answer,
	// by route template, in seconds.
	duration *prometheus.HistogramVec
	// verifications counts key verifications by outcome: a verify code
	// (VALID, RATE_LIMITED, ...), UNAVAILABLE or ERROR.
	verifications *prometheus.CounterVec
	// jobs counts OCR jobs queued, by mode: sync (the request waits for
	// the result) or async (POST /v1/jobs).
	jobs *prometheus.CounterVec
}

// NewMetrics registers the HTTP API's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocr_ingress_http_requests_total",
			Help: "HTTP requests answered, by route template (unmatched for no route), method and status code.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ocr_ingress_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route template, in seconds (OCR routes include recognition).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocr_ingress_verifications_total",
			Help: "Key verifications asked of keyservice, by outcome (a verify code such as VALID, UNAVAILABLE, or ERROR).",
		}, []string{"outcome"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocr_ingress_jobs_submitted_total",
			Help: "OCR jobs queued, by mode: sync (the request waits for the result) or async (POST /v1/jobs).",
		}, []string{"mode"}),
	}
	reg.MustRegister(m.requests, m.duration, m.verifications, m.jobs)
	for _, mode := range []string{"sync", "async"} { // exposed before the first
		m.jobs.WithLabelValues(mode)
	}
	return m
}

const localTraceparent = "traceparent"

// unmatched is the route label of a request no route matched, so that
// scans of random paths add one series, not one per path.
const unmatched = "unmatched"

// observer returns the middleware that takes the request's W3C
// traceparent (or starts a trace), passes a child of it on to keyservice
// and the workers, and once the request is answered records it in the
// metrics and the log, with its request and trace ids. It answers errors
// itself, through the error handler, so it sees the final status; a panic
// is counted as a 500 and passed on to recover.
func (a *api) observer(app *fiber.App) fiber.Handler {
	// routes are the method and path of every route with a handler, known
	// once the first request comes (all are registered by then): a request
	// that ends on a middleware's route matched none.
	var once sync.Once
	var routes map[string]bool
	routeOf := func(c *fiber.Ctx) string {
		once.Do(func() {
			routes = map[string]bool{}
			for _, r := range app.GetRoutes(true) {
				routes[r.Method+" "+r.Path] = true
			}
		})
		if r := c.Route(); routes[r.Method+" "+r.Path] {
			return r.Path
		}
		return unmatched
	}
	return func(c *fiber.Ctx) (err error) {
		began := time.Now()
		tc, perr := ops.ParseTraceparent(c.Get(ops.HeaderTraceparent))
		if perr != nil {
			tc = ops.NewTrace()
		} else {
			tc = tc.Child()
		}
		c.Locals(localTraceparent, tc.String())
		defer func() {
			if r := recover(); r != nil {
				a.record(c, routeOf(c), fiber.StatusInternalServerError, began, tc.TraceID)
				panic(r)
			}
		}()
		if err = c.Next(); err != nil {
			err = a.handleError(c, err)
		}
		a.record(c, routeOf(c), c.Response().StatusCode(), began, tc.TraceID)
		return err
	}
}

// record counts and logs one answered request.
func (a *api) record(c *fiber.Ctx, route string, status int, began time.Time, traceID string) {
	took := time.Since(began)
	// fiber reuses the method's bytes for the next request; a label keeps
	// its string for good.
	method := strings.Clone(c.Method())
	if m := a.cfg.Metrics; m != nil {
		m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
		m.duration.WithLabelValues(route).Observe(took.Seconds())
	}
	level := slog.LevelInfo
	if route == "/livez" || route == "/readyz" {
		level = slog.LevelDebug // probes every few seconds would drown the rest
	}
	a.cfg.Logger.Log(context.Background(), level, "request", "request_id", requestIDOf(c), "trace_id", traceID,
		"method", method, "route", route, "status", status, "duration_ms", took.Milliseconds())
}

// traceparentOf is the traceparent the request passes on.
func traceparentOf(c *fiber.Ctx) string {
	tp, _ := c.Locals(localTraceparent).(string)
	return tp
}

// callContext returns ctx carrying the request's id and traceparent, which
// keyservice calls send as NATS headers.
func callContext(ctx context.Context, c *fiber.Ctx) context.Context {
	return ops.WithTraceparent(keysclient.WithRequestID(ctx, requestIDOf(c)), traceparentOf(c))
}

// countingKeys counts the outcomes of the verifications it passes on.
type countingKeys struct {
	Keys
	m *Metrics
}

func (k countingKeys) Verify(ctx context.Context, req contracts.VerifyKeyRequest) (contracts.VerifyKeyResponse, error) {
	v, err := k.Keys.Verify(ctx, req)
	outcome := string(v.Code)
	switch {
	case errors.Is(err, keysclient.ErrUnavailable):
		outcome = "UNAVAILABLE"
	case err != nil:
		outcome = "ERROR"
	}
	k.m.verifications.WithLabelValues(outcome).Inc()
	return v, err
}

// countingJobs counts the jobs it queues.
type countingJobs struct {
	Jobs
	m *Metrics
}

func (j countingJobs) Submit(ctx context.Context, job contracts.OCRJob, image []byte, wait time.Duration) (contracts.OCRResult, error) {
	res, err := j.Jobs.Submit(ctx, job, image, wait)
	if !errors.Is(err, jobs.ErrUnavailable) { // queued, even when its result is late
		j.m.jobs.WithLabelValues("sync").Inc()
	}
	return res, err
}

func (j countingJobs) Enqueue(ctx context.Context, job contracts.OCRJob, image []byte, callbackURL string) error {
	err := j.Jobs.Enqueue(ctx, job, image, callbackURL)
	if err == nil {
		j.m.jobs.WithLabelValues("async").Inc()
	}
	return err
}

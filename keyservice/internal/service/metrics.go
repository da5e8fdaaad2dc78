package service

import (
	"sync"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes counted besides the contracts.Verify* codes.
const (
	outcomeBadRequest = "BAD_REQUEST" // refused before the key was looked up
	outcomeError      = "ERROR"       // storage failure: the caller got INTERNAL or UNAVAILABLE
	outcomeCancelled  = "CANCELLED"   // its idempotency key was refunded first: CONFLICT
)

// maxLimitLabels bounds the distinct rate-limit names (and standalone
// namespaces) that get a label value of their own; past it they count as
// "other". Names come from key settings and callers, so without a bound a
// careless client could grow the series without end.
const maxLimitLabels = 64

// Metrics are keyservice's Prometheus metrics. A nil *Metrics records
// nothing, so tests that do not look at metrics need none.
type Metrics struct {
	// verifications counts verifications by outcome: a contracts.Verify*
	// code, BAD_REQUEST, CANCELLED (refused: a refund cancelled its
	// idempotency key first) or ERROR.
	verifications *prometheus.CounterVec
	// verifyDuration is the time from a verify request's arrival to its
	// answer, in seconds.
	verifyDuration prometheus.Histogram
	// ratelimits counts rate-limit decisions (key limits checked by a
	// verification, and standalone limits) by limit name or namespace and
	// decision: allowed or denied.
	ratelimits *prometheus.CounterVec
	// credits counts credit decisions of verifications: spent (a VALID
	// verification of a key, or of its identity, with limited credits) or
	// insufficient.
	credits *prometheus.CounterVec
	// groupSize is the number of verifications of one budget decided
	// together with one write (see store/group.go).
	groupSize prometheus.Histogram
	// stateCache counts whether a group started from the cached budget
	// (hit) or had to read it (miss).
	stateCache *prometheus.CounterVec
	// conflicts counts groups that found their budget written by another
	// replica, by how: its compare-and-set failed (write), or the read of
	// its idempotency records found it, before any write (read).
	conflicts *prometheus.CounterVec

	mu     sync.Mutex
	limits map[string]bool // label values of ratelimits given out so far
}

// NewMetrics registers keyservice's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocr_keyservice_verifications_total",
			Help: "Key verifications by outcome (a verify code such as VALID or RATE_LIMITED, BAD_REQUEST, CANCELLED, or ERROR).",
		}, []string{"outcome"}),
		verifyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ocr_keyservice_verify_duration_seconds",
			Help:    "Time from a verify request's arrival to its answer, in seconds.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		ratelimits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocr_keyservice_ratelimit_decisions_total",
			Help: "Rate-limit decisions by limit name (standalone limits: namespace; past 64 names: other) and decision (allowed, denied).",
		}, []string{"limit", "decision"}),
		credits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocr_keyservice_credit_decisions_total",
			Help: "Credit decisions of verifications: spent (valid, key or identity credits limited) or insufficient (USAGE_EXCEEDED).",
		}, []string{"decision"}),
		groupSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ocr_keyservice_verify_group_size",
			Help:    "Verifications of one budget decided together with one write.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 8),
		}),
		stateCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocr_keyservice_state_cache_total",
			Help: "Verification groups that started from the cached budget (hit) or read it from the bucket (miss).",
		}, []string{"result"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocr_keyservice_state_conflicts_total",
			Help: "Verification groups that found their budget written by another replica: through a failed compare-and-set (write, then read and decided again) or through the read of their idempotency records (read, decided on the budget read, no failed write).",
		}, []string{"found"}),
		limits: map[string]bool{},
	}
	reg.MustRegister(m.verifications, m.verifyDuration, m.ratelimits, m.credits, m.groupSize, m.stateCache, m.conflicts)
	for _, d := range []string{"spent", "insufficient"} { // exposed before the first
		m.credits.WithLabelValues(d)
	}
	for _, f := range []string{"read", "write"} {
		m.conflicts.WithLabelValues(f)
	}
	return m
}

// Group records one verification group; pass it to store.WithGroupObserver.
func (m *Metrics) Group(size int, cached bool) {
	if m == nil {
		return
	}
	m.groupSize.Observe(float64(size))
	m.stateCache.WithLabelValues(map[bool]string{true: "hit", false: "miss"}[cached]).Inc()
}

// Conflict records a group that found its budget written by another
// replica; pass it to store.WithConflictObserver.
func (m *Metrics) Conflict(failedWrite bool) {
	if m == nil {
		return
	}
	m.conflicts.WithLabelValues(map[bool]string{true: "write", false: "read"}[failedWrite]).Inc()
}

// verified records a verification's outcome and how long it took.
func (m *Metrics) verified(outcome string, took time.Duration) {
	if m == nil {
		return
	}
	// The duration first: a reader who sees the count sees it too.
	m.verifyDuration.Observe(took.Seconds())
	m.verifications.WithLabelValues(outcome).Inc()
}

// decided records the rate-limit and credit decisions of an answered
// verification that cost credits (a replay decided nothing new).
func (m *Metrics) decided(resp contracts.VerifyKeyResponse, cost int64, replayed bool) {
	if m == nil || replayed {
		return
	}
	for _, rl := range resp.Ratelimits {
		m.limit(rl.Name, rl.Exceeded)
	}
	switch {
	case resp.Code == contracts.VerifyUsageExceeded:
		m.credits.WithLabelValues("insufficient").Inc()
	case resp.Code == contracts.VerifyValid && cost > 0 && (resp.Credits != nil || resp.Identity != nil && resp.Identity.Credits != nil):
		m.credits.WithLabelValues("spent").Inc()
	}
}

// limit records one rate-limit decision.
func (m *Metrics) limit(name string, exceeded bool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	if !m.limits[name] {
		if len(m.limits) < maxLimitLabels {
			m.limits[name] = true
		} else {
			name = "other"
		}
	}
	m.mu.Unlock()
	m.ratelimits.WithLabelValues(name, map[bool]string{true: "denied", false: "allowed"}[exceeded]).Inc()
}

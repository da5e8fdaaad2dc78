package service

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
)

// TestMetricsMove checks that verifications, their rate-limit and credit
// decisions, standalone limits and verification groups move the metrics
// operators watch, with the labels they filter on.
func TestMetricsMove(t *testing.T) {
	f := start(t, 0)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	st, err := store.Open(context.Background(), f.js, store.WithGroupObserver(m.Group))
	require.NoError(t, err)
	svc := New(Config{Store: st, JS: f.js, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: f.clock.Now, Metrics: m})
	ms, err := svc.Register(f.nc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ms.Stop(); svc.Wait() })

	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 1},
		Ratelimits: []contracts.Ratelimit{{Name: "burst", Limit: 5, Duration: 60_000, AutoApply: true}}})
	require.Equal(t, contracts.VerifyValid, f.verify(t, created.Key).Code)
	require.Equal(t, contracts.VerifyUsageExceeded, f.verify(t, created.Key).Code)
	require.Equal(t, contracts.VerifyNotFound, f.verify(t, "ocr_notakey").Code)
	code, _ := f.callRaw(t, contracts.SubjectKeysVerify, []byte(`{"key":`), nil)
	require.Equal(t, string(contracts.CodeBadRequest), code)
	for range 2 {
		must[contracts.RatelimitResponse](t, f, contracts.SubjectRatelimitLimit,
			contracts.RatelimitRequest{Namespace: "signup", Identifier: "203.0.113.9", Limit: 1, Duration: 60_000})
	}

	// A verification is counted once its answer is sent, so the last may
	// trail the answer the test has.
	outcomes := map[string]float64{"VALID": 1, "USAGE_EXCEEDED": 1, "NOT_FOUND": 1, "BAD_REQUEST": 1}
	require.Eventually(t, func() bool {
		var n float64
		for outcome := range outcomes {
			n += testutil.ToFloat64(m.verifications.WithLabelValues(outcome))
		}
		return n == 4
	}, 5*time.Second, time.Millisecond, "every verification counted")
	for outcome, want := range outcomes {
		require.Equal(t, want, testutil.ToFloat64(m.verifications.WithLabelValues(outcome)), outcome)
	}
	require.Equal(t, 4, testutil.CollectAndCount(m.verifications), "no other outcome counted")
	require.Equal(t, 4, histogramCount(t, reg, "ocr_keyservice_verify_duration_seconds"))
	require.Equal(t, 1.0, testutil.ToFloat64(m.credits.WithLabelValues("spent")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.credits.WithLabelValues("insufficient")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.ratelimits.WithLabelValues("signup", "allowed")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.ratelimits.WithLabelValues("signup", "denied")))
	require.Positive(t, testutil.ToFloat64(m.ratelimits.WithLabelValues("burst", "allowed")))
	require.Equal(t, 2, histogramCount(t, reg, "ocr_keyservice_verify_group_size"), "one group per verification of a known key")
	require.Equal(t, 2.0, testutil.ToFloat64(m.stateCache.WithLabelValues("hit"))+testutil.ToFloat64(m.stateCache.WithLabelValues("miss")))
}

// TestLimitLabelsBounded checks that rate-limit names past the bound share
// the label "other", so callers cannot grow the series without end.
func TestLimitLabelsBounded(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	for i := range maxLimitLabels + 10 {
		m.limit("ns"+string(rune('A'+i%26))+string(rune('a'+i/26)), false)
	}
	require.Equal(t, maxLimitLabels+1, testutil.CollectAndCount(m.ratelimits))
	require.Equal(t, 10.0, testutil.ToFloat64(m.ratelimits.WithLabelValues("other", "allowed")))
	var nilMetrics *Metrics
	nilMetrics.limit("x", true) // a nil *Metrics records nothing, without panicking
	nilMetrics.Group(3, true)
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return int(mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("%s not gathered", name)
	return 0
}

package httpapi

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/admission"
	"github.com/stretchr/testify/require"
)

// gate admits while open, counting what it let in and what came back.
type gate struct {
	open               atomic.Bool
	admitted, released atomic.Int64
}

func (g *gate) Admit(context.Context) (func(), error) {
	if !g.open.Load() {
		return nil, &admission.OverloadedError{Cause: "test", RetryAfter: 7}
	}
	g.admitted.Add(1)
	return func() { g.released.Add(1) }, nil
}

// TestOverloaded: with the gate shut, every OCR route answers 503
// OVERLOADED with the gate's Retry-After before anything else (no
// verification); open, requests pass and give their place back.
func TestOverloaded(t *testing.T) {
	keys := &stubKeys{}
	j := &stubJobs{result: contracts.OCRResult{Status: contracts.JobSucceeded, Text: "Hello"}}
	g := &gate{}
	cfg := testConfig(keys, j)
	cfg.Admission = g
	app := New(cfg)
	for _, route := range []string{"/upload", "/uploadBase64", "/api/v1/ocr"} {
		r := do(t, app, request(t, route, "Bearer good", pngBytes))
		require.Equal(t, 503, r.status, "%s: %s", route, r.raw)
		require.Contains(t, r.raw, "OVERLOADED", route)
		require.Equal(t, "7", r.header.Get("Retry-After"), route)
	}
	for _, route := range []string{"/v1/ocr", "/v1/jobs"} {
		r := do(t, app, v1Request(t, route, "Bearer good", true, pngBytes, nil))
		require.Equal(t, 503, r.status, "%s: %s", route, r.raw)
		require.Contains(t, r.raw, "OVERLOADED", route)
	}
	require.Zero(t, keys.verifies.Load(), "an overloaded request reached keyservice")

	g.open.Store(true)
	r := do(t, app, request(t, "/upload", "Bearer good", pngBytes))
	require.Equal(t, 200, r.status, r.raw)
	require.Equal(t, int64(1), g.admitted.Load())
	require.Equal(t, int64(1), g.released.Load())
}

package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocrstack/ocrstack/ingress/internal/admission"
	"github.com/ocrstack/ocrstack/ingress/internal/httpapi"
)

// newMetrics registers the ingress's metrics on reg: the HTTP API's, and
// the admission gate's state, read on each scrape.
func newMetrics(reg *prometheus.Registry, gate *admission.Gate) *httpapi.Metrics {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ocr_ingress_admission_in_flight",
			Help: "OCR requests this ingress is processing now (refused with 503 past ocr_ingress_admission_limit).",
		}, func() float64 { return float64(gate.InFlight()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ocr_ingress_admission_limit",
			Help: "OCR requests this ingress processes at once (OCR_MAX_IN_FLIGHT).",
		}, func() float64 { return float64(gate.Limit()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ocr_ingress_admission_queued_messages",
			Help: "Jobs in the jobs stream as the admission gate last read it (at most 250 ms old), -1 when unknown.",
		}, func() float64 {
			n, known := gate.Queued()
			if !known {
				return -1
			}
			return float64(n)
		}),
	)
	return httpapi.NewMetrics(reg)
}

package main

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/ocrstack/ocrstack/ops"
)

// errNotServing: the service is starting (buckets, watch) or shutting down.
var errNotServing = errors.New("not serving requests")

// readiness is keyservice's /readyz on the ops server: ready while
// connected to NATS and registered to answer requests.
func readiness(nc *nats.Conn, serving *atomic.Bool) ops.ReadyFunc {
	return func(context.Context) map[string]error {
		var svc error
		if !serving.Load() {
			svc = errNotServing
		}
		return map[string]error{"nats": ops.NATSCheck(nc), "service": svc}
	}
}

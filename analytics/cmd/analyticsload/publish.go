package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocrstack/ocrstack/ops/emit"
)

// Events are published as the platform's producers publish them: through
// an emit.Emitter, which sends an event alone when no publish awaits its
// ack and batches what accumulates meanwhile (contracts' event batches).
// So the batch factor the sink sees is the one a producer at this rate
// would give it.
const (
	// emitMaxPending bounds the events the Emitter holds; the publisher
	// waits while emitHighWater are pending, so none is ever dropped.
	emitMaxPending = 100_000
	emitHighWater  = emitMaxPending / 2
	// emitNamespace names the Emitter's metrics.
	emitNamespace = "analyticsload"
)

// startEmitter creates the env's Emitter on its NATS connection.
func (e *env) startEmitter() error {
	e.emitReg = prometheus.NewRegistry()
	em, err := emit.New(emit.Config{Conn: e.nc, Registerer: e.emitReg, Namespace: emitNamespace, MaxPending: emitMaxPending})
	if err != nil {
		return err
	}
	e.emitter = em
	return nil
}

// publish emits events [from, to) of g as fast as the Emitter takes them
// and waits until the stream has acknowledged them all.
func (e *env) publish(ctx context.Context, g gen, from, to int) (time.Duration, error) {
	start := time.Now()
	for i := from; i < to; i++ {
		if i%1000 == 0 {
			if err := e.waitBelowHighWater(ctx); err != nil {
				return 0, err
			}
		}
		if err := e.publishOne(g, i); err != nil {
			return 0, err
		}
	}
	if err := e.publishComplete(ctx); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// waitBelowHighWater waits while emitHighWater events are pending, so the
// Emitter never reaches its bound (where it would drop events).
func (e *env) waitBelowHighWater(ctx context.Context) error {
	for e.emitter.Pending() >= emitHighWater {
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// publishOne emits event i of g, with its id as Nats-Msg-Id.
func (e *env) publishOne(g gen, i int) error {
	subject, data, id, err := g.message(i)
	if err != nil {
		return err
	}
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, id)
	if err := e.emitter.Emit(subject, data, h); err != nil {
		return fmt.Errorf("emit event %d: %w", i, err)
	}
	return nil
}

// publishComplete waits until every emitted event is acknowledged, and
// fails if any was dropped.
func (e *env) publishComplete(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if n := e.emitter.Drain(ctx); n > 0 {
		return fmt.Errorf("%d events not acknowledged after a minute", n)
	}
	if n := e.emitCounter("events_dropped_total"); n > 0 {
		return fmt.Errorf("%.0f events dropped by the emitter", n)
	}
	return nil
}

// emitCounter reads the Emitter's counter <emitNamespace>_<name>.
func (e *env) emitCounter(name string) float64 {
	mfs, err := e.emitReg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == emitNamespace+"_"+name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

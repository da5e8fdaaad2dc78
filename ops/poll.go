package ops

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PollGauge sets g to what read returns, at once and then every interval,
// until ctx ends; a failed read leaves the last value. It is for values
// that cost a request to read, such as a JetStream consumer's lag: polling
// keeps a scrape from waiting on NATS, and the cost fixed however often
// Prometheus scrapes.
func PollGauge(ctx context.Context, g prometheus.Gauge, interval time.Duration, read func(context.Context) (float64, error)) {
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			// A tick and the end of ctx may come together; select would
			// then pick either.
			if ctx.Err() != nil {
				return
			}
			rctx, cancel := context.WithTimeout(ctx, interval)
			if v, err := read(rctx); err == nil {
				g.Set(v)
			}
			cancel()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

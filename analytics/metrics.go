package main

import (
	"context"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"

	"github.com/ocrstack/ocrstack/ops"
)

// readiness is analytics' /readyz on the ops server: ready while connected
// to NATS and ClickHouse answers a ping. Events wait in JetStream while
// ClickHouse is away, so a failing check means "behind", not "losing".
func readiness(nc *nats.Conn, conn driver.Conn) ops.ReadyFunc {
	return func(ctx context.Context) map[string]error {
		return map[string]error{"nats": ops.NATSCheck(nc), "clickhouse": conn.Ping(ctx)}
	}
}

// Command analyticsload measures the analytics service, as `make
// analytics-load` runs it: how fast it moves events from JetStream into
// ClickHouse, and how long an event takes from its publication to being
// queryable. It runs the real analytics binary (built by `make build`, or
// by this command when -bin is empty) against NATS with JetStream (in
// process, or the nats-server binary given by -nats-server) and a real
// ClickHouse (-clickhouse, or a private one started through
// deploy/scripts/clickhouse.sh and stopped at the end). Phases:
//
//   - insert: -events events (verifications and usage events in turn) are
//     published to the events stream while analytics is stopped, through
//     ops/emit as the platform's producers publish them (alone while no
//     publish awaits its ack and none went out in the last millisecond,
//     batched otherwise; the stream's message
//     count is printed beside the events, so the batch factor shows), then
//     analytics is started and timed from the moment it answers its
//     health check until ClickHouse holds every event: the sustained
//     insert rate, with a full backlog in front of it. The same rows are
//     then inserted with clickhouse-go batches, without NATS, at the
//     sink's batch size and at 100,000 rows, as the baseline the sink's
//     rate is a fraction of. It also prints the stream's bytes per stored
//     event, which the events stream's sizing (contracts.EventsMaxMsgs)
//     relies on, and checks that every event is stored exactly once
//     (distinct ids, FINAL).
//   - lag: with analytics running and caught up, events are emitted at
//     -rate events a second for -lag-for while ClickHouse's row count is
//     polled every -poll; an event is queryable at the first poll whose
//     count includes it (the sink inserts in stream order), so its lag is
//     that poll's time minus its publication time, too high by at most one
//     poll interval. It prints p50, p90, p99 and the maximum.
//
// Run it from the repository root (it reads analytics/migrations and
// deploy/scripts):
//
//	go run ./analytics/cmd/analyticsload -bin .bin -nats-server .bin/nats-server
//	go run ./analytics/cmd/analyticsload -events 200000 -analytics-env OCR_ANALYTICS_BATCH_SIZE=5000
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "analyticsload:", err)
		os.Exit(1)
	}
}

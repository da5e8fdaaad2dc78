// Command chaos proves the pipeline survives faults, as `make chaos` runs
// it. It starts the real stack on loopback, every part a separate process:
// nats-server with JetStream on a file store (so a restart keeps its
// state), a private ClickHouse (deploy/scripts/clickhouse.sh), two
// keyservice replicas, two OCR workers, analytics and the ingress. Load runs
// throughout:
//
//   - job clients POST /v1/jobs a small drawn text image with the main key
//     (a large credit budget), and record every accepted job id;
//   - verifiers call /v2/keys.verifyKey on the main key (cost 1 each);
//   - a poller reads accepted jobs back with GET /v1/jobs/{id};
//   - a hammer spends the phase's own small-budget key (-budget credits,
//     50 by default) with verifications and jobs far beyond it, so an
//     over-admission under a fault is counted.
//
// Each fault is a phase of its own, with load running: kill -9 an OCR
// worker in the middle of a job, kill -9 a keyservice replica, restart the
// NATS server (SIGTERM, then start it again on the same port and store),
// stop ClickHouse for -clickhouse-outage, and SIGTERM each service (a
// graceful drain) and start it again. A process is never restarted behind
// the harness's back: one that exits on its own fails the run.
//
// At the end it stops the load and waits (bounded by -settle) for every
// accepted job to have a result on OCR_RESULTS, and for analytics and the
// ingress's refunds to drain OCR_EVENTS; then it reads every event from
// the stream, every stored event id from ClickHouse, and the credits left
// on each key, and prints per phase and in total: requests, errors (5xx,
// refused connections, no answer), jobs accepted, completed, failed and
// lost, events that should be on the stream and are not (every request
// the ingress answered verified its key once, so a verification event must
// carry its X-Request-Id; every finished job has one usage event), events
// published, stored and lost, duplicates under FINAL, and the budget key's
// admissions against its credits. It exits non-zero on any lost job or
// event, any duplicate, any over-admission, and any service that crashed
// or did not exit 0 on SIGTERM. Failed jobs are counted apart: the stack
// may refuse an input, but it must not drop one.
//
// Counting is done from the outside, by what clients were told and what
// the streams and tables hold, never from a service's own metrics, so a
// service cannot vouch for itself.
//
// With -soak 30m it injects no fault: it runs the mixed load for that long,
// samples every process's RSS every -sample, and prints the start, peak and
// end RSS of each beside the same table.
//
//	go run ./e2e/cmd/chaos -bin .bin -nats-server .bin/nats-server -clickhouse-outage 20s
//	go run ./e2e/cmd/chaos -bin .bin -soak 30m
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// net/http logs a response on an idle connection (an ingress shutting
	// down); the clients count what they get themselves.
	log.SetOutput(io.Discard)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

// Command ksbench loads keyservice's verify endpoint beside a raw NATS
// echo, with the same payload, requesters and connection, and prints p50,
// p99 and throughput of both and their ratios. By default it runs
// everything in process on an embedded JetStream server over TCP loopback;
// -replicas and -keys show how verification throughput scales with
// concurrent handlers (each replica is one micro subscription, whose
// handler runs one request at a time) and with contention on one key's
// budget; -idem gives every verification an idempotency key of its own,
// as the ingress does. With more than one replica it also prints how
// often a group found its budget written by another replica.
//
//	go run ./cmd/ksbench -replicas 3 -concurrency 8 -keys 8 -idem -duration 5s
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
		fmt.Fprintln(os.Stderr, "ksbench:", err)
		os.Exit(1)
	}
}

// Command ingressload measures the ingress under load, as `make load` runs
// it. It starts NATS with JetStream, keyservice, one OCR worker and the
// ingress as separate processes on loopback (no analytics or ClickHouse),
// creates an API key without limits through the Unkey v2 API, and runs three
// phases:
//
//   - floor: the hops any request must make one after the other (the HTTP
//     round trip, a NATS request to another process, a JetStream
//     key-value write, a job through a work-queue stream and its answer),
//     each measured with bare clients; their sum is the least the
//     overhead below can be on this machine (see floor.go).
//   - overhead: -clients clients (4) POST /upload a drawn 640x480 text
//     page, -requests times in all, to a worker with -slots slots (as many
//     as clients unless given, so no job waits for a slot, and the time 4
//     recognitions sharing the CPUs take is recognition time); with fewer
//     slots than clients, again with as many clients as slots.
//     For each request it takes the client's latency and the worker's
//     recognitionMs (from the job's result on the OCR_RESULTS stream) and
//     prints p50 and p99 of both and of their difference: what the
//     ingress, NATS and the worker's handling of a job add to Tesseract.
//   - flood: -flood-clients clients upload -flood-bytes files (a PNG
//     signature and random bytes) to -flood-route (/upload; or
//     /uploadBase64, or /signup for a large body to a route that is not an
//     OCR route) back to back for -flood-for, while the
//     ingress's VmRSS is sampled every 200 ms; it prints the RSS before,
//     at its peak and after, and the status codes the clients got.
//
// Without -bin it builds the services first, so run it inside the
// repository:
//
//	go run ./e2e/cmd/ingressload -bin .bin -nats-server .bin/nats-server
//	go run ./e2e/cmd/ingressload -phases flood -ingress-env OCR_MAX_IN_FLIGHT=8
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
	// net/http's client logs each response a server sends on a connection
	// it did not ask on (fasthttp's Concurrency refusal does); the flood
	// counts what clients get itself.
	log.SetOutput(io.Discard)
	if url := os.Getenv(floorHelperEnv); url != "" {
		if err := floorHelper(url); err != nil {
			fmt.Fprintln(os.Stderr, "ingressload floor helper:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ingressload:", err)
		os.Exit(1)
	}
}

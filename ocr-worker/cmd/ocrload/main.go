// Command ocrload measures the worker's memory under a long run of jobs. It
// starts an embedded JetStream server, runs the worker binary as a child
// process against it, feeds it the same drawn one-page image -jobs times,
// and prints the child's resident memory (VmRSS) once the engines have
// loaded, at each checkpoint and at the end, with the throughput. RSS that
// keeps growing between checkpoints is a leak: Tesseract's per-job memory
// should be returned once the job is done.
//
// Without -worker it builds the worker first, so run it from inside the
// repository:
//
//	go run ./cmd/ocrload -jobs 5000 -checkpoints 500,2000
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
		fmt.Fprintln(os.Stderr, "ocrload:", err)
		os.Exit(1)
	}
}

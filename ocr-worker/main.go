// Command ocr-worker recognises text in images: it pulls OCR jobs from
// JetStream, runs them through Tesseract and publishes each job's result and
// usage event. Configuration is read from the environment (see
// internal/config).
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/ompenv"
	"github.com/ocrstack/ocrstack/ops"
)

func main() {
	// The main thread stays with main: a goroutine that ends locked to a
	// thread ends the thread too, as recognitions do (see package
	// priority), but not the main thread, which the runtime parks for good
	// with the priority it was given.
	runtime.LockOSThread()
	fail := func(msg string, err error) {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error(msg, "err", err)
		os.Exit(1)
	}
	// The Docker HEALTHCHECK probe: no Tesseract, no re-execution.
	if len(os.Args) > 1 && os.Args[1] == ops.HealthcheckCommand {
		os.Exit(ops.RunHealthcheck(os.Getenv, ops.DefaultWorkerAddr, os.Stderr))
	}
	// Before anything else: Tesseract's OpenMP reads OMP_THREAD_LIMIT when
	// the library loads, so this may re-execute the program.
	if err := ompenv.Ensure(); err != nil {
		fail("set OMP_THREAD_LIMIT", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stderr); err != nil {
		stop()
		fail("ocr-worker stopped", err)
	}
}

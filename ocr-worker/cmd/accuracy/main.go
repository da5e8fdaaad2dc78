// Command accuracy scores the OCR engine on the shared evaluation corpus
// (../shared/ocr-corpus beside the repository, see its README): the
// character error rate of every image, of every category and over all of
// them (micro-average: edit distances over reference characters), with the
// time each took. `make accuracy` runs it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/ompenv"
)

func main() {
	// Tesseract is 4-6x slower with OpenMP threads on a small machine; the
	// limit must be in the environment before the library loads.
	if err := ompenv.Ensure(); err != nil {
		fmt.Fprintln(os.Stderr, "accuracy:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "accuracy:", err)
		os.Exit(1)
	}
}

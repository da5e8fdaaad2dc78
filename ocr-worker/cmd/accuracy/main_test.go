package main

import (
	"os"
	"testing"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/ompenv"
)

// TestMain runs the tests with OMP_THREAD_LIMIT=1, as the worker runs.
func TestMain(m *testing.M) {
	if err := ompenv.Ensure(); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// Command ingress serves the public OCR HTTP API.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ocrstack/ocrstack/ops"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == ops.HealthcheckCommand {
		os.Exit(ops.RunHealthcheck(os.Getenv, ops.DefaultIngressAddr, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ingress:", err)
		os.Exit(1)
	}
}

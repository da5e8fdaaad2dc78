package ocr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// toolTimeout bounds each external converter (poppler, libheif); an input
// it cannot convert in this time is refused as unreadable.
const toolTimeout = 60 * time.Second

// runTool runs a converter from the Debian package pkg and returns its
// standard output. Input the tool rejects (it exits non-zero, or takes over
// toolTimeout) is ErrUnreadableImage; a missing tool is an internal error.
func runTool(name, pkg string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return out, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w: %s took over %s", ErrUnreadableImage, name, toolTimeout)
	case errors.As(err, &exitErr):
		return nil, fmt.Errorf("%w: %s: %s", ErrUnreadableImage, name, firstLine(stderr.String()))
	default:
		return nil, fmt.Errorf("run %s (is %s installed?): %w", name, pkg, err)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

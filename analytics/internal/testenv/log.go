package testenv

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Logs collects a JSON log for a test, safe for concurrent writes.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Lines returns the logged lines that contain every one of parts.
func (l *Logs) Lines(parts ...string) []string {
	var out []string
	for line := range strings.Lines(l.String()) {
		match := true
		for _, p := range parts {
			match = match && strings.Contains(line, p)
		}
		if match {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// Logger returns a debug-level JSON logger writing to the returned Logs,
// which are printed if the test fails.
func Logger(t testing.TB) (*slog.Logger, *Logs) {
	logs := &Logs{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service log:\n%s", logs.String())
		}
	})
	return slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), logs
}

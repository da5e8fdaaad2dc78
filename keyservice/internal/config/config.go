// Package config loads keyservice's configuration from the environment.
package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config is keyservice's configuration.
type Config struct {
	// NATSURL is OCR_NATS_URL, default nats://127.0.0.1:4222.
	NATSURL string
	// ShutdownTimeout is OCR_SHUTDOWN_TIMEOUT, default 10s.
	ShutdownTimeout time.Duration
	// LogLevel is OCR_LOG_LEVEL: debug, info, warn or error; default info.
	LogLevel string
}

// Load reads the configuration through getenv and validates it.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		NATSURL:         or(getenv("OCR_NATS_URL"), "nats://127.0.0.1:4222"),
		ShutdownTimeout: 10 * time.Second, LogLevel: or(getenv("OCR_LOG_LEVEL"), "info"),
	}
	var errs []error
	if v := getenv("OCR_SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("OCR_SHUTDOWN_TIMEOUT: %w", err))
		}
		c.ShutdownTimeout = d
	}
	return c, errors.Join(append(errs, c.Validate())...)
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if !strings.HasPrefix(c.NATSURL, "nats://") && !strings.HasPrefix(c.NATSURL, "tls://") {
		errs = append(errs, fmt.Errorf("OCR_NATS_URL %q: want nats://host:port or tls://host:port", c.NATSURL))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("OCR_SHUTDOWN_TIMEOUT: want a positive duration"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("OCR_LOG_LEVEL %q: want debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

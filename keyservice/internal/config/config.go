// Package config loads keyservice's configuration from the environment.
package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ocrstack/ocrstack/ops"
)

// Config is keyservice's configuration.
type Config struct {
	// NATSURL is OCR_NATS_URL, default nats://127.0.0.1:4222.
	NATSURL string
	// ShutdownTimeout is OCR_SHUTDOWN_TIMEOUT, default 10s.
	ShutdownTimeout time.Duration
	// LogLevel is OCR_LOG_LEVEL: debug, info, warn or error; default info.
	LogLevel string
	// Replicas is OCR_NATS_REPLICAS, 1 to 5, default 1: the JetStream
	// replicas of what keyservice creates (the events stream, and the key
	// buckets unless KeysReplicas says otherwise); 3 on a 3-node cluster.
	// It is a floor: a stream or bucket with fewer is raised to it at
	// start-up, one with more (an operator's edit) keeps its own.
	Replicas int
	// KeysReplicas is OCR_KEYS_REPLICAS, 1 to 5, default Replicas: the
	// replicas of the key buckets alone, applied the same way. It predates
	// OCR_NATS_REPLICAS and still overrides it.
	KeysReplicas int
	// OpsAddr is OCR_OPS_ADDR, where /metrics, /livez and /readyz are
	// served: default 127.0.0.1:9101, "off" (stored as "") for none.
	OpsAddr string
}

// Load reads the configuration through getenv and validates it.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		NATSURL:         or(getenv("OCR_NATS_URL"), "nats://127.0.0.1:4222"),
		ShutdownTimeout: 10 * time.Second, LogLevel: or(getenv("OCR_LOG_LEVEL"), "info"),
	}
	var errs []error
	var err error
	if c.Replicas, err = ops.ParseReplicas(ops.EnvNATSReplicas, getenv(ops.EnvNATSReplicas)); err != nil {
		errs = append(errs, err)
	}
	c.KeysReplicas = c.Replicas
	if v := getenv("OCR_KEYS_REPLICAS"); v != "" {
		if c.KeysReplicas, err = ops.ParseReplicas("OCR_KEYS_REPLICAS", v); err != nil {
			errs = append(errs, err)
		}
	}
	if c.OpsAddr, err = ops.ParseAddr(getenv(ops.EnvAddr), ops.DefaultKeyServiceAddr); err != nil {
		errs = append(errs, err)
	}
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
		// The URL may carry a password: it is shown redacted.
		errs = append(errs, fmt.Errorf("OCR_NATS_URL %q: want nats://host:port or tls://host:port", ops.RedactURL(c.NATSURL)))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("OCR_SHUTDOWN_TIMEOUT: want a positive duration"))
	}
	if c.Replicas < 1 || c.Replicas > ops.MaxReplicas {
		errs = append(errs, fmt.Errorf("%s %d: want 1 to %d (3 for a cluster)", ops.EnvNATSReplicas, c.Replicas, ops.MaxReplicas))
	}
	if c.KeysReplicas < 1 || c.KeysReplicas > ops.MaxReplicas {
		errs = append(errs, fmt.Errorf("OCR_KEYS_REPLICAS %d: want 1 to %d (3 for a cluster)", c.KeysReplicas, ops.MaxReplicas))
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

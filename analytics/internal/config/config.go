// Package config loads the analytics service's configuration from the
// environment, once, at start-up. Nothing else in the service reads the
// environment.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ocrstack/ocrstack/ops"
)

// ErrInvalid is wrapped by every configuration error.
var ErrInvalid = errors.New("invalid configuration")

// Limits on the batch settings. Behind a backlog the sink grows batches
// beyond the batch size, to sink.DefaultMaxBatchSize, within the consumer's
// streams.MaxAckPending; a batch must be flushed well within the
// consumer's 60 s ack wait.
const (
	MaxBatchSize     = 10000
	MinFlushInterval = 10 * time.Millisecond
	MaxFlushInterval = 30 * time.Second
)

// Config is the analytics service's configuration.
type Config struct {
	// NATSURL is OCR_NATS_URL, default nats://127.0.0.1:4222.
	NATSURL string
	// Replicas is OCR_NATS_REPLICAS, 1 to 5, default 1 (3 on a 3-node
	// cluster): the least JetStream replicas of the events stream when
	// analytics creates or updates it. One with fewer is raised at
	// start-up; one with more keeps its own.
	Replicas int
	// ClickHouseAddr is OCR_CLICKHOUSE_ADDR, host:port of the native
	// protocol, default 127.0.0.1:9000.
	ClickHouseAddr string
	// ClickHouseDatabase is OCR_CLICKHOUSE_DATABASE, default ocr; created at
	// start-up when missing. Letters, digits and underscores only.
	ClickHouseDatabase string
	// ClickHouseUsername and ClickHousePassword are OCR_CLICKHOUSE_USERNAME
	// (default "default") and OCR_CLICKHOUSE_PASSWORD (default empty).
	ClickHouseUsername string
	ClickHousePassword string
	// ClickHouseCluster is OCR_CLICKHOUSE_CLUSTER: when set, the schema is
	// created ON CLUSTER with Replicated*MergeTree engines (see
	// migrate.Cluster). Default empty: a single server. Letters, digits,
	// underscores, dots and dashes.
	ClickHouseCluster string
	// RollupInterval is OCR_ANALYTICS_ROLLUP_INTERVAL (a Go duration): how
	// often the rollup buckets touched by stored batches are recomputed.
	// Default 1s, MinRollupInterval to MaxRollupInterval.
	RollupInterval time.Duration
	// BatchSize is OCR_ANALYTICS_BATCH_SIZE: a batch is inserted once it
	// holds this many events. Default 10000, 1 to MaxBatchSize: ClickHouse
	// pays a fixed cost per insert (a new part on disk), so a backlog
	// drains about four times faster in batches of 10,000 than of 1,000
	// (measured with `make analytics-load`); under a light load a batch is
	// flushed by FlushInterval long before it is full.
	BatchSize int
	// FlushInterval is OCR_ANALYTICS_FLUSH_INTERVAL (a Go duration): a
	// batch is inserted at the latest this long after its first event.
	// Default 1s, MinFlushInterval to MaxFlushInterval.
	FlushInterval time.Duration
	// ShutdownTimeout is OCR_ANALYTICS_SHUTDOWN_TIMEOUT (a Go duration):
	// how long the final flush and the NATS drain may take. Default 10s.
	ShutdownTimeout time.Duration
	// OpsAddr is OCR_OPS_ADDR, where /metrics, /livez and /readyz are
	// served: default 127.0.0.1:9103, "off" (stored as "") for none.
	OpsAddr string
	// LogLevel is OCR_LOG_LEVEL: debug, info, warn or error.
	// Default info.
	LogLevel slog.Level
}

// Load reads the configuration through getenv and validates it, reporting
// every problem at once. A value that does not parse is reported and replaced
// by its default, so that it is not reported a second time by Validate.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		NATSURL:            or(getenv("OCR_NATS_URL"), "nats://127.0.0.1:4222"),
		ClickHouseAddr:     or(getenv("OCR_CLICKHOUSE_ADDR"), "127.0.0.1:9000"),
		ClickHouseDatabase: or(getenv("OCR_CLICKHOUSE_DATABASE"), "ocr"),
		ClickHouseUsername: or(getenv("OCR_CLICKHOUSE_USERNAME"), "default"),
		ClickHousePassword: getenv("OCR_CLICKHOUSE_PASSWORD"),
		ClickHouseCluster:  getenv("OCR_CLICKHOUSE_CLUSTER"),
	}
	var errs []error
	var err error
	if c.Replicas, err = ops.ParseReplicas(ops.EnvNATSReplicas, getenv(ops.EnvNATSReplicas)); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrInvalid, err))
	}
	if c.BatchSize, err = parseInt(getenv, "OCR_ANALYTICS_BATCH_SIZE", 10000); err != nil {
		errs = append(errs, err)
	}
	if c.FlushInterval, err = parseDuration(getenv, "OCR_ANALYTICS_FLUSH_INTERVAL", time.Second); err != nil {
		errs = append(errs, err)
	}
	if c.ShutdownTimeout, err = parseDuration(getenv, "OCR_ANALYTICS_SHUTDOWN_TIMEOUT", 10*time.Second); err != nil {
		errs = append(errs, err)
	}
	if c.RollupInterval, err = parseDuration(getenv, "OCR_ANALYTICS_ROLLUP_INTERVAL", time.Second); err != nil {
		errs = append(errs, err)
	}
	if c.OpsAddr, err = ops.ParseAddr(getenv(ops.EnvAddr), ops.DefaultAnalyticsAddr); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrInvalid, err))
	}
	if v := getenv("OCR_LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("%w: OCR_LOG_LEVEL %q: want debug, info, warn or error", ErrInvalid, v))
		}
	}
	return c, errors.Join(append(errs, c.Validate())...)
}

var (
	identifier  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	clusterName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
)

// Limits on the rollup interval: often enough that rollups trail the raw
// tables by about a second, not so often that recomputing a busy minute
// from the raw table competes with the inserts.
const (
	MinRollupInterval = 100 * time.Millisecond
	MaxRollupInterval = 10 * time.Minute
)

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if !strings.HasPrefix(c.NATSURL, "nats://") && !strings.HasPrefix(c.NATSURL, "tls://") {
		// The URL may carry a password: it is shown redacted.
		bad("OCR_NATS_URL %q: want nats://host:port or tls://host:port", ops.RedactURL(c.NATSURL))
	}
	if c.Replicas < 1 || c.Replicas > ops.MaxReplicas {
		bad("%s %d: want 1 to %d (3 for a cluster)", ops.EnvNATSReplicas, c.Replicas, ops.MaxReplicas)
	}
	if host, port, err := net.SplitHostPort(c.ClickHouseAddr); err != nil || host == "" || port == "" {
		bad("OCR_CLICKHOUSE_ADDR %q: want host:port", c.ClickHouseAddr)
	}
	if !identifier.MatchString(c.ClickHouseDatabase) {
		bad("OCR_CLICKHOUSE_DATABASE %q: want letters, digits and underscores, not starting with a digit", c.ClickHouseDatabase)
	}
	if c.ClickHouseCluster != "" && !clusterName.MatchString(c.ClickHouseCluster) {
		bad("OCR_CLICKHOUSE_CLUSTER %q: want letters, digits, underscores, dots and dashes", c.ClickHouseCluster)
	}
	if c.RollupInterval < MinRollupInterval || c.RollupInterval > MaxRollupInterval {
		bad("OCR_ANALYTICS_ROLLUP_INTERVAL %s: want %s to %s", c.RollupInterval, MinRollupInterval, MaxRollupInterval)
	}
	if c.ClickHouseUsername == "" {
		bad("OCR_CLICKHOUSE_USERNAME is empty")
	}
	if c.BatchSize < 1 || c.BatchSize > MaxBatchSize {
		bad("OCR_ANALYTICS_BATCH_SIZE %d: want 1 to %d", c.BatchSize, MaxBatchSize)
	}
	if c.FlushInterval < MinFlushInterval || c.FlushInterval > MaxFlushInterval {
		bad("OCR_ANALYTICS_FLUSH_INTERVAL %s: want %s to %s", c.FlushInterval, MinFlushInterval, MaxFlushInterval)
	}
	if c.ShutdownTimeout < time.Second {
		bad("OCR_ANALYTICS_SHUTDOWN_TIMEOUT %s: want at least 1s", c.ShutdownTimeout)
	}
	return errors.Join(errs...)
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func parseInt(getenv func(string) string, name string, def int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def, fmt.Errorf("%w: %s %q: want an integer", ErrInvalid, name, v)
	}
	return n, nil
}

func parseDuration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return def, fmt.Errorf("%w: %s %q: want a duration such as 1s or 500ms", ErrInvalid, name, v)
	}
	return d, nil
}

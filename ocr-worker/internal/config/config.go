// Package config loads the worker's settings from the environment, once, at
// start-up. Nothing else in the worker reads the environment.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ocrstack/ocrstack/ops"
)

// Environment variables the worker reads.
const (
	EnvNATSURL     = "OCR_NATS_URL"
	EnvReplicas    = ops.EnvNATSReplicas
	EnvConcurrency = "OCR_WORKER_CONCURRENCY"
	EnvLanguages   = "OCR_WORKER_LANGUAGES"
	EnvAckWait     = "OCR_WORKER_ACK_WAIT"
	EnvJobDeadline = "OCR_WORKER_JOB_DEADLINE"
	EnvNice        = "OCR_WORKER_NICE"
	EnvLogLevel    = "OCR_LOG_LEVEL"
)

// Defaults for unset variables. The default concurrency is runtime.NumCPU().
const (
	DefaultNATSURL   = "nats://127.0.0.1:4222"
	DefaultLanguages = "eng+spa"
	// DefaultAckWait is how long a delivered job may go without an ack or
	// a progress report before another worker gets it.
	DefaultAckWait = 2 * time.Minute
	// MinAckWait keeps progress reports (every quarter of it) sensible.
	MinAckWait = time.Second
	// DefaultJobDeadline bounds one job's recognition, all its pages.
	DefaultJobDeadline = 10 * time.Minute
	// MaxConcurrency bounds OCR_WORKER_CONCURRENCY: each slot holds a
	// Tesseract client of 15-25 MB plus the image it works on.
	MaxConcurrency = 64
	// DefaultNice is the nice value recognitions run at: they are batch
	// work and yield to the API path sharing their CPUs (see package
	// priority).
	DefaultNice = 10
	// MaxNice is the lowest priority Linux has.
	MaxNice = 19
)

// Config is the worker's configuration.
type Config struct {
	// NATSURL is one NATS server URL, or several separated by commas.
	NATSURL string
	// Replicas is OCR_NATS_REPLICAS, 1 to 5, default 1 (3 on a 3-node
	// cluster): the least JetStream replicas of the streams (OCR_JOBS,
	// OCR_RESULTS, OCR_EVENTS, OCR_DEAD) and the images bucket the worker
	// creates. One with fewer is raised at start-up; one with more keeps
	// its own.
	Replicas int
	// Concurrency is the number of jobs recognised at once, each by its own
	// Tesseract client; 1 to MaxConcurrency.
	Concurrency int
	// Languages are the Tesseract languages used when a job names none, in
	// order of preference (OCR_WORKER_LANGUAGES joins them with "+").
	Languages []string
	// Installed lists the languages Tesseract has models for. It does not
	// come from the environment: Load's caller asks Tesseract.
	Installed []string
	// AckWait is the jobs consumer's AckWait (OCR_WORKER_ACK_WAIT): how
	// soon a job whose worker died goes to another. The consumer is shared,
	// so every worker must be given the same value.
	AckWait time.Duration
	// LogLevel is OCR_LOG_LEVEL: debug, info, warn or error.
	LogLevel slog.Level
	// JobDeadline is OCR_WORKER_JOB_DEADLINE: past it a job fails with
	// TIMEOUT and its slot goes on with a fresh Tesseract client.
	JobDeadline time.Duration
	// OpsAddr is OCR_OPS_ADDR, where /metrics, /livez and /readyz are
	// served: default 127.0.0.1:9102, "off" (stored as "") for none.
	OpsAddr string
	// Nice is OCR_WORKER_NICE, 0 to MaxNice: the nice value of the threads
	// that run Tesseract, at least (0 leaves them at the worker's own).
	Nice int
}

// Load reads the configuration with getenv and validates it against the
// installed languages, reporting every problem at once.
func Load(getenv func(string) string, installed []string) (Config, error) {
	c := Config{
		NATSURL:     DefaultNATSURL,
		Concurrency: runtime.NumCPU(),
		Languages:   splitLanguages(DefaultLanguages),
		Installed:   installed,
		AckWait:     DefaultAckWait,
		JobDeadline: DefaultJobDeadline,
		LogLevel:    slog.LevelInfo,
		Nice:        DefaultNice,
	}
	var errs []error
	var err error
	if c.OpsAddr, err = ops.ParseAddr(getenv(ops.EnvAddr), ops.DefaultWorkerAddr); err != nil {
		errs = append(errs, err)
	}
	if v := getenv(EnvNATSURL); v != "" {
		c.NATSURL = v
	}
	if c.Replicas, err = ops.ParseReplicas(EnvReplicas, getenv(EnvReplicas)); err != nil {
		errs = append(errs, err)
	}
	if v := getenv(EnvConcurrency); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not an integer", EnvConcurrency, v))
		} else {
			c.Concurrency = n
		}
	}
	if v := getenv(EnvNice); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not an integer", EnvNice, v))
		} else {
			c.Nice = n
		}
	}
	if v := getenv(EnvLanguages); v != "" {
		c.Languages = splitLanguages(v)
	}
	errs = append(errs, duration(getenv, EnvAckWait, &c.AckWait), duration(getenv, EnvJobDeadline, &c.JobDeadline))
	if v := getenv(EnvLogLevel); v != "" {
		switch v {
		case "debug", "info", "warn", "error":
			_ = c.LogLevel.UnmarshalText([]byte(v))
		default:
			errs = append(errs, fmt.Errorf("%s: %q is not debug, info, warn or error", EnvLogLevel, v))
		}
	}
	errs = append(errs, c.Validate())
	return c, errors.Join(errs...)
}

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	// The URLs may carry a password: an error shows the list redacted and
	// says which entry is wrong, never the entry itself.
	for i, u := range strings.Split(c.NATSURL, ",") {
		if err := checkURL(strings.TrimSpace(u)); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: entry %d %w", EnvNATSURL, ops.RedactURL(c.NATSURL), i+1, err))
		}
	}
	if c.Replicas < 1 || c.Replicas > ops.MaxReplicas {
		errs = append(errs, fmt.Errorf("%s: %d is not between 1 and %d", EnvReplicas, c.Replicas, ops.MaxReplicas))
	}
	if c.Concurrency < 1 || c.Concurrency > MaxConcurrency {
		errs = append(errs, fmt.Errorf("%s: %d is not between 1 and %d", EnvConcurrency, c.Concurrency, MaxConcurrency))
	}
	if c.Nice < 0 || c.Nice > MaxNice {
		errs = append(errs, fmt.Errorf("%s: %d is not between 0 and %d", EnvNice, c.Nice, MaxNice))
	}
	if c.JobDeadline <= 0 {
		errs = append(errs, fmt.Errorf("%s: %s is not positive", EnvJobDeadline, c.JobDeadline))
	}
	if c.AckWait < MinAckWait {
		errs = append(errs, fmt.Errorf("%s: %s is below %s", EnvAckWait, c.AckWait, MinAckWait))
	}
	if len(c.Languages) == 0 {
		errs = append(errs, fmt.Errorf("%s: no language given", EnvLanguages))
	}
	for i, l := range c.Languages {
		switch {
		case !slices.Contains(c.Installed, l):
			errs = append(errs, fmt.Errorf("%s: %q is not installed (installed: %s)",
				EnvLanguages, l, strings.Join(c.Installed, ", ")))
		case slices.Contains(c.Languages[:i], l):
			errs = append(errs, fmt.Errorf("%s: %q is listed twice", EnvLanguages, l))
		}
	}
	return errors.Join(errs...)
}

// duration sets *d from the variable name when it is set, or says why it
// cannot.
func duration(getenv func(string) string, name string, d *time.Duration) error {
	v := getenv(name)
	if v == "" {
		return nil
	}
	parsed, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%s: %q is not a duration such as 2m", name, v)
	}
	*d = parsed
	return nil
}

func splitLanguages(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "+") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// checkURL says what is wrong with one NATS URL, without quoting it.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("is not a URL")
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return errors.New("has a scheme other than nats, tls, ws or wss")
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	return nil
}

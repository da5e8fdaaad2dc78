// Package config loads the ingress's configuration from the environment.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ops"
)

// Config is the ingress's configuration.
type Config struct {
	// HTTPAddr is OCR_HTTP_ADDR, default 127.0.0.1:8080.
	HTTPAddr string
	// NATSURL is OCR_NATS_URL, default nats://127.0.0.1:4222.
	NATSURL string
	// Replicas is OCR_NATS_REPLICAS, 1 to 5, default 1 (3 on a 3-node
	// cluster): the least JetStream replicas of the streams (OCR_JOBS,
	// OCR_RESULTS, OCR_EVENTS) and buckets (ocr_jobs, ocr_idempotency,
	// ocr_images) the ingress creates. One with fewer is raised at
	// start-up; one with more keeps its own.
	Replicas int
	// RootKey is OCR_ROOT_KEY, the administrator's key (at least 24
	// characters), the bearer token of the /v2 key-management routes.
	// Admin routes stay closed without it.
	RootKey string
	// APIID is OCR_API_ID, the key space of signup keys; default api_ocr.
	APIID string
	// MaxImageBytes is OCR_MAX_IMAGE_BYTES, default 20 MiB.
	MaxImageBytes int
	// SyncWait is OCR_SYNC_WAIT, how long a request waits for OCR; default 60s.
	SyncWait time.Duration
	// CallTimeout is OCR_CALL_TIMEOUT, for each keyservice call; default 3s.
	CallTimeout time.Duration
	// ShutdownTimeout is OCR_SHUTDOWN_TIMEOUT, default 30s.
	ShutdownTimeout time.Duration
	// LogLevel is OCR_LOG_LEVEL: debug, info, warn or error; default info.
	LogLevel string
	// OpsAddr is OCR_OPS_ADDR, where /metrics, /livez and /readyz are
	// served apart from the API: default 127.0.0.1:9104, "off" (stored as
	// "") for none. The API port keeps its own /livez and /readyz.
	OpsAddr string
	// SignupLimit is OCR_SIGNUP_LIMIT, sign-ups allowed per client IP per
	// hour; default 10, 0 for no limit.
	SignupLimit int
	// TrustedProxies is OCR_TRUSTED_PROXIES, comma-separated addresses or
	// CIDR ranges of the reverse proxies in front of the ingress. A request
	// from one of them is attributed to the client its X-Forwarded-For
	// names (for the sign-up limit and logs); from anywhere else the header
	// is ignored, so a client cannot pick its own address. Empty (the
	// default): the connection's address always.
	TrustedProxies []string
	// MaxInFlight is OCR_MAX_IN_FLIGHT, the OCR requests this ingress
	// processes at once; past it a request gets 503 OVERLOADED at once.
	// Default 16, at least 1. It only bites below MaxConns (each request
	// holds a connection).
	MaxInFlight int
	// MaxQueued is OCR_MAX_QUEUED, the messages the jobs stream (OCR_JOBS,
	// shared by every ingress) may hold before new OCR requests get 503
	// OVERLOADED; default 1000, 0 for no limit.
	MaxQueued int
	// MaxConns is OCR_MAX_CONNS, the HTTP connections served at once; more
	// wait to be accepted. Request bodies are streamed, so a connection
	// costs little memory (a flood of 20 MB uploads peaked at 35-52 MiB
	// whether 32, 256 or unlimited connections were served; see package
	// admission): the limit bounds sockets and goroutines. Default 256, 0
	// for no limit.
	MaxConns int
	// CallbackSecret is OCR_CALLBACK_SECRET, at least 32 characters: the
	// HMAC-SHA256 key job callbacks are signed with. Without it a job naming
	// a callbackUrl is refused (CALLBACKS_DISABLED). Every replica needs
	// the same one.
	CallbackSecret string
	// CallbackAllowPrivate is OCR_CALLBACK_ALLOW_PRIVATE=true: callbacks may
	// go to loopback and private addresses (development only; otherwise any
	// key holder could make the ingress call the internal network).
	CallbackAllowPrivate bool
	// PlansFile is OCR_PLANS_FILE, a plans catalogue replacing the one
	// shipped in the binary (ingress/internal/plans/plans.json).
	PlansFile string
	// EmailVerification is OCR_EMAIL_VERIFICATION=on|off (default off, the
	// tutorial's flow): with on, a new account's keys get 403
	// EMAIL_NOT_VERIFIED until the link mailed at sign-up is followed.
	EmailVerification bool
	// SMTPAddr is OCR_SMTP_ADDR (host:port); with it verification mails go
	// through SMTP as OCR_SMTP_FROM, authenticated as OCR_SMTP_USER with
	// OCR_SMTP_PASSWORD when a user is set. Without it they are written
	// to OutboxDir.
	SMTPAddr, SMTPFrom, SMTPUser, SMTPPassword string
	// OutboxDir is OCR_OUTBOX_DIR, default .data/outbox: one .eml file per
	// mail when no SMTP server is configured.
	OutboxDir string
	// EmailSecret is OCR_EMAIL_SECRET (at least 32 characters), the key
	// verification links are signed with; empty derives one from the root
	// key. Every replica needs the same one.
	EmailSecret string
	// PublicURL is OCR_PUBLIC_URL, how clients reach the ingress (the
	// base of verification links); default http://<OCR_HTTP_ADDR>.
	PublicURL string
	// NoticeWebhookURL is OCR_NOTICE_WEBHOOK_URL: low-credit notices are
	// POSTed there, signed with OCR_CALLBACK_SECRET like job callbacks.
	NoticeWebhookURL string
	// ExpiryMargin is OCR_EXPIRY_MARGIN, default 15m: a job still queued
	// this long after it aged out of the jobs stream (MaxAge, 24 h) fails
	// with TIMEOUT and is refunded (package expiry). Above the workers' job
	// deadline; with ExpiryInterval, under the hour keyservice still
	// refunds in after MaxAge.
	ExpiryMargin time.Duration
	// ExpiryInterval is OCR_EXPIRY_INTERVAL, default 1m: how often each
	// replica looks for such jobs; at least 1s.
	ExpiryInterval time.Duration
}

// Load reads the configuration through getenv and validates it, reporting
// every problem at once.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		HTTPAddr: or(getenv("OCR_HTTP_ADDR"), "127.0.0.1:8080"), NATSURL: or(getenv("OCR_NATS_URL"), "nats://127.0.0.1:4222"),
		RootKey: getenv("OCR_ROOT_KEY"), APIID: or(getenv("OCR_API_ID"), "api_ocr"), LogLevel: or(getenv("OCR_LOG_LEVEL"), "info"),
	}
	var errs []error
	var err error
	if c.Replicas, err = ops.ParseReplicas(ops.EnvNATSReplicas, getenv(ops.EnvNATSReplicas)); err != nil {
		errs = append(errs, err)
	}
	if addr, err := ops.ParseAddr(getenv(ops.EnvAddr), ops.DefaultIngressAddr); err != nil {
		errs = append(errs, err)
	} else {
		c.OpsAddr = addr
	}
	c.MaxImageBytes = intVar(getenv, "OCR_MAX_IMAGE_BYTES", 20<<20, &errs)
	c.SyncWait = durVar(getenv, "OCR_SYNC_WAIT", 60*time.Second, &errs)
	c.CallTimeout = durVar(getenv, "OCR_CALL_TIMEOUT", 3*time.Second, &errs)
	c.ShutdownTimeout = durVar(getenv, "OCR_SHUTDOWN_TIMEOUT", 30*time.Second, &errs)
	c.ExpiryMargin = durVar(getenv, "OCR_EXPIRY_MARGIN", 15*time.Minute, &errs)
	c.ExpiryInterval = durVar(getenv, "OCR_EXPIRY_INTERVAL", time.Minute, &errs)
	c.SignupLimit = intVar(getenv, "OCR_SIGNUP_LIMIT", 10, &errs)
	c.MaxInFlight = intVar(getenv, "OCR_MAX_IN_FLIGHT", 16, &errs)
	c.MaxQueued = intVar(getenv, "OCR_MAX_QUEUED", 1000, &errs)
	c.MaxConns = intVar(getenv, "OCR_MAX_CONNS", 256, &errs)
	for p := range strings.SplitSeq(getenv("OCR_TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				errs = append(errs, fmt.Errorf("OCR_TRUSTED_PROXIES %q: want IP addresses or CIDR ranges, comma-separated", p))
				continue
			}
		}
		c.TrustedProxies = append(c.TrustedProxies, p)
	}
	c.CallbackSecret = getenv("OCR_CALLBACK_SECRET")
	switch v := getenv("OCR_CALLBACK_ALLOW_PRIVATE"); v {
	case "", "false":
	case "true":
		c.CallbackAllowPrivate = true
	default:
		errs = append(errs, fmt.Errorf("OCR_CALLBACK_ALLOW_PRIVATE %q: want true or false", v))
	}
	c.PlansFile, c.OutboxDir = getenv("OCR_PLANS_FILE"), or(getenv("OCR_OUTBOX_DIR"), ".data/outbox")
	c.SMTPAddr, c.SMTPFrom = getenv("OCR_SMTP_ADDR"), or(getenv("OCR_SMTP_FROM"), "OCR API <no-reply@localhost>")
	c.SMTPUser, c.SMTPPassword = getenv("OCR_SMTP_USER"), getenv("OCR_SMTP_PASSWORD")
	c.EmailSecret, c.NoticeWebhookURL = getenv("OCR_EMAIL_SECRET"), getenv("OCR_NOTICE_WEBHOOK_URL")
	c.PublicURL = or(getenv("OCR_PUBLIC_URL"), "http://"+c.HTTPAddr)
	switch v := getenv("OCR_EMAIL_VERIFICATION"); v {
	case "", "off":
	case "on":
		c.EmailVerification = true
	default:
		errs = append(errs, fmt.Errorf("OCR_EMAIL_VERIFICATION %q: want on or off", v))
	}
	return c, errors.Join(append(errs, c.Validate())...)
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("OCR_HTTP_ADDR %q: want host:port", c.HTTPAddr))
	}
	if !strings.HasPrefix(c.NATSURL, "nats://") && !strings.HasPrefix(c.NATSURL, "tls://") {
		// URLs may carry a password: they are shown redacted.
		errs = append(errs, fmt.Errorf("OCR_NATS_URL %q: want nats://host:port or tls://host:port", ops.RedactURL(c.NATSURL)))
	}
	if c.Replicas < 1 || c.Replicas > ops.MaxReplicas {
		errs = append(errs, fmt.Errorf("%s %d: want 1 to %d (3 for a cluster)", ops.EnvNATSReplicas, c.Replicas, ops.MaxReplicas))
	}
	if c.RootKey != "" && len(c.RootKey) < 24 {
		errs = append(errs, errors.New("OCR_ROOT_KEY: at least 24 characters"))
	}
	if c.CallbackSecret != "" && len(c.CallbackSecret) < 32 {
		errs = append(errs, errors.New("OCR_CALLBACK_SECRET: at least 32 characters"))
	}
	if c.MaxImageBytes < 1024 || c.MaxImageBytes > 256<<20 {
		errs = append(errs, fmt.Errorf("OCR_MAX_IMAGE_BYTES %d: want 1024..268435456", c.MaxImageBytes))
	}
	if c.SignupLimit < 0 {
		errs = append(errs, fmt.Errorf("OCR_SIGNUP_LIMIT %d: want 0 (no limit) or more", c.SignupLimit))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("OCR_MAX_IN_FLIGHT %d: want 1 or more", c.MaxInFlight))
	}
	for name, n := range map[string]int{"OCR_MAX_QUEUED": c.MaxQueued, "OCR_MAX_CONNS": c.MaxConns} {
		if n < 0 {
			errs = append(errs, fmt.Errorf("%s %d: want 0 (no limit) or more", name, n))
		}
	}
	for name, d := range map[string]time.Duration{"OCR_SYNC_WAIT": c.SyncWait, "OCR_CALL_TIMEOUT": c.CallTimeout, "OCR_SHUTDOWN_TIMEOUT": c.ShutdownTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive duration", name))
		}
	}
	if c.ExpiryMargin < 0 || c.ExpiryInterval < time.Second || c.ExpiryMargin+c.ExpiryInterval >= contracts.RefundWindow-contracts.JobsMaxAge {
		errs = append(errs, fmt.Errorf("OCR_EXPIRY_MARGIN %s, OCR_EXPIRY_INTERVAL %s: want a margin of 0 or more, an interval of 1s or more, and together under %s",
			c.ExpiryMargin, c.ExpiryInterval, contracts.RefundWindow-contracts.JobsMaxAge))
	}
	if c.EmailSecret != "" && len(c.EmailSecret) < 32 {
		errs = append(errs, errors.New("OCR_EMAIL_SECRET: at least 32 characters"))
	}
	if c.EmailVerification && c.EmailSecret == "" && c.RootKey == "" {
		errs = append(errs, errors.New("OCR_EMAIL_VERIFICATION=on needs OCR_EMAIL_SECRET or OCR_ROOT_KEY to sign links with"))
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("OCR_PUBLIC_URL %q: want an absolute http or https URL", ops.RedactURL(c.PublicURL)))
	}
	if c.NoticeWebhookURL != "" {
		if u, err := url.Parse(c.NoticeWebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("OCR_NOTICE_WEBHOOK_URL %q: want an absolute http or https URL", ops.RedactURL(c.NoticeWebhookURL)))
		}
		if c.CallbackSecret == "" {
			errs = append(errs, errors.New("OCR_NOTICE_WEBHOOK_URL needs OCR_CALLBACK_SECRET to sign notices with"))
		}
	}
	if c.SMTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.SMTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("OCR_SMTP_ADDR %q: want host:port", c.SMTPAddr))
		}
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

func intVar(getenv func(string) string, name string, def int, errs *[]error) int {
	v := getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s: %w", name, err))
	}
	return n
}

func durVar(getenv func(string) string, name string, def time.Duration, errs *[]error) time.Duration {
	v := getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s: %w", name, err))
		return def
	}
	return d
}

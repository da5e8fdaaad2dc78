// Package httpapi is the public HTTP API of the platform, on fiber: the
// tutorial's routes (/signup, /upload, /uploadBase64) and PicToText's
// (/api/v1/ocr) with their exact shapes, the versioned OCR API (POST
// /v1/ocr, POST /v1/jobs, GET /v1/jobs/{id}), Unkey's v2 key-management API
// (POST /v2/<service>.<method>, root key only) so that Unkey's SDK can drive
// keyservice, plus health checks.
//
// A request to an OCR route is checked in this order: the Authorization
// header's form (401), the image and the options (400, 413, 415), the
// languages against those the OCR workers have installed (400), then the
// key itself with keyservice (401, 402, 429), so a malformed request never
// spends credits; POST /v1/jobs checks its callbackUrl with the options.
// GET /v1/jobs/{id} checks the header's form, then the key without
// charging it, then the job.
//
// Request bodies are streamed (body.go): an OCR route reads its body only
// after the admission gate let it in, and a multipart image part by part,
// straight into the Object Store when it is over contracts.InlineImageMax
// (form.go); a request with an Idempotency-Key reads a stored image back
// to hash it, since the hash starts with the image's length (image.go).
// A base64 JSON body is read the same way, its image decoded as it
// arrives (jsonbody.go); the small JSON bodies of the other routes are
// read whole, up to the body limit. Whatever a handler leaves unread
// is drained after it, so a client still sending reads the answer rather
// than a reset.
package httpapi

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/accounts"
	"github.com/ocrstack/ocrstack/ingress/internal/idempotency"
)

// Keys is what the API needs of keyservice.
type Keys interface {
	Verify(ctx context.Context, req contracts.VerifyKeyRequest) (contracts.VerifyKeyResponse, error)
	Create(ctx context.Context, req contracts.CreateKeyRequest) (contracts.CreateKeyResponse, error)
	// Call sends req to a keyservice subject from contracts and decodes the
	// reply into resp; errors are as keysclient.Client.Call's.
	Call(ctx context.Context, subject string, req, resp any) error
	// RefundLater sends a refund in the background, retried until
	// keyservice answers (keysclient.Client.RefundLater).
	RefundLater(ctx context.Context, req contracts.RefundRequest)
}

// Jobs runs OCR jobs; errors are as jobs.Submitter's.
type Jobs interface {
	// Submit queues job and waits up to wait for its result.
	Submit(ctx context.Context, job contracts.OCRJob, image []byte, wait time.Duration) (contracts.OCRResult, error)
	// Enqueue queues job without waiting, with a callback URL or "".
	Enqueue(ctx context.Context, job contracts.OCRJob, image []byte, callbackURL string) error
	// StoreImage streams an image too large for the job message into the
	// Object Store as name, for a job with ImageRef name and no image
	// bytes, which Submit or Enqueue then owns. When r fails nothing is
	// left and r's error is returned.
	StoreImage(ctx context.Context, name string, r io.Reader) error
	// OpenImage reads a stored image back.
	OpenImage(ctx context.Context, name string) (io.ReadCloser, error)
	// DeleteImage removes a stored image no job took.
	DeleteImage(ctx context.Context, name string) error
	// Lookup returns a job's record and its result, nil until it is over.
	Lookup(ctx context.Context, jobID string) (contracts.JobRecord, *contracts.OCRResult, error)
	// Await waits up to wait for the result of a job queued earlier.
	Await(ctx context.Context, jobID string, wait time.Duration) (contracts.OCRResult, error)
}

// Admission bounds the OCR work in flight (admission.Gate does).
type Admission interface {
	// Admit lets one OCR request in, or refuses it with an error that is
	// an *admission.OverloadedError; release is called when it is done.
	Admit(ctx context.Context) (release func(), err error)
}

// Idempotency remembers which job an Idempotency-Key started
// (idempotency.Store does).
type Idempotency interface {
	// Claim records jobID for the key in scope unless it has a job; it
	// returns the job it has, and idempotency.ErrConflict when that job
	// was for another body.
	Claim(ctx context.Context, scope, idemKey, bodyHash, jobID string) (idempotency.Claim, error)
	// Release forgets the claim if it still names jobID.
	Release(ctx context.Context, scope, idemKey, jobID string) error
}

// Languages tells which Tesseract languages the OCR workers have installed.
type Languages interface {
	// Installed returns the language codes every worker has, and false
	// when they are not known. It returns within a short window.
	Installed(ctx context.Context) ([]string, bool)
}

// Notices hears the VALID verifications that spent cost credits.
type Notices interface {
	Observe(v contracts.VerifyKeyResponse, cost int64, requestID string)
}

// Config holds the API's dependencies and limits.
type Config struct {
	Keys   Keys
	Jobs   Jobs
	Logger *slog.Logger
	// Languages, when set, lets a request naming a language no worker has
	// be refused before its key is charged; nil leaves that to the worker.
	Languages Languages
	// Admission, when set, refuses OCR requests with 503 OVERLOADED while
	// too many are in flight or too many jobs are queued.
	Admission Admission
	// TrustedProxies are the addresses and CIDR ranges of reverse proxies
	// whose X-Forwarded-For names the client; empty trusts none.
	TrustedProxies []string
	// DisableKeepalive closes every connection after its response, so a
	// limit on connections (admission.LimitListener) is shared fairly.
	DisableKeepalive bool
	// Idempotency, when set, makes a retried request with the same
	// Idempotency-Key header and body answer with the first one's job.
	Idempotency Idempotency
	// Ready reports each dependency's health by name; nil errors mean ready.
	Ready func(ctx context.Context) map[string]error
	// APIID is the key space signup creates keys in.
	APIID string
	// RootKey is the bearer token of the /v2 routes; empty closes them.
	RootKey string
	// MaxImageBytes bounds an uploaded image after decoding.
	MaxImageBytes int
	// SyncWait is how long a request waits for its OCR result.
	SyncWait time.Duration
	// Callbacks says whether jobs may name a callbackUrl (the deployment
	// has a secret to sign callbacks with); without, one is refused.
	Callbacks bool
	// CallTimeout bounds each call to keyservice.
	CallTimeout time.Duration
	// Trial is the plan a signup key gets.
	Trial Plan
	// SignupLimit bounds sign-ups per client IP per SignupWindow, through
	// keyservice's standalone rate limit; 0 means no limit.
	SignupLimit  int64
	SignupWindow time.Duration
	// Accounts, when set, makes POST /signup create an account (409
	// ACCOUNT_EXISTS for a known email) and serves /upgradeUser,
	// /verify-email, /v1/keys and /v1/usage; nil keeps the plain trial-key
	// sign-up and answers those routes 404.
	Accounts *accounts.Service
	// Usage asks analytics for an owner's usage (GET /v1/usage); nil
	// leaves usage out.
	Usage func(ctx context.Context, q contracts.UsageQuery) (contracts.UsageSummary, error)
	// Notices, when set, hears every charged verification, to emit
	// low-credit notices (notices.Notifier does).
	Notices Notices
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Metrics records requests, verifications and jobs; nil records
	// nothing.
	Metrics *Metrics
}

// Plan is what a new key is granted.
type Plan struct {
	// Credits is the number of OCR requests allowed in total.
	Credits int64
	// RateLimit requests per RateWindow.
	RateLimit  int64
	RateWindow time.Duration
	// Lifetime is how long the key lives.
	Lifetime time.Duration
}

type api struct {
	cfg Config
	// rootDigest is the SHA-256 of cfg.RootKey, nil when there is none.
	rootDigest []byte
	// largeBodies holds a slot for each large body a route other than an
	// OCR route is reading (bufferBody).
	largeBodies chan struct{}
}

// New returns the fiber app serving the API.
func New(cfg Config) *fiber.App {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics != nil {
		cfg.Keys = countingKeys{Keys: cfg.Keys, m: cfg.Metrics}
		cfg.Jobs = countingJobs{Jobs: cfg.Jobs, m: cfg.Metrics}
	}
	a := &api{cfg: cfg, largeBodies: make(chan struct{}, maxLargeBodies)}
	if cfg.RootKey != "" {
		sum := sha256.Sum256([]byte(cfg.RootKey))
		a.rootDigest = sum[:]
	}
	app := fiber.New(fiber.Config{
		AppName: "ocrstack-ingress",
		// Bodies are streamed: fasthttp reads at most 8 KiB of one ahead
		// and leaves the rest to bodyLimits and the OCR handlers, which
		// enforce bodyLimit (body.go).
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		BodyLimit:                    a.bodyLimit(),
		ErrorHandler:                 a.handleError,
		DisableStartupMessage:        true,
		ReadTimeout:                  60 * time.Second,
		WriteTimeout:                 60 * time.Second,
		IdleTimeout:                  120 * time.Second,
		DisableKeepalive:             cfg.DisableKeepalive,
		// c.IP() is the connection's address, or X-Forwarded-For's client
		// when the connection comes from a trusted proxy.
		EnableTrustedProxyCheck: len(cfg.TrustedProxies) > 0,
		TrustedProxies:          cfg.TrustedProxies,
		ProxyHeader:             proxyHeader(cfg.TrustedProxies),
		EnableIPValidation:      true, // the first address X-Forwarded-For holds
	})
	app.Use(recover.New())
	app.Use(a.requestID)
	app.Use(a.observer(app))
	app.Use(a.bodyLimits)
	app.Get("/livez", a.livez)
	app.Get("/readyz", a.readyz)
	app.Get("/openapi.json", a.openAPIHandler())
	app.Get("/docs", a.docsHandler())
	app.Post("/signup", a.signup)
	app.Post("/upload", a.admitted, a.upload)
	app.Post("/uploadBase64", a.admitted, a.uploadBase64)
	app.Post("/api/v1/ocr", a.admitted, a.pictotextOCR)
	a.mountV1(app)
	a.mountV2(app)
	a.mountAnalytics(app)
	a.mountAccounts(app)
	return app
}

// proxyHeader is the header naming the client when a proxy is trusted.
func proxyHeader(trusted []string) string {
	if len(trusted) == 0 {
		return ""
	}
	return fiber.HeaderXForwardedFor
}

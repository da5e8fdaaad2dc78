package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/admission"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
	"github.com/ocrstack/ocrstack/ingress/internal/idempotency"
	"github.com/ocrstack/ocrstack/ingress/internal/jobs"
	"github.com/ocrstack/ocrstack/ingress/internal/keysclient"
	"github.com/ocrstack/ocrstack/ops"
)

// tutorialResult is the tutorial's {text, error} response, with the
// outputs the request asked for.
type tutorialResult struct {
	Text  string  `json:"text"`
	Error *string `json:"error"`
	extraOutputs
}

// pictotextResult is the success body of POST /api/v1/ocr, with the
// outputs the request asked for.
type pictotextResult struct {
	RequestID    string `json:"requestId"`
	JobID        string `json:"jobId"`
	DocumentType string `json:"documentType,omitempty"`
	Text         string `json:"text"`
	extraOutputs
}

// extraOutputs are the outputs of a result besides its text (see
// contracts.Outputs), each absent unless the request asked for it, so a
// response without them keeps its original shape.
type extraOutputs struct {
	Words []contracts.TextBox `json:"words,omitempty"`
	Lines []contracts.TextBox `json:"lines,omitempty"`
	HOCR  string              `json:"hocr,omitempty"`
	TSV   string              `json:"tsv,omitempty"`
}

// extrasOf returns the extra outputs res carries.
func extrasOf(res contracts.OCRResult) extraOutputs {
	return extraOutputs{Words: res.Words, Lines: res.Lines, HOCR: res.HOCR, TSV: res.TSV}
}

// upload is the tutorial's POST /upload: multipart file field sampleFile.
func (a *api) upload(c *fiber.Ctx) error {
	key, err := bearer(c)
	if err != nil {
		return err
	}
	form, err := a.readForm(c, key, "sampleFile", optionNames...)
	if err != nil {
		return err
	}
	defer a.discardImage(&form.file)
	img, err := form.image(a.cfg.MaxImageBytes)
	if err != nil {
		return err
	}
	opts, err := parseOptions(form.options())
	if err != nil {
		return err
	}
	res, err := a.recognize(c, key, img, opts, "/upload")
	if err != nil {
		return err
	}
	return c.JSON(tutorialResult{Text: res.Text, extraOutputs: extrasOf(res)})
}

// uploadBase64 is the tutorial's POST /uploadBase64: JSON {"imageBase64"},
// read as it arrives (readJSON).
func (a *api) uploadBase64(c *fiber.Ctx) error {
	key, err := bearer(c)
	if err != nil {
		return err
	}
	const shape = `JSON: {"imageBase64": "<base64 image>"}`
	form, imageErr, err := a.readJSON(c, key, "imageBase64", shape)
	defer a.discardImage(&form.img)
	if err != nil {
		return err
	}
	var body struct {
		// ImageBase64 is the body's image, read by readJSON: never in
		// form.rest, named here for the API document.
		ImageBase64 *string `json:"imageBase64"`
		Languages   string  `json:"languages"`
		PageSegMode *int    `json:"pageSegMode"`
		Whitelist   string  `json:"whitelist"`
		Output      string  `json:"output"`
		Pages       string  `json:"pages"`
		// DetectOrientation is a JSON boolean.
		DetectOrientation *bool `json:"detectOrientation"`
	}
	if err := json.Unmarshal(form.rest, &body); err != nil {
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, "The body must be "+shape)
	}
	img, err := jsonImage(&form, imageErr, "imageBase64", a.cfg.MaxImageBytes)
	if err != nil {
		return err
	}
	psm := ""
	if body.PageSegMode != nil {
		psm = strconv.Itoa(*body.PageSegMode)
	}
	opts, err := parseOptions(optionFields{languages: body.Languages, pageSegMode: psm, whitelist: body.Whitelist, output: body.Output,
		pages: body.Pages, detectOrientation: boolField(body.DetectOrientation)})
	if err != nil {
		return err
	}
	res, err := a.recognize(c, key, img, opts, "/uploadBase64")
	if err != nil {
		return err
	}
	return c.JSON(tutorialResult{Text: res.Text, extraOutputs: extrasOf(res)})
}

// pictotextOCR is PicToText's POST /api/v1/ocr: multipart file part "image"
// and an optional documentType.
func (a *api) pictotextOCR(c *fiber.Ctx) error {
	key, err := bearer(c)
	if err != nil {
		return err
	}
	form, err := a.readForm(c, key, "image", pictotextNames...)
	if err != nil {
		return err
	}
	defer a.discardImage(&form.file)
	docType := strings.TrimSpace(form.value("documentType"))
	if len(docType) > 64 {
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, "documentType must be at most 64 characters")
	}
	img, err := form.image(a.cfg.MaxImageBytes)
	if err != nil {
		return err
	}
	opts, err := parseOptions(form.options())
	if err != nil {
		return err
	}
	res, err := a.recognize(c, key, img, opts, "/api/v1/ocr")
	if err != nil {
		return err
	}
	return c.JSON(pictotextResult{
		RequestID: requestIDOf(c), JobID: res.JobID, DocumentType: docType, Text: res.Text, extraOutputs: extrasOf(res),
	})
}

// recognize checks the image and the languages, verifies the key and runs
// the OCR job, waiting up to SyncWait for its result.
func (a *api) recognize(c *fiber.Ctx, key string, img *image, opts jobOptions, route string) (contracts.OCRResult, error) {
	adm, err := a.admit(c, key, img, opts, route)
	if err != nil {
		return contracts.OCRResult{}, err
	}
	res, err := a.run(adm, img)
	if errors.Is(err, jobs.ErrTimeout) {
		return res, &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.OCRTimeout,
			Message: "The OCR job " + adm.job.JobID + " did not finish in time; please retry", RetryAfter: 5}
	}
	return res, a.outcome(c, adm.job, res, err)
}

// admitted is a request let through to its job.
type admitted struct {
	job contracts.OCRJob
	// replay: an earlier request with the same Idempotency-Key and body
	// started job, so this one runs nothing, pays nothing and answers with
	// that job's result.
	replay bool
	// scope and idemKey name the request's Idempotency-Key claim, "" when
	// it has none.
	scope, idemKey string
	// traceparent is the request's, which the job carries to the worker.
	traceparent string
}

// admit checks the image and the languages, claims the Idempotency-Key if
// the request has one, and verifies the key, which spends a credit, and
// returns the job to run. A job with a stored image is named after it.
func (a *api) admit(c *fiber.Ctx, key string, img *image, opts jobOptions, route string) (admitted, error) {
	switch {
	case img.size == 0:
		return admitted{}, apierr.New(fiber.StatusBadRequest, apierr.EmptyImage, "The image is empty")
	case img.size > int64(a.cfg.MaxImageBytes):
		return admitted{}, apierr.New(fiber.StatusRequestEntityTooLarge, apierr.ImageTooLarge, "The image is larger than the limit of "+mib(a.cfg.MaxImageBytes))
	case img.format == "":
		return admitted{}, apierr.New(fiber.StatusUnsupportedMediaType, apierr.UnsupportedMediaType,
			"The file is not an image or document we read; send JPEG, PNG, TIFF, WebP, GIF, BMP, PNM, JPEG 2000, HEIC, AVIF or PDF")
	}
	// fasthttp never cancels a handler, so every call gets its own deadline.
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.CallTimeout)
	defer cancel()
	if err := a.checkLanguages(ctx, opts.languages); err != nil {
		return admitted{}, err
	}
	jobID := img.ref
	if jobID == "" {
		jobID = newID("job")
	}
	adm := admitted{job: contracts.OCRJob{
		JobID: jobID, ImageRef: img.ref, RequestID: requestIDOf(c), Producer: "ingress", SubmittedAt: a.cfg.Now().UnixMilli(),
		Languages: opts.languages, PageSegMode: opts.pageSegMode, Whitelist: opts.whitelist, Outputs: opts.outputs,
		Pages: opts.pages, DetectOrientation: opts.detectOrientation,
	}, traceparent: traceparentOf(c)}
	if err := a.claim(ctx, c, key, img, opts, route, &adm); err != nil || adm.replay {
		return adm, err
	}
	v, err := a.verify(ctx, c, key, route, adm.job.JobID)
	if err != nil {
		a.release(adm)
		return admitted{}, err
	}
	adm.job.KeyID, adm.job.OwnerID = v.KeyID, v.ExternalID
	c.Set("X-Job-Id", adm.job.JobID)
	return adm, nil
}

// claim records the request's Idempotency-Key, if it has one, for adm's
// job. When an earlier request with the same key and body holds it, adm
// becomes a replay of that request's job; another body is a 409.
func (a *api) claim(ctx context.Context, c *fiber.Ctx, key string, img *image, opts jobOptions, route string, adm *admitted) error {
	idemKey := c.Get("Idempotency-Key")
	if idemKey == "" || a.cfg.Idempotency == nil {
		return nil
	}
	if !idempotency.ValidKey(idemKey) {
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidIdempotencyKey, "Idempotency-Key must be 1 to 255 printable ASCII characters")
	}
	scope := idempotency.Scope(key)
	fields := map[string][]string{
		"route": {route}, "languages": opts.languages, "pageSegMode": {strconv.Itoa(opts.pageSegMode)},
		"whitelist": {opts.whitelist}, "output": opts.outputs, "pages": {opts.pages}, "detectOrientation": {boolField(opts.detectOrientation)},
	}
	var body string
	var err error
	if img.ref == "" {
		body = idempotency.RequestHash(img.bytes, fields)
	} else if body, err = a.imageRequestHash(ctx, img, fields); err != nil {
		a.cfg.Logger.Error("hash stored image", "request_id", adm.job.RequestID, "job_id", img.ref, "err", err)
		return &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.Unavailable,
			Message: "The OCR queue is unavailable; please retry", RetryAfter: 1}
	}
	cl, err := a.cfg.Idempotency.Claim(ctx, scope, strings.Clone(idemKey), body, adm.job.JobID)
	switch {
	case errors.Is(err, idempotency.ErrConflict):
		return apierr.New(fiber.StatusConflict, apierr.IdempotencyKeyReused,
			"This Idempotency-Key was used for a different request in the last 24 hours; use a new key for a new request")
	case err != nil:
		a.cfg.Logger.Error("claim idempotency key", "request_id", adm.job.RequestID, "err", err)
		return &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.Unavailable,
			Message: "The OCR queue is unavailable; please retry", RetryAfter: 1}
	case !cl.New:
		adm.job.JobID, adm.replay = cl.JobID, true
		c.Set("Idempotent-Replayed", "true")
		c.Set("X-Job-Id", cl.JobID)
	}
	adm.scope, adm.idemKey = scope, strings.Clone(idemKey)
	return nil
}

// release forgets adm's Idempotency-Key claim, for a job that was never
// queued, so that a retry runs.
func (a *api) release(adm admitted) {
	if adm.scope == "" || adm.replay {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.CallTimeout)
	defer cancel()
	if err := a.cfg.Idempotency.Release(ctx, adm.scope, adm.idemKey, adm.job.JobID); err != nil {
		a.cfg.Logger.Warn("release idempotency key", "request_id", adm.job.RequestID, "job_id", adm.job.JobID, "err", err)
	}
}

// unqueued undoes the admission of a job that could not be queued: its
// claim is released and the credit its verification spent refunded. The
// queue is down then, and NATS or keyservice likely with it, so the
// refund is sent in the background and retried until keyservice answers
// (keysclient.Client.RefundLater), not tried once; keyservice refunds a
// verification at most once, so a retry cannot refund twice.
func (a *api) unqueued(adm admitted) {
	if adm.replay {
		return
	}
	a.release(adm)
	ctx := keysclient.WithRequestID(context.Background(), adm.job.RequestID)
	a.cfg.Keys.RefundLater(ctx, contracts.RefundRequest{KeyID: adm.job.KeyID, IdempotencyKey: adm.job.JobID, Reason: "job not queued"})
}

// run queues adm's job and waits up to SyncWait for its result; a replay
// waits for the result of the job it replays. A stored image is the job's
// from then on (see jobs.Submitter).
func (a *api) run(adm admitted, img *image) (contracts.OCRResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.SyncWait+a.cfg.CallTimeout)
	defer cancel()
	ctx = ops.WithTraceparent(ctx, adm.traceparent)
	if adm.replay {
		return a.cfg.Jobs.Await(ctx, adm.job.JobID, a.cfg.SyncWait)
	}
	res, err := a.cfg.Jobs.Submit(ctx, adm.job, img.handOver(), a.cfg.SyncWait)
	if errors.Is(err, jobs.ErrUnavailable) {
		a.unqueued(adm)
	}
	return res, err
}

// outcome maps what Submit returned, other than jobs.ErrTimeout, to a
// public error, or to nil for a result to show; it then sets
// X-Recognition-Ms to the time the worker spent recognising.
func (a *api) outcome(c *fiber.Ctx, job contracts.OCRJob, res contracts.OCRResult, err error) error {
	switch {
	case errors.Is(err, jobs.ErrUnavailable):
		a.cfg.Logger.Error("submit job", "request_id", job.RequestID, "job_id", job.JobID, "err", err)
		return &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.Unavailable,
			Message: "The OCR queue is unavailable; please retry", RetryAfter: 1}
	case err != nil:
		return err
	case res.Status != contracts.JobSucceeded:
		return jobError(res.Error)
	}
	c.Set("X-Recognition-Ms", strconv.FormatInt(res.RecognitionMs, 10))
	return nil
}

// admitted runs an OCR route's handler when the admission gate lets the
// request in, else answers 503 OVERLOADED with the gate's Retry-After.
func (a *api) admitted(c *fiber.Ctx) error {
	if a.cfg.Admission == nil {
		return c.Next()
	}
	release, err := a.cfg.Admission.Admit(c.Context())
	if err != nil {
		retry := 1
		var o *admission.OverloadedError
		if errors.As(err, &o) {
			retry = o.RetryAfter
		}
		return &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.Overloaded,
			Message: "The service is overloaded; please retry", RetryAfter: retry}
	}
	defer release()
	return c.Next()
}

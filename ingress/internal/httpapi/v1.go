package httpapi

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
	"github.com/ocrstack/ocrstack/ingress/internal/jobs"
	"github.com/ocrstack/ocrstack/ops"
)

// The versioned OCR API: POST /v1/ocr answers with the result, or with a
// job to poll when the result takes longer than SyncWait (never a timeout);
// POST /v1/jobs answers at once with a job to poll, and may name a
// callbackUrl told of the end; GET /v1/jobs/{id} shows a job to the keys of
// its owner. Errors use PicToText's envelope.

// queueTimeout bounds recording, storing and publishing one job.
const queueTimeout = 30 * time.Second

// mountV1 adds the /v1 routes.
func (a *api) mountV1(app *fiber.App) {
	app.Post("/v1/ocr", a.admitted, a.v1OCR)
	app.Post("/v1/jobs", a.admitted, a.v1SubmitJob)
	app.Get("/v1/jobs/:id", a.v1GetJob)
}

// v1OCR is POST /v1/ocr: the result (200), or 202 with the job when it
// does not come within SyncWait.
func (a *api) v1OCR(c *fiber.Ctx) error {
	key, err := bearer(c)
	if err != nil {
		return err
	}
	in, img, err := a.v1Body(c, key)
	defer a.discardImage(img)
	if err != nil {
		return err
	}
	opts, err := parseOptions(in.fields)
	if err != nil {
		return err
	}
	if in.callbackURL != "" {
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest,
			"callbackUrl is taken by POST /v1/jobs; POST /v1/ocr answers with the result")
	}
	adm, err := a.admit(c, key, img, opts, "/v1/ocr")
	if err != nil {
		return err
	}
	job := adm.job
	res, err := a.run(adm, img)
	if errors.Is(err, jobs.ErrTimeout) {
		return a.lateResult(c, job)
	}
	if err := a.outcome(c, job, res, err); err != nil {
		return err
	}
	return c.JSON(v1ResultOf(res, job.RequestID))
}

// lateResult answers a synchronous request whose result did not come in
// time: the result when it has landed since, else 202 with the job's
// status (queued or running).
func (a *api) lateResult(c *fiber.Ctx, job contracts.OCRJob) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.CallTimeout)
	defer cancel()
	status := contracts.JobQueued
	rec, res, err := a.cfg.Jobs.Lookup(ctx, job.JobID)
	switch {
	case err != nil:
		a.cfg.Logger.Warn("look up late job", "request_id", job.RequestID, "job_id", job.JobID, "err", err)
	case res != nil:
		if err := a.outcome(c, job, *res, nil); err != nil {
			return err
		}
		return c.JSON(v1ResultOf(*res, job.RequestID))
	case rec.Status == contracts.JobRunning:
		status = contracts.JobRunning
	}
	return accepted(c, job.JobID, status)
}

// v1SubmitJob is POST /v1/jobs: 202 with the job once it is queued.
func (a *api) v1SubmitJob(c *fiber.Ctx) error {
	key, err := bearer(c)
	if err != nil {
		return err
	}
	in, img, err := a.v1Body(c, key)
	defer a.discardImage(img)
	if err != nil {
		return err
	}
	opts, err := parseOptions(in.fields)
	if err != nil {
		return err
	}
	if err := a.checkCallback(in.callbackURL); err != nil {
		return err
	}
	adm, err := a.admit(c, key, img, opts, "/v1/jobs")
	if err != nil {
		return err
	}
	if adm.replay {
		return accepted(c, adm.job.JobID, contracts.JobQueued)
	}
	ctx, cancel := context.WithTimeout(context.Background(), queueTimeout)
	defer cancel()
	ctx = ops.WithTraceparent(ctx, adm.traceparent)
	if err := a.cfg.Jobs.Enqueue(ctx, adm.job, img.handOver(), strings.Clone(in.callbackURL)); err != nil {
		if errors.Is(err, jobs.ErrUnavailable) {
			a.unqueued(adm)
		}
		return a.outcome(c, adm.job, contracts.OCRResult{}, err)
	}
	return accepted(c, adm.job.JobID, contracts.JobQueued)
}

// accepted answers 202 with where to poll the job.
func accepted(c *fiber.Ctx, jobID string, status contracts.JobStatus) error {
	c.Set(fiber.HeaderLocation, statusPath(jobID))
	return c.Status(fiber.StatusAccepted).JSON(v1Accepted{JobID: jobID, Status: status, StatusURL: statusPath(jobID)})
}

// v1GetJob is GET /v1/jobs/{id}. The key is verified without being
// charged; a job that is not its owner's is answered like one that does
// not exist.
func (a *api) v1GetJob(c *fiber.Ctx) error {
	key, err := bearer(c)
	if err != nil {
		return err
	}
	id := strings.Clone(c.Params("id"))
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.CallTimeout)
	defer cancel()
	v, err := a.verifyFree(ctx, c, key, "/v1/jobs/{id}")
	if err != nil {
		return err
	}
	notFound := apierr.New(fiber.StatusNotFound, apierr.NotFound, "No job with this id; a job is kept 24 hours")
	if !validJobID(id) {
		return notFound
	}
	rec, res, err := a.cfg.Jobs.Lookup(ctx, id)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		return notFound
	case errors.Is(err, jobs.ErrUnavailable):
		a.cfg.Logger.Error("look up job", "request_id", requestIDOf(c), "job_id", id, "err", err)
		return &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.Unavailable,
			Message: "Job status is unavailable; please retry", RetryAfter: 1}
	case err != nil:
		return err
	case !owns(v, rec):
		return notFound
	}
	return c.JSON(jobView(rec, res))
}

// owns reports whether the verified key may read the job: it submitted it,
// or has the same owner.
func owns(v contracts.VerifyKeyResponse, rec contracts.JobRecord) bool {
	return v.KeyID != "" && v.KeyID == rec.KeyID || v.ExternalID != "" && v.ExternalID == rec.OwnerID
}

// validJobID accepts what a job id may be (contracts.OCRJob.JobID): 1 to
// 64 characters of [A-Za-z0-9_-].
func validJobID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, ch := range []byte(id) {
		if !(ch == '_' || ch == '-' || '0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z') {
			return false
		}
	}
	return true
}

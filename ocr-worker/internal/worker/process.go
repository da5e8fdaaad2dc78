package worker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/ocr"
	"github.com/ocrstack/ocrstack/ops"
)

// answer is the final state of a job, published as its result and usage.
type answer struct {
	// doc is what was read; its Pages are nil but for a multi-page input.
	doc         ocr.Document
	err         error // nil when the job succeeded; never published as is
	languages   []string
	bytes       int64
	recognition time.Duration
}

// handle processes one delivery and settles it.
func (w *Worker) handle(ctx context.Context, s *slot, msg jetstream.Msg) {
	job, decodeErr := DecodeJob(msg.Data())
	requestID := msg.Headers().Get(contracts.HeaderRequestID)
	if requestID == "" {
		requestID = job.RequestID
	}
	log := w.log.With("job_id", job.JobID, "request_id", requestID)
	if traceID := ops.TraceID(msg.Headers().Get(ops.HeaderTraceparent)); traceID != "" {
		log = log.With("trace_id", traceID)
	}
	defer w.metrics.working()()
	log.Debug("job started")
	var err error = &deadError{reason: contracts.DeadMalformed, err: decodeErr}
	if !errors.Is(decodeErr, ErrMalformedJob) {
		err = w.answerJob(ctx, s, msg, job, requestID, decodeErr, log)
	}
	w.settle(ctx, msg, err, log)
}

// answerJob recognises the job (unless invalid says it cannot be) and
// publishes its result and usage. It returns nil for a job done, a
// *deadError for a job answered with a failure that belongs on the
// dead-letter stream (poison input, or retries exhausted), and any other
// error for a job to try again.
func (w *Worker) answerJob(ctx context.Context, s *slot, msg jetstream.Msg, job contracts.OCRJob,
	requestID string, invalid error, log *slog.Logger) error {
	a := answer{err: invalid, languages: job.Languages}
	exhausted := false
	if invalid == nil {
		var err error
		a, err = w.recognize(ctx, s, msg, job)
		if err != nil && !w.lastDelivery(msg) {
			return err
		}
		if err != nil {
			// No retry is left: answer with a failure rather than drop the job.
			a.err, exhausted = err, true
		}
	}
	if err := w.publish(ctx, job, requestID, a); err != nil {
		return err
	}
	attrs := []any{"outcome", status(a), "recognition_ms", a.recognition.Round(time.Millisecond).Milliseconds(), "bytes", a.bytes}
	code, _ := publicError(a.err, w.installed)
	w.metrics.answered(code, a)
	switch code {
	case "":
		log.Info("job done", attrs...)
	case contracts.CodeInternal, contracts.CodeTimeout:
		// Our failure, not the producer's: worth an operator's attention.
		log.Error("job done", append(attrs, "error_code", code, "err", a.err)...)
	default:
		log.Info("job done", append(attrs, "error_code", code)...)
	}
	switch {
	case exhausted:
		return &deadError{reason: contracts.DeadRetriesExhausted, err: a.err}
	case isPoison(code):
		return &deadError{reason: contracts.DeadPoison, err: a.err}
	}
	return nil
}

// recognize runs one job through the engine. Bad input is a failed answer
// with a nil error; the error is for failures worth a retry.
func (w *Worker) recognize(ctx context.Context, s *slot, msg jetstream.Msg, job contracts.OCRJob) (answer, error) {
	a := answer{languages: job.Languages}
	if len(a.languages) == 0 {
		a.languages = w.languages
	}
	if err := ocr.CheckLanguages(a.languages, w.installed); err != nil {
		a.err = err
		return a, nil
	}
	tr := w.track(job, w.log.With("job_id", job.JobID))
	defer tr.stop()
	img := job.Image
	if job.ImageRef != "" {
		var err error
		img, err = w.fetch(ctx, job.ImageRef)
		if errors.Is(err, errImageNotFound) || errors.Is(err, errImageTooBig) {
			a.err = err
			return a, nil
		}
		if err != nil {
			return a, err
		}
	}
	a.bytes = int64(len(img))
	if err := s.ready(w.languages); err != nil {
		return a, err
	}
	stop := keepAlive(msg, w.progressEvery)
	start := w.now()
	o := ocr.Options{Languages: a.languages, PageSegMode: job.PageSegMode, Whitelist: job.Whitelist,
		Progress: func(done, pages int) {
			w.progress(job.JobID, done, pages)
			tr.progress(done, pages)
		}}
	o.Pages, _ = contracts.ParsePages(job.Pages) // DecodeJob checked it
	if d := job.DetectOrientation; d != nil {
		o.Orientation = map[bool]ocr.Orientation{true: ocr.OrientAlways, false: ocr.OrientNever}[*d]
	}
	for _, out := range job.Outputs {
		switch out {
		case contracts.OutputWords:
			o.Words = true
		case contracts.OutputLines:
			o.Lines = true
		case contracts.OutputHOCR:
			o.HOCR = true
		case contracts.OutputTSV:
			o.TSV = true
		}
	}
	a.doc, a.err = w.read(s, img, o)
	a.recognition = w.now().Sub(start)
	stop()
	return a, nil
}

// progress tells a multi-page job's producer how far it has got, best
// effort: on core NATS, for whoever listens.
func (w *Worker) progress(jobID string, done, pages int) {
	b, err := json.Marshal(contracts.JobProgress{JobID: jobID, Page: done, Pages: pages, At: w.now().UnixMilli()})
	if err == nil {
		err = w.js.Conn().Publish(contracts.ProgressSubject(jobID), b)
	}
	if err != nil {
		w.log.Debug("publish progress", "job_id", jobID, "err", err)
	}
}

func status(a answer) contracts.JobStatus {
	if a.err != nil {
		return contracts.JobFailed
	}
	return contracts.JobSucceeded
}

// lastDelivery reports whether the server will not deliver msg again.
func (w *Worker) lastDelivery(msg jetstream.Msg) bool {
	md, err := msg.Metadata()
	return err == nil && w.maxDeliver > 0 && md.NumDelivered >= uint64(w.maxDeliver)
}

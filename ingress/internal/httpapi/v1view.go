package httpapi

import (
	"encoding/json"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
)

// v1Result is the 200 body of POST /v1/ocr, and a finished job's result in
// the body of GET /v1/jobs/{id}: the text and the outputs asked for.
type v1Result struct {
	RequestID string              `json:"requestId"`
	JobID     string              `json:"jobId"`
	Status    contracts.JobStatus `json:"status"`
	Text      string              `json:"text"`
	// Pages is given for a multi-page document.
	Pages []contracts.PageResult `json:"pages,omitempty"`
	extraOutputs
	// RecognitionMs is the time the worker spent recognising, in ms.
	RecognitionMs int64 `json:"recognitionMs"`
}

// v1ResultOf renders a succeeded result.
func v1ResultOf(res contracts.OCRResult, requestID string) v1Result {
	return v1Result{
		RequestID: requestID, JobID: res.JobID, Status: contracts.JobSucceeded, Text: res.Text,
		Pages: res.Pages, extraOutputs: extrasOf(res), RecognitionMs: res.RecognitionMs,
	}
}

// v1Accepted is the 202 body of POST /v1/jobs, and of POST /v1/ocr when
// the result does not come within the wait.
type v1Accepted struct {
	JobID  string              `json:"jobId"`
	Status contracts.JobStatus `json:"status"`
	// StatusURL is the path to poll, also sent as Location.
	StatusURL string `json:"statusUrl"`
}

// v1Job is the body of GET /v1/jobs/{id} and of a callback: the job's
// state, its result once it succeeded, or why it failed. Times are unix
// milliseconds.
type v1Job struct {
	JobID       string              `json:"jobId"`
	Status      contracts.JobStatus `json:"status"`
	SubmittedAt int64               `json:"submittedAt"`
	StartedAt   int64               `json:"startedAt,omitempty"`
	CompletedAt int64               `json:"completedAt,omitempty"`
	// Progress is given for a multi-page document once a page is done.
	Progress *contracts.RecordProgress `json:"progress,omitempty"`
	Result   *v1Result                 `json:"result,omitempty"`
	Error    *v1JobError               `json:"error,omitempty"`
}

// v1JobError says why a job failed: the reason and message the synchronous
// routes would have answered with.
type v1JobError struct {
	Code    apierr.Reason `json:"code"`
	Message string        `json:"message"`
}

// statusPath is where a job's state is read.
func statusPath(jobID string) string { return "/v1/jobs/" + jobID }

// jobView renders a job from its record and, once it is over, its result,
// which is authoritative: the record only says queued or running.
func jobView(rec contracts.JobRecord, res *contracts.OCRResult) v1Job {
	v := v1Job{JobID: rec.JobID, Status: rec.Status, SubmittedAt: rec.SubmittedAt, StartedAt: rec.StartedAt, Progress: rec.Progress}
	if res == nil {
		return v
	}
	v.Status, v.CompletedAt = res.Status, res.CompletedAt
	if n := len(res.Pages); n > 0 {
		v.Progress = &contracts.RecordProgress{Page: n, Pages: n}
	}
	if res.Status == contracts.JobSucceeded {
		r := v1ResultOf(*res, res.RequestID)
		v.Result = &r
		return v
	}
	v.Status = contracts.JobFailed
	e := jobError(res.Error)
	v.Error = &v1JobError{Code: e.Reason, Message: e.Message}
	return v
}

// JobBody is the JSON of GET /v1/jobs/{id} for a job's record and result,
// which is also what a callback delivers.
func JobBody(rec contracts.JobRecord, res *contracts.OCRResult) ([]byte, error) {
	return json.Marshal(jobView(rec, res))
}

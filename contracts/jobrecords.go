package contracts

// Job records, so that a job can be polled and its owner told of its end.
// A producer that answers for its jobs later (the ingress) puts a JobRecord
// under the job id in the key-value bucket JobsBucket before it publishes
// the job, and creates the bucket if needed (history 1, TTL JobsBucketMaxAge,
// file storage). A worker that finds a record updates its status to
// JobRunning, its StartedAt and its Progress, best effort; it never creates
// one. The final state of a job is its OCRResult on ResultsStream; a record
// says queued or running, or failed once the ingress gave up on a job that
// aged out of JobsStream unprocessed (and published its failed result).
const (
	JobsBucket = "ocr_jobs"
	// JobsBucketMaxAge is how long a record lives: as long as a job may
	// wait in JobsStream and then as long as its result, so a job that
	// waited a day stays pollable, and the ingress still finds the record
	// of a job that aged out unprocessed (to fail and refund it).
	JobsBucketMaxAge = JobsMaxAge + ResultsMaxAge
)

// Job statuses a JobRecord carries before the job's OCRResult exists.
const (
	// JobQueued: published, no worker has started it.
	JobQueued JobStatus = "queued"
	// JobRunning: a worker is recognising it.
	JobRunning JobStatus = "running"
)

// JobRecord is the state of a job kept in JobsBucket under its JobID, JSON.
// Whoever updates a record keeps the members it does not know, so a field
// added here survives a worker that predates it.
type JobRecord struct {
	JobID     string `json:"jobId"`
	RequestID string `json:"requestId,omitempty"`
	// KeyID is the key that submitted the job, OwnerID its owner (the key's
	// externalId): a job is shown to that key and to the owner's other keys.
	KeyID   string `json:"keyId,omitempty"`
	OwnerID string `json:"ownerId,omitempty"`
	// Status is JobQueued or JobRunning.
	Status JobStatus `json:"status"`
	// SubmittedAt and StartedAt are unix milliseconds; StartedAt is 0 until a
	// worker starts the job.
	SubmittedAt int64 `json:"submittedAt"`
	StartedAt   int64 `json:"startedAt,omitempty"`
	// Progress is set once a page of a multi-page document is done.
	Progress *RecordProgress `json:"progress,omitempty"`
	// CallbackURL, when set, is an http or https URL (at most 2048 bytes)
	// that the producer POSTs the job's final state to.
	CallbackURL string `json:"callbackUrl,omitempty"`
}

// RecordProgress says how far a multi-page job has got: Page of Pages
// pages are done.
type RecordProgress struct {
	Page  int `json:"page"`
	Pages int `json:"pages"`
}

// Members of a JobRecord's JSON that a worker sets, by name, on a record it
// otherwise leaves as it is.
const (
	RecordStatusMember    = "status"
	RecordStartedAtMember = "startedAt"
	RecordProgressMember  = "progress"
)

// CallbacksConsumer is the durable consumer on ResultsStream through which
// the ingress replicas share the delivery of job callbacks.
const CallbacksConsumer = "ingress-callbacks"

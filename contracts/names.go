package contracts

import "time"

// Service names, as registered with the NATS micro framework. Health checks
// ping them on $SRV.PING.<name>.
const (
	KeyServiceName = "keyservice"
	WorkerName     = "ocr-worker"
	AnalyticsName  = "analytics"
)

// Key management, NATS request/reply served by keyservice in queue group
// KeyServiceQueue. Each subject takes the request type of the same name
// (SubjectKeysGet takes GetKeyRequest) and answers with its response type,
// or with a micro error reply whose Nats-Service-Error-Code is a Code and
// whose body is an Error.
const (
	SubjectKeysCreate        = "keys.v1.create"
	SubjectKeysVerify        = "keys.v1.verify"
	SubjectKeysGet           = "keys.v1.get"
	SubjectKeysWhoami        = "keys.v1.whoami"
	SubjectKeysUpdate        = "keys.v1.update"
	SubjectKeysUpdateCredits = "keys.v1.updateCredits"
	SubjectKeysDelete        = "keys.v1.delete"
	SubjectKeysReroll        = "keys.v1.reroll"
	SubjectKeysList          = "keys.v1.list"
	// SubjectKeysRefund takes RefundRequest: it gives back what a VALID
	// verification made with an idempotency key spent.
	SubjectKeysRefund = "keys.v1.refund"

	SubjectIdentitiesCreate = "identities.v1.create"
	SubjectIdentitiesGet    = "identities.v1.get"
	SubjectIdentitiesUpdate = "identities.v1.update"
	SubjectIdentitiesDelete = "identities.v1.delete"
	SubjectIdentitiesList   = "identities.v1.list"

	// SubjectRatelimitLimit takes RatelimitRequest: a standalone limit on any
	// identifier (an IP address), without a key.
	SubjectRatelimitLimit = "ratelimit.v1.limit"
	// SubjectRatelimitMultiLimit takes MultiRatelimitRequest.
	SubjectRatelimitMultiLimit = "ratelimit.v1.multiLimit"

	KeyServiceQueue = "keyservice"
)

// OCR jobs. Producers (the ingress, or internal services) publish an OCRJob
// to SubjectJobs; it lands on the work-queue stream JobsStream, shared by all
// workers through the durable pull consumer JobsConsumer.
const (
	SubjectJobs  = "ocr.v1.jobs"
	JobsStream   = "OCR_JOBS"
	JobsConsumer = "ocr-workers"
	// JobsMaxAge is how long an unclaimed job waits before the stream drops it.
	JobsMaxAge = 24 * time.Hour
)

// OCR results. A worker publishes one OCRResult per job to
// SubjectResultsPrefix + job id, kept on ResultsStream for ResultsMaxAge.
// A producer subscribes to that subject before it publishes the job, or reads
// the stream's last message for the subject afterwards.
const (
	SubjectResultsPrefix = "ocr.v1.results."
	SubjectResultsAll    = "ocr.v1.results.>"
	ResultsStream        = "OCR_RESULTS"
	ResultsMaxAge        = 24 * time.Hour
)

// ResultSubject is the subject a job's result is published on.
func ResultSubject(jobID string) string { return SubjectResultsPrefix + jobID }

// Progress of a multi-page job: after each page a worker publishes a
// JobProgress on SubjectProgressPrefix + job id, on core NATS (not stored:
// a producer that wants it subscribes before publishing the job).
const SubjectProgressPrefix = "ocr.v1.progress."

// ProgressSubject is the subject a job's progress is published on.
func ProgressSubject(jobID string) string { return SubjectProgressPrefix + jobID }

// Dead letters. A job no worker will complete is copied, as it was
// delivered (body and headers), to SubjectDeadPrefix + reason on DeadStream,
// with the Dead* headers saying why, and leaves the jobs stream; its
// producer still gets a failed result. To retry one, publish its body to
// SubjectJobs again.
const (
	SubjectDeadPrefix = "ocr.v1.dead."
	SubjectDeadAll    = "ocr.v1.dead.>"
	DeadStream        = "OCR_DEAD"
	DeadMaxAge        = 14 * 24 * time.Hour

	// DeadMalformed: the message is not a job (no usable id or JSON).
	DeadMalformed = "malformed"
	// DeadPoison: the input can never be recognised (not an image,
	// undecodable, over the size or pixel limit, not a valid job).
	DeadPoison = "poison"
	// DeadRetriesExhausted: every delivery failed with an error worth a
	// retry; the last worker gave up.
	DeadRetriesExhausted = "retries_exhausted"
	// DeadMaxDeliveries: the job was delivered the consumer's MaxDeliver
	// times and no worker settled it (each crashed or stalled); moved on
	// the server's max-deliveries advisory.
	DeadMaxDeliveries = "max_deliveries"
)

// DeadSubject is the subject a job dead for reason is copied to.
func DeadSubject(reason string) string { return SubjectDeadPrefix + reason }

// Images larger than InlineImageMax bytes do not ride inside the job message
// (NATS max_payload is 1 MiB by default): the producer puts them in the
// Object Store bucket ImagesBucket and sets OCRJob.ImageRef to the object name.
const (
	ImagesBucket   = "ocr_images"
	ImagesMaxAge   = 24 * time.Hour
	InlineImageMax = 512 << 10
)

// Events for analytics, on the stream EventsStream. Every event message
// carries Nats-Msg-Id = the event's id, so a republished event is stored once.
const (
	SubjectEventsAll          = "events.v1.>"
	SubjectEventsVerification = "events.v1.verification"
	SubjectEventsUsage        = "events.v1.usage"
	// SubjectEventsNotice carries NoticeEvent: something a key's owner
	// should hear about (credits running low).
	SubjectEventsNotice = "events.v1.notice"
	EventsStream        = "OCR_EVENTS"
	EventsConsumer      = "analytics"
	// EventsMaxAge and EventsMaxMsgs bound what the events stream keeps; the
	// oldest events go first (see StreamSpec.MaxMsgs). An analytics or
	// ClickHouse outage loses nothing while the events published during it
	// fit in both: it lasts less than EventsMaxAge, and fewer than
	// EventsMaxMsgs events arrive meanwhile.
	//
	// Sizing: a stored event takes 400 to 470 bytes (subject, Nats-Msg-Id
	// header, 300 to 400 bytes of JSON, store overhead; `make
	// analytics-load` prints it), so a full stream holds at most
	// 20e6 x 470 B = 9.4 GB, within the 20 GB nats.conf gives JetStream.
	// At a sustained average of R events/s an outage of 20e6 / R seconds is
	// covered: 24 h for R up to 231 events/s (20e6 / 86,400), which is
	// 115 OCR jobs a second around the clock (a verification and a usage
	// event each), and the full 7 days for R up to 33 events/s. A larger
	// deployment raises EventsMaxMsgs (and the server's max_file_store) for
	// its rate; every service applies the spec at start-up, so the change
	// reaches the stream with the first service restarted.
	//
	// The limit counts messages, and under load a message is a batch of up
	// to MaxEventBatch events (see HeaderEventBatch): at the rates above,
	// producers rarely have a publish awaiting its ack when the next event
	// comes, so messages are mostly single events and the arithmetic holds;
	// at thousands of events a second they carry tens to hundreds each, so
	// the stream holds more events than EventsMaxMsgs, and the server's
	// max_file_store is the limit an outage reaches first. There JetStream
	// refuses new messages rather than dropping old ones; producers (package
	// ops/emit) keep up to 100,000 events each, retrying, then drop and count
	// them (the *_events_dropped_total metrics).
	EventsMaxAge  = 7 * 24 * time.Hour
	EventsMaxMsgs = 20_000_000
	// EventsDuplicateWindow is the stream's de-duplication window.
	EventsDuplicateWindow = 2 * time.Minute
)

// Key-value buckets owned by keyservice.
const (
	KeysBucket     = "ocr_keys"
	KeyStateBucket = "ocr_key_state"
)

// HTTP Idempotency-Key records, in a key-value bucket owned by the ingress
// (the only reader and writer): one entry per API key and Idempotency-Key
// header value, naming the first request's job, for IdempotencyMaxAge.
const (
	IdempotencyBucket = "ocr_idempotency"
	// IdempotencyMaxAge is how long an Idempotency-Key is remembered: as
	// long as a job's result is kept (ResultsMaxAge), so a retry within it
	// can be answered with the first request's result.
	IdempotencyMaxAge = 24 * time.Hour
)

// NATS message headers set by this platform. Nats-Msg-Id is NATS's own.
const (
	HeaderRequestID = "Ocr-Request-Id"
	HeaderJobID     = "Ocr-Job-Id"
	HeaderMsgID     = "Nats-Msg-Id"

	// On a dead letter: the error code of the failed result (a Code), a
	// one-line reason, the job's sequence on JobsStream, and how many
	// times it was delivered.
	HeaderDeadCode       = "Ocr-Dead-Code"
	HeaderDeadReason     = "Ocr-Dead-Reason"
	HeaderDeadSeq        = "Ocr-Dead-Stream-Seq"
	HeaderDeadDeliveries = "Ocr-Dead-Deliveries"
)

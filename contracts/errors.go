package contracts

// Code is a stable, append-only error code that crosses a process boundary:
// in a micro error reply (the Nats-Service-Error-Code header), in a failed
// OCRResult, or in a usage event.
type Code string

// Error codes. Append only; never rename or reuse one.
const (
	CodeBadRequest       Code = "BAD_REQUEST"
	CodeNotFound         Code = "NOT_FOUND"
	CodeInternal         Code = "INTERNAL"
	CodeUnsupportedMedia Code = "UNSUPPORTED_MEDIA_TYPE"
	CodeUnreadableImage  Code = "UNREADABLE_IMAGE"
	CodeImageTooLarge    Code = "IMAGE_TOO_LARGE"
	// CodeTooManyPages: a document has more pages than a job may hold.
	CodeTooManyPages        Code = "TOO_MANY_PAGES"
	CodeUnsupportedLanguage Code = "UNSUPPORTED_LANGUAGE"
	CodeTimeout             Code = "TIMEOUT"
	// CodeConflict: the request clashes with existing state (an identity's
	// externalId already taken).
	CodeConflict Code = "CONFLICT"
	// CodeResultTooLarge: the result, with the outputs asked for, is larger
	// than a NATS message may be.
	CodeResultTooLarge Code = "RESULT_TOO_LARGE"
	// CodePageOutOfRange: OCRJob.Pages names a page the document does not
	// have.
	CodePageOutOfRange Code = "PAGE_OUT_OF_RANGE"
	// CodeUnavailable: a dependency of the service (keyservice's JetStream
	// storage) did not answer: a server restarting, a stream between
	// leaders, a write whose acknowledgement timed out. The same request
	// may succeed in a moment. A verification failed so may have been
	// charged: retried with the same idempotency key, it is charged once.
	CodeUnavailable Code = "UNAVAILABLE"
)

// Error is the body of a failure that crosses a process boundary. Message is
// safe to show to the end user: it never carries internal detail.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// Error implements the error interface.
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }
